"""SentenceEncoder tokenization with a prompt template: the sentence is cut to fit, never the template."""
from __future__ import annotations

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (GPT2Config, GPT2Model, LlamaConfig, LlamaModel, OPTConfig, OPTModel,
                          PreTrainedTokenizerFast)

from simcse.encoder import SentenceEncoder
from simcse.formats.spec import EncoderConfig
from simcse.training.data import load_training_data
from simcse.training.lora import PROMPT_PRESETS

PROMPT = PROMPT_PRESETS["prompteol"]
CORPUS = [
    "a man is playing a guitar on the street.", "two children run in the park near the river!",
    "the stock market fell sharply this morning after the news.", "she reads a book; he writes a letter.",
    'This sentence : "x" means in one word:"', "the museum opens a new exhibition next week, said the mayor.",
]
LONG = " ".join(CORPUS[:4] * 3) + " café naïve 日本語."
SHORT = ["rain today.", "she reads a book"]


def _tokenizer(kind: str) -> PreTrainedTokenizerFast:
    """A small tokenizer of the kind GPT-2 (byte-level BPE, no special tokens added), OPT (byte-level BPE,
    ``</s>`` first) or Llama (sentencepiece-style BPE with byte fallback, ``<s>`` first) uses."""
    if kind == "llama":
        tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True)
        tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first", split=True)
        specials, bos, eos, pad = ["<unk>", "<s>", "</s>"], "<s>", "</s>", None
        specials += [f"<0x{b:02X}>" for b in range(256)]
        alphabet = []
    else:
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        specials = ["<|endoftext|>"] if kind == "gpt2" else ["<pad>", "</s>"]
        bos = eos = specials[-1]
        pad = None if kind == "gpt2" else "<pad>"
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    tok.train_from_iterator(CORPUS * 4, trainers.BpeTrainer(vocab_size=1000, special_tokens=specials,
                                                            initial_alphabet=alphabet, show_progress=False))
    if kind != "gpt2":
        tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A", special_tokens=[(bos, tok.token_to_id(bos))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos, pad_token=pad,
                                   unk_token="<unk>" if kind == "llama" else None)


def _encoder(kind: str, side: str, prompt: str | None = PROMPT) -> SentenceEncoder:
    tokenizer = _tokenizer(kind)
    tokenizer.padding_side = side
    torch.manual_seed(0)
    vocab = len(tokenizer)
    if kind == "gpt2":
        backbone = GPT2Model(GPT2Config(vocab_size=vocab, n_embd=32, n_layer=2, n_head=4, n_positions=128,
                                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id))
    elif kind == "opt":
        backbone = OPTModel(OPTConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, ffn_dim=64,
                                      num_attention_heads=4, max_position_embeddings=128, word_embed_proj_dim=32,
                                      bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                                      pad_token_id=tokenizer.pad_token_id))
    else:
        backbone = LlamaModel(LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                                          bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id))
    return SentenceEncoder(backbone, tokenizer, EncoderConfig(pooler_type="last", prompt=prompt)).eval()


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("kind", ["gpt2", "llama", "opt"])
def test_a_long_sentence_keeps_the_template_end_as_the_pooled_token(kind, side):
    enc = _encoder(kind, side)
    whole = enc.tokenizer(PROMPT.format(LONG))["input_ids"]
    assert len(whole) > 64
    for max_length in (32, 64):
        ids = enc.tokenize_ids([LONG] + SHORT, max_length)
        assert max_length - 3 <= len(ids[0]) <= max_length  # the sentence is cut to what fits, not to less
        assert ids[0][-1] == whole[-1]  # the template's last token survives
        assert ids[0][:4] == whole[:4]  # and so does its start
        for s, got in zip(SHORT, ids[1:]):  # a sentence that fits is the templated text, tokenized whole
            assert got == enc.tokenizer(PROMPT.format(s))["input_ids"]
        with torch.no_grad():
            x = torch.tensor([ids[0]])
            state = enc.backbone(input_ids=x, attention_mask=torch.ones_like(x)).last_hidden_state[0, -1]
        alone = enc.encode([LONG], max_length=max_length)[0]
        in_batch = enc.encode(SHORT + [LONG], max_length=max_length, batch_size=3)[2]
        torch.testing.assert_close(alone, state, atol=1e-5, rtol=1e-5)  # pooled: the template's last token
        torch.testing.assert_close(in_batch, alone, atol=1e-5, rtol=1e-5)  # padding does not change it


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_a_tokenizer_that_truncates_on_the_left_keeps_the_end_of_the_sentence(kind):
    enc = _encoder(kind, "left")
    enc.tokenizer.truncation_side = "left"
    ids = enc.tokenize_ids([LONG], 32)[0]
    whole = enc.tokenizer(PROMPT.format(LONG))["input_ids"]
    assert 29 <= len(ids) <= 32 and ids[-6:] == whole[-6:]  # the sentence's end and the template's
    assert ids[:4] == whole[:4]  # the template's start is not what goes


def test_a_tokenizer_without_token_spans_still_keeps_the_template(monkeypatch):
    enc = _encoder("opt", "right")
    whole = enc.tokenizer(PROMPT.format(LONG))["input_ids"]
    monkeypatch.setattr(type(enc.tokenizer), "is_fast", property(lambda self: False))  # as a Python tokenizer
    ids = enc.tokenize_ids([LONG] + SHORT, 32)
    assert len(ids[0]) <= 32 and ids[0][-1] == whole[-1] and ids[0][:4] == whole[:4]
    assert ids[1:] == [enc.tokenizer(PROMPT.format(s))["input_ids"] for s in SHORT]


@pytest.mark.parametrize("prompt", [PROMPT, "query: {}"])
def test_max_length_too_small_for_the_template_is_refused_with_both_numbers(prompt):
    enc = _encoder("gpt2", "right", prompt)
    fixed = len(enc.tokenizer(prompt.format(""))["input_ids"])
    assert len(enc.tokenize_ids(["rain"], fixed + 1)[0]) == fixed + 1
    with pytest.raises(ValueError, match=rf"max_length={fixed} cannot hold .* take {fixed} tokens.* at least {fixed + 1}"):
        enc.tokenize_ids(["rain"], fixed)


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_a_prefix_template_is_truncated_as_sentence_transformers_truncates_it(kind):
    """Nothing after the sentence: the templated text is cut by the tokenizer, as sentence-transformers cuts
    its prompt + sentence, at every length (also inside a character of several byte tokens)."""
    enc = _encoder(kind, "right", "query: {}")
    text = "query: 日本語の文です。" + LONG
    fixed = len(enc.tokenizer("query: ")["input_ids"])
    for max_length in range(fixed + 1, fixed + 30):
        expected = enc.tokenizer(text, truncation=True, max_length=max_length)["input_ids"]
        assert enc.tokenize_ids([text[len("query: "):]], max_length)[0] == expected, max_length


def test_training_and_inference_tokenize_a_sentence_to_the_same_ids(tmp_path):
    enc = _encoder("llama", "left")
    train_file = tmp_path / "train.txt"
    train_file.write_text("\n".join([LONG] + SHORT) + "\n", encoding="utf-8")
    data = load_training_data(train_file, enc, 32, cache_dir="")
    expected = enc.tokenize_ids([LONG] + SHORT, 32)
    assert [list(data[i][0]) for i in range(len(data))] == expected
    assert expected[0][-1] == enc.tokenizer(PROMPT.format(LONG))["input_ids"][-1]
