"""STS evaluation: SentEval semantics on the real data, checked against independent computations."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr

from simcse.evaluation import evaluate
from simcse.evaluation.datadir import read_sick, read_stsb, read_sts_year
from simcse.evaluation.engine import EmbeddingCache, load_task


def hashed_bow(sentences):
    """A cheap deterministic encoder: hashed bag of words (64 buckets) plus one constant feature."""
    out = np.zeros((len(sentences), 65), dtype=np.float32)
    out[:, 64] = 1.0
    for i, s in enumerate(sentences):
        for w in s.split():
            out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % 64] += 1.0
    return out


def _cos(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_scored_pair_counts(senteval_dir: Path):
    """Blank gold lines are dropped, STS13 has no SMT: SentEval's pair counts."""
    expected = {"STS12": 3108, "STS13": 1500, "STS14": 3750, "STS15": 3000, "STS16": 1186}
    for task, n in expected.items():
        data = read_sts_year(task, senteval_dir)
        assert sum(len(g) for _, _, g in data.values()) == n, task
    assert "SMT" not in read_sts_year("STS13", senteval_dir)
    assert len(read_sick(senteval_dir, "test")[0]) == 4927


def test_sts12_aggregations_match_hand_computation(senteval_dir: Path):
    """all / mean / wmean on STS12 equal a computation written here from the raw files."""
    res = evaluate(hashed_bow, tasks=["STS12"], data_dir=senteval_dir)["tasks"]["STS12"]
    folder = senteval_dir / "STS" / "STS12-en-test"
    per, sys_all, gold_all = {}, [], []
    for subset in ("MSRpar", "MSRvid", "SMTeuroparl", "surprise.OnWN", "surprise.SMTnews"):
        lines = (folder / f"STS.input.{subset}.txt").read_text(encoding="utf-8").splitlines()
        gold = (folder / f"STS.gs.{subset}.txt").read_text(encoding="utf-8").splitlines()
        keep = [(l.split("\t"), float(g)) for l, g in zip(lines, gold) if g.strip()]
        a = hashed_bow([" ".join(p[0].split()) for p, _ in keep])
        b = hashed_bow([" ".join(p[1].split()) for p, _ in keep])
        sims, g = _cos(a, b), [x for _, x in keep]
        per[subset] = (spearmanr(sims, g)[0], pearsonr(sims, g)[0], len(g))
        sys_all.append(sims)
        gold_all += g
    sp = np.array([v[0] for v in per.values()])
    w = np.array([v[2] for v in per.values()])
    assert res["all"]["spearman"]["all"] == pytest.approx(spearmanr(np.concatenate(sys_all), gold_all)[0], abs=1e-6)
    assert res["all"]["spearman"]["mean"] == pytest.approx(sp.mean(), abs=1e-6)
    assert res["all"]["spearman"]["wmean"] == pytest.approx((sp * w).sum() / w.sum(), abs=1e-6)
    assert res["all"]["pearson"]["all"] == pytest.approx(pearsonr(np.concatenate(sys_all), gold_all)[0], abs=1e-6)
    for subset, (s, p, n) in per.items():
        assert res["subsets"][subset]["spearman"] == pytest.approx(s, abs=1e-6)
        assert res["subsets"][subset]["pearson"] == pytest.approx(p, abs=1e-6)
        assert res["subsets"][subset]["n"] == n
    assert res["main"] == res["all"]["spearman"]["all"]
    # the three aggregations genuinely differ on this data
    assert len({round(res["all"]["spearman"][k], 6) for k in ("all", "mean", "wmean")}) == 3


@pytest.mark.slow
def test_stsb_spearman_equals_sentence_transformers(minilm, minilm_path, senteval_dir: Path):
    """STS-B test Spearman of the engine = scipy on sentence-transformers embeddings (1e-4)."""
    from sentence_transformers import SentenceTransformer

    ours = evaluate(minilm, tasks=["STSBenchmark"], data_dir=senteval_dir, max_length=256)
    s1, s2, gold = [], [], []
    with open(senteval_dir / "STS" / "STSBenchmark" / "sts-test.csv", encoding="utf-8") as fh:
        for line in fh:
            cols = line.strip().split("\t")
            gold.append(float(cols[4]))
            s1.append(cols[5])
            s2.append(cols[6])
    st = SentenceTransformer(str(minilm_path), device="cpu")
    e1, e2 = st.encode(s1, batch_size=64), st.encode(s2, batch_size=64)
    expected = spearmanr(_cos(e1, e2), gold)[0]
    assert ours["tasks"]["STSBenchmark"]["test"]["n"] == 1379
    assert ours["tasks"]["STSBenchmark"]["main"] == pytest.approx(expected, abs=1e-4)
    assert ours["scores"]["STSBenchmark"] == pytest.approx(82.03, abs=0.01)  # issue 8's reference number


def test_every_distinct_sentence_is_encoded_once(senteval_dir: Path):
    calls = []

    def counting(sentences):
        calls.append(list(sentences))
        return hashed_bow(sentences)

    res = evaluate(counting, tasks=["STS13", "STS16", "SICK-R"], data_dir=senteval_dir)
    assert len(calls) == 1
    assert len(calls[0]) == len(set(calls[0])) == res["n_sentences"]["distinct"]
    assert res["n_sentences"]["requested"] > res["n_sentences"]["distinct"]
    assert set(res["scores"]) == {"STS13", "STS16", "SICKRelatedness"}


def test_dev_mode_uses_dev_split(senteval_dir: Path):
    res = evaluate(hashed_bow, tasks=["STS-B"], mode="dev", data_dir=senteval_dir)["tasks"]["STSBenchmark"]
    assert res["dev"]["n"] == 1500 and "test" not in res


def test_dev_mode_never_mixes_in_test_sets(senteval_dir: Path):
    """STS12-16 have test sets only: a dev run of the sts set scores STS-B and SICK-R dev (SimCSE's dev
    table), and its Avg. is over dev scores; asking for STS12 by name in dev mode is refused."""
    res = evaluate(hashed_bow, task_set="sts", mode="dev", data_dir=senteval_dir)
    assert set(res["scores"]) == {"STSBenchmark", "SICKRelatedness"}
    assert res["tasks"]["SICKRelatedness"]["dev"]["n"] == 500 and "test" not in res["tasks"]["SICKRelatedness"]
    assert res["avg"]["sts"] == round((res["scores"]["STSBenchmark"] + res["scores"]["SICKRelatedness"]) / 2, 2)
    with pytest.raises(ValueError, match="STS12, STS16: test sets only, no dev split"):
        evaluate(hashed_bow, tasks=["STS12", "STS16", "STS-B"], mode="dev", data_dir=senteval_dir)


def test_nan_embeddings_fail_clearly(senteval_dir: Path):
    def nan_model(sentences):
        out = hashed_bow(sentences)
        out[len(out) // 2] = np.nan
        return out

    with pytest.raises(FloatingPointError, match="non-finite"):
        evaluate(nan_model, tasks=["STS16"], data_dir=senteval_dir)


def test_nan_from_a_real_model_fails_clearly(tiny_bert_path, senteval_dir: Path):
    import torch

    from simcse import SimCSE

    model = SimCSE(str(tiny_bert_path), device="cpu", pooler="avg")
    with torch.no_grad():
        model.encoder.backbone.embeddings.word_embeddings.weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="NaN"):
        evaluate(model, tasks=["STS16"], data_dir=senteval_dir)


def test_missing_data_file_names_it_and_the_layout(tmp_path: Path):
    (tmp_path / "STS" / "STS12-en-test").mkdir(parents=True)
    with pytest.raises(FileNotFoundError) as err:
        evaluate(hashed_bow, tasks=["STS12"], data_dir=tmp_path)
    msg = str(err.value)
    assert "STS.input.MSRpar.txt" in msg and "STS/STS12-en-test" in msg and "layout" in msg


def test_missing_data_file_says_which_setting_gave_the_folder(tmp_path: Path, monkeypatch):
    """The error names the folder it looked in and where that folder came from: --data_dir,
    SIMCSE_DATA_DIR (and its SentEval-downstream/ subfolder), or the default SentEval/data/downstream."""
    env_dir, arg_dir, cwd = tmp_path / "env", tmp_path / "arg", tmp_path / "cwd"
    (env_dir / "SentEval-downstream").mkdir(parents=True)
    arg_dir.mkdir()
    cwd.mkdir()
    monkeypatch.chdir(cwd)

    def message(data_dir=None) -> str:
        with pytest.raises(FileNotFoundError) as err:
            evaluate(hashed_bow, tasks=["STSBenchmark"], data_dir=data_dir)
        return str(err.value)

    monkeypatch.setenv("SIMCSE_DATA_DIR", str(env_dir))
    msg = message(arg_dir)  # --data_dir wins over the environment
    assert str(arg_dir / "STS" / "STSBenchmark" / "sts-test.csv") in msg
    assert f"came from --data_dir {str(arg_dir)!r}" in msg and str(env_dir) not in msg

    msg = message()
    assert str(env_dir / "SentEval-downstream" / "STS" / "STSBenchmark") in msg
    assert f"came from SIMCSE_DATA_DIR {str(env_dir)!r} (--data_dir not given), its SentEval-downstream/ subfolder" in msg

    monkeypatch.delenv("SIMCSE_DATA_DIR")
    msg = message()
    assert "came from the default 'SentEval/data/downstream'" in msg and str(cwd) in msg
    assert "neither --data_dir nor SIMCSE_DATA_DIR is set" in msg


def test_unknown_task_lists_known_tasks(senteval_dir: Path):
    with pytest.raises(ValueError) as err:
        evaluate(hashed_bow, tasks=["STS17"], data_dir=senteval_dir)
    assert "STS17" in str(err.value) and "STSBenchmark" in str(err.value) and "MRPC" in str(err.value)
    with pytest.raises(ValueError, match="mode"):
        evaluate(hashed_bow, tasks=["STS12"], mode="full", data_dir=senteval_dir)


def test_embedding_cache_rejects_wrong_shapes():
    cache = EmbeddingCache(lambda s: np.zeros((len(s) + 1, 4)))
    with pytest.raises(ValueError, match="shape"):
        cache(["a", "b"])


@pytest.mark.slow
def test_bfloat16_evaluation_stays_within_a_few_hundredths(minilm, senteval_dir):
    """The fast bf16 path scores STS-B like the exact float32 path (to about 0.05 points)."""
    from simcse.evaluation import evaluate

    exact = evaluate(minilm, tasks=["STSBenchmark"], data_dir=senteval_dir, max_length=256)
    fast = evaluate(minilm, tasks=["STSBenchmark"], data_dir=senteval_dir, max_length=256, dtype="bfloat16")
    assert fast["dtype"] == "bfloat16"
    assert abs(fast["scores"]["STSBenchmark"] - exact["scores"]["STSBenchmark"]) < 0.1
    with pytest.raises(ValueError, match="unknown dtype 'int4'"):
        evaluate(minilm, tasks=["STSBenchmark"], data_dir=senteval_dir, dtype="int4")


def _senteval_stsb_finetune(folder: Path, encode, seed: int = 1111) -> tuple[float, float]:
    """SentEval's STSBenchmark-finetune (SICKEval.run + RelatednessPytorch), written plainly:
    (best dev Spearman, test Spearman)."""
    import copy

    import torch

    data = {}
    for split in ("train", "dev", "test"):
        rows = [line.strip().split("\t") for line in open(folder / f"sts-{split}.csv", encoding="utf-8")]
        srt = sorted(zip([r[5].split() for r in rows], [r[6].split() for r in rows], [float(r[4]) for r in rows]),
                     key=lambda z: (len(z[0]), len(z[1]), z[2]))
        data[split] = ([" ".join(a) for a, _, _ in srt], [" ".join(b) for _, b, _ in srt], [g for _, _, g in srt])

    def feats(split):
        a, b = encode(data[split][0]), encode(data[split][1])
        return torch.from_numpy(np.c_[np.abs(a - b), a * b]).float()

    y = np.zeros((len(data["train"][2]), 5), dtype=np.float32)  # Tai et al.'s targets
    for j, s in enumerate(data["train"][2]):
        for i in range(5):
            if i + 1 == np.floor(s) + 1:
                y[j, i] = s - np.floor(s)
            if i + 1 == np.floor(s):
                y[j, i] = np.floor(s) - s + 1
    np.random.seed(seed)
    torch.manual_seed(seed)
    x, yt, dx, tx = feats("train"), torch.from_numpy(y), feats("dev"), feats("test")
    model = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 5), torch.nn.Softmax(dim=-1))
    opt, loss_fn, r = torch.optim.Adam(model.parameters(), weight_decay=0.0), torch.nn.MSELoss(), np.arange(1, 6)
    nepoch, best, count, stop, best_model = 0, -1.0, 0, False, None
    while not stop and nepoch <= 1000:
        for _ in range(50):
            perm = np.random.permutation(len(x))
            for i in range(0, len(x), 64):
                idx = torch.from_numpy(perm[i:i + 64]).long()
                loss = loss_fn(model(x[idx]), yt[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        nepoch += 50
        with torch.no_grad():
            sp = spearmanr(model(dx).numpy() @ r, data["dev"][2])[0]
        if sp > best:
            best, best_model = sp, copy.deepcopy(model)
        else:
            if count >= 3:
                stop = True
            count += 1
    with torch.no_grad():
        return best, spearmanr(best_model(tx).numpy() @ r, data["test"][2])[0]


def test_stsb_finetune_trains_on_senteval_s_sorted_order(tmp_path: Path):
    """The -finetune regressor sees each split in SentEval's sorted order, so its mini-batches, and
    hence its scores, are SentEval's (files in a different order written here)."""
    rng = np.random.RandomState(0)
    words = "a the man woman dog cat plays runs eats big small red green on in street park ball food".split()
    folder = tmp_path / "STS" / "STSBenchmark"
    folder.mkdir(parents=True)
    for split, n in (("train", 80), ("dev", 30), ("test", 30)):
        lines = []
        for i in range(n):
            a = " ".join(rng.choice(words, rng.randint(2, 9)))
            b = " ".join(rng.choice(words, rng.randint(2, 9)))
            g = round(5 * len(set(a.split()) & set(b.split())) / len(set(a.split()) | set(b.split())), 2)
            lines.append(f"main-captions\tMSRvid\t2012test\t{i:04d}\t{g}\t{a}\t{b}\n")
        (folder / f"sts-{split}.csv").write_text("".join(lines), encoding="utf-8")

    def encode(sentences):
        return hashed_bow(sentences)[:, :16]

    dev_ref, test_ref = _senteval_stsb_finetune(folder, encode)
    res = evaluate(encode, tasks=["STSBenchmark-finetune"], data_dir=tmp_path)["tasks"]["STSBenchmark-finetune"]
    assert res["dev"]["spearman"] == pytest.approx(dev_ref, abs=1e-9)
    assert res["test"]["spearman"] == pytest.approx(test_ref, abs=1e-9)


def test_max_length_beyond_the_model_is_refused(tiny_bert_path):
    """A --max_length the model has no positions for is named as an error up front (it was recorded as the
    run's max_length, and a sentence that long crashed the model with a tensor-size error)."""
    from simcse import SimCSE
    from simcse.evaluation import make_encode_fn

    model = SimCSE(str(tiny_bert_path), device="cpu")  # 128 positions
    with pytest.raises(ValueError, match="max_length=1000 is out of range.*128 positions"):
        make_encode_fn(model, max_length=1000)
    encode, info = make_encode_fn(model, max_length=64)
    assert info["max_length"] == 64 and encode(["word " * 300]).shape == (1, 32)


def test_a_score_that_is_not_a_number_names_the_file_and_line(tmp_path: Path):
    """STS-B and SICK files with a header row or a bad score (our own made-up rows)."""
    stsb = tmp_path / "STS" / "STSBenchmark"
    stsb.mkdir(parents=True)
    row = "main-captions\tMSRvid\t2012test\t0001\t{}\tA bird sings.\tA bird is singing."
    (stsb / "sts-test.csv").write_text(row.format("4.5") + "\n" + row.format("score") + "\n")
    with pytest.raises(ValueError, match=r"sts-test\.csv:2: gold score \(column 5\) 'score' is not a number"):
        read_stsb(tmp_path, "test")
    (tmp_path / "SICK").mkdir()
    (tmp_path / "SICK" / "SICK_test_annotated.txt").write_text(
        "pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment\n"
        "1\tA dog runs.\tA dog is running.\t4.8\tENTAILMENT\n"
        "2\tA cat naps.\tStocks fell.\tn/a\tNEUTRAL\n"
    )
    with pytest.raises(ValueError, match=r"SICK_test_annotated\.txt:3: relatedness score \(column 4\) 'n/a'"):
        read_sick(tmp_path, "test")


def test_load_task_reads_the_split_of_the_mode(senteval_dir: Path):
    """load_task: an alias names the registry task, and the mode picks the split whose sentences are read."""
    dev, test = load_task("STS-B", "dev", senteval_dir), load_task("STSBenchmark", "test", senteval_dir)
    assert type(dev).__name__ == "STSPairTask" and dev.name == "STSBenchmark"
    a, b, _ = read_stsb(senteval_dir, "dev")
    assert set(dev.sentences("dev")) == set(a) | set(b)
    a, b, _ = read_stsb(senteval_dir, "test")
    assert set(test.sentences("test")) == set(a) | set(b)
    with pytest.raises(FileNotFoundError, match="sts-dev.csv"):
        load_task("STSBenchmark", "dev", senteval_dir / "nowhere")
