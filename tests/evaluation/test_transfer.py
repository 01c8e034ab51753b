"""Transfer tasks: the batched probe equals SentEval's training loop; real-model runs beat chance."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from simcse.evaluation import evaluate
from simcse.evaluation.datadir import read_binary, read_mrpc, read_sst2, read_trec
from simcse.evaluation.transfer import REGS, Probe, ProbeConfig, inner_kfold, mrpc_features, probe_config


def senteval_reference_fit(x, y, xv, yv, reg, nclasses, cfg: ProbeConfig, seed=1111):
    """SentEval's PyTorchClassifier.fit for nhid=0, written plainly (autograd, torch.optim)."""
    rng = np.random.RandomState(seed)
    torch.manual_seed(seed)
    model = torch.nn.Linear(x.shape[1], nclasses)
    opt_cls = torch.optim.Adam if cfg.optim == "adam" else torch.optim.RMSprop
    opt = opt_cls(model.parameters(), weight_decay=reg)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    best, best_model, count, nepoch, stop = -1.0, None, 0, 0, False
    while not stop and nepoch <= cfg.max_epoch:
        for _ in range(cfg.epoch_size):
            perm = rng.permutation(len(x))
            for i in range(0, len(x), cfg.batch_size):
                idx = torch.from_numpy(perm[i:i + cfg.batch_size])
                loss = loss_fn(model(xt[idx]), yt[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        nepoch += cfg.epoch_size
        with torch.no_grad():
            acc = float((model(torch.from_numpy(xv)).argmax(1).numpy() == yv).mean())
        if acc > best:
            best, best_model = acc, copy.deepcopy(model)
        else:
            if count >= cfg.tenacity:
                stop = True
            count += 1
    return best, best_model


@pytest.mark.parametrize("mode", ["fasttest", "test"])
def test_batched_probe_equals_senteval_loop(mode):
    gen = np.random.RandomState(0)
    centers = gen.randn(3, 12) * 1.2
    y = gen.randint(0, 3, size=400)
    x = (centers[y] + gen.randn(400, 12)).astype(np.float32)
    xv_, yv_ = x[300:], y[300:]
    cfg = ProbeConfig(**{**probe_config(mode).__dict__, "max_epoch": 12})
    probe = Probe(12, 3, REGS, cfg)
    best = probe.fit(x[:300], y[:300], valid=(xv_, yv_))
    for r, reg in enumerate(REGS):
        ref_best, ref_model = senteval_reference_fit(x[:300], y[:300], xv_, yv_, reg, 3, cfg)
        assert best[r] == ref_best
        w = torch.cat([ref_model.weight, ref_model.bias[:, None]], 1).detach()
        assert torch.allclose(probe.weights[r], w, atol=1e-4), reg


def test_readers_match_senteval_counts(senteval_dir: Path):
    counts = {"MR": 10662, "CR": 3775, "SUBJ": 10000, "MPQA": 10606}
    for task, n in counts.items():
        xs, ys = read_binary(task, senteval_dir)
        assert len(xs) == n and 0 < sum(ys) < n
    assert [len(read_sst2(senteval_dir, s)[0]) for s in ("train", "dev", "test")] == [67349, 872, 1821]
    assert [len(read_trec(senteval_dir, s)[0]) for s in ("train", "test")] == [5452, 500]
    assert sorted(set(read_trec(senteval_dir, "test")[1])) == [0, 1, 2, 3, 4, 5]
    assert [len(read_mrpc(senteval_dir, s)[0]) for s in ("train", "test")] == [4076, 1725]


def test_mrpc_features_are_senteval_s():
    u = np.array([[1.0, -2.0, 3.0]], dtype=np.float32)
    v = np.array([[0.5, 2.0, -1.0]], dtype=np.float32)
    np.testing.assert_allclose(mrpc_features(u, v), [[0.5, 4.0, 4.0, 0.5, -4.0, -3.0]])


@pytest.mark.slow
def test_mr_subsample_with_real_model_far_above_chance(minilm, senteval_dir: Path):
    """Nested CV (fasttest settings) on 800 MR sentences embedded by all-MiniLM-L6-v2."""
    xs, ys = read_binary("MR", senteval_dir)
    idx = np.r_[0:400, len(xs) - 400:len(xs)]
    emb = minilm.encode([xs[i] for i in idx], return_numpy=True, normalize_to_unit=False)
    res = inner_kfold(emb, np.array(ys)[idx], 2, probe_config("fasttest"))
    assert res["acc"] > 70.0 and res["devacc"] > 70.0
    assert len(res["fold_acc"]) == 5 and all(r in REGS for r in res["l2reg"])


@pytest.mark.slow
def test_cr_and_mrpc_end_to_end_fasttest(minilm, senteval_dir: Path):
    """Whole tasks through evaluate(): CR (nested CV) and MRPC (CV + test, F1)."""
    res = evaluate(minilm, tasks=["CR", "MRPC"], mode="fasttest", data_dir=senteval_dir)
    cr, mrpc = res["tasks"]["CR"], res["tasks"]["MRPC"]
    assert cr["acc"] > 75.0 and cr["ntest"] == 3775
    assert mrpc["acc"] > 68.0 and 70.0 < mrpc["f1"] < 100.0 and mrpc["ntest"] == 1725
    assert res["scores"]["CR"] == cr["acc"] and res["probe"]["kfold"] == 5


def test_transfer_dev_mode_reports_dev_accuracy(senteval_dir: Path):
    """TREC in dev mode with a cheap bag-of-words encoder: the main score is the CV accuracy."""
    import hashlib

    def bow(sentences):
        out = np.zeros((len(sentences), 128), dtype=np.float32)
        for i, s in enumerate(sentences):
            for w in s.lower().split()[:3]:
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % 128] = 1.0
        return out

    res = evaluate(bow, tasks=["TREC"], mode="dev", data_dir=senteval_dir)["tasks"]["TREC"]
    assert res["main"] == res["devacc"] and res["devacc"] > 40.0  # chance (majority class) is ~23 %
