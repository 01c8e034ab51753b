"""Reading sentence-transformers folders: every folder we accept embeds as SentenceTransformer(path)
does; a folder whose embeddings we would not reproduce is refused with the file and the setting
named, never loaded into other embeddings."""
from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
import torch

from simcse import SimCSE

T = "sentence_transformers.models."
# two sentences past the folders' 16-token limits, so that truncation is compared too
SENTENCES = [
    "A man is playing a guitar.",
    "Hello",
    "Some {braces} here and UPPER case Words",
    " ".join(f"word{i}" for i in range(60)),
    "A much longer sentence " * 12,
]


def _folder(path, backbone, modules, transformer=None, pooling="cls"):
    """The backbone at the root, then ``modules``: (type, folder) pairs after the Transformer."""
    shutil.copytree(backbone, path)
    if transformer is not None:
        (path / "sentence_bert_config.json").write_text(json.dumps(transformer))
    (path / "1_Pooling").mkdir()
    (path / "1_Pooling" / "config.json").write_text(json.dumps({"embedding_dimension": 32, "pooling_mode": pooling}))
    entries = [("Transformer", "")] + list(modules)
    (path / "modules.json").write_text(json.dumps(
        [{"idx": i, "name": str(i), "path": p, "type": T + kind} for i, (kind, p) in enumerate(entries)]))
    return path


def _dense(folder, **config):
    from safetensors.torch import save_file

    torch.manual_seed(1)
    folder.mkdir(exist_ok=True)
    save_file({"linear.weight": torch.randn(32, 32) * 0.3, "linear.bias": torch.randn(32) * 0.3},
              str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"in_features": 32, "out_features": 32, "bias": True, **config}))


def _same_as_sentence_transformers(path):
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(path), device="cpu")
    ours = SimCSE(str(path), device="cpu")
    assert ours.max_length == st.max_seq_length
    # the folder's own normalisation (a Normalize module), as SentenceTransformer applies it
    np.testing.assert_allclose(ours.encode(SENTENCES, return_numpy=True, normalize_to_unit=ours.encoder.config.normalize),
                               st.encode(SENTENCES), atol=1e-5)
    return st


def _refused(path, match):
    with pytest.raises(ValueError, match=match):
        SimCSE(str(path), device="cpu")


POOL = [("Pooling", "1_Pooling")]


@pytest.mark.parametrize("transformer", [
    {"tokenizer_args": {"model_max_length": 12}},           # sentence-transformers <= 5 name
    {"processor_kwargs": {"model_max_length": 12}, "max_seq_length": 40},  # wins over max_seq_length
    {"max_seq_length": 100},                                # above the tokenizer's own limit (set to 16 below)
    {"max_seq_length": 16, "model_args": {"torch_dtype": "float32"}, "config_kwargs": {"output_hidden_states": False}},
])
def test_token_limits_are_sentence_transformers(tmp_path, tiny_bert_path, transformer):
    folder = _folder(tmp_path / "st", tiny_bert_path, POOL, transformer, pooling="mean")
    tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**tokenizer_config, "model_max_length": 16}))
    st = _same_as_sentence_transformers(folder)
    assert st.max_seq_length in (12, 100, 16)


def test_legacy_transformer_config_name_is_read(tmp_path, tiny_bert_path):
    folder = _folder(tmp_path / "st", tiny_bert_path, POOL, pooling="mean")
    (folder / "sentence_roberta_config.json").write_text(json.dumps({"max_seq_length": 10}))
    _same_as_sentence_transformers(folder)
    assert SimCSE(str(folder), device="cpu").max_length == 10


@pytest.mark.parametrize("transformer,match", [
    ({"tokenizer_args": {"truncation_side": "left"}}, "tokenizer setting 'truncation_side'"),
    ({"config_kwargs": {"num_hidden_layers": 1}}, "model config setting 'num_hidden_layers'"),
    ({"model_kwargs": {"rope_scaling": {"type": "linear"}}}, "model setting 'rope_scaling'"),
    ({"processing_kwargs": {"text": {"max_length": 10}}}, "setting 'processing_kwargs'"),
    ({"config_args": "output_hidden_states"}, "'config_args' must be a JSON object"),
])
def test_transformer_settings_we_do_not_reproduce_are_refused(tmp_path, tiny_bert_path, transformer, match):
    _refused(_folder(tmp_path / "st", tiny_bert_path, POOL, transformer, pooling="mean"),
             r"sentence_bert_config.json: .*" + match)


@pytest.mark.parametrize("modules", [
    [("Pooling", "1_Pooling"), ("Normalize", "2_Normalize"), ("Dense", "3_Dense")],
    [("Normalize", "2_Normalize"), ("Pooling", "1_Pooling")],
    [("Pooling", "1_Pooling"), ("WeightedLayerPooling", "3_W")],
])
def test_modules_out_of_order_are_refused(tmp_path, tiny_bert_path, modules):
    """sentence-transformers runs modules in their listed order; ours would run them in the usual one."""
    folder = _folder(tmp_path / "st", tiny_bert_path, modules)
    if ("Dense", "3_Dense") in modules:
        _dense(folder / "3_Dense")
    _refused(folder, r"modules\.json: modules Transformer -> .* are not supported; simcse reads "
                     r"Transformer -> \[WeightedLayerPooling\] -> Pooling -> \[Dense\] -> \[Normalize\]")


@pytest.mark.parametrize("index,type_name", [(1, "my_pkg.custom.Pooling"), (0, "custom_st.Transformer")])
def test_modules_outside_sentence_transformers_are_refused(tmp_path, tiny_bert_path, index, type_name):
    folder = _folder(tmp_path / "st", tiny_bert_path, POOL, pooling="mean")
    modules = json.loads((folder / "modules.json").read_text())
    modules[index]["type"] = type_name
    (folder / "modules.json").write_text(json.dumps(modules))
    _refused(folder, f"module type '{type_name}' is not supported by simcse")


@pytest.mark.parametrize("config,match", [
    ({"use_residual": True}, "Dense setting 'use_residual': True"),
    ({"module_output_name": "projected"}, "Dense setting 'module_output_name': 'projected'"),
    ({"module_input_name": "token_embeddings"}, "Dense setting 'module_input_name'"),
])
def test_dense_settings_we_do_not_reproduce_are_refused(tmp_path, tiny_bert_path, config, match):
    folder = _folder(tmp_path / "st", tiny_bert_path, POOL + [("Dense", "2_Dense")])
    _dense(folder / "2_Dense", **config)
    _refused(folder, "2_Dense/config.json: " + match)


@pytest.mark.parametrize("config", [
    {"activation_function": "torch.nn.Tanh"},
    {"activation_function": "torch.nn.modules.activation.ReLU", "use_residual": False,
     "module_input_name": "sentence_embedding", "module_output_name": "sentence_embedding"},
])
def test_dense_settings_that_change_nothing_load(tmp_path, tiny_bert_path, config):
    folder = _folder(tmp_path / "st", tiny_bert_path, POOL + [("Dense", "2_Dense"), ("Normalize", "3_Normalize")],
                     {"max_seq_length": 16})
    _dense(folder / "2_Dense", **config)
    _same_as_sentence_transformers(folder)


@pytest.mark.parametrize("pooling,expected", [
    ({"word_embedding_dimension": 32, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": False}, "avg"),
    ({"embedding_dimension": 32}, "avg"),
    ({"word_embedding_dimension": 32, "pooling_mode_max_tokens": True}, "max"),
])
def test_pooling_defaults_are_sentence_transformers(tmp_path, tiny_bert_path, pooling, expected):
    folder = _folder(tmp_path / "st", tiny_bert_path, POOL, {"max_seq_length": 16})
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    _same_as_sentence_transformers(folder)
    assert SimCSE(str(folder), device="cpu").pooler == expected


def test_unsupported_pooling_mode_is_the_one_named(tmp_path, tiny_bert_path):
    folder = _folder(tmp_path / "st", tiny_bert_path, POOL)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 32, "pooling_mode_mean_tokens": True, "pooling_mode_mean_sqrt_len_tokens": True}))
    _refused(folder, r"pooling \['mean', 'mean_sqrt_len_tokens'\] is not supported")


def test_weighted_layer_pooling_without_hidden_states_is_plain_mean(tmp_path, tiny_bert_path, caplog):
    """sentence-transformers gives WeightedLayerPooling the hidden states only when the Transformer
    returns them; without them the module leaves the tokens alone, and so do we (with a warning)."""
    from sentence_transformers.sentence_transformer.modules import WeightedLayerPooling

    folder = _folder(tmp_path / "st", tiny_bert_path, [("WeightedLayerPooling", "1_W"), ("Pooling", "1_Pooling")],
                     {"max_seq_length": 16}, pooling="mean")
    (folder / "1_W").mkdir()
    WeightedLayerPooling(32, num_hidden_layers=2, layer_start=1,
                         layer_weights=torch.nn.Parameter(torch.tensor([1.0, 1.0]))).save(str(folder / "1_W"))
    with caplog.at_level(logging.WARNING, logger="simcse.formats.sentence_transformers"):
        _same_as_sentence_transformers(folder)
    assert "WeightedLayerPooling has no effect" in caplog.text
    assert SimCSE(str(folder), device="cpu").pooler == "avg"
    # with the hidden states it is the top-2 average, in both
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": 16, "config_kwargs": {"output_hidden_states": True}}))
    _same_as_sentence_transformers(folder)
    assert SimCSE(str(folder), device="cpu").pooler == "avg_top2"


def test_left_padding_gpt2_folder_warns_that_sentence_transformers_differs(tmp_path, minilm_path, caplog):
    from conftest import make_tiny_decoder

    folder = make_tiny_decoder(tmp_path / "gpt2", minilm_path, "gpt2")
    tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**tokenizer_config, "padding_side": "left"}))
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode": "lasttoken"}))
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": T + "Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": T + "Pooling"}]))
    with caplog.at_level(logging.WARNING, logger="simcse.encoder"):
        SimCSE(str(folder), device="cpu")
    assert "left-padding tokenizer with absolute position embeddings" in caplog.text


def test_normalize_to_unit_false_skips_a_normalize_module(tmp_path, tiny_bert_path):
    """The original package's normalize_to_unit=False means raw vectors: a Normalize module is skipped."""
    from sentence_transformers import SentenceTransformer

    folder = _folder(tmp_path / "st", tiny_bert_path, POOL + [("Normalize", "2_Normalize")], {"max_seq_length": 16})
    st = SentenceTransformer(str(folder), device="cpu")
    ours = SimCSE(str(folder), device="cpu")
    raw = ours.encode(SENTENCES, return_numpy=True, normalize_to_unit=False)
    unit = ours.encode(SENTENCES, return_numpy=True)
    np.testing.assert_allclose(unit, st.encode(SENTENCES), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-5)
    assert np.abs(np.linalg.norm(raw, axis=1) - 1).min() > 0.1  # not unit vectors
    np.testing.assert_allclose(raw / np.linalg.norm(raw, axis=1, keepdims=True), unit, atol=1e-5)
    with torch.no_grad():  # the Transformer, then the Pooling, without the Normalize
        pooled = st[1](st[0](st.tokenize(SENTENCES)))["sentence_embedding"].numpy()
    np.testing.assert_allclose(raw, pooled, atol=1e-5)
