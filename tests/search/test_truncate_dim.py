"""Matryoshka truncation: ``truncate_dim`` in SimCSE.encode / build_index / search / save / load."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from simcse.search.quantization import check_truncate_dim, truncate_embeddings, unpack_binary

SENTS = [
    "A man is playing a guitar on the stage.",
    "Someone plays an instrument in front of a crowd.",
    "The cat sleeps on the warm windowsill.",
    "A kitten is napping in the sun by the window.",
    "Stock markets fell sharply after the announcement.",
    "Shares dropped quickly once the news came out.",
    "She is cooking pasta for dinner tonight.",
    "The recipe needs two cups of flour and an egg.",
]


@pytest.fixture(scope="module")
def model(minilm_path):
    from simcse import SimCSE

    return SimCSE(str(minilm_path), device="cpu")


@pytest.fixture(scope="module")
def raw(model):
    """Unnormalised full-width embeddings of SENTS."""
    return model.encode(SENTS, normalize_to_unit=False, return_numpy=True)


@pytest.mark.parametrize("k", [1, 64, 128, 383, 384])
def test_truncate_equals_slice_then_normalise(model, raw, k):
    got = model.encode(SENTS, truncate_dim=k, return_numpy=True)
    want = raw[:, :k] / np.linalg.norm(raw[:, :k], axis=1, keepdims=True)
    assert got.shape == (len(SENTS), k)
    np.testing.assert_allclose(got, want, atol=1e-5)
    # without normalisation it is a plain slice
    np.testing.assert_allclose(model.encode(SENTS, truncate_dim=k, normalize_to_unit=False, return_numpy=True),
                               raw[:, :k], atol=1e-5)
    # truncating the normalised full vector and re-normalising gives the same (direction only)
    full = model.encode(SENTS, return_numpy=True)
    np.testing.assert_allclose(truncate_embeddings(full, k), want, atol=1e-5)
    assert torch.allclose(truncate_embeddings(torch.from_numpy(full), k), torch.from_numpy(want), atol=1e-5)


def test_single_sentence_and_binary(model, raw):
    v = model.encode(SENTS[0], truncate_dim=100)
    assert isinstance(v, torch.Tensor) and tuple(v.shape) == (100,)
    assert float(v.norm()) == pytest.approx(1.0, abs=1e-5)
    b = model.encode(SENTS, truncate_dim=100, precision="ubinary", return_numpy=True)
    assert b.shape == (len(SENTS), 13) and b.dtype == np.uint8  # ceil(100 / 8)
    np.testing.assert_array_equal(unpack_binary(b, 100), np.where(raw[:, :100] > 0, 1.0, -1.0))


@pytest.mark.parametrize("bad", [0, -3, 385, 1000, 2.5, "64", True])
def test_bad_truncate_dim_names_the_value(model, bad):
    with pytest.raises(ValueError, match=rf"truncate_dim.*{str(bad) if not isinstance(bad, str) else repr(bad)}"):
        model.encode(SENTS[:2], truncate_dim=bad)
    with pytest.raises(ValueError, match="truncate_dim"):
        model.build_index(SENTS[:2], truncate_dim=bad)
    with pytest.raises(ValueError, match=r"\[1, 384\]"):
        check_truncate_dim(bad, 384)


def test_constructor_option_applies_everywhere(minilm_path, raw, tmp_path):
    from simcse import SimCSE

    with pytest.raises(ValueError, match="truncate_dim=500"):
        SimCSE(str(minilm_path), device="cpu", truncate_dim=500)
    m = SimCSE(str(minilm_path), device="cpu", truncate_dim=64)
    want = raw[:, :64] / np.linalg.norm(raw[:, :64], axis=1, keepdims=True)
    np.testing.assert_allclose(m.encode(SENTS, return_numpy=True), want, atol=1e-5)
    assert m.encode(SENTS, truncate_dim=384, return_numpy=True).shape == (len(SENTS), 384)  # explicit wins
    m.build_index(SENTS)
    assert m.index["index"].dim == 64 and m.index["index"].vectors().shape == (len(SENTS), 64)
    hits = m.search(SENTS[1], threshold=-1, top_k=len(SENTS))
    sims = want @ want[1]
    assert [s for s, _ in hits] == [SENTS[i] for i in np.argsort(-sims)]
    np.testing.assert_allclose([x for _, x in hits], np.sort(sims)[::-1], atol=1e-4)
    # saved with its truncation; a model without the option loads it and searches at 64-d
    m.save_index(tmp_path / "t64")
    meta = json.loads((tmp_path / "t64" / "index_meta.json").read_text())
    assert meta["truncate_dim"] == 64 and meta["dim"] == 64 and meta["precision"] == "float32"
    plain = SimCSE(str(minilm_path), device="cpu")
    plain.load_index(tmp_path / "t64")
    assert [s for s, _ in plain.search(SENTS[1], threshold=-1, top_k=3)] == [s for s, _ in hits[:3]]
    assert plain.encode(SENTS[0]).shape[-1] == 384  # the model itself is not truncated
    plain.add_to_index(["A guitarist performs for an audience."])
    assert plain.index["index"].vectors().shape == (len(SENTS) + 1, 64)


def test_truncated_quantised_index(model):
    model.build_index(SENTS, truncate_dim=128, precision="int8", use_faiss=False)
    assert model.index["index"].dim == 128 and model.index["truncate_dim"] == 128
    hits = model.search(SENTS[2], threshold=-1, top_k=2)
    assert hits[0][0] == SENTS[2] and hits[1][0] == SENTS[3]
    # a full-width float index from the same model still works afterwards
    model.build_index(SENTS)
    assert model.index["index"].dim == 384


def test_load_rejects_a_truncation_wider_than_the_model(model, tmp_path, tiny_bert_path):
    from simcse import SimCSE

    model.build_index(SENTS, truncate_dim=100)
    model.save_index(tmp_path / "t100")
    tiny = SimCSE(str(tiny_bert_path), device="cpu", pooler="avg")  # 32-d
    with pytest.raises(ValueError, match="truncated to 100 dimensions.*only 32"):
        tiny.load_index(tmp_path / "t100")


@pytest.mark.parametrize("precision", ["float32", "int8", "binary"])
def test_load_rejects_a_truncated_index_of_a_model_of_another_width(model, tmp_path, tiny_bert_path, precision):
    """A 32-d Matryoshka index of the 384-d model has the 32-d model's width, but not its embeddings."""
    from simcse import SimCSE

    model.build_index(SENTS, truncate_dim=32, precision=precision)
    model.save_index(tmp_path / "t32")
    tiny = SimCSE(str(tiny_bert_path), device="cpu", pooler="avg")  # 32-d
    with pytest.raises(ValueError, match="embeds differently.*Rebuild the index"):
        tiny.load_index(tmp_path / "t32")
    assert tiny.index is None
