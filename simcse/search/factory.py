"""Searching an index that ``simcse index build`` made from any FAISS ``index_factory`` string.

:class:`FactoryIndex` wraps the FAISS index (float or binary) read from ``faiss.index`` without
reading it whole (memory-mapped: ``IO_FLAG_MMAP`` for IVF inverted lists, ``IO_FLAG_MMAP_IFC`` for
flat codes and HNSW storage), moves it to a GPU when faiss-gpu sees one, sets ``nprobe`` /
``efSearch`` at search time and, when asked, re-scores candidates exactly with the float16 vectors
stored beside it. Positions it returns are rows of the index folder's text store (0..ntotal-1).

Scores are similarities, higher is better: the inner product for ``metric="ip"`` (the cosine for
normalised embeddings), ``1 - d / 2`` for a squared L2 distance ``d`` between normalised vectors
(the same cosine) and ``-d`` otherwise; binary indexes score ``cos(pi * hamming / bits)`` as
:class:`simcse.search.quantization.BinaryCodes` does.

faiss is an optional dependency: it is imported where an index is opened or built.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .quantization import quantize_embeddings

logger = logging.getLogger(__name__)

METRICS = ("ip", "l2")


def faiss_metric(metric: str) -> int:
    """The FAISS metric constant of ``metric`` (``ip`` or ``l2``); ``ValueError`` naming it otherwise."""
    import faiss  # optional dependency (faiss-cpu / faiss-gpu)

    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    return faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2


def distances_to_scores(dist: np.ndarray, metric: str, normalized: bool) -> np.ndarray:
    """FAISS distances as similarities (see the module docstring)."""
    d = np.asarray(dist, dtype=np.float32)
    if metric == "ip":
        return d
    return (1.0 - d / 2.0) if normalized else -d


def exact_scores(queries: np.ndarray, docs: np.ndarray, metric: str, normalized: bool) -> np.ndarray:
    """Similarities of each query [nq, dim] with its candidates [nq, kk, dim], on the index's scale."""
    if metric == "ip":
        return np.einsum("qd,qkd->qk", queries, docs).astype(np.float32)
    diff = docs - queries[:, None, :]
    return distances_to_scores(np.einsum("qkd,qkd->qk", diff, diff), metric, normalized)


class FactoryIndex:
    """A FAISS index of any factory string, opened read-only from an index folder.

    Args:
        faiss_index: the FAISS index (``faiss.Index`` or ``faiss.IndexBinary``).
        dim: embedding dimension (bits for a binary index).
        metric: ``"ip"``, ``"l2"`` (float indexes) or ``"hamming"`` (binary).
        factory: the factory string it was built from.
        normalized: whether the embeddings are unit-norm (for the L2 score).
        rerank_vectors: float16 [ntotal, dim] vectors (memory-mapped) for exact re-scoring, or None.
        device: a ``cuda`` device moves a float index to that GPU when faiss has GPU support.
    """

    backend = "faiss"
    kind = "factory"
    keeps_float32 = False

    def __init__(self, faiss_index: Any, dim: int, metric: str, factory: str, normalized: bool = True,
                 rerank_vectors: np.ndarray | None = None, device: str | torch.device = "cpu"):
        import faiss  # optional dependency (faiss-cpu / faiss-gpu)

        self._faiss = faiss
        self.dim = int(dim)
        self.metric = metric
        self.factory = factory
        self.normalized = bool(normalized)
        self.binary = isinstance(faiss_index, faiss.IndexBinary)
        self.rerank_vectors = rerank_vectors
        self.device = torch.device(device)
        self._gpu_res: Any = None
        self._index = faiss_index
        if self.device.type == "cuda" and not self.binary and hasattr(faiss, "StandardGpuResources") \
                and faiss.get_num_gpus() > 0:
            gpu_id = self.device.index if self.device.index is not None else torch.cuda.current_device()
            try:
                res = faiss.StandardGpuResources()
                self._index = faiss.index_cpu_to_gpu(res, gpu_id, faiss_index)
                self._gpu_res = res
            except RuntimeError as exc:  # e.g. HNSW, which FAISS does not run on a GPU
                logger.info("the %s index stays on the CPU: %s", factory, str(exc).splitlines()[-1])

    @classmethod
    def open(cls, folder: Path, dim: int, metric: str, factory: str, normalized: bool, binary: bool,
             rerank_file: str | None, device: str | torch.device = "cpu") -> "FactoryIndex":
        """Open ``folder/faiss.index`` memory-mapped, with the float16 ``rerank_file`` when given."""
        import faiss  # optional dependency (faiss-cpu / faiss-gpu)

        path = str(folder / "faiss.index")
        try:
            if binary:
                index = faiss.read_index_binary(path, faiss.IO_FLAG_MMAP)
            else:
                # IVF: the inverted lists are mapped; flat codes (Flat, PQ, SQ, HNSW storage): IFC.
                flags = faiss.IO_FLAG_MMAP if "IVF" in factory.upper() else faiss.IO_FLAG_MMAP_IFC
                index = faiss.read_index(path, flags)
        except RuntimeError as exc:
            raise ValueError(f"cannot read the FAISS index {path!r}: {str(exc).splitlines()[-1]}") from None
        vectors = None
        if rerank_file:
            vectors = np.load(folder / rerank_file, mmap_mode="r")
            if vectors.shape != (index.ntotal, dim) or vectors.dtype != np.float16:
                raise ValueError(f"{str(folder / rerank_file)!r} holds {vectors.dtype} {vectors.shape}; expected "
                                 f"float16 ({index.ntotal}, {dim}) for the {index.ntotal} vectors of faiss.index")
        return cls(index, dim, metric, factory, normalized, vectors, device)

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    @property
    def on_gpu(self) -> bool:
        return self._gpu_res is not None

    # ------------------------------------------------------------------ search-time settings
    def set_search_params(self, nprobe: int | None = None, ef_search: int | None = None) -> None:
        """Set the IVF cells probed per query and/or HNSW's ``efSearch``; ``ValueError`` naming the
        setting when this index has no such parameter."""
        for name, value in (("nprobe", nprobe), ("efSearch", ef_search)):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
            if self.binary:
                self._set_binary_param(name, int(value))
                continue
            space = self._faiss.GpuParameterSpace() if self.on_gpu else self._faiss.ParameterSpace()
            try:
                space.set_index_parameter(self._index, name, int(value))
            except RuntimeError:
                what = "IVF" if name == "nprobe" else "HNSW"
                raise ValueError(f"{name}={value} applies to {what} indexes; this index is {self.factory!r}") from None

    def _set_binary_param(self, name: str, value: int) -> None:
        index = self._faiss.downcast_IndexBinary(self._index)
        if name == "nprobe" and hasattr(index, "nprobe"):
            index.nprobe = value
        elif name == "efSearch" and hasattr(index, "hnsw"):
            index.hnsw.efSearch = value
        else:
            what = "IVF" if name == "nprobe" else "HNSW"
            raise ValueError(f"{name}={value} applies to {what} indexes; this index is {self.factory!r}")

    # ------------------------------------------------------------------ search
    def _raw_search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self.binary:
            d, i = self._index.search(quantize_embeddings(q, "ubinary"), k)
            s = np.cos(np.pi * np.minimum(d, self.dim) / self.dim).astype(np.float32)
        else:
            d, i = self._index.search(q, k)
            s = distances_to_scores(d, self.metric, self.normalized)
        s = np.array(s, dtype=np.float32)
        s[i < 0] = -np.inf
        return s, i.astype(np.int64)

    def search(self, queries: Any, k: int, rerank: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (scores, positions) per query; ``rerank`` > 0 fetches ``k * rerank`` candidates
        and re-scores them with the stored float16 vectors (``ValueError`` when none are stored)."""
        if isinstance(queries, torch.Tensor):
            queries = queries.detach().float().cpu().numpy()
        q = np.ascontiguousarray(queries, dtype=np.float32)
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise ValueError(f"queries have shape {q.shape}, the index holds {self.dim}-d vectors")
        if isinstance(rerank, bool) or not isinstance(rerank, (int, np.integer)) or rerank < 0:
            raise ValueError(f"rerank must be a non-negative integer (0 = no re-scoring), got {rerank!r}")
        n = self.ntotal
        if n == 0 or q.shape[0] == 0:
            return np.full((q.shape[0], k), -np.inf, np.float32), np.full((q.shape[0], k), -1, np.int64)
        if not rerank:
            return _pad(*self._raw_search(q, min(k, n)), k)
        if self.rerank_vectors is None:
            raise ValueError("rerank needs the float16 vectors stored at build time (simcse index build "
                             "--rerank_store); this index has none")
        kk = min(n, k * int(rerank))
        _, ids = self._raw_search(q, kk)
        valid = ids >= 0
        safe = np.where(valid, ids, 0)
        uniq, inv = np.unique(safe.ravel(), return_inverse=True)  # sorted rows: sequential reads of the memmap
        docs = np.asarray(self.rerank_vectors[uniq], dtype=np.float32)[inv].reshape(*safe.shape, self.dim)
        scores = exact_scores(q, docs, self.metric, self.normalized)
        scores[~valid] = -np.inf
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        s = np.take_along_axis(scores, order, axis=1)
        i = np.take_along_axis(np.where(valid, ids, -1), order, axis=1)
        return _pad(s, i, k)

    def add(self, vectors: Any) -> None:
        raise ValueError(f"an index built by `simcse index build` ({self.factory!r}) is read-only: add the "
                         "sentences to the input file, encode it again and rebuild the index")

    def vectors(self) -> np.ndarray:
        """The float16 re-scoring vectors as float32 (these indexes keep no float32 copy)."""
        if self.rerank_vectors is None:
            raise ValueError(f"the {self.factory!r} index stores no vectors it could give back")
        return np.asarray(self.rerank_vectors, dtype=np.float32)


def _pad(s: np.ndarray, i: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    if s.shape[1] >= k:
        return s, i
    ps = np.full((s.shape[0], k), -np.inf, np.float32)
    pi = np.full((s.shape[0], k), -1, np.int64)
    ps[:, : s.shape[1]], pi[:, : s.shape[1]] = s, i
    return ps, pi

