"""Prompts: ``SimCSE.encode(prompt=, prompt_name=)`` and prompts stored in a model folder's
``config_sentence_transformers.json`` embed exactly as sentence-transformers embeds them."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from simcse import SimCSE
from simcse.formats.sentence_transformers import write_prompts

SENTENCES = ["a cat sits on the mat", "stocks fell sharply today", "A man is playing a guitar."]
PROMPTS = {"query": "query: ", "document": "passage: ", "STS": "Retrieve semantically similar text: "}


@pytest.fixture(scope="module")
def prompted_folder(tmp_path_factory, tiny_bert_path) -> Path:
    folder = tmp_path_factory.mktemp("prompted") / "model"
    SimCSE(str(tiny_bert_path), device="cpu", pooler="avg").encoder.save_pretrained(folder)
    write_prompts(folder, PROMPTS)
    return folder


def test_prompts_embed_as_sentence_transformers_does(prompted_folder: Path):
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(prompted_folder), device="cpu")
    ours = SimCSE(str(prompted_folder), device="cpu")
    assert ours.prompts == PROMPTS == st.prompts
    plain = ours.encode(SENTENCES, return_numpy=True, normalize_to_unit=False)
    for kwargs in ({}, {"prompt_name": "query"}, {"prompt_name": "STS"}, {"prompt": "hello: "}, {"prompt": ""}):
        got = ours.encode(SENTENCES, return_numpy=True, normalize_to_unit=False, **kwargs)
        np.testing.assert_allclose(got, st.encode(SENTENCES, **kwargs), atol=1e-5)
        if kwargs.get("prompt", "") or kwargs.get("prompt_name"):
            assert np.abs(got - plain).max() > 1e-3  # the prompt changes the embeddings


def test_default_prompt_written_to_the_folder_applies_everywhere(prompted_folder: Path, tmp_path: Path):
    from sentence_transformers import SentenceTransformer

    folder = tmp_path / "m"
    SimCSE(str(prompted_folder), device="cpu").encoder.save_pretrained(folder)
    write_prompts(folder, PROMPTS, default_prompt_name="document")
    raw = json.loads((folder / "config_sentence_transformers.json").read_text())
    assert raw["default_prompt_name"] == "document" and raw["similarity_fn_name"] == "cosine"
    ours = SimCSE(str(folder), device="cpu")
    st = SentenceTransformer(str(folder), device="cpu")
    np.testing.assert_allclose(ours.encode(SENTENCES, return_numpy=True, normalize_to_unit=False),
                               st.encode(SENTENCES), atol=1e-5)
    np.testing.assert_allclose(ours.encode(SENTENCES, return_numpy=True, prompt_name="document"),
                               ours.encode(SENTENCES, return_numpy=True), atol=1e-6)


def test_bad_prompt_arguments_are_named(prompted_folder: Path, tiny_bert_path):
    ours = SimCSE(str(prompted_folder), device="cpu")
    with pytest.raises(ValueError, match="prompt_name='quary' is not one of this model's prompts .*'query'"):
        ours.encode(SENTENCES, prompt_name="quary")
    with pytest.raises(ValueError, match="not both"):
        ours.encode(SENTENCES, prompt="x", prompt_name="query")
    with pytest.raises(ValueError, match="no modules.json"):
        write_prompts(tiny_bert_path, PROMPTS)
    with pytest.raises(ValueError, match="default_prompt_name 'x' is not one of the prompts"):
        write_prompts(prompted_folder, PROMPTS, default_prompt_name="x")
