"""The SimCSE API on the real model (all-MiniLM-L6-v2) and real data."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from simcse import SimCSE
from simcse.evaluation.datadir import read_stsb
from simcse.search.index import faiss_available

needs_faiss = pytest.mark.skipif(not faiss_available(), reason="faiss is not installed")

SENTS = [
    "A man is playing a guitar.",
    "A woman is slicing an onion.",
    "",
    "The quick brown fox jumps over the lazy dog while the farmer watches from the gate of the field.",
    "Two dogs run on the beach.",
]


def test_embeddings_equal_sentence_transformers(minilm, minilm_path):
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(minilm_path), device="cpu")
    ours = minilm.encode(SENTS, return_numpy=True)
    theirs = st.encode(SENTS, convert_to_numpy=True)
    assert ours.shape == theirs.shape == (len(SENTS), 384)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    # normalize_to_unit=False: the raw pooled vectors (the folder's Normalize module is skipped)
    raw = minilm.encode(SENTS, return_numpy=True, normalize_to_unit=False)
    assert np.abs(np.linalg.norm(raw, axis=1) - 1).min() > 0.01
    np.testing.assert_allclose(raw / np.linalg.norm(raw, axis=1, keepdims=True), theirs, atol=1e-5)


def test_encode_shapes_and_types(minilm):
    one = minilm.encode("hello")
    assert isinstance(one, torch.Tensor) and one.shape == (384,)
    assert minilm.encode("hello", keepdim=True).shape == (1, 384)
    arr = minilm.encode(["a", "b"], return_numpy=True)
    assert isinstance(arr, np.ndarray) and arr.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(arr, axis=1), 1.0, atol=1e-5)
    empty = minilm.encode([], return_numpy=True)
    assert empty.shape == (0, 384)
    blank = minilm.encode("", return_numpy=True)
    assert np.isfinite(blank).all() and blank.shape == (384,)


def test_encode_order_independent_of_batching(minilm):
    full = minilm.encode(SENTS, return_numpy=True, batch_size=64)
    small = minilm.encode(SENTS, return_numpy=True, batch_size=2)
    one_by_one = np.stack([minilm.encode(s, return_numpy=True) for s in SENTS])
    np.testing.assert_allclose(full, small, atol=1e-5)
    np.testing.assert_allclose(full, one_by_one, atol=1e-5)


@pytest.mark.parametrize("bad,idx", [(["ok", None], 1), (["ok", "fine", 3], 2)])
def test_non_string_items_name_the_index(minilm, bad, idx):
    with pytest.raises(TypeError, match=rf"\[{idx}\]"):
        minilm.encode(bad)


def test_none_input_is_a_type_error(minilm):
    with pytest.raises(TypeError, match="None"):
        minilm.encode(None)


def test_similarity_shapes_and_precomputed_keys(minilm):
    s = minilm.similarity("A man is playing a guitar.", "A man plays the guitar.")
    assert isinstance(s, float) and s > 0.8
    row = minilm.similarity("A man is playing a guitar.", ["A man plays the guitar.", "Stocks fell."])
    assert row.shape == (2,) and row[0] > row[1]
    keys = minilm.encode(["A man plays the guitar.", "Stocks fell."], return_numpy=True, normalize_to_unit=False)
    mat = minilm.similarity(["A man is playing a guitar.", "Markets dropped."], keys)
    assert mat.shape == (2, 2)
    np.testing.assert_allclose(mat[0], row, atol=1e-5)
    assert mat[1, 1] > mat[1, 0]
    # several queries against one key: [n_queries, 1], as the original package returns (code indexes sims[:, 0])
    col = minilm.similarity(["A man is playing a guitar.", "Markets dropped."], "A man plays the guitar.")
    assert col.shape == (2, 1)
    np.testing.assert_allclose(col[:, 0], mat[:, 0], atol=1e-5)
    assert minilm.similarity(["A man is playing a guitar.", "Markets dropped."], keys[0]).shape == (2, 1)


@pytest.mark.slow
def test_similarity_on_stsb_matches_scipy(minilm, data_dir):
    s1, s2, gold = read_stsb(data_dir, "test")
    s1, s2, gold = s1[:400], s2[:400], gold[:400]
    sims = np.diag(minilm.similarity(s1, s2))
    a = minilm.encode(s1, return_numpy=True, normalize_to_unit=False)
    b = minilm.encode(s2, return_numpy=True, normalize_to_unit=False)
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    np.testing.assert_allclose(sims, cos, atol=1e-5)
    rho = spearmanr(sims, gold).correlation
    assert abs(rho - spearmanr(cos, gold).correlation) < 1e-6
    assert rho > 0.75  # all-MiniLM-L6-v2 scores about 0.82 on STS-B test


@pytest.fixture(scope="module")
def corpus(data_dir):
    s1, s2, _ = read_stsb(data_dir, "train")
    seen, out = set(), []
    for s in s1 + s2:
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out[:3000]


@pytest.mark.slow
def test_backends_agree_on_top1(minilm, corpus):
    pytest.importorskip("faiss")
    queries = corpus[::10][:300]
    queries = [q.replace("a ", "the ", 1) for q in queries]
    tops = {}
    for name, kwargs in {
        "faiss_flat": dict(use_faiss=True),
        "faiss_ivf": dict(use_faiss=True, faiss_fast=True),
        "torch": dict(use_faiss=False),
    }.items():
        minilm.num_cells, minilm.num_cells_in_search = 20, 20  # IVF probing every cell is exact
        minilm.build_index(corpus, **kwargs)
        res = minilm.search(queries, threshold=-1.0, top_k=1)
        tops[name] = [r[0] for r in res]
    assert type(minilm.index["index"]).__name__ == "TorchIndex"
    for name in ("faiss_ivf", "torch"):
        agree = sum(a[0] == b[0] or abs(a[1] - b[1]) < 1e-5 for a, b in zip(tops["faiss_flat"], tops[name]))
        assert agree == len(queries), name
    minilm.num_cells, minilm.num_cells_in_search = 100, 10


def test_search_threshold_topk_and_batching(minilm):
    minilm.build_index(["A man is playing a guitar.", "A woman is reading a book.", "The market crashed."],
                       use_faiss=False)
    one = minilm.search("Someone plays guitar", threshold=0.3, top_k=3)
    assert one[0][0] == "A man is playing a guitar."
    assert all(score >= 0.3 for _, score in one)
    many = minilm.search(["Someone plays guitar", "stocks tumbled"], threshold=0.0, top_k=2)
    assert len(many) == 2 and len(many[1]) == 2 and many[1][0][0] == "The market crashed."
    assert minilm.search("xyz", threshold=0.99) == []
    with pytest.raises(ValueError, match="top_k"):
        minilm.search("a", top_k=0)
    minilm.add_to_index(["A girl plays the violin."])
    assert minilm.search("violin music", top_k=1, threshold=0)[0][0] == "A girl plays the violin."


def test_search_before_index_is_clear(minilm_path):
    model = SimCSE(str(minilm_path), device="cpu")
    with pytest.raises(RuntimeError, match="build_index"):
        model.search("hello")


def test_save_and_load_index(minilm, tmp_path):
    corpus = ["A man is playing a guitar.", "A woman is reading a book.", "The market crashed."]
    for use_faiss in (True, False):
        minilm.build_index(corpus, use_faiss=use_faiss)
        before = minilm.search(["guitar", "book"], threshold=0, top_k=3)
        minilm.save_index(tmp_path / f"idx{use_faiss}")
        minilm.index = None
        minilm.load_index(tmp_path / f"idx{use_faiss}")
        after = minilm.search(["guitar", "book"], threshold=0, top_k=3)
        assert [[s for s, _ in r] for r in before] == [[s for s, _ in r] for r in after]


def test_flat_indexes_hold_the_corpus_once_and_save_it_exactly(minilm, corpus, tmp_path):
    """Flat indexes are read back for saving (no float copy beside them); IVF keeps one."""
    from simcse.search.index import faiss_available

    kinds = {"torch": dict(use_faiss=False)}
    if faiss_available():
        kinds.update(faiss_flat=dict(use_faiss=True), faiss_ivf=dict(use_faiss=True, faiss_fast=True))
    first, more = corpus[:200], corpus[200:260]
    want = minilm.encode(first + more, return_numpy=True)
    for name, kwargs in kinds.items():
        minilm.num_cells, minilm.num_cells_in_search = 10, 10
        minilm.build_index(first, **kwargs)
        minilm.add_to_index(more)
        kept = minilm.index["vectors"]
        if name == "faiss_ivf":
            assert kept.shape == want.shape  # IVF cannot give its vectors back without a direct map
        else:
            assert kept is None, name
        minilm.save_index(tmp_path / name)
        saved = np.load(tmp_path / name / "embeddings.npy")
        np.testing.assert_allclose(saved, want, atol=1e-5, err_msg=name)
        minilm.index = None
        minilm.load_index(tmp_path / name)
        assert (minilm.index["vectors"] is None) == (name != "faiss_ivf")
        hits = minilm.search(more[:5], threshold=-1, top_k=1)
        assert [h[0][0] for h in hits] == more[:5], name
    minilm.num_cells, minilm.num_cells_in_search = 100, 10


def test_load_index_from_another_model_fails(minilm, tmp_path, tiny_bert_path):
    minilm.build_index(["one sentence", "another one"], use_faiss=False)
    minilm.save_index(tmp_path / "idx")
    other = SimCSE(str(tiny_bert_path), device="cpu", pooler="avg")
    with pytest.raises(ValueError, match="384-d vectors"):
        other.load_index(tmp_path / "idx")
    same_dim_other = SimCSE(str(minilm.model_name_or_path), device="cpu", pooler="cls_before_pooler")
    with pytest.raises(ValueError, match="embeds differently"):
        same_dim_other.load_index(tmp_path / "idx")
    with pytest.raises(FileNotFoundError, match="index_meta.json"):
        minilm.load_index(tmp_path / "nothing-here")


def test_sentence_file_errors(minilm, tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        minilm.build_index(str(tmp_path / "missing.txt"))
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    with pytest.raises(ValueError, match="latin1.txt.*not UTF-8"):
        minilm.build_index(str(bad))
    good = tmp_path / "ok.txt"
    good.write_text("first line\n\nsecond line\n", encoding="utf-8")
    minilm.build_index(str(good), use_faiss=False)
    assert minilm.index["sentences"] == ["first line", "second line"]


def test_unreachable_hub_name_is_explained(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError, match="could not be fetched from the Hugging Face Hub"):
        SimCSE("princeton-nlp/sup-simcse-bert-base-uncased", device="cpu")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        SimCSE("./no/such/folder", device="cpu")


def _cli(*args, input_text=None):
    return subprocess.run([sys.executable, "-m", "simcse", *args], capture_output=True, text=True,
                          input=input_text, timeout=300)


@pytest.mark.slow
def test_cli_search_default_corpus_and_json(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("A man is playing a guitar.\nThe stock market fell today.\nA cat sleeps.\n")
    r = _cli("search", "--corpus", str(corpus), "--format", "json", "--top_k", "1", "someone plays guitar",
             "--index", str(tmp_path / "idx"))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out[0]["results"][0]["sentence"] == "A man is playing a guitar."
    r2 = _cli("search", "--index", str(tmp_path / "idx"), "--top_k", "1", input_text="shares dropped\n")
    assert r2.returncode == 0 and "loaded index" in r2.stderr and "The stock market fell today." in r2.stdout
    r3 = _cli("search", "--corpus", str(tmp_path / "nope.txt"))
    assert r3.returncode == 2 and "nope.txt" in r3.stderr


@pytest.mark.slow
def test_cli_encode_and_similarity(tmp_path):
    r = _cli("encode", "hello world", "second")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(lines) == 2 and len(lines[0]["embedding"]) == 384
    r = _cli("encode", "--output", str(tmp_path / "v.npy"), input_text="a\nb\nc\n")
    assert r.returncode == 0 and np.load(tmp_path / "v.npy").shape == (3, 384)
    r = _cli("similarity", "A man plays guitar.", "--keys", "Someone plays guitar.", "Stocks fell.", "--format", "json")
    sims = json.loads(r.stdout)["similarity"][0]
    assert sims[0] > sims[1]


LONG_A = "The cat sat on the mat. " * 3 + " ".join(f"apple{i}" for i in range(150))
LONG_B = "The cat sat on the mat. " * 3 + " ".join(f"zebra{i}" for i in range(150))


def test_constructor_max_length_is_used_everywhere(minilm, minilm_path):
    # The two sentences share their first 20 tokens: cut to 16 they are the same sentence.
    short = SimCSE(str(minilm_path), device="cpu", max_length=16)
    want = minilm.encode(LONG_A, max_length=16, return_numpy=True)
    np.testing.assert_allclose(short.encode(LONG_A, return_numpy=True), want, atol=1e-5)
    assert short.similarity(LONG_A, LONG_B) > 0.9999
    short.build_index([LONG_B, "A dog barks."], use_faiss=False)
    assert short.search(LONG_A, threshold=0.9999, top_k=1)[0][0] == LONG_B
    np.testing.assert_allclose(short.encode(LONG_A, max_length=128, return_numpy=True),
                               minilm.encode(LONG_A, max_length=128, return_numpy=True), atol=1e-5)  # encode's argument wins
    # Without it, encode uses the length the folder was saved with (256 for all-MiniLM-L6-v2), not 128.
    assert minilm.max_length == 256
    np.testing.assert_allclose(minilm.encode(LONG_A, return_numpy=True),
                               minilm.encode(LONG_A, max_length=256, return_numpy=True), atol=1e-6)
    assert not np.allclose(minilm.encode(LONG_A, return_numpy=True),
                           minilm.encode(LONG_A, max_length=128, return_numpy=True), atol=1e-3)
    assert minilm.similarity(LONG_A, LONG_B) < 0.99


@pytest.mark.parametrize("bad", [0, -5, 1, 513, 1000, 2.5, "64"])
def test_bad_max_length_names_the_value(minilm, minilm_path, bad):
    with pytest.raises(ValueError, match=r"max_length.*" + str(bad)[:3].replace(".", r"\.")):
        minilm.encode(LONG_A, max_length=bad)
    if isinstance(bad, int):
        with pytest.raises(ValueError, match=r"max_length=.*\[3, 512\]"):
            SimCSE(str(minilm_path), device="cpu", max_length=bad)
    assert minilm.encode(LONG_A, max_length=512).shape == (384,)  # the model's full length is fine


def test_sentence_file_lines_are_newline_separated_only(minilm, tmp_path):
    # Form feed, NEL and U+2028 inside a line do not end it (str.splitlines would split there);
    # a UTF-8 byte-order mark and CRLF line ends are not part of the sentences.
    f = tmp_path / "corpus.txt"
    f.write_bytes("\ufefffirst\x0cpart one\r\nsecond\u2028part two\r\nthird \x85 three\rfourth\n".encode("utf-8"))
    minilm.build_index(str(f), use_faiss=False)
    assert minilm.index["sentences"] == ["first\x0cpart one", "second\u2028part two", "third \x85 three", "fourth"]


@pytest.mark.slow
def test_cli_max_length_reaches_similarity_and_search(tmp_path):
    r = _cli("similarity", LONG_A, "--keys", LONG_B, "--max_length", "16", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["similarity"][0][0] > 0.9999
    corpus = tmp_path / "c.txt"
    corpus.write_text(f"{LONG_B}\nA dog barks.\n")
    r = _cli("search", "--corpus", str(corpus), "--max_length", "16", "--threshold", "0.9999", "--format", "json",
             LONG_A)
    assert r.returncode == 0, r.stderr
    assert [h["sentence"] for h in json.loads(r.stdout)[0]["results"]] == [LONG_B]
    r = _cli("encode", "x", "--max_length", "1")
    assert r.returncode == 2 and "max_length=1" in r.stderr


@pytest.mark.slow
def test_cli_encode_output_is_the_path_given(tmp_path):
    out = tmp_path / "vectors"
    r = _cli("encode", "hello", "world", "--output", str(out))
    assert r.returncode == 0, r.stderr
    assert np.load(out).shape == (2, 384) and not (tmp_path / "vectors.npy").exists()
    assert str(out) in r.stderr


@pytest.mark.slow
def test_cli_search_index_of_another_corpus_is_an_error(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("A man is playing a guitar.\nThe stock market fell today.\n")
    b.write_text("A cat sleeps on the sofa.\nIt is raining in Paris.\n")
    idx = tmp_path / "idx"
    assert _cli("search", "--corpus", str(a), "--index", str(idx), "guitar").returncode == 0
    r = _cli("search", "--corpus", str(a), "--index", str(idx), "guitar")  # same corpus: the saved index serves
    assert r.returncode == 0 and "loaded index" in r.stderr, r.stderr
    r = _cli("search", "--corpus", str(b), "--index", str(idx), "--format", "json", "cat")
    assert r.returncode == 2, r.stdout
    assert "b.txt" in r.stderr and "idx" in r.stderr and r.stdout == ""


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_bad_batch_size_names_the_value(minilm, bad):
    minilm.build_index(["A man is playing a guitar.", "A cat sleeps."], use_faiss=False)
    for call in (lambda: minilm.encode(["a", "b"], batch_size=bad),
                 lambda: minilm.build_index(["a", "b"], batch_size=bad),
                 lambda: minilm.add_to_index(["c"], batch_size=bad)):
        with pytest.raises(ValueError, match=rf"batch_size must be a positive integer, got {bad}"):
            call()
    assert minilm.index["sentences"] == ["A man is playing a guitar.", "A cat sleeps."]  # left as it was


@pytest.mark.parametrize("command", ["encode", "similarity", "search"])
@pytest.mark.parametrize("bad", ["0", "-4"])
def test_cli_bad_batch_size_is_a_parse_error(capsys, command, bad):
    from simcse.cli import main

    with pytest.raises(SystemExit) as exc:
        main([command, "some sentence", "--batch_size", bad])
    assert exc.value.code == 2
    assert f"--batch_size: expected a positive integer, got '{bad}'" in capsys.readouterr().err


def test_cli_encode_file_and_arguments_is_an_error(capsys, tmp_path):
    from simcse.cli import main

    f = tmp_path / "sentences.txt"
    f.write_text("from the file\n")
    assert main(["encode", "from the arguments", "--file", str(f)]) == 2
    captured = capsys.readouterr()
    assert "--file" in captured.err and "sentences.txt" in captured.err and "1 sentence argument" in captured.err
    assert captured.out == ""


@pytest.mark.slow
def test_cli_similarity_reads_queries_from_stdin():
    r = _cli("similarity", "--keys", "Someone plays guitar.", "Stocks fell.", "--format", "json",
             input_text="A man plays guitar.\n\nMarkets dropped sharply.\n")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["queries"] == ["A man plays guitar.", "Markets dropped sharply."]
    sims = np.array(out["similarity"])
    assert sims.shape == (2, 2) and sims[0, 0] > sims[0, 1] and sims[1, 1] > sims[1, 0]
    r = _cli("similarity", "--keys", "x", input_text="")
    assert r.returncode == 2 and "no query sentences" in r.stderr


def test_cli_search_refuses_a_folder_that_is_not_an_index(capsys, tmp_path):
    from simcse.cli import main

    corpus = tmp_path / "c.txt"
    corpus.write_text("A man is playing a guitar.\nThe stock market fell today.\n")
    mine = tmp_path / "my_folder"
    mine.mkdir()
    (mine / "sentences.jsonl").write_text("my own data\n")
    (mine / "notes.txt").write_text("keep me\n")
    assert main(["search", "--corpus", str(corpus), "--index", str(mine), "guitar"]) == 2
    err = capsys.readouterr().err
    assert "my_folder" in err and "index_meta.json" in err and "not empty" in err
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt", "sentences.jsonl"]
    assert (mine / "sentences.jsonl").read_text() == "my own data\n"
    a_file = tmp_path / "a_file"
    a_file.write_text("data\n")
    assert main(["search", "--corpus", str(corpus), "--index", str(a_file), "guitar"]) == 2
    assert "a_file" in capsys.readouterr().err and a_file.read_text() == "data\n"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["search", "--corpus", str(corpus), "--index", str(empty), "--top_k", "1", "guitar"]) == 0
    assert (empty / "index_meta.json").is_file()


def test_save_index_does_not_overwrite_files_of_a_folder_that_is_not_an_index(minilm, tmp_path):
    minilm.build_index(["A man is playing a guitar.", "A cat sleeps."], use_faiss=False)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "embeddings.npy").write_bytes(b"not an index")
    with pytest.raises(FileExistsError, match=r"mine.*not empty.*index_meta\.json"):
        minilm.save_index(mine)
    assert sorted(p.name for p in mine.iterdir()) == ["embeddings.npy"]
    assert (mine / "embeddings.npy").read_bytes() == b"not an index"
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="is a file"):
        minilm.save_index(tmp_path / "file")
    # a saved index may be replaced; other files in its folder are left alone
    minilm.save_index(tmp_path / "idx")
    (tmp_path / "idx" / "README").write_text("my notes")
    minilm.build_index(["Stocks fell.", "It rains.", "A dog barks."], use_faiss=False)
    minilm.save_index(tmp_path / "idx")
    assert (tmp_path / "idx" / "README").read_text() == "my notes"
    minilm.index = None
    minilm.load_index(tmp_path / "idx")
    assert minilm.index["sentences"] == ["Stocks fell.", "It rains.", "A dog barks."]


def test_cli_faiss_fast_with_a_saved_index_warns(minilm, capsys, tmp_path):
    from simcse.cli import main

    minilm.build_index(["A man is playing a guitar.", "The stock market fell today."], use_faiss=False)
    minilm.save_index(tmp_path / "idx")
    assert main(["search", "--index", str(tmp_path / "idx"), "--faiss_fast", "--top_k", "1", "--format", "json",
                 "guitar"]) == 0
    captured = capsys.readouterr()
    assert "--faiss_fast is ignored" in captured.err and "flat" in captured.err
    assert json.loads(captured.out)[0]["results"][0]["sentence"] == "A man is playing a guitar."
    assert main(["search", "--index", str(tmp_path / "idx"), "--top_k", "1", "guitar"]) == 0
    assert "--faiss_fast" not in capsys.readouterr().err


@pytest.mark.parametrize("kwargs", [
    dict(use_faiss=False),
    pytest.param(dict(use_faiss=True), marks=needs_faiss),
    pytest.param(dict(use_faiss=True, faiss_fast=True), marks=needs_faiss),
    dict(precision="int8", use_faiss=False),
    dict(precision="binary", use_faiss=False),
])
def test_search_top_k_beyond_the_corpus_returns_the_corpus(minilm, kwargs):
    """A huge top_k ("everything above the threshold") must not size the result buffers."""
    corpus = ["A man is playing a guitar.", "A woman is reading a book.", "The market crashed."]
    minilm.build_index(corpus, **kwargs)
    hits = minilm.search(["guitar music", "a novel"], threshold=-1, top_k=10**12)
    assert [sorted(s for s, _ in r) for r in hits] == [sorted(corpus)] * 2
    assert minilm.search("guitar music", threshold=-1, top_k=np.int64(1))[0][0] == corpus[0]  # numpy ints are ints
    with pytest.raises(ValueError, match="threshold.*nan"):
        minilm.search("guitar music", threshold=float("nan"))


@pytest.mark.parametrize("use_faiss,faiss_fast", [
    (False, False),
    pytest.param(True, False, marks=needs_faiss),
    pytest.param(True, True, marks=needs_faiss),
])
def test_empty_index_saves_loads_and_grows(minilm, tmp_path, use_faiss, faiss_fast):
    corpus = ["A man is playing a guitar.", "A woman is reading a book.", "The market crashed."]
    minilm.num_cells, minilm.num_cells_in_search = 2, 2
    try:
        # a folder that held an IVF index before: its cells must not be taken for the empty index's
        minilm.build_index(corpus, use_faiss=use_faiss, faiss_fast=faiss_fast)
        minilm.save_index(tmp_path / "idx")
        minilm.build_index([], use_faiss=use_faiss, faiss_fast=faiss_fast)
        minilm.save_index(tmp_path / "idx")
        minilm.index = None
        minilm.load_index(tmp_path / "idx")
        assert minilm.index["sentences"] == [] and minilm.search("guitar", threshold=-1) == []
        minilm.add_to_index(corpus)
        assert minilm.search("guitar music", threshold=-1, top_k=1)[0][0] == corpus[0]
    finally:
        minilm.num_cells, minilm.num_cells_in_search = 100, 10


@needs_faiss
def test_loaded_ivf_index_probes_the_loading_models_cells(minilm, tmp_path):
    corpus = [f"Sentence number {i} is about topic {i % 7}." for i in range(60)]
    minilm.num_cells, minilm.num_cells_in_search = 4, 1
    try:
        minilm.build_index(corpus, use_faiss=True, faiss_fast=True)
        assert minilm.index["index"]._index.nprobe == 1
        minilm.save_index(tmp_path / "ivf")
        minilm.num_cells_in_search = 4  # every cell: the search is exact
        minilm.load_index(tmp_path / "ivf")
        assert minilm.index["index"]._index.nprobe == 4
        exact = minilm.similarity(["topic 3"], corpus)[0]
        best = minilm.search("topic 3", top_k=1)[0]
        assert best[0] == corpus[int(exact.argmax())]
    finally:
        minilm.num_cells, minilm.num_cells_in_search = 100, 10


@needs_faiss
@pytest.mark.parametrize("cells", [dict(num_cells=0), dict(num_cells_in_search=0), dict(num_cells_in_search=-1),
                                   dict(num_cells="16"), dict(num_cells_in_search=2.5)])
def test_bad_ivf_cells_name_the_argument(minilm, minilm_path, cells):
    (name, value), = cells.items()
    with pytest.raises(ValueError, match=rf"{name} must be a positive integer.*{value!r}"):
        SimCSE(str(minilm_path), device="cpu", **cells)
    setattr(minilm, name, value)  # set after construction: refused when the IVF index is built
    try:
        with pytest.raises(ValueError, match=rf"{name} must be a positive integer.*{value!r}"):
            minilm.build_index(["one sentence", "another one"], use_faiss=True, faiss_fast=True)
    finally:
        minilm.num_cells, minilm.num_cells_in_search = 100, 10


@pytest.mark.parametrize("device, message", [
    ("bogus", "device 'bogus' is not a device torch knows"),
    ("cuda", "device 'cuda': no CUDA GPU is available here"),  # was: AssertionError "Torch not compiled with CUDA"
    ("cuda:7", "device 'cuda:7'"),
])
@pytest.mark.slow
def test_unavailable_device_is_named(minilm_path, device, message):
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        if device == "cuda" or torch.cuda.device_count() > 7:
            pytest.skip("this machine has that GPU")
        message = f"this machine has {torch.cuda.device_count()} CUDA GPU"
    with pytest.raises(ValueError, match=message):
        SimCSE(str(minilm_path), device=device)
    r = _cli("encode", "--device", device, "hello")
    assert r.returncode != 0 and message.split(":")[0] in r.stderr and "Traceback" not in r.stderr


def test_cli_faiss_fast_with_no_faiss_is_an_error(capsys, tmp_path):
    # it used to build an exact torch index, saying so only at log level info (not shown)
    from simcse.cli import main

    assert main(["search", "--no_faiss", "--faiss_fast", "--index", str(tmp_path / "idx"), "a query"]) == 2
    err = capsys.readouterr().err
    assert "--faiss_fast builds a FAISS IVF index and --no_faiss searches without FAISS" in err
    assert not (tmp_path / "idx").exists()


def test_faiss_fast_without_faiss_warns(minilm, caplog, monkeypatch):
    import simcse.search.index as index

    monkeypatch.setattr(index, "faiss_available", lambda: False)
    with caplog.at_level("WARNING", logger="simcse.search.index"):
        minilm.build_index(["A dog barks.", "It rains."], faiss_fast=True)
    assert type(minilm.index["index"]).__name__ == "TorchIndex"
    assert any("faiss_fast needs faiss" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)


@needs_faiss
def test_use_faiss_true_without_faiss_falls_back_as_the_original_package(minilm, caplog, monkeypatch, tmp_path):
    import simcse.search.index as index

    sentences = ["A dog barks.", "It rains.", "A cat sleeps.", "Stocks fell today."]
    minilm.build_index(sentences, use_faiss=True, faiss_fast=True)  # saved from FAISS (IVF) while it is there
    minilm.save_index(tmp_path / "ivf")
    expected = minilm.search("A puppy is barking.", top_k=2, threshold=-1)
    monkeypatch.setattr(index, "faiss_available", lambda: False)
    with caplog.at_level("WARNING", logger="simcse.search.index"):
        minilm.build_index(sentences, use_faiss=True)
        assert type(minilm.index["index"]).__name__ == "TorchIndex"
        minilm.load_index(tmp_path / "ivf", use_faiss=True)  # the IVF index's vectors, on the torch index
        assert type(minilm.index["index"]).__name__ == "TorchIndex"
        assert [s for s, _ in minilm.search("A puppy is barking.", top_k=2, threshold=-1)] == [s for s, _ in expected]
        minilm.build_index(sentences, use_faiss=True, precision="int8")
        assert minilm.index["index"].backend == "torch"
    warned = [r for r in caplog.records if "use_faiss=True but faiss is not installed" in r.getMessage()]
    assert len(warned) == 3 and all(r.levelname == "WARNING" for r in warned)


def test_text_that_is_not_valid_unicode_is_named(minilm):
    """A lone surrogate (what a non-UTF-8 command-line argument becomes) reached the tokenizer, whose
    TypeError named neither the argument nor the sentence."""
    with pytest.raises(ValueError, match=r"sentence is not valid Unicode text: lone surrogate '\\udce9' at character 3"):
        minilm.encode("caf\udce9")
    with pytest.raises(ValueError, match=r"\[1\] is not valid Unicode text"):
        minilm.build_index(["ok", "bad\ud800"], use_faiss=False)
    with pytest.raises(ValueError, match="not valid Unicode"):
        minilm.similarity(["fine", "caf\udce9"], "fine")


def test_cli_encode_never_replaces_a_file_unasked_nor_its_input(tmp_path, capsys, monkeypatch):
    from simcse import cli
    from simcse.cli import encode

    mine = tmp_path / "mine.txt"
    mine.write_text("First sentence.\nSecond sentence.\n")
    monkeypatch.setattr(encode, "load_model", lambda args: pytest.fail("the model loaded before the output was checked"))
    for extra in ([], ["--overwrite"]):
        assert cli.main(["encode", "--file", str(mine), "--output", str(mine), *extra]) == 2
        assert "is the --file it reads" in capsys.readouterr().err
    assert mine.read_text() == "First sentence.\nSecond sentence.\n"
    notes = tmp_path / "notes.npy"
    notes.write_text("mine")
    assert cli.main(["encode", "--file", str(mine), "--output", str(notes)]) == 2
    assert f"--output '{notes}' exists; pass --overwrite to replace it" in capsys.readouterr().err
    assert notes.read_text() == "mine"
    assert cli.main(["encode", "--file", str(mine), "--output", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    monkeypatch.undo()
    assert cli.main(["encode", "--file", str(mine), "--output", str(notes), "--overwrite"]) == 0
    assert np.load(notes).shape == (2, 384)


def test_is_faiss_index_and_the_index_dict_of_the_original_package(tiny_bert_path):
    from simcse.search.index import faiss_available

    model = SimCSE(str(tiny_bert_path), device="cpu")
    assert model.is_faiss_index is False
    corpus = ["a cat sits .", "a dog runs .", "the sun is hot ."]
    model.build_index(corpus, use_faiss=False)
    assert model.is_faiss_index is False
    assert list(model.index["sentences"]) == corpus and model.index["index"].ntotal == 3
    with pytest.raises(AttributeError):
        model.is_faiss_index = True
    if faiss_available():
        model.build_index(corpus, use_faiss=True)
        assert model.is_faiss_index is True
        model.build_index(corpus, use_faiss=True, precision="binary")
        assert model.is_faiss_index is True


def test_unsup_in_the_path_gives_cls_before_pooler_as_the_original(tiny_bert_path, tmp_path):
    import shutil

    folder = tmp_path / "my-unsup-model"
    shutil.copytree(tiny_bert_path, folder)
    assert SimCSE(str(folder), device="cpu").pooler == "cls_before_pooler"
