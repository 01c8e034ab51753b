"""Matryoshka truncation and quantised embeddings / indexes.

Embedding precisions (:func:`quantize_embeddings`, the semantics of sentence-transformers'
``quantize_embeddings``):

* ``float32``: unchanged.
* ``int8`` / ``uint8``: scalar quantisation, one bucket range per dimension. The ranges (per-dimension
  minimum and maximum, shape [2, dim]) come from ``ranges`` if given, else from
  ``calibration_embeddings`` if given, else from the embeddings being quantised (the batch itself:
  then the same sentence can get different codes in different batches, so pass calibration
  embeddings or ranges when codes must be comparable across calls). Code ``c = floor((x - min) /
  step)`` clipped to 0..255 with ``step = (max - min) / 255``; ``uint8`` stores ``c``, ``int8``
  stores ``c - 128``. :func:`dequantize_int8` maps a code back to the bucket centre.
* ``binary`` / ``ubinary``: one bit per dimension, ``x > 0``, packed with ``np.packbits`` into
  ``ceil(dim / 8)`` bytes; ``ubinary`` stores the packed bytes as uint8, ``binary`` stores them as
  int8 shifted by -128 (``packed - 128``, as sentence-transformers does). :func:`unpack_binary`
  reverses both.

Quantised indexes (:class:`QuantizedIndex`, used by ``SimCSE.build_index(precision=...)``):

* ``int8``: FAISS ``IndexScalarQuantizer`` (``QT_8bit``, inner product) or, without FAISS or on a
  GPU, a torch index holding the uint8 codes (on the index's device). Both use the per-dimension
  min/max of the indexed corpus (the first batch added) as ranges and score ``float query .
  dequantised document``, so both backends give the same codes and scores. 1 byte per dimension.
* ``binary``: FAISS ``IndexBinaryFlat`` (Hamming distance) or, without FAISS or on a GPU, a torch
  index holding the packed bits (on the index's device). Hamming distance by XOR and a 256-entry
  popcount lookup table; on a GPU by a matrix product of the bits unpacked to +-1 per chunk, which
  is exact. The query is binarised too. Scores before re-scoring are ``cos(pi * hamming / dim)``,
  the angle estimate of sign random projections. 1 bit per dimension.

Re-scoring (``rescore_multiplier`` > 0): the quantised index retrieves ``top_k * rescore_multiplier``
candidates, which are re-scored with the float query and re-ranked. ``rescore_with`` says against
what:

* ``"quantized"`` (default, no extra memory, sentence-transformers' approach): the candidates' own
  quantised vectors, i.e. the unpacked sign vectors scaled to unit norm for ``binary`` (scores are
  then cosines with the sign vector, lower than float cosines: pick ``threshold`` accordingly). For
  ``int8`` the index already scores float query x dequantised documents, so this re-scoring would
  change nothing and is skipped.
* ``"float"``: the documents' float32 vectors, giving exact cosines for the candidates. They cost
  ``4 * dim`` bytes per vector on disk, not in RAM: from ``build_index`` on they are appended to an
  anonymous temporary file (:class:`FloatSpill`, in ``$TMPDIR``, gone when the index is) and
  memory-mapped, and after ``load_index`` memory-mapped from the saved ``embeddings.npy``; only the
  candidates' rows are read, through the page cache, which the OS can reclaim. (A ``$TMPDIR`` on a
  RAM-backed tmpfs keeps them in RAM: point it at a disk folder.)

:func:`index_memory` gives the bytes per vector and per million vectors of each index type.

Why one module: the two code stores, their FAISS and torch search paths and
the re-scoring they share are one design, described above, and read best together.
"""
from __future__ import annotations

import logging
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .index import faiss_wanted

logger = logging.getLogger(__name__)

PRECISIONS = ("float32", "int8", "uint8", "binary", "ubinary")
INDEX_PRECISIONS = ("float32", "int8", "binary")
RESCORE_WITH = ("quantized", "float")

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


# ---------------------------------------------------------------------- argument checks
def check_precision(precision: Any, choices: tuple[str, ...] = PRECISIONS, what: str = "precision") -> str:
    """Return ``precision`` if it is one of ``choices``; else ``ValueError`` listing them."""
    if not isinstance(precision, str) or precision not in choices:
        raise ValueError(f"unknown {what} {precision!r}; choose one of {', '.join(choices)}")
    return precision


def check_truncate_dim(truncate_dim: Any, dim: int) -> int | None:
    """``None`` or an int in [1, dim]; else ``ValueError`` naming the value and the model dimension."""
    if truncate_dim is None:
        return None
    if isinstance(truncate_dim, bool) or not isinstance(truncate_dim, (int, np.integer)):
        raise ValueError(f"truncate_dim must be an integer in [1, {dim}] or None, got {truncate_dim!r}")
    if not 1 <= int(truncate_dim) <= dim:
        raise ValueError(f"truncate_dim={int(truncate_dim)} is out of range: the embeddings have {dim} "
                         f"dimensions, so truncate_dim must be in [1, {dim}]")
    return int(truncate_dim)


def check_rescore(rescore_multiplier: Any, rescore_with: Any) -> tuple[int, str]:
    """Validate the re-scoring arguments of ``build_index``."""
    if isinstance(rescore_multiplier, bool) or not isinstance(rescore_multiplier, (int, np.integer)) \
            or rescore_multiplier < 0:
        raise ValueError(f"rescore_multiplier must be a non-negative integer (0 = no re-scoring), "
                         f"got {rescore_multiplier!r}")
    return int(rescore_multiplier), check_precision(rescore_with, RESCORE_WITH, "rescore_with")


# ---------------------------------------------------------------------- embeddings
def truncate_embeddings(embeddings: np.ndarray | torch.Tensor, truncate_dim: int | None,
                        normalize: bool = True) -> np.ndarray | torch.Tensor:
    """Keep the first ``truncate_dim`` dimensions (Matryoshka), then L2-normalise if ``normalize``."""
    if truncate_dim is None:
        return embeddings
    out = embeddings[..., : int(truncate_dim)]
    if normalize:
        if isinstance(out, torch.Tensor):
            out = torch.nn.functional.normalize(out, dim=-1)
        else:
            out = out / np.clip(np.linalg.norm(out, axis=-1, keepdims=True), 1e-12, None)
    return out


def _to_float_numpy(x: Any, what: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu().numpy()
    arr = np.asarray(x)
    if arr.dtype in (np.int8, np.uint8):
        raise ValueError(f"{what} must be float embeddings, got {arr.dtype} (already quantised?)")
    return arr.astype(np.float32, copy=False)


def quantization_ranges(calibration_embeddings: np.ndarray | torch.Tensor) -> np.ndarray:
    """Per-dimension [min, max] (shape [2, dim], float32) of float embeddings, for int8/uint8 codes."""
    x = _to_float_numpy(calibration_embeddings, "calibration_embeddings")
    x = x.reshape(-1, x.shape[-1])
    if x.shape[0] < 2:
        raise ValueError(f"int8/uint8 ranges need at least 2 calibration embeddings, got {x.shape[0]}: "
                         "pass ranges= or calibration_embeddings= to quantise a single embedding")
    return np.stack([x.min(axis=0), x.max(axis=0)]).astype(np.float32)


def _check_ranges(ranges: Any, dim: int) -> np.ndarray:
    r = np.asarray(ranges, dtype=np.float32)
    if r.shape != (2, dim):
        raise ValueError(f"ranges must have shape (2, {dim}) (per-dimension min and max), got {r.shape}")
    return r


def quantize_embeddings(
    embeddings: np.ndarray | torch.Tensor,
    precision: str,
    ranges: np.ndarray | None = None,
    calibration_embeddings: np.ndarray | torch.Tensor | None = None,
) -> np.ndarray:
    """Quantise float embeddings [..., dim] to ``precision`` (see the module docstring).

    int8/uint8 ranges: ``ranges`` if given, else from ``calibration_embeddings``, else from
    ``embeddings`` themselves (which then need at least two rows).
    """
    check_precision(precision)
    x = _to_float_numpy(embeddings, "embeddings")
    if precision == "float32":
        return x
    if precision in ("int8", "uint8"):
        dim = x.shape[-1]
        if ranges is None:
            ranges = quantization_ranges(calibration_embeddings if calibration_embeddings is not None else x)
        r = _check_ranges(ranges, dim)
        step = (r[1] - r[0]) / 255.0
        step = np.where(step == 0, 1.0, step).astype(np.float32)
        codes = np.clip(np.floor((x - r[0]) / step), 0, 255)
        return codes.astype(np.uint8) if precision == "uint8" else (codes - 128).astype(np.int8)
    packed = np.packbits(x > 0, axis=-1)
    if precision == "ubinary":
        return packed
    return (packed.astype(np.int16) - 128).astype(np.int8)


def dequantize_int8(codes: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    """Bucket centres (float32) of int8 (``c - 128``) or uint8 (``c``) codes made with ``ranges``."""
    c = np.asarray(codes)
    if c.dtype == np.int8:
        c = c.astype(np.float32) + 128.0
    elif c.dtype == np.uint8:
        c = c.astype(np.float32)
    else:
        raise ValueError(f"codes must be int8 or uint8, got {c.dtype}")
    r = _check_ranges(ranges, c.shape[-1])
    step = (r[1] - r[0]) / 255.0
    step = np.where(step == 0, 1.0, step).astype(np.float32)
    return r[0] + (c + 0.5) * step


def unpack_binary(codes: np.ndarray, dim: int, signs: bool = True) -> np.ndarray:
    """Unpack ``binary`` (int8) or ``ubinary`` (uint8) codes to [..., dim]: ±1 float32 if ``signs``, else 0/1 uint8."""
    c = np.asarray(codes)
    if c.dtype == np.int8:
        c = (c.astype(np.int16) + 128).astype(np.uint8)
    elif c.dtype != np.uint8:
        raise ValueError(f"binary codes must be int8 (binary) or uint8 (ubinary), got {c.dtype}")
    bits = np.unpackbits(c, axis=-1)[..., :dim]
    if not signs:
        return bits
    return bits.astype(np.float32) * 2.0 - 1.0


# ---------------------------------------------------------------------- memory
def index_memory(dim: int, precision: str = "float32", truncate_dim: int | None = None,
                 rescore_with: str | None = None, num_vectors: int = 1_000_000) -> dict[str, Any]:
    """Bytes an index of ``precision`` needs per vector and for ``num_vectors`` vectors.

    ``bytes_per_vector`` is the index payload (float32: 4 per dimension; int8: 1; binary:
    ``ceil(dim / 8)``), ``fixed_bytes`` what does not grow with the corpus (int8: the ranges),
    ``rescore_bytes_per_vector`` the float32 vectors that ``rescore_with="float"`` needs beside the
    index, on disk (memory-mapped from ``build_index`` on, not held in RAM). Sentences and ids are not counted.
    """
    check_precision(precision, INDEX_PRECISIONS)
    d = check_truncate_dim(truncate_dim, dim) or dim
    if precision == "float32":
        per, fixed = 4 * d, 0
    elif precision == "int8":
        per, fixed = d, 2 * 4 * d
    else:
        per, fixed = (d + 7) // 8, 0
    rescore = 4 * d if (rescore_with == "float" and precision != "float32") else 0
    return {
        "precision": precision,
        "dim": d,
        "bytes_per_vector": per,
        "fixed_bytes": fixed,
        "bytes_total": per * num_vectors + fixed,
        "mib_per_million": per * 1_000_000 / 2**20,
        "rescore_bytes_per_vector": rescore,
        "rescore_mib_per_million": rescore * 1_000_000 / 2**20,
        "compression_vs_float32": 4 * dim / per,
    }


# ---------------------------------------------------------------------- base indexes
def _merge_topk(best_s: torch.Tensor | None, best_i: torch.Tensor | None, s: torch.Tensor, i: torch.Tensor,
                k: int, largest: bool) -> tuple[torch.Tensor, torch.Tensor]:
    if best_s is not None:
        s = torch.cat([best_s, s], dim=1)
        i = torch.cat([best_i, i], dim=1)
    top = torch.topk(s, min(k, s.shape[1]), dim=1, largest=largest, sorted=True)
    return top.values, torch.gather(i, 1, top.indices)


class _CodeStore:
    """uint8 code rows of width ``width``, held by a FAISS index or by a torch tensor on ``device``."""

    def __init__(self, width: int, use_faiss: bool | None, device: str | torch.device):
        self.width = width
        self.backend = "faiss" if faiss_wanted(use_faiss) else "torch"
        self.device = torch.device(device) if self.backend == "torch" else torch.device("cpu")
        self._codes = torch.zeros((0, width), dtype=torch.uint8, device=self.device)  # torch backend
        self._faiss_index: Any = None

    @property
    def ntotal(self) -> int:
        return int(self._faiss_index.ntotal) if self._faiss_index is not None else int(self._codes.shape[0])

    def _faiss_codes(self) -> Any:
        """The FAISS index's code vector."""
        raise NotImplementedError

    def _faiss_view(self) -> np.ndarray:
        """A zero-copy uint8 [ntotal, width] view of the FAISS codes (valid until the index changes)."""
        import faiss

        if self.ntotal == 0:
            return np.zeros((0, self.width), np.uint8)
        return faiss.rev_swig_ptr(self._faiss_codes().data(), self.ntotal * self.width).reshape(-1, self.width)

    def _append(self, codes: np.ndarray) -> None:
        """Torch backend: add code rows."""
        codes = torch.from_numpy(np.ascontiguousarray(codes, np.uint8)).to(self.device)
        self._codes = torch.cat([self._codes, codes])

    def codes(self) -> np.ndarray:
        """All codes as uint8 [N, width] (a copy)."""
        if self.backend == "faiss":
            return self._faiss_view().copy()
        return self._codes.cpu().numpy()

    def codes_of(self, ids: np.ndarray) -> np.ndarray:
        """The codes of rows ``ids`` (any shape), gathered where they live (no copy of the whole index)."""
        if self.backend == "faiss":
            return self._faiss_view()[ids]
        return self._codes[torch.as_tensor(ids, device=self.device)].cpu().numpy()


class Int8Codes(_CodeStore):
    """Scalar-quantised vectors (uint8 codes 0..255, per-dimension ranges); FAISS or torch search."""

    def __init__(self, dim: int, use_faiss: bool | None = None, chunk_size: int = 32768,
                 device: str | torch.device = "cpu"):
        super().__init__(dim, use_faiss, device)
        self.dim = dim
        self.chunk_size = chunk_size
        self.ranges: np.ndarray | None = None

    def _faiss_codes(self) -> Any:
        return self._faiss_index.codes

    def train(self, vectors: np.ndarray, ranges: np.ndarray | None = None) -> None:
        """Set the ranges (given, or the per-dimension min/max of ``vectors``); once."""
        if self.ranges is not None:
            return
        self.ranges = _check_ranges(ranges, self.dim) if ranges is not None else quantization_ranges(vectors)
        if self.backend == "faiss":
            import faiss

            index = faiss.IndexScalarQuantizer(self.dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
            lo, hi = self.ranges
            diff = np.where(hi - lo == 0, 255.0, hi - lo).astype(np.float32)  # step 1 where constant
            faiss.copy_array_to_vector(np.concatenate([lo, diff]).astype(np.float32), index.sq.trained)
            index.is_trained = True
            self._faiss_index = index

    def add(self, vectors: np.ndarray) -> None:
        if self.ranges is None:
            self.train(vectors)
        if self.backend == "faiss":
            self._faiss_index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        else:
            self._append(self._encode(vectors))

    def _encode(self, vectors: np.ndarray) -> np.ndarray:
        """uint8 codes computed as FAISS's 8-bit scalar quantiser does: ``floor(255 * (x - min) / (max - min))``
        (equal to :func:`quantize_embeddings` up to float rounding at bucket edges)."""
        lo, hi = self.ranges
        diff = np.where(hi - lo == 0, 255.0, hi - lo).astype(np.float32)
        t = np.clip((np.asarray(vectors, np.float32) - lo) / diff, 0.0, 1.0)
        return (np.float32(255.0) * t).astype(np.uint8)

    def add_codes(self, codes: np.ndarray) -> None:
        """Add uint8 codes directly (loading a saved index)."""
        if self.backend == "faiss":
            # Re-encoding a bucket centre gives back the same code.
            self._faiss_index.add(dequantize_int8(codes, self.ranges))
        else:
            self._append(codes)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` by float query . dequantised vector."""
        nq = queries.shape[0]
        if self.ntotal == 0 or nq == 0:
            return np.full((nq, k), -np.inf, np.float32), np.full((nq, k), -1, np.int64)
        if self.backend == "faiss":
            s, i = self._faiss_index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
            s = s.astype(np.float32)
            s[i < 0] = -np.inf
            return s, i.astype(np.int64)
        lo, hi = self.ranges
        step = np.where(hi - lo == 0, 1.0, (hi - lo) / 255.0).astype(np.float32)
        dev = self.device
        q = torch.from_numpy(np.ascontiguousarray(queries, dtype=np.float32)).to(dev)
        qs = q * torch.from_numpy(step).to(dev)  # q . (lo + (c + 0.5) step) = (q*step) . c + q . lo + 0.5 sum(q*step)
        offset = q @ torch.from_numpy(np.ascontiguousarray(lo, np.float32)).to(dev) + 0.5 * qs.sum(dim=1)
        best_s = best_i = None
        for start in range(0, self.ntotal, self.chunk_size):
            c = self._codes[start : start + self.chunk_size].float()
            sims = qs @ c.T + offset[:, None]
            top = torch.topk(sims, min(k, sims.shape[1]), dim=1)
            best_s, best_i = _merge_topk(best_s, best_i, top.values, top.indices + start, k, largest=True)
        return _pad(best_s.cpu().numpy(), best_i.cpu().numpy(), k, -np.inf)

    def vectors_of(self, ids: np.ndarray) -> np.ndarray:
        return dequantize_int8(self.codes_of(ids), self.ranges)


class BinaryCodes(_CodeStore):
    """Sign bits packed 8 per byte; Hamming search by FAISS ``IndexBinaryFlat`` or torch XOR + popcount."""

    def __init__(self, dim: int, use_faiss: bool | None = None, chunk_elems: int = 1 << 24,
                 device: str | torch.device = "cpu"):
        super().__init__((dim + 7) // 8, use_faiss, device)
        self.dim = dim
        self.chunk_elems = chunk_elems
        if self.backend == "faiss":
            import faiss

            self._faiss_index = faiss.IndexBinaryFlat(8 * self.nbytes)  # padding bits are 0 on both sides
        self._lut = torch.from_numpy(_POPCOUNT.astype(np.int32)).to(self.device)  # popcount table (XOR kernel)
        # On a GPU, Hamming distances come from a matrix product of +-1 bit vectors (exact in fp16:
        # the dot products are integers of magnitude <= 8 * nbytes): hamming = (8 * nbytes - dot) / 2.
        bits = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).astype(np.float32)
        self._signs = torch.from_numpy(2 * bits - 1).to(self.device, torch.float16) if self.device.type == "cuda" else None

    @property
    def nbytes(self) -> int:
        """Bytes per packed code (the code width)."""
        return self.width

    def _faiss_codes(self) -> Any:
        return self._faiss_index.xb

    def train(self, vectors: np.ndarray, ranges: np.ndarray | None = None) -> None:  # nothing to learn
        return None

    def add(self, vectors: np.ndarray) -> None:
        self.add_codes(quantize_embeddings(vectors, "ubinary"))

    def add_codes(self, codes: np.ndarray) -> None:
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        if self.backend == "faiss":
            self._faiss_index.add(codes)
        else:
            self._append(codes)

    def hamming_search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` smallest Hamming distances (int32) between the binarised queries and the codes."""
        qc = quantize_embeddings(queries, "ubinary")
        nq = qc.shape[0]
        if self.ntotal == 0 or nq == 0:
            return np.full((nq, k), self.dim + 1, np.int32), np.full((nq, k), -1, np.int64)
        if self.backend == "faiss":
            d, i = self._faiss_index.search(qc, k)
            return d.astype(np.int32), i.astype(np.int64)
        dev = self.device
        q = torch.from_numpy(qc).to(dev)
        docs = self._codes
        n = docs.shape[0]
        if self._signs is not None:  # GPU: +-1 matrix products over chunks of 64k codes x 1k queries
            doc_chunk, q_chunk = min(n, 1 << 16), 1024
        else:  # CPU: XOR + popcount table over [queries, codes, bytes] blocks of chunk_elems
            doc_chunk = max(1, min(n, self.chunk_elems // self.nbytes))
            q_chunk = max(1, self.chunk_elems // (doc_chunk * self.nbytes))
        out_d = np.full((nq, k), self.dim + 1, np.int32)
        out_i = np.full((nq, k), -1, np.int64)
        for qs in range(0, nq, q_chunk):
            qq = q[qs : qs + q_chunk]
            q_signs = None if self._signs is None else self._signs[qq.long()].reshape(len(qq), -1)
            best_s = best_i = None
            for ds in range(0, n, doc_chunk):
                if q_signs is not None:
                    chunk = docs[ds : ds + doc_chunk]
                    dot = q_signs @ self._signs[chunk.long()].reshape(len(chunk), -1).T
                    ham = (8 * self.nbytes - dot.float()) / 2
                else:
                    x = torch.bitwise_xor(qq[:, None, :], docs[None, ds : ds + doc_chunk, :])
                    ham = self._lut[x.to(torch.int32)].sum(dim=2)
                # stable order on ties: lower id first, as FAISS does
                top = torch.topk(ham.to(torch.float64) + (torch.arange(ham.shape[1], device=dev) + ds) * 1e-9,
                                 min(k, ham.shape[1]), dim=1, largest=False)
                best_s, best_i = _merge_topk(best_s, best_i, top.values, top.indices + ds, k, largest=False)
            kk = best_s.shape[1]
            out_d[qs : qs + len(qq), :kk] = np.rint(best_s.cpu().numpy()).astype(np.int32)
            out_i[qs : qs + len(qq), :kk] = best_i.cpu().numpy()
        return out_d, out_i

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` by Hamming distance, scored ``cos(pi * hamming / dim)``."""
        d, i = self.hamming_search(queries, k)
        s = np.cos(np.pi * np.minimum(d, self.dim) / self.dim).astype(np.float32)
        s[i < 0] = -np.inf
        return s, i

    def vectors_of(self, ids: np.ndarray) -> np.ndarray:
        """Unit-norm sign vectors (±1 / sqrt(dim)) of the codes ``ids``."""
        return unpack_binary(self.codes_of(ids), self.dim) / np.float32(math.sqrt(self.dim))


def _pad(s: np.ndarray, i: np.ndarray, k: int, fill: float) -> tuple[np.ndarray, np.ndarray]:
    if s.shape[1] == k:
        return s.astype(np.float32), i.astype(np.int64)
    ps = np.full((s.shape[0], k), fill, np.float32)
    pi = np.full((s.shape[0], k), -1, np.int64)
    ps[:, : s.shape[1]] = s
    pi[:, : s.shape[1]] = i
    return ps, pi


# ---------------------------------------------------------------------- float vectors on disk
class FloatSpill:
    """float32 rows appended to an anonymous temporary file and read back memory-mapped: the re-scoring
    vectors of an index being built cost disk, not RAM (the file has no name, so it disappears with
    this object, or with the process). ``array()`` is a read-only [n, dim] view."""

    def __init__(self, dim: int, directory: str | None = None):
        self.dim = dim
        self.rows = 0
        self._file = tempfile.TemporaryFile(prefix="simcse-rescore-", dir=directory)
        self._view: np.ndarray = np.zeros((0, dim), np.float32)

    def append(self, x: np.ndarray) -> None:
        """Write rows at the end of the file (in slices, so a large ``x`` needs no second copy)."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"vectors have shape {x.shape}, the index holds {self.dim}-d vectors")
        self._file.seek(0, 2)
        step = max(1, (16 << 20) // (4 * self.dim))
        for start in range(0, len(x), step):
            self._file.write(np.ascontiguousarray(x[start:start + step], dtype=np.float32).tobytes())
        self._file.flush()
        self.rows += len(x)
        self._view = (np.memmap(self._file, dtype=np.float32, mode="r", shape=(self.rows, self.dim))
                      if self.rows else np.zeros((0, self.dim), np.float32))

    def array(self) -> np.ndarray:
        return self._view

    def close(self) -> None:
        self._view = np.zeros((0, self.dim), np.float32)
        self._file.close()


# ---------------------------------------------------------------------- the index
class QuantizedIndex:
    """An int8 or binary index with optional float re-scoring; same ``add``/``search`` API as the float indexes.

    Args:
        dim: vector dimension (after any truncation).
        precision: ``"int8"`` or ``"binary"``.
        use_faiss: FAISS (default when installed) or the torch fallback.
        rescore_multiplier: 0 = no re-scoring; else retrieve ``k * rescore_multiplier`` candidates
            and re-rank them with the float query.
        rescore_with: ``"quantized"`` or ``"float"`` (see the module docstring).
        device: where the torch backend keeps the codes and searches. On a GPU (``cuda:N``) the
            torch backend is the default, because FAISS's quantised indexes here run on the CPU;
            ``use_faiss=True`` keeps them there. Re-scoring of the candidates runs on the CPU.
    """

    def __init__(self, dim: int, precision: str, use_faiss: bool | None = None, rescore_multiplier: int = 4,
                 rescore_with: str = "quantized", device: str | torch.device = "cpu"):
        check_precision(precision, ("int8", "binary"), "index precision")
        self.rescore_multiplier, self.rescore_with = check_rescore(rescore_multiplier, rescore_with)
        self.dim = dim
        self.precision = precision
        self.kind = precision
        self.device = torch.device(device)
        if use_faiss is None and self.device.type == "cuda":
            use_faiss = False  # the torch codes search on the GPU; FAISS's would stay on the CPU
        elif use_faiss and self.device.type == "cuda":
            logger.info("use_faiss=True: the %s index searches with FAISS on the CPU, not %s", precision, self.device)
        codes_cls = Int8Codes if precision == "int8" else BinaryCodes
        self.base: Int8Codes | BinaryCodes = codes_cls(dim, use_faiss, device=self.device)
        self.backend = self.base.backend
        self.float_vectors: np.ndarray | None = np.zeros((0, dim), np.float32) if self.rescore_with == "float" else None
        self._spill: FloatSpill | None = None  # where added float vectors go (on disk, memory-mapped)

    @property
    def ntotal(self) -> int:
        return self.base.ntotal

    def train(self, vectors: np.ndarray) -> None:
        self.base.train(np.asarray(vectors, np.float32))

    def add(self, vectors: Any) -> None:
        if isinstance(vectors, torch.Tensor):
            vectors = vectors.detach().float().cpu().numpy()
        x = np.ascontiguousarray(vectors, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"vectors have shape {x.shape}, the index holds {self.dim}-d vectors")
        self.base.add(x)
        if self.float_vectors is not None:
            if self._spill is None:  # the first add, or the first after load_index: earlier rows copied over
                self._spill = FloatSpill(self.dim)
                self._spill.append(self.float_vectors)
            self._spill.append(x)
            self.float_vectors = self._spill.array()

    @property
    def rescoring(self) -> bool:
        """Whether search re-ranks candidates (int8 with its own codes would not change the ranking)."""
        if self.rescore_multiplier < 1:
            return False
        return not (self.precision == "int8" and self.rescore_with == "quantized")

    def search(self, queries: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(queries, torch.Tensor):
            queries = queries.detach().float().cpu().numpy()
        q = np.ascontiguousarray(queries, dtype=np.float32)
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise ValueError(f"queries have shape {q.shape}, the index holds {self.dim}-d vectors")
        if not self.rescoring or self.ntotal == 0:
            return self.base.search(q, k)
        kk = min(self.ntotal, k * self.rescore_multiplier)
        _, ids = self.base.search(q, kk)
        valid = ids >= 0
        safe = np.where(valid, ids, 0)
        docs = self._candidate_vectors(safe)  # [nq, kk, dim]
        scores = np.einsum("qd,qkd->qk", q, docs).astype(np.float32)
        scores[~valid] = -np.inf
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        s = np.take_along_axis(scores, order, axis=1)
        i = np.take_along_axis(np.where(valid, ids, -1), order, axis=1)
        return _pad(s, i, k, -np.inf)

    def _candidate_vectors(self, ids: np.ndarray) -> np.ndarray:
        if self.rescore_with == "float":
            assert self.float_vectors is not None
            uniq, inv = np.unique(ids.ravel(), return_inverse=True)  # sorted rows: sequential reads from a memmap
            rows = np.asarray(self.float_vectors[uniq], dtype=np.float32)
            return rows[inv].reshape(*ids.shape, self.dim)
        return self.base.vectors_of(ids).astype(np.float32)

    def vectors(self) -> np.ndarray | None:
        """The float vectors kept for re-scoring, or None."""
        return self.float_vectors

    # ------------------------------------------------------------------ persistence
    def meta(self) -> dict[str, Any]:
        return {"precision": self.precision, "rescore_multiplier": self.rescore_multiplier,
                "rescore_with": self.rescore_with, "code_backend": self.backend}

    def save(self, path: Path) -> set[str]:
        """Write ``codes.npy`` (uint8), ``ranges.npy`` (int8) and, when kept, ``embeddings.npy``;
        return the names of the files that now hold this index."""
        np.save(path / "codes.npy", self.base.codes())
        written = {"codes.npy"}
        if self.precision == "int8" and self.base.ranges is not None:  # None: empty, not calibrated yet
            np.save(path / "ranges.npy", self.base.ranges)
            written.add("ranges.npy")
        if self.float_vectors is not None:
            target = path / "embeddings.npy"
            written.add("embeddings.npy")
            fv = self.float_vectors
            if isinstance(fv, np.memmap) and fv.filename and Path(fv.filename).resolve() == target.resolve():
                return written  # saving back to the folder it was loaded from: the file is already there
            np.save(target, np.asarray(fv, np.float32))
        return written

    @classmethod
    def load(cls, path: Path, meta: dict[str, Any], use_faiss: bool | None = None,
             device: str | torch.device = "cpu") -> "QuantizedIndex":
        """Rebuild a saved index; float vectors for re-scoring are memory-mapped from ``embeddings.npy``.

        ``use_faiss=None`` keeps the backend the index was saved from when that was torch; an index
        saved from FAISS loads with FAISS where it is installed (on a CPU device)."""
        precision = meta.get("precision")
        if use_faiss is None and meta.get("code_backend", meta.get("backend")) == "torch":
            use_faiss = False  # saved from the torch backend: loaded so, as float indexes are
        index = cls(int(meta["dim"]), precision, use_faiss, int(meta.get("rescore_multiplier", 0)),
                    meta.get("rescore_with", "quantized"), device)
        for name in ("codes.npy",) + (("embeddings.npy",) if index.rescore_with == "float" else ()):
            if not (path / name).is_file():
                raise FileNotFoundError(f"saved {precision} index {path} is incomplete: {name} is missing")
        codes = np.load(path / "codes.npy")
        expected = index.dim if precision == "int8" else (index.dim + 7) // 8
        if codes.dtype != np.uint8 or codes.ndim != 2 or codes.shape[1] != expected:
            raise ValueError(f"saved index {path}: codes.npy has dtype {codes.dtype} shape {codes.shape}; "
                             f"expected uint8 [N, {expected}] for a {index.dim}-d {precision} index")
        if precision == "int8" and codes.shape[0]:  # an empty int8 index is calibrated by its first add
            if not (path / "ranges.npy").is_file():
                raise FileNotFoundError(f"saved {precision} index {path} is incomplete: ranges.npy is missing")
            index.base.train(codes, ranges=np.load(path / "ranges.npy"))
        if codes.shape[0]:
            index.base.add_codes(codes)
        if index.rescore_with == "float":
            index.float_vectors = np.load(path / "embeddings.npy", mmap_mode="r")
            if index.float_vectors.shape != (codes.shape[0], index.dim):
                raise ValueError(f"saved index {path}: embeddings.npy has shape {index.float_vectors.shape}, "
                                 f"expected ({codes.shape[0]}, {index.dim})")
        return index

