"""MTEB for SimCSE models: an encoder adapter, offline task loading, and leaderboard-ready results.

- :class:`MTEBEncoder` makes any model that :class:`simcse.SimCSE` loads an MTEB v2 encoder
  (``encode(DataLoader of batches, *, task_metadata, hf_split, hf_subset, prompt_type)``) with a
  :class:`mteb.models.model_meta.ModelMeta` (name, revision, parameters, embedding size, max tokens, licence,
  similarity function, training data).
- :func:`load_task` fills MTEB task objects from local files, so ``mteb.evaluate`` needs no hub:
  STS12-STS16, STSBenchmark and SICK-R from SentEval's data folder (SICK-R is MTEB's version: all
  9,927 SICK pairs, train + trial + test, as its test split), Banking77Classification and
  AmazonCounterfactualClassification (``en``) from an MTEB data folder. Any other task or benchmark
  name is loaded by mteb itself (from the Hugging Face Hub).
- Results are written by mteb's own :class:`mteb.ResultCache` in the layout of the MTEB results
  repository: ``<output_folder>/results/<org>__<model>/<revision>/<TaskName>.json`` plus
  ``model_meta.json``, ready for a pull request to embeddings-benchmark/results.

Caveat: SentEval's STS12-16 files are lower-cased and tokenized, while MTEB's hub copies are the
original text: for uncased models (BERT-uncased, all-MiniLM-L6-v2) the scores agree closely but
not always to the last digit. STSBenchmark and SICK-R are the original text in both.
"""
from __future__ import annotations

import copy
import csv
import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..defaults import BATCH_SIZE
from ..encoder import default_model_path, embedding_pooler, resolve_model_path, token_limit
from ..formats import read_folder, resolve_config
from ..experiments.provenance import folder_fingerprint
from ..tool import SimCSE, check_max_length
from .datadir import read_sick, read_stsb, read_sts_year

LOCAL_STS = ("STS12", "STS13", "STS14", "STS15", "STS16", "STSBenchmark", "SICK-R")
LOCAL_CLASSIFICATION = ("Banking77Classification", "AmazonCounterfactualClassification")
LOCAL_TASKS = LOCAL_STS + LOCAL_CLASSIFICATION
DEFAULT_TASKS = ("STSBenchmark",)


def resolve_mteb_data_dir(mteb_data_dir: str | os.PathLike | None = None) -> Path:
    """Folder with ``Banking77/`` and ``AmazonCounterfactual/``: the argument, else
    ``$SIMCSE_MTEB_DATA_DIR``, else ``$SIMCSE_DATA_DIR/mteb``, else ``data/mteb``."""
    if mteb_data_dir is not None:
        return Path(mteb_data_dir).expanduser()
    if os.environ.get("SIMCSE_MTEB_DATA_DIR"):
        return Path(os.environ["SIMCSE_MTEB_DATA_DIR"]).expanduser()
    if os.environ.get("SIMCSE_DATA_DIR") and (Path(os.environ["SIMCSE_DATA_DIR"]) / "mteb").is_dir():
        return Path(os.environ["SIMCSE_DATA_DIR"]) / "mteb"
    return Path("data") / "mteb"


# ---------------------------------------------------------------------- the encoder adapter
def _weights_revision(folder: Path) -> str:
    """A revision id for a local folder: the hub snapshot hash if it is one, else a content hash."""
    if folder.parent.name == "snapshots" and len(folder.name) == 40:
        return folder.name
    return "local-" + folder_fingerprint(folder)[:12]


class MTEBEncoder:
    """An MTEB v2 encoder (it satisfies ``mteb.EncoderProtocol``) over a SimCSE model.

    Args:
        model: a model folder / hub name, or a loaded :class:`simcse.SimCSE`.
        name: the model's name in the results (``org/model``); default: the hub name, the
            registry name of the default model, or ``local/<folder name>``.
        revision: the revision recorded in the results (default: hub snapshot hash or a hash of
            the weights).
        batch_size, max_length, pooler, device: as for :class:`simcse.SimCSE` / ``encode``.
        meta: extra :class:`mteb.models.model_meta.ModelMeta` fields (license, training_datasets, release_date, ...).
    """

    def __init__(
        self,
        model: Any = None,
        name: str | None = None,
        revision: str | None = None,
        *,
        batch_size: int = BATCH_SIZE,
        max_length: int | None = None,
        pooler: str | None = None,
        device: str | None = None,
        meta: dict[str, Any] | None = None,
    ):
        if isinstance(model, SimCSE):
            self.model = model
        else:
            self.model = SimCSE(None if model is None else str(model), device=device, pooler=pooler)
        self.encoder = self.model.encoder
        self.batch_size = batch_size
        # never more tokens than the model has positions (the ModelMeta's max_tokens says this number)
        self.max_length = check_max_length(max_length, self.encoder) if max_length is not None else self.model.max_length
        folder = resolve_model_path(self.model.model_name_or_path)
        is_default = folder.resolve() == default_model_path().resolve()
        variant = self._variant(folder)
        if name is None:
            src = self.model.model_name_or_path
            if is_default:
                name = "sentence-transformers/all-MiniLM-L6-v2"
            elif not Path(src).exists() and src.count("/") == 1:
                name = src
            else:
                name = "local/" + Path(src).resolve().name
            if variant:  # not the published model's embeddings: never file them under its name
                name = "local/" + name.split("/", 1)[1] + "-" + variant
        self.mteb_model_meta = self._meta(name, revision, _weights_revision(folder), meta or {}, variant)

    def _variant(self, folder: Path) -> str:
        """``""`` when the model embeds as its folder says; else what differs (``pooler-cls``,
        ``maxlen-64``), so that results of a changed pooler or length get their own name / revision."""

        own = resolve_config(read_folder(folder, self.model.model_name_or_path))
        limit = token_limit(self.encoder)
        own_length = min(own.max_length, limit) if limit is not None else own.max_length
        changes = []
        # compared as embedded: pooler="cls" on a --mlp_only_train folder adds its MLP head (a variant);
        # "cls_before_pooler" there is the folder's own embedding
        if self.encoder.embedding_pooler != embedding_pooler(own, has_mlp=self.encoder.mlp is not None):
            changes.append(f"pooler-{self.encoder.embedding_pooler}")
        if self.max_length != own_length:
            changes.append(f"maxlen-{self.max_length}")
        return "-".join(changes)

    def _meta(self, name: str, revision: str | None, weights_revision: str, extra: dict[str, Any],
              variant: str = "") -> Any:
        import mteb  # the [mteb] extra

        fields: dict[str, Any] = {}
        try:  # models mteb knows (e.g. all-MiniLM-L6-v2): keep their licence, training data, dates
            known = mteb.get_model_meta(name)
            for key in ("license", "training_datasets", "release_date", "reference", "public_training_code",
                        "public_training_data", "languages", "citation", "adapted_from", "revision"):
                fields[key] = getattr(known, key)
        except Exception:  # not in mteb's registry: a new model
            pass
        fields.update(
            loader=None,
            name=name,
            n_parameters=sum(p.numel() for p in self.encoder.parameters()),
            embed_dim=self.encoder.dim,
            max_tokens=self.max_length,
            similarity_fn_name="cosine",
            framework=["PyTorch"],
            open_weights=True,
            use_instructions=False,
            memory_usage_mb=round(sum(p.numel() * p.element_size() for p in self.encoder.parameters()) / 2**20, 1),
        )
        if revision is not None:
            if revision.strip(". ") == "" or "/" in revision or "\\" in revision or ".." in revision:
                # mteb writes results under <output_folder>/results/<model>/<revision>/
                raise ValueError(
                    f"revision {revision!r} cannot name the results folder: give a commit hash or tag "
                    "without '/', '\\' or '..'"
                )
            fields["revision"] = revision
        elif variant:  # another pooler / length than the folder's: not the revision mteb records
            fields["revision"] = f"{weights_revision}-{variant}"
        elif not fields.get("revision"):  # a known model keeps the revision mteb records for it
            fields["revision"] = weights_revision
        fields.setdefault("release_date", None)
        fields.setdefault("languages", ["eng-Latn"])
        fields.setdefault("license", None)
        fields.setdefault("public_training_code", "https://github.com/princeton-nlp/SimCSE")
        fields.setdefault("public_training_data", None)
        fields.setdefault("training_datasets", None)
        fields.update(extra)
        from mteb.models.model_meta import ModelMeta  # the [mteb] extra

        return ModelMeta(**fields)

    def encode(self, inputs: Any, *, task_metadata: Any = None, hf_split: str = "", hf_subset: str = "",
               prompt_type: Any = None, **kwargs: Any) -> np.ndarray:
        """Embed the ``text`` of every batch of ``inputs`` (a DataLoader of batches, or a list of
        sentences); returns float32 [N, dim] in input order. Raises on non-finite embeddings."""
        if isinstance(inputs, (list, tuple)) and (not inputs or isinstance(inputs[0], str)):
            texts = list(inputs)
        else:
            texts = []
            for batch in inputs:
                if "text" not in batch:
                    raise ValueError(f"MTEB batch has no 'text' field (fields: {sorted(batch)}); "
                                     "simcse models embed text only")
                texts.extend(batch["text"])
        if not texts:
            return np.zeros((0, self.encoder.dim), dtype=np.float32)
        uniq = list(dict.fromkeys(texts))
        vecs = self.encoder.encode(uniq, batch_size=self.batch_size, max_length=self.max_length,
                                   device=self.model.device).cpu().numpy()
        bad = ~np.isfinite(vecs).all(axis=1)
        if bad.any():
            task = getattr(task_metadata, "name", "?")
            raise FloatingPointError(
                f"{task}: the model returned non-finite (NaN or inf) embeddings for {int(bad.sum())} of "
                f"{len(uniq)} texts, e.g. {uniq[int(np.argmax(bad))][:100]!r}"
            )
        pos = {t: i for i, t in enumerate(uniq)}
        return vecs[[pos[t] for t in texts]]

    def similarity(self, embeddings1: Any, embeddings2: Any) -> Any:
        """Cosine similarity matrix (the model's similarity function)."""
        from mteb.similarity_functions import cos_sim  # the [mteb] extra

        return cos_sim(embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1: Any, embeddings2: Any) -> Any:
        """Cosine similarity of corresponding rows."""
        from mteb.similarity_functions import pairwise_cos_sim  # the [mteb] extra

        return pairwise_cos_sim(embeddings1, embeddings2)


# ---------------------------------------------------------------------- offline tasks
def _sts_dataset(s1: list[str], s2: list[str], scores: list[float], split: str = "test") -> Any:
    from datasets import Dataset, DatasetDict  # the [mteb] extra

    return DatasetDict({split: Dataset.from_dict({"sentence1": s1, "sentence2": s2, "score": scores})})


def _read_csv_rows(path: Path, task: str, layout: str, delimiter: str, columns: Sequence[str]) -> list[dict[str, str]]:
    """The rows of an MTEB data file; ``ValueError`` naming the file if a needed column is missing."""
    if not path.is_file():  # MTEB data, not SentEval's: name the settings that point to it
        raise FileNotFoundError(
            f"{task}: data file {str(path)!r} is missing. Expected under the MTEB data directory: {layout}. "
            "Set --mteb_data_dir or SIMCSE_MTEB_DATA_DIR (or SIMCSE_DATA_DIR to a folder that holds mteb/)."
        )
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh, delimiter=delimiter)
        found = reader.fieldnames or []
        missing = [c for c in columns if c not in found]
        if missing:
            raise ValueError(
                f"{task}: data file {str(path)!r} lacks column(s) {', '.join(map(repr, missing))}; "
                f"its header row has {', '.join(map(repr, found)) if found else 'no columns (empty file)'}. "
                f"Expected: {layout}"
            )
        rows = []
        for row in reader:
            short = [c for c in columns if row.get(c) is None]
            if short:
                raise ValueError(f"{task}: {str(path)!r} line {reader.line_num}: no value for column(s) "
                                 f"{', '.join(map(repr, short))} (too few fields)")
            rows.append(row)
    return rows


def load_task(name: str, data_dir: str | os.PathLike | None = None, mteb_data_dir: str | os.PathLike | None = None,
              task: Any = None) -> Any:
    """An MTEB task object; for :data:`LOCAL_TASKS` its data is read from local files (no hub).

    ``task``: an mteb task object for ``name`` to use instead of ``mteb.get_task(name)``, e.g. one of a
    benchmark's ``tasks``, whose eval_splits / hf_subsets filtering is then kept (local data fill a copy
    of it; a local task whose subsets our files do not hold is left to mteb, i.e. to the hub).
    """
    import mteb  # the [mteb] extra
    from datasets import Dataset, DatasetDict  # the [mteb] extra

    if name not in LOCAL_TASKS:
        if task is not None:
            return task
        try:
            return mteb.get_task(name)
        except KeyError as exc:
            raise ValueError(f"unknown MTEB task {name!r}: {exc}. Offline tasks: {', '.join(LOCAL_TASKS)}") from None
    local_subsets = {"en"} if name == "AmazonCounterfactualClassification" else {"default"}
    if task is not None:
        if not set(task.hf_subsets) <= local_subsets:
            return task
        task = copy.deepcopy(task)  # mteb's benchmark objects are shared: fill a copy
    elif name == "AmazonCounterfactualClassification":
        task = mteb.get_task(name, hf_subsets=["en"])
    else:
        task = mteb.get_task(name)
    if name.startswith("STS1"):
        subsets = read_sts_year(name, data_dir)
        s1 = [s for a, _, _ in subsets.values() for s in a]
        s2 = [s for _, b, _ in subsets.values() for s in b]
        gold = [g for _, _, gs in subsets.values() for g in gs]
        data = _sts_dataset(s1, s2, gold)
    elif name == "STSBenchmark":
        data = _sts_dataset(*read_stsb(data_dir, "test"))
    elif name == "SICK-R":
        s1, s2, gold = [], [], []
        for split in ("train", "dev", "test"):
            a, b, g, _ = read_sick(data_dir, split)
            s1 += a
            s2 += b
            gold += g
        data = _sts_dataset(s1, s2, gold)
    elif name == "Banking77Classification":
        root = resolve_mteb_data_dir(mteb_data_dir) / "Banking77"
        layout = "Banking77/train.csv and Banking77/test.csv (columns text, category)"
        splits = {s: _read_csv_rows(root / f"{s}.csv", name, layout, ",", ("text", "category"))
                  for s in ("train", "test")}
        cats = sorted({r["category"] for rows in splits.values() for r in rows})
        cat_file = root / "categories.json"
        if cat_file.is_file():
            cats = json.loads(cat_file.read_text())
        label = {c: i for i, c in enumerate(cats)}
        unknown = sorted({r["category"] for rows in splits.values() for r in rows} - set(label))
        if unknown:
            raise ValueError(f"{name}: categories {', '.join(map(repr, unknown[:5]))} of {str(root)!r}'s CSV files "
                             f"are not in {str(cat_file)!r} ({len(cats)} categories)")
        data = DatasetDict({s: Dataset.from_dict({"text": [r["text"] for r in rows],
                                                  "label": [label[r["category"]] for r in rows]})
                            for s, rows in splits.items()})
    else:  # AmazonCounterfactualClassification, English subset
        root = resolve_mteb_data_dir(mteb_data_dir) / "AmazonCounterfactual"
        layout = "AmazonCounterfactual/EN_{train,valid,test}.tsv (columns sentence, is_counterfactual)"
        parts = {}
        for split, fname in (("train", "EN_train.tsv"), ("validation", "EN_valid.tsv"), ("test", "EN_test.tsv")):
            rows = _read_csv_rows(root / fname, name, layout, "\t", ("sentence", "is_counterfactual"))
            bad = [r for r in rows if r["is_counterfactual"].strip() not in ("0", "1")]
            if bad:
                raise ValueError(f"{name}: {str(root / fname)!r}: is_counterfactual must be 0 or 1; got "
                                 f"{bad[0]['is_counterfactual']!r} for {bad[0]['sentence'][:80]!r} "
                                 f"({len(bad)} such row(s))")
            parts[split] = Dataset.from_dict({"text": [r["sentence"] for r in rows],
                                              "label": [int(r["is_counterfactual"]) for r in rows]})
        task.dataset = {"en": DatasetDict(parts)}
        task.data_loaded = True
        return task
    task.dataset = {"default": data}
    task.data_loaded = True
    return task


def load_tasks(names: Sequence[str], data_dir: str | os.PathLike | None = None,
               mteb_data_dir: str | os.PathLike | None = None, benchmark: str | None = None) -> list[Any]:
    """Task objects for task names and/or one MTEB benchmark (local data where we have it). A
    benchmark's tasks are its own task objects, with the eval splits and subsets it selects."""
    import mteb  # the [mteb] extra

    names = list(names)
    bench_tasks: dict[str, Any] = {}
    if benchmark:
        try:
            bench = mteb.get_benchmark(benchmark)
        except Exception as exc:
            raise ValueError(f"unknown MTEB benchmark {benchmark!r}: {exc}") from None
        # the benchmark's own task objects: they carry its eval_splits / hf_subsets filtering
        bench_tasks = {t.metadata.name: t for t in bench.tasks}
        names += [n for n in bench_tasks if n not in names]
    if not names:
        raise ValueError("no MTEB tasks given")
    return [load_task(n, data_dir, mteb_data_dir, task=bench_tasks.get(n)) for n in names]


def run(
    model: Any,
    tasks: Sequence[str] = DEFAULT_TASKS,
    output_folder: str | os.PathLike = "mteb_results",
    *,
    benchmark: str | None = None,
    data_dir: str | os.PathLike | None = None,
    mteb_data_dir: str | os.PathLike | None = None,
    batch_size: int = BATCH_SIZE,
    max_length: int | None = None,
    name: str | None = None,
    revision: str | None = None,
    pooler: str | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Evaluate a model on MTEB tasks and write the results folder; returns the summary
    ``{"model", "revision", "results_dir", "scores": {task: {split: main score}}}``."""
    import mteb  # the [mteb] extra

    summary_file = _summary_file(Path(output_folder))  # before the model loads and the tasks run
    enc = model if isinstance(model, MTEBEncoder) else MTEBEncoder(
        model, name=name, revision=revision, batch_size=batch_size, max_length=max_length, pooler=pooler,
        device=device)
    task_objs = load_tasks(tasks, data_dir, mteb_data_dir, benchmark)
    cache = mteb.ResultCache(cache_path=Path(output_folder))
    try:
        result = mteb.evaluate(enc, task_objs, cache=cache, overwrite_strategy="always",
                               encode_kwargs={"batch_size": batch_size}, show_progress_bar=False)
    except OSError as exc:  # a hub-only task without a connection
        raise OSError(f"{exc}. Without the Hugging Face Hub only these tasks run (from local files): "
                      f"{', '.join(LOCAL_TASKS)}") from exc
    if result.exceptions:
        raise RuntimeError("; ".join(f"{e.task_name}: {e.exception}" for e in result.exceptions))
    meta = enc.mteb_model_meta
    scores: dict[str, dict[str, float]] = {}
    for tr in result.task_results:
        scores[tr.task_name] = {split: float(np.mean([s["main_score"] for s in subs]))
                                for split, subs in tr.scores.items()}
    results_dir = cache.get_task_result_path(task_objs[0].metadata.name, meta).parent
    summary = {"model": meta.name, "revision": meta.revision, "results_dir": str(results_dir), "scores": scores}
    summary_file.write_text(json.dumps(summary, indent=2) + "\n")
    return summary


SUMMARY_KEYS = {"model", "revision", "results_dir", "scores"}


def _summary_file(output_folder: Path) -> Path:
    """``output_folder/summary.json``; ``ValueError`` if ``output_folder`` is not a folder or that file
    exists and is not a summary this command wrote (a file of the user's is never replaced)."""
    if output_folder.exists() and not output_folder.is_dir():
        raise ValueError(f"--output_folder {str(output_folder)!r} is a file; give a folder (results go under "
                         "its results/ subfolder)")
    path = output_folder / "summary.json"
    if path.exists():
        try:
            ours = path.is_file() and SUMMARY_KEYS <= set(json.loads(path.read_text()))
        except (ValueError, TypeError, OSError):
            ours = False
        if not ours:
            raise ValueError(f"{str(path)!r} exists and is not a summary written by simcse mteb; it would be "
                             "replaced: choose another --output_folder, or move that file")
    return path


def summary_table(summary: dict[str, Any]) -> str:
    """A plain table: task, split, main score x 100."""
    rows = [(t, s, f"{100 * v:.2f}") for t, splits in summary["scores"].items() for s, v in splits.items()]
    w = max([len("task")] + [len(r[0]) for r in rows])
    lines = [f"{summary['model']} @ {summary['revision']}", f"{'task':<{w}}  split       main score"]
    lines += [f"{t:<{w}}  {s:<10}  {v:>10}" for t, s, v in rows]
    return "\n".join(lines)
