"""A model saved by SentenceEncoder.save_pretrained gives identical embeddings in SimCSE(path) and
SentenceTransformer(path), for every pooler (incl. cls with the MLP at inference and mlp_only_train)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from simcse import SimCSE
from simcse.encoder import SentenceEncoder
from simcse.training.trainer import load_encoder_for_training

SENTENCES = [
    "A man is playing a guitar.",
    "The weather is lovely today, isn't it?",
    "Short.",
    "A considerably longer sentence that has quite a few more tokens than the others in this small list.",
]


@pytest.mark.parametrize(
    "pooler,mlp_only_train",
    [("cls", False), ("cls", True), ("cls_before_pooler", False), ("avg", False),
     ("avg_first_last", False), ("avg_top2", False), ("last", False), ("max", False)],
)
def test_saved_folder_matches_sentence_transformers(tmp_path, tiny_bert_path, pooler, mlp_only_train):
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    encoder, _ = load_encoder_for_training(str(tiny_bert_path), pooler_type=pooler, mlp_only_train=mlp_only_train)
    if encoder.mlp is not None:  # a trained-looking head, not the identity-ish default
        torch.nn.init.normal_(encoder.mlp.dense.weight, std=0.3)
    out = tmp_path / "model"
    encoder.save_pretrained(out)

    expected = encoder.encode(SENTENCES, batch_size=2).numpy()
    ours = SimCSE(str(out), device="cpu").encode(SENTENCES, return_numpy=True, normalize_to_unit=False, batch_size=3)
    st = SentenceTransformer(str(out), device="cpu").encode(SENTENCES, batch_size=3, convert_to_numpy=True)
    np.testing.assert_allclose(ours, expected, atol=1e-5)
    np.testing.assert_allclose(st, expected, atol=1e-5)

    modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((out / "modules.json").read_text())]
    uses_mlp = pooler == "cls" and not mlp_only_train
    assert ("Dense" in modules) == uses_mlp
    if pooler in ("avg_top2", "avg_first_last"):
        assert modules[1:3] == ["WeightedLayerPooling", "Pooling"]
        # The model's own config is unchanged; only the sentence-transformers module asks for hidden states.
        assert not json.loads((out / "config.json").read_text()).get("output_hidden_states", False)


@pytest.mark.parametrize("prompt", ["query: {}", 'This sentence : "{}" means in one word:"'])
@pytest.mark.parametrize(
    "pooler,mlp_only_train",
    [("cls", False), ("cls", True), ("cls_before_pooler", False), ("avg", False),
     ("avg_first_last", False), ("avg_top2", False), ("last", False), ("max", False)],
)
def test_sentence_transformers_gives_our_embeddings_with_a_prompt_or_refuses(tmp_path, tiny_bert_path, pooler,
                                                                             mlp_only_train, prompt):
    """Whatever SentenceTransformer(path) makes of a folder we save with a prompt template is our embeddings,
    or a load that fails naming the reason and SimCSE(path): never other numbers."""
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    encoder, _ = load_encoder_for_training(str(tiny_bert_path), pooler_type=pooler, mlp_only_train=mlp_only_train)
    encoder.config.prompt = prompt
    out = tmp_path / "model"
    encoder.save_pretrained(out)
    ours = SimCSE(str(out), device="cpu").encode(SENTENCES, return_numpy=True, normalize_to_unit=False)
    np.testing.assert_allclose(ours, encoder.eval().encode(SENTENCES).numpy(), atol=1e-5)
    if prompt.endswith("{}"):
        st = SentenceTransformer(str(out), device="cpu").encode(SENTENCES, convert_to_numpy=True)
        np.testing.assert_allclose(st, ours, atol=1e-5)
    else:
        with pytest.raises(ImportError, match=r"prompt template with text after the sentence.*SimCSE\(path\)"):
            SentenceTransformer(str(out), device="cpu")


@pytest.mark.parametrize("pooler", ["avg_first_last", "avg_top2"])
def test_layer_pooling_read_back_from_modules_json(tmp_path, minilm_path, pooler):
    """Without simcse_config.json the sentence-transformers manifest alone gives the same pooler
    (3 layers: with 2, avg_top2 and avg_first_last are the same average)."""
    from conftest import make_tiny_bert

    bert3 = make_tiny_bert(tmp_path / "bert3", minilm_path, layers=3)
    encoder = SentenceEncoder.from_pretrained(str(bert3), pooler_type=pooler)
    out = tmp_path / "m"
    encoder.save_pretrained(out)
    (out / "simcse_config.json").unlink()
    again = SentenceEncoder.from_pretrained(str(out))
    assert again.pooler_type == pooler
    np.testing.assert_allclose(again.encode(SENTENCES).numpy(), encoder.encode(SENTENCES).numpy(), atol=1e-6)


def test_unknown_layer_weighting_is_rejected(tmp_path):
    from simcse.st_modules import read_weighted_layer_pooling

    d = tmp_path / "w"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"num_hidden_layers": 4, "layer_start": 2}))
    with pytest.raises(ValueError, match="not avg_top2 or avg_first_last"):
        read_weighted_layer_pooling(d)


LONG = "A considerably longer sentence " * 12  # about 60 tokens


def test_sentence_transformers_6_folder_keeps_its_max_seq_length(tmp_path, tiny_bert_path):
    """sentence-transformers >= 6 saves max_seq_length as the tokenizer's model_max_length (not in
    sentence_bert_config.json): it is read, and survives a load / save round trip."""
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(tiny_bert_path), device="cpu")
    st.max_seq_length = 24
    st_dir = tmp_path / "st6"
    st.save(str(st_dir))
    assert "max_seq_length" not in json.loads((st_dir / "sentence_bert_config.json").read_text())
    encoder = SentenceEncoder.from_pretrained(str(st_dir))
    assert encoder.config.max_length == 24
    sentences = SENTENCES + [LONG]
    np.testing.assert_allclose(encoder.encode(sentences).numpy(), st.encode(sentences), atol=1e-5)
    out = tmp_path / "resaved"
    encoder.save_pretrained(out)
    assert SentenceTransformer(str(out), device="cpu").max_seq_length == 24


def test_dense_head_without_bias_loads(tmp_path, tiny_bert_path):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import modules

    torch.manual_seed(0)
    st = SentenceTransformer(
        modules=[
            modules.Transformer(str(tiny_bert_path)),
            modules.Pooling(32, pooling_mode="cls"),
            modules.Dense(32, 16, bias=False, activation_function=torch.nn.Tanh()),
        ],
        device="cpu",
    )
    st.save(str(tmp_path / "st"))
    ours = SimCSE(str(tmp_path / "st"), device="cpu")
    assert ours.encoder.pooler_type == "cls" and ours.encoder.dim == 16
    np.testing.assert_allclose(
        ours.encode(SENTENCES, return_numpy=True, normalize_to_unit=False), st.encode(SENTENCES), atol=1e-5
    )


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_backbone_dtype_is_the_mlp_heads_dtype(tmp_path, tiny_bert_path, dtype):
    """from_pretrained(..., dtype=...) loads the backbone in that dtype; the MLP head follows it."""
    torch.manual_seed(0)
    encoder, _ = load_encoder_for_training(str(tiny_bert_path), pooler_type="cls")
    encoder.save_pretrained(tmp_path / "m")
    expected = encoder.encode(SENTENCES).numpy()
    half = SentenceEncoder.from_pretrained(str(tmp_path / "m"), dtype=dtype)
    assert half.mlp.dense.weight.dtype == dtype
    got = half.encode(SENTENCES)
    assert got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), expected, atol=5e-2)


def test_simcse_uses_the_folders_saved_length(tmp_path, tiny_bert_path):
    """SimCSE(path) keeps as many tokens as SentenceTransformer(path) (the folder's max_seq_length),
    not the original package's 128, and 128 stays the default for a plain Hugging Face folder."""
    from sentence_transformers import SentenceTransformer

    very_long = "A considerably longer sentence " * 40  # about 200 tokens
    encoder, _ = load_encoder_for_training(str(tiny_bert_path), pooler_type="avg", max_length=100)
    encoder.save_pretrained(tmp_path / "m")
    ours = SimCSE(str(tmp_path / "m"), device="cpu")
    assert ours.max_length == 100
    st = SentenceTransformer(str(tmp_path / "m"), device="cpu")
    np.testing.assert_allclose(ours.encode([very_long], return_numpy=True), st.encode([very_long], normalize_embeddings=True), atol=1e-5)
    assert SimCSE(str(tiny_bert_path), device="cpu").max_length == 128
    assert SimCSE(str(tmp_path / "m"), device="cpu", max_length=50).max_length == 50


def _cased_bert(path, tiny_bert_path):
    """The tiny BERT with a cased copy of its tokenizer (the normaliser's lowercasing switched off):
    the bert-base-uncased vocabulary has no capitalised words, so "Guitar" and "guitar" differ."""
    from tokenizers import normalizers
    from transformers import AutoModel, AutoTokenizer

    AutoModel.from_pretrained(str(tiny_bert_path)).save_pretrained(str(path))
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_bert_path), do_lower_case=False)
    tokenizer.backend_tokenizer.normalizer = normalizers.BertNormalizer(lowercase=False)
    tokenizer.save_pretrained(str(path))
    reloaded = AutoTokenizer.from_pretrained(str(path))
    assert reloaded("Guitar")["input_ids"] != reloaded("guitar")["input_ids"], "the copy must be cased"
    return path


def _old_style_lowercasing_folder(path, backbone, pooling_mode):
    """A sentence-transformers 2.x-5.x folder: a cased tokenizer and ``do_lower_case: true`` in
    sentence_bert_config.json (sentence-transformers 6 writes the lowercasing into tokenizer.json)."""
    import shutil

    shutil.copytree(backbone, path)
    (path / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 64, "do_lower_case": True}))
    (path / "1_Pooling").mkdir()
    (path / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": 32, "pooling_mode_cls_token": pooling_mode == "cls",
        "pooling_mode_mean_tokens": pooling_mode == "mean", "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    }))
    (path / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]))
    return path


MIXED = ["A Man Is Playing A GUITAR.", "The Weather Is Lovely Today"]


def test_sentence_transformers_do_lower_case_is_honoured(tmp_path, tiny_bert_path):
    """A sentence-transformers folder whose sentence_bert_config.json says do_lower_case lowercases
    every sentence, as SentenceTransformer(path) does; the setting survives our save, and
    SentenceTransformer reads the saved folder the same way."""
    from sentence_transformers import SentenceTransformer

    backbone = _cased_bert(tmp_path / "cased", tiny_bert_path)
    folder = _old_style_lowercasing_folder(tmp_path / "st", backbone, "mean")
    st = SentenceTransformer(str(folder), device="cpu")
    lower = [s.lower() for s in MIXED]
    np.testing.assert_allclose(st.encode(MIXED), st.encode(lower), atol=1e-6)

    encoder = SentenceEncoder.from_pretrained(str(folder))
    assert encoder.config.lowercase
    assert encoder.tokenize_ids(MIXED) == encoder.tokenize_ids(lower)
    np.testing.assert_allclose(encoder.encode(MIXED).numpy(), st.encode(MIXED), atol=1e-5)
    # Without the setting the cased tokenizer sees other tokens: the test above can tell them apart.
    plain = SentenceEncoder.from_pretrained(str(backbone), pooler_type="avg")
    assert plain.tokenize_ids(MIXED) != plain.tokenize_ids(lower)

    encoder.save_pretrained(tmp_path / "resaved")
    again = SentenceEncoder.from_pretrained(str(tmp_path / "resaved"))
    assert again.config.lowercase
    np.testing.assert_allclose(again.encode(MIXED).numpy(), st.encode(MIXED), atol=1e-5)
    (tmp_path / "resaved" / "simcse_config.json").unlink()  # the sentence-transformers manifest alone
    np.testing.assert_allclose(SentenceEncoder.from_pretrained(str(tmp_path / "resaved")).encode(MIXED).numpy(),
                               st.encode(MIXED), atol=1e-5)
    st_again = SentenceTransformer(str(tmp_path / "resaved"), device="cpu")
    np.testing.assert_allclose(st_again.encode(MIXED), st.encode(MIXED), atol=1e-5)


def test_training_from_a_lowercasing_folder_tokenizes_lowercased(tmp_path, tiny_bert_path):
    """load_encoder_for_training builds the encoder the trainer tokenizes with: it lowercases too."""
    backbone = _cased_bert(tmp_path / "cased", tiny_bert_path)
    folder = _old_style_lowercasing_folder(tmp_path / "st", backbone, "cls")
    encoder, _ = load_encoder_for_training(str(folder))
    assert encoder.config.lowercase
    assert encoder.tokenizer(MIXED)["input_ids"] == encoder.tokenizer([s.lower() for s in MIXED])["input_ids"]


@pytest.mark.parametrize("prompt", [None, "query: {}", 'This sentence : "{}" means in one word:"'])
@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_left_padded_decoder_saves_a_folder_sentence_transformers_embeds_alike(tmp_path, minilm_path, kind, prompt):
    """A decoder whose tokenizer pads on the left: sentence-transformers passes no position ids, so
    GPT-2's absolute positions would shift by each sentence's padding. The folder is written
    right-padded (the tokenizer in memory keeps its side) and both loaders give our embeddings (with a
    template that has text after the sentence, sentence-transformers refuses the folder instead)."""
    from sentence_transformers import SentenceTransformer
    from conftest import make_tiny_decoder

    encoder = SentenceEncoder.from_pretrained(str(make_tiny_decoder(tmp_path / "src", minilm_path, kind))).eval()
    encoder.tokenizer.padding_side = "left"
    encoder.config.prompt = prompt
    expected = encoder.encode(SENTENCES).numpy()
    encoder.save_pretrained(tmp_path / "out")
    assert encoder.tokenizer.padding_side == "left"
    assert json.loads((tmp_path / "out" / "tokenizer_config.json").read_text())["padding_side"] == "right"
    if prompt is None or prompt.endswith("{}"):
        st = SentenceTransformer(str(tmp_path / "out"), device="cpu")
        np.testing.assert_allclose(st.encode(SENTENCES, batch_size=4), expected, atol=1e-5)
    else:
        with pytest.raises(ImportError, match=r"SimCSE\(path\)"):
            SentenceTransformer(str(tmp_path / "out"), device="cpu")
    ours = SimCSE(str(tmp_path / "out"), device="cpu").encode(SENTENCES, return_numpy=True, normalize_to_unit=False)
    np.testing.assert_allclose(ours, expected, atol=1e-5)


def test_explicit_cls_pooler_applies_the_mlp_of_an_mlp_only_train_folder(tmp_path, tiny_bert_path):
    """pooler="cls" is CLS + the MLP head (the original tool's pooler_output), also for a folder saved with
    --mlp_only_train, which by default embeds before the head."""
    torch.manual_seed(0)
    encoder, _ = load_encoder_for_training(str(tiny_bert_path), pooler_type="cls", mlp_only_train=True)
    torch.nn.init.normal_(encoder.mlp.dense.weight, std=0.3)
    encoder.save_pretrained(tmp_path / "m")
    encoder.eval()
    with torch.no_grad():
        batch = encoder.collate(encoder.tokenize_ids(SENTENCES))
        before_mlp = encoder(**batch, use_mlp=False).numpy()
        with_mlp = encoder(**batch, use_mlp=True).numpy()
    assert not np.allclose(before_mlp, with_mlp, atol=1e-3)
    kwargs = dict(return_numpy=True, normalize_to_unit=False)
    default = SimCSE(str(tmp_path / "m"), device="cpu")
    np.testing.assert_allclose(default.encode(SENTENCES, **kwargs), before_mlp, atol=1e-5)
    assert default.pooler == "cls_before_pooler"  # what it embeds with; passing it back gives the same vectors
    np.testing.assert_allclose(SimCSE(str(tmp_path / "m"), device="cpu", pooler="cls_before_pooler").encode(
        SENTENCES, **kwargs), before_mlp, atol=1e-5)
    np.testing.assert_allclose(SimCSE(str(tmp_path / "m"), device="cpu", pooler="cls").encode(SENTENCES, **kwargs),
                               with_mlp, atol=1e-5)
    kept_out = SentenceEncoder.from_pretrained(str(tmp_path / "m"), pooler_type="cls", mlp_only_train=True)
    np.testing.assert_allclose(kept_out.encode(SENTENCES).numpy(), before_mlp, atol=1e-5)


def test_corrupt_weights_are_named_not_a_traceback(tmp_path, tiny_bert_path, capsys):
    import shutil

    from simcse.evaluation.cli import main as evaluate_main

    for name in ("model.safetensors", "pytorch_model.bin"):
        bad = tmp_path / name.split(".")[0]
        shutil.copytree(tiny_bert_path, bad, ignore=shutil.ignore_patterns("*.safetensors"))
        (bad / name).write_bytes((tiny_bert_path / "model.safetensors").read_bytes()[:1000])  # cut short
        with pytest.raises(OSError, match=f"could not read the weights in '{bad / name}'"):
            SimCSE(str(bad), device="cpu")
        assert evaluate_main(["--model_name_or_path", str(bad), "--pooler", "avg", "--tasks", "STSBenchmark"]) == 2
        assert f"could not read the weights in '{bad / name}'" in capsys.readouterr().err


def test_opt_whose_last_layer_is_projected_encodes_and_exports_at_the_projected_width(tmp_path, minilm_path):
    """facebook/opt-350m's project_out maps its 1024-wide states to 512: embeddings, the default MLP
    and the sentence-transformers manifest use the projected width (here 32 -> 16)."""
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer, OPTConfig, OPTModel

    torch.manual_seed(0)
    cfg = OPTConfig(vocab_size=30522, hidden_size=32, ffn_dim=64, num_hidden_layers=2, num_attention_heads=4,
                    max_position_embeddings=128, word_embed_proj_dim=16, pad_token_id=0, bos_token_id=101,
                    eos_token_id=102)
    src = tmp_path / "opt"
    OPTModel(cfg).save_pretrained(str(src))
    AutoTokenizer.from_pretrained(str(minilm_path)).save_pretrained(str(src))
    encoder = SentenceEncoder.from_pretrained(str(src)).eval()
    expected = encoder.encode(SENTENCES).numpy()
    assert encoder.dim == 16 and expected.shape == (4, 16)
    encoder.save_pretrained(tmp_path / "out")
    assert json.loads((tmp_path / "out" / "1_Pooling" / "config.json").read_text())["word_embedding_dimension"] == 16
    st = SentenceTransformer(str(tmp_path / "out"), device="cpu")
    assert st.get_sentence_embedding_dimension() == 16
    np.testing.assert_allclose(st.encode(SENTENCES), expected, atol=1e-5)
    trained, _ = load_encoder_for_training(str(src), pooler_type="cls")
    assert trained.mlp.dense.in_features == trained.mlp.dense.out_features == 16
    with pytest.raises(ValueError, match=r"averages layers of different widths \(32 and 16\)"):
        SentenceEncoder.from_pretrained(str(src), pooler_type="avg_first_last").encode(SENTENCES)


def test_avg_first_last_on_a_one_layer_backbone_is_that_layers_average(tmp_path, minilm_path):
    from sentence_transformers import SentenceTransformer

    from conftest import make_tiny_bert

    src = make_tiny_bert(tmp_path / "one_layer", minilm_path, layers=1)
    encoder = SentenceEncoder.from_pretrained(str(src), pooler_type="avg_first_last").eval()
    expected = encoder.encode(SENTENCES).numpy()
    avg = SentenceEncoder.from_pretrained(str(src), pooler_type="avg").eval().encode(SENTENCES).numpy()
    np.testing.assert_allclose(expected, avg, atol=1e-5)  # first layer == last layer
    encoder.save_pretrained(tmp_path / "out")
    np.testing.assert_allclose(SentenceTransformer(str(tmp_path / "out"), device="cpu").encode(SENTENCES), expected, atol=1e-5)
    with pytest.raises(ValueError, match=r"'avg_top2' needs the backbone's hidden states of 2 or more layers; got 1 layer"):
        SentenceEncoder.from_pretrained(str(src), pooler_type="avg_top2").encode(SENTENCES)


@pytest.mark.parametrize("atomic", [False, True])
def test_saving_over_a_model_folder_removes_the_old_models_modules_only(tmp_path, tiny_bert_path, atomic):
    """A reused output folder: the earlier model's Dense / layer-pooling modules would otherwise be
    read with the new weights (sentence-transformers follows modules.json, we read 2_Dense)."""
    from sentence_transformers import SentenceTransformer

    from simcse.training.trainer import save_model_atomically

    def save(encoder, folder):
        save_model_atomically(encoder, folder) if atomic else encoder.save_pretrained(folder)

    out = tmp_path / "out"
    first, _ = load_encoder_for_training(str(tiny_bert_path), pooler_type="avg_first_last")
    save(first, out)
    cls, _ = load_encoder_for_training(str(tiny_bert_path), pooler_type="cls")
    save(cls, out)
    assert {"1_WeightedLayerPooling", "2_Pooling"}.isdisjoint(p.name for p in out.iterdir())
    (out / "checkpoint-5").mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "3_Pooling").write_text("a file, not a module folder")
    avg, _ = load_encoder_for_training(str(tiny_bert_path), pooler_type="avg")
    save(avg, out)
    names = {p.name for p in out.iterdir()}
    assert "2_Dense" not in names and {"checkpoint-5", "notes.txt", "3_Pooling", "1_Pooling"} <= names
    assert (out / "notes.txt").read_text() == "mine"
    expected = avg.eval().encode(SENTENCES).numpy()
    np.testing.assert_allclose(SentenceTransformer(str(out), device="cpu").encode(SENTENCES), expected, atol=1e-5)
    np.testing.assert_allclose(SimCSE(str(out), device="cpu").encode(SENTENCES, return_numpy=True, normalize_to_unit=False),
                               expected, atol=1e-5)
    # a model whose prompt has no sentence-transformers form leaves no manifest of the model before it,
    # only a modules.json that sentence-transformers refuses
    avg.config.prompt = 'This sentence : "{}" means in one word:"'
    save(avg, out)
    assert {"sentence_bert_config.json", "1_Pooling"}.isdisjoint(p.name for p in out.iterdir())
    assert [m["path"] for m in json.loads((out / "modules.json").read_text())] == [""]


def _folder_with_prompts(path, tiny_bert_path, settings, include_prompt=True, pooling_mode="mean"):
    """A sentence-transformers 6 folder (new-style Pooling config) with the given
    config_sentence_transformers.json."""
    import shutil

    shutil.copytree(tiny_bert_path, path)
    (path / "1_Pooling").mkdir()
    (path / "1_Pooling" / "config.json").write_text(json.dumps(
        {"embedding_dimension": 32, "pooling_mode": pooling_mode, "include_prompt": include_prompt}))
    (path / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]))
    (path / "config_sentence_transformers.json").write_text(json.dumps(settings))
    return path


@pytest.mark.parametrize("prefix", ["query: ", "Represent {this} sentence: "])
def test_default_prompt_of_a_sentence_transformers_folder_is_applied_and_saved(tmp_path, tiny_bert_path, prefix):
    """A folder whose config_sentence_transformers.json names a default prompt: SentenceTransformer(path)
    puts it before every sentence, and so do we; our save keeps it (and the other prompts), so both
    loaders give the same embeddings from the saved folder."""
    from sentence_transformers import SentenceTransformer

    settings = {"prompts": {"query": prefix, "document": "passage: "}, "default_prompt_name": "query",
                "similarity_fn_name": "dot"}
    folder = _folder_with_prompts(tmp_path / "st", tiny_bert_path, settings)
    st = SentenceTransformer(str(folder), device="cpu")
    expected = st.encode(SENTENCES)
    assert not np.allclose(expected, st.encode(SENTENCES, prompt=""), atol=1e-4), "the prompt must matter"

    encoder = SentenceEncoder.from_pretrained(str(folder))
    assert encoder.config.prompt.format("x") == prefix + "x"
    np.testing.assert_allclose(encoder.encode(SENTENCES).numpy(), expected, atol=1e-5)
    ours = SimCSE(str(folder), device="cpu").encode(SENTENCES, return_numpy=True, normalize_to_unit=False)
    np.testing.assert_allclose(ours, expected, atol=1e-5)

    encoder.save_pretrained(tmp_path / "saved")
    written = json.loads((tmp_path / "saved" / "config_sentence_transformers.json").read_text())
    assert written["prompts"] == settings["prompts"] and written["default_prompt_name"] == "query"
    assert written["similarity_fn_name"] == "dot"
    np.testing.assert_allclose(SentenceTransformer(str(tmp_path / "saved"), device="cpu").encode(SENTENCES),
                               expected, atol=1e-5)
    np.testing.assert_allclose(SentenceEncoder.from_pretrained(str(tmp_path / "saved")).encode(SENTENCES).numpy(),
                               expected, atol=1e-5)


def test_a_prefix_prompt_template_is_written_as_the_default_prompt(tmp_path, tiny_bert_path):
    """--prompt_template with nothing after the sentence has a sentence-transformers form: the default
    prompt; saving a model without a prompt over that folder leaves no default prompt behind."""
    from sentence_transformers import SentenceTransformer

    encoder, _ = load_encoder_for_training(str(tiny_bert_path), pooler_type="avg")
    encoder.config.prompt = "search_query: {}"
    encoder.eval()
    expected = encoder.encode(SENTENCES).numpy()
    encoder.save_pretrained(tmp_path / "out")
    written = json.loads((tmp_path / "out" / "config_sentence_transformers.json").read_text())
    assert written["prompts"] == {"default": "search_query: "} and written["default_prompt_name"] == "default"
    np.testing.assert_allclose(SentenceTransformer(str(tmp_path / "out"), device="cpu").encode(SENTENCES),
                               expected, atol=1e-5)

    encoder.config.prompt = None
    plain = encoder.encode(SENTENCES).numpy()
    encoder.save_pretrained(tmp_path / "out")
    assert json.loads((tmp_path / "out" / "config_sentence_transformers.json").read_text())["default_prompt_name"] is None
    np.testing.assert_allclose(SentenceTransformer(str(tmp_path / "out"), device="cpu").encode(SENTENCES),
                               plain, atol=1e-5)
    encoder.config.prompt = 'This sentence : "{}" means in one word:"'
    encoder.save_pretrained(tmp_path / "out")
    assert not (tmp_path / "out" / "config_sentence_transformers.json").exists()


def test_sentence_transformers_prompt_settings_errors_are_named(tmp_path, tiny_bert_path):
    bad_name = _folder_with_prompts(tmp_path / "a", tiny_bert_path,
                                    {"prompts": {"query": "query: "}, "default_prompt_name": "qeury"})
    with pytest.raises(ValueError, match=r"default_prompt_name 'qeury' is not one of its prompts \['query'\]"):
        SentenceEncoder.from_pretrained(str(bad_name))
    not_texts = _folder_with_prompts(tmp_path / "b", tiny_bert_path, {"prompts": ["query: "]})
    with pytest.raises(ValueError, match="'prompts' must map prompt names to texts"):
        SentenceEncoder.from_pretrained(str(not_texts))
    (tmp_path / "b" / "config_sentence_transformers.json").write_text("{not json")
    with pytest.raises(ValueError, match="config_sentence_transformers.json is not valid JSON"):
        SentenceEncoder.from_pretrained(str(not_texts))
    # Instructor-style: the prompt is left out of mean pooling, which we do not do: refused, not ignored.
    excluded = _folder_with_prompts(tmp_path / "c", tiny_bert_path,
                                    {"prompts": {"query": "query: "}, "default_prompt_name": "query"},
                                    include_prompt=False)
    with pytest.raises(ValueError, match=r"default prompt 'query' is left out of 'avg' pooling.*include_prompt"):
        SentenceEncoder.from_pretrained(str(excluded))


def test_include_prompt_false_without_a_default_prompt_loads_and_is_kept(tmp_path, tiny_bert_path):
    """Without a default prompt no prompt reaches our pooling, so the folder loads as it is; the setting
    is written back, so sentence-transformers' prompt_name encoding of the saved folder is unchanged."""
    from sentence_transformers import SentenceTransformer

    folder = _folder_with_prompts(tmp_path / "st", tiny_bert_path, {"prompts": {"query": "query: "}},
                                  include_prompt=False)
    st = SentenceTransformer(str(folder), device="cpu")
    encoder = SentenceEncoder.from_pretrained(str(folder))
    assert encoder.config.prompt is None
    np.testing.assert_allclose(encoder.encode(SENTENCES).numpy(), st.encode(SENTENCES), atol=1e-5)
    encoder.save_pretrained(tmp_path / "saved")
    again = SentenceTransformer(str(tmp_path / "saved"), device="cpu")
    np.testing.assert_allclose(again.encode(SENTENCES, prompt_name="query"), st.encode(SENTENCES, prompt_name="query"),
                               atol=1e-5)
