"""Vector indexes for ``SimCSE.search``: FAISS (flat or IVF, CPU or GPU) and an exact torch index.

All indexes hold L2-normalised vectors and rank by inner product (= cosine similarity), so the
same query gives the same neighbours on every backend (up to ties, and up to the IVF probes).
Their files on disk are written and read by :mod:`simcse.search.store`.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

logger = logging.getLogger(__name__)


def faiss_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def faiss_gpus() -> int:
    """GPUs faiss can use here (0 without faiss-gpu, or without faiss)."""
    try:
        import faiss  # optional dependency (faiss-cpu / faiss-gpu)
    except ImportError:
        return 0
    return int(faiss.get_num_gpus()) if hasattr(faiss, "get_num_gpus") else 0


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
    """Exact search: matrix products and a top-k, on CPU or GPU (fp16 storage on GPU).

    Memory stays bounded whatever the corpus size: vectors are added into a buffer that grows by doubling
    (no copy of the whole index per ``add``), and a search scores blocks of at most ``block_elements``
    query-document pairs, keeping a running top-k, instead of a full queries x N matrix."""

    backend = "torch"
    kind = "flat"

    def __init__(self, dim: int, device: str | torch.device = "cpu", chunk_size: int = 4096,
                 block_elements: int = 1 << 28):
        self.dim = dim
        self.device = torch.device(device)
        self.dtype = torch.float16 if self.device.type == "cuda" else torch.float32
        self.chunk_size = chunk_size
        self.block_elements = block_elements
        self._buffer = torch.zeros(0, dim, dtype=self.dtype, device=self.device)
        self._n = 0

    @property
    def ntotal(self) -> int:
        return self._n

    @property
    def data(self) -> torch.Tensor:
        """The stored vectors, [ntotal, dim] (a view of the buffer)."""
        return self._buffer[: self._n]

    def train(self, vectors: np.ndarray) -> None:  # exact index: nothing to learn
        return None

    def add(self, vectors: Any) -> None:
        t = torch.as_tensor(_as_float32(vectors), device=self.device).to(self.dtype)
        if t.shape[1] != self.dim:
            raise ValueError(f"vectors have dimension {t.shape[1]}, the index holds {self.dim}")
        need = self._n + t.shape[0]
        if need > self._buffer.shape[0]:
            grown = torch.empty(max(need, 2 * self._buffer.shape[0]), self.dim, dtype=self.dtype, device=self.device)
            grown[: self._n] = self._buffer[: self._n]
            self._buffer = grown
        self._buffer[self._n : need] = t
        self._n = need

    def search(self, queries: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = torch.as_tensor(_as_float32(queries), device=self.device).to(self.dtype)
        n = self.ntotal
        k_eff = min(k, n)
        scores = np.full((q.shape[0], k), -np.inf, dtype=np.float32)
        ids = np.full((q.shape[0], k), -1, dtype=np.int64)
        if k_eff == 0 or q.shape[0] == 0:
            return scores, ids
        data = self.data
        for start in range(0, q.shape[0], self.chunk_size):
            qc = q[start : start + self.chunk_size]
            block = max(k_eff, self.block_elements // qc.shape[0])
            best_s = best_i = None
            for lo in range(0, n, block):
                top = torch.topk(qc @ data[lo : lo + block].T, min(k_eff, min(block, n - lo)), dim=1)
                s, i = top.values, top.indices + lo
                if best_s is not None:
                    s, i = torch.cat([best_s, s], dim=1), torch.cat([best_i, i], dim=1)
                    keep = torch.topk(s, k_eff, dim=1).indices
                    s, i = s.gather(1, keep), i.gather(1, keep)
                best_s, best_i = s, i
            scores[start : start + qc.shape[0], :k_eff] = best_s.float().cpu().numpy()
            ids[start : start + qc.shape[0], :k_eff] = best_i.cpu().numpy()
        return scores, ids

    @property
    def keeps_float32(self) -> bool:
        """Whether :meth:`vectors` gives back the added float32 vectors exactly (not on GPU: fp16)."""
        return self.dtype == torch.float32

    def vectors(self) -> np.ndarray:
        return self.data.float().cpu().numpy()


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

    def set_num_cells_in_search(self, num_cells_in_search: int) -> None:
        """IVF cells probed per query from now on (``ValueError`` naming a value that is not a positive integer)."""
        self.num_cells_in_search = check_cells(self.num_cells, num_cells_in_search)[1]
        if self._index is not None and self.kind == "ivf":
            self._set_nprobe()

    def write_cells(self, path: str) -> bool:
        """IVF: write the trained index (cells and lists) to the file ``path``; False (nothing written)
        for a flat index, or an IVF index with no vector added yet."""
        if self.kind != "ivf" or self._index is None:
            return False
        self._faiss.write_index(self.cpu_index(), path)
        return True

    def read_cells(self, path: str) -> None:
        """IVF: take the trained index (cells and lists) from the file ``path`` written by :meth:`write_cells`."""
        self._set_index(self._faiss.read_index(path))

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
