"""Pooling heads: turn a backbone's token states into one vector per sentence.

Every head takes the backbone output and the attention mask, so padding tokens (left or right)
never enter a sentence embedding. (The backbone's positions are its own: decoders get position ids
that count real tokens; an encoder with absolute positions padded on the left sees them shifted, as it
does in transformers and sentence-transformers.)
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

POOLERS: tuple[str, ...] = (
    "cls",
    "cls_before_pooler",
    "avg",
    "avg_top2",
    "avg_first_last",
    "last",
    "max",
)
"""Names of the pooling heads.

- ``cls``: the first token's last hidden state followed by the MLP head (Linear + Tanh);
  SimCSE's default for supervised models.
- ``cls_before_pooler``: the first token's last hidden state, no MLP.
- ``avg``: mean of the last layer over real (non-pad) tokens.
- ``avg_top2``: mean over real tokens of the average of the last two layers.
- ``avg_first_last``: mean over real tokens of the average of the first transformer layer and
  the last layer (the paper's definition; the embedding layer is not a transformer layer).
- ``last``: the last real token's last hidden state (decoder models, any padding side).
- ``max``: element-wise max over real tokens (for sentence-transformers folders that use it).
"""

NEEDS_HIDDEN_STATES = frozenset({"avg_top2", "avg_first_last"})

SIMCSE_POOLER = "cls"
"""SimCSE's own pooler (its train.py's ``--pooler_type`` default, and ``simcse convert``'s): CLS + the MLP head."""


def check_pooler(name: str, flag: str | None = None) -> str:
    """Return ``name`` if it is a known pooling head, else raise ``ValueError`` listing them (and naming
    ``flag``, the command-line flag it came from, when given)."""
    if name not in POOLERS:
        if flag is not None:
            raise ValueError(f"{flag} {name!r} is unknown; choose one of {', '.join(POOLERS)}")
        raise ValueError(f"unknown pooler {name!r}; choose one of {', '.join(POOLERS)}")
    return name


def default_pooler(name: str, *, decoder_only: bool, has_pretrained_pooler: bool, for_training: bool = False) -> str:
    """The pooler of a model whose folder records none (a plain Hugging Face folder or hub ``name``).

    A decoder-only backbone gets ``last``. For training, the rest get SimCSE's ``cls`` (with a fresh MLP
    head). For inference, as the original ``simcse`` tool: ``cls_before_pooler`` when ``"unsup" in name``
    (the original's rule, case-sensitive, on the name or path given: princeton-nlp's unsupervised models,
    whose MLP head was for training only), ``cls`` when the weights hold a pre-trained pooler (SimCSE's
    Hugging Face exports keep the MLP head there), else ``avg``.
    """
    if decoder_only:
        return "last"
    if not for_training and "unsup" in name:
        return "cls_before_pooler"
    if for_training or has_pretrained_pooler:
        return SIMCSE_POOLER
    return "avg"


def masked_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``states`` [B, L, H] over positions where ``mask`` [B, L] is 1."""
    m = mask.to(states.dtype).unsqueeze(-1)
    summed = (states * m).sum(dim=1)
    count = m.sum(dim=1).clamp(min=1.0)
    return summed / count


def last_token_index(mask: torch.Tensor) -> torch.Tensor:
    """Index of the last position whose mask is 1, per row; works for left and right padding."""
    positions = torch.arange(1, mask.shape[1] + 1, device=mask.device)
    return (mask.long() * positions).argmax(dim=1)


def pool(
    pooler_type: str,
    last_hidden: torch.Tensor,
    mask: torch.Tensor,
    hidden_states: Sequence[torch.Tensor] | None = None,
) -> torch.Tensor:
    """Pool token states into sentence vectors (before any MLP head).

    ``hidden_states`` is the backbone's tuple (embedding output, layer 1, ..., layer N); it is
    needed by ``avg_top2`` and ``avg_first_last`` only.
    """
    if pooler_type in ("cls", "cls_before_pooler"):
        # The first *real* token (the CLS token with left or right padding); computed without a
        # data-dependent branch so training steps do not wait on the device.
        first = (mask.long().cumsum(dim=1) == 1).long().argmax(dim=1)
        return last_hidden[torch.arange(last_hidden.shape[0], device=mask.device), first]
    if pooler_type == "avg":
        return masked_mean(last_hidden, mask)
    if pooler_type == "max":
        neg = torch.finfo(last_hidden.dtype).min
        return last_hidden.masked_fill(~mask.bool().unsqueeze(-1), neg).max(dim=1).values
    if pooler_type == "last":
        idx = last_token_index(mask)
        return last_hidden[torch.arange(last_hidden.shape[0], device=mask.device), idx]
    if pooler_type in NEEDS_HIDDEN_STATES:
        # (embedding output, layer 1, ..., layer N): avg_top2 needs two layers, avg_first_last one.
        needed = 3 if pooler_type == "avg_top2" else 2
        if hidden_states is None or len(hidden_states) < needed:
            have = "no hidden states" if hidden_states is None else f"{len(hidden_states) - 1} layer(s)"
            raise ValueError(f"pooler {pooler_type!r} needs the backbone's hidden states of {needed - 1} or more layers; got {have}")
        a, b = (hidden_states[-2], hidden_states[-1]) if pooler_type == "avg_top2" else (hidden_states[1], hidden_states[-1])
        if a.shape[-1] != b.shape[-1]:  # OPT models whose project_out resizes the last layer only (opt-350m)
            raise ValueError(
                f"pooler {pooler_type!r} averages layers of different widths ({a.shape[-1]} and {b.shape[-1]}): this "
                "backbone projects its last layer; use avg, max, last or cls_before_pooler"
            )
        return masked_mean((a + b) / 2.0, mask)
    raise ValueError(f"unknown pooler {pooler_type!r}; choose one of {', '.join(POOLERS)}")


class MLPHead(nn.Module):
    """SimCSE's MLP over the CLS vector: Linear(in, out) followed by an activation (Tanh)."""

    def __init__(self, in_features: int, out_features: int | None = None, activation: str = "tanh"):
        super().__init__()
        out_features = out_features or in_features
        self.dense = nn.Linear(in_features, out_features)
        self.activation_name = activation
        self.activation = _activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.dense(x))

    def config(self) -> dict[str, Any]:
        return {
            "in_features": self.dense.in_features,
            "out_features": self.dense.out_features,
            "activation": self.activation_name,
        }


_ACTIVATIONS = {
    "tanh": nn.Tanh,
    "identity": nn.Identity,
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid,
}

# sentence-transformers writes activations as import paths.
ST_ACTIVATIONS = {
    "torch.nn.modules.activation.Tanh": "tanh",
    "torch.nn.modules.linear.Identity": "identity",
    "torch.nn.modules.activation.ReLU": "relu",
    "torch.nn.modules.activation.GELU": "gelu",
    "torch.nn.modules.activation.Sigmoid": "sigmoid",
}
ST_ACTIVATION_PATHS = {v: k for k, v in ST_ACTIVATIONS.items()}


def _activation(name: str) -> nn.Module:
    if name not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(_ACTIVATIONS)}")
    return _ACTIVATIONS[name]()
