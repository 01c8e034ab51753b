"""The evaluation engine: the task registry, the encode-once embedding cache and :func:`evaluate`.

Every requested task lists the sentences it needs; the engine deduplicates them across all tasks,
encodes each distinct sentence once (length-sorted batches), checks that every vector is finite,
and hands each task a lookup from sentence to vector.
"""
from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import Any, Callable, Iterator, Protocol, Sequence

import numpy as np
import torch

from ..defaults import BATCH_SIZE, EVAL_MAX_LENGTH, EVAL_NORMALIZE
from ..encoder import SentenceEncoder, token_limit, tokenizer_limit
from ..tool import SimCSE, check_max_length
from .datadir import data_dir_source, resolve_data_dir
from .sts import Lookup, STSFinetuneTask, STSPairTask, STSYearTask
from .transfer import BinaryTask, MRPCTask, SST2Task, TRECTask, probe_config

STS_TASKS = ("STS12", "STS13", "STS14", "STS15", "STS16", "STSBenchmark", "SICKRelatedness")
TRANSFER_TASKS = ("MR", "CR", "SUBJ", "MPQA", "SST2", "TREC", "MRPC")
FINETUNE_TASKS = ("STSBenchmark-finetune", "SICKRelatedness-finetune")
TEST_ONLY_TASKS = ("STS12", "STS13", "STS14", "STS15", "STS16")
"""Tasks with no dev split: not part of a ``dev`` run (SimCSE's dev table has STS-B and SICK-R only)."""
ALL_TASKS = STS_TASKS + TRANSFER_TASKS + FINETUNE_TASKS
TASK_SETS: dict[str, tuple[str, ...]] = {
    "sts": STS_TASKS,
    # SimCSE's evaluation.py order for the transfer set
    "transfer": ("MR", "CR", "MPQA", "SUBJ", "SST2", "TREC", "MRPC"),
    "full": STS_TASKS + ("MR", "CR", "MPQA", "SUBJ", "SST2", "TREC", "MRPC"),
}
NA_DEFAULT_TASKS = ("STS12", "STS13", "STS14", "STS15", "STS16", "MR", "CR", "MPQA", "SUBJ", "SST2", "TREC", "MRPC",
                    "SICKRelatedness", "STSBenchmark")
"""What ``task_set="na"`` runs when no tasks are named: the default of ``--tasks`` in SimCSE's evaluation.py."""
ALIASES = {
    "STS-B": "STSBenchmark", "STSB": "STSBenchmark", "SICK-R": "SICKRelatedness", "SICKR": "SICKRelatedness",
    "SST-2": "SST2", "STS-B-finetune": "STSBenchmark-finetune", "SICK-R-finetune": "SICKRelatedness-finetune",
}
MODES = ("test", "fasttest", "dev")


class Task(Protocol):
    """One task of the registry: reads its data, lists the sentences it needs, scores their vectors."""

    def load(self, mode: str = "test") -> None: ...

    def sentences(self, mode: str) -> list[str]: ...

    def run(self, lookup: Lookup, mode: str, seed: int = 1111) -> dict[str, Any]: ...


_TASK_CLASSES: dict[str, Callable[..., Task]] = {
    **{t: STSYearTask for t in ("STS12", "STS13", "STS14", "STS15", "STS16")},
    "STSBenchmark": STSPairTask,
    "SICKRelatedness": STSPairTask,
    **{t: BinaryTask for t in ("MR", "CR", "SUBJ", "MPQA")},
    "SST2": SST2Task,
    "TREC": TRECTask,
    "MRPC": MRPCTask,
    **{t: STSFinetuneTask for t in FINETUNE_TASKS},
}


def canonical_task(name: str) -> str:
    """The registry name of a task (accepts the aliases STS-B, SICK-R, ...); ``ValueError`` listing
    the known tasks otherwise."""
    name = ALIASES.get(name, name)
    if name not in _TASK_CLASSES:
        known = {n.lower(): n for n in ALL_TASKS}
        hint = f" (did you mean {known[name.lower()]!r}?)" if name.lower() in known else ""
        raise ValueError(
            f"unknown task {name!r}{hint}; known tasks: {', '.join(ALL_TASKS)} "
            f"(aliases: {', '.join(ALIASES)})"
        )
    return name


def load_task(name: str, mode: str = "test", data_dir: str | os.PathLike | None = None) -> Task:
    """The task ``name`` (an alias such as STS-B is accepted) with its data for ``mode`` read from
    ``data_dir`` (default: ``$SIMCSE_DATA_DIR`` or ``SentEval/data/downstream``); a missing file
    raises ``FileNotFoundError`` naming it."""
    name = canonical_task(name)
    task = _TASK_CLASSES[name](name=name, data_dir=None if data_dir is None else str(data_dir))
    task.load(mode)
    return task


def resolve_tasks(tasks: Sequence[str] | str | None = None, task_set: str | None = "sts") -> list[str]:
    """Task names from an explicit list, or from a task set (``sts``, ``transfer``, ``full``; ``na`` with
    no list: :data:`NA_DEFAULT_TASKS`, the default ``--tasks`` of SimCSE's evaluation.py)."""
    if isinstance(tasks, str):
        tasks = [tasks]
    if tasks:
        out: list[str] = []
        for t in tasks:
            c = canonical_task(t)
            if c not in out:
                out.append(c)
        return out
    if task_set == "na":  # SimCSE's evaluation.py: --task_set na runs --tasks, whose default is these 14
        return list(NA_DEFAULT_TASKS)
    if task_set is None:
        raise ValueError("no tasks given: pass tasks=[...] or a task_set (sts, transfer, full, na)")
    if task_set not in TASK_SETS:
        raise ValueError(f"unknown task_set {task_set!r}; choose one of {', '.join(TASK_SETS)} or na")
    return list(TASK_SETS[task_set])


# ---------------------------------------------------------------------- encoders
EncodeFn = Callable[[Sequence[str]], np.ndarray]


@contextlib.contextmanager
def _raw_vectors(encoder: Any, normalize: bool | None) -> Iterator[None]:
    """Temporarily override a SentenceEncoder's built-in normalisation (``None`` keeps it)."""
    if normalize is None:
        yield
        return
    old = encoder.config.normalize
    encoder.config.normalize = bool(normalize)
    try:
        yield
    finally:
        encoder.config.normalize = old


def default_max_length(encoder: Any) -> int:
    """SimCSE's evaluation does not truncate: use the model's limit (:func:`~simcse.encoder.token_limit`),
    at most :data:`simcse.defaults.EVAL_MAX_LENGTH` when the tokenizer sets none."""
    limit = token_limit(encoder) or EVAL_MAX_LENGTH
    return limit if tokenizer_limit(encoder.tokenizer) is not None else min(limit, EVAL_MAX_LENGTH)


def make_encode_fn(
    model: Any,
    batch_size: int = BATCH_SIZE,
    max_length: int | None = None,
    normalize: bool | None = EVAL_NORMALIZE,
    device: str | None = None,
    pooler: str | None = None,
    dtype: str = "float32",
    progress: bool = False,
) -> tuple[EncodeFn, dict[str, Any]]:
    """A sentences -> float32 [N, dim] function for a model, and a description of it.

    ``model`` may be a model folder or hub name (loaded with :class:`simcse.SimCSE`), a
    :class:`simcse.SimCSE`, a :class:`simcse.SentenceEncoder`, an object with ``encode(list_of_str)``
    (e.g. a SentenceTransformer) or any callable mapping a list of sentences to an array.
    ``normalize=False`` returns the pooled vectors as they are (SimCSE's evaluation), ``True`` unit
    vectors, ``None`` whatever the model is configured to return. ``progress`` shows a progress bar
    while a SimCSE / SentenceEncoder model encodes.
    """
    if isinstance(model, (str, os.PathLike)):
        model = SimCSE(str(model), device=device, pooler=pooler)
    elif pooler is not None:
        raise ValueError("pooler can only be chosen when the model is given by name or path")
    if isinstance(model, SimCSE):
        info = {"model": model.model_name_or_path, "pooler": model.pooler}
        encoder, dev = model.encoder, model.device
    elif isinstance(model, SentenceEncoder):
        info = {"model": type(model).__name__, "pooler": model.pooler_type}
        encoder, dev = model, model.device
    else:
        encoder = None
    if encoder is not None:
        # never more tokens than the model has positions (a longer sentence would crash the model)
        length = check_max_length(max_length, encoder) if max_length else default_max_length(encoder)
        torch_dtype = _torch_dtype(dtype)
        info.update(max_length=length, normalize=normalize, batch_size=batch_size, dtype=dtype)

        def encode(sentences: Sequence[str]) -> np.ndarray:
            with _raw_vectors(encoder, normalize):
                return encoder.encode(list(sentences), batch_size=batch_size, max_length=length,
                                      device=dev, dtype=torch_dtype, show_progress_bar=progress).cpu().numpy()

        return encode, info
    if hasattr(model, "encode") and callable(model.encode):
        fn = model.encode
        info = {"model": type(model).__name__, "batch_size": batch_size}

        def encode(sentences: Sequence[str]) -> np.ndarray:
            try:
                out = fn(list(sentences), batch_size=batch_size)
            except TypeError:
                out = fn(list(sentences))
            return _to_numpy(out)

        return encode, info
    if callable(model):
        return (lambda sentences: _to_numpy(model(list(sentences)))), {"model": getattr(model, "__name__", "callable")}
    raise TypeError(
        f"cannot evaluate a {type(model).__name__}: pass a model path, a SimCSE, a SentenceEncoder, "
        "an object with encode(sentences), or a callable sentences -> array"
    )


DTYPES = ("float32", "bfloat16", "float16")


def _torch_dtype(name: str) -> Any:
    """The autocast dtype for ``name`` (``float32``: none; ``bfloat16``/``float16``: faster, scores move
    by about 0.01)."""
    if name not in DTYPES:
        raise ValueError(f"unknown dtype {name!r}; choose one of {', '.join(DTYPES)}")
    return None if name == "float32" else getattr(torch, name)


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


class EmbeddingCache:
    """Encodes every distinct sentence once and serves their vectors by sentence."""

    def __init__(self, encode_fn: EncodeFn):
        self.encode_fn = encode_fn
        self.index: dict[str, int] = {}
        self.vectors: np.ndarray | None = None

    def fill(self, sentences: Sequence[str]) -> None:
        """Encode the sentences not encoded yet (deduplicated) and check the vectors are finite."""
        new = list(dict.fromkeys(s for s in sentences if s not in self.index))
        if not new:
            return
        vecs = _to_numpy(self.encode_fn(new))
        if vecs.ndim != 2 or vecs.shape[0] != len(new):
            raise ValueError(f"the model returned an array of shape {vecs.shape} for {len(new)} sentences; "
                             f"expected ({len(new)}, dim)")
        bad = ~np.isfinite(vecs).all(axis=1)
        if bad.any():
            first = new[int(np.argmax(bad))]
            raise FloatingPointError(
                f"the model returned non-finite (NaN or inf) embeddings for {int(bad.sum())} of {len(new)} "
                f"sentences, e.g. {first[:100]!r}; scores would be meaningless"
            )
        start = 0 if self.vectors is None else len(self.vectors)
        self.vectors = vecs if self.vectors is None else np.concatenate([self.vectors, vecs])
        for i, s in enumerate(new):
            self.index[s] = start + i

    def __call__(self, sentences: Sequence[str]) -> np.ndarray:
        missing = [s for s in sentences if s not in self.index]
        if missing:
            self.fill(missing)
        assert self.vectors is not None
        return self.vectors[[self.index[s] for s in sentences]]

    def __len__(self) -> int:
        return len(self.index)


# ---------------------------------------------------------------------- evaluate
def evaluate(
    model: Any,
    tasks: Sequence[str] | str | None = None,
    task_set: str | None = "sts",
    mode: str = "test",
    data_dir: str | os.PathLike | None = None,
    batch_size: int = BATCH_SIZE,
    max_length: int | None = None,
    normalize: bool | None = EVAL_NORMALIZE,
    pooler: str | None = None,
    device: str | None = None,
    seed: int = 1111,
    dtype: str = "float32",
    progress: bool = False,
) -> dict[str, Any]:
    """Evaluate a model on SentEval-style tasks and return every number.

    Args:
        model: a model path / hub name, a :class:`simcse.SimCSE`, a :class:`simcse.SentenceEncoder`,
            an object with ``encode(sentences)``, or a callable sentences -> [N, dim] array.
        tasks: task names (see :data:`ALL_TASKS`); if empty, ``task_set`` decides.
        task_set: ``sts`` (STS12-16, STS-B, SICK-R), ``transfer`` (7 tasks), ``full``, or ``na``
            (``tasks``; with none, SimCSE's default ``--tasks``: :data:`NA_DEFAULT_TASKS`).
        mode: ``test`` (STS test sets; 10-fold probes), ``fasttest`` (5-fold fast probes) or ``dev``
            (STS-B/SICK-R dev sets and the probes' dev accuracy; STS12-16, which have test sets only,
            are left out of a task set and refused by name, so no test score enters a dev run).
        data_dir: SentEval's ``data/downstream`` folder (default: ``$SIMCSE_DATA_DIR`` or
            ``SentEval/data/downstream``).
        max_length: token limit (default: the tokenizer's, i.e. no truncation as in SimCSE).
        normalize: ``False`` (default) evaluates the raw pooled vectors as SimCSE does.
        dtype: ``float32`` (default, the field's numbers), or ``bfloat16`` / ``float16`` autocast
            for speed (on a CPU with bf16 support the STS7 run is about 1.6x faster; scores move by
            up to about 0.02).
        progress: report on stderr: a line when the data are read, a progress bar while encoding and
            a line per task as it is scored. The data are read (and a missing file named) before a
            model given by name or path is loaded.

    Returns:
        ``{"tasks": {task: full results}, "scores": {task: main score x 100}, "avg": {...},
        "mode": ..., "model": ..., "n_sentences": ..., "seconds": {...}}``. Main scores: Spearman
        ``all`` for STS12-16, test (dev in dev mode) Spearman for STS-B / SICK-R, test accuracy
        (dev accuracy in dev mode) for transfer tasks.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if max_length is not None and (not isinstance(max_length, int) or max_length < 2):
        raise ValueError(f"max_length must be an integer >= 2, got {max_length!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ValueError(f"seed (--seed) must be an integer from 0 to 2**32 - 1, got {seed!r}")
    names = resolve_tasks(tasks, task_set)
    if mode == "dev":
        test_only = [n for n in names if n in TEST_ONLY_TASKS]
        if test_only and tasks:  # asked for by name
            raise ValueError(
                f"{', '.join(test_only)}: test sets only, no dev split; mode 'dev' scores the STSBenchmark / "
                "SICKRelatedness dev sets and the transfer tasks' dev accuracy. Use mode 'test' for STS12-16."
            )
        names = [n for n in names if n not in test_only]  # a task set: its dev-scored tasks
    t0 = time.perf_counter()
    objs = {name: load_task(name, mode, data_dir) for name in names}
    t_load = time.perf_counter()
    encode_fn, info = make_encode_fn(model, batch_size=batch_size, max_length=max_length, normalize=normalize,
                                     device=device, pooler=pooler, dtype=dtype, progress=progress)
    cache = EmbeddingCache(encode_fn)
    requested = [s for obj in objs.values() for s in obj.sentences(mode)]
    if progress:
        print(f"read {len(objs)} task(s) ({', '.join(objs)}) from {resolve_data_dir(data_dir)}: "
              f"{len(set(requested))} distinct sentences to encode", file=sys.stderr, flush=True)
    cache.fill(requested)
    t_enc = time.perf_counter()
    results: dict[str, Any] = {}
    timings: dict[str, float] = {}
    for i, (name, obj) in enumerate(objs.items(), 1):
        t = time.perf_counter()
        results[name] = obj.run(cache, mode, seed=seed)
        timings[name] = round(time.perf_counter() - t, 3)
        if progress:
            main = results[name]["main"] * (100 if name in STS_TASKS + FINETUNE_TASKS else 1)
            print(f"[{i}/{len(objs)}] {name}: {main:.2f} ({timings[name]:.1f} s)", file=sys.stderr, flush=True)
    scores = {name: round(100 * r["main"], 2) if name in STS_TASKS + FINETUNE_TASKS else r["main"]
              for name, r in results.items()}
    out: dict[str, Any] = {
        **info,
        "mode": mode,
        "data_dir": str(resolve_data_dir(data_dir).resolve()),
        "data_dir_source": data_dir_source(data_dir),
        "tasks": results,
        "scores": scores,
        "avg": _averages(scores),
        "n_sentences": {"requested": len(requested), "distinct": len(cache)},
        "seconds": {"load": round(t_load - t0, 3), "encode": round(t_enc - t_load, 3), "score": timings,
                    "total": round(time.perf_counter() - t0, 3)},
    }
    if any(n in TRANSFER_TASKS for n in names):
        out["probe"] = probe_config(mode).__dict__
    return out


def _averages(scores: dict[str, float]) -> dict[str, float]:
    """SimCSE's ``Avg.`` column: the mean of the printed (2-decimal) scores of each table."""
    out = {}
    for key, group in (("sts", STS_TASKS), ("transfer", TRANSFER_TASKS)):
        vals = [scores[t] for t in group if t in scores]
        if vals:
            out[key] = round(sum(vals) / len(vals), 2)
    return out


def format_table(names: Sequence[str], *rows: Sequence[str]) -> str:
    """An ASCII table with one column per name and one line per row of values (the layout SimCSE
    prints with prettytable)."""
    widths = [max(len(n), *(len(r[i]) for r in rows)) for i, n in enumerate(names)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    row = lambda cells: "|" + "|".join(f" {c:^{w}} " for c, w in zip(cells, widths)) + "|"  # noqa: E731
    return "\n".join([line, row(names), line, *(row(r) for r in rows), line])


def results_tables(result: dict[str, Any]) -> str:
    """The STS and transfer tables for an :func:`evaluate` result (values x100, 2 decimals, Avg.)."""
    scores = result["scores"]
    parts = [f"------ {result['mode']} ------"]
    for group in (STS_TASKS, TRANSFER_TASKS, FINETUNE_TASKS):
        present = [t for t in group if t in scores]
        if not present:
            continue
        names = list(present)
        values = [f"{scores[t]:.2f}" for t in present]
        if group is not FINETUNE_TASKS:
            names.append("Avg.")
            values.append(f"{sum(scores[t] for t in present) / len(present):.2f}")
        parts.append(format_table(names, values))
    return "\n".join(parts)
