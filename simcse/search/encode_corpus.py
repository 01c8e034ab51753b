"""Encoding a corpus file into an embeddings folder (:mod:`simcse.search.shards`), shard by shard, resumable,
and spread over the processes of a ``torchrun`` launch.

A run first records its settings in ``run.json``; a rerun into the same folder must have the same ones
(it is refused naming the one that differs), skips the shards that are complete (files of the recorded
sizes and sha256), redoes a corrupt one with a warning, and removes the files of a shard whose record is
missing (the shard that was being written when the run stopped). Under ``torch.distributed`` process
``rank`` of ``world`` encodes the shards ``k`` with ``k % world == rank``; since shards are byte ranges of
the input, the files are the same for any number of processes. Rank 0 writes ``manifest.json`` once every
process has finished its shards.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from ..atomic import sha256_file
from ..defaults import BATCH_SIZE
from ..encoder import SentenceEncoder
from .corpus import CorpusFile, LineCounter, ShardInput, duplicate_ids, read_shard_input
from .quantization import quantize_embeddings
from .shards import (
    DTYPES,
    FORMAT_NAME,
    FORMAT_VERSION,
    RUN_FILE,
    EmbeddingManifest,
    ShardRecord,
    int8_ranges_as_minmax,
    read_json,
    shard_file_names,
    shard_stem,
    write_json_atomic,
)

logger = logging.getLogger(__name__)

RUN_FORMAT = FORMAT_NAME + "-run"
CHUNK_SENTENCES = 16384
"""Sentences tokenized and length-sorted together within a shard (chunks restart at each shard, so a
shard's vectors do not depend on which process encodes it or on what it encoded before)."""


@dataclass(frozen=True)
class CorpusSettings:
    """What the vectors of a folder depend on; ``run.json`` records them and a rerun must match them."""

    model: dict[str, str]
    pooler: str
    max_length: int
    dtype: str
    normalized: bool
    input: dict[str, Any]
    shard_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"model": dict(self.model), "pooler": self.pooler, "max_length": self.max_length, "dtype": self.dtype,
                "normalized": self.normalized, "input": dict(self.input), "shard_bytes": self.shard_bytes}

    def differences(self, recorded: dict[str, Any]) -> list[str]:
        """The settings that differ from ``recorded`` (a ``run.json``), each as ``name: recorded -> now``."""
        now = self.to_dict()
        pairs = [("model fingerprint", recorded.get("model", {}).get("fingerprint"), self.model["fingerprint"])]
        pairs += [(key, recorded.get(key), now[key]) for key in ("pooler", "max_length", "dtype", "normalized", "shard_bytes")]
        pairs += [(f"input {key}", recorded.get("input", {}).get(key), self.input[key]) for key in self.input]
        return [f"{name}: {old!r} in the folder, {new!r} now" for name, old, new in pairs if old != new]


def check_output_folder(folder: Path) -> None:
    """Refuse ``folder`` when it is a file, or a non-empty folder that no ``simcse encode --input`` run
    wrote (no ``run.json`` of ours), before any work."""
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"--output_dir {str(folder)!r} is a file, not a folder")
    if not folder.is_dir() or not any(folder.iterdir()):
        return
    run = folder / RUN_FILE
    recorded = read_json(run) if run.is_file() else None
    if not isinstance(recorded, dict) or recorded.get("format") != RUN_FORMAT:
        names = sorted(p.name for p in folder.iterdir())
        raise ValueError(
            f"--output_dir {str(folder)!r} is not empty and is not an embeddings folder of `simcse encode --input` "
            f"(no {RUN_FILE}; it holds {', '.join(names[:5])}{', ...' if len(names) > 5 else ''}): "
            "give a new or empty folder")


def start_run(folder: Path, settings: CorpusSettings) -> None:
    """Create ``folder`` and write ``run.json``, or check that the run recorded there has ``settings``."""
    check_output_folder(folder)
    run = folder / RUN_FILE
    if run.is_file():
        recorded = read_json(run)
        if recorded.get("version") != FORMAT_VERSION:
            raise ValueError(f"{run} has format version {recorded.get('version')!r}; this simcse writes version {FORMAT_VERSION}")
        diff = settings.differences(recorded)
        if diff:
            raise ValueError(
                f"--output_dir {str(folder)!r} holds embeddings made with other settings, which this run would mix "
                f"with its own: {'; '.join(diff)}. Rerun with the folder's settings, or give a new --output_dir")
        return
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(run, {"format": RUN_FORMAT, "version": FORMAT_VERSION, **settings.to_dict()})


def shard_state(folder: Path, k: int, with_ids: bool) -> tuple[ShardRecord | None, str | None]:
    """Shard ``k``'s record if the shard is complete (sizes and sha256 checked), else None and, for a
    record whose files do not match it, why. Files of an incomplete shard are removed."""
    record_path = folder / f"{shard_stem(k)}.json"
    problem = None
    if record_path.is_file():
        try:
            record = ShardRecord.read(record_path)
            problem = record.problem(folder, full=True)
        except ValueError as exc:
            problem = str(exc)
        if problem is None:
            return record, None
    for name in [f"{shard_stem(k)}.json", *shard_file_names(k, with_ids).values()]:
        for path in [folder / name, *folder.glob(f".{name}.tmp-*")]:
            path.unlink(missing_ok=True)
    return None, problem


class _Dist:
    """This process's rank and the world size, and the few collectives a run needs (no-ops alone)."""

    def __init__(self) -> None:
        self.on = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if self.on else 0
        self.world = dist.get_world_size() if self.on else 1
        self.nccl = self.on and dist.get_backend() == "nccl"

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank."""
        if not self.on:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0, device=torch.device("cuda", torch.cuda.current_device()) if self.nccl else None)
        return box[0]

    def barrier(self) -> None:
        if self.on:
            dist.barrier(device_ids=[torch.cuda.current_device()] if self.nccl else None)


def _write_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as fh:
        np.save(fh, array)
        fh.flush()
        os.fsync(fh.fileno())


def _write_shard(folder: Path, k: int, inp: ShardInput, vectors: np.ndarray,
                 int8_ranges: list[list[float]] | None) -> ShardRecord:
    """Write shard ``k``'s files, then its record (last, atomically)."""
    names = shard_file_names(k, inp.ids is not None)
    _write_npy(folder / names["vectors"], vectors)
    _write_npy(folder / names["rows"], inp.rows)
    if inp.ids is not None:
        with open(folder / names["ids"], "w", encoding="utf-8") as fh:
            json.dump(inp.ids, fh, ensure_ascii=False)
            fh.flush()
            os.fsync(fh.fileno())
    files = {name: sha256_file(folder / name) for name in names.values()}
    sizes = {name: (folder / name).stat().st_size for name in names.values()}
    record = ShardRecord(shard=k, rows=len(inp.texts), byte_start=inp.byte_start, byte_end=inp.byte_end,
                         files=files, sizes=sizes, int8_ranges=int8_ranges)
    write_json_atomic(folder / f"{shard_stem(k)}.json", record.to_dict())
    return record


def symmetric_ranges(vectors: np.ndarray, where: str) -> list[list[float]]:
    """Per-dimension ``[-m, m]`` with ``m`` the largest absolute value of each dimension in ``vectors``."""
    if not len(vectors):
        raise ValueError(f"--dtype int8 calibrates its ranges on shard 0, but {where} has no non-blank line: "
                         "use a larger --shard_mb")
    m = np.abs(vectors).max(axis=0).astype(np.float32)
    return np.stack([-m, m], axis=1).tolist()


def _to_dtype(vectors: np.ndarray, dtype: str, ranges: list[list[float]] | None) -> np.ndarray:
    if dtype == "float32":
        return vectors
    if dtype == "float16":
        return vectors.astype(np.float16)
    if dtype == "int8":
        return quantize_embeddings(vectors, "int8", ranges=int8_ranges_as_minmax(ranges, vectors.shape[1]))
    return np.packbits(vectors > 0, axis=-1)


def encode_corpus(
    encoder: SentenceEncoder,
    corpus: CorpusFile,
    folder: str | os.PathLike,
    settings: CorpusSettings,
    batch_size: int = BATCH_SIZE,
    device: torch.device | None = None,
    autocast_dtype: torch.dtype | None = None,
    progress: bool = False,
    report: Callable[[str], None] = logger.warning,
    tokenize_workers: int | None = None,
    cuda_graphs: bool | None = None,
) -> EmbeddingManifest | None:
    """Encode ``corpus`` into ``folder`` with ``settings`` (see the module docstring); returns the manifest
    on rank 0 (None on other ranks). ``report`` receives what a user should read: resumed and redone
    shards. ``progress`` shows a tqdm bar (sentences/s, ETA estimated from the bytes left) on rank 0.
    ``tokenize_workers`` / ``cuda_graphs``: see :meth:`SentenceEncoder.encode_stream`."""
    if settings.dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {settings.dtype!r}")
    folder = Path(folder)
    group = _Dist()
    error = None
    if group.rank == 0:
        try:
            start_run(folder, settings)
        except (ValueError, OSError) as exc:
            error = exc
    error = group.broadcast(error)
    if error is not None:
        raise error
    with_ids = corpus.id_field is not None
    num_shards = corpus.num_shards(settings.shard_bytes)
    mine = range(group.rank, num_shards, group.world)
    todo, done = [], 0
    for k in mine:
        record, problem = shard_state(folder, k, with_ids)
        if problem:
            report(f"{shard_stem(k)} is corrupt ({problem}): redoing it")
        if record is None:
            todo.append(k)
        else:
            done += 1
    if done:
        report(f"resuming in {folder}: {done} of this process's {len(mine)} shards already complete")
    ranges = None
    if settings.dtype == "int8" and group.rank == 0 and 0 not in todo:
        ranges = ShardRecord.read(folder / f"{shard_stem(0)}.json").int8_ranges
    synced = settings.dtype != "int8"
    bar = None
    if progress and group.rank == 0:
        bar = tqdm(total=None, desc="Encoding", unit="sent", dynamic_ncols=True)
    bytes_left = sum(min((k + 1) * settings.shard_bytes, corpus.size) - k * settings.shard_bytes for k in todo)
    bytes_read, rows_read = 0, 0
    counter = LineCounter(corpus.path)
    try:
        for k in todo:
            inp = read_shard_input(corpus, k, settings.shard_bytes, counter)
            if bar is not None:  # the total is estimated from the rows per byte so far
                bytes_read += inp.byte_end - inp.byte_start
                rows_read += len(inp.texts)
                bar.total = max(rows_read, round(rows_read / max(bytes_read, 1) * bytes_left))
                bar.refresh()
            convert = None if not synced else (lambda v: _to_dtype(v, settings.dtype, ranges))
            vectors = _encode_texts(encoder, inp.texts, settings, batch_size, device, autocast_dtype, bar, convert,
                                    tokenize_workers=tokenize_workers, cuda_graphs=cuda_graphs)
            if not synced:
                if k == 0:
                    ranges = symmetric_ranges(vectors, f"shard 0 (bytes 0 to {inp.byte_end} of {corpus.path})")
                ranges, synced = group.broadcast(ranges), True
                vectors = _to_dtype(vectors, settings.dtype, ranges)
            _write_shard(folder, k, inp, vectors, ranges if k == 0 and settings.dtype == "int8" else None)
            del inp, vectors
    finally:
        if bar is not None:
            bar.close()
    if not synced:
        ranges = group.broadcast(ranges)
    group.barrier()
    if group.rank != 0:
        return None
    return _write_manifest(folder, corpus, settings, encoder.dim, num_shards, ranges)


def _encode_texts(encoder: SentenceEncoder, texts: list[str], settings: CorpusSettings, batch_size: int,
                  device: torch.device | None, autocast_dtype: torch.dtype | None, bar: Any,
                  convert: Callable[[np.ndarray], np.ndarray] | None, tokenize_workers: int | None = None,
                  cuda_graphs: bool | None = None) -> np.ndarray:
    """The vectors of ``texts`` in order, encoded chunk by chunk through :meth:`SentenceEncoder.encode_stream`:
    each chunk passed through ``convert`` (to the folder's dtype) when given, else float32 [n, dim]."""
    out = None
    start = 0
    chunks = (texts[s : s + CHUNK_SENTENCES] for s in range(0, len(texts), CHUNK_SENTENCES))
    for vecs in encoder.encode_stream(chunks, batch_size=batch_size, normalize=settings.normalized,
                                      max_length=settings.max_length, device=device, dtype=autocast_dtype, progress=bar,
                                      tokenize_workers=tokenize_workers, cuda_graphs=cuda_graphs):
        part = vecs.numpy() if convert is None else convert(vecs.numpy())
        if out is None:
            out = np.empty((len(texts), part.shape[1]), dtype=part.dtype)
        out[start : start + len(part)] = part
        start += len(part)
    if out is None:  # no rows: an empty array of the folder's width and dtype
        empty = np.zeros((0, encoder.dim), dtype=np.float32)
        out = empty if convert is None else convert(empty)
    return out


def _write_manifest(folder: Path, corpus: CorpusFile, settings: CorpusSettings, dim: int, num_shards: int,
                    ranges: list[list[float]] | None) -> EmbeddingManifest:
    records = []
    for k in range(num_shards):
        path = folder / f"{shard_stem(k)}.json"
        if not path.is_file():
            raise RuntimeError(f"{path} is missing after every process finished: was a process stopped?")
        records.append(ShardRecord.read(path))
    manifest = EmbeddingManifest(
        folder=folder, model=dict(settings.model), pooler=settings.pooler, normalized=settings.normalized,
        max_length=settings.max_length, dim=dim, dtype=settings.dtype, int8_ranges=ranges, input=dict(settings.input),
        shard_bytes=settings.shard_bytes, num_rows=sum(r.rows for r in records), shards=records)
    manifest.verify(full=False)
    if corpus.id_field is not None:
        def shard_ids() -> Any:
            for k in range(num_shards):
                names = shard_file_names(k, True)
                yield read_json(folder / names["ids"]), np.load(folder / names["rows"])[:, 0]

        dup = duplicate_ids(shard_ids)
        if dup is not None:
            rid, a, b = dup
            raise ValueError(f"{corpus.path}: id {rid!r} is on line {a + 1} and again on line {b + 1}; ids must be "
                             "unique (no manifest was written)")
    manifest.write()
    return manifest


def init_distributed_from_env(device: str | None = None) -> tuple[str | None, bool]:
    """Join the process group of a ``torchrun`` launch (``WORLD_SIZE`` > 1 in the environment; env://
    rendezvous): NCCL with one GPU per process (``cuda:LOCAL_RANK``) when CUDA is available and ``device``
    is not ``cpu``, else gloo. Returns the device this process should use and whether a group was created
    here (none when not launched by torchrun, or when the caller already made one). The timeout (6 hours)
    covers processes that wait for others to finish their shards."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or (dist.is_available() and dist.is_initialized()):
        return device, False
    use_cuda = torch.cuda.is_available() and (device is None or device.startswith("cuda"))
    if use_cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    dist.init_process_group("nccl" if use_cuda else "gloo", init_method="env://", timeout=timedelta(hours=6))
    return device, True
