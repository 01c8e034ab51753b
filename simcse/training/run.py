"""Training: :func:`train` runs a :class:`~simcse.training.config.TrainConfig` and returns a
:class:`TrainResult` (``simcse.train``; ``simcse train`` and ``train.py`` parse their flags into the
config first)."""
from __future__ import annotations

import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import TrainingArguments, set_seed

from ..encoder import SentenceEncoder, token_limit
from ..evaluation.mteb import read_prompts_file
from ..formats.sentence_transformers import ST_SETTINGS_KEY
from .checkpoints import checkpoint_problem, last_complete_checkpoint
from .config import SICKR_METRICS, TrainConfig, best_metric_name, defaults_warning, strategy_name
from .data import TokenizedExamples, collator_for, load_training_data, tokenize_columns
from .lora import apply_lora, resolve_prompt
from .loss import InfoNCELoss
from .matryoshka import CONFIG_KEY, MatryoshkaInfoNCELoss, check_matryoshka
from .trainer import ContrastiveModel, SimCSETrainer, StsbDev, TransferDev, load_encoder_for_training

logger = logging.getLogger("simcse.train")


@dataclass
class TrainResult:
    """What a training run gave: where the model is, how far it trained, and its metrics."""

    output_dir: str
    """The folder the trained model (and checkpoints, metrics, trainer state) was saved to."""
    global_step: int
    """Optimizer steps taken (0 for an evaluation-only run)."""
    metrics: dict[str, float]
    """The metrics the run ended with, as the Trainer reports them: training's (``train_loss``,
    ``train_runtime`` ...) and, with ``do_eval``, the final evaluation's (``eval_stsb_spearman`` ...)."""
    best_metric: float | None = None
    """The best value of ``metric_for_best_model`` over the evaluations (None without checkpoint selection)."""
    best_model_checkpoint: str | None = None
    """The checkpoint that gave :attr:`best_metric` (None without checkpoint selection)."""
    log_history: list[dict[str, Any]] = field(default_factory=list)
    """Every logged entry of the run (losses, learning rates, evaluations), as ``trainer_state.json`` holds them."""


def remove_previous_checkpoints(output_dir: str | os.PathLike) -> list[str]:
    """``--overwrite_output_dir`` without resuming: remove the ``checkpoint-<step>`` folders a previous
    run left in ``output_dir`` (other files stay). Kept, they would mix with this run's: checkpoint
    rotation (``--save_total_limit``) keeps the highest steps, so it would delete this run's checkpoints
    and keep the old ones, and a later ``--resume_from_checkpoint True`` would resume the old run."""
    out = Path(output_dir)
    stale = sorted((p for p in out.iterdir() if p.is_dir() and re.fullmatch(r"checkpoint-\d+", p.name)),
                   key=lambda p: int(p.name.split("-")[1])) if out.is_dir() else []
    if stale:
        logger.warning("--overwrite_output_dir: removing the previous run's %s from %s",
                       ", ".join(p.name for p in stale), out)
        for p in stale:
            shutil.rmtree(p)
    return [p.name for p in stale]


def resolve_resume(resume: Any, output_dir: str | os.PathLike, needs_optimizer: bool = True) -> str | None:
    """``--resume_from_checkpoint``: ``True`` / ``last`` is the newest *complete* ``checkpoint-<step>`` of
    ``output_dir`` (a newer one half written by a killed run is skipped, with a warning naming its broken
    file); a folder must be complete, or the error names its broken file."""
    if not resume:
        return None
    if resume is True or (isinstance(resume, str) and resume.lower() in ("true", "last")):
        found, skipped = last_complete_checkpoint(output_dir, needs_optimizer)
        for problem in skipped:
            logger.warning("--resume_from_checkpoint: skipping an incomplete checkpoint: %s", problem)
        if found is None:
            detail = f" ({len(skipped)} incomplete: {'; '.join(skipped)})" if skipped else ""
            raise FileNotFoundError(
                f"--resume_from_checkpoint: no complete checkpoint-* folder in {str(output_dir)!r}{detail}"
            )
        if skipped:
            logger.warning("--resume_from_checkpoint: resuming from %s, the newest complete checkpoint", found)
        return str(found)
    problem = checkpoint_problem(resume, needs_optimizer)
    if problem is not None:
        raise ValueError(
            f"--resume_from_checkpoint {str(resume)!r} cannot be resumed from: {problem}. Pass an earlier checkpoint "
            "folder, or --resume_from_checkpoint True for the newest complete one"
        )
    return str(resume)


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
    what = f"--dataset_name {dataset_name!r}" + (f" (config {config_name!r})" if config_name else "")
    try:
        import datasets  # optional: only --dataset_name needs it
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


def train(config: TrainConfig) -> TrainResult:
    """Train (``do_train``, on unless ``do_eval`` is given alone) and evaluate (``do_eval``) as ``config``
    says; the model is saved to ``config.output_dir``. Bad settings raise ``ValueError`` naming them."""
    training_args = config.trainer_arguments()
    config.validate(training_args)
    warning = defaults_warning(config) if training_args.do_train else None
    if warning:
        logger.warning(warning)
    if config.preprocessing_num_workers is not None:
        logger.info(
            "--preprocessing_num_workers %d: no effect here; tokenization runs once, batched, in one process (a "
            "fast tokenizer uses several threads) and is cached", config.preprocessing_num_workers,
        )
    if config.validation_split_percentage is not None:
        logger.info(
            "--validation_split_percentage %d: no effect here (nor in SimCSE's train.py); the training data is not "
            "split, evaluation uses STS-B dev", config.validation_split_percentage,
        )
    set_seed(training_args.seed)
    encoder, mlm_model = load_encoder_for_training(
        config.model_name_or_path,
        pooler_type=config.pooler_type,
        mlp_only_train=config.mlp_only_train,
        do_mlm=config.do_mlm,
        mlp_init=config.mlp_init,
        config_name=config.config_name,
        tokenizer_name=config.tokenizer_name,
        cache_dir=config.cache_dir,
        revision=config.model_revision,
        token=True if config.use_auth_token else None,
        use_fast_tokenizer=config.use_fast_tokenizer,
    )
    limit = token_limit(encoder)
    if limit is not None and config.max_seq_length > limit:
        raise ValueError(
            f"--max_seq_length {config.max_seq_length} is more than {config.model_name_or_path or 'the model'} "
            f"takes ({limit} tokens: its position embeddings, or its tokenizer's model_max_length if smaller); "
            f"pass --max_seq_length {limit} or less"
        )
    loaded_type = getattr(encoder.backbone.config, "model_type", None)
    if config.model_type is not None and config.model_type != loaded_type:
        logger.warning(
            "--model_type %s is ignored (as in SimCSE's train.py, it only matters without --model_name_or_path): "
            "%s is a %s model", config.model_type, config.model_name_or_path, loaded_type,
        )
    if config.prompt_template is not None:
        encoder.config.prompt = resolve_prompt(config.prompt_template)
    if config.prompts:  # saved to config_sentence_transformers.json with the model
        encoder.config.extra.setdefault(ST_SETTINGS_KEY, {})["prompts"] = read_prompts_file(config.prompts)
    # what the model was trained from and on: mteb metadata (adapted_from, training_datasets) reads it
    encoder.config.extra["training"] = {
        "base_model": config.model_name_or_path,
        "train_file": Path(config.train_file).name if config.train_file else None,
        "dataset_name": config.dataset_name,
    }
    if config.lora_r:
        apply_lora(encoder, config.lora_r, config.lora_alpha, config.lora_dropout, config.lora_target_modules)
    model = ContrastiveModel(encoder, _loss(config, encoder), mlm_model, config.mlm_weight)
    train_dataset = _training_data(config, training_args, encoder) if training_args.do_train else None
    eval_dataset = sickr_dev = transfer_dev = None
    if training_args.do_eval or strategy_name(training_args.eval_strategy) != "no":
        eval_dataset = StsbDev.load(config.data_dir, "dev")
        try:
            sickr_dev = StsbDev.load_sickr(config.data_dir, "dev")
        except FileNotFoundError as exc:
            if best_metric_name(training_args) in SICKR_METRICS:
                raise FileNotFoundError(f"--metric_for_best_model {training_args.metric_for_best_model}: {exc}") from exc
            logger.warning("evaluating on STS-B dev only (no sickr_spearman / avg_sts): %s", exc)
        if config.eval_transfer:
            transfer_dev = TransferDev.load(config.data_dir)
    pad_mult = config.pad_to_multiple_of
    if pad_mult is None and not config.pad_to_max_length and training_args.device.type == "cuda":
        pad_mult = 8
    collator = collator_for(
        encoder.tokenizer,
        config.max_seq_length,
        pad_to_max_length=config.pad_to_max_length,
        pad_to_multiple_of=pad_mult,
        mlm_probability=config.mlm_probability if config.do_mlm else 0.0,
    )
    trainer = SimCSETrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=collator,
        grad_cache_chunk_size=config.grad_cache_chunk_size,
        mlp_learning_rate=config.mlp_learning_rate,
        transfer_dev=transfer_dev,
        sickr_dev=sickr_dev,
        on_nonfinite_loss=config.on_nonfinite_loss,
    )
    metrics: dict[str, float] = {}
    if training_args.do_train:
        resume = resolve_resume(training_args.resume_from_checkpoint, training_args.output_dir,
                                needs_optimizer=not training_args.save_only_model)
        if not resume and config.overwrite_output_dir and trainer.is_world_process_zero():
            remove_previous_checkpoints(training_args.output_dir)
        result = trainer.train(resume_from_checkpoint=resume)
        if trainer.skipped_steps:
            logger.warning(
                "--on_nonfinite_loss skip: %d step(s) had a NaN/inf loss and were skipped: %s",
                len(trainer.skipped_steps), ", ".join(map(str, trainer.skipped_steps[:20])),
            )
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
    state = trainer.state
    return TrainResult(
        output_dir=str(training_args.output_dir),
        global_step=state.global_step,
        metrics=metrics,
        best_metric=state.best_metric,
        best_model_checkpoint=state.best_model_checkpoint,
        log_history=list(state.log_history),
    )


def _loss(config: TrainConfig, encoder: SentenceEncoder) -> InfoNCELoss:
    """InfoNCE, or its Matryoshka form (whose sizes are then recorded in the saved config)."""
    if not config.matryoshka_dims:
        return InfoNCELoss(config.temp, config.hard_negative_weight)
    dims, weights = check_matryoshka(config.matryoshka_dims, config.matryoshka_weights, encoder.dim)
    if encoder.mlp is not None and encoder.config.mlp_only_train:
        raise ValueError(
            "--matryoshka_dims trains the truncated MLP outputs, but with --mlp_only_train the saved model embeds "
            "with the vector before the MLP, whose truncations would not be trained; drop --mlp_only_train or "
            "use --pooler_type cls_before_pooler"
        )
    encoder.config.extra[CONFIG_KEY] = dims  # saved in simcse_config.json
    return MatryoshkaInfoNCELoss(dims, weights, config.temp, config.hard_negative_weight)


def _training_data(config: TrainConfig, training_args: TrainingArguments, encoder: SentenceEncoder) -> TokenizedExamples:
    """The tokenized training examples of ``--train_file`` or ``--dataset_name`` (at least 2)."""
    with training_args.main_process_first(desc="tokenizing the training data"):
        if config.dataset_name:
            train_dataset = load_hub_training_data(
                config.dataset_name,
                config.dataset_config_name,
                encoder,
                config.max_seq_length,
                cache_dir=config.cache_dir,
                token=True if config.use_auth_token else None,
            )
        else:
            train_dataset = load_training_data(
                config.train_file,
                encoder,
                config.max_seq_length,
                cache_dir=config.tokenized_cache_dir,
                overwrite_cache=config.overwrite_cache,
                header=config.train_file_header,
            )
    if len(train_dataset) < 2:
        source = f"--train_file {config.train_file!r}" if config.train_file else f"--dataset_name {config.dataset_name!r}"
        raise ValueError(
            f"{source} holds 1 example; contrastive training needs at least 2 (in-batch negatives): "
            "with one, every step's loss would be 0"
        )
    logger.info(
        "training on %d examples with %d views each from %s", len(train_dataset), train_dataset.views,
        config.train_file or config.dataset_name,
    )
    return train_dataset
