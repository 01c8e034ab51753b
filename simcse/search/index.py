"""Vector indexes for ``SimCSE.search``: FAISS (flat or IVF, CPU or GPU) and an exact torch index.

All indexes hold L2-normalised vectors and rank by inner product (= cosine similarity), so the
same query gives the same neighbours on every backend (up to ties, and up to the IVF probes).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

logger = logging.getLogger(__name__)

INDEX_META = "index_meta.json"
INDEX_FILES = ("sentences.jsonl", "embeddings.npy", "faiss.index", "codes.npy", "ranges.npy")
"""The files an index folder holds besides its meta (each kind of index writes some of them)."""
INDEX_VERSION = 1


def faiss_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def check_cells(num_cells: Any, num_cells_in_search: Any) -> tuple[int, int]:
    """The IVF settings as positive integers; else ``ValueError`` naming the argument and value."""
    for name, value in (("num_cells", num_cells), ("num_cells_in_search", num_cells_in_search)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer (IVF cells for faiss_fast), got {value!r}")
    return int(num_cells), int(num_cells_in_search)


def _as_float32(vectors: Any) -> np.ndarray:
    if isinstance(vectors, torch.Tensor):
        vectors = vectors.detach().float().cpu().numpy()
    arr = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-d array of vectors, got shape {arr.shape}")
    return arr


class TorchIndex:
    """Exact search: one matrix product and a top-k, on CPU or GPU (fp16 storage on GPU)."""

    backend = "torch"
    kind = "flat"

    def __init__(self, dim: int, device: str | torch.device = "cpu", chunk_size: int = 4096):
        self.dim = dim
        self.device = torch.device(device)
        self.dtype = torch.float16 if self.device.type == "cuda" else torch.float32
        self.chunk_size = chunk_size
        self._data = torch.zeros(0, dim, dtype=self.dtype, device=self.device)

    @property
    def ntotal(self) -> int:
        return int(self._data.shape[0])

    def train(self, vectors: np.ndarray) -> None:  # exact index: nothing to learn
        return None

    def add(self, vectors: Any) -> None:
        t = torch.as_tensor(_as_float32(vectors), device=self.device).to(self.dtype)
        if t.shape[1] != self.dim:
            raise ValueError(f"vectors have dimension {t.shape[1]}, the index holds {self.dim}")
        self._data = torch.cat([self._data, t], dim=0)

    def search(self, queries: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = torch.as_tensor(_as_float32(queries), device=self.device).to(self.dtype)
        n = self.ntotal
        k_eff = min(k, n)
        scores = np.full((q.shape[0], k), -np.inf, dtype=np.float32)
        ids = np.full((q.shape[0], k), -1, dtype=np.int64)
        if k_eff == 0 or q.shape[0] == 0:
            return scores, ids
        for start in range(0, q.shape[0], self.chunk_size):
            sims = q[start : start + self.chunk_size] @ self._data.T
            top = torch.topk(sims.float(), k_eff, dim=1)
            scores[start : start + self.chunk_size, :k_eff] = top.values.cpu().numpy()
            ids[start : start + self.chunk_size, :k_eff] = top.indices.cpu().numpy()
        return scores, ids

    @property
    def keeps_float32(self) -> bool:
        """Whether :meth:`vectors` gives back the added float32 vectors exactly (not on GPU: fp16)."""
        return self.dtype == torch.float32

    def vectors(self) -> np.ndarray:
        return self._data.float().cpu().numpy()


class FaissIndex:
    """FAISS inner-product index: exact (``IndexFlatIP``) or IVF (``IndexIVFFlat``) when ``fast``.

    The index moves to the GPU given by ``device`` (any ``cuda:N``) when faiss reports GPUs.
    """

    backend = "faiss"

    def __init__(
        self,
        dim: int,
        fast: bool = False,
        num_cells: int = 100,
        num_cells_in_search: int = 10,
        device: str | torch.device = "cpu",
    ):
        import faiss

        self.dim = dim
        self.kind = "ivf" if fast else "flat"
        if fast:
            num_cells, num_cells_in_search = check_cells(num_cells, num_cells_in_search)
        self.num_cells = num_cells
        self.num_cells_in_search = num_cells_in_search
        self.device = torch.device(device)
        self._faiss = faiss
        self._index: Any = None
        self._gpu_res: Any = None
        if not fast:
            self._set_index(faiss.IndexFlatIP(dim))

    @property
    def ntotal(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal)

    @property
    def on_gpu(self) -> bool:
        return self._gpu_res is not None

    def _set_index(self, index: Any) -> None:
        faiss = self._faiss
        if self.device.type == "cuda" and hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0:
            gpu_id = self.device.index if self.device.index is not None else torch.cuda.current_device()
            self._gpu_res = faiss.StandardGpuResources()
            index = faiss.index_cpu_to_gpu(self._gpu_res, gpu_id, index)
        elif self.device.type == "cuda":
            logger.info("faiss has no GPU support here; the FAISS index stays on the CPU")
        self._index = index
        if self.kind == "ivf":
            self._set_nprobe()

    def _set_nprobe(self) -> None:
        if self.on_gpu:
            self._faiss.GpuParameterSpace().set_index_parameter(self._index, "nprobe", self.num_cells_in_search)
        else:
            self._index.nprobe = self.num_cells_in_search

    def train(self, vectors: Any) -> None:
        """IVF only: learn the cells from ``vectors`` (the first batch of the corpus)."""
        if self.kind != "ivf" or self._index is not None:
            return
        faiss = self._faiss
        x = _as_float32(vectors)
        nlist = max(1, min(self.num_cells, x.shape[0]))
        self.num_cells = nlist
        quantizer = faiss.IndexFlatIP(self.dim)
        index = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(x)
        self._quantizer = quantizer  # keep the quantizer alive as long as the index
        self._set_index(index)

    def add(self, vectors: Any) -> None:
        x = _as_float32(vectors)
        if x.shape[1] != self.dim:
            raise ValueError(f"vectors have dimension {x.shape[1]}, the index holds {self.dim}")
        if self._index is None:
            self.train(x)
        self._index.add(x)

    def search(self, queries: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = _as_float32(queries)
        if self._index is None or self.ntotal == 0 or q.shape[0] == 0:
            return np.full((q.shape[0], k), -np.inf, np.float32), np.full((q.shape[0], k), -1, np.int64)
        scores, ids = self._index.search(q, k)
        scores = scores.astype(np.float32)
        scores[ids < 0] = -np.inf
        return scores, ids.astype(np.int64)

    def cpu_index(self) -> Any:
        if self.on_gpu:
            return self._faiss.index_gpu_to_cpu(self._index)
        return self._index

    @property
    def keeps_float32(self) -> bool:
        """Whether :meth:`vectors` gives back the added vectors (flat: yes; IVF: not without a direct map)."""
        return self.kind == "flat"

    def vectors(self) -> np.ndarray:
        index = self.cpu_index()
        if self.kind == "flat":
            return self._faiss.rev_swig_ptr(index.get_xb(), index.ntotal * self.dim).reshape(-1, self.dim).copy()
        raise NotImplementedError("vectors are kept beside an IVF index, not read back from it")


def faiss_wanted(use_faiss: bool | None) -> bool:
    """Whether to build on FAISS: ``None`` means when it is installed; ``True`` without faiss falls back
    to the exact torch index with a warning, as the original package does."""
    if use_faiss is None:
        return faiss_available()
    if use_faiss and not faiss_available():
        logger.warning("use_faiss=True but faiss is not installed (pip install faiss-cpu or faiss-gpu); "
                       "using the exact torch index")
        return False
    return bool(use_faiss)


def make_index(
    dim: int,
    use_faiss: bool | None = None,
    fast: bool = False,
    num_cells: int = 100,
    num_cells_in_search: int = 10,
    device: str | torch.device = "cpu",
) -> TorchIndex | FaissIndex:
    """Pick a backend: FAISS when it is installed and ``use_faiss`` is not False, else the exact torch
    index (see :func:`faiss_wanted`)."""
    if faiss_wanted(use_faiss):
        return FaissIndex(dim, fast, num_cells, num_cells_in_search, device)
    if fast:
        logger.warning("faiss_fast needs faiss (pip install faiss-cpu or faiss-gpu); using the exact torch index")
    return TorchIndex(dim, device)


def check_index_folder(path: Path, what: str = "index folder") -> None:
    """Refuse to write an index into ``path`` when that could replace files that are not an
    index's: ``path`` must not exist, be an empty folder, or hold a saved index (``index_meta.json``)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{what} {str(path)!r} is a file, not a folder: cannot save an index there")
    if path.is_dir() and not (path / INDEX_META).is_file() and any(path.iterdir()):
        raise FileExistsError(
            f"{what} {str(path)!r} is not empty and holds no saved index ({INDEX_META} is missing): "
            "refusing to write an index into it, which could replace files of yours; give a new or empty folder"
        )


def save_index_files(
    path: Path, index: TorchIndex | FaissIndex, vectors: np.ndarray | None, sentences: list[str], meta: dict[str, Any]
) -> set[str]:
    """Write an index folder: meta, sentences (JSON lines), float32 vectors (unless None: quantised
    indexes write their own files), and the FAISS file for IVF; return the names written. ``path``
    must pass :func:`check_index_folder` (new, empty, or a saved index)."""
    check_index_folder(path)
    path.mkdir(parents=True, exist_ok=True)
    with open(path / "sentences.jsonl", "w", encoding="utf-8") as f:
        for s in sentences:
            f.write(json.dumps(s, ensure_ascii=False) + "\n")
    written = {INDEX_META, "sentences.jsonl"}
    if vectors is not None:
        np.save(path / "embeddings.npy", vectors)
        written.add("embeddings.npy")
    if isinstance(index, FaissIndex) and index.kind == "ivf" and index._index is not None:  # None: no vector added yet
        index._faiss.write_index(index.cpu_index(), str(path / "faiss.index"))
        written.add("faiss.index")
    full = dict(meta)
    full.update(
        version=INDEX_VERSION,
        backend=index.backend,
        kind=index.kind,
        dim=index.dim,
        ntotal=len(sentences),
        num_cells=getattr(index, "num_cells", None),
        num_cells_in_search=getattr(index, "num_cells_in_search", None),
    )
    (path / INDEX_META).write_text(json.dumps(full, indent=2) + "\n")
    return written


def remove_stale_index_files(path: Path, written: set[str]) -> None:
    """Delete the index files in ``path`` that the index just saved there did not write: what a
    different kind of index saved there before left behind (an IVF index's cells, an int8 index's
    ranges, codes, or float vectors the new index does not keep). Only :data:`INDEX_FILES` are
    touched; any other file in the folder is the user's and stays."""
    for name in INDEX_FILES:
        if name not in written and (path / name).is_file():
            (path / name).unlink()


def read_index_meta(path: Path) -> dict[str, Any]:
    meta_file = path / INDEX_META
    if not meta_file.is_file():
        raise FileNotFoundError(f"{path} is not a saved index: {INDEX_META} is missing")
    meta = json.loads(meta_file.read_text())
    # Quantised indexes (simcse.search.quantization) keep codes.npy and write embeddings.npy only when
    # float vectors are kept for re-scoring; QuantizedIndex.load checks their files.
    needed = ("sentences.jsonl", "embeddings.npy") if meta.get("precision", "float32") == "float32" else ("sentences.jsonl",)
    for name in needed:
        if not (path / name).is_file():
            raise FileNotFoundError(f"saved index {path} is incomplete: {name} is missing")
    return meta


def read_index_sentences(path: Path) -> list[str]:
    """The sentences of a saved index (``sentences.jsonl``, one JSON string a line)."""
    with open(path / "sentences.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def load_index_files(
    path: Path, meta: dict[str, Any], use_faiss: bool | None, device: str | torch.device,
    num_cells_in_search: int | None = None,
) -> tuple[TorchIndex | FaissIndex, np.ndarray, list[str]]:
    """The index, vectors and sentences saved in ``path``; ``num_cells_in_search`` (IVF cells probed per
    query, a search-time setting) replaces the saved one when given."""
    sentences = read_index_sentences(path)
    vectors = np.load(path / "embeddings.npy")
    if len(sentences) != vectors.shape[0]:
        raise ValueError(f"saved index {path}: {len(sentences)} sentences but {vectors.shape[0]} vectors")
    if use_faiss is None:
        use_faiss = meta.get("backend") == "faiss" and faiss_available()
    else:
        use_faiss = faiss_wanted(use_faiss)
    fast = meta.get("kind") == "ivf" and use_faiss
    index = make_index(
        int(meta["dim"]),
        use_faiss,
        fast,
        int(meta.get("num_cells") or 100),
        num_cells_in_search or int(meta.get("num_cells_in_search") or 10),
        device,
    )
    if fast and (path / "faiss.index").is_file():
        assert isinstance(index, FaissIndex)
        index._set_index(index._faiss.read_index(str(path / "faiss.index")))
    elif len(vectors):  # an empty IVF index has no cells yet: they are learnt from the first vectors added
        index.add(vectors)
    return index, vectors, sentences
