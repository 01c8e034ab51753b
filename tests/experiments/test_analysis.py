"""simcse.experiments.analysis: alignment / uniformity against hand-computed values, and on STS-B with the real model."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from simcse.experiments.analysis import align_uniform, alignment, plot_align_uniform, stsb_analysis_data, uniformity


def test_alignment_hand_computed():
    # pairs: identical (distance 0) and orthogonal (squared distance 2) -> mean 1.0
    x = [[1.0, 0.0], [0.0, 1.0]]
    y = [[1.0, 0.0], [1.0, 0.0]]
    assert alignment(x, y) == pytest.approx(1.0)
    # opposite vectors: squared distance 4; alpha=1 gives the distance 2
    assert alignment([[0.0, 3.0]], [[0.0, -5.0]]) == pytest.approx(4.0)  # normalised first
    assert alignment([[0.0, 1.0]], [[0.0, -1.0]], alpha=1) == pytest.approx(2.0)
    assert alignment([[0.0, 3.0]], [[0.0, -5.0]], normalize=False) == pytest.approx(64.0)


def test_uniformity_hand_computed():
    # three unit vectors: squared distances (0,1)=2, (0,2)=4, (1,2)=2
    x = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    expected = math.log((2 * math.exp(-4) + math.exp(-8)) / 3)
    assert uniformity(x) == pytest.approx(expected, rel=1e-9)
    assert uniformity(torch.tensor(x) * 7) == pytest.approx(expected, rel=1e-6)  # scale-free after normalising
    # all equal -> every distance 0 -> log 1 = 0, the worst value
    assert uniformity([[0.3, 0.4]] * 5) == pytest.approx(0.0, abs=1e-7)
    # t=1 on two opposite points: log exp(-4)
    assert uniformity([[1.0, 0.0], [-1.0, 0.0]], t=1) == pytest.approx(-4.0)


def test_bad_shapes_name_the_problem():
    with pytest.raises(ValueError, match="same shape"):
        alignment([[1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="at least 2"):
        uniformity([[1.0, 0.0]])
    with pytest.raises(ValueError, match="2-d"):
        uniformity([1.0, 2.0])


def test_stsb_data_and_real_model(data_dir, minilm, tmp_path):
    data = stsb_analysis_data(data_dir / "SentEval-downstream", split="dev", max_pairs=120, max_sentences=300)
    assert len(data.pos_a) == len(data.pos_b) == 120 and len(data.sentences) == 300
    full = stsb_analysis_data(data_dir / "SentEval-downstream", split="dev")
    assert len(full.pos_a) > 200  # STS-B dev holds a few hundred pairs scored above 4
    m = align_uniform(minilm, data)
    # a trained sentence encoder: positive pairs close, the space spread out
    assert 0.05 < m["align"] < 0.8 and -4.0 < m["uniform"] < -1.0
    rnd = torch.nn.functional.normalize(torch.randn(300, 384), dim=-1)
    assert m["uniform"] > uniformity(rnd)  # a random Gaussian cloud is the most uniform
    out = tmp_path / "plot.png"
    plot_align_uniform([{"label": "a", **m}, {"label": "b", "align": m["align"] + 0.1, "uniform": m["uniform"] - 0.2}], out)
    assert out.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("kwargs, message", [
    ({"max_pairs": 0}, "max_pairs must be an integer >= 1, got 0"),  # was: empty pairs, an error naming "x"
    ({"max_pairs": -1}, "max_pairs must be an integer >= 1, got -1"),  # was: "Sample larger than population"
    ({"max_pairs": 2.5}, "max_pairs must be an integer >= 1, got 2.5"),
    ({"max_sentences": 1}, "max_sentences must be an integer >= 2, got 1"),  # uniformity needs a pair
    ({"max_sentences": 0}, "max_sentences must be an integer >= 2, got 0"),
])
def test_bad_sample_sizes_name_the_argument(data_dir, kwargs, message):
    with pytest.raises(ValueError, match=message):
        stsb_analysis_data(data_dir / "SentEval-downstream", split="dev", **kwargs)
    data = stsb_analysis_data(data_dir / "SentEval-downstream", split="dev", max_pairs=np.int64(3), max_sentences=2)
    assert len(data.pos_a) == 3 and len(data.sentences) == 2
