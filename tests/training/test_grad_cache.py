"""Gradient caching: parameter gradients equal the full batch's under the same dropout masks; trainer runs with it."""
from __future__ import annotations

import json

import pytest
import torch

from simcse.training.grad_cache import grad_cache_step
from simcse.training.loss import InfoNCELoss
from simcse.training.matryoshka import MatryoshkaInfoNCELoss
from simcse.training.trainer import ContrastiveModel, load_encoder_for_training

SENTS = [
    "the quick brown fox jumps over the lazy dog",
    "a man is playing a guitar on the stage",
    "two children are running in the park",
    "the stock market fell sharply today",
    "she reads a book under the old tree",
    "rain is expected for most of the week",
    "a cat sleeps on the warm window sill",
    "the train to the city leaves at noon",
    "he cooked pasta with fresh tomatoes",
    "the museum opens a new exhibition",
]


def _model(path, loss=None, pooler="cls") -> ContrastiveModel:
    torch.manual_seed(0)
    encoder, _ = load_encoder_for_training(str(path), pooler_type=pooler)
    return ContrastiveModel(encoder, loss or InfoNCELoss(temp=0.05, gather=False))


def _batch(model: ContrastiveModel, views: int, n: int = 10) -> dict[str, torch.Tensor]:
    """``[n, views, L]`` tensors: unsupervised (same sentence twice) or triplets (shifted sentences)."""
    rows = []
    for i in range(n):
        if views == 2:
            rows.append([SENTS[i], SENTS[i]])
        else:
            rows.append([SENTS[i], SENTS[(i + 1) % len(SENTS)], SENTS[(i + 3) % len(SENTS)]])
    flat = [s for r in rows for s in r]
    ids = model.encoder.tokenize_ids(flat, max_length=16)
    length = max(map(len, ids))
    input_ids = torch.zeros(len(ids), length, dtype=torch.long)
    mask = torch.zeros(len(ids), length, dtype=torch.long)
    for i, t in enumerate(ids):
        input_ids[i, : len(t)] = torch.tensor(t)
        mask[i, : len(t)] = 1
    return {
        "input_ids": input_ids.view(n, views, length),
        "attention_mask": mask.view(n, views, length),
        "token_type_ids": torch.zeros_like(input_ids).view(n, views, length),
    }


def _grads(model) -> dict[str, torch.Tensor]:
    return {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


def _reference(model: ContrastiveModel, batch, chunk: int, seed: int) -> tuple[torch.Tensor, dict]:
    """The full-batch gradient: every chunk encoded *with* a graph (same random stream as the cached
    first pass), one loss over all embeddings, one backward."""
    model.zero_grad(set_to_none=True)
    torch.manual_seed(seed)
    b, v, length = batch["input_ids"].shape
    flat = {k: t.reshape(b * v, length) for k, t in batch.items()}
    parts = [model.encoder(**{k: t[s : s + chunk] for k, t in flat.items()}) for s in range(0, b * v, chunk)]
    loss = model.loss(torch.cat(parts).view(b, v, -1))
    loss.backward()
    return loss.detach(), _grads(model)


def _cached(model, batch, chunk: int, seed: int) -> tuple[torch.Tensor, dict]:
    model.zero_grad(set_to_none=True)
    torch.manual_seed(seed)
    loss = grad_cache_step(model, batch, chunk)
    return loss, _grads(model)


def _assert_same(ref: dict, got: dict, atol: float = 1e-5) -> None:
    assert ref.keys() == got.keys() and len(ref) > 10
    for k in ref:
        torch.testing.assert_close(got[k], ref[k], atol=atol, rtol=1e-4, msg=lambda m: f"{k}: {m}")


@pytest.mark.parametrize("views,chunk", [(2, 3), (2, 7), (3, 4)])
def test_cached_gradients_equal_full_batch_with_dropout(tiny_bert_path, views, chunk):
    model = _model(tiny_bert_path, InfoNCELoss(temp=0.05, hard_negative_weight=0.3 if views == 3 else 0.0, gather=False))
    model.train()  # dropout active
    batch = _batch(model, views)
    ref_loss, ref = _reference(model, batch, chunk, seed=11)
    loss, got = _cached(model, batch, chunk, seed=11)
    torch.testing.assert_close(loss, ref_loss, atol=1e-6, rtol=1e-6)
    _assert_same(ref, got)
    # Dropout really matters here: another seed gives other gradients.
    _, other = _reference(model, batch, chunk, seed=12)
    assert any(not torch.allclose(other[k], ref[k], atol=1e-5) for k in ref)


def _uncached(model, batch, seed: int) -> dict:
    model.zero_grad(set_to_none=True)
    torch.manual_seed(seed)
    model(**batch)["loss"].backward()
    return _grads(model)


def _distance(a: dict, b: dict) -> float:
    return float(torch.sqrt(sum(((a[k] - b[k]) ** 2).sum() for k in a)))


def test_a_cached_run_draws_other_dropout_masks_than_an_uncached_one_with_the_same_seed(tiny_bert_path):
    """The README's statement: the gradients equal the full batch's under the same dropout masks, but a cached
    and an uncached step with the same seed draw different masks (chunk by chunk, not over the whole batch), so
    their gradients are as far apart as those of two seeds; with dropout off they are equal."""
    model = _model(tiny_bert_path)
    batch = _batch(model, 2)
    model.eval()  # no dropout: the same masks (none), the same gradients
    _assert_same(_uncached(model, batch, seed=11), _cached(model, batch, chunk=3, seed=11)[1])
    model.train()
    uncached, other_seed = _uncached(model, batch, seed=11), _uncached(model, batch, seed=12)
    cached = _cached(model, batch, chunk=3, seed=11)[1]
    ratio = _distance(cached, uncached) / _distance(other_seed, uncached)
    assert 0.5 < ratio < 2, ratio


def test_one_chunk_equals_the_models_own_forward(tiny_bert_path):
    model = _model(tiny_bert_path)
    model.train()
    batch = _batch(model, 2)
    model.zero_grad(set_to_none=True)
    torch.manual_seed(5)
    loss = model(**batch)["loss"]
    loss.backward()
    ref = _grads(model)
    cached_loss, got = _cached(model, batch, chunk=1000, seed=5)
    torch.testing.assert_close(cached_loss, loss.detach(), atol=1e-6, rtol=1e-6)
    _assert_same(ref, got)


def test_loss_scale_and_matryoshka_loss(tiny_bert_path):
    loss_fn = MatryoshkaInfoNCELoss([32, 16, 8], [1.0, 0.5, 0.25], temp=0.05, gather=False)
    model = _model(tiny_bert_path, loss_fn)
    model.train()
    batch = _batch(model, 2)
    ref_loss, ref = _reference(model, batch, 4, seed=3)
    model.zero_grad(set_to_none=True)
    torch.manual_seed(3)
    loss = grad_cache_step(model, batch, 4, loss_scale=0.25)
    torch.testing.assert_close(loss, ref_loss * 0.25)
    _assert_same({k: g * 0.25 for k, g in ref.items()}, _grads(model), atol=1e-6)


def test_rejects_mlm_and_bad_chunk(tiny_bert_path):
    model = _model(tiny_bert_path)
    batch = _batch(model, 2)
    with pytest.raises(ValueError, match="chunk_size"):
        grad_cache_step(model, batch, 0)
    with pytest.raises(ValueError, match="mlm_input_ids"):
        grad_cache_step(model, dict(batch, mlm_input_ids=batch["input_ids"]), 4)


def test_trainer_run_with_grad_cache_and_matryoshka(tmp_path, tiny_bert_path):
    from simcse import SimCSE
    from simcse.cli.train import main

    train = tmp_path / "train.csv"
    rows = ["sent0,sent1,hard_neg"] + [
        f"{SENTS[i]},{SENTS[(i + 1) % 10]} too,{SENTS[(i + 5) % 10]} never" for i in range(10)
    ] * 3
    train.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    argv = [
        "--model_name_or_path", str(tiny_bert_path), "--train_file", str(train), "--output_dir", str(out),
        "--per_device_train_batch_size", "10", "--learning_rate", "1e-3", "--max_seq_length", "16",
        "--logging_steps", "1", "--save_strategy", "no", "--seed", "7", "--report_to", "none",
        "--tokenized_cache_dir", "", "--disable_tqdm", "True", "--num_train_epochs", "1",
        "--grad_cache_chunk_size", "4", "--matryoshka_dims", "32", "16", "--matryoshka_weights", "1", "0.5",
    ]
    assert main(argv) == 0
    state = json.loads((out / "trainer_state.json").read_text())
    losses = [e["loss"] for e in state["log_history"] if "loss" in e]
    assert len(losses) == 3 and all(l == l and l > 0 for l in losses)
    cfg = json.loads((out / "simcse_config.json").read_text())
    assert cfg["extra"]["matryoshka_dims"] == [32, 16]
    emb = SimCSE(str(out), device="cpu").encode(SENTS[:3], truncate_dim=16)
    assert tuple(emb.shape) == (3, 16)


def test_trainer_training_step_uses_the_cache(tiny_bert_path, tmp_path):
    """SimCSETrainer.training_step with grad_cache_chunk_size gives the full-batch gradient (dropout on)."""
    from transformers import TrainingArguments

    from simcse.training.trainer import SimCSETrainer

    model = _model(tiny_bert_path)
    batch = _batch(model, 2, n=6)
    args = TrainingArguments(
        output_dir=str(tmp_path / "o"), per_device_train_batch_size=6, report_to="none", use_cpu=True,
        gradient_accumulation_steps=2,
    )
    trainer = SimCSETrainer(model=model, args=args, grad_cache_chunk_size=5)
    trainer.create_optimizer_and_scheduler(num_training_steps=1)
    trainer.current_gradient_accumulation_steps = 2
    model.zero_grad(set_to_none=True)
    torch.manual_seed(9)
    loss = trainer.training_step(trainer.model, dict(batch))
    got = _grads(model)
    ref_loss, ref = _reference(model, batch, 5, seed=9)
    torch.testing.assert_close(loss, ref_loss / 2)
    _assert_same({k: g / 2 for k, g in ref.items()}, got, atol=1e-6)


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--grad_cache_chunk_size", "0"], "--grad_cache_chunk_size must be a positive integer, got 0"),
        (["--grad_cache_chunk_size", "4", "--do_mlm"], "does not support --do_mlm"),
        (["--matryoshka_dims", "32", "64"], "64 is larger than the embedding size 32"),
        (["--matryoshka_dims", "32", "16", "--matryoshka_weights", "1"], "1 weights"),
        (["--matryoshka_dims", "32", "16", "--pooler_type", "cls", "--mlp_only_train"],
         "with --mlp_only_train the saved model embeds with the vector before the MLP"),
    ],
)
def test_bad_flags_are_named(tmp_path, tiny_bert_path, capsys, extra, message):
    from simcse.cli.train import main

    train = tmp_path / "t.txt"
    train.write_text("\n".join(SENTS) + "\n")
    argv = [
        "--model_name_or_path", str(tiny_bert_path), "--train_file", str(train), "--output_dir", str(tmp_path / "o"),
        "--report_to", "none", "--tokenized_cache_dir", "", *extra,
    ]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_benchmark_script_runs_tiny_on_cpu(tmp_path):
    from bench import grad_cache as bench

    assert bench.main(["--tiny", "--device", "cpu", "--batch_sizes", "4", "6", "--chunk_size", "5", "3", "--steps", "1",
                       "--warmup", "0", "--max_len", "12", "--out_dir", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "grad_cache_cpu_tiny.json").read_text())
    rows = result["rows"]
    assert [(r["batch_size"], r["chunk_size"]) for r in rows] == [(4, None), (4, 5), (4, 3), (6, None), (6, 5), (6, 3)]
    assert all(r["status"] == "ok" and r["examples_per_second"] > 0 for r in rows)
    assert (tmp_path / "grad_cache_cpu_tiny.png").stat().st_size > 1000


def _ddp_work(rank: int, world: int, model_path: str, out_dir: str) -> None:
    import os

    import torch.distributed as dist
    from torch import nn

    # A file rendezvous: no TCP port to pick in advance (and lose to another process in between).
    dist.init_process_group("gloo", init_method=f"file://{os.path.join(out_dir, 'rendezvous')}", rank=rank,
                            world_size=world)
    try:
        torch.manual_seed(0)
        encoder, _ = load_encoder_for_training(
            model_path, pooler_type="cls", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0
        )
        model = ContrastiveModel(encoder, InfoNCELoss(temp=0.05, hard_negative_weight=0.2))  # gathers across ranks
        batch = _batch(model, 3, n=8)
        local = {k: t[rank * 4 : (rank + 1) * 4] for k, t in batch.items()}
        ddp = nn.parallel.DistributedDataParallel(model)
        loss = grad_cache_step(ddp, local, 5)  # 12 local rows: chunks of 5, 5, 2 (two inside no_sync)
        torch.save({"loss": loss, "grads": _grads(model)}, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def _ddp_worker(*args) -> None:
    from spawn_helpers import exit_after

    exit_after(_ddp_work, *args)


@pytest.mark.slow
def test_ddp_cached_gradients_equal_single_process_full_batch(tmp_path, tiny_bert_path):
    """Two gloo processes with 4 triplets each and gradient caching == one process with all 8, uncached."""
    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(2, str(tiny_bert_path), str(tmp_path)), nprocs=2, join=True)
    torch.manual_seed(0)
    encoder, _ = load_encoder_for_training(
        str(tiny_bert_path), pooler_type="cls", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0
    )
    model = ContrastiveModel(encoder, InfoNCELoss(temp=0.05, hard_negative_weight=0.2))
    model.train()
    loss = model(**_batch(model, 3, n=8))["loss"]
    loss.backward()
    ref = _grads(model)
    for rank in range(2):
        got = torch.load(tmp_path / f"rank{rank}.pt")
        torch.testing.assert_close(got["loss"], loss.detach(), atol=1e-5, rtol=1e-5)
        _assert_same(ref, got["grads"])
