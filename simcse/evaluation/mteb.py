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
- Prompts: the model folder's ``config_sentence_transformers.json`` prompts, or a prompts file
  (:func:`load_prompts`), resolved per task with mteb's own priority order (task name + prompt type,
  task name, task type + prompt type, task type, prompt type), as mteb's sentence-transformers wrapper does.
- Results are written by mteb's own :class:`mteb.ResultCache` in the layout of the MTEB results
  repository: ``<output_folder>/results/<org>__<model>/<revision>/<TaskName>.json``, ``model_meta.json``
  and ``run_settings.jsonl``; ``<output_folder>/simcse_provenance.json`` records the model folder's
  fingerprint and, for tasks read from local copies, the files and their sha256 (their result JSONs
  carry ``local-<sha256>`` as dataset revision, never the hub's, which we did not verify).
  :mod:`simcse.evaluation.mteb_submit` turns such a folder into a leaderboard submission.

Why one module: the adapter, the prompt resolution, the offline task loading and the run share one
contract with mteb (its task objects, ``ModelMeta`` and result layout) and are changed together when
mteb changes; the submission step, which only reads a finished results folder, is
:mod:`simcse.evaluation.mteb_submit`.

Caveat: SentEval's STS12-16 files are lower-cased and tokenized, while MTEB's hub copies are the
original text: for uncased models (BERT-uncased, all-MiniLM-L6-v2) the scores agree closely but
not always to the last digit. STSBenchmark and SICK-R are the original text in both.
"""
from __future__ import annotations

import copy
import csv
import difflib
import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Sequence, get_args

import numpy as np
import torch

from ..atomic import sha256_file
from ..defaults import BATCH_SIZE
from ..encoder import default_model_path, embedding_pooler, resolve_model_path, token_limit
from ..formats import read_folder, resolve_config
from ..formats.sentence_transformers import ST_SETTINGS_KEY, UNLOADABLE_MODULE
from ..experiments.provenance import folder_fingerprint
from ..tool import SimCSE, check_max_length
from .datadir import read_sick, read_stsb, read_sts_year, resolve_data_dir

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


# ---------------------------------------------------------------------- prompts and names
def suggest(name: str, known: Sequence[str], n: int = 3) -> str:
    """``" (did you mean 'A', 'B'?)"`` for the known names nearest ``name``; ``""`` when none is near."""
    near = difflib.get_close_matches(name, list(known), n=n, cutoff=0.6)
    if not near:
        lowered = {k.lower(): k for k in known}
        near = [lowered[k] for k in difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.6)]
    return f" (did you mean {', '.join(map(repr, near))}?)" if near else ""


@functools.lru_cache(maxsize=1)
def prompt_keys() -> tuple[list[str], list[str], list[str]]:
    """The names a prompts file may use: MTEB task names, task types and prompt types."""
    import mteb  # the [mteb] extra
    from mteb.abstasks.task_metadata import TaskType
    from mteb.types import PromptType

    return ([t.metadata.name for t in mteb.get_tasks(exclude_superseded=False)], list(get_args(TaskType)),
            [p.value for p in PromptType])


def check_prompts(prompts: Any, source: str) -> dict[str, str]:
    """``prompts`` (key -> prompt text) checked the way mteb checks model prompts: every key is a task
    name, a task type, a prompt type (``query`` / ``document``) or ``<task name or type>-<prompt type>``.
    ``ValueError`` naming ``source``, the bad key, what is allowed and the nearest names."""
    if not isinstance(prompts, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in prompts.items()):
        raise ValueError(f"{source}: prompts must be a JSON object mapping names to prompt texts, e.g. "
                         '{"query": "query: ", "document": "passage: ", "STS12": "Find a similar sentence: "}')
    names, types, prompt_types = prompt_keys()
    names, types, prompt_types = list(names), list(types), list(prompt_types)
    valid = set(names) | set(types)
    for key in prompts:
        base, _, ptype = key.rpartition("-")
        if key in valid or key in prompt_types or (ptype in prompt_types and base in valid):
            continue
        if ptype in prompt_types:  # "<something>-query": the task part is wrong
            key_msg = f"{base!r} in {key!r} is not an MTEB task name or task type{suggest(base, sorted(valid))}"
        else:
            key_msg = f"{key!r} is not an MTEB task name, task type or prompt type{suggest(key, sorted(valid) + prompt_types)}"
        raise ValueError(f"{source}: prompt key {key_msg}. Keys are task names, task types "
                         f"({', '.join(types)}), prompt types ({', '.join(prompt_types)}), or "
                         "'<task name or type>-<prompt type>'")
    return dict(prompts)


def load_prompts(path: str | os.PathLike) -> dict[str, str]:
    """A prompts file: a JSON object of prompt key -> prompt text (see :func:`check_prompts`)."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"--prompts file {str(path)!r} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"--prompts file {str(path)!r} is not valid JSON: {exc}") from None
    return check_prompts(raw, f"--prompts file {str(path)!r}")


def read_prompts_file(path: str | os.PathLike) -> dict[str, str]:
    """A prompts file for a model folder (``train --prompts``): checked by :func:`load_prompts` when mteb
    is installed, else only as a JSON object of texts."""
    try:
        import mteb  # noqa: F401  (the [mteb] extra: it knows the task names the keys may use)
    except ImportError:
        path = Path(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"--prompts file {str(path)!r} cannot be read as JSON: {exc}") from None
        if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
            raise ValueError(f"--prompts file {str(path)!r} must hold a JSON object mapping names to prompt texts")
        return raw
    return load_prompts(path)


def resolve_prompt(prompts: dict[str, str] | None, task_metadata: Any, prompt_type: Any) -> str | None:
    """The prompt for a task and prompt type by mteb's own priority order (mteb's ``get_prompt_name``);
    None when no key applies (the folder's default prompt is then used, as sentence-transformers does)."""
    if not prompts or task_metadata is None:
        return prompts.get(getattr(prompt_type, "value", None)) if prompts and prompt_type else None
    from mteb.models.abs_encoder import get_prompt_name  # the [mteb] extra

    name = get_prompt_name(prompts, task_metadata, prompt_type)
    return None if name is None else prompts[name]


SIMILARITY_FUNCTIONS = ("cosine", "dot", "euclidean", "manhattan")


def check_model_name(name: str, flag: str = "--name") -> str:
    """``org/model``: what mteb's ModelMeta and the results repository require."""
    if not isinstance(name, str) or name.count("/") != 1 or not all(part.strip() for part in name.split("/")):
        raise ValueError(f"{flag} {name!r} must be 'organization/model_name' (e.g. my-org/my-simcse-bert), the "
                         "name the model has (or will have) on the Hugging Face Hub")
    return name


# ---------------------------------------------------------------------- the encoder adapter
def _weights_revision(folder: Path) -> str:
    """A revision id for a local folder: the hub snapshot hash if it is one, else a content hash."""
    if is_hub_snapshot(folder):
        return folder.name
    return "local-" + folder_fingerprint(folder)[:12]


def is_hub_snapshot(folder: Path) -> bool:
    """Whether ``folder`` is a Hugging Face cache snapshot (``.../snapshots/<40-hex commit>``)."""
    return folder.parent.name == "snapshots" and len(folder.name) == 40 and all(
        c in "0123456789abcdef" for c in folder.name)


def sentence_transformers_loadable(folder: Path) -> bool:
    """Whether ``SentenceTransformer(folder)`` loads the model as simcse embeds it (mteb's loader for it)."""
    modules = folder / "modules.json"
    return modules.is_file() and UNLOADABLE_MODULE not in modules.read_text(encoding="utf-8")


TRAINING_DATASETS = {"nli_for_simcse": {"SNLI", "MNLI"}, "snli": {"SNLI"}, "mnli": {"MNLI"},
                     "multi_nli": {"MNLI"}, "multinli": {"MNLI"}, "wiki1m_for_simcse": set()}
"""Training files / datasets of SimCSE and the MTEB dataset names they are (``set()``: none of MTEB's)."""


def training_datasets_of(record: dict[str, Any]) -> set[str] | None:
    """The MTEB names of what a model was trained on (:data:`TRAINING_DATASETS`), from its training
    record; None when the training data is unknown."""
    source = record.get("train_file") or record.get("dataset_name")
    if not source:
        return None
    stem = Path(str(source)).name.lower()
    for key, names in TRAINING_DATASETS.items():
        if stem.startswith(key):
            return set(names)
    return None


class MTEBEncoder:
    """An MTEB v2 encoder (it satisfies ``mteb.EncoderProtocol``) over a SimCSE model.

    Args:
        model: a model folder / hub name, or a loaded :class:`simcse.SimCSE`.
        name: the model's name in the results (``org/model``); default: the hub name, the
            registry name of the default model, or ``local/<folder name>``.
        revision: the revision recorded in the results (default: hub snapshot hash or a hash of
            the weights).
        batch_size, max_length, pooler, device: as for :class:`simcse.SimCSE` / ``encode``.
        prompts: prompt key -> text (:func:`check_prompts`), used instead of the folder's prompts.
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
        prompts: dict[str, str] | None = None,
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
        self.folder = resolve_model_path(self.model.model_name_or_path)
        settings = self.encoder.config.extra.get(ST_SETTINGS_KEY, {})
        self.user_prompts = check_prompts(prompts, "prompts") if prompts is not None else None
        if self.user_prompts is not None:
            self.prompts = dict(self.user_prompts)
        else:  # the folder's prompts, less keys mteb ignores (as its sentence-transformers wrapper does)
            from mteb.models.abs_encoder import AbsEncoder  # the [mteb] extra

            own = settings.get("prompts") or {}
            self.prompts = AbsEncoder.validate_task_to_prompt_name(own, raise_for_invalid_keys=False)[0] or {}
        self.similarity_fn_name = settings.get("similarity_fn_name") or "cosine"
        if self.similarity_fn_name not in SIMILARITY_FUNCTIONS:
            raise ValueError(f"{self.folder}: similarity_fn_name {self.similarity_fn_name!r} is not one of "
                             f"{', '.join(SIMILARITY_FUNCTIONS)}")
        is_default = self.folder.resolve() == default_model_path().resolve()
        variant = self._variant(self.folder)
        if self.user_prompts is not None:
            variant = "-".join(filter(None, [variant, "prompts-" + hashlib.sha256(
                json.dumps(self.user_prompts, sort_keys=True).encode()).hexdigest()[:8]]))
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
        else:
            check_model_name(name)
        self.variant = variant
        if revision is not None and is_hub_snapshot(self.folder) and revision != self.folder.name and not variant:
            raise ValueError(f"--revision {revision!r} does not match the model folder: it is the hub snapshot "
                             f"{self.folder.name} ({self.folder})")
        self.mteb_model_meta = self._meta(name, revision, _weights_revision(self.folder), meta or {}, variant)

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
        from mteb.models.model_meta import ModelMeta, ScoringFunction  # the [mteb] extra

        fields: dict[str, Any] = {}
        try:  # models mteb knows (e.g. all-MiniLM-L6-v2): keep their licence, training data, dates
            known = mteb.get_model_meta(name)
            for key in ("license", "training_datasets", "release_date", "reference", "public_training_code",
                        "public_training_data", "languages", "citation", "adapted_from", "revision"):
                fields[key] = getattr(known, key)
        except Exception:  # not in mteb's registry: a new model
            pass
        record = self.encoder.config.extra.get("training", {})
        base = record.get("base_model")
        if base and not Path(str(base)).exists() and str(base).count("/") == 1:
            fields.setdefault("adapted_from", base)
        if "training_datasets" not in fields:
            fields["training_datasets"] = training_datasets_of(record)
        dim = self.encoder.dim
        dims = sorted({dim, *self.encoder.config.extra.get("matryoshka_dims", [])}, reverse=True)
        params = list(self.encoder.parameters())
        st_folder = sentence_transformers_loadable(self.folder)
        if st_folder:
            from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper

            loader: Any = SentenceTransformerEncoderWrapper
            loader_kwargs = {"model_prompts": dict(self.user_prompts)} if self.user_prompts is not None else {}
        else:  # a folder only simcse loads (a decoder template with text after the sentence)
            loader, loader_kwargs = None, {}
        fields.update(
            loader=loader,
            loader_kwargs=loader_kwargs,
            name=name,
            n_parameters=sum(p.numel() for p in params),
            n_embedding_parameters=self.encoder.backbone.get_input_embeddings().weight.numel(),
            embed_dim=dims if len(dims) > 1 else dim,
            max_tokens=self.max_length,
            similarity_fn_name=ScoringFunction(self.similarity_fn_name),
            framework=["Sentence Transformers", "PyTorch"] if st_folder else ["PyTorch"],
            open_weights=True,
            use_instructions=bool(self.prompts),
            memory_usage_mb=round(sum(p.numel() * p.element_size() for p in params) / 2**20, 1),
        )
        if revision is not None:
            if revision.strip(". ") == "" or "/" in revision or "\\" in revision or ".." in revision:
                # mteb writes results under <output_folder>/results/<model>/<revision>/
                raise ValueError(
                    f"revision {revision!r} cannot name the results folder: give a commit hash or tag "
                    "without '/', '\\' or '..'"
                )
            fields["revision"] = revision
        elif variant:  # another pooler / length / prompts than the folder's: not the revision mteb records
            fields["revision"] = f"{weights_revision}-{variant}"
        elif not fields.get("revision"):  # a known model keeps the revision mteb records for it
            fields["revision"] = weights_revision
        fields.setdefault("release_date", None)
        fields.setdefault("languages", ["eng-Latn"])
        fields.setdefault("license", None)
        fields.setdefault("public_training_code", None)
        fields.setdefault("public_training_data", None)
        fields.update({k: v for k, v in extra.items() if v is not None})
        try:
            return ModelMeta(**fields)
        except Exception as exc:  # pydantic's ValidationError: name the field and the flag
            raise ValueError(f"model metadata is not valid for mteb: {exc}") from None

    def encode(self, inputs: Any, *, task_metadata: Any = None, hf_split: str = "", hf_subset: str = "",
               prompt_type: Any = None, **kwargs: Any) -> np.ndarray:
        """Embed the ``text`` of every batch of ``inputs`` (a DataLoader of batches, or a list of
        sentences), with the prompt mteb's priority order picks for the task and ``prompt_type``
        (:func:`resolve_prompt`); returns float32 [N, dim] in input order. Raises on non-finite embeddings."""
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
        prompt = resolve_prompt(self.prompts, task_metadata, prompt_type)
        uniq = list(dict.fromkeys(texts))
        vecs = self.encoder.encode(uniq, batch_size=self.batch_size, max_length=self.max_length,
                                   device=self.model.device, prompt=prompt).cpu().numpy()
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
        """Similarity matrix by the model's similarity function (its folder's ``similarity_fn_name``)."""
        from mteb import similarity_functions as sf  # the [mteb] extra

        if self.similarity_fn_name == "manhattan":
            return -torch.cdist(torch.as_tensor(embeddings1).float(), torch.as_tensor(embeddings2).float(), p=1)
        return {"cosine": sf.cos_sim, "dot": sf.dot_score, "euclidean": sf.euclidean_sim}[self.similarity_fn_name](
            embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1: Any, embeddings2: Any) -> Any:
        """Similarity of corresponding rows by the model's similarity function."""
        from mteb import similarity_functions as sf  # the [mteb] extra

        if self.similarity_fn_name == "manhattan":
            return -(torch.as_tensor(embeddings1).float() - torch.as_tensor(embeddings2).float()).abs().sum(-1)
        return {"cosine": sf.pairwise_cos_sim, "dot": sf.pairwise_dot_score,
                "euclidean": sf.pairwise_euclidean_sim}[self.similarity_fn_name](embeddings1, embeddings2)


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
        except KeyError:
            known = [t.metadata.name for t in mteb.get_tasks(exclude_superseded=False)]
            raise ValueError(f"unknown MTEB task {name!r}{suggest(name, known)}. Offline tasks: "
                             f"{', '.join(LOCAL_TASKS)}") from None
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


def local_task_files(name: str, data_dir: str | os.PathLike | None = None,
                     mteb_data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The local files :func:`load_task` reads for a task of :data:`LOCAL_TASKS`."""
    root = resolve_data_dir(data_dir)
    if name.startswith("STS1"):
        return sorted((root / "STS" / f"{name}-en-test").glob("STS.*.txt"))
    if name == "STSBenchmark":
        return [root / "STS" / "STSBenchmark" / "sts-test.csv"]
    if name == "SICK-R":
        return [root / "SICK" / f for f in ("SICK_train.txt", "SICK_trial.txt", "SICK_test_annotated.txt")]
    mroot = resolve_mteb_data_dir(mteb_data_dir)
    if name == "Banking77Classification":
        return [p for p in (mroot / "Banking77" / f for f in ("train.csv", "test.csv", "categories.json")) if p.is_file()]
    return [mroot / "AmazonCounterfactual" / f for f in ("EN_train.tsv", "EN_valid.tsv", "EN_test.tsv")]


def local_provenance(task: Any, data_dir: str | os.PathLike | None, mteb_data_dir: str | os.PathLike | None) -> dict:
    """Where a task filled from local files got its data: the files with their sha256, the hub
    dataset and revision mteb names for the task (which these files are NOT checked against), and
    ``data_revision``, the ``local-<sha256>`` recorded in the result JSON instead of the hub's."""
    files = [{"path": str(p.resolve()), "sha256": sha256_file(p)} for p in
             local_task_files(task.metadata.name, data_dir, mteb_data_dir)]
    digest = hashlib.sha256("".join(f["sha256"] for f in files).encode()).hexdigest()
    return {"from_local_copy": True, "files": files, "hub_dataset": task.metadata.dataset.get("path"),
            "hub_revision": task.metadata.dataset.get("revision"), "data_revision": f"local-{digest[:16]}",
            "verified_against_hub": False}


def check_benchmark(name: str) -> Any:
    """mteb's benchmark object; ``ValueError`` with the nearest benchmark names."""
    import mteb  # the [mteb] extra

    try:
        return mteb.get_benchmark(name)
    except Exception:
        known = [b.name for b in mteb.get_benchmarks()]
        raise ValueError(f"unknown MTEB benchmark {name!r}{suggest(name, known)}; `mteb.get_benchmarks()` lists "
                         f"the {len(known)} names") from None


def load_tasks(names: Sequence[str], data_dir: str | os.PathLike | None = None,
               mteb_data_dir: str | os.PathLike | None = None, benchmark: str | None = None) -> list[Any]:
    """Task objects for task names and/or one MTEB benchmark (local data where we have it). A
    benchmark's tasks are its own task objects, with the eval splits and subsets it selects."""
    import mteb  # the [mteb] extra

    names = list(names)
    bench_tasks: dict[str, Any] = {}
    if benchmark:
        # the benchmark's own task objects: they carry its eval_splits / hf_subsets filtering
        bench_tasks = {t.metadata.name: t for t in check_benchmark(benchmark).tasks}
        names += [n for n in bench_tasks if n not in names]
    if not names:
        raise ValueError("no MTEB tasks given")
    known = None
    for n in names:
        if n not in LOCAL_TASKS and n not in bench_tasks:
            known = known or [t.metadata.name for t in mteb.get_tasks(exclude_superseded=False)]
            if n not in known:
                raise ValueError(f"unknown MTEB task {n!r}{suggest(n, known)}. Offline tasks: {', '.join(LOCAL_TASKS)}")
    return [load_task(n, data_dir, mteb_data_dir, task=bench_tasks.get(n)) for n in names]


PROVENANCE_FILE = "simcse_provenance.json"
"""Our side file in the output folder: the model (name, revision, folder, fingerprint) and, per task,
where its data came from. It lies beside ``results/``, not in it, so the results repository's checks
(every ``*.json`` in a revision folder is a task result) never see it."""


def read_provenance(output_folder: str | os.PathLike) -> dict[str, Any]:
    """``output_folder``'s :data:`PROVENANCE_FILE` (``{}`` when there is none)."""
    path = Path(output_folder) / PROVENANCE_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise ValueError(f"{str(path)!r} is not a provenance file written by simcse mteb: {exc}") from None
    if not isinstance(data, dict) or "model" not in data:
        raise ValueError(f"{str(path)!r} is not a provenance file written by simcse mteb")
    return data


def _check_output_folder(output_folder: Path, meta: Any, fingerprint: str) -> dict[str, Any]:
    """The provenance already in ``output_folder`` for this model; ``ValueError`` when the folder holds
    another model's results (another name, revision, or the same revision from other weights)."""
    old = read_provenance(output_folder)
    if old:
        m = old["model"]
        if (m.get("name"), m.get("revision")) != (meta.name, meta.revision) or m.get("fingerprint") != fingerprint:
            same_rev = m.get("revision") == meta.revision and m.get("name") == meta.name
            why = (f"revision {meta.revision!r} there was computed from other weights (fingerprint "
                   f"{m.get('fingerprint', '?')[:12]}, this folder's is {fingerprint[:12]}): give the revision of "
                   "these weights" if same_rev else f"it holds results of {m.get('name')} @ {m.get('revision')}")
            raise ValueError(f"--output_folder {str(output_folder)!r}: {why}. Use another --output_folder for "
                             f"{meta.name} @ {meta.revision}")
        return old
    results = output_folder / "results"
    others = sorted(p.name for p in results.iterdir() if p.is_dir()) if results.is_dir() else []
    if [o for o in others if o != meta.model_name_as_path()]:
        raise ValueError(f"--output_folder {str(output_folder)!r} holds results of other models ({', '.join(others)}) "
                         f"that simcse mteb did not record; use another --output_folder for {meta.name}")
    return {}


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
    prompts: dict[str, str] | None = None,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate a model on MTEB tasks and write the results folder; returns the summary
    ``{"model", "revision", "results_dir", "scores": {task: {split: main score}}, "types": {task: type},
    "skipped": {task: reason}}``. With a benchmark, tasks whose data cannot be reached (no hub) are skipped
    and listed; named tasks must all run."""
    import mteb  # the [mteb] extra

    output_folder = Path(output_folder)
    summary_file = _summary_file(output_folder)  # before the model loads and the tasks run
    task_objs = load_tasks(tasks, data_dir, mteb_data_dir, benchmark)
    enc = model if isinstance(model, MTEBEncoder) else MTEBEncoder(
        model, name=name, revision=revision, batch_size=batch_size, max_length=max_length, pooler=pooler,
        device=device, prompts=prompts, meta=meta)
    meta_obj = enc.mteb_model_meta
    fingerprint = folder_fingerprint(enc.folder)
    provenance = _check_output_folder(output_folder, meta_obj, fingerprint)
    skipped: dict[str, str] = {}
    if benchmark:  # run where the data is reachable
        named = set(tasks)
        runnable = []
        for t in task_objs:
            if t.data_loaded or t.metadata.name in named:
                runnable.append(t)
                continue
            try:
                t.load_data()
                runnable.append(t)
            except Exception as exc:  # no hub here: the benchmark runs on what is reachable
                skipped[t.metadata.name] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
        task_objs = runnable
        if not task_objs:
            raise OSError(f"no task of {benchmark!r} could be loaded (no hub?); offline tasks: {', '.join(LOCAL_TASKS)}")
    task_sources = {t.metadata.name: local_provenance(t, data_dir, mteb_data_dir) if t.metadata.name in LOCAL_TASKS
                    and t.data_loaded else {"from_local_copy": False, "hub_dataset": t.metadata.dataset.get("path"),
                                            "hub_revision": t.metadata.dataset.get("revision")} for t in task_objs}
    cache = mteb.ResultCache(cache_path=output_folder)
    try:
        result = mteb.evaluate(enc, task_objs, cache=cache, overwrite_strategy="always",
                               encode_kwargs={"batch_size": batch_size}, show_progress_bar=False)
    except OSError as exc:  # a hub-only task without a connection
        raise OSError(f"{exc}. Without the Hugging Face Hub only these tasks run (from local files): "
                      f"{', '.join(LOCAL_TASKS)}") from exc
    if result.exceptions:
        raise RuntimeError("; ".join(f"{e.task_name}: {e.exception}" for e in result.exceptions))
    scores: dict[str, dict[str, float]] = {}
    types: dict[str, str] = {}
    for tr in result.task_results:
        scores[tr.task_name] = {split: float(np.mean([s["main_score"] for s in subs]))
                                for split, subs in tr.scores.items()}
    for t in task_objs:
        types[t.metadata.name] = t.metadata.type
        src = task_sources[t.metadata.name]
        if src["from_local_copy"]:  # never claim the hub revision for data we did not check against it
            path = cache.get_task_result_path(t.metadata.name, meta_obj)
            data = json.loads(path.read_text(encoding="utf-8"))
            data["dataset_revision"] = src["data_revision"]
            path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    results_dir = cache.get_task_result_path(task_objs[0].metadata.name, meta_obj).parent
    provenance = {"model": {"name": meta_obj.name, "revision": meta_obj.revision, "folder": str(enc.folder.resolve()),
                            "fingerprint": fingerprint, "variant": enc.variant},
                  "tasks": {**provenance.get("tasks", {}), **task_sources}}
    (output_folder / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
    summary = {"model": meta_obj.name, "revision": meta_obj.revision, "results_dir": str(results_dir),
               "scores": scores, "types": types, "skipped": skipped}
    if benchmark:
        summary["benchmark"] = benchmark
    summary["by_type"] = type_means(summary)
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


def _task_score(splits: dict[str, float]) -> float:
    """One score per task as the leaderboard shows it: its test split, else the mean of its splits."""
    return splits["test"] if "test" in splits else float(np.mean(list(splits.values())))


def type_means(summary: dict[str, Any]) -> dict[str, Any]:
    """Per task type the mean over its tasks, and the leaderboard's two means: over all tasks and
    over the task types (each type's mean counts once)."""
    types = summary.get("types", {})
    per_type: dict[str, list[float]] = {}
    for task, splits in summary["scores"].items():
        per_type.setdefault(types.get(task, "?"), []).append(_task_score(splits))
    means = {t: float(np.mean(v)) for t, v in sorted(per_type.items())}
    every = [s for v in per_type.values() for s in v]
    return {"types": means, "tasks_per_type": {t: len(v) for t, v in sorted(per_type.items())},
            "mean_task": float(np.mean(every)) if every else float("nan"),
            "mean_type": float(np.mean(list(means.values()))) if means else float("nan")}


def summary_table(summary: dict[str, Any]) -> str:
    """Plain tables: task, type, split, main score x 100; then per task type the mean over its tasks,
    the mean over all tasks and the mean over task types (the leaderboard's columns)."""
    types = summary.get("types", {})
    rows = [(t, types.get(t, ""), s, f"{100 * v:.2f}") for t, splits in summary["scores"].items()
            for s, v in splits.items()]
    w = max([len("task")] + [len(r[0]) for r in rows])
    tw = max([len("type")] + [len(r[1]) for r in rows])
    lines = [f"{summary['model']} @ {summary['revision']}", f"{'task':<{w}}  {'type':<{tw}}  split       main score"]
    lines += [f"{t:<{w}}  {ty:<{tw}}  {s:<10}  {v:>10}" for t, ty, s, v in rows]
    by = summary.get("by_type") or type_means(summary)
    lines += ["", f"{'task type':<{tw}}  tasks  mean"]
    lines += [f"{t:<{tw}}  {by['tasks_per_type'][t]:>5}  {100 * m:6.2f}" for t, m in by["types"].items()]
    lines += [f"{'mean (task)':<{tw}}  {sum(by['tasks_per_type'].values()):>5}  {100 * by['mean_task']:6.2f}",
              f"{'mean (type)':<{tw}}  {len(by['types']):>5}  {100 * by['mean_type']:6.2f}"]
    if summary.get("skipped"):
        lines += ["", f"not run ({len(summary['skipped'])} tasks whose data could not be reached): "
                  + ", ".join(sorted(summary["skipped"])),
                  "the means above cover only the tasks run, so they are not the benchmark's leaderboard means"]
    return "\n".join(lines)
