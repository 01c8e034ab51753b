"""Matryoshka representation learning (Kusupati et al., 2022) for SimCSE.

``--matryoshka_dims 768 512 256 128 64`` trains the embeddings so that their first ``k``
dimensions are a usable embedding on their own: the loss is

    sum_k  w_k * InfoNCE(z[:, :k])

where ``z`` is the pooled embedding (after the MLP head when it is used) and each truncated
embedding is L2-normalised again inside the cosine. The negatives (gathered across DDP ranks once)
are the same at every size. At inference ``SimCSE(..., truncate_dim=k)`` / ``encode(...,
truncate_dim=k)`` keeps the first ``k`` dimensions; a trained model records its sizes in
``simcse_config.json`` (``extra["matryoshka_dims"]``).
"""
from __future__ import annotations

from typing import Sequence

import torch

from .distributed import all_gather_with_grad
from .loss import InfoNCELoss, info_nce_loss

CONFIG_KEY = "matryoshka_dims"
"""Key of :attr:`simcse.encoder.EncoderConfig.extra` holding the trained sizes."""


def check_matryoshka(
    dims: Sequence[int], weights: Sequence[float] | None = None, embedding_dim: int | None = None
) -> tuple[list[int], list[float]]:
    """Validate ``--matryoshka_dims`` / ``--matryoshka_weights``; returns them as lists (weights default to 1).

    Raises ``ValueError`` naming the offending value: a size that is not a positive integer, a size
    above ``embedding_dim``, repeated sizes, a number of weights different from the number of sizes,
    a negative / non-finite weight, or weights that are all 0.
    """
    dims = list(dims)
    if not dims:
        raise ValueError("--matryoshka_dims needs at least one size")
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, int) or d < 1:
            raise ValueError(f"--matryoshka_dims: {d!r} is not a positive integer")
        if embedding_dim is not None and d > embedding_dim:
            raise ValueError(f"--matryoshka_dims: {d} is larger than the embedding size {embedding_dim}")
    if len(set(dims)) != len(dims):
        raise ValueError(f"--matryoshka_dims: repeated sizes in {dims}")
    if weights is None or len(weights) == 0:
        weights = [1.0] * len(dims)
    weights = [float(w) for w in weights]
    if len(weights) != len(dims):
        raise ValueError(
            f"--matryoshka_weights: {len(weights)} weights {weights} for {len(dims)} sizes {dims}; give one per size"
        )
    for w in weights:
        if not (w >= 0 and w != float("inf")):
            raise ValueError(f"--matryoshka_weights: {w!r} is not a finite non-negative number")
    if not any(w > 0 for w in weights):
        raise ValueError(f"--matryoshka_weights: all weights {weights} are 0, so the loss would be 0 and nothing would train")
    return dims, weights


class MatryoshkaInfoNCELoss(InfoNCELoss):
    """:class:`~simcse.training.loss.InfoNCELoss` summed over truncations of the embeddings to ``dims``.

    Args:
        dims: sizes ``k`` (each at most the embedding size, checked on the first batch).
        weights: weight of each size's loss (default 1 each).
        temp, hard_negative_weight, gather: as for :class:`~simcse.training.loss.InfoNCELoss`.
    """

    def __init__(
        self,
        dims: Sequence[int],
        weights: Sequence[float] | None = None,
        temp: float = 0.05,
        hard_negative_weight: float = 0.0,
        gather: bool = True,
    ):
        super().__init__(temp, hard_negative_weight, gather)
        self.dims, self.weights = check_matryoshka(dims, weights)

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        if views.dim() != 3 or views.shape[1] not in (2, 3):
            raise ValueError(f"expected views of shape [batch, 2 or 3, dim], got {tuple(views.shape)}")
        check_matryoshka(self.dims, self.weights, views.shape[-1])
        if self.gather:
            views = all_gather_with_grad(views)
        total = views.new_zeros((), dtype=torch.float32)
        for k, w in zip(self.dims, self.weights):
            z = views[..., :k]
            z3 = z[:, 2] if z.shape[1] == 3 else None
            total = total + w * info_nce_loss(z[:, 0], z[:, 1], z3, self.temp, self.hard_negative_weight)
        return total

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, dims={self.dims}, weights={self.weights}"
