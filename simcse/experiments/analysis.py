"""Alignment and uniformity of an embedding space (Wang & Isola, 2020), as analysed in SimCSE (Sec. 5).

* alignment: ``E ||f(x) - f(x+)||^2`` over positive pairs (STS-B pairs scored above 4), lower is better;
* uniformity: ``log E exp(-2 ||f(x) - f(y)||^2)`` over all pairs of sentences, lower is better;

both over L2-normalised embeddings. :func:`stsb_analysis_data` reads the sentences from STS-B and
:func:`align_uniform` measures a model; ``examples/alignment_uniformity.py`` plots a training run.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from ..defaults import BATCH_SIZE
from ..evaluation.datadir import read_stsb


def _as_tensor(x: Any, name: str) -> torch.Tensor:
    t = x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    t = t.to(torch.float64 if t.dtype == torch.float64 else torch.float32)
    if t.ndim != 2 or t.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 2-d array [n, dim], got shape {tuple(t.shape)}")
    return t


def _normalize(t: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(t, dim=-1)


def alignment(x: Any, y: Any, alpha: float = 2.0, normalize: bool = True) -> float:
    """``mean_i ||x_i - y_i||^alpha``: how close the embeddings of positive pairs (rows of x and y) are."""
    a, b = _as_tensor(x, "x"), _as_tensor(y, "y")
    if a.shape != b.shape:
        raise ValueError(f"x and y must have the same shape (one row per positive pair), got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")
    if normalize:
        a, b = _normalize(a), _normalize(b)
    return float((a - b).norm(p=2, dim=1).pow(alpha).mean())


def uniformity(x: Any, t: float = 2.0, normalize: bool = True) -> float:
    """``log mean_{i<j} exp(-t ||x_i - x_j||^2)``: how evenly the embeddings spread over the sphere."""
    a = _as_tensor(x, "x")
    if a.shape[0] < 2:
        raise ValueError(f"uniformity needs at least 2 embeddings, got {a.shape[0]}")
    if normalize:
        a = _normalize(a)
    sq = torch.pdist(a.double(), p=2).pow(2)
    # log-mean-exp, stable for large t
    return float(torch.logsumexp(-t * sq, dim=0) - np.log(sq.numel()))


@dataclass
class AnalysisData:
    """Sentences to measure: positive pairs (for alignment) and a sentence set (for uniformity)."""

    pos_a: list[str]
    pos_b: list[str]
    sentences: list[str]


def stsb_analysis_data(
    data_dir: str | os.PathLike | None = None,
    split: str = "dev",
    min_score: float = 4.0,
    max_pairs: int | None = None,
    max_sentences: int | None = None,
    seed: int = 0,
) -> AnalysisData:
    """STS-B pairs with a gold score above ``min_score`` as positives, and all (distinct) STS-B
    sentences of ``split`` for uniformity; optionally a fixed random sample of each (``max_pairs``
    >= 1, ``max_sentences`` >= 2: uniformity needs a pair)."""
    for name, value, least in (("max_pairs", max_pairs, 1), ("max_sentences", max_sentences, 2)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least):
            raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    a, b, scores = read_stsb(data_dir, split=split)
    pos = [(x, y) for x, y, s in zip(a, b, scores) if s > min_score]
    if not pos:
        raise ValueError(f"STS-B {split} has no pair scored above {min_score}")
    sentences = list(dict.fromkeys(list(a) + list(b)))
    rng = random.Random(seed)
    if max_pairs is not None and len(pos) > max_pairs:
        pos = rng.sample(pos, max_pairs)
    if max_sentences is not None and len(sentences) > max_sentences:
        sentences = rng.sample(sentences, max_sentences)
    return AnalysisData([x for x, _ in pos], [y for _, y in pos], sentences)


def align_uniform(model: Any, data: AnalysisData, batch_size: int = BATCH_SIZE) -> dict[str, float]:
    """``{"align": ..., "uniform": ...}`` of ``model`` (anything with SimCSE's ``encode``) on ``data``."""
    enc = lambda s: model.encode(s, batch_size=batch_size, return_numpy=True, normalize_to_unit=True)  # noqa: E731
    return {
        "align": alignment(enc(data.pos_a), enc(data.pos_b)),
        "uniform": uniformity(enc(data.sentences)),
    }


def plot_align_uniform(
    points: Sequence[dict[str, Any]], path: str | os.PathLike, title: str = "l_align vs l_uniform"
) -> None:
    """Draw ``points`` (dicts with "label", "align", "uniform"), in order, as the SimCSE paper's figure:
    x = l_uniform, y = l_align, an arrow from each point to the next; saved as an image at ``path``."""
    import matplotlib  # the [examples] extra: only the plot needs it

    matplotlib.use("Agg")  # before pyplot is imported: draw to files, no display needed
    import matplotlib.pyplot as plt

    if not points:
        raise ValueError("nothing to plot: no points")
    xs = [p["uniform"] for p in points]
    ys = [p["align"] for p in points]
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=120)
    colors = plt.cm.viridis(np.linspace(0.1, 0.9, len(points)))
    ax.scatter(xs, ys, c=colors, s=60, zorder=3)
    for i in range(len(points) - 1):
        ax.annotate("", xy=(xs[i + 1], ys[i + 1]), xytext=(xs[i], ys[i]),
                    arrowprops={"arrowstyle": "->", "color": "0.35", "lw": 1.2}, zorder=2)
    for x, y, p in zip(xs, ys, points):
        ax.annotate(str(p["label"]), (x, y), textcoords="offset points", xytext=(6, 6), fontsize=8)
    ax.set_xlabel(r"$\ell_{uniform}$")
    ax.set_ylabel(r"$\ell_{align}$")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    pad_x = max(0.05, 0.15 * (max(xs) - min(xs)))
    pad_y = max(0.02, 0.15 * (max(ys) - min(ys)))
    ax.set_xlim(min(xs) - pad_x, max(xs) + pad_x * 2)
    ax.set_ylim(min(ys) - pad_y, max(ys) + pad_y * 2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
