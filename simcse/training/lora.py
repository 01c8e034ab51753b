"""Decoder-LLM backbones for SimCSE: prompt templates and LoRA adapters (through ``peft``).

- ``--prompt_template``: a named preset (:data:`PROMPT_PRESETS`: ``prompteol`` is PromptEOL,
  Jiang et al. 2023, ``This sentence : "{}" means in one word:"``; ``none``) or a template with
  one ``{}``. It becomes :attr:`EncoderConfig.prompt`, so training data and, after saving,
  inference wrap every sentence the same way; with ``last`` pooling the embedding is the state of
  the last prompt token.
- ``--lora_r`` (> 0 turns LoRA on), ``--lora_alpha``, ``--lora_dropout``,
  ``--lora_target_modules`` (default: peft's choice for the architecture; ``all-linear`` for every
  linear layer): the backbone becomes a ``peft`` model whose base weights are frozen; only the
  adapters (and the MLP head, if the pooler has one) train.
- Saving (checkpoints and the final model): the model folder holds the backbone with the
  adapters *merged* (``merge_and_unload`` on a copy), so it loads anywhere (SimCSE,
  SentenceEncoder, sentence-transformers) without ``peft``; the adapter alone is also written to
  ``lora_adapter/`` (a standard peft folder: ``PeftModel.from_pretrained(base, folder/"lora_adapter")``).
  Resuming a LoRA run loads the adapter weights from that sub-folder.
- ``--gradient_checkpointing`` works through :meth:`ContrastiveModel.activation_checkpointing_enable`
  (for a LoRA backbone the inputs' embeddings are marked as requiring grad so checkpointed
  blocks still back-propagate into the adapters).
"""
from __future__ import annotations

import copy
import inspect
import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from torch import nn

PROMPT_PRESETS: dict[str, str | None] = {
    "prompteol": 'This sentence : "{}" means in one word:"',
    "none": None,
}
"""Named prompt templates for ``--prompt_template``."""

ADAPTER_DIR = "lora_adapter"
"""Sub-folder of a saved model holding the LoRA adapter (peft format)."""


def resolve_prompt(value: str | None) -> str | None:
    """A preset name (case-insensitive) or a template containing ``{}``; ``None`` / ``none`` for no prompt."""
    if value is None:
        return None
    if value.lower() in PROMPT_PRESETS:
        return PROMPT_PRESETS[value.lower()]
    if "{}" not in value:
        raise ValueError(
            f"--prompt_template {value!r} is neither a preset ({', '.join(PROMPT_PRESETS)}) nor a template with '{{}}'"
        )
    return value


def is_lora(encoder: Any) -> bool:
    """Whether ``encoder.backbone`` is a peft model."""
    try:
        from peft import PeftModel
    except ImportError:
        return False
    return isinstance(encoder.backbone, PeftModel)


def apply_lora(
    encoder: Any,
    r: int,
    alpha: float | None = None,
    dropout: float = 0.0,
    target_modules: Sequence[str] | str | None = None,
) -> None:
    """Replace ``encoder.backbone`` by a peft LoRA model (base weights frozen), in place.

    Args:
        r: adapter rank (> 0).
        alpha: LoRA scaling numerator (default ``2 * r``).
        dropout: dropout on the adapters' input, in [0, 1).
        target_modules: module names to adapt, ``"all-linear"``, or ``None`` for peft's default
            for the architecture.
    """
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as exc:
        raise ImportError("--lora_r needs the peft package: pip install peft") from exc
    if not isinstance(r, int) or r < 1:
        raise ValueError(f"--lora_r must be a positive integer, got {r!r}")
    if not 0 <= dropout < 1:
        raise ValueError(f"--lora_dropout must be in [0, 1), got {dropout}")
    if is_lora(encoder):
        raise ValueError("the encoder's backbone already has LoRA adapters")
    if isinstance(target_modules, (list, tuple)):
        target_modules = list(target_modules)
        if target_modules == ["all-linear"]:
            target_modules = "all-linear"
    config = LoraConfig(
        r=r,
        lora_alpha=float(alpha) if alpha is not None else 2.0 * r,
        lora_dropout=dropout,
        target_modules=target_modules or None,
        bias="none",
    )
    try:
        encoder.backbone = get_peft_model(encoder.backbone, config)
    except ValueError as exc:
        raise ValueError(f"--lora_target_modules {target_modules!r}: {exc}") from exc
    encoder.config.extra["lora"] = {
        "r": r, "alpha": config.lora_alpha, "dropout": dropout,
        "target_modules": sorted(config.target_modules) if isinstance(config.target_modules, (set, list)) else config.target_modules,
        "merged": True, "adapter_dir": ADAPTER_DIR,
    }


def merged_for_saving(encoder: Any) -> Any:
    """The encoder to write: itself without LoRA, else a copy whose backbone has the adapters merged."""
    if not is_lora(encoder):
        return encoder
    merged = copy.deepcopy(encoder.backbone).merge_and_unload()
    merged.requires_grad_(False)
    cls = type(encoder)
    return cls(merged, encoder.tokenizer, replace(encoder.config, extra=dict(encoder.config.extra)), encoder.mlp)


def save_adapter(encoder: Any, folder: str | os.PathLike) -> None:
    """Write the LoRA adapter (peft format) to ``folder/lora_adapter`` (nothing without LoRA)."""
    if is_lora(encoder):
        encoder.backbone.save_pretrained(str(Path(folder) / ADAPTER_DIR))


def load_adapter_weights(encoder: Any, folder: str | os.PathLike) -> None:
    """Load the adapter weights saved by :func:`save_adapter` in ``folder`` into the LoRA encoder."""
    from peft import load_peft_weights, set_peft_model_state_dict

    adapter = Path(folder) / ADAPTER_DIR
    if not adapter.is_dir():
        raise FileNotFoundError(f"checkpoint {str(folder)!r} lacks {ADAPTER_DIR}/ (the LoRA adapter of this run)")
    result = set_peft_model_state_dict(encoder.backbone, load_peft_weights(str(adapter), device="cpu"))
    unexpected = getattr(result, "unexpected_keys", None) or []
    if unexpected:
        raise ValueError(f"{adapter}: unexpected adapter weights {unexpected[:5]}")


def enable_checkpointing(backbone: nn.Module, **kwargs: Any) -> None:
    """Turn on activation checkpointing in a Hugging Face (or peft-wrapped) backbone."""
    base = backbone.get_base_model() if hasattr(backbone, "get_base_model") else backbone
    if hasattr(base, "activation_checkpointing_enable"):  # transformers >= 5.20
        base.activation_checkpointing_enable(**kwargs)
    elif hasattr(base, "gradient_checkpointing_enable"):  # earlier transformers (the same feature)
        rest = {k: v for k, v in kwargs.items() if k != "activation_checkpointing_kwargs"}
        accepted = inspect.signature(base.gradient_checkpointing_enable).parameters
        base.gradient_checkpointing_enable(
            gradient_checkpointing_kwargs=kwargs.get("activation_checkpointing_kwargs"),
            **{k: v for k, v in rest.items() if k in accepted},
        )
    else:
        raise ValueError(f"--gradient_checkpointing: {type(base).__name__} does not support activation checkpointing")
    if base is not backbone and hasattr(base, "enable_input_require_grads"):
        base.enable_input_require_grads()
