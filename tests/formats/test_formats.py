"""Model folders (simcse.formats): what read_folder tells of each format, the pooler a folder that records
none gets, and the one loader: inference and training load the same encoder from the same folder."""
from __future__ import annotations

import ast
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

import simcse
from simcse.encoder import SentenceEncoder
from simcse.formats import read_folder, resolve_config
from simcse.pooling import default_pooler
from simcse.training.trainer import load_encoder_for_training


@pytest.fixture(scope="module")
def saved(tmp_path_factory, tiny_bert_path):
    """Our checkpoints: cls with a trained-looking MLP head, and the same trained with --mlp_only_train."""
    out = {}
    for name, mlp_only_train in (("ours", False), ("mlp_only_train", True)):
        torch.manual_seed(0)
        encoder, _ = load_encoder_for_training(str(tiny_bert_path), pooler_type="cls", mlp_only_train=mlp_only_train)
        torch.nn.init.normal_(encoder.mlp.dense.weight, std=0.3)
        out[name] = tmp_path_factory.mktemp(name) / "model"
        encoder.save_pretrained(out[name])
    return out


def _assert_same_encoder(a: SentenceEncoder, b: SentenceEncoder) -> None:
    assert asdict(a.config) == asdict(b.config)
    assert type(a.backbone) is type(b.backbone) and (a.mlp is None) == (b.mlp is None)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    different = [k for k in sa if not torch.equal(sa[k], sb[k])]
    assert not different, f"weights differ: {different[:5]}"
    assert a.tokenizer.get_vocab() == b.tokenizer.get_vocab()


@pytest.mark.parametrize(
    "kind,pooler,mlp_init",
    [
        ("ours", None, "auto"),  # our checkpoint with its MLP head
        ("mlp_only_train", None, "auto"),  # the head saved, kept out at inference
        ("sentence_transformers", None, "auto"),  # all-MiniLM-L6-v2: mean pooling
        ("huggingface", "avg", "auto"),  # a plain Hugging Face folder
        ("huggingface", "cls", "pooler"),  # ... whose pre-trained pooler is the cls head
    ],
)
def test_inference_and_training_load_the_same_encoder(saved, tiny_bert_path, minilm_path, kind, pooler, mlp_init):
    folder = {"sentence_transformers": minilm_path, "huggingface": tiny_bert_path}.get(kind) or saved[kind]
    inference = SentenceEncoder.from_pretrained(str(folder), pooler_type=pooler)
    training, _ = load_encoder_for_training(str(folder), pooler_type=pooler, mlp_init=mlp_init)
    _assert_same_encoder(inference, training)
    if kind in saved:
        assert inference.config.pooler_type == "cls" and inference.mlp is not None
        assert inference.config.mlp_only_train == (kind == "mlp_only_train")


def test_read_folder_describes_each_format(saved, tiny_bert_path, minilm_path):
    ours = read_folder(saved["ours"])
    assert (ours.format, ours.backbone_dir, ours.mlp_dir) == ("simcse", saved["ours"], saved["ours"] / "2_Dense")
    assert ours.config.pooler_type == "cls" and not ours.config.mlp_only_train
    st = read_folder(minilm_path)
    assert st.format == "sentence-transformers" and st.mlp_dir is None
    assert (st.config.pooler_type, st.config.max_length, st.config.normalize) == ("avg", 256, True)
    plain = read_folder(tiny_bert_path)
    assert plain.format == "huggingface" and plain.config is None and plain.has_pretrained_pooler
    assert not plain.decoder_only
    # a plain folder records no pooler: the caller's use decides (SimCSE's cls head is made fresh for training)
    assert resolve_config(plain).pooler_type == "cls"
    assert resolve_config(plain, for_training=True).pooler_type == "cls"
    assert resolve_config(plain, "avg").pooler_type == "avg"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_folder(tiny_bert_path / "missing")


def test_resolve_config_leaves_the_folder_description_unchanged(saved):
    spec = read_folder(saved["ours"])
    cfg = resolve_config(spec, "avg", max_length=16)
    cfg.extra["changed"] = True
    assert (cfg.pooler_type, cfg.max_length) == ("avg", 16)
    assert spec.config.pooler_type == "cls" and spec.config.max_length != 16 and "changed" not in spec.config.extra


@pytest.mark.parametrize(
    "name,decoder_only,pretrained,for_training,expected",
    [
        ("org/bert", False, True, False, "cls"),
        ("org/bert", False, False, False, "avg"),
        ("org/bert", False, False, True, "cls"),
        ("org/gpt2", True, False, False, "last"),
        ("org/gpt2", True, False, True, "last"),
        ("princeton-nlp/unsup-simcse-bert-base-uncased", False, True, False, "cls_before_pooler"),
        ("princeton-nlp/unsup-simcse-bert-base-uncased", False, True, True, "cls"),
        # the original package's rule: "unsup" in the name or path, whatever else it says
        ("/models/my-unsup-bert", False, True, False, "cls_before_pooler"),
        ("/models/my-unsup-bert", False, False, False, "cls_before_pooler"),
        ("org/Unsup-bert", False, True, False, "cls"),  # case-sensitive, as the original's `in` test
        ("org/unsup-gpt2", True, False, False, "last"),  # a decoder has no CLS token
    ],
)
def test_default_pooler(name, decoder_only, pretrained, for_training, expected):
    assert default_pooler(name, decoder_only=decoder_only, has_pretrained_pooler=pretrained,
                          for_training=for_training) == expected


def test_formats_never_import_the_encoder():
    """simcse.encoder imports simcse.formats; the other way round would be an import cycle."""
    root = Path(simcse.__file__).parent / "formats"
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                target = ("." * node.level) + (node.module or "")
                assert target not in ("..encoder", "simcse.encoder"), f"{path.name} imports {target}"


def test_old_module_paths_are_the_moved_modules():
    import simcse.cli.convert
    import simcse.convert
    import simcse.export
    import simcse.formats.sentence_transformers
    import simcse.st_modules

    assert simcse.export is simcse.st_modules is simcse.formats.sentence_transformers
    assert simcse.convert is simcse.cli.convert
