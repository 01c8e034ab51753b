"""The SimCSE trainer: a ``transformers.Trainer`` with the contrastive loss and STS-B dev evaluation
(plus the transfer tasks' dev accuracy with SimCSE's ``--eval_transfer``).

Design notes:

- One forward per step: the ``[B, V, L]`` batch (V = 2 views of each sentence for unsupervised
  SimCSE, 2 for pairs, 3 with hard negatives) is flattened to ``[B*V, L]`` and encoded at once;
  the two views of an unsupervised sentence differ only by dropout.
- The training loop is the Trainer's own (DDP through torchrun, fp16/bf16, gradient
  accumulation, ``--torch_compile``, fused AdamW by default on torch >= 2.8, checkpoints and
  ``--resume_from_checkpoint``); only the loss, the evaluation and the saving are ours.
- Non-finite losses (``--on_nonfinite_loss``): ``stop`` (the default) keeps no host-device sync per
  step: the first step whose loss is NaN/inf is recorded on the device and checked when the Trainer
  logs and before anything is saved, so the error names that step and no checkpoint or final model
  with its weights is written (every save also checks that the weights are finite). ``skip`` checks
  each step's loss (one sync per step) and drops that step's gradients, so the optimizer does not
  step on them. The Trainer's ``logging_nan_inf_filter`` (which hides NaNs) is turned off.
- Disk full while saving: a :class:`~simcse.training.checkpoints.DiskFullError` naming what was
  being saved; a half-written checkpoint folder is removed and the previous checkpoints stay whole
  (``--resume_from_checkpoint True`` also skips, by name, one a killed run left half written).
- Several GPUs visible to one process never lead to ``nn.DataParallel``: the trainer uses one
  GPU and says to launch with ``torchrun --nproc_per_node N`` for data parallelism.
- MLP head: SimCSE's code trains a freshly initialised MLP over the CLS vector (``cl_init``
  calls BERT's ``init_weights``: weights N(0, initializer_range), zero bias; the backbone's
  pre-trained pooler is dropped). :func:`load_encoder_for_training` does the same for a plain
  Hugging Face model (``mlp_init="auto"``); a folder that already holds a SimCSE MLP head (our
  checkpoints, sentence-transformers ``Dense``) keeps it, so training can continue.
  ``mlp_init="pooler"`` starts from the backbone's pooler weights instead.
- Saving: every checkpoint and the final model are complete model folders
  (:meth:`SentenceEncoder.save_pretrained`: Hugging Face files + ``simcse_config.json`` +
  sentence-transformers manifest), written to a temporary folder and renamed into place.

Why one module: the model the Trainer drives, the Trainer's overrides (loss, evaluation, saving)
and the dev evaluators it calls are one training step's contract.
"""
from __future__ import annotations

import errno
import logging
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any, Sequence

import torch
import transformers
from scipy.stats import spearmanr
from torch import nn
from transformers import AutoConfig, AutoTokenizer, Trainer, TrainingArguments

from ..encoder import SentenceEncoder
from ..formats import read_folder, save_model_atomically
from ..formats.huggingface import MLP_INITS, first_line, is_decoder_only, is_local_model_name, load_backbone, resolve_model_path
from ..evaluation.datadir import read_sick, read_stsb
from ..evaluation.engine import TRANSFER_TASKS, EmbeddingCache, canonical_task, load_task, make_encode_fn
from .checkpoints import DiskFullError, checkpoint_folders, checkpoint_problem
from .grad_cache import grad_cache_training_step
from .lora import enable_checkpointing, is_lora, load_adapter_weights, merged_for_saving, save_adapter
from .loss import InfoNCELoss

logger = logging.getLogger(__name__)

HEADS_FILE = "simcse_training_heads.pt"
"""Training-only weights (the MLM head) kept in checkpoints beside the model folder files."""
NONFINITE_POLICIES = ("stop", "skip")
"""``--on_nonfinite_loss``: stop the run at a NaN/inf loss, or skip that step's update."""
NONFINITE_ADVICE = "try a lower --learning_rate, --bf16 instead of --fp16, or a higher --temp"


# ---------------------------------------------------------------------- model
class ContrastiveModel(nn.Module):
    """The encoder, the InfoNCE loss and, for ``--do_mlm``, a masked-LM model sharing the backbone.

    ``forward`` takes the collator's ``[B, V, L]`` tensors and returns ``{"loss": ...}``.
    """

    def __init__(
        self,
        encoder: SentenceEncoder,
        loss: InfoNCELoss,
        mlm_model: nn.Module | None = None,
        mlm_weight: float = 0.1,
    ):
        super().__init__()
        self.encoder = encoder
        self.loss = loss
        self.mlm_model = mlm_model
        self.mlm_weight = float(mlm_weight)
        if mlm_model is not None and mlm_model.base_model is not encoder.backbone:
            raise ValueError("the MLM model must share the encoder's backbone (mlm_model.base_model)")

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        mlm_input_ids: torch.Tensor | None = None,
        mlm_targets: torch.Tensor | None = None,
        embed_only: bool = False,
    ) -> dict[str, torch.Tensor]:
        b, v, length = input_ids.shape
        flat = {"input_ids": input_ids.reshape(b * v, length), "attention_mask": attention_mask.reshape(b * v, length)}
        if token_type_ids is not None:
            flat["token_type_ids"] = token_type_ids.reshape(b * v, length)
        z = self.encoder(**flat)
        if embed_only:  # gradient caching (simcse.training.grad_cache) encodes chunks and computes the loss itself
            return {"embeddings": z}
        loss = self.loss(z.view(b, v, -1))
        if self.mlm_model is not None and mlm_input_ids is not None:
            mlm_kwargs = dict(flat, input_ids=mlm_input_ids.reshape(b * v, length))
            out = self.mlm_model(**mlm_kwargs, labels=mlm_targets.reshape(b * v, length), return_dict=True)
            loss = loss + self.mlm_weight * out.loss
        return {"loss": loss}

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs: dict | None = None, **kwargs: Any) -> None:
        """The name earlier transformers releases' Trainer calls for ``--gradient_checkpointing``."""
        self.activation_checkpointing_enable(activation_checkpointing_kwargs=gradient_checkpointing_kwargs, **kwargs)

    def activation_checkpointing_enable(
        self, activation_checkpointing_kwargs: dict | None = None, every_n_layers: int = 1, offload: bool = False
    ) -> None:
        """``--gradient_checkpointing``: activation checkpointing in the backbone (LoRA-wrapped or not)."""

        enable_checkpointing(
            self.encoder.backbone,
            activation_checkpointing_kwargs=activation_checkpointing_kwargs,
            every_n_layers=every_n_layers,
            offload=offload,
        )

    def head_state_dict(self) -> dict[str, torch.Tensor]:
        """Weights of the MLM model that are not the backbone's (nor tied to it)."""
        if self.mlm_model is None:
            return {}
        shared = {p.data_ptr() for p in self.encoder.backbone.parameters()}
        prefix = self.mlm_model.base_model_prefix + "."
        return {
            k: t.detach().cpu().clone()
            for k, t in self.mlm_model.state_dict().items()
            if not k.startswith(prefix) and t.data_ptr() not in shared
        }


def load_encoder_for_training(
    model_name_or_path: str | os.PathLike | None,
    pooler_type: str | None = None,
    mlp_only_train: bool | None = None,
    max_length: int | None = None,
    do_mlm: bool = False,
    mlp_init: str = "auto",
    config_name: str | None = None,
    tokenizer_name: str | None = None,
    cache_dir: str | None = None,
    revision: str | None = None,
    token: bool | str | None = None,
    use_fast_tokenizer: bool = True,
    **model_kwargs: Any,
) -> tuple[SentenceEncoder, nn.Module | None]:
    """Load the encoder to train (and the masked-LM model sharing its backbone when ``do_mlm``), through
    the loader inference uses (:meth:`SentenceEncoder.from_folder`).

    ``pooler_type=None`` keeps the pooler of a simcse / sentence-transformers folder and uses
    ``cls`` (SimCSE's default) for a plain Hugging Face model.

    ``mlp_init``: ``auto`` keeps a saved SimCSE MLP head and otherwise initialises a fresh one
    (as SimCSE's code does); ``fresh`` always initialises it; ``pooler`` copies the backbone's
    pre-trained pooler (BERT's NSP pooler). The backbone's own pooler is frozen: it is not part
    of any SimCSE head, and frozen it does not trip DDP's unused-parameter check.

    SimCSE's model flags: ``config_name`` (a config folder / hub name the backbone is loaded
    with), ``tokenizer_name`` (the tokenizer to use and save instead of the model's),
    ``cache_dir``, ``revision`` and ``token`` (hub downloads of the model, config and tokenizer;
    ``token=True`` uses the saved ``hf auth login`` token) and ``use_fast_tokenizer``.
    """
    if mlp_init not in MLP_INITS:
        raise ValueError(f"mlp_init must be auto, fresh or pooler, got {mlp_init!r}")
    hub: dict[str, Any] = {
        k: v for k, v in (("cache_dir", cache_dir), ("revision", revision), ("token", token)) if v not in (None, False)
    }
    root = _resolve_for_training(model_name_or_path, hub)
    if config_name is not None:
        model_kwargs["config"] = _load_pretrained("--config_name", "a model config", config_name, hub)
    model_kwargs = {**hub, **model_kwargs}
    spec = read_folder(root, str(model_name_or_path or root))
    if do_mlm and is_decoder_only(model_kwargs.get("config") or AutoConfig.from_pretrained(str(spec.backbone_dir))):
        raise ValueError(
            f"--do_mlm adds a masked-language-model loss, but {str(model_name_or_path or root)!r} is a decoder-only "
            "(causal) model with no masked-LM head; drop --do_mlm"
        )
    try:
        loaded = load_backbone(spec, masked_lm=do_mlm, **model_kwargs)
    except OSError as exc:
        if config_name is None:
            raise
        raise ValueError(
            f"--config_name {config_name!r} does not fit the weights of {str(model_name_or_path or root)!r}: "
            f"{first_line(exc.__cause__ or exc)}"
        ) from exc
    mlm_model = loaded if do_mlm else None
    backbone = loaded.base_model if do_mlm else loaded
    tokenizer = None
    if tokenizer_name is not None:
        tokenizer = _load_pretrained(
            "--tokenizer_name", "a tokenizer", tokenizer_name, {**hub, "use_fast": use_fast_tokenizer}
        )
        rows = backbone.get_input_embeddings().num_embeddings
        if len(tokenizer) > rows:
            raise ValueError(
                f"--tokenizer_name {tokenizer_name!r} has {len(tokenizer)} tokens, but the embedding table of "
                f"{str(model_name_or_path or root)!r} has {rows} rows; its token ids would not all be embedded"
            )
    encoder = SentenceEncoder.from_folder(
        spec, pooler_type, mlp_only_train, max_length, for_training=True, mlp_init=mlp_init, backbone=backbone,
        tokenizer=tokenizer, tokenizer_kwargs={"use_fast": use_fast_tokenizer, **hub},
    )
    if not use_fast_tokenizer and getattr(encoder.tokenizer, "is_fast", False):
        logger.warning(
            "--use_fast_tokenizer false: transformers %s has no slow (Python) tokenizer for this model and "
            "loads the fast one (%s)", transformers.__version__, type(encoder.tokenizer).__name__,
        )
    pooler = getattr(backbone, "pooler", None)
    if isinstance(pooler, nn.Module):
        pooler.requires_grad_(False)
    return encoder, mlm_model


def _resolve_for_training(model_name_or_path: str | os.PathLike | None, hub: dict[str, Any]) -> Path:
    """:func:`resolve_model_path` with the hub flags; a revision given for a local folder is ignored, with a
    warning (``main`` is SimCSE's default, which its configs also set)."""
    local = model_name_or_path is None or is_local_model_name(model_name_or_path)
    if local and hub.get("revision") not in (None, "main"):
        logger.warning(
            "--model_revision %s is ignored: %s is a local folder (a revision selects a hub version)",
            hub["revision"], str(model_name_or_path or "the default model"),
        )
    return resolve_model_path(model_name_or_path, **({} if local else hub))


def _load_pretrained(flag: str, what: str, name: str, kwargs: dict[str, Any]) -> Any:
    """``AutoConfig`` / ``AutoTokenizer.from_pretrained(name, **kwargs)``; a ``ValueError`` naming ``flag`` if it fails."""
    path = Path(name).expanduser()
    if is_local_model_name(name) and not path.is_dir():
        raise FileNotFoundError(f"{flag} {name!r}: no such folder")
    loader = AutoConfig if flag == "--config_name" else AutoTokenizer
    try:
        return loader.from_pretrained(str(path) if path.is_dir() else name, **kwargs)
    except Exception as exc:
        raise ValueError(
            f"{flag} {name!r}: could not load {what} from it ({first_line(exc)}); pass a folder holding one "
            "or a hub name (downloading needs internet access)"
        ) from exc


# ---------------------------------------------------------------------- evaluation
class StsbDev:
    """STS-B pairs with gold scores, evaluated as Spearman of the cosine similarity."""

    def __init__(self, s1: Sequence[str], s2: Sequence[str], scores: Sequence[float]):
        if not (len(s1) == len(s2) == len(scores)) or not s1:
            raise ValueError("STS-B dev needs equally many, and at least one, sentence pairs and scores")
        self.s1, self.s2, self.scores = list(s1), list(s2), list(scores)

    @classmethod
    def load(cls, data_dir: str | os.PathLike | None = None, split: str = "dev") -> "StsbDev":
        """Read STS-B ``split`` from the SentEval data directory (``--data_dir`` / ``$SIMCSE_DATA_DIR``)."""

        return cls(*read_stsb(data_dir, split))

    @classmethod
    def load_sickr(cls, data_dir: str | os.PathLike | None = None, split: str = "dev") -> "StsbDev":
        """SICK-R pairs with relatedness scores (SICK_trial.txt for ``dev``), which SimCSE's trainer also
        reports at each evaluation (``eval_sickr_spearman``, and ``eval_avg_sts`` with STS-B)."""

        s1, s2, scores, _ = read_sick(data_dir, split)
        return cls(s1, s2, scores)

    def __len__(self) -> int:
        return len(self.s1)

    def spearman(self, encoder: SentenceEncoder, batch_size: int = 128, dtype: torch.dtype | None = None) -> float:
        """Spearman correlation (a fraction, as SimCSE logs it) of cos(s1, s2) with the gold scores."""

        unique = list(dict.fromkeys(self.s1 + self.s2))
        pos = {s: i for i, s in enumerate(unique)}
        emb = encoder.encode(unique, batch_size=batch_size, normalize=True, dtype=dtype)
        a = emb[torch.as_tensor([pos[s] for s in self.s1], device=emb.device)]
        b = emb[torch.as_tensor([pos[s] for s in self.s2], device=emb.device)]
        cos = (a * b).sum(-1).cpu().numpy()
        return float(spearmanr(cos, self.scores).statistic)


class TransferDev:
    """SimCSE's ``--eval_transfer``: the transfer tasks' dev accuracy (in percent) during training.

    As SimCSE's trainer does, each task's ``devacc`` from SentEval's fast logistic-regression
    probe (5-fold, rmsprop, batch 128, tenacity 3, epoch size 2) on the raw pooled vectors;
    :mod:`simcse.evaluation` computes it (``mode="dev"``). The data are read once, at
    :meth:`load`, so a missing file fails before training starts.
    """

    def __init__(self, tasks: dict[str, Any]):
        if not tasks:
            raise ValueError("TransferDev needs at least one task")
        self.tasks = tasks

    @classmethod
    def load(cls, data_dir: str | os.PathLike | None = None, tasks: Sequence[str] | None = None) -> "TransferDev":
        """Read the tasks' data (default: the seven transfer tasks) from the SentEval data directory
        (``--data_dir`` / ``$SIMCSE_DATA_DIR``)."""

        objs = {}
        for name in TRANSFER_TASKS if tasks is None else tasks:
            name = canonical_task(name)
            if name not in TRANSFER_TASKS:
                raise ValueError(f"{name} is not a transfer task; choose from {', '.join(TRANSFER_TASKS)}")
            objs[name] = load_task(name, "dev", data_dir)
        return cls(objs)

    def devacc(self, encoder: SentenceEncoder, batch_size: int = 128, dtype: torch.dtype | None = None) -> dict[str, float]:
        """``{task: dev accuracy}`` and ``avg_transfer`` (their mean), in percent."""

        name = {torch.bfloat16: "bfloat16", torch.float16: "float16"}.get(dtype, "float32")  # type: ignore[arg-type]
        encode, _ = make_encode_fn(encoder, batch_size=batch_size, normalize=False, dtype=name)
        cache = EmbeddingCache(encode)
        for obj in self.tasks.values():  # task by task: each task's sentences come sorted by length
            cache.fill(obj.sentences("dev"))
        # The probes seed torch's global generator (SentEval's initial weights): keep the training's RNG as it was.
        devices = [torch.cuda.current_device()] if torch.cuda.is_available() and torch.cuda.is_initialized() else []
        with torch.random.fork_rng(devices=devices):
            scores = {task: float(obj.run(cache, "dev")["devacc"]) for task, obj in self.tasks.items()}
        scores["avg_transfer"] = sum(scores.values()) / len(scores)
        return scores


# ---------------------------------------------------------------------- trainer
class SimCSETrainer(Trainer):
    """``transformers.Trainer`` for a :class:`ContrastiveModel`.

    ``eval_dataset`` is a :class:`StsbDev`; :meth:`evaluate` reports ``eval_stsb_spearman`` (and with
    ``sickr_dev`` ``eval_sickr_spearman`` and ``eval_avg_sts``, as SimCSE's trainer) so
    ``--metric_for_best_model stsb_spearman --load_best_model_at_end`` keeps the best checkpoint.
    """

    def __init__(
        self,
        model: ContrastiveModel,
        args: TrainingArguments,
        *pargs: Any,
        grad_cache_chunk_size: int | None = None,
        mlp_learning_rate: float | None = None,
        transfer_dev: TransferDev | None = None,
        sickr_dev: StsbDev | None = None,
        on_nonfinite_loss: str = "stop",
        **kwargs: Any,
    ):
        if on_nonfinite_loss not in NONFINITE_POLICIES:
            raise ValueError(f"--on_nonfinite_loss must be stop or skip, got {on_nonfinite_loss!r}")
        self.on_nonfinite_loss = on_nonfinite_loss
        self.skipped_steps: list[int] = []
        self._first_bad_step: torch.Tensor | None = None
        self.grad_cache_chunk_size = grad_cache_chunk_size
        self.sickr_dev = sickr_dev
        self.mlp_learning_rate = mlp_learning_rate
        self.transfer_dev = transfer_dev
        if not isinstance(model, ContrastiveModel):
            raise TypeError(f"SimCSETrainer trains a ContrastiveModel, got {type(model).__name__}")
        # One process never wraps the model in nn.DataParallel: use one GPU (torchrun for more).
        if args.n_gpu > 1:
            logger.warning(
                "%d GPUs are visible to a single process; training on one. For data-parallel training "
                "launch with torchrun --nproc_per_node %d.", args.n_gpu, args.n_gpu,
            )
            args._n_gpu = 1
        # Checking every step for NaN would sync with the device; NaNs are caught at logging instead.
        args.logging_nan_inf_filter = False
        if args.ddp_find_unused_parameters is None:
            args.ddp_find_unused_parameters = False
        super().__init__(model, args, *pargs, **kwargs)
        self._views = 2
        ds = kwargs.get("train_dataset")
        if ds is not None and hasattr(ds, "views"):
            self._views = int(ds.views)
        self._last_log_time: float | None = None
        self._last_log_step = 0
        self._eval_seconds = 0.0

    @property
    def encoder(self) -> SentenceEncoder:
        return self.model.encoder

    # ------------------------------------------------------------------ optimizer
    def create_optimizer(self, model: nn.Module | None = None) -> torch.optim.Optimizer:
        """The Trainer's optimizer; with ``mlp_learning_rate`` the MLP head's parameters get their own groups.

        The groups are split before the scheduler is built, so the schedule scales both rates alike.
        """
        fresh = self.optimizer is None
        # (older transformers take no ``model`` argument)
        optimizer = super().create_optimizer() if model is None else super().create_optimizer(model)
        if not fresh or self.mlp_learning_rate is None:
            return optimizer
        if self.encoder.mlp is None:
            raise ValueError("--mlp_learning_rate needs the MLP head (--pooler_type cls)")
        head = {id(p) for p in self.encoder.mlp.parameters()}
        groups = []
        for group in optimizer.param_groups:
            mine = [p for p in group["params"] if id(p) in head]
            if mine:
                group["params"] = [p for p in group["params"] if id(p) not in head]
                groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": mine,
                               "lr": self.mlp_learning_rate})
        if not groups:
            raise ValueError("--mlp_learning_rate: the optimizer does not hold the MLP head's parameters")
        optimizer.param_groups[:] = [g for g in optimizer.param_groups if g["params"]]
        for group in groups:
            optimizer.add_param_group(group)
        return optimizer

    # ------------------------------------------------------------------ loss
    def training_step(
        self, model: nn.Module, inputs: dict[str, torch.Tensor], num_items_in_batch: torch.Tensor | int | None = None
    ) -> torch.Tensor:
        """The Trainer's step, or with ``grad_cache_chunk_size`` the gradient-cached one (:mod:`simcse.training.grad_cache`)."""
        if not self.grad_cache_chunk_size:
            loss = super().training_step(model, inputs, num_items_in_batch)
        else:
            loss = grad_cache_training_step(self, model, inputs, self.grad_cache_chunk_size)
        step = self.state.global_step + 1  # the optimizer step this loss belongs to
        finite = torch.isfinite(loss.detach()).all()
        if self.on_nonfinite_loss == "skip":
            if not bool(finite):
                model.zero_grad(set_to_none=True)  # the optimizer skips parameters without gradients
                if not self.skipped_steps or self.skipped_steps[-1] != step:
                    self.skipped_steps.append(step)
                logger.warning(
                    "step %d: the training loss is %s; skipping this step's update (--on_nonfinite_loss skip; "
                    "%d step(s) skipped so far)", step, float(loss), len(self.skipped_steps),
                )
                return torch.zeros_like(loss)
            return loss
        # stop: remember the first bad step on the device (no sync); checked at logging and saving
        first = self._first_bad_step
        if first is None:
            first = self._first_bad_step = torch.zeros((), dtype=torch.long, device=loss.device)
        torch.where(~finite & (first == 0), torch.full_like(first, step), first, out=first)
        return loss

    def check_finite(self, saving: str | None = None) -> None:
        """Raise ``FloatingPointError`` naming the first step whose loss was NaN/inf (``stop``), and before
        saving (``saving``: what would be saved) also when any weight is NaN/inf."""
        first = 0 if self._first_bad_step is None else int(self._first_bad_step)
        unsaved = f"; {saving} is not saved" if saving else ""
        if first:
            raise FloatingPointError(
                f"the training loss became NaN or inf at step {first} (--on_nonfinite_loss stop){unsaved}. "
                f"{NONFINITE_ADVICE}; or pass --on_nonfinite_loss skip to skip such steps"
            )
        if saving:
            params = [p for p in self.model.parameters()]
            if params and not bool(torch.stack([torch.isfinite(p.detach()).all() for p in params]).all()):
                bad = [n for n, p in self.model.named_parameters() if not bool(torch.isfinite(p.detach()).all())]
                raise FloatingPointError(
                    f"after step {self.state.global_step} the weights hold NaN or inf values ({', '.join(bad[:3])}"
                    f"{' ...' if len(bad) > 3 else ''}){unsaved}. {NONFINITE_ADVICE}"
                )

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, torch.Tensor],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
        outputs = model(**inputs)
        loss = outputs["loss"]
        return (loss, outputs) if return_outputs else loss

    # ------------------------------------------------------------------ logging
    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add throughput (examples and sentences per second) and stop on a non-finite loss."""
        final = logs.get("train_loss")  # the run's mean loss, logged once at the end of training
        if final is not None or "loss" in logs:
            self.check_finite()
        if final is not None and not math.isfinite(final):
            raise FloatingPointError(
                f"the training loss became {final} (its mean over the run's {self.state.global_step} steps); the "
                "model is not saved. Try a lower --learning_rate, --bf16 instead of --fp16, or a higher --temp; "
                "a lower --logging_steps shows the step where it happened"
            )
        if "loss" in logs:
            step = self.state.global_step
            if not math.isfinite(logs["loss"]):
                raise FloatingPointError(f"the training loss became {logs['loss']} by step {step}; {NONFINITE_ADVICE}")
            now = time.perf_counter()
            if self._last_log_time is not None and step > self._last_log_step:
                seconds = now - self._last_log_time - self._eval_seconds
                if seconds > 0:
                    per_step = (
                        self.args.per_device_train_batch_size
                        * self.args.gradient_accumulation_steps
                        * max(1, self.args.world_size)
                    )
                    examples = (step - self._last_log_step) * per_step
                    logs["examples_per_second"] = round(examples / seconds, 2)
                    logs["sentences_per_second"] = round(examples * self._views / seconds, 2)
            self._last_log_time, self._last_log_step, self._eval_seconds = now, step, 0.0
        super().log(logs, start_time)

    def train(self, *args: Any, **kwargs: Any):  # noqa: D102 - same as Trainer.train
        self._last_log_time = time.perf_counter()
        self._last_log_step = self.state.global_step
        return super().train(*args, **kwargs)

    # ------------------------------------------------------------------ evaluation
    def evaluate(
        self,
        eval_dataset: StsbDev | None = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
    ) -> dict[str, float]:
        """STS-B dev Spearman of the current model (inference path: MLP per ``mlp_only_train``), and with
        ``transfer_dev`` (``--eval_transfer``) each transfer task's dev accuracy and their average
        (``eval_MR`` ... ``eval_avg_transfer``, in percent, as SimCSE reports them)."""
        data = eval_dataset if eval_dataset is not None else self.eval_dataset
        if not isinstance(data, StsbDev):
            raise ValueError("SimCSETrainer evaluates on STS-B dev: pass eval_dataset=StsbDev.load(data_dir)")
        t0 = time.perf_counter()
        dtype = None
        if self.args.device.type == "cuda":
            dtype = torch.bfloat16 if self.args.bf16 else torch.float16 if self.args.fp16 else None
        batch = max(64, self.args.per_device_eval_batch_size)
        score = data.spearman(self.encoder, batch_size=batch, dtype=dtype)
        metrics = {f"{metric_key_prefix}_stsb_spearman": score}
        if self.sickr_dev is not None:  # as SimCSE's trainer: SICK-R dev and the mean of the two
            sickr = self.sickr_dev.spearman(self.encoder, batch_size=batch, dtype=dtype)
            metrics[f"{metric_key_prefix}_sickr_spearman"] = sickr
            metrics[f"{metric_key_prefix}_avg_sts"] = (score + sickr) / 2
        if self.transfer_dev is not None:
            transfer = self.transfer_dev.devacc(self.encoder, batch_size=batch, dtype=dtype)
            metrics.update({f"{metric_key_prefix}_{task}": acc for task, acc in transfer.items()})
        seconds = time.perf_counter() - t0
        self._eval_seconds += seconds
        metrics[f"{metric_key_prefix}_runtime"] = round(seconds, 3)
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics

    # ------------------------------------------------------------------ saving / loading
    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        """Write a complete model folder (atomically) plus the training-only heads."""
        if not self.args.should_save:
            return
        target = Path(output_dir if output_dir is not None else self.args.output_dir)
        self.check_finite(saving=f"the model ({target})")
        heads = self.model.head_state_dict()

        def extra(tmp: Path) -> None:
            save_adapter(self.encoder, tmp)  # LoRA: the adapter beside the merged model
            if heads:
                torch.save(heads, tmp / HEADS_FILE)
            torch.save(self.args, tmp / "training_args.bin")

        try:
            save_model_atomically(merged_for_saving(self.encoder), target, extra)
        except OSError as exc:
            if exc.errno != errno.ENOSPC or isinstance(exc, DiskFullError):
                raise
            raise DiskFullError(
                f"no space left on the device while saving the model to {target}; the files already there are "
                f"unchanged{self._last_good_note(target)}. Free disk space and run again"
            ) from exc

    def _last_good_note(self, exclude: Path) -> str:
        """``; the last complete checkpoint, X, is intact (resume ...)`` or ``""`` if there is none."""
        for folder in checkpoint_folders(self.args.output_dir):
            if folder.resolve() != exclude.resolve() and checkpoint_problem(folder, not self.args.save_only_model) is None:
                return (f"; the last complete checkpoint, {folder}, is intact (continue from it with "
                        "--resume_from_checkpoint True)")
        return ""

    def _save_checkpoint(self, model: nn.Module, trial: Any) -> None:
        """The Trainer's checkpoint; on a full disk the half-written folder is removed and the error says
        which checkpoint is intact."""
        folder = Path(self._get_output_dir(trial=trial)) / f"checkpoint-{self.state.global_step}"
        existed = folder.exists()
        try:
            super()._save_checkpoint(model, trial)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            if not existed and folder.exists() and self.args.should_save:
                shutil.rmtree(folder, ignore_errors=True)
            raise DiskFullError(
                f"no space left on the device while saving checkpoint {folder}; that unfinished checkpoint was "
                f"removed{self._last_good_note(folder)}. Free disk space and run again"
            ) from exc

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: nn.Module | None = None) -> None:
        load_checkpoint_weights(self.model, resume_from_checkpoint)

    def _load_best_model(self) -> None:
        best = self.state.best_model_checkpoint
        logger.info("loading the best model from %s (score: %s)", best, self.state.best_metric)
        load_checkpoint_weights(self.model, best)


# ---------------------------------------------------------------------- folders
def load_checkpoint_weights(model: ContrastiveModel, folder: str | os.PathLike) -> None:
    """Load a checkpoint folder written by :class:`SimCSETrainer` into ``model`` in place."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"checkpoint {str(folder)!r} does not exist")

    loaded = SentenceEncoder.from_pretrained(str(folder))
    enc = model.encoder
    if is_lora(enc):  # the frozen base is unchanged; the adapter holds what was trained
        load_adapter_weights(enc, folder)
    else:
        missing, unexpected = enc.backbone.load_state_dict(loaded.backbone.state_dict(), strict=False)
        bad = [k for k in missing if "pooler" not in k] + [k for k in unexpected if "pooler" not in k]
        if bad:
            raise ValueError(f"checkpoint {str(folder)!r} does not match the model being trained: {bad[:5]}")
    if enc.mlp is not None:
        if loaded.mlp is None:
            raise ValueError(f"checkpoint {str(folder)!r} has no MLP head, but the model uses the cls pooler")
        enc.mlp.load_state_dict(loaded.mlp.state_dict())
    heads_file = folder / HEADS_FILE
    if model.mlm_model is not None:
        if not heads_file.is_file():
            raise FileNotFoundError(f"checkpoint {str(folder)!r} lacks {HEADS_FILE} (the MLM head of --do_mlm)")
        result = model.mlm_model.load_state_dict(torch.load(heads_file, map_location="cpu", weights_only=True), strict=False)
        if result.unexpected_keys:
            raise ValueError(f"{heads_file}: unexpected MLM head weights {result.unexpected_keys[:5]}")
