"""The embeddings folder that ``simcse encode --input CORPUS --output_dir EMB/`` writes, and its reader.

A folder holds one group of files per shard ``k`` (a byte range of the input, see
:mod:`simcse.search.corpus`), named ``shard-{k:05d}``:

- ``.npy``: the vectors in input order, in the folder's dtype: ``float16``, ``float32``, ``int8``
  (codes of :func:`simcse.search.quantization.quantize_embeddings` with symmetric per-dimension ranges
  ``[-m, m]`` calibrated on shard 0, stored in the manifest) or ``binary`` (sign bits packed by
  ``np.packbits``, uint8 [rows, ceil(dim / 8)]);
- ``.rows.npy``: int64 [rows, 3], ``(line, byte_start, byte_end)`` of each row: the 0-based line number
  in the input and the byte range of the line without its line end;
- ``.ids.json``: only for a .jsonl input with ids, the user ids (str or int) in row order;
- ``.json``: the shard's record (:class:`ShardRecord`), written last and atomically; a shard is
  complete when its record exists and its files have the sizes and sha256 it lists.

``manifest.json`` (:class:`EmbeddingManifest`) is written once every shard is complete; ``run.json``
holds the settings of the run, written when it starts, so that a rerun with other settings is refused.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..atomic import sha256_file
from .quantization import dequantize_int8, unpack_binary

FORMAT_NAME = "simcse-embeddings"
FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
RUN_FILE = "run.json"
DTYPES = ("float16", "float32", "int8", "binary")
"""Vector dtypes of a folder (``--dtype``)."""
NUMPY_DTYPES = {"float16": np.float16, "float32": np.float32, "int8": np.int8, "binary": np.uint8}
"""The numpy dtype a shard's ``.npy`` holds for each folder dtype (binary: packed bits)."""


def shard_stem(k: int) -> str:
    """``shard-00042`` for shard 42."""
    return f"shard-{k:05d}"


def shard_file_names(k: int, with_ids: bool) -> dict[str, str]:
    """The data files of shard ``k`` by role (``vectors``, ``rows`` and, for user ids, ``ids``)."""
    stem = shard_stem(k)
    names = {"vectors": f"{stem}.npy", "rows": f"{stem}.rows.npy"}
    if with_ids:
        names["ids"] = f"{stem}.ids.json"
    return names


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file, fsync and rename, so that ``path``
    either does not exist or holds the whole document."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    try:  # the rename itself is durable once the folder is synced (not possible on every platform)
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_json(path: Path) -> Any:
    """A JSON file's content; ``ValueError`` naming the file when it is not valid JSON."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON (line {exc.lineno}: {exc.msg})") from None


@dataclass(frozen=True)
class ShardRecord:
    """What ``shard-{k:05d}.json`` says about shard ``k``: its rows, the input bytes it covers, and the
    sha256 and size of each of its files (by file name). Shard 0 of an int8 folder also carries the
    int8 ranges ([dim, 2]) calibrated on its vectors."""

    shard: int
    rows: int
    byte_start: int
    byte_end: int
    files: dict[str, str]
    sizes: dict[str, int]
    int8_ranges: list[list[float]] | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["int8_ranges"] is None:
            del d["int8_ranges"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str) -> ShardRecord:
        """The record in ``d``; ``ValueError`` naming ``where`` when a key is missing."""
        try:
            return cls(shard=int(d["shard"]), rows=int(d["rows"]), byte_start=int(d["byte_start"]),
                       byte_end=int(d["byte_end"]), files=dict(d["files"]), sizes=dict(d["sizes"]),
                       int8_ranges=d.get("int8_ranges"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: not a shard record ({type(exc).__name__}: {exc})") from None

    @classmethod
    def read(cls, path: str | os.PathLike) -> ShardRecord:
        """The record in the file ``path``."""
        return cls.from_dict(read_json(Path(path)), str(path))

    def problem(self, folder: Path, full: bool) -> str | None:
        """Why the shard's files in ``folder`` do not match this record (a file missing, of another
        size or, when ``full``, with another sha256), or None when they match."""
        for name, digest in self.files.items():
            path = folder / name
            if not path.is_file():
                return f"{path} is missing"
            size = path.stat().st_size
            if size != self.sizes.get(name):
                return f"{path} has {size} bytes, its record {shard_stem(self.shard)}.json says {self.sizes.get(name)}"
            if full and sha256_file(path) != digest:
                return f"{path} does not match the sha256 in {shard_stem(self.shard)}.json (corrupt)"
        return None


@dataclass
class EmbeddingManifest:
    """``manifest.json`` of an embeddings folder: the model and settings the vectors were made with,
    the input they came from and the shards, in order. ``int8_ranges`` is [dim, 2] (per-dimension
    ``[lo, hi]``) for an int8 folder, else None."""

    folder: Path
    model: dict[str, str]
    pooler: str
    normalized: bool
    max_length: int
    dim: int
    dtype: str
    int8_ranges: list[list[float]] | None
    input: dict[str, Any]
    shard_bytes: int
    num_rows: int
    shards: list[ShardRecord] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``manifest.json``."""
        return {
            "format": FORMAT_NAME, "version": FORMAT_VERSION, "model": dict(self.model), "pooler": self.pooler,
            "normalized": self.normalized, "max_length": self.max_length, "dim": self.dim, "dtype": self.dtype,
            "int8_ranges": self.int8_ranges, "input": dict(self.input), "shard_bytes": self.shard_bytes,
            "num_rows": self.num_rows, "shards": [r.to_dict() for r in self.shards],
        }

    def write(self) -> None:
        """Write ``manifest.json`` into the folder (atomically)."""
        write_json_atomic(self.folder / MANIFEST_FILE, self.to_dict())

    @classmethod
    def read(cls, folder: str | os.PathLike) -> EmbeddingManifest:
        """The manifest of ``folder``, after checking that every shard file exists with its recorded size
        (:meth:`verify` also checks the sha256). ``FileNotFoundError`` when the folder has no manifest
        (for example a run that has not finished), ``ValueError`` naming what does not match."""
        folder = Path(folder)
        path = folder / MANIFEST_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"{folder} has no {MANIFEST_FILE}: not an embeddings folder, or its `simcse encode --input` "
                "run has not finished (rerun the same command to complete it)")
        d = read_json(path)
        if not isinstance(d, dict) or d.get("format") != FORMAT_NAME:
            raise ValueError(f"{path} is not a {FORMAT_NAME} manifest (format: {d.get('format') if isinstance(d, dict) else d!r})")
        if d.get("version") != FORMAT_VERSION:
            raise ValueError(f"{path} has format version {d.get('version')!r}; this simcse reads version {FORMAT_VERSION}")
        try:
            manifest = cls(
                folder=folder, model=dict(d["model"]), pooler=str(d["pooler"]), normalized=bool(d["normalized"]),
                max_length=int(d["max_length"]), dim=int(d["dim"]), dtype=str(d["dtype"]),
                int8_ranges=d["int8_ranges"], input=dict(d["input"]), shard_bytes=int(d["shard_bytes"]),
                num_rows=int(d["num_rows"]),
                shards=[ShardRecord.from_dict(s, f"{path} shards[{i}]") for i, s in enumerate(d["shards"])],
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path}: missing or invalid key ({type(exc).__name__}: {exc})") from None
        if manifest.dtype not in DTYPES:
            raise ValueError(f"{path}: dtype {manifest.dtype!r} is not one of {', '.join(DTYPES)}")
        manifest.verify(full=False)
        return manifest

    def verify(self, full: bool = True) -> None:
        """Check every shard's files against its record: sizes, and with ``full`` the sha256 (reads every
        byte). ``ValueError`` naming the first file that does not match."""
        for i, rec in enumerate(self.shards):
            if rec.shard != i:
                raise ValueError(f"{self.folder / MANIFEST_FILE}: shards[{i}] is shard {rec.shard}")
            problem = rec.problem(self.folder, full)
            if problem:
                raise ValueError(problem)
        if sum(r.rows for r in self.shards) != self.num_rows:
            raise ValueError(f"{self.folder / MANIFEST_FILE}: num_rows {self.num_rows} is not the sum of the shards' rows")

    @property
    def has_ids(self) -> bool:
        """Whether rows have user ids (``.ids.json`` files) rather than line numbers only."""
        return self.input.get("id_field") is not None


@dataclass
class Shard:
    """One shard's data: ``vectors`` (the folder's dtype, memory-mapped when not empty), ``rows`` (int64
    [n, 3]: line number, byte_start, byte_end), ``ids`` (user ids for a .jsonl input with ids, else
    None), ``index`` (k), and what :func:`load_vectors_float32` needs (``dtype``, ``dim``, ``int8_ranges``)."""

    index: int
    vectors: np.ndarray
    rows: np.ndarray
    ids: list[str | int] | None
    dtype: str
    dim: int
    int8_ranges: list[list[float]] | None = None

    @property
    def keys(self) -> list[str | int]:
        """Each row's id: the user id when the input has ids, else its 0-based line number."""
        return list(self.ids) if self.ids is not None else self.rows[:, 0].tolist()

    def __len__(self) -> int:
        return int(self.rows.shape[0])


def read_shard(manifest: EmbeddingManifest, k: int, mmap: bool = True) -> Shard:
    """Shard ``k`` of the folder of ``manifest``."""
    rec = manifest.shards[k]
    names = shard_file_names(k, manifest.has_ids)
    folder = manifest.folder
    mode = "r" if mmap and rec.rows else None
    vectors = np.load(folder / names["vectors"], mmap_mode=mode)
    rows = np.load(folder / names["rows"], mmap_mode=mode)
    ids = read_json(folder / names["ids"]) if "ids" in names else None
    return Shard(index=k, vectors=vectors, rows=rows, ids=ids, dtype=manifest.dtype, dim=manifest.dim,
                 int8_ranges=manifest.int8_ranges)


def iter_shards(folder: str | os.PathLike | EmbeddingManifest, mmap: bool = True) -> Iterator[Shard]:
    """The shards of an embeddings folder (or of a manifest already read), in input order."""
    manifest = folder if isinstance(folder, EmbeddingManifest) else EmbeddingManifest.read(folder)
    for k in range(len(manifest.shards)):
        yield read_shard(manifest, k, mmap=mmap)


def load_vectors_float32(shard: Shard) -> np.ndarray:
    """The shard's vectors as float32 [n, dim]: float16 widened; int8 codes mapped back to their
    buckets' centres with the folder's ranges; binary sign bits as unit vectors ``±1/sqrt(dim)`` (the
    sign vectors, whose dot products rank as Hamming distance does)."""
    if shard.dtype in ("float16", "float32"):
        return np.asarray(shard.vectors, dtype=np.float32)
    if shard.dtype == "int8":
        return dequantize_int8(np.asarray(shard.vectors), int8_ranges_as_minmax(shard.int8_ranges, shard.dim))
    if shard.dtype == "binary":
        return unpack_binary(np.asarray(shard.vectors), shard.dim) / np.float32(np.sqrt(shard.dim))
    raise ValueError(f"shard {shard.index}: unknown dtype {shard.dtype!r}")


def int8_ranges_as_minmax(ranges: list[list[float]] | None, dim: int) -> np.ndarray:
    """The manifest's int8 ranges ([dim, 2], per-dimension [lo, hi]) in the [2, dim] (min row, max row)
    layout of :mod:`simcse.search.quantization`."""
    r = np.asarray(ranges, dtype=np.float32) if ranges is not None else None
    if r is None or r.shape != (dim, 2):
        raise ValueError(f"int8 ranges must have shape ({dim}, 2), got {None if r is None else r.shape}")
    return np.ascontiguousarray(r.T)
