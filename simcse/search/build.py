"""``simcse index build``: a FAISS index folder made from an embeddings folder (:mod:`simcse.search.shards`).

Any FAISS ``index_factory`` string is accepted (``Flat``, ``IVF4096,Flat``, ``IVF4096,SQ8``,
``IVF16384,PQ48``, ``HNSW32``, ``OPQ48,IVF4096,PQ48``, ..., and ``BFlat`` / ``BIVF1024`` /
``BHNSW32`` for binary embeddings); without one, :func:`default_factory` picks one from the number
of rows and the dimension. The index is trained on a random sample of rows drawn across all shards
(fixed seed), then filled shard by shard, a block of rows at a time: host memory holds the sample, one
block and the index itself. An IVF index asking for more cells than the sample can train (FAISS wants
:data:`POINTS_PER_CENTROID` points per cell) gets fewer, with a warning naming both numbers.

The folder gets the texts of the rows, copied from the input file by the rows' byte ranges (the
input must be the file the embeddings were made from: same size and modification time), the rows'
line numbers and user ids, and optionally float16 vectors for exact re-scoring; see
:mod:`simcse.search.store` for the files. The folder is written beside the output and moved into
place when complete, so a failed build leaves no half index.

faiss is an optional dependency: it is imported by the functions that need it.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .factory import faiss_metric
from .shards import NUMPY_DTYPES, EmbeddingManifest, Shard, iter_shards, load_vectors_float32
from .store import IndexManifest, check_index_folder, install_index_folder
from .texts import TextStoreWriter, file_identity

POINTS_PER_CENTROID = 39
"""Training points FAISS wants per IVF cell (it warns below that)."""
FLAT_ROWS = 100_000
"""Below this many rows the default index is exact (``Flat``)."""
HNSW_ROWS = 1_000_000
"""Below this many rows (and from :data:`FLAT_ROWS`) the default index is ``HNSW32``."""
IVF_FLAT_BYTES = 16 << 30
"""Above this much float32 storage the default IVF index compresses with PQ."""
BLOCK_ROWS = 65536
"""Rows converted and added to the index at a time."""
RERANK_FILE = "vectors_f16.npy"


@dataclass
class BuildPlan:
    """What will be built: the factory string (after any lowering of its cells), the metric, the
    training sample size, and the notes printed about the choices."""

    factory: str
    metric: str
    train_size: int
    binary: bool
    notes: list[str] = field(default_factory=list)


def sqrt_cells(n: int) -> int:
    """``4 * sqrt(n)`` IVF cells rounded to a power of two (autofaiss' rule of thumb)."""
    return 1 << max(0, round(math.log2(max(1.0, 4 * math.sqrt(n)))))


def pq_width(dim: int) -> int:
    """PQ sub-quantizers for ``dim``: ``dim / 8`` lowered to a divisor of ``dim`` (at least 1)."""
    m = max(1, dim // 8)
    while dim % m:
        m -= 1
    return m


def default_factory(n: int, dim: int, binary: bool) -> tuple[str, str]:
    """A factory string for ``n`` rows of ``dim`` dimensions, and why: ``Flat`` below
    :data:`FLAT_ROWS`, ``HNSW32`` below :data:`HNSW_ROWS`, then ``IVF{4 sqrt(n)},Flat`` up to
    :data:`IVF_FLAT_BYTES` of float32 vectors and ``IVF{4 sqrt(n)},PQ{dim/8}x8`` above; binary
    embeddings get ``BFlat`` below :data:`HNSW_ROWS`, else ``BIVF{4 sqrt(n)}``."""
    if binary:
        if n < HNSW_ROWS:
            return "BFlat", f"{n} rows < {HNSW_ROWS}: exact Hamming search"
        return f"BIVF{sqrt_cells(n)}", f"{n} rows: binary IVF with ~4*sqrt(n) cells"
    if n < FLAT_ROWS:
        return "Flat", f"{n} rows < {FLAT_ROWS}: exact search"
    if n < HNSW_ROWS:
        return "HNSW32", f"{FLAT_ROWS} <= {n} rows < {HNSW_ROWS}: graph search, no training"
    if n * dim * 4 <= IVF_FLAT_BYTES:
        return f"IVF{sqrt_cells(n)},Flat", f"{n} rows: IVF with ~4*sqrt(n) cells, float32 vectors"
    return (f"IVF{sqrt_cells(n)},PQ{pq_width(dim)}x8",
            f"{n} rows x {dim} dims is over {IVF_FLAT_BYTES >> 30} GiB as float32: IVF with PQ codes")


_IVF = re.compile(r"IVF(\d+)")
_PQ = re.compile(r"PQ(\d+)(?:x(\d+))?")


def plan_build(factory: str | None, n: int, dim: int, binary: bool, metric: str = "ip",
               train_size: int | None = None) -> BuildPlan:
    """Check and complete the build settings for ``n`` rows: the factory string (default:
    :func:`default_factory`), its IVF cells lowered to what the sample can train, and the sample size
    (default: enough for the cells and PQ codebooks). ``ValueError`` naming the factory string when
    FAISS cannot parse it or the sample cannot train its PQ codebooks."""
    notes = []
    if metric not in ("ip", "l2"):
        raise ValueError(f"unknown metric {metric!r}; choose one of ip, l2")
    if factory is None:
        factory, why = default_factory(n, dim, binary)
        notes.append(f"factory {factory!r} ({why})")
    elif not isinstance(factory, str) or not factory.strip():
        raise ValueError(f"the factory string must be a non-empty FAISS index_factory string, got {factory!r}")
    factory = factory.strip()
    if binary != factory.upper().startswith("B"):
        raise ValueError(
            f"factory {factory!r} is a {'binary' if factory.upper().startswith('B') else 'float'} index but the "
            f"embeddings are {'binary' if binary else 'not binary'}: binary embeddings (simcse encode --dtype binary) "
            "take binary factory strings (BFlat, BIVF1024, BHNSW32), the others float ones (Flat, IVF1024,PQ32, HNSW32)")
    validate_factory(factory, dim, binary, metric)
    ivf = _IVF.search(factory)
    pq = _PQ.search(factory)
    pq_bits = int(pq.group(2) or 8) if pq else 0
    if train_size is None:
        want = max(POINTS_PER_CENTROID * int(ivf.group(1)) if ivf else 0,
                   POINTS_PER_CENTROID * (1 << pq_bits) if pq else 0, 10_000)
        train_size = min(n, want)
    elif isinstance(train_size, bool) or not isinstance(train_size, (int, np.integer)) or train_size < 1:
        raise ValueError(f"train_size must be a positive integer, got {train_size!r}")
    train_size = min(int(train_size), n)
    if ivf:
        nlist, limit = int(ivf.group(1)), max(1, train_size // POINTS_PER_CENTROID)
        if nlist > limit:
            lowered = factory[: ivf.start(1)] + str(limit) + factory[ivf.end(1):]
            notes.append(f"warning: {factory!r} asks for {nlist} IVF cells but {train_size} training rows train at "
                         f"most {limit} ({POINTS_PER_CENTROID} per cell); building {lowered!r}")
            factory = lowered
    if pq and train_size < (1 << pq_bits):
        raise ValueError(f"factory {factory!r}: PQ codebooks of {pq_bits} bits need at least {1 << pq_bits} training "
                         f"rows, the sample has {train_size} (corpus rows: {n}); use fewer bits (PQ{pq.group(1)}x4) "
                         "or a Flat/SQ8/HNSW index")
    return BuildPlan(factory, "hamming" if binary else metric, train_size, binary, notes)


def validate_factory(factory: str, dim: int, binary: bool, metric: str = "ip") -> Any:
    """The empty FAISS index of ``factory`` for ``dim``-d vectors; ``ValueError`` naming the string
    when FAISS refuses it."""
    import faiss  # optional dependency (faiss-cpu / faiss-gpu)

    try:
        if binary:
            return faiss.index_binary_factory(8 * ((dim + 7) // 8), factory)
        return faiss.index_factory(dim, factory, faiss_metric(metric))
    except RuntimeError as exc:
        lines = [ln for ln in str(exc).splitlines() if ln.strip()]
        why = lines[-1] if lines else str(exc)
        raise ValueError(f"invalid FAISS factory string {factory!r} for {dim}-d vectors: {why}") from None


# ---------------------------------------------------------------------- checks of the input
def check_embeddings(emb: EmbeddingManifest) -> None:
    """Refuse an embeddings folder that cannot be indexed: no rows, shards whose vectors are of
    another dtype or width than the manifest says, or an input file that is gone or changed."""
    if emb.num_rows == 0 or not emb.shards:
        raise ValueError(f"embeddings folder {str(emb.folder)!r} holds no rows (was its input empty?): "
                         "no index is written")
    want = np.dtype(NUMPY_DTYPES[emb.dtype])
    width = (emb.dim + 7) // 8 if emb.dtype == "binary" else emb.dim
    for shard in iter_shards(emb):
        name = emb.folder / f"shard-{shard.index:05d}.npy"
        if shard.vectors.dtype != want:
            raise ValueError(f"{name} holds {shard.vectors.dtype} vectors but {emb.folder / 'manifest.json'} says "
                             f"{emb.dtype}: the shards have mixed dtypes (made by runs with different --dtype?)")
        if len(shard) and (shard.vectors.ndim != 2 or shard.vectors.shape[1] != width):
            raise ValueError(f"{name} holds vectors of shape {shard.vectors.shape} but the manifest says "
                             f"dim {emb.dim} ({emb.dtype}: {width} columns)")
        if shard.vectors.shape[0] != len(shard):
            raise ValueError(f"{name} holds {shard.vectors.shape[0]} vectors for {len(shard)} rows")
    check_input_unchanged(emb)


def check_input_unchanged(emb: EmbeddingManifest) -> Path:
    """The input file of the embeddings, after checking that it is still there with the size and
    modification time the manifest recorded; ``ValueError`` naming it otherwise."""
    path = Path(emb.input["path"])
    if not path.is_file():
        raise ValueError(f"the input {str(path)!r} of embeddings folder {str(emb.folder)!r} is gone: the index "
                         "copies the texts from it")
    size, mtime = file_identity(path)
    if size != int(emb.input["size"]) or mtime != int(emb.input["mtime_ns"]):
        raise ValueError(f"the input {str(path)!r} changed since embeddings folder {str(emb.folder)!r} was made "
                         f"(size {size} vs {emb.input['size']}, mtime_ns {mtime} vs {emb.input['mtime_ns']}): "
                         "encode it again")
    return path


# ---------------------------------------------------------------------- the build
def _block(shard: Shard, lo: int, hi: int) -> Shard:
    return dataclasses.replace(shard, vectors=shard.vectors[lo:hi], rows=shard.rows[lo:hi], ids=None)


def sample_rows(emb: EmbeddingManifest, size: int, seed: int, binary: bool) -> np.ndarray:
    """``size`` rows drawn at random (``seed``) across all shards: float32 vectors, or packed bits when ``binary``."""
    rng = np.random.default_rng(seed)
    picks = np.sort(rng.choice(emb.num_rows, size=size, replace=False))
    out = []
    start = 0
    for shard in iter_shards(emb):
        end = start + len(shard)
        local = picks[(picks >= start) & (picks < end)] - start
        if len(local):
            rows = dataclasses.replace(shard, vectors=np.asarray(shard.vectors[local]), rows=shard.rows[local], ids=None)
            out.append(np.ascontiguousarray(rows.vectors, np.uint8) if binary else load_vectors_float32(rows))
        start = end
    return np.concatenate(out, axis=0)


def read_shard_texts(f: Any, shard: Shard, emb: EmbeddingManifest, input_path: Path) -> list[bytes]:
    """The UTF-8 texts of ``shard``'s rows, read from the open input file ``f`` by their byte ranges (the
    text field of a ``.jsonl`` line, the stripped line of a text file)."""
    rows = np.asarray(shard.rows)
    if not len(rows):
        return []
    base = int(rows[:, 1].min())
    f.seek(base)
    return _shard_texts(f.read(int(rows[:, 2].max()) - base), base, rows, emb.input.get("format", "txt"),
                        emb.input.get("text_field"), input_path)


def _shard_texts(data: bytes, base: int, rows: np.ndarray, fmt: str, text_field: str | None,
                 input_path: Path) -> list[bytes]:
    """The UTF-8 texts of ``rows`` (line, byte_start, byte_end) from ``data``, the input bytes from ``base``."""
    out = []
    for line, start, end in rows.tolist():
        raw = data[start - base : end - base]
        text = raw.decode("utf-8")
        if fmt == "jsonl":
            try:
                text = json.loads(text)[text_field]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ValueError(f"{input_path}:{line + 1}: cannot read field {text_field!r} "
                                 f"({type(exc).__name__}): the input does not match its embeddings") from None
        else:
            text = text.strip()
        out.append(text.encode("utf-8"))
    return out


def build_index_folder(
    embeddings: str | os.PathLike,
    output: str | os.PathLike,
    factory: str | None = None,
    metric: str = "ip",
    train_size: int | None = None,
    rerank_store: bool | None = None,
    seed: int = 0,
    say: Callable[[str], None] = print,
) -> IndexManifest:
    """Build the index folder ``output`` from the embeddings folder ``embeddings`` (see the module
    docstring) and return its manifest; ``say`` gets the choices made and the progress.

    ``rerank_store`` (default: on, except for binary embeddings, which have no float vectors) keeps
    the vectors as float16 for exact re-scoring. ``output`` must be new, empty or an index folder."""
    emb = EmbeddingManifest.read(embeddings)
    out = Path(output)
    check_index_folder(out, "--output")
    check_embeddings(emb)
    binary = emb.dtype == "binary"
    if rerank_store is None:
        rerank_store = not binary
    elif rerank_store and binary:
        raise ValueError("--rerank_store keeps float vectors, which binary embeddings do not have; "
                         "encode with --dtype float16 to re-score, or build without --rerank_store")
    plan = plan_build(factory, emb.num_rows, emb.dim, binary, metric, train_size)
    for note in plan.notes:
        say(note)
    input_path = check_input_unchanged(emb)
    index = validate_factory(plan.factory, emb.dim, binary, metric)
    if not index.is_trained:
        say(f"training {plan.factory!r} on {plan.train_size} of {emb.num_rows} rows (seed {seed})")
        index.train(sample_rows(emb, plan.train_size, seed, binary))
    tmp = out.parent / f".{out.name}.building-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        manifest = _fill(emb, index, tmp, plan, rerank_store, input_path, say)
        install_index_folder(tmp, out, manifest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    say(f"wrote {plan.factory!r} index of {manifest.ntotal} rows to {out}")
    return manifest


def _fill(emb: EmbeddingManifest, index: Any, tmp: Path, plan: BuildPlan, rerank_store: bool, input_path: Path,
          say: Callable[[str], None]) -> IndexManifest:
    import faiss  # optional dependency (faiss-cpu / faiss-gpu)

    n = emb.num_rows
    texts = TextStoreWriter(tmp, "texts", n)
    ids = TextStoreWriter(tmp, "ids", n) if emb.has_ids else None
    lines = np.lib.format.open_memmap(tmp / "rows.npy", mode="w+", dtype=np.int64, shape=(n,))
    vectors = (np.lib.format.open_memmap(tmp / RERANK_FILE, mode="w+", dtype=np.float16, shape=(n, emb.dim))
               if rerank_store else None)
    pos = 0
    with open(input_path, "rb") as f:
        for shard in iter_shards(emb):
            rows = np.asarray(shard.rows)
            texts.append(read_shard_texts(f, shard, emb, input_path))
            if ids is not None:
                ids.append(json.dumps(i, ensure_ascii=False).encode("utf-8") for i in shard.ids or [])
            lines[pos : pos + len(rows)] = rows[:, 0]
            for lo in range(0, len(shard), BLOCK_ROWS):
                block = _block(shard, lo, lo + BLOCK_ROWS)
                if plan.binary:
                    index.add(np.ascontiguousarray(block.vectors, np.uint8))
                    continue
                x = np.ascontiguousarray(load_vectors_float32(block))
                index.add(x)
                if vectors is not None:
                    vectors[pos + lo : pos + lo + len(x)] = x.astype(np.float16)
            pos += len(rows)
            say(f"shard {shard.index}: {len(rows)} rows ({pos}/{n})")
    texts.close()
    if ids is not None:
        ids.close()
    lines.flush()
    del lines
    if vectors is not None:
        vectors.flush()
        del vectors
    if index.ntotal != n:
        raise ValueError(f"the index holds {index.ntotal} vectors but the embeddings manifest lists {n} rows")
    check_input_unchanged(emb)  # the texts copied are those of the embeddings
    if plan.binary:
        faiss.write_index_binary(index, str(tmp / "faiss.index"))
    else:
        faiss.write_index(index, str(tmp / "faiss.index"))
    return IndexManifest(
        dim=emb.dim, ntotal=n, kind="factory", backend="faiss", model=emb.model.get("name"), pooler=emb.pooler,
        precision="binary" if plan.binary else "float32", factory=plan.factory, metric=plan.metric,
        binary=plan.binary, normalized=emb.normalized, max_length=emb.max_length,
        model_fingerprint=emb.model.get("fingerprint"),
        embeddings={"path": str(emb.folder.resolve()), "dtype": emb.dtype, "num_rows": n},
        input=dict(emb.input), rerank_file=RERANK_FILE if rerank_store else None, user_ids=emb.has_ids,
    )
