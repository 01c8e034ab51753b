"""Semantic textual similarity: STS12-16, STS-B and SICK-R, scored as SentEval (and SimCSE) score them.

Protocol (SentEval's ``sts.py`` as modified by SimCSE):

- STS12-STS16: every subset (e.g. STS12 ``MSRpar``) is scored by the cosine similarity of the two
  sentence embeddings; pairs whose gold line is blank are dropped. Per subset we report Pearson and
  Spearman; the task aggregates are ``all`` (one correlation over all subsets concatenated, the
  number SimCSE's paper and ``evaluation.py`` print), ``mean`` (plain mean over subsets) and
  ``wmean`` (mean weighted by the subsets' pair counts). STS13 has no SMT subset (as in SentEval).
- STSBenchmark and SICKRelatedness: Spearman/Pearson of raw cosine against gold on a split (test in
  ``test``/``fasttest`` mode, dev in ``dev`` mode); no regressor, no training (SimCSE's setting).
- ``STSBenchmark-finetune`` / ``SICKRelatedness-finetune``: SentEval's supervised variant: a softmax
  regressor on ``[|u-v|, u*v]`` trained on train, early-stopped on dev Spearman, tested on test
  (see :func:`fit_relatedness`); each split in SentEval's order (sorted by the two sentences' token
  counts, then score), on which its mini-batches depend.

Correlations are computed on float64 cosines with :func:`scipy.stats.pearsonr` / ``spearmanr``.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
from scipy.stats import pearsonr, spearmanr

from .datadir import Pairs, read_sick, read_stsb, read_sts_year, senteval_text

Lookup = Callable[[Sequence[str]], np.ndarray]
"""Maps sentences to their embeddings (rows in the same order)."""


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two [N, d] arrays (float64)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    return (a * b).sum(axis=1) / np.maximum(na * nb, 1e-300)


def correlations(sys_scores: Sequence[float], gold: Sequence[float]) -> dict[str, float]:
    """Pearson and Spearman correlation of system scores with gold scores, and the pair count."""
    sys_scores = np.asarray(sys_scores, dtype=np.float64)
    gold = np.asarray(gold, dtype=np.float64)
    if len(sys_scores) < 2:
        raise ValueError(f"need at least 2 scored pairs to correlate, got {len(sys_scores)}")
    return {
        "pearson": float(pearsonr(sys_scores, gold)[0]),
        "spearman": float(spearmanr(sys_scores, gold)[0]),
        "n": int(len(sys_scores)),
    }


def aggregate(subsets: Mapping[str, dict[str, float]], all_sys: Sequence[float], all_gold: Sequence[float]) -> dict:
    """SentEval's three aggregations over subsets: ``all`` (concatenated), ``mean`` and ``wmean``."""
    weights = np.array([s["n"] for s in subsets.values()], dtype=np.float64)
    out: dict[str, dict[str, float]] = {}
    concat = correlations(all_sys, all_gold)
    for metric in ("pearson", "spearman"):
        vals = np.array([s[metric] for s in subsets.values()], dtype=np.float64)
        out[metric] = {
            "all": concat[metric],
            "mean": float(vals.mean()),
            "wmean": float(np.average(vals, weights=weights)),
        }
    return out


@dataclass
class STSYearTask:
    """STS12..STS16: several subsets, cosine scored, ``all``/``mean``/``wmean`` aggregated."""

    name: str
    data_dir: str | None = None

    def load(self, mode: str = "test") -> None:
        self.data: dict[str, Pairs] = read_sts_year(self.name, self.data_dir)

    def sentences(self, mode: str) -> list[str]:
        return [s for s1, s2, _ in self.data.values() for s in (*s1, *s2)]

    def run(self, lookup: Lookup, mode: str, seed: int = 1111) -> dict:
        subsets: dict[str, dict[str, float]] = {}
        all_sys: list[np.ndarray] = []
        all_gold: list[float] = []
        for name, (s1, s2, gold) in self.data.items():
            sims = cosine_rows(lookup(s1), lookup(s2))
            subsets[name] = correlations(sims, gold)
            all_sys.append(sims)
            all_gold.extend(gold)
        agg = aggregate(subsets, np.concatenate(all_sys), all_gold)
        return {"subsets": subsets, "all": agg, "main": agg["spearman"]["all"]}


def _split_for(mode: str) -> str:
    return "dev" if mode == "dev" else "test"


def read_pair_split(task: str, split: str, data_dir: str | None) -> Pairs:
    """(s1, s2, gold) of STSBenchmark or SICKRelatedness for one split, SentEval-normalised."""
    if task == "STSBenchmark":
        s1, s2, gold = read_stsb(data_dir, split)
        return [senteval_text(s) for s in s1], [senteval_text(s) for s in s2], gold
    if task == "SICKRelatedness":
        s1, s2, gold, _ = read_sick(data_dir, split)
        return s1, s2, gold
    raise ValueError(f"unknown pair task {task!r}")


@dataclass
class STSPairTask:
    """STSBenchmark / SICKRelatedness scored by raw cosine on the evaluated split (no training)."""

    name: str
    data_dir: str | None = None

    def load(self, mode: str = "test") -> None:
        split = _split_for(mode)
        self.data = {split: read_pair_split(self.name, split, self.data_dir)}

    def sentences(self, mode: str) -> list[str]:
        s1, s2, _ = self.data[_split_for(mode)]
        return [*s1, *s2]

    def run(self, lookup: Lookup, mode: str, seed: int = 1111) -> dict:
        split = _split_for(mode)
        s1, s2, gold = self.data[split]
        res = correlations(cosine_rows(lookup(s1), lookup(s2)), gold)
        return {split: res, "main": res["spearman"]}


# ---------------------------------------------------------------------- supervised relatedness
def encode_relatedness_labels(scores: Sequence[float], nclasses: int) -> np.ndarray:
    """Tai et al.'s sparse target distribution over integer scores 1..nclasses (as SentEval)."""
    y = np.zeros((len(scores), nclasses), dtype=np.float32)
    for j, s in enumerate(scores):
        fl = np.floor(s)
        for i in range(nclasses):
            if i + 1 == fl + 1:
                y[j, i] = s - fl
            if i + 1 == fl:
                y[j, i] = fl - s + 1
    return y


def fit_relatedness(
    train_x: np.ndarray,
    train_scores: Sequence[float],
    dev_x: np.ndarray,
    dev_scores: Sequence[float],
    test_x: np.ndarray,
    nclasses: int = 5,
    seed: int = 1111,
    batch_size: int = 64,
    max_epoch: int = 1000,
    epochs_per_round: int = 50,
    tenacity: int = 3,
) -> tuple[float, np.ndarray]:
    """SentEval's relatedness regressor: Linear + Softmax over score classes, MSE to the target
    distribution, Adam; every 50 epochs the dev Spearman of the expected score decides early
    stopping. Returns (best dev Spearman, predicted test scores)."""
    rng = np.random.RandomState(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = torch.nn.Sequential(torch.nn.Linear(train_x.shape[1], nclasses), torch.nn.Softmax(dim=-1))
    optimizer = torch.optim.Adam(model.parameters(), weight_decay=0.0)
    loss_fn = torch.nn.MSELoss()
    x = torch.from_numpy(np.asarray(train_x, dtype=np.float32))
    y = torch.from_numpy(encode_relatedness_labels(train_scores, nclasses))
    dx = torch.from_numpy(np.asarray(dev_x, dtype=np.float32))
    tx = torch.from_numpy(np.asarray(test_x, dtype=np.float32))
    r = np.arange(1, nclasses + 1, dtype=np.float64)
    best, best_model, count, nepoch = -1.0, copy.deepcopy(model), 0, 0
    while nepoch <= max_epoch:
        model.train()
        for _ in range(epochs_per_round):
            perm = torch.from_numpy(rng.permutation(len(x)))
            for i in range(0, len(x), batch_size):
                idx = perm[i : i + batch_size]
                loss = loss_fn(model(x[idx]), y[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        nepoch += epochs_per_round
        model.eval()
        with torch.no_grad():
            yhat = model(dx).double().numpy() @ r
        sp = spearmanr(yhat, dev_scores)[0]
        sp = 0.0 if sp != sp else float(sp)
        if sp > best:
            best, best_model = sp, copy.deepcopy(model)
        else:
            if count >= tenacity:
                break
            count += 1
    best_model.eval()
    with torch.no_grad():
        return best, best_model(tx).double().numpy() @ r


def pair_features(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """SentEval's pair features for MRPC and the relatedness regressor: ``[|u - v|, u * v]``."""
    return np.concatenate([np.abs(u - v), u * v], axis=1)


def _sorted_pairs(pairs: Pairs) -> Pairs:
    """SentEval sorts each split by (tokens of s1, tokens of s2, score) before training the regressor;
    the mini-batches (index permutations of that order) depend on it."""
    order = sorted(zip(*pairs), key=lambda z: (len(z[0].split()), len(z[1].split()), z[2]))
    return [a for a, _, _ in order], [b for _, b, _ in order], [g for _, _, g in order]


@dataclass
class STSFinetuneTask:
    """``STSBenchmark-finetune`` / ``SICKRelatedness-finetune``: SentEval's trained regressor."""

    name: str
    data_dir: str | None = None

    @property
    def base(self) -> str:
        return self.name.replace("-finetune", "")

    def load(self, mode: str = "test") -> None:
        self.data = {split: _sorted_pairs(read_pair_split(self.base, split, self.data_dir))
                     for split in ("train", "dev", "test")}

    def sentences(self, mode: str) -> list[str]:
        return [s for s1, s2, _ in self.data.values() for s in (*s1, *s2)]

    def run(self, lookup: Lookup, mode: str, seed: int = 1111) -> dict:
        feats = {}
        for split, (s1, s2, _) in self.data.items():
            feats[split] = pair_features(lookup(s1), lookup(s2))
        dev_sp, yhat = fit_relatedness(
            feats["train"], self.data["train"][2], feats["dev"], self.data["dev"][2], feats["test"], seed=seed
        )
        test = correlations(yhat, self.data["test"][2])
        return {"dev": {"spearman": dev_sp}, "test": test, "main": dev_sp if mode == "dev" else test["spearman"]}
