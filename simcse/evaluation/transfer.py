"""Transfer tasks (MR, CR, SUBJ, MPQA, SST2, TREC, MRPC): a logistic-regression probe on frozen embeddings.

The protocol is SentEval's with ``usepytorch=True`` and ``nhid=0``, as SimCSE's ``evaluation.py``
configures it:

==========  =====  ========  ==========  ========  ==========  =========
mode        kfold  optim     batch size  tenacity  epoch_size  max_epoch
==========  =====  ========  ==========  ========  ==========  =========
test        10     adam      64          5         4           200
fasttest    5      rmsprop   128         3         2           200
dev         5      rmsprop   128         3         2           200
==========  =====  ========  ==========  ========  ==========  =========

- The probe is ``Linear(dim, nclasses)`` trained with mean cross-entropy; the L2 penalty (the
  optimizer's ``weight_decay``, on weight and bias) is searched over ``1e-5, 1e-4, 1e-3, 1e-2``.
  Training runs ``epoch_size`` passes over shuffled mini-batches, then scores the validation data;
  it stops after ``tenacity + 1`` scorings that do not improve on the best (not necessarily in a
  row), or at ``max_epoch``; the best-scoring weights are kept.
- MR, CR, SUBJ, MPQA: nested cross-validation: an outer stratified ``kfold`` split (seed 1111); on
  each outer training part an inner stratified ``kfold`` split chooses the L2 penalty (the inner
  fold is the validation data); the chosen model is retrained on the outer training part with 5 %
  held out for early stopping and tested on the outer fold. ``devacc`` = mean best inner score,
  ``acc`` = mean outer test accuracy.
- SST2: train / dev / test: each penalty is trained on train and early-stopped on dev; the best dev
  accuracy chooses the penalty; ``acc`` is that model's test accuracy.
- TREC, MRPC: stratified ``kfold`` cross-validation on train chooses the penalty (``devacc``); the
  final model is retrained on all of train with 5 % held out and tested on test. MRPC's features are
  SentEval's ``[|u - v|, u * v]``, and MRPC also reports F1 of the positive class.
- Data order, seeds (numpy ``RandomState(1111)`` per classifier, ``torch.manual_seed(1111)`` for the
  initial weights) and rounding (scores in percent, 2 decimals) follow SentEval, so the folds, the
  initial weights and the mini-batch order are SentEval's. The four penalties of one split share the
  seed, hence the initial weights and the batch order, so they are trained together as one batched
  model (exactly the same arithmetic, about four times fewer steps); the gradient is written out
  (softmax minus one-hot) instead of autograd. Embeddings are used as the model returns them
  (SimCSE's batcher does not normalise them).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold

from .datadir import read_binary, read_mrpc, read_sst2, read_trec
from .sts import pair_features

Lookup = Callable[[Sequence[str]], np.ndarray]
REGS: tuple[float, ...] = (1e-5, 1e-4, 1e-3, 1e-2)


@dataclass(frozen=True)
class ProbeConfig:
    """Classifier settings (SentEval's ``params['classifier']`` plus ``kfold``)."""

    kfold: int
    optim: str
    batch_size: int
    tenacity: int
    epoch_size: int
    max_epoch: int = 200


PROBE_CONFIGS = {
    "test": ProbeConfig(kfold=10, optim="adam", batch_size=64, tenacity=5, epoch_size=4),
    "fasttest": ProbeConfig(kfold=5, optim="rmsprop", batch_size=128, tenacity=3, epoch_size=2),
    "dev": ProbeConfig(kfold=5, optim="rmsprop", batch_size=128, tenacity=3, epoch_size=2),
}


def probe_config(mode: str) -> ProbeConfig:
    """The classifier settings of an evaluation mode (``test``, ``fasttest`` or ``dev``)."""
    if mode not in PROBE_CONFIGS:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(PROBE_CONFIGS)}")
    return PROBE_CONFIGS[mode]


# ---------------------------------------------------------------------- the batched probe
class _Optimizer:
    """torch's Adam / RMSprop (default hyper-parameters) on one tensor, L2 penalty per model row."""

    def __init__(self, name: str, param: torch.Tensor, wd: torch.Tensor):
        if name not in ("adam", "rmsprop"):
            raise ValueError(f"unknown optimizer {name!r}; choose adam or rmsprop")
        self.name, self.p, self.wd, self.t = name, param, wd, 0
        self.m = torch.zeros_like(param)
        self.v = torch.zeros_like(param)

    def step(self, grad: torch.Tensor) -> None:
        grad = grad.add_(self.p * self.wd)
        self.t += 1
        if self.name == "rmsprop":  # lr 1e-2, alpha 0.99, eps 1e-8
            self.v.mul_(0.99).addcmul_(grad, grad, value=0.01)
            self.p.addcdiv_(grad, self.v.sqrt().add_(1e-8), value=-1e-2)
        else:  # adam: lr 1e-3, betas (0.9, 0.999), eps 1e-8
            self.m.lerp_(grad, 0.1)
            self.v.mul_(0.999).addcmul_(grad, grad, value=0.001)
            bc1 = 1 - 0.9**self.t
            bc2 = math.sqrt(1 - 0.999**self.t)
            self.p.addcdiv_(self.m, self.v.sqrt().div_(bc2).add_(1e-8), value=-1e-3 / bc1)


def _with_bias(x: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    return torch.cat([x, torch.ones(len(x), 1)], dim=1)


class Probe:
    """Logistic-regression probes for several L2 penalties trained together (see the module doc).

    ``weights`` has shape [n_penalties, nclasses, dim + 1] (the bias is the last column).
    """

    def __init__(self, dim: int, nclasses: int, regs: Sequence[float], config: ProbeConfig, seed: int = 1111):
        self.config, self.seed, self.nclasses = config, seed, nclasses
        self.rng = np.random.RandomState(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            lin = torch.nn.Linear(dim, nclasses)
        w = torch.cat([lin.weight.detach(), lin.bias.detach()[:, None]], dim=1)
        self.weights = w.unsqueeze(0).repeat(len(regs), 1, 1).contiguous()
        self.wd = torch.tensor(list(regs), dtype=torch.float32).view(-1, 1, 1)

    def _scores(self, x: torch.Tensor, weights: torch.Tensor, y: torch.Tensor) -> list[float]:
        pred = torch.matmul(x, weights.transpose(1, 2)).argmax(dim=2)  # [R, N]
        return ((pred == y).sum(dim=1).double() / len(y)).tolist()

    def fit(self, x: np.ndarray, y: np.ndarray, valid: tuple[np.ndarray, np.ndarray] | None = None,
            validation_split: float | None = None) -> list[float]:
        """Train with early stopping on ``valid`` (or a ``validation_split`` share held out);
        returns the best validation accuracy of each penalty and keeps those weights."""
        cfg = self.config
        if valid is None:
            if not validation_split:
                raise ValueError("fit needs valid data or a validation_split")
            perm = self.rng.permutation(len(x))
            cut = int(validation_split * len(x))
            valid = (x[perm[:cut]], y[perm[:cut]])
            x, y = x[perm[cut:]], y[perm[cut:]]
        xt, yt = _with_bias(x), torch.from_numpy(np.asarray(y, dtype=np.int64))
        xv, yv = _with_bias(valid[0]), torch.from_numpy(np.asarray(valid[1], dtype=np.int64))
        n_models = self.weights.shape[0]
        opt = _Optimizer(cfg.optim, self.weights, self.wd)
        best = [-1.0] * n_models
        best_w = self.weights.clone()
        count = [0] * n_models
        stopped = [False] * n_models
        nepoch = 0
        n = len(xt)
        while not all(stopped) and nepoch <= cfg.max_epoch:
            for _ in range(cfg.epoch_size):
                perm = torch.from_numpy(self.rng.permutation(n))
                for i in range(0, n, cfg.batch_size):
                    idx = perm[i : i + cfg.batch_size]
                    xb, yb = xt[idx], yt[idx]
                    g = torch.softmax(torch.matmul(xb, self.weights.transpose(1, 2)), dim=2)  # [R, B, C]
                    g[:, torch.arange(len(idx)), yb] -= 1.0
                    g.div_(len(idx))
                    opt.step(torch.matmul(g.transpose(1, 2), xb))
            nepoch += cfg.epoch_size
            accs = self._scores(xv, self.weights, yv)
            for r, acc in enumerate(accs):
                if stopped[r]:
                    continue
                if acc > best[r]:
                    best[r] = acc
                    best_w[r] = self.weights[r]
                else:
                    if count[r] >= cfg.tenacity:
                        stopped[r] = True
                    count[r] += 1
        self.weights = best_w
        return best

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted classes [n_penalties, N]."""
        return torch.matmul(_with_bias(x), self.weights.transpose(1, 2)).argmax(dim=2).numpy()

    def score(self, x: np.ndarray, y: np.ndarray) -> list[float]:
        """Accuracy of each penalty's kept weights on (x, y)."""
        return self._scores(_with_bias(x), self.weights, torch.from_numpy(np.asarray(y, dtype=np.int64)))


def _pct(x: float) -> float:
    return round(100 * float(x), 2)


def inner_kfold(x: np.ndarray, y: np.ndarray, nclasses: int, config: ProbeConfig, seed: int = 1111) -> dict:
    """SentEval's ``InnerKFoldClassifier`` (MR, CR, SUBJ, MPQA): nested cross-validation."""
    outer = StratifiedKFold(n_splits=config.kfold, shuffle=True, random_state=seed)
    inner = StratifiedKFold(n_splits=config.kfold, shuffle=True, random_state=seed)
    dev_results, test_results, chosen = [], [], []
    for train_idx, test_idx in outer.split(x, y):
        x_tr, y_tr = x[train_idx], y[train_idx]
        fold_scores = np.zeros((len(REGS), config.kfold))
        for j, (a, b) in enumerate(inner.split(x_tr, y_tr)):
            probe = Probe(x.shape[1], nclasses, REGS, config, seed)
            fold_scores[:, j] = probe.fit(x_tr[a], y_tr[a], valid=(x_tr[b], y_tr[b]))
        scores = [_pct(np.mean(s)) for s in fold_scores]
        best = int(np.argmax(scores))
        dev_results.append(np.max(scores))
        probe = Probe(x.shape[1], nclasses, [REGS[best]], config, seed)
        probe.fit(x_tr, y_tr, validation_split=0.05)
        test_results.append(_pct(probe.score(x[test_idx], y[test_idx])[0]))
        chosen.append(REGS[best])
    return {"devacc": round(float(np.mean(dev_results)), 2), "acc": round(float(np.mean(test_results)), 2),
            "fold_acc": test_results, "l2reg": chosen}


def kfold_then_test(train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray], nclasses: int,
                    config: ProbeConfig, seed: int = 1111) -> tuple[dict, np.ndarray]:
    """SentEval's ``KFoldClassifier`` (TREC, MRPC): CV on train picks the penalty, then test.
    Returns the scores and the test predictions."""
    x, y = train
    skf = StratifiedKFold(n_splits=config.kfold, shuffle=True, random_state=seed)
    fold_scores = np.zeros((len(REGS), config.kfold))
    for j, (a, b) in enumerate(skf.split(x, y)):
        probe = Probe(x.shape[1], nclasses, REGS, config, seed)
        fold_scores[:, j] = probe.fit(x[a], y[a], valid=(x[b], y[b]))
    scores = [_pct(np.mean(s)) for s in fold_scores]
    best = int(np.argmax(scores))
    probe = Probe(x.shape[1], nclasses, [REGS[best]], config, seed)
    probe.fit(x, y, validation_split=0.05)
    yhat = probe.predict(test[0])[0]
    acc = _pct(np.mean(yhat == test[1]))
    return {"devacc": float(np.max(scores)), "acc": acc, "l2reg": REGS[best]}, yhat


def split_classifier(train: tuple[np.ndarray, np.ndarray], dev: tuple[np.ndarray, np.ndarray],
                     test: tuple[np.ndarray, np.ndarray], nclasses: int, config: ProbeConfig, seed: int = 1111) -> dict:
    """SentEval's ``SplitClassifier`` (SST2): the dev set early-stops and picks the penalty."""
    probe = Probe(train[0].shape[1], nclasses, REGS, config, seed)
    probe.fit(train[0], train[1], valid=dev)
    dev_scores = [_pct(a) for a in probe.score(*dev)]
    best = int(np.argmax(dev_scores))
    # SentEval retrains the chosen penalty with the same seed and data: the same model as row ``best``.
    return {"devacc": float(np.max(dev_scores)), "acc": _pct(probe.score(*test)[best]), "l2reg": REGS[best]}


# ---------------------------------------------------------------------- tasks
def _sorted_by_length(xs: Sequence[str], ys: Sequence[int]) -> tuple[list[str], np.ndarray]:
    """SentEval sorts samples by (number of tokens, label) before embedding; the folds depend on it."""
    order = sorted(range(len(xs)), key=lambda i: (len(xs[i].split()), ys[i]))
    return [xs[i] for i in order], np.array([ys[i] for i in order], dtype=np.int64)


@dataclass
class BinaryTask:
    """MR, CR, SUBJ, MPQA: nested cross-validation over all sentences."""

    name: str
    data_dir: str | None = None

    def load(self, mode: str = "test") -> None:
        xs, ys = read_binary(self.name, self.data_dir)
        self.x, self.y = _sorted_by_length(xs, ys)

    def sentences(self, mode: str) -> list[str]:
        return list(self.x)

    def run(self, lookup: Lookup, mode: str, seed: int = 1111) -> dict:
        res = inner_kfold(lookup(self.x), self.y, 2, probe_config(mode), seed)
        res.update(ndev=len(self.y), ntest=len(self.y))
        res["main"] = res["devacc"] if mode == "dev" else res["acc"]
        return res


@dataclass
class SST2Task:
    """SST-2: train / dev / test."""

    name: str = "SST2"
    data_dir: str | None = None

    def load(self, mode: str = "test") -> None:
        self.data = {s: _sorted_by_length(*read_sst2(self.data_dir, s)) for s in ("train", "dev", "test")}

    def sentences(self, mode: str) -> list[str]:
        return [s for x, _ in self.data.values() for s in x]

    def run(self, lookup: Lookup, mode: str, seed: int = 1111) -> dict:
        emb = {k: (lookup(x), y) for k, (x, y) in self.data.items()}
        res = split_classifier(emb["train"], emb["dev"], emb["test"], 2, probe_config(mode), seed)
        res.update(ndev=len(self.data["dev"][1]), ntest=len(self.data["test"][1]))
        res["main"] = res["devacc"] if mode == "dev" else res["acc"]
        return res


@dataclass
class TRECTask:
    """TREC (6 coarse classes): cross-validation on train, then test."""

    name: str = "TREC"
    data_dir: str | None = None

    def load(self, mode: str = "test") -> None:
        self.data = {s: _sorted_by_length(*read_trec(self.data_dir, s)) for s in ("train", "test")}

    def sentences(self, mode: str) -> list[str]:
        return [s for x, _ in self.data.values() for s in x]

    def run(self, lookup: Lookup, mode: str, seed: int = 1111) -> dict:
        emb = {k: (lookup(x), y) for k, (x, y) in self.data.items()}
        res, _ = kfold_then_test(emb["train"], emb["test"], 6, probe_config(mode), seed)
        res.update(ndev=len(self.data["train"][1]), ntest=len(self.data["test"][1]))
        res["main"] = res["devacc"] if mode == "dev" else res["acc"]
        return res


def mrpc_features(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """MRPC's probe input for embeddings u, v of the two sentences: SentEval's ``[|u - v|, u * v]``."""
    return pair_features(u, v)


@dataclass
class MRPCTask:
    """MRPC paraphrase detection: features ``[|u-v|, u*v]``, CV on train, then test accuracy and F1."""

    name: str = "MRPC"
    data_dir: str | None = None

    def load(self, mode: str = "test") -> None:
        self.data = {}
        for split in ("train", "test"):
            a, b, y = read_mrpc(self.data_dir, split)
            order = sorted(range(len(y)), key=lambda i: (len(a[i].split()), len(b[i].split()), y[i]))
            self.data[split] = ([a[i] for i in order], [b[i] for i in order], np.array([y[i] for i in order]))

    def sentences(self, mode: str) -> list[str]:
        return [s for a, b, _ in self.data.values() for s in (*a, *b)]

    def run(self, lookup: Lookup, mode: str, seed: int = 1111) -> dict:
        feats = {k: (mrpc_features(lookup(a), lookup(b)), y) for k, (a, b, y) in self.data.items()}
        res, yhat = kfold_then_test(feats["train"], feats["test"], 2, probe_config(mode), seed)
        res["f1"] = _pct(f1_score(feats["test"][1], yhat))
        res.update(ndev=len(feats["train"][1]), ntest=len(feats["test"][1]))
        res["main"] = res["devacc"] if mode == "dev" else res["acc"]
        return res
