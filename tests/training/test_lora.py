"""Decoder backbones: last-token pooling under both padding sides, prompts, LoRA training and saving."""
from __future__ import annotations

import json

import pytest
import torch

from simcse.encoder import SentenceEncoder
from simcse.training.lora import ADAPTER_DIR, PROMPT_PRESETS, apply_lora, merged_for_saving, resolve_prompt, save_adapter
from simcse.training.loss import InfoNCELoss
from simcse.training.trainer import ContrastiveModel, load_checkpoint_weights, load_encoder_for_training, save_model_atomically

from conftest import make_tiny_decoder

SENTS = [
    "a man is playing a guitar .",
    "two children run in the park near the river",
    "rain today",
    "the stock market fell sharply this morning after the news",
    "she reads a book",
    "the museum opens a new exhibition next week",
]


@pytest.fixture(scope="module")
def llama_path(tmp_path_factory, minilm_path):
    return make_tiny_decoder(tmp_path_factory.mktemp("llama"), minilm_path, "llama")


@pytest.mark.parametrize("kind", ["llama", "gpt2"])
def test_last_pooling_picks_last_real_token_left_and_right_padding(tmp_path, minilm_path, kind):
    enc = SentenceEncoder.from_pretrained(str(make_tiny_decoder(tmp_path, minilm_path, kind))).eval()
    assert enc.pooler_type == "last"
    ids = enc.tokenize_ids(SENTS)
    singles = []
    with torch.no_grad():
        for t in ids:
            x = torch.tensor([t])
            hidden = enc.backbone(input_ids=x, attention_mask=torch.ones_like(x)).last_hidden_state
            singles.append(hidden[0, -1])  # unpadded: the last token's state
    singles = torch.stack(singles)
    for side in ("right", "left"):
        enc.tokenizer.padding_side = side
        batch = enc.collate(ids)
        assert not bool(batch["attention_mask"].all())  # the batch really is padded
        with torch.no_grad():
            pooled = enc(batch["input_ids"], batch["attention_mask"])
        torch.testing.assert_close(pooled, singles, atol=1e-5, rtol=1e-5)


def test_prompt_presets_and_errors():
    assert resolve_prompt("PromptEOL") == PROMPT_PRESETS["prompteol"] == 'This sentence : "{}" means in one word:"'
    assert resolve_prompt("none") is None and resolve_prompt(None) is None
    assert resolve_prompt("query: {}") == "query: {}"
    with pytest.raises(ValueError, match="'oops' is neither a preset"):
        resolve_prompt("oops")


def _lora_model(path) -> ContrastiveModel:
    encoder, _ = load_encoder_for_training(str(path))
    assert encoder.pooler_type == "last" and encoder.mlp is None  # decoders default to last-token pooling
    encoder.config.prompt = resolve_prompt("prompteol")
    apply_lora(encoder, r=4, alpha=8, dropout=0.0, target_modules=["q_proj", "v_proj"])
    return ContrastiveModel(encoder, InfoNCELoss(temp=0.05, gather=False))


def _pairs(encoder) -> dict[str, torch.Tensor]:
    ids = encoder.tokenize_ids([s for i, s in enumerate(SENTS) for s in (s, SENTS[(i + 1) % len(SENTS)] + " too")])
    batch = encoder.collate(ids)
    return {k: v.view(len(SENTS), 2, -1) for k, v in batch.items()}


def test_lora_training_changes_only_adapters_and_round_trips(tmp_path, llama_path):
    torch.manual_seed(0)
    model = _lora_model(llama_path)
    enc = model.encoder
    before = {k: v.clone() for k, v in enc.backbone.state_dict().items()}
    trainable = {k for k, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in k for k in trainable)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    for _ in range(3):
        opt.zero_grad()
        model(**_pairs(enc))["loss"].backward()
        opt.step()
    after = enc.backbone.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all("lora_" in k for k in changed)
    assert any("lora_B" in k for k in changed)  # lora_B starts at zero: the adapters really learned

    enc.eval()
    expected = enc.encode(SENTS)
    folder = tmp_path / "model"
    save_model_atomically(merged_for_saving(enc), folder, lambda tmp: save_adapter(enc, tmp))
    assert (folder / ADAPTER_DIR / "adapter_config.json").is_file()
    cfg = json.loads((folder / "simcse_config.json").read_text())
    assert cfg["prompt"] == PROMPT_PRESETS["prompteol"] and cfg["extra"]["lora"]["r"] == 4
    loaded = SentenceEncoder.from_pretrained(str(folder)).eval()
    assert not any("lora" in k for k in loaded.backbone.state_dict())  # merged: a plain model
    torch.testing.assert_close(loaded.encode(SENTS), expected, atol=1e-5, rtol=1e-5)
    # The training model itself still has its adapters (saving merged a copy).
    torch.testing.assert_close(enc.encode(SENTS), expected)

    # Resuming: a fresh LoRA model takes the adapter from the checkpoint folder.
    torch.manual_seed(1)
    fresh = _lora_model(llama_path)
    load_checkpoint_weights(fresh, folder)
    fresh.encoder.eval()
    torch.testing.assert_close(fresh.encoder.encode(SENTS), expected, atol=1e-5, rtol=1e-5)


def test_train_cli_lora_prompt_and_gradient_checkpointing(tmp_path, llama_path):
    from peft import PeftModel
    from transformers import AutoModel

    from simcse import SimCSE
    from simcse.cli.train import main

    train = tmp_path / "pairs.csv"
    train.write_text("sent0,sent1\n" + "\n".join(f"{s},{SENTS[(i + 1) % 6]} too" for i, s in enumerate(SENTS * 4)) + "\n")
    out = tmp_path / "out"
    argv = [
        "--model_name_or_path", str(llama_path), "--train_file", str(train), "--output_dir", str(out),
        "--per_device_train_batch_size", "6", "--learning_rate", "1e-2", "--max_seq_length", "32",
        "--logging_steps", "1", "--save_strategy", "no", "--seed", "7", "--report_to", "none",
        "--tokenized_cache_dir", "", "--disable_tqdm", "True", "--num_train_epochs", "1",
        "--prompt_template", "prompteol", "--lora_r", "4", "--lora_target_modules", "q_proj", "v_proj",
        "--gradient_checkpointing", "True",
    ]
    assert main(argv) == 0
    cfg = json.loads((out / "simcse_config.json").read_text())
    assert cfg["prompt"] == PROMPT_PRESETS["prompteol"] and cfg["pooler_type"] == "last"
    # The merged folder equals base + adapter; weights outside the adapted modules are untouched.
    base = AutoModel.from_pretrained(str(llama_path))
    saved = AutoModel.from_pretrained(str(out)).state_dict()
    for k, v in base.state_dict().items():
        if "q_proj" in k or "v_proj" in k:
            continue
        torch.testing.assert_close(saved[k], v, atol=0, rtol=0)
    assert any(not torch.equal(saved[k], v) for k, v in base.state_dict().items() if "q_proj" in k)
    remerged = PeftModel.from_pretrained(base, str(out / ADAPTER_DIR)).merge_and_unload().state_dict()
    for k, v in remerged.items():
        torch.testing.assert_close(saved[k], v, atol=1e-6, rtol=1e-6)
    emb = SimCSE(str(out), device="cpu").encode(SENTS[:2])
    assert emb.shape[0] == 2 and torch.isfinite(torch.as_tensor(emb)).all()


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--prompt_template", "nothing here"], "is neither a preset"),
        (["--lora_r", "-1"], "--lora_r must be >= 0"),
        (["--lora_r", "4", "--lora_dropout", "1.5"], "--lora_dropout must be in [0, 1)"),
    ],
)
def test_bad_flags_are_named(tmp_path, llama_path, capsys, extra, message):
    from simcse.cli.train import main

    train = tmp_path / "t.txt"
    train.write_text("\n".join(SENTS) + "\n")
    argv = ["--model_name_or_path", str(llama_path), "--train_file", str(train), "--output_dir", str(tmp_path / "o"),
            "--report_to", "none", "--tokenized_cache_dir", "", *extra]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_gradient_checkpointing_through_lora_still_trains_adapters(llama_path):
    model = _lora_model(llama_path)
    model.activation_checkpointing_enable()
    base = model.encoder.backbone.get_base_model()
    assert base.is_gradient_checkpointing
    model.train()
    model(**_pairs(model.encoder))["loss"].backward()
    grads = {k: p.grad for k, p in model.named_parameters() if p.requires_grad}
    assert grads and all(g is not None for g in grads.values())
    # lora_B starts at zero, so at the first step only lora_B gets a non-zero gradient.
    assert all(float(g.abs().sum()) > 0 for k, g in grads.items() if "lora_B" in k)


@pytest.mark.parametrize("kind", ["llama", "gpt2"])
def test_do_mlm_on_a_decoder_is_named(tmp_path, minilm_path, kind):
    with pytest.raises(ValueError, match="--do_mlm adds a masked-language-model loss, but .* is a decoder-only"):
        load_encoder_for_training(str(make_tiny_decoder(tmp_path / kind, minilm_path, kind)), do_mlm=True)
