"""SimCSE's contrastive objective (InfoNCE over in-batch negatives, optional hard negatives).

For a batch of ``B`` examples with views ``z1`` (anchors), ``z2`` (positives) and optionally
``z3`` (hard negatives), the logits of anchor ``i`` are

    [cos(z1_i, z2_j) / temp for j in 1..B]  ++  [cos(z1_i, z3_j) / temp + w * [i == j] for j in 1..B]

and the loss is the cross-entropy with target ``j = i``, averaged over anchors.

Hard-negative weight: the paper weights the matching hard negative's term in the denominator by
``alpha`` (``alpha * exp(cos(h_i, h_i^-)/temp)``); SimCSE's code implements this by *adding*
``hard_negative_weight`` to that logit ("weights are actually logits of weights"), so the flag is
``log(alpha)``: ``--hard_negative_weight 0`` (the released setting) means ``alpha = 1``. We keep the
code's meaning so the original command lines behave the same.

Under DDP the views are gathered from all ranks first (see :mod:`simcse.training.distributed`), so the
negatives are the global batch and the loss equals the single-process loss on ``world * B``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .distributed import all_gather_with_grad


def contrastive_logits(
    z1: torch.Tensor,
    z2: torch.Tensor,
    z3: torch.Tensor | None = None,
    temp: float = 0.05,
    hard_negative_weight: float = 0.0,
) -> torch.Tensor:
    """Logits ``[B, B]`` (or ``[B, 2B]`` with hard negatives ``z3``) of cosine similarity / ``temp``.

    Computed in float32 even under fp16/bf16 autocast (the logits reach 1/temp = 20).
    """
    with torch.autocast(device_type=z1.device.type, enabled=False):
        z1 = F.normalize(z1.float(), dim=-1)
        keys = z2 if z3 is None else torch.cat([z2, z3], dim=0)
        keys = F.normalize(keys.float(), dim=-1)
        logits = z1 @ keys.T / temp
    if z3 is not None and hard_negative_weight != 0.0:
        b = z1.shape[0]
        # Add w on the diagonal of the hard-negative block (the anchor's own hard negative).
        bonus = torch.zeros_like(logits)
        bonus[:, b:].diagonal().fill_(hard_negative_weight)
        logits = logits + bonus
    return logits


def info_nce_loss(
    z1: torch.Tensor,
    z2: torch.Tensor,
    z3: torch.Tensor | None = None,
    temp: float = 0.05,
    hard_negative_weight: float = 0.0,
) -> torch.Tensor:
    """Mean cross-entropy of each anchor against its positive among all positives (and hard negatives)."""
    logits = contrastive_logits(z1, z2, z3, temp, hard_negative_weight)
    labels = torch.arange(z1.shape[0], device=logits.device)
    return F.cross_entropy(logits, labels)


class InfoNCELoss(nn.Module):
    """SimCSE's loss on a ``[B, V, H]`` tensor of views (V = 2: anchor, positive; V = 3: + hard negative).

    Args:
        temp: softmax temperature (> 0); the paper uses 0.05.
        hard_negative_weight: ``log(alpha)`` added to each anchor's own hard-negative logit.
        gather: gather the views of all DDP ranks so negatives span the global batch.
    """

    def __init__(self, temp: float = 0.05, hard_negative_weight: float = 0.0, gather: bool = True):
        super().__init__()
        if not temp > 0:
            raise ValueError(f"temp must be > 0, got {temp!r}")
        self.temp = float(temp)
        self.hard_negative_weight = float(hard_negative_weight)
        self.gather = gather

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        if views.dim() != 3 or views.shape[1] not in (2, 3):
            raise ValueError(f"expected views of shape [batch, 2 or 3, dim], got {tuple(views.shape)}")
        if self.gather:
            views = all_gather_with_grad(views)
        z3 = views[:, 2] if views.shape[1] == 3 else None
        return info_nce_loss(views[:, 0], views[:, 1], z3, self.temp, self.hard_negative_weight)

    def extra_repr(self) -> str:
        return f"temp={self.temp}, hard_negative_weight={self.hard_negative_weight}, gather={self.gather}"
