"""Pooling heads on a tiny random BERT: shapes, masks, left/right padding, paper definitions."""
from __future__ import annotations

import pytest
import torch

from simcse.encoder import SentenceEncoder
from simcse.pooling import POOLERS, last_token_index, pool

SENTENCES = ["a short one", "a much longer sentence with quite a few more words in it", "mid length text here"]


@pytest.fixture(scope="module")
def encoders(tiny_bert_path):
    out = {}
    for name in POOLERS:
        enc = SentenceEncoder.from_pretrained(str(tiny_bert_path), pooler_type=name)
        enc.eval()
        out[name] = enc
    return out


@pytest.mark.parametrize("pooler", POOLERS)
def test_padded_batch_equals_single_items(encoders, pooler):
    enc = encoders[pooler]
    batch = enc.encode(SENTENCES, batch_size=8)
    assert batch.shape == (3, enc.dim)
    singles = torch.cat([enc.encode([s]) for s in SENTENCES])
    torch.testing.assert_close(batch, singles, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("pooler", POOLERS)
def test_left_padding_equals_right_padding(encoders, pooler):
    enc = encoders[pooler]
    right = enc.encode(SENTENCES)
    enc.tokenizer.padding_side = "left"
    try:
        left = enc.encode(SENTENCES)
    finally:
        enc.tokenizer.padding_side = "right"
    # Absolute position embeddings shift under left padding in BERT, so compare through
    # forward on the same token positions: build left-padded ids by hand with position_ids.
    ids = enc.tokenize_ids(SENTENCES)
    batch = enc.collate(ids)
    L = batch["input_ids"].shape[1]
    lens = batch["attention_mask"].sum(1)
    left_ids = torch.zeros_like(batch["input_ids"])
    left_mask = torch.zeros_like(batch["attention_mask"])
    pos = torch.zeros_like(batch["input_ids"])
    for r, n in enumerate(lens.tolist()):
        left_ids[r, L - n:] = batch["input_ids"][r, :n]
        left_mask[r, L - n:] = 1
        pos[r, L - n:] = torch.arange(n)
    with torch.no_grad():
        out_left = enc(input_ids=left_ids, attention_mask=left_mask, token_type_ids=torch.zeros_like(left_ids),
                       position_ids=pos, use_mlp=enc.uses_mlp(False))
    torch.testing.assert_close(out_left, right, atol=1e-5, rtol=1e-5)
    assert left.shape == right.shape


def test_pool_definitions_by_hand():
    torch.manual_seed(0)
    B, L, H = 2, 5, 4
    hs = tuple(torch.randn(B, L, H) for _ in range(4))  # embeddings + 3 layers
    mask = torch.tensor([[1, 1, 1, 0, 0], [0, 1, 1, 1, 1]])
    last = hs[-1]
    m = mask.unsqueeze(-1).float()
    torch.testing.assert_close(pool("avg", last, mask), (last * m).sum(1) / m.sum(1))
    torch.testing.assert_close(pool("avg_first_last", last, mask, hs), (((hs[1] + hs[-1]) / 2) * m).sum(1) / m.sum(1))
    torch.testing.assert_close(pool("avg_top2", last, mask, hs), (((hs[-2] + hs[-1]) / 2) * m).sum(1) / m.sum(1))
    lt = pool("last", last, mask)
    torch.testing.assert_close(lt[0], last[0, 2])
    torch.testing.assert_close(lt[1], last[1, 4])
    cls = pool("cls_before_pooler", last, mask)
    torch.testing.assert_close(cls[0], last[0, 0])
    torch.testing.assert_close(cls[1], last[1, 1])  # left padded: first real token
    mx = pool("max", last, mask)
    torch.testing.assert_close(mx[0], last[0, :3].max(0).values)
    assert last_token_index(torch.tensor([[0, 0, 1, 1], [1, 1, 1, 0]])).tolist() == [3, 2]


def test_cls_uses_mlp_unless_mlp_only_train(tiny_bert_path):
    enc = SentenceEncoder.from_pretrained(str(tiny_bert_path), pooler_type="cls")
    enc.eval()
    ids = enc.collate(enc.tokenize_ids(["hello world"]))
    with torch.no_grad():
        raw = enc.pool_batch(**ids)
        expected = torch.tanh(enc.mlp.dense(raw))
        torch.testing.assert_close(enc(**ids), expected)
        enc.config.mlp_only_train = True
        torch.testing.assert_close(enc(**ids), raw)
        enc.train()
        enc.backbone.eval()  # no dropout, MLP still applied in training mode
        torch.testing.assert_close(enc(**ids), expected)
    # SimCSE's Hugging Face convention: the MLP is the backbone's pooler (dense + tanh).
    torch.testing.assert_close(enc.mlp.dense.weight, enc.backbone.pooler.dense.weight)


def test_unknown_pooler_names_choices(tiny_bert_path):
    with pytest.raises(ValueError, match="unknown pooler 'mean'.*avg_first_last"):
        SentenceEncoder.from_pretrained(str(tiny_bert_path), pooler_type="mean")


def test_decoder_model_defaults_to_last_pooling(tmp_path, minilm_path):
    from transformers import GPT2Config, GPT2Model, AutoTokenizer

    cfg = GPT2Config(vocab_size=30522, n_embd=32, n_layer=2, n_head=4, n_positions=64,
                     bos_token_id=101, eos_token_id=102)
    GPT2Model(cfg).save_pretrained(tmp_path)
    tok = AutoTokenizer.from_pretrained(str(minilm_path))
    tok.save_pretrained(tmp_path)
    enc = SentenceEncoder.from_pretrained(str(tmp_path))
    assert enc.pooler_type == "last"
    assert enc.tokenizer.pad_token_id is not None
    enc.eval()
    batch = enc.encode(SENTENCES)
    singles = torch.cat([enc.encode([s]) for s in SENTENCES])
    torch.testing.assert_close(batch, singles, atol=1e-5, rtol=1e-5)
    enc.tokenizer.padding_side = "left"
    left = enc.encode(SENTENCES)
    torch.testing.assert_close(left, singles, atol=1e-5, rtol=1e-5)


def _tiny(tmp_path, minilm_path, kind):
    """A tiny random model of another family, with the bert-base-uncased tokenizer."""
    from transformers import (AlbertConfig, AlbertModel, AutoTokenizer, DistilBertConfig, DistilBertModel,
                              RobertaConfig, RobertaModel)

    torch.manual_seed(0)
    if kind == "distilbert":
        model = DistilBertModel(DistilBertConfig(vocab_size=30522, dim=32, n_layers=2, n_heads=4, hidden_dim=64))
    elif kind == "roberta_without_pooler":
        model = RobertaModel(RobertaConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                           intermediate_size=64, max_position_embeddings=130), add_pooling_layer=False)
    else:
        model = AlbertModel(AlbertConfig(vocab_size=30522, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                                         num_attention_heads=4, intermediate_size=64))
    folder = tmp_path / kind
    model.save_pretrained(str(folder))
    AutoTokenizer.from_pretrained(str(minilm_path)).save_pretrained(str(folder))
    return folder


@pytest.mark.parametrize("kind", ["distilbert", "roberta_without_pooler"])
def test_cls_head_without_trained_weights_is_refused(tmp_path, minilm_path, kind):
    """pooler="cls" applies the MLP head; a backbone with no pre-trained pooler (and no saved head) would
    get a random one, different at every load: refused, naming the pooler to use instead."""
    from simcse import SimCSE
    from simcse.training.trainer import load_encoder_for_training

    folder = _tiny(tmp_path, minilm_path, kind)
    with pytest.raises(ValueError, match=r"pooler 'cls' applies SimCSE's MLP head, but .* has no trained one.*"
                                         r"use pooler 'cls_before_pooler'"):
        SimCSE(str(folder), device="cpu", pooler="cls")
    assert SentenceEncoder.from_pretrained(str(folder)).pooler_type == "avg"
    # kept out at inference, the head is only trained: it may start fresh
    unsup = SentenceEncoder.from_pretrained(str(folder), pooler_type="cls", mlp_only_train=True).eval()
    torch.testing.assert_close(unsup.encode(SENTENCES),
                               SentenceEncoder.from_pretrained(str(folder), pooler_type="cls_before_pooler").encode(SENTENCES))
    with pytest.raises(ValueError, match="--mlp_init pooler: .* has no pre-trained pooler layer"):
        load_encoder_for_training(str(folder), pooler_type="cls", mlp_init="pooler")
    trained, _ = load_encoder_for_training(str(folder), pooler_type="cls")  # SimCSE's fresh N(0, 0.02) head
    assert trained.mlp is not None and float(trained.mlp.dense.weight.detach().std()) < 0.05


def test_albert_pooler_is_the_cls_head(tmp_path, minilm_path):
    """ALBERT keeps its pooler as a Linear + pooler_activation (no pooler.dense): it is the cls head,
    and pooler="cls" gives ALBERT's own pooler_output, as the original tool did."""
    from simcse.training.trainer import load_encoder_for_training

    folder = _tiny(tmp_path, minilm_path, "albert")
    enc = SentenceEncoder.from_pretrained(str(folder)).eval()
    assert enc.pooler_type == "cls"
    torch.testing.assert_close(enc.mlp.dense.weight, enc.backbone.pooler.weight)
    batch = enc.collate(enc.tokenize_ids(SENTENCES))
    with torch.no_grad():
        torch.testing.assert_close(enc(**batch), enc.backbone(**batch).pooler_output)
    pooled, _ = load_encoder_for_training(str(folder), pooler_type="cls", mlp_init="pooler")
    torch.testing.assert_close(pooled.mlp.dense.weight, pooled.backbone.pooler.weight)
