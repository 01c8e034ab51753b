"""Quantised embeddings (int8/uint8/binary/ubinary) and quantised indexes (FAISS and torch, re-scoring)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from simcse import SimCSE
from simcse.search.index import faiss_available
from simcse.search.quantization import (
    QuantizedIndex,
    dequantize_int8,
    index_memory,
    quantization_ranges,
    quantize_embeddings,
    unpack_binary,
)

needs_faiss = pytest.mark.skipif(not faiss_available(), reason="faiss is not installed")


# ---------------------------------------------------------------------- pure functions
def _rand(n: int = 200, d: int = 20, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def test_int8_codes_and_round_trip_error():
    x = _rand()
    q8 = quantize_embeddings(x, "int8")
    u8 = quantize_embeddings(x, "uint8")
    assert q8.dtype == np.int8 and u8.dtype == np.uint8 and q8.shape == u8.shape == x.shape
    np.testing.assert_array_equal(q8.astype(np.int16) + 128, u8.astype(np.int16))
    assert u8.min() == 0 and u8.max() == 255  # calibrated on the batch: its extremes hit both ends
    r = quantization_ranges(x)
    step = (r[1] - r[0]) / 255
    for codes in (q8, u8):
        err = np.abs(dequantize_int8(codes, r) - x)
        assert np.all(err <= step / 2 + 1e-5)


def test_calibration_and_ranges_are_used():
    x, calib = _rand(50, 8, 1), _rand(500, 8, 2) * 0.5
    r = quantization_ranges(calib)
    a = quantize_embeddings(x, "int8", calibration_embeddings=calib)
    b = quantize_embeddings(x, "int8", ranges=r)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, quantize_embeddings(x, "int8"))  # other ranges, other codes
    # values outside the calibration range clip to the end buckets
    assert a.min() == -128 and a.max() == 127


def test_matches_sentence_transformers_semantics():
    st_quantize = pytest.importorskip("sentence_transformers.util.quantization").quantize_embeddings
    x, calib = _rand(64, 30, 3), _rand(300, 30, 4)
    for precision in ("int8", "uint8", "binary", "ubinary"):
        ours = quantize_embeddings(x, precision, calibration_embeddings=calib)
        theirs = st_quantize(x, precision, calibration_embeddings=calib)
        assert ours.dtype == theirs.dtype, precision
        np.testing.assert_array_equal(ours, theirs, err_msg=precision)


def test_binary_bits_are_signs():
    x = _rand(30, 21)  # not a multiple of 8: the last byte is zero-padded
    b, ub = quantize_embeddings(x, "binary"), quantize_embeddings(x, "ubinary")
    assert b.shape == ub.shape == (30, 3) and b.dtype == np.int8 and ub.dtype == np.uint8
    for codes in (b, ub):
        np.testing.assert_array_equal(unpack_binary(codes, 21), np.where(x > 0, 1.0, -1.0))
        np.testing.assert_array_equal(unpack_binary(codes, 21, signs=False), (x > 0).astype(np.uint8))


def test_bad_quantisation_input():
    with pytest.raises(ValueError, match=r"unknown precision 'int4'.*float32, int8, uint8, binary, ubinary"):
        quantize_embeddings(_rand(), "int4")
    with pytest.raises(ValueError, match="at least 2 calibration"):
        quantize_embeddings(_rand(1), "int8")
    with pytest.raises(ValueError, match="already quantised"):
        quantize_embeddings(quantize_embeddings(_rand(), "int8"), "binary")
    with pytest.raises(ValueError, match=r"ranges must have shape \(2, 20\)"):
        quantize_embeddings(_rand(), "int8", ranges=np.zeros((2, 5)))


def test_index_memory():
    f, i8, b = (index_memory(384, p) for p in ("float32", "int8", "binary"))
    assert (f["bytes_per_vector"], i8["bytes_per_vector"], b["bytes_per_vector"]) == (1536, 384, 48)
    assert b["compression_vs_float32"] == 32 and i8["compression_vs_float32"] == 4
    assert f["mib_per_million"] == pytest.approx(1536e6 / 2**20)
    assert index_memory(384, "float32", truncate_dim=64)["bytes_per_vector"] == 256
    assert index_memory(384, "binary", rescore_with="float")["rescore_bytes_per_vector"] == 1536
    with pytest.raises(ValueError, match="uint8"):
        index_memory(384, "uint8")


# ---------------------------------------------------------------------- with the real model
@pytest.fixture(scope="module")
def stsb(data_dir):
    """STS-B dev: the first sentences of the pairs as corpus, their partners as (unseen) queries."""
    from simcse.evaluation.datadir import read_stsb

    s1, s2, _ = read_stsb(data_dir, "dev")
    corpus, queries, seen = [], [], set()
    for a, b in zip(s1, s2):
        if a not in seen and a != b:
            seen.add(a)
            corpus.append(a)
            queries.append(b)
        if len(corpus) == 300:
            break
    return corpus, queries


@pytest.fixture(scope="module")
def model(minilm_path):
    from simcse import SimCSE

    return SimCSE(str(minilm_path), device="cpu")


@pytest.fixture(scope="module")
def float_vectors(model, stsb):
    corpus, queries = stsb
    return model.encode(corpus, return_numpy=True), model.encode(queries, return_numpy=True)


def test_encode_precisions(model, stsb, float_vectors):
    corpus, _ = stsb
    sents = corpus[:40]
    f = float_vectors[0][:40]
    i8 = model.encode(sents, precision="int8", return_numpy=True)
    assert i8.dtype == np.int8 and i8.shape == (40, 384)
    r = quantization_ranges(f)
    deq = dequantize_int8(i8, r)
    assert np.abs(deq - f).max() <= ((r[1] - r[0]) / 255).max() / 2 + 1e-5
    cos = (deq * f).sum(1) / np.linalg.norm(deq, axis=1)
    assert cos.min() > 0.99
    b = model.encode(sents, precision="binary")
    assert b.dtype.__str__() == "torch.int8" and tuple(b.shape) == (40, 48)
    ub = model.encode(sents, precision="ubinary", return_numpy=True)
    assert ub.dtype == np.uint8 and ub.shape == (40, 48)
    np.testing.assert_array_equal(unpack_binary(ub, 384), np.where(f > 0, 1.0, -1.0))
    # one sentence with calibration embeddings = the same sentence in a calibrated batch
    one = model.encode(sents[3], precision="uint8", calibration_embeddings=f, return_numpy=True)
    single = model.encode(sents[3], return_numpy=True)
    np.testing.assert_array_equal(one, quantize_embeddings(single, "uint8", calibration_embeddings=f))
    assert np.abs(one.astype(int) - quantize_embeddings(f, "uint8", calibration_embeddings=f)[3]).max() <= 1


def test_encode_bad_precision(model):
    with pytest.raises(ValueError, match=r"unknown precision 'fp16'.*binary, ubinary"):
        model.encode(["a", "b"], precision="fp16")
    with pytest.raises(ValueError, match="calibration"):
        model.encode("one sentence", precision="int8")
    # encode takes calibration_embeddings=, not ranges=: the message names only what encode accepts
    with pytest.raises(ValueError, match=r"encode\(precision='int8'\) of a single sentence") as err:
        model.encode(["one sentence"], precision="int8")
    assert "ranges=" not in str(err.value)


# Thresholds: measured top-1 agreement with the exact float index on these 300 STS-B dev
# sentences with all-MiniLM-L6-v2 is listed in MEASURED; the bounds leave a margin.
# (the same on the FAISS and torch backends).
MEASURED = {("int8", 0, "quantized"): 1.0, ("int8", 4, "float"): 1.0, ("binary", 0, "quantized"): 0.827,
            ("binary", 4, "quantized"): 0.863, ("binary", 4, "float"): 0.977}
BOUNDS = {("int8", 0, "quantized"): 0.95, ("int8", 4, "float"): 0.99, ("binary", 0, "quantized"): 0.7,
          ("binary", 4, "quantized"): 0.75, ("binary", 4, "float"): 0.92}


@pytest.mark.parametrize("use_faiss", [pytest.param(True, marks=needs_faiss), False], ids=["faiss", "torch"])
def test_quantised_top1_agrees_with_float(float_vectors, use_faiss):
    docs, qs = float_vectors
    ref = np.argmax(qs @ docs.T, axis=1)
    agree = {}
    for precision, mult, rescore_with in BOUNDS:
        idx = QuantizedIndex(384, precision, use_faiss=use_faiss, rescore_multiplier=mult, rescore_with=rescore_with)
        idx.add(docs)
        assert idx.backend == ("faiss" if use_faiss else "torch")
        agree[precision, mult, rescore_with] = float(np.mean(idx.search(qs, 1)[1][:, 0] == ref))
    assert all(agree[k] >= BOUNDS[k] for k in BOUNDS), agree
    # re-scoring helps binary
    assert agree["binary", 4, "float"] >= agree["binary", 4, "quantized"] >= agree["binary", 0, "quantized"]


def test_search_api_with_quantised_index(model, stsb):
    """Users call build_index/search as before; binary + float re-scoring returns true cosines."""
    corpus, queries = stsb
    model.build_index(corpus[:100], use_faiss=False)
    ref = model.search(queries[:30], threshold=-1, top_k=3)
    model.build_index(corpus[:100], precision="binary", rescore_with="float")
    got = model.search(queries[:30], threshold=-1, top_k=3)
    assert np.mean([a[0][0] == b[0][0] for a, b in zip(ref, got)]) >= 0.9
    for a, b in zip(ref, got):
        if a[0][0] == b[0][0]:
            assert a[0][1] == pytest.approx(b[0][1], abs=1e-4)
    single = model.search(queries[0], threshold=0.5, top_k=2)
    assert isinstance(single, list) and all(isinstance(x, tuple) and x[1] >= 0.5 for x in single)


@needs_faiss
@pytest.mark.parametrize("precision", ["int8", "binary"])
def test_faiss_and_torch_backends_agree(float_vectors, precision):
    docs, qs = float_vectors
    indexes = {}
    for use_faiss in (True, False):
        idx = QuantizedIndex(384, precision, use_faiss=use_faiss, rescore_multiplier=0)
        idx.add(docs)
        indexes[use_faiss] = idx
    np.testing.assert_array_equal(indexes[True].base.codes(), indexes[False].base.codes())
    (sf, i_f), (st, i_t) = (indexes[b].search(qs, 10) for b in (True, False))
    np.testing.assert_allclose(sf, st, atol=1e-4)
    if precision == "binary":
        hf, _ = indexes[True].base.hamming_search(qs, 10)
        ht, _ = indexes[False].base.hamming_search(qs, 10)
        np.testing.assert_array_equal(hf, ht)
        # the ids agree except among equal distances
        distinct = np.ones_like(hf, dtype=bool)
        distinct[:, 1:] &= hf[:, 1:] != hf[:, :-1]
        distinct[:, :-1] &= hf[:, :-1] != hf[:, 1:]
        distinct[:, -1] = False  # the 10th may tie with an 11th
        np.testing.assert_array_equal(i_f[distinct], i_t[distinct])
    else:
        gap = np.abs(np.diff(sf, axis=1)) > 1e-4
        np.testing.assert_array_equal(i_f[:, 0][gap[:, 0]], i_t[:, 0][gap[:, 0]])
        assert np.mean(i_f == i_t) > 0.98
    # re-scored results are (near-)tie-free and equal
    for idx in indexes.values():
        idx.rescore_multiplier, idx.rescore_with = 4, "quantized"
    if precision == "binary":
        (sf, i_f), (st, i_t) = (indexes[b].search(qs, 5) for b in (True, False))
        np.testing.assert_allclose(sf, st, atol=1e-5)
        assert np.mean(i_f == i_t) > 0.98


@pytest.mark.parametrize("use_faiss,precision,rescore_with", [
    pytest.param(True, "int8", "quantized", marks=needs_faiss),
    pytest.param(True, "binary", "float", marks=needs_faiss),
    (False, "binary", "quantized"),
    (False, "int8", "float"),
])
def test_save_load_round_trip(model, stsb, tmp_path, use_faiss, precision, rescore_with):
    corpus, queries = stsb
    model.build_index(corpus[:60], use_faiss=use_faiss, precision=precision, rescore_with=rescore_with)
    before = model.search(queries[:10], threshold=-1, top_k=3)
    model.save_index(tmp_path / "idx")
    files = {p.name for p in (tmp_path / "idx").iterdir()}
    assert "codes.npy" in files and ("embeddings.npy" in files) == (rescore_with == "float")
    assert ("ranges.npy" in files) == (precision == "int8")
    meta = json.loads((tmp_path / "idx" / "index_meta.json").read_text())
    assert meta["precision"] == precision and meta["truncate_dim"] is None and meta["rescore_with"] == rescore_with
    model.index = None
    model.load_index(tmp_path / "idx")
    idx = model.index["index"]
    assert isinstance(idx, QuantizedIndex) and idx.precision == precision and idx.ntotal == 60
    if rescore_with == "float":
        assert isinstance(idx.float_vectors, np.memmap)
    after = model.search(queries[:10], threshold=-1, top_k=3)
    assert [[s for s, _ in r] for r in after] == [[s for s, _ in r] for r in before]
    np.testing.assert_allclose([[x for _, x in r] for r in after], [[x for _, x in r] for r in before], atol=1e-5)
    # the other backend reads the same folder and ranks alike
    if faiss_available():
        model.load_index(tmp_path / "idx", use_faiss=not use_faiss)
        other = model.search(queries[:10], threshold=-1, top_k=1)
        assert np.mean([a[0][0] == b[0][0] for a, b in zip(other, before)]) >= 0.95
    # saving back into the folder it was loaded from keeps a memory-mapped embeddings.npy intact
    model.load_index(tmp_path / "idx")
    model.save_index(tmp_path / "idx")
    model.load_index(tmp_path / "idx")
    assert [r[0][0] for r in model.search(queries[:10], threshold=-1, top_k=1)] == [r[0][0] for r in before]


def test_add_to_quantised_index(model, stsb):
    corpus, _ = stsb
    model.build_index(corpus[:50], precision="binary", use_faiss=False)
    model.add_to_index(corpus[50:60])
    assert model.index["index"].ntotal == 60 and len(model.index["sentences"]) == 60
    assert model.index["vectors"] is None  # no float copy kept
    hits = model.search(corpus[55], threshold=-1, top_k=1)
    assert hits[0][0] == corpus[55] and hits[0][1] > 0.7


def test_bad_index_arguments(model, stsb, tmp_path):
    corpus, _ = stsb
    with pytest.raises(ValueError, match=r"unknown index precision 'uint8'; choose one of float32, int8, binary"):
        model.build_index(corpus[:5], precision="uint8")
    with pytest.raises(ValueError, match=r"rescore_multiplier.*-1"):
        model.build_index(corpus[:5], precision="int8", rescore_multiplier=-1)
    with pytest.raises(ValueError, match=r"unknown rescore_with 'disk'"):
        model.build_index(corpus[:5], precision="binary", rescore_with="disk")
    model.build_index(corpus[:5], precision="int8")
    model.save_index(tmp_path / "i8")
    (tmp_path / "i8" / "ranges.npy").unlink()
    with pytest.raises(FileNotFoundError, match="ranges.npy is missing"):
        model.load_index(tmp_path / "i8")
    meta_file = tmp_path / "i8" / "index_meta.json"
    meta = json.loads(meta_file.read_text())
    meta["precision"] = "int4"
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="int4"):
        model.load_index(tmp_path / "i8")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision", ["int8", "binary"])
def test_quantised_index_searches_on_the_gpu(precision):
    """On cuda the torch codes live and are searched on the GPU, with the CPU index's results."""
    rng = np.random.default_rng(0)
    docs = rng.standard_normal((5000, 384)).astype(np.float32)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    qs = docs[:200] + 0.3 * rng.standard_normal((200, 384)).astype(np.float32)
    qs /= np.linalg.norm(qs, axis=1, keepdims=True)
    cpu = QuantizedIndex(384, precision, use_faiss=False, rescore_multiplier=0, device="cpu")
    gpu = QuantizedIndex(384, precision, rescore_multiplier=0, device="cuda")
    for idx in (cpu, gpu):
        idx.add(docs[:3000])
        idx.add(docs[3000:])
    assert gpu.backend == "torch" and gpu.base._codes.device.type == "cuda"
    np.testing.assert_array_equal(cpu.base.codes(), gpu.base.codes())
    (sc, ic), (sg, ig) = cpu.search(qs, 10), gpu.search(qs, 10)
    np.testing.assert_allclose(sc, sg, atol=1e-4)
    assert np.mean(ic == ig) > 0.98 and np.array_equal(ic[:, 0], ig[:, 0])
    for idx in (cpu, gpu):
        idx.rescore_multiplier, idx.rescore_with = 4, "quantized"
    (sc, ic), (sg, ig) = cpu.search(qs, 5), gpu.search(qs, 5)
    np.testing.assert_allclose(sc, sg, atol=1e-5)
    assert np.mean(ic == ig) > 0.98


def test_int8_index_too_small_to_calibrate_says_what_to_do(model):
    for corpus, what in ((["A single sentence."], "has 1 sentence"),
                         (["Same.", "Same."], "all with the same embedding")):
        with pytest.raises(ValueError) as exc:
            model.build_index(corpus, precision="int8")
        msg = str(exc.value)
        assert what in msg and "at least 2" in msg and "precision='binary'" in msg, msg
        assert "ranges=" not in msg and "calibration_embeddings=" not in msg  # build_index takes neither
    model.build_index(["A single sentence."], precision="binary")  # needs no calibration
    assert model.search("A single sentence.", threshold=-1, top_k=1)[0][0] == "A single sentence."
    model.build_index([], precision="int8")
    with pytest.raises(ValueError, match=r"add_to_index.*at least 2.*in one call"):
        model.add_to_index(["One more."])
    model.add_to_index(["One more.", "And another one."])
    assert model.index["index"].ntotal == 2
    assert model.search("another one", threshold=-1, top_k=1)[0][0] == "And another one."


def test_int8_calibration_on_vectors_that_differ_only_by_float_noise_is_refused(model):
    """The same sentence twice can encode to vectors ~1e-7 apart (batched kernels): ranges that narrow
    would clip every later vector to code 0 or 255, so they count as the same embedding."""
    from simcse.tool import _check_int8_calibration

    index = QuantizedIndex(4, precision="int8", use_faiss=False)
    v = np.array([[0.5, -0.5, 0.5, 0.5]], dtype=np.float32)
    with pytest.raises(ValueError, match="2 sentences, all with the same embedding"):
        _check_int8_calibration(index, np.concatenate([v, v + 1.7e-7]), "build_index")
    _check_int8_calibration(index, np.concatenate([v, v[:, ::-1]]), "build_index")  # different: accepted
    model.build_index([], precision="int8")
    with pytest.raises(ValueError, match="add_to_index.*2 sentences, all with the same embedding"):
        model.add_to_index(["Twice.", "Twice."])


@pytest.mark.parametrize("use_faiss", [pytest.param(True, marks=needs_faiss), False])
@pytest.mark.parametrize("precision", ["int8", "binary"])
def test_empty_quantised_index_saves_loads_and_grows(model, stsb, tmp_path, use_faiss, precision):
    corpus, _ = stsb
    # a folder that held an int8 index before: its ranges must not be taken for the empty index's
    model.build_index(corpus[:20], precision="int8", use_faiss=use_faiss)
    model.save_index(tmp_path / "idx")
    model.build_index([], precision=precision, use_faiss=use_faiss)
    model.save_index(tmp_path / "idx")
    model.index = None
    model.load_index(tmp_path / "idx")
    assert model.index["index"].ntotal == 0 and model.search(corpus[0], threshold=-1) == []
    model.add_to_index(corpus[:20])
    assert model.search(corpus[3], threshold=-1, top_k=1)[0][0] == corpus[3]
    model.save_index(tmp_path / "idx")
    model.load_index(tmp_path / "idx")
    assert model.search(corpus[3], threshold=-1, top_k=1)[0][0] == corpus[3]


def test_saving_another_kind_of_index_removes_the_old_ones_files(model, stsb, tmp_path):
    """Each save into a saved index's folder leaves exactly the files of the index saved last: no
    stale float vectors next to codes (they can be the largest file), no codes or ranges next to a
    float index, no IVF cells; files of the user's in the folder stay."""
    corpus, queries = stsb
    folder = tmp_path / "idx"
    expected = {
        "float": {"index_meta.json", "sentences.jsonl", "embeddings.npy"},
        "int8": {"index_meta.json", "sentences.jsonl", "codes.npy", "ranges.npy"},
        "binary+float": {"index_meta.json", "sentences.jsonl", "codes.npy", "embeddings.npy"},
        "binary": {"index_meta.json", "sentences.jsonl", "codes.npy"},
    }
    builds = {
        "float": dict(precision="float32"),
        "int8": dict(precision="int8"),
        "binary+float": dict(precision="binary", rescore_with="float"),
        "binary": dict(precision="binary"),
    }
    for i, kind in enumerate(("float", "int8", "binary+float", "binary", "float", "binary+float", "int8")):
        model.build_index(corpus[:40], use_faiss=False, **builds[kind])
        top = [r[0][0] for r in model.search(queries[:5], threshold=-1, top_k=1)]
        model.save_index(folder)
        if i == 0:
            (folder / "notes.txt").write_text("mine")
        assert {p.name for p in folder.iterdir()} == expected[kind] | {"notes.txt"}, kind
        model.index = None
        model.load_index(folder)
        assert [r[0][0] for r in model.search(queries[:5], threshold=-1, top_k=1)] == top, kind
    assert (folder / "notes.txt").read_text() == "mine"


@needs_faiss
def test_a_quantised_index_loads_on_the_backend_it_was_saved_from(model, stsb, tmp_path):
    """As float indexes do: saved from torch, it loads on torch although FAISS is installed; saved
    from FAISS, on FAISS; use_faiss given to load_index still decides."""
    corpus, _ = stsb
    for use_faiss in (False, True):
        model.build_index(corpus[:30], precision="binary", use_faiss=use_faiss)
        model.save_index(tmp_path / str(use_faiss))
        model.load_index(tmp_path / str(use_faiss))
        assert model.index["index"].backend == ("faiss" if use_faiss else "torch")
        model.load_index(tmp_path / str(use_faiss), use_faiss=not use_faiss)
        assert model.index["index"].backend == ("torch" if use_faiss else "faiss")


@needs_faiss
def test_ivf_cells_go_when_another_kind_of_index_is_saved_over_them(model, stsb, tmp_path):
    corpus, _ = stsb
    cells = model.num_cells
    model.num_cells = 4
    try:
        model.build_index(corpus[:40], use_faiss=True, faiss_fast=True)
        model.save_index(tmp_path / "idx")
        assert (tmp_path / "idx" / "faiss.index").is_file()
        model.build_index(corpus[:40], use_faiss=True, precision="binary")
        model.save_index(tmp_path / "idx")
        assert {p.name for p in (tmp_path / "idx").iterdir()} == {"index_meta.json", "sentences.jsonl", "codes.npy"}
    finally:
        model.num_cells = cells


def test_float_rescoring_vectors_stay_on_disk_after_build(tiny_bert_path):
    """build_index(precision="binary", rescore_with="float") keeps the float vectors in a memory-mapped
    temporary file, not in RAM; the results are those of exact float re-scoring of the candidates."""
    model = SimCSE(str(tiny_bert_path), device="cpu")
    corpus = [f"sentence number {i} about {w}" for i, w in enumerate(["cats", "dogs", "rain", "music"] * 10)]
    model.build_index(corpus, precision="binary", rescore_with="float", rescore_multiplier=40, use_faiss=False)
    fv = model.index.index.float_vectors
    assert isinstance(fv, np.memmap) and fv.shape == (40, 32)
    exact = model.encode(corpus, return_numpy=True)
    np.testing.assert_allclose(np.asarray(fv), exact, atol=1e-6)
    model.add_to_index(["one more sentence", "and another"])
    assert isinstance(model.index.index.float_vectors, np.memmap) and model.index.index.float_vectors.shape == (42, 32)
    hits = model.search(corpus[5], threshold=-1, top_k=3)
    q = model.encode(corpus[5], return_numpy=True)
    best = np.sort(np.asarray(model.index.index.float_vectors) @ q)[::-1][:3]
    np.testing.assert_allclose([s for _, s in hits], best, atol=1e-5)  # 40x candidates: every vector re-scored


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="RssAnon is read from /proc (Linux)")
def test_float_rescoring_vectors_cost_no_ram():
    import ctypes
    import ctypes.util

    def rss_anon() -> int:
        try:
            ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass
        line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("RssAnon:"))
        return int(line.split()[1]) * 1024

    n, dim = 40_000, 384
    rng = np.random.default_rng(0)
    index = QuantizedIndex(dim, "binary", use_faiss=False, rescore_multiplier=4, rescore_with="float")
    before = rss_anon()
    for _ in range(n // 10_000):
        x = rng.standard_normal((10_000, dim)).astype(np.float32)
        index.add(x / np.linalg.norm(x, axis=1, keepdims=True))
        del x
    grown = rss_anon() - before
    assert grown < n * dim * 4 / 4, f"{grown / n:.0f} bytes per vector in RAM"  # float32 in RAM would be 1536
    assert isinstance(index.float_vectors, np.memmap)
