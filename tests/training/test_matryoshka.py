"""Matryoshka loss: the weighted sum of InfoNCE losses over truncated, renormalised embeddings."""
from __future__ import annotations

import pytest
import torch

from simcse.training.matryoshka import MatryoshkaInfoNCELoss, check_matryoshka


def _hand_info_nce(z1: torch.Tensor, z2: torch.Tensor, z3: torch.Tensor | None, temp: float, w: float) -> torch.Tensor:
    """Cross-entropy written out per anchor, from cosines computed with explicit norms."""
    n = z1.shape[0]
    keys = z2 if z3 is None else torch.cat([z2, z3])
    total = torch.zeros((), dtype=torch.float64)
    for i in range(n):
        cos = torch.stack([(z1[i] @ k) / (z1[i].norm() * k.norm()) for k in keys]).double() / temp
        if z3 is not None:
            cos[n + i] += w
        total = total - (cos[i] - torch.logsumexp(cos, 0))
    return total / n


@pytest.mark.parametrize("views,weight", [(2, 0.0), (3, 0.4)])
def test_loss_equals_hand_computed_weighted_sum(views, weight):
    torch.manual_seed(0)
    z = torch.randn(6, views, 24, dtype=torch.float64)
    dims, weights = [24, 12, 5], [1.0, 0.5, 2.0]
    loss = MatryoshkaInfoNCELoss(dims, weights, temp=0.1, hard_negative_weight=weight, gather=False)(z)
    expected = sum(
        wk * _hand_info_nce(z[:, 0, :k], z[:, 1, :k], z[:, 2, :k] if views == 3 else None, 0.1, weight)
        for k, wk in zip(dims, weights)
    )
    torch.testing.assert_close(loss.double(), expected, atol=1e-5, rtol=1e-5)
    # Truncation really changes the loss: the full-size term alone differs.
    full_only = MatryoshkaInfoNCELoss([24], temp=0.1, hard_negative_weight=weight, gather=False)(z)
    assert abs(float(full_only) - float(loss)) > 1e-3


def test_default_weights_are_one_and_gradients_flow():
    z = torch.randn(4, 2, 8, requires_grad=True)
    loss = MatryoshkaInfoNCELoss([8, 4], gather=False)(z)
    a = MatryoshkaInfoNCELoss([8], gather=False)(z) + MatryoshkaInfoNCELoss([4], gather=False)(z)
    torch.testing.assert_close(loss, a)
    loss.backward()
    assert z.grad is not None and z.grad[..., 4:].abs().sum() > 0


@pytest.mark.parametrize(
    "dims,weights,dim,message",
    [
        ([], None, None, "at least one size"),
        ([8, 0], None, None, "0 is not a positive integer"),
        ([8, 8], None, None, "repeated sizes"),
        ([8, 4], [1.0], None, "1 weights"),
        ([8, 4], [1.0, -1.0], None, "-1.0 is not a finite non-negative number"),
        ([768, 64], None, 384, "768 is larger than the embedding size 384"),
        ([8, 4], [0, 0.0], None, r"all weights \[0.0, 0.0\] are 0, so the loss would be 0"),
    ],
)
def test_bad_settings_are_named(dims, weights, dim, message):
    with pytest.raises(ValueError, match=message):
        check_matryoshka(dims, weights, dim)


def test_size_above_embedding_named_at_forward():
    with pytest.raises(ValueError, match="16 is larger than the embedding size 8"):
        MatryoshkaInfoNCELoss([16, 4], gather=False)(torch.randn(3, 2, 8))
