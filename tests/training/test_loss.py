"""The InfoNCE loss against sentence-transformers' MultipleNegativesRankingLoss and the paper's formula."""
from __future__ import annotations

import math

import pytest
import torch

from simcse.training.loss import InfoNCELoss, contrastive_logits, info_nce_loss


def _embeddings(b: int = 6, d: int = 16, views: int = 2, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(b, d, generator=g) for _ in range(views)]


@pytest.mark.parametrize("views", [2, 3])
@pytest.mark.parametrize("temp", [0.05, 0.1, 1.0])
def test_matches_multiple_negatives_ranking_loss(views, temp):
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    z = _embeddings(views=views)
    mnrl = MultipleNegativesRankingLoss(model=None, scale=1.0 / temp)
    expected = mnrl.compute_loss_from_embeddings(z, labels=None)
    ours = info_nce_loss(*z, temp=temp)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)
    assert ours.item() > 0


def _paper_loss(z1, z2, z3, temp, alpha):
    """Eq. (5) of the paper with the hard-negative term of anchor i weighted by alpha, written out."""
    cos = torch.nn.functional.cosine_similarity
    total = 0.0
    b = z1.shape[0]
    for i in range(b):
        num = math.exp(cos(z1[i], z2[i], dim=0).item() / temp)
        den = 0.0
        for j in range(b):
            den += math.exp(cos(z1[i], z2[j], dim=0).item() / temp)
            w = alpha if i == j else 1.0
            den += w * math.exp(cos(z1[i], z3[j], dim=0).item() / temp)
        total += -math.log(num / den)
    return total / b


@pytest.mark.parametrize("alpha", [1.0, 0.5, 2.0])
def test_hard_negative_weight_is_log_alpha(alpha):
    z1, z2, z3 = _embeddings(b=5, views=3, seed=1)
    ours = info_nce_loss(z1, z2, z3, temp=0.1, hard_negative_weight=math.log(alpha)).item()
    assert ours == pytest.approx(_paper_loss(z1, z2, z3, 0.1, alpha), rel=1e-5)


def test_hard_negative_weight_only_on_own_negative():
    z1, z2, z3 = _embeddings(b=4, views=3, seed=2)
    plain = contrastive_logits(z1, z2, z3, temp=0.05)
    weighted = contrastive_logits(z1, z2, z3, temp=0.05, hard_negative_weight=0.7)
    diff = weighted - plain
    expected = torch.zeros_like(diff)
    expected[:, 4:] = 0.7 * torch.eye(4)
    torch.testing.assert_close(diff, expected)


def test_module_on_views_tensor_and_gradients():
    z = torch.stack(_embeddings(b=8, views=3, seed=3), dim=1).requires_grad_(True)
    loss_fn = InfoNCELoss(temp=0.05, hard_negative_weight=0.0)
    loss = loss_fn(z)
    torch.testing.assert_close(loss, info_nce_loss(z[:, 0], z[:, 1], z[:, 2], temp=0.05))
    loss.backward()
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


def test_identical_views_give_lower_loss_than_random():
    z1 = _embeddings(b=16, seed=4)[0]
    assert info_nce_loss(z1, z1.clone(), temp=0.05) < info_nce_loss(*_embeddings(b=16, seed=5), temp=0.05)


@pytest.mark.parametrize("temp", [0.0, -0.1])
def test_bad_temperature(temp):
    with pytest.raises(ValueError, match="temp must be > 0"):
        InfoNCELoss(temp=temp)


def test_bad_views_shape():
    with pytest.raises(ValueError, match=r"\[batch, 2 or 3, dim\]"):
        InfoNCELoss()(torch.randn(4, 4, 8))


def test_half_precision_inputs_are_computed_in_float32():
    z1, z2 = _embeddings(b=6, seed=6)
    half = info_nce_loss(z1.half(), z2.half(), temp=0.05)
    assert half.dtype == torch.float32
    assert half.item() == pytest.approx(info_nce_loss(z1, z2, temp=0.05).item(), rel=1e-2)


def test_logits_stay_float32_under_autocast():
    z1, z2 = _embeddings(b=6, seed=7)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = contrastive_logits(z1, z2, temp=0.05)
    assert logits.dtype == torch.float32
    torch.testing.assert_close(logits, contrastive_logits(z1, z2, temp=0.05))
