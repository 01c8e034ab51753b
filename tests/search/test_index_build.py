"""``simcse index build`` / ``simcse index search`` and the typed index: FAISS indexes of any factory string
built from an embeddings folder (written by ``simcse encode --input``), searched by id and text, with
re-scoring; the refusals; ``build_index(path)`` streaming its file.

Corpora are generated here (templated sentences for all-MiniLM-L6-v2, random words for a tiny random
BERT where only ids and texts matter); every embeddings folder is written by ``simcse encode``.
"""
from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import make_tiny_bert
from simcse import SimCSE
from simcse.cli import encode as encode_cli
from simcse.cli import main
from simcse.search.build import build_index_folder, default_factory, plan_build
from simcse.search.store import IndexManifest

faiss = pytest.importorskip("faiss")

SUBJECTS = "man woman child teacher doctor farmer pilot chef student artist dog cat horse bird".split()
VERBS = "plays reads paints cooks repairs sells buys watches carries builds cleans draws".split()
OBJECTS = "guitar book house car boat cake bicycle piano letter bridge chair map".split()
PLACES = ("in the park", "at the beach", "in the kitchen", "on the farm", "in the city", "near the river",
          "in a school", "at the market", "in the garden", "on a ship")
WORDS = "the a of city river music film team school war king song game book church army party station".split()


def templated(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out: set[str] = set()
    while len(out) < n:
        out.add(f"The {rng.choice(SUBJECTS)} {rng.choice(VERBS)} a {rng.choice(OBJECTS)} {rng.choice(PLACES)}.")
    lines = sorted(out)
    rng.shuffle(lines)
    return lines


def encode_folder(model: Path, corpus: Path, out: Path, *extra: str) -> Path:
    argv = ["--model", str(model), "--input", str(corpus), "--output_dir", str(out), "--device", "cpu",
            "--max_length", "32", "--shard_mb", "0.02", *extra]
    assert encode_cli.main(argv) == 0
    return out


@pytest.fixture(scope="module")
def lines() -> list[str]:
    return templated(2000)


@pytest.fixture(scope="module")
def minilm_emb(tmp_path_factory, minilm_path, lines) -> Path:
    """2000 sentences (and a blank line, so ids are line numbers, not positions) in 4+ shards."""
    d = tmp_path_factory.mktemp("minilm_emb")
    corpus = d / "corpus.txt"
    corpus.write_text("\n".join(lines[:3] + [""] + lines[3:]) + "\n", encoding="utf-8")
    return encode_folder(minilm_path, corpus, d / "emb")


@pytest.fixture(scope="module")
def line_of(lines) -> dict[str, int]:
    return {s: i if i < 3 else i + 1 for i, s in enumerate(lines)}  # line numbers in the corpus file


@pytest.fixture(scope="module")
def minilm32(minilm_path) -> SimCSE:
    return SimCSE(str(minilm_path), device="cpu", max_length=32)  # the length the embeddings were made with


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, minilm_path) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny"), minilm_path)


@pytest.fixture(scope="module")
def indexes(tmp_path_factory, minilm_emb) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("indexes")
    out = {}
    for factory in ("Flat", "HNSW16", "IVF16,PQ16x4"):
        out[factory] = d / factory.replace(",", "_")
        build_index_folder(minilm_emb, out[factory], factory=factory, say=lambda s: None)
    return out


def queries(lines: list[str]) -> list[str]:
    """Paraphrases of the first 150 sentences: the exact index finds each one's own sentence first."""
    return [s.replace("The ", "A ", 1).rstrip(".") for s in lines[:150]]


def test_compressed_indexes_agree_with_exact_search_and_rerank_restores_it(minilm32, indexes, lines, line_of):
    qs = queries(lines)
    tops = {}
    for factory, folder in indexes.items():
        minilm32.load_index(folder)
        assert minilm32.index.kind == "factory" and minilm32.index.index.factory == factory
        hits = minilm32.search(qs, threshold=-1, top_k=3, return_ids=True)
        for row in hits:
            assert len(row) == 3 and all(line_of[text] == rid for text, _, rid in row)  # ids and texts agree
        tops[factory] = [row[0][2] for row in hits]
        if factory == "IVF16,PQ16x4":
            minilm32.index.set_search_params(nprobe=16)
            tops["rerank"] = [row[0][2] for row in minilm32.search(qs, threshold=-1, top_k=3, return_ids=True, rerank=8)]
    exact = tops["Flat"]
    assert np.mean([e == line_of[s] for e, s in zip(exact, lines)]) > 0.95
    agree = {name: np.mean([a == b for a, b in zip(t, exact)]) for name, t in tops.items()}
    assert agree["HNSW16"] > 0.95
    assert 0.5 < agree["IVF16,PQ16x4"] < agree["rerank"]
    assert agree["rerank"] > 0.95
    # without FAISS the stored float16 vectors serve the exact torch index
    minilm32.load_index(indexes["IVF16,PQ16x4"], use_faiss=False)
    assert type(minilm32.index.index).__name__ == "TorchIndex"
    assert [r[0][2] for r in minilm32.search(qs[:30], threshold=-1, top_k=1, return_ids=True)] == exact[:30]


def test_index_is_opened_memory_mapped_and_named_by_its_manifest(minilm32, indexes, minilm_emb, tmp_path):
    manifest = IndexManifest.read(indexes["IVF16,PQ16x4"])
    assert manifest.kind == "factory" and manifest.ntotal == 2000 and manifest.rerank_file == "vectors_f16.npy"
    minilm32.load_index(indexes["IVF16,PQ16x4"])
    index = minilm32.index
    assert isinstance(index.index.rerank_vectors, np.memmap)
    assert type(index.sentences).__name__ == "TextStore" and isinstance(index.sentences.offsets, np.memmap)
    assert index["index"] is index.index and index["sentences"] is index.sentences  # the original package's keys
    with pytest.raises(KeyError, match="'nope'"):
        index["nope"]
    with pytest.raises(ValueError, match="efSearch=8 applies to HNSW indexes"):
        index.set_search_params(ef_search=8)
    minilm32.load_index(indexes["HNSW16"])
    minilm32.index.set_search_params(ef_search=64)
    assert faiss.downcast_index(minilm32.index.index._index).hnsw.efSearch == 64
    with pytest.raises(ValueError, match="nprobe=4 applies to IVF indexes"):
        minilm32.index.set_search_params(nprobe=4)
    build_index_folder(minilm_emb, tmp_path / "no_store", factory="Flat", rerank_store=False, say=lambda s: None)
    assert not (tmp_path / "no_store" / "vectors_f16.npy").exists()
    minilm32.load_index(tmp_path / "no_store")
    with pytest.raises(ValueError, match="rerank needs the float16 vectors"):
        minilm32.search("a query", rerank=2)


def test_cli_index_search_loads_the_model_of_the_index(indexes, lines, line_of, capsys):
    q = queries(lines)[5]
    assert main(["index", "search", "--index", str(indexes["IVF16,PQ16x4"]), "--format", "json", "--top_k", "2",
                 "--nprobe", "16", "--rerank", "4", "--device", "cpu", q]) == 0
    out = json.loads(capsys.readouterr().out)
    hit = out[0]["results"][0]
    assert out[0]["query"] == q and hit["text"] == lines[5] and hit["id"] == line_of[lines[5]]
    assert main(["index", "search", "--index", str(indexes["IVF16,PQ16x4"]), "--ef_search", "8", q]) == 2
    assert "efSearch=8 applies to HNSW indexes" in capsys.readouterr().err


def test_a_query_model_other_than_the_index_s_is_refused(indexes, tiny, tmp_path, capsys, minilm_path):
    with pytest.raises(ValueError, match=r"384-d vectors .*gives 32-d"):
        SimCSE(str(tiny), device="cpu").load_index(indexes["Flat"])
    # same width, other weights: refused by the model folder's fingerprint
    other = tmp_path / "other_minilm"
    shutil.copytree(minilm_path, other)
    weights = next(p for p in other.rglob("*.safetensors"))
    from safetensors.numpy import load_file, save_file

    tensors = load_file(weights)
    name = next(k for k in tensors if k.endswith("LayerNorm.bias"))
    tensors[name] = tensors[name] + 0.01
    save_file(tensors, weights, metadata={"format": "pt"})
    with pytest.raises(ValueError, match="fingerprint"):
        SimCSE(str(other), device="cpu").load_index(indexes["Flat"])
    assert main(["index", "search", "--index", str(indexes["Flat"]), "--model", str(other), "--device", "cpu",
                 "a query"]) == 2
    err = capsys.readouterr().err
    assert "fingerprint" in err and str(other) in err


def test_save_index_copies_a_built_index(minilm32, indexes, tmp_path, lines):
    minilm32.load_index(indexes["HNSW16"])
    before = minilm32.search(lines[:5], threshold=-1, top_k=2, return_ids=True)
    minilm32.save_index(tmp_path / "copy")
    minilm32.save_index(indexes["HNSW16"])  # its own folder: nothing to do
    minilm32.load_index(tmp_path / "copy")
    assert minilm32.search(lines[:5], threshold=-1, top_k=2, return_ids=True) == before
    with pytest.raises(ValueError, match="read-only"):
        minilm32.add_to_index(["One more sentence."])


def test_jsonl_user_ids_and_texts_come_back(tiny, tmp_path):
    records = [{"doc": f"record {i}: " + " ".join(random.Random(i).choice(WORDS) for _ in range(6)), "id": f"d{i}"}
               for i in range(300)]
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    emb = encode_folder(tiny, path, tmp_path / "emb", "--text_field", "doc")
    build_index_folder(emb, tmp_path / "idx", factory="IVF4,Flat", say=lambda s: None)
    model = SimCSE(str(tiny), device="cpu", max_length=32)
    model.load_index(tmp_path / "idx")
    assert model.index.texts(range(300)) == [r["doc"] for r in records]
    assert model.index.ids(range(300)) == [r["id"] for r in records]
    doc_of = {r["id"]: r["doc"] for r in records}
    for text, _, rid in model.search(records[7]["doc"], threshold=-1, top_k=5, return_ids=True):
        assert doc_of[rid] == text


def test_binary_embeddings_build_a_binary_index(minilm_path, lines, tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(lines[:400]) + "\n")
    emb = encode_folder(minilm_path, corpus, tmp_path / "emb", "--dtype", "binary")
    assert main(["index", "build", "--embeddings", str(emb), "--output", str(tmp_path / "idx")]) == 0
    assert "'BFlat'" in capsys.readouterr().err  # the default factory is printed
    model = SimCSE(str(minilm_path), device="cpu", max_length=32)
    model.load_index(tmp_path / "idx")
    assert model.index.index.binary and model.index.ntotal == 400
    hits = model.search(lines[:20], threshold=-1, top_k=1, return_ids=True)
    assert [h[0] for h in hits] == [(s, pytest.approx(1.0, abs=1e-3), i) for i, s in enumerate(lines[:20])]
    assert main(["index", "build", "--embeddings", str(emb), "--output", str(tmp_path / "i2"), "--rerank_store"]) == 2
    assert "binary embeddings do not have" in capsys.readouterr().err
    assert main(["index", "build", "--embeddings", str(emb), "--output", str(tmp_path / "i2"), "--factory", "Flat"]) == 2
    assert "'Flat' is a float index but the embeddings are binary" in capsys.readouterr().err
    assert not (tmp_path / "i2").exists()


def test_default_factory_by_size_and_ivf_cells_lowered_to_the_sample():
    assert default_factory(5_000, 384, False)[0] == "Flat"
    assert default_factory(500_000, 384, False)[0] == "HNSW32"
    assert default_factory(4_000_000, 384, False)[0] == "IVF8192,Flat"
    assert default_factory(50_000_000, 384, False)[0] == "IVF32768,PQ48x8"
    assert default_factory(2_000_000, 384, True)[0] == "BIVF4096"
    plan = plan_build("IVF1024,PQ16x4", 5000, 384, False)
    assert plan.factory == "IVF128,PQ16x4" and plan.train_size == 5000
    assert any("1024 IVF cells" in n and "5000 training rows" in n and "128" in n for n in plan.notes)
    assert plan_build(None, 5000, 384, False).factory == "Flat"
    with pytest.raises(ValueError, match="invalid FAISS factory string 'IVFx,Flat'"):
        plan_build("IVFx,Flat", 5000, 384, False)
    with pytest.raises(ValueError, match=r"'PQ8x12'.*4096 training rows, the sample has 1000"):
        plan_build("PQ8x12", 1000, 64, False)


def test_bad_input_is_refused_and_nothing_is_written(minilm_emb, tiny, tmp_path, capsys):
    def build(*extra: str, emb: Path = minilm_emb, out: Path = tmp_path / "idx") -> str:
        assert main(["index", "build", "--embeddings", str(emb), "--output", str(out), *extra]) == 2
        return capsys.readouterr().err

    (tmp_path / "empty").mkdir()
    assert "has no manifest.json" in build(emb=tmp_path / "empty")
    assert "invalid FAISS factory string 'HNSW,Nope'" in build("--factory", "HNSW,Nope")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    assert "not empty and holds no saved index" in build(out=mine)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    assert not (tmp_path / "idx").exists() and not list(tmp_path.glob(".idx.building-*"))
    # the input changed (or is gone) since it was encoded: its texts would not be the vectors'
    corpus = tmp_path / "c.txt"
    corpus.write_text("one sentence here\nanother sentence there\n")
    emb = encode_folder(tiny, corpus, tmp_path / "emb")
    os.utime(corpus, ns=(corpus.stat().st_atime_ns, corpus.stat().st_mtime_ns + 10**9))
    err = build(emb=emb)
    assert str(corpus) in err and "changed since" in err
    corpus.unlink()
    err = build(emb=emb)
    assert str(corpus) in err and "is gone" in err
    assert not (tmp_path / "idx").exists()


def test_mixed_shard_dtypes_are_refused(tiny, tmp_path, minilm_path):
    """A float16 shard of 32 dims and a float32 shard of 16 dims have the same size: only the dtype tells."""
    narrow = make_tiny_bert(tmp_path / "narrow", minilm_path, hidden=16)
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(f"sentence {i} " + "word " * (i % 5) for i in range(120)) + "\n")
    a = encode_folder(tiny, corpus, tmp_path / "a", "--shard_mb", "0.001")
    b = encode_folder(narrow, corpus, tmp_path / "b", "--dtype", "float32", "--shard_mb", "0.001")
    assert (a / "shard-00001.npy").stat().st_size == (b / "shard-00001.npy").stat().st_size
    shutil.copyfile(b / "shard-00001.npy", a / "shard-00001.npy")
    with pytest.raises(ValueError, match=r"shard-00001\.npy holds float32 vectors but .*float16: the shards have mixed"):
        build_index_folder(a, tmp_path / "idx", say=lambda s: None)


def test_build_index_from_a_file_streams_it(minilm, tmp_path, monkeypatch):
    import simcse.tool as tool

    sentences = ["A man is playing a guitar.", "A woman is slicing an onion.", "The stock market fell today.",
                 "A cat sleeps on the sofa.", "It is raining in Paris.", "Two dogs run on the beach."]
    f = tmp_path / "c.txt"
    f.write_text("\n".join(sentences[:3]) + "\n\n  \r\n" + "\r".join(sentences[3:]) + "\n", encoding="utf-8")
    monkeypatch.setattr(tool, "STREAM_CHUNK", 2)
    minilm.build_index(str(f), use_faiss=False)
    assert type(minilm.index.sentences).__name__ == "FileLines" and minilm.index.sentences == sentences
    streamed = minilm.search(["guitar music", "rain"], threshold=-1, top_k=3, return_ids=True)
    assert streamed[0][0][::2] == ("A man is playing a guitar.", 0) and streamed[1][0][::2] == ("It is raining in Paris.", 4)
    minilm.build_index(sentences, use_faiss=False)
    listed = minilm.search(["guitar music", "rain"], threshold=-1, top_k=3, return_ids=True)
    assert [[(t, i) for t, _, i in r] for r in listed] == [[(t, i) for t, _, i in r] for r in streamed]
    np.testing.assert_allclose([[s for _, s, _ in r] for r in listed], [[s for _, s, _ in r] for r in streamed], atol=1e-5)
    minilm.build_index(str(f), use_faiss=False)
    f.write_text("changed\n")
    with pytest.raises(ValueError, match=r"c\.txt.*changed since it was indexed"):
        minilm.search("guitar")


def test_small_exact_index_is_served_by_torch_on_a_gpu_without_faiss_gpu(indexes):
    import torch

    from simcse.search.store import torch_serves

    flat, ivf = IndexManifest.read(indexes["Flat"]), IndexManifest.read(indexes["IVF16,PQ16x4"])
    cuda = torch.device("cuda")
    assert torch_serves(flat, None, cuda) == (faiss.get_num_gpus() == 0)
    assert not torch_serves(flat, None, torch.device("cpu"))  # FAISS on the CPU
    assert not torch_serves(flat, True, cuda)  # asked for FAISS
    assert not torch_serves(ivf, None, cuda)  # not exact


def test_sample_lines_are_drawn_across_the_file_in_file_order(tmp_path):
    from simcse.search.texts import sample_lines

    f = tmp_path / "c.txt"
    f.write_text("".join(f"line {i}\n" + ("\n" if i % 7 == 0 else "") for i in range(200)), encoding="utf-8")
    picked = sample_lines(f, 20, seed=3)
    numbers = [int(s.split()[1]) for s in picked]
    assert len(picked) == 20 and numbers == sorted(set(numbers)) and max(numbers) >= 100  # not the first chunk
    assert sample_lines(f, 20, seed=3) == picked and sample_lines(f, 20, seed=4) != picked
    assert sample_lines(f, 200) is None and sample_lines(f, 500) is None  # 200 non-blank lines: one chunk holds all


def test_build_index_of_a_sorted_file_learns_int8_ranges_and_ivf_cells_from_the_whole_file(minilm, tmp_path,
                                                                                          monkeypatch):
    import simcse.tool as tool
    from simcse.search.quantization import quantization_ranges
    from simcse.search.texts import sample_lines

    monkeypatch.setattr(tool, "STREAM_CHUNK", 16)
    cats = [f"A cat number {i} sleeps on the sofa." for i in range(16)]
    rest = templated(48, seed=5)
    f = tmp_path / "sorted.txt"
    f.write_text("\n".join(cats + rest) + "\n", encoding="utf-8")  # the first chunk is all cats
    sample = sample_lines(f, 16)
    assert any(s in rest for s in sample)
    want = quantization_ranges(minilm.encode(sample, return_numpy=True))
    first_chunk = quantization_ranges(minilm.encode(cats, return_numpy=True))
    minilm.build_index(str(f), precision="int8", use_faiss=False)
    np.testing.assert_allclose(minilm.index.index.base.ranges, want, atol=1e-5)
    assert np.abs(want - first_chunk).max() > 0.05  # the first chunk alone would have given other ranges

    trained = []
    monkeypatch.setattr(tool.FaissIndex, "train", lambda self, x, _t=tool.FaissIndex.train: (trained.append(x.copy()), _t(self, x))[1])
    minilm.build_index(str(f), use_faiss=True, faiss_fast=True)
    np.testing.assert_allclose(trained[0], minilm.encode(sample, return_numpy=True), atol=1e-5)
    assert len(minilm.index) == 64 and minilm.search(rest[3], top_k=1)[0][0] == rest[3]
