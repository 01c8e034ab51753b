"""`simcse convert` on synthetic checkpoints in the original SimCSE format (BertForCL / RobertaForCL)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from simcse import SimCSE
from simcse.convert import convert_checkpoint, main

SENTENCES = ["A man is playing a guitar.", "Two dogs run through the snow.", "hello"]


def _make_original(tmp_path, tiny_bert_path, model_type="bert", fmt="bin", mlm=True):
    """A folder as SimCSE's train.py writes it: {bert,roberta}.* (no pooler) + mlp.dense.* (+ lm_head.*)."""
    from transformers import AutoTokenizer, BertConfig, BertModel, RobertaConfig, RobertaModel

    torch.manual_seed(1)
    kw = dict(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
              max_position_embeddings=130)
    if model_type == "bert":
        config, model = BertConfig(**kw), None
        model = BertModel(config, add_pooling_layer=False)
        config.architectures = ["BertForCL"]
    else:
        config = RobertaConfig(**kw, pad_token_id=0)
        model = RobertaModel(config, add_pooling_layer=False)
        config.architectures = ["RobertaForCL"]
    state = {f"{model_type}.{k}": v.clone() for k, v in model.state_dict().items()}
    state["mlp.dense.weight"] = torch.randn(32, 32) * 0.3
    state["mlp.dense.bias"] = torch.randn(32) * 0.1
    if mlm:
        state["lm_head.dense.weight"] = torch.randn(32, 32)
        state["lm_head.bias"] = torch.zeros(30522)
    src = tmp_path / f"orig-{model_type}-{fmt}"
    src.mkdir()
    config.save_pretrained(str(src))
    AutoTokenizer.from_pretrained(str(tiny_bert_path)).save_pretrained(str(src))
    if fmt == "bin":
        torch.save(state, src / "pytorch_model.bin")
    else:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(src / "model.safetensors"))
    return src, model.eval(), state


def _expected(model, tokenizer_dir, state, use_mlp):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    out = []
    with torch.no_grad():
        for s in SENTENCES:
            enc = tok(s, return_tensors="pt")
            cls = model(**enc).last_hidden_state[:, 0]
            if use_mlp:
                cls = torch.tanh(cls @ state["mlp.dense.weight"].T + state["mlp.dense.bias"])
            out.append(cls[0].numpy())
    return np.stack(out)


@pytest.mark.parametrize("model_type,fmt", [("bert", "bin"), ("bert", "safetensors"), ("roberta", "bin")])
@pytest.mark.parametrize("mlp_only_train", [False, True])
def test_converted_checkpoint_gives_expected_embeddings(tmp_path, tiny_bert_path, model_type, fmt, mlp_only_train):
    from sentence_transformers import SentenceTransformer

    src, model, state = _make_original(tmp_path, tiny_bert_path, model_type, fmt)
    dst = tmp_path / "converted"
    args = [str(src), str(dst)] + (["--mlp_only_train"] if mlp_only_train else [])
    assert main(args) == 0
    expected = _expected(model, src, state, use_mlp=not mlp_only_train)
    ours = SimCSE(str(dst), device="cpu").encode(SENTENCES, return_numpy=True, normalize_to_unit=False, batch_size=2)
    st = SentenceTransformer(str(dst), device="cpu").encode(SENTENCES, convert_to_numpy=True)
    np.testing.assert_allclose(ours, expected, atol=1e-5)
    np.testing.assert_allclose(st, expected, atol=1e-5)
    cfg = json.loads((dst / "simcse_config.json").read_text())
    assert cfg["pooler_type"] == "cls" and cfg["mlp_only_train"] == mlp_only_train
    assert json.loads((dst / "config.json").read_text())["architectures"][0] in ("BertModel", "RobertaModel")


def test_avg_pooler_conversion_ignores_mlp(tmp_path, tiny_bert_path):
    src, model, state = _make_original(tmp_path, tiny_bert_path, mlm=False)
    enc = convert_checkpoint(src, tmp_path / "avg", pooler_type="avg")
    assert enc.mlp is None
    assert SimCSE(str(tmp_path / "avg"), device="cpu").encode(SENTENCES, return_numpy=True).shape == (3, 32)


def test_errors_name_the_problem(tmp_path, tiny_bert_path, capsys):
    src, _, state = _make_original(tmp_path, tiny_bert_path, mlm=False)
    # no MLP for the cls pooler
    del state["mlp.dense.weight"], state["mlp.dense.bias"]
    torch.save(state, src / "pytorch_model.bin")
    assert main([str(src), str(tmp_path / "o1")]) == 2
    assert "needs the MLP weights mlp.dense.weight" in capsys.readouterr().err
    # a foreign key
    state["classifier.weight"] = torch.zeros(2, 32)
    torch.save(state, src / "pytorch_model.bin")
    assert main([str(src), str(tmp_path / "o2"), "--pooler_type", "avg"]) == 2
    assert "unexpected weights ['classifier.weight']" in capsys.readouterr().err
    # no weights at all
    (src / "pytorch_model.bin").unlink()
    assert main([str(src), str(tmp_path / "o3")]) == 2
    assert "has no model.safetensors or pytorch_model.bin" in capsys.readouterr().err
    # no tokenizer
    src2, _, _ = _make_original(tmp_path, tiny_bert_path, model_type="roberta", mlm=False)
    for f in src2.iterdir():
        if "token" in f.name or f.name in ("vocab.txt", "special_tokens_map.json"):
            f.unlink()
    assert main([str(src2), str(tmp_path / "o4")]) == 2
    assert "no tokenizer files" in capsys.readouterr().err and not (tmp_path / "o4").exists()
    assert main([str(src2), str(tmp_path / "o5"), "--tokenizer", str(tiny_bert_path)]) == 0
    assert main([str(tmp_path / "nowhere"), str(tmp_path / "o6")]) == 2
    assert "has no config.json" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["bin", "safetensors"])
def test_unreadable_files_are_named_errors(tmp_path, tiny_bert_path, fmt, capsys):
    src, _, _ = _make_original(tmp_path, tiny_bert_path, "bert", fmt)
    weights = src / ("pytorch_model.bin" if fmt == "bin" else "model.safetensors")
    whole = weights.read_bytes()
    weights.write_bytes(whole[:1000])  # cut short, as by an interrupted copy
    assert main([str(src), str(tmp_path / "o1")]) == 2
    assert f"could not read the weights in '{weights}'" in capsys.readouterr().err
    weights.write_bytes(whole)
    config = json.loads((src / "config.json").read_text())
    (src / "config.json").write_text(json.dumps(dict(config, hidden_size=64, intermediate_size=128)))
    assert main([str(src), str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err
    assert "backbone weights do not fit its config.json: size mismatch for" in err and "more)" in err
    (src / "config.json").write_text("{not json")
    assert main([str(src), str(tmp_path / "o3")]) == 2
    assert f"could not read '{src / 'config.json'}'" in capsys.readouterr().err
    assert not any((tmp_path / f"o{i}").exists() for i in (1, 2, 3))


def test_unreadable_shard_index_is_a_named_error(tmp_path, tiny_bert_path, capsys):
    src, _, _ = _make_original(tmp_path, tiny_bert_path, "bert", "bin")
    (src / "pytorch_model.bin").rename(src / "pytorch_model-00001-of-00001.bin")
    index = src / "pytorch_model.bin.index.json"
    index.write_text("{weight_map: oops}")
    assert main([str(src), str(tmp_path / "o")]) == 2
    assert f"could not read the shard index '{index}'" in capsys.readouterr().err
    index.write_text(json.dumps({"weight_map": {"x": "pytorch_model-00001-of-00001.bin"}}))
    assert main([str(src), str(tmp_path / "o")]) == 0


@pytest.mark.parametrize("model_type", ["bert", "roberta"])
def test_checkpoint_of_transformers_4_2_with_position_ids(tmp_path, tiny_bert_path, model_type):
    # SimCSE's train.py ran on transformers 4.2.1, which saved embeddings.position_ids in the weights.
    src, model, state = _make_original(tmp_path, tiny_bert_path, model_type, "bin")
    state[f"{model_type}.embeddings.position_ids"] = torch.arange(130).expand((1, -1))
    torch.save(state, src / "pytorch_model.bin")
    dst = tmp_path / "converted"
    assert main([str(src), str(dst)]) == 0
    ours = SimCSE(str(dst), device="cpu").encode(SENTENCES, return_numpy=True, normalize_to_unit=False, batch_size=2)
    np.testing.assert_allclose(ours, _expected(model, src, state, use_mlp=True), atol=1e-5)


def test_convert_never_replaces_the_checkpoint_or_a_full_folder(tmp_path, tiny_bert_path, capsys):
    src, _, _ = _make_original(tmp_path, tiny_bert_path, "bert", "safetensors")
    before = {f.name: f.read_bytes() for f in src.iterdir()}
    assert main([str(src), str(src)]) == 2
    assert "is the checkpoint itself" in capsys.readouterr().err
    assert {f.name: f.read_bytes() for f in src.iterdir()} == before
    other = tmp_path / "mine"
    other.mkdir()
    (other / "config.json").write_text("{}")
    assert main([str(src), str(other)]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert (other / "config.json").read_text() == "{}"
    assert main([str(src), str(other), "--overwrite"]) == 0
    assert json.loads((other / "config.json").read_text())["architectures"] == ["BertModel"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([str(src), str(empty)]) == 0


def test_max_length_is_checked_and_kept(tmp_path, tiny_bert_path, capsys):
    from sentence_transformers import SentenceTransformer

    src, _, _ = _make_original(tmp_path, tiny_bert_path, mlm=False)
    for value, message in [("0", "--max_length must be an integer of at least 2, got 0"),
                           ("1000", "--max_length 1000 is more than this model takes (130 tokens")]:
        dst = tmp_path / f"bad{value}"
        assert main([str(src), str(dst), "--max_length", value]) == 2
        assert message in capsys.readouterr().err and not dst.exists()
    assert main([str(src), str(tmp_path / "ok"), "--max_length", "20"]) == 0
    assert json.loads((tmp_path / "ok" / "simcse_config.json").read_text())["max_length"] == 20
    assert SentenceTransformer(str(tmp_path / "ok"), device="cpu").max_seq_length == 20


def test_converted_backbone_is_complete_with_the_mlp_as_its_pooler(tmp_path, tiny_bert_path):
    """As in SimCSE's own Hugging Face export, the MLP is the backbone's pooler: transformers loads
    the folder without newly initialised weights (and without its warning at every load)."""
    from transformers import AutoModel

    src, _, state = _make_original(tmp_path, tiny_bert_path)
    dst = tmp_path / "converted"
    assert main([str(src), str(dst)]) == 0
    model, info = AutoModel.from_pretrained(str(dst), output_loading_info=True)
    assert not info["missing_keys"], info
    torch.testing.assert_close(model.pooler.dense.weight, state["mlp.dense.weight"])
    torch.testing.assert_close(model.pooler.dense.bias, state["mlp.dense.bias"])


@pytest.mark.parametrize("fmt", ["bin", "safetensors"])
def test_loading_an_unconverted_checkpoint_says_to_convert_it(tmp_path, tiny_bert_path, fmt, capsys):
    """Loaded as it is, the checkpoint's MLP (mlp.dense.*) would be dropped and `cls` would use a random
    BERT pooler, with scores that change from run to run: every loader names the fix instead."""
    from simcse.encoder import SentenceEncoder
    from simcse.evaluation.cli import main as evaluate_main

    src, _, _ = _make_original(tmp_path, tiny_bert_path, fmt=fmt)
    for pooler in (None, "cls", "avg"):
        with pytest.raises(ValueError, match=r"checkpoint of SimCSE's original training code \(BertForCL\); "
                                             r"convert it first: simcse convert"):
            SimCSE(str(src), device="cpu", pooler=pooler)
    with pytest.raises(ValueError, match="BertForCL"):
        SentenceEncoder.from_pretrained(str(src))
    assert evaluate_main(["--model_name_or_path", str(src), "--pooler", "cls", "--tasks", "STSBenchmark"]) == 2
    assert "simcse convert" in capsys.readouterr().err
    convert_checkpoint(src, tmp_path / "converted", "cls", False)  # the command the message gives works
    assert SimCSE(str(tmp_path / "converted"), device="cpu").encode("hello").shape == (32,)
