"""Fault injection in training: a half-written checkpoint, a NaN/inf loss, a full disk while saving."""
from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from simcse.cli.train import main
from simcse.training.checkpoints import checkpoint_problem
from simcse.training.trainer import SimCSETrainer


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory) -> Path:
    f = tmp_path_factory.mktemp("data") / "pairs.csv"
    rows = ["sent0,sent1"] + [f"the item {i} waits here .,a thing {i} is here ." for i in range(32)]
    f.write_text("\n".join(rows) + "\n")
    return f


def run_train(tmp_path: Path, model: Path, data: Path, out: str, extra: list[str]) -> tuple[int, Path]:
    out_dir = tmp_path / out
    args = [
        "--model_name_or_path", str(model), "--train_file", str(data), "--output_dir", str(out_dir),
        "--per_device_train_batch_size", "8", "--learning_rate", "1e-3", "--max_seq_length", "16",
        "--logging_steps", "50", "--seed", "7", "--report_to", "none", "--pooler_type", "cls",
        "--tokenized_cache_dir", str(tmp_path / "cache"), "--disable_tqdm", "True", *extra,
    ]
    return main(args), out_dir


def ckpt(n: int) -> list[str]:
    return ["--max_steps", str(n), "--save_strategy", "steps", "--save_steps", "2"]


def nan_from_step(monkeypatch, step: int) -> None:
    """The loss becomes NaN from the ``step``-th forward pass on."""
    import simcse.training.loss as L

    real, calls = L.info_nce_loss, [0]

    def loss(*a, **k):
        calls[0] += 1
        out = real(*a, **k)
        return out * float("nan") if calls[0] >= step else out

    monkeypatch.setattr(L, "info_nce_loss", loss)


def all_finite(folder: Path) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in load_file(str(folder / "model.safetensors")).values())


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_resume_skips_a_half_written_checkpoint_and_names_its_file(tmp_path, tiny_bert_path, pairs_file, caplog,
                                                                    capsys, damage):
    rc, out = run_train(tmp_path, tiny_bert_path, pairs_file, "o", ckpt(4))
    assert rc == 0 and (out / "checkpoint-2").is_dir() and (out / "checkpoint-4").is_dir()
    optimizer = out / "checkpoint-4" / "optimizer.pt"
    if damage == "missing":
        optimizer.unlink()
    else:
        optimizer.write_bytes(optimizer.read_bytes()[: optimizer.stat().st_size // 2])
    assert str(optimizer) in checkpoint_problem(out / "checkpoint-4")
    # an explicit broken checkpoint: the error names the file
    rc, _ = run_train(tmp_path, tiny_bert_path, pairs_file, "o", [*ckpt(6), "--resume_from_checkpoint",
                                                                  str(out / "checkpoint-4")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "cannot be resumed from" in err and str(optimizer) in err
    # True: the newest complete one, saying which was skipped and why
    rc, _ = run_train(tmp_path, tiny_bert_path, pairs_file, "o", [*ckpt(6), "--resume_from_checkpoint", "True"])
    assert rc == 0
    assert f"skipping an incomplete checkpoint: {optimizer}" in caplog.text
    assert f"resuming from {out / 'checkpoint-2'}" in caplog.text
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 6


def test_resume_with_no_complete_checkpoint_names_the_broken_files(tmp_path, tiny_bert_path, pairs_file, capsys):
    rc, out = run_train(tmp_path, tiny_bert_path, pairs_file, "o", ckpt(2))
    assert rc == 0
    (out / "checkpoint-2" / "trainer_state.json").write_text('{"global_st')
    rc, _ = run_train(tmp_path, tiny_bert_path, pairs_file, "o", [*ckpt(4), "--resume_from_checkpoint", "True"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "no complete checkpoint-* folder" in err and "trainer_state.json is not valid JSON" in err


def test_nan_loss_between_logs_stops_at_its_step_and_saves_no_nan_checkpoint(tmp_path, tiny_bert_path, pairs_file,
                                                                               monkeypatch, capsys):
    nan_from_step(monkeypatch, 3)
    rc, out = run_train(tmp_path, tiny_bert_path, pairs_file, "o", ["--max_steps", "6", "--save_strategy", "steps",
                                                                    "--save_steps", "1"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "the training loss became NaN or inf at step 3" in err and "is not saved" in err
    saved = sorted(p.name for p in out.glob("checkpoint-*"))
    assert saved == ["checkpoint-1", "checkpoint-2"]
    assert all(all_finite(out / name) for name in saved)
    assert not (out / "model.safetensors").exists()


def test_nan_loss_skip_drops_the_steps_and_saves_finite_weights(tmp_path, tiny_bert_path, pairs_file, monkeypatch,
                                                                caplog):
    import simcse.training.loss as L

    real, calls = L.info_nce_loss, [0]

    def loss(*a, **k):  # the 2nd and 4th forward passes give NaN
        calls[0] += 1
        out = real(*a, **k)
        return out * float("nan") if calls[0] in (2, 4) else out

    monkeypatch.setattr(L, "info_nce_loss", loss)
    rc, out = run_train(tmp_path, tiny_bert_path, pairs_file, "o", ["--max_steps", "5", "--save_strategy", "no",
                                                                    "--on_nonfinite_loss", "skip"])
    assert rc == 0
    assert "step 2: the training loss is nan; skipping this step's update" in caplog.text
    assert "2 step(s) had a NaN/inf loss and were skipped: 2, 4" in caplog.text
    assert all_finite(out)


def test_bad_nonfinite_policy_is_named(tmp_path, tiny_bert_path, pairs_file, capsys):
    rc, _ = run_train(tmp_path, tiny_bert_path, pairs_file, "o", ["--max_steps", "1", "--on_nonfinite_loss", "ignore"])
    assert rc == 2
    assert "--on_nonfinite_loss must be stop or skip, got 'ignore'" in capsys.readouterr().err


@pytest.mark.slow
def test_disk_full_while_checkpointing_is_named_and_keeps_the_last_checkpoint(tmp_path, tiny_bert_path, pairs_file,
                                                                              monkeypatch, capsys):
    real = SimCSETrainer._save_optimizer_and_scheduler

    def save(self, output_dir):
        if self.state.global_step == 4:
            (Path(output_dir) / "optimizer.pt").write_bytes(b"PK\x03\x04 partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, output_dir)

    monkeypatch.setattr(SimCSETrainer, "_save_optimizer_and_scheduler", save)
    rc, out = run_train(tmp_path, tiny_bert_path, pairs_file, "o", ckpt(6))
    assert rc == 2
    err = capsys.readouterr().err
    assert f"no space left on the device while saving checkpoint {out / 'checkpoint-4'}" in err
    assert f"the last complete checkpoint, {out / 'checkpoint-2'}, is intact" in err
    assert not (out / "checkpoint-4").exists()
    assert checkpoint_problem(out / "checkpoint-2") is None
    monkeypatch.setattr(SimCSETrainer, "_save_optimizer_and_scheduler", real)
    rc, _ = run_train(tmp_path, tiny_bert_path, pairs_file, "o", [*ckpt(6), "--resume_from_checkpoint", "True"])
    assert rc == 0 and (out / "checkpoint-6").is_dir()


def test_disk_full_while_saving_the_final_model_keeps_the_old_files(tmp_path, tiny_bert_path, pairs_file,
                                                                    monkeypatch, capsys):
    rc, out = run_train(tmp_path, tiny_bert_path, pairs_file, "o", ["--max_steps", "2", "--save_strategy", "no"])
    assert rc == 0
    before = (out / "model.safetensors").read_bytes()
    import simcse.formats as F

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(F, "write_folder", full)
    rc, _ = run_train(tmp_path, tiny_bert_path, pairs_file, "o", ["--max_steps", "1", "--save_strategy", "no",
                                                                  "--overwrite_output_dir"])
    assert rc == 2
    err = capsys.readouterr().err
    assert f"no space left on the device while saving the model to {out}; the files already there are unchanged" in err
    assert (out / "model.safetensors").read_bytes() == before
    assert not list(out.parent.glob(".tmp-*"))
