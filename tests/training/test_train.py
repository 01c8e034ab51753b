"""Training end to end on a tiny random BERT (CPU): losses, save/resume, CLI, bad input, example scripts.

The slow test trains all-MiniLM-L6-v2 on SNLI triplets and checks STS-B dev does not get worse.
"""
from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from simcse import SimCSE
from simcse import TrainConfig, TrainResult, train
from simcse.cli.train import main
from simcse.training.config import load_recipe

ROOT = Path(__file__).resolve().parents[2]

ADJ = ["small", "red", "old", "happy", "quiet", "fast"]
NOUN = ["dog", "child", "woman", "car", "bird", "farmer"]
PLACE = ["in the park", "on the street", "near the river", "at the market"]


def _sentences(n: int) -> list[str]:
    combos = itertools.product(ADJ, NOUN, PLACE)
    return [f"the {a} {b} waits {p} ." for a, b, p in itertools.islice(combos, n)]


@pytest.fixture(scope="module")
def unsup_file(tmp_path_factory) -> Path:
    """64 random word sequences drawn from the bundled example corpus's vocabulary."""
    import random

    from simcse.defaults import bundled_corpus

    vocab = sorted({w.strip(".,!?;:'\"()").lower() for w in bundled_corpus().read_text().split()} - {""})
    rng = random.Random(0)
    sents = [" ".join(rng.choice(vocab) for _ in range(rng.randint(4, 10))) for _ in range(64)]
    f = tmp_path_factory.mktemp("data") / "sentences.txt"
    f.write_text("\n".join(sents) + "\n")
    return f


@pytest.fixture(scope="module")
def sup_file(tmp_path_factory) -> Path:
    f = tmp_path_factory.mktemp("data") / "triplets.csv"
    rows = ["sent0,sent1,hard_neg"]
    for a, b, p in itertools.islice(itertools.product(ADJ, NOUN, PLACE), 64):
        rows.append(f"the {a} {b} waits {p} .,a {a} {b} is {p} .,no {b} is ever {p} .")
    f.write_text("\n".join(rows) + "\n")
    return f


def _train(tmp_path: Path, model: Path, train_file: Path, out: str = "out", extra: list[str] = ()) -> tuple[int, Path]:
    out_dir = tmp_path / out
    args = [
        "--model_name_or_path", str(model), "--train_file", str(train_file), "--output_dir", str(out_dir),
        "--per_device_train_batch_size", "8", "--learning_rate", "1e-3", "--max_seq_length", "16",
        "--logging_steps", "1", "--save_strategy", "no", "--seed", "7", "--report_to", "none",
        "--tokenized_cache_dir", str(tmp_path / "cache"), "--disable_tqdm", "True",
        *extra,
    ]
    return main(args), out_dir


def parsed(argv: list[str]) -> tuple[TrainConfig, object]:
    """The config of a train.py command line and the TrainingArguments it gives."""
    config = TrainConfig.from_argv(argv)
    return config, config.trainer_arguments()


def _losses(out_dir: Path) -> dict[int, float]:
    state = json.loads((out_dir / "trainer_state.json").read_text())
    return {e["step"]: e["loss"] for e in state["log_history"] if "loss" in e}


@pytest.mark.parametrize("kind", ["unsup", "sup"])
def test_loss_decreases_and_saved_model_loads_everywhere(tmp_path, tiny_bert_path, unsup_file, sup_file, kind):
    from sentence_transformers import SentenceTransformer

    train_file = unsup_file if kind == "unsup" else sup_file
    pooler = ["--pooler_type", "cls", "--mlp_only_train"] if kind == "unsup" else ["--pooler_type", "cls"]
    rc, out = _train(tmp_path, tiny_bert_path, train_file, extra=["--num_train_epochs", "4", "--learning_rate", "1e-2", *pooler])
    assert rc == 0
    losses = list(_losses(out).values())
    assert len(losses) == 32
    assert np.mean(losses[-4:]) < 0.8 * np.mean(losses[:4]), losses
    cfg = json.loads((out / "simcse_config.json").read_text())
    assert cfg["pooler_type"] == "cls" and cfg["mlp_only_train"] == (kind == "unsup")
    sents = _sentences(5)
    ours = SimCSE(str(out), device="cpu").encode(sents, return_numpy=True, normalize_to_unit=False)
    st = SentenceTransformer(str(out), device="cpu").encode(sents, convert_to_numpy=True)
    np.testing.assert_allclose(ours, st, atol=1e-5)
    assert not list(out.glob(".tmp-*"))


@pytest.mark.slow
def test_overwrite_output_dir_replaces_the_previous_runs_checkpoints(tmp_path, tiny_bert_path, sup_file):
    # Kept, a previous run's checkpoint-4 outlived this run's own under --save_total_limit (rotation keeps
    # the highest steps), and --resume_from_checkpoint True would have resumed the old run.
    steps = lambda n: ["--max_steps", str(n), "--save_strategy", "steps", "--save_steps", "1", "--pooler_type", "cls"]
    rc, out = _train(tmp_path, tiny_bert_path, sup_file, "o", steps(4))
    assert rc == 0 and {p.name for p in out.glob("checkpoint-*")} == {f"checkpoint-{i}" for i in (1, 2, 3, 4)}
    (out / "my_notes.txt").write_text("keep me")
    rc, out = _train(tmp_path, tiny_bert_path, sup_file, "o",
                     [*steps(2), "--overwrite_output_dir", "--save_total_limit", "1"])
    assert rc == 0
    assert [p.name for p in out.glob("checkpoint-*")] == ["checkpoint-2"]
    assert json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())["max_steps"] == 2
    assert (out / "my_notes.txt").read_text() == "keep me"  # only checkpoint folders are removed
    # resuming keeps what is there
    rc, _ = _train(tmp_path, tiny_bert_path, sup_file, "o", [*steps(3), "--resume_from_checkpoint", "True"])
    assert rc == 0 and (out / "checkpoint-2").is_dir() and (out / "checkpoint-3").is_dir()


@pytest.mark.slow
def test_resume_continues_with_the_same_losses(tmp_path, tiny_bert_path, sup_file):
    common = ["--max_steps", "6", "--save_strategy", "steps", "--save_steps", "3", "--pooler_type", "cls"]
    rc, run_a = _train(tmp_path, tiny_bert_path, sup_file, "a", common)
    assert rc == 0
    full = _losses(run_a)
    assert sorted(full) == [1, 2, 3, 4, 5, 6]
    # The checkpoint is itself a model folder.
    ckpt = run_a / "checkpoint-3"
    assert SimCSE(str(ckpt), device="cpu").encode(["a test"], return_numpy=True).shape == (1, 32)
    run_b = tmp_path / "b"
    run_b.mkdir()
    shutil.copytree(ckpt, run_b / "checkpoint-3")
    rc, _ = _train(tmp_path, tiny_bert_path, sup_file, "b", [*common, "--resume_from_checkpoint", str(run_b / "checkpoint-3")])
    assert rc == 0
    resumed = _losses(run_b)  # steps 1-3 come from the checkpoint's state, 4-6 were trained by run b
    assert sorted(resumed) == [1, 2, 3, 4, 5, 6]
    for step in (4, 5, 6):
        assert resumed[step] == pytest.approx(full[step], rel=1e-5), (step, resumed, full)
    # and the final weights agree
    a = SimCSE(str(run_a), device="cpu").encode(["one more sentence"], return_numpy=True)
    b = SimCSE(str(run_b), device="cpu").encode(["one more sentence"], return_numpy=True)
    np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.slow
def test_eval_keeps_best_checkpoint(tmp_path, tiny_bert_path, sup_file, data_dir):
    rc, out = _train(tmp_path, tiny_bert_path, sup_file, extra=[
        "--max_steps", "4", "--evaluation_strategy", "steps", "--eval_steps", "2",
        "--metric_for_best_model", "stsb_spearman", "--load_best_model_at_end", "--do_train", "--do_eval",
        "--data_dir", str(data_dir), "--save_strategy", "steps", "--save_steps", "2",
    ])
    assert rc == 0
    state = json.loads((out / "trainer_state.json").read_text())
    evals = [e["eval_stsb_spearman"] for e in state["log_history"] if "eval_stsb_spearman" in e]
    assert len(evals) >= 2 and all(-1 <= s <= 1 for s in evals)
    assert state["best_model_checkpoint"].endswith(("checkpoint-2", "checkpoint-4"))
    assert state["best_metric"] == pytest.approx(max(evals[:2]))
    final = json.loads((out / "eval_results.json").read_text())["eval_stsb_spearman"]
    assert final == pytest.approx(state["best_metric"], abs=1e-4)


@pytest.mark.slow
def test_load_best_model_without_a_metric_selects_on_stsb_and_reports_sickr(tmp_path, tiny_bert_path, sup_file, data_dir):
    # The Trainer's own default, eval_loss, is not reported: the run used to fail at its first evaluation.
    rc, out = _train(tmp_path, tiny_bert_path, sup_file, extra=[
        "--max_steps", "2", "--eval_strategy", "steps", "--eval_steps", "1", "--load_best_model_at_end",
        "--save_strategy", "steps", "--data_dir", str(data_dir),
    ])
    assert rc == 0
    state = json.loads((out / "trainer_state.json").read_text())
    evals = [e for e in state["log_history"] if "eval_stsb_spearman" in e]
    assert len(evals) >= 2
    assert state["best_metric"] == pytest.approx(max(e["eval_stsb_spearman"] for e in evals[:2]))
    for e in evals:  # as SimCSE's trainer: SICK-R dev and the mean of the two
        assert -1 <= e["eval_sickr_spearman"] <= 1
        assert e["eval_avg_sts"] == pytest.approx((e["eval_stsb_spearman"] + e["eval_sickr_spearman"]) / 2)


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--metric_for_best_model", "stsb_spearmann"], "--metric_for_best_model 'stsb_spearmann' is not reported"),
        (["--metric_for_best_model", "loss"], "choose one of stsb_spearman, sickr_spearman, avg_sts"),
        (["--metric_for_best_model", "avg_transfer"], "add --eval_transfer"),
    ],
)
def test_unknown_best_model_metric_is_refused_before_training(tmp_path, tiny_bert_path, unsup_file, capsys, extra, message):
    rc, out = _train(tmp_path, tiny_bert_path, unsup_file, extra=[
        "--eval_strategy", "steps", "--eval_steps", "1", "--load_best_model_at_end", "--save_strategy", "steps", *extra,
    ])
    assert rc == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_sickr_metric_needs_the_sick_data(tmp_path, tiny_bert_path, unsup_file, data_dir, capsys):
    only_sts = tmp_path / "only_sts"
    only_sts.mkdir()
    from simcse.evaluation.datadir import resolve_data_dir

    (only_sts / "STS").symlink_to(resolve_data_dir(data_dir) / "STS")
    rc, out = _train(tmp_path, tiny_bert_path, unsup_file, extra=[
        "--eval_strategy", "steps", "--eval_steps", "1", "--load_best_model_at_end", "--save_strategy", "steps",
        "--metric_for_best_model",
        "avg_sts", "--data_dir", str(only_sts),
    ])
    assert rc == 2
    assert "--metric_for_best_model avg_sts: SICK: data file" in capsys.readouterr().err


def test_mlm_auxiliary_loss_trains_and_saves_a_normal_folder(tmp_path, tiny_bert_path, unsup_file):
    rc, out = _train(tmp_path, tiny_bert_path, unsup_file, extra=[
        "--max_steps", "3", "--do_mlm", "--mlm_weight", "0.5", "--save_strategy", "steps", "--save_steps", "3",
        "--pooler_type", "avg",
    ])
    assert rc == 0
    assert (out / "checkpoint-3" / "simcse_training_heads.pt").is_file()
    assert not (out / "simcse_training_heads.pt").exists() or (out / "simcse_training_heads.pt").is_file()
    from transformers import AutoModel

    assert type(AutoModel.from_pretrained(str(out))).__name__ == "BertModel"
    assert SimCSE(str(out), device="cpu").encode(["hi there"], return_numpy=True).shape == (1, 32)


def test_nan_loss_stops_the_run(tmp_path, tiny_bert_path, unsup_file, monkeypatch, capsys):
    import simcse.training.loss as L

    monkeypatch.setattr(L, "info_nce_loss", lambda z1, *a, **k: z1.sum() * float("nan"))
    rc, _ = _train(tmp_path, tiny_bert_path, unsup_file, extra=["--max_steps", "3", "--logging_steps", "2"])
    assert rc == 2
    assert "the training loss became NaN or inf at step 1" in capsys.readouterr().err


def test_nan_loss_after_the_last_logged_step_stops_the_run_unsaved(tmp_path, tiny_bert_path, unsup_file, monkeypatch,
                                                                   capsys):
    """No loss is logged in a run shorter than --logging_steps: the run's mean loss, logged at the end,
    is checked too, and the NaN model is not saved."""
    import simcse.training.loss as L

    monkeypatch.setattr(L, "info_nce_loss", lambda z1, *a, **k: z1.sum() * float("nan"))
    rc, out = _train(tmp_path, tiny_bert_path, unsup_file, extra=["--max_steps", "3", "--logging_steps", "500"])
    assert rc == 2
    assert "the training loss became NaN or inf at step 1 (--on_nonfinite_loss stop)" in (
        capsys.readouterr().err)
    assert not (out / "model.safetensors").exists()


def test_a_folder_as_train_file_is_named(tmp_path, tiny_bert_path, capsys):
    assert _train(tmp_path, tiny_bert_path, tmp_path)[0] == 2
    assert f"--train_file '{tmp_path}' is a folder; give the data file in it" in capsys.readouterr().err


def test_a_single_example_is_refused(tmp_path, tiny_bert_path, capsys):
    one = tmp_path / "one.txt"
    one.write_text("the only sentence there is .\n")
    assert _train(tmp_path, tiny_bert_path, one)[0] == 2
    assert f"--train_file '{one}' holds 1 example; contrastive training needs at least 2" in capsys.readouterr().err


def test_a_model_folder_without_tokenizer_files_is_refused(tmp_path, tiny_bert_path, unsup_file, capsys):
    """transformers builds a tokenizer of special tokens only from such a folder: every word would be
    [UNK] and the trained model would call every sentence the same."""
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_bert_path / name, bare / name)
    assert _train(tmp_path, bare, unsup_file)[0] == 2
    assert f"the tokenizer loaded from '{bare}' has no vocabulary, only its special tokens" in capsys.readouterr().err
    assert _train(tmp_path, tiny_bert_path, unsup_file, extra=["--tokenizer_name", str(bare)])[0] == 2
    assert "has no vocabulary" in capsys.readouterr().err
    with pytest.raises(ValueError, match="has no vocabulary"):
        SimCSE(str(bare), device="cpu")


def test_a_model_folder_without_weights_is_an_error_not_a_traceback(tmp_path, tiny_bert_path, unsup_file, capsys):
    no_weights = tmp_path / "no_weights"
    shutil.copytree(tiny_bert_path, no_weights, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    assert _train(tmp_path, no_weights, unsup_file)[0] == 2
    assert "simcse train: error:" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--train_file", "/nonexistent/train.txt"], "--train_file '/nonexistent/train.txt' does not exist"),
        (["--per_device_train_batch_size", "1"], "needs at least 2 examples per batch"),
        (["--temp", "0"], "--temp must be a finite number > 0, got 0.0"),
        (["--temp", "inf"], "--temp must be a finite number > 0, got inf"),
        (["--hard_negative_weight", "nan"], "--hard_negative_weight must be a finite number, got nan"),
        (["--pooler_type", "mean"], "--pooler_type 'mean' is unknown"),
        (["--recipe", "unsup-gpt-9"], "--recipe 'unsup-gpt-9': no such recipe"),
        (["--train_file_header", "maybe"], "--train_file_header must be auto, yes or no"),
        (["--max_seq_length", "512"], "--max_seq_length 512 is more than"),
        (["--pad_to_multiple_of", "-8"], "--pad_to_multiple_of must be a positive integer, got -8"),
        (["--pad_to_multiple_of", "0"], "--pad_to_multiple_of must be a positive integer, got 0"),
    ],
)
def test_bad_arguments_are_named(tmp_path, tiny_bert_path, unsup_file, capsys, extra, message):
    rc, _ = _train(tmp_path, tiny_bert_path, unsup_file, extra=extra)
    assert rc == 2
    assert message in capsys.readouterr().err


def test_bad_train_files_are_named(tmp_path, tiny_bert_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert _train(tmp_path, tiny_bert_path, empty)[0] == 2
    assert "holds no examples" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("sent0,sent1\na,b\nc,d,e\n")
    assert _train(tmp_path, tiny_bert_path, bad)[0] == 2
    assert f"{bad}:3: 3 columns, but the first example has 2" in capsys.readouterr().err


def test_non_empty_output_dir_needs_overwrite(tmp_path, tiny_bert_path, unsup_file, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "something").write_text("x")
    assert _train(tmp_path, tiny_bert_path, unsup_file)[0] == 2
    assert "exists and is not empty" in capsys.readouterr().err


def test_output_dir_that_is_a_file(tmp_path, tiny_bert_path, unsup_file, capsys):
    (tmp_path / "out").write_text("my notes")
    assert _train(tmp_path, tiny_bert_path, unsup_file)[0] == 2
    assert f"--output_dir '{tmp_path / 'out'}' is a file, not a folder" in capsys.readouterr().err
    assert (tmp_path / "out").read_text() == "my notes"


def test_recipes_and_explicit_flags(tmp_path, monkeypatch):
    c, t = parsed(["--recipe", "sup-bert-base", "--output_dir", str(tmp_path), "--learning_rate", "1e-4"])
    assert c.model_name_or_path == "bert-base-uncased" and c.pooler_type == "cls" and not c.mlp_only_train
    assert t.learning_rate == 1e-4 and t.per_device_train_batch_size == 512 and t.num_train_epochs == 3
    assert c.max_seq_length == 32 and c.temp == 0.05
    assert t.eval_strategy == "steps" and t.eval_steps == 125 and t.load_best_model_at_end
    assert t.save_strategy == "steps" and t.save_steps == 125 and t.metric_for_best_model == "stsb_spearman"
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert load_recipe("sup-bert-base")["per_device_train_batch_size"] == 128
    expected = {
        "unsup-bert-base": (64, 3e-5, 1, True), "unsup-bert-large": (64, 1e-5, 1, True),
        "unsup-roberta-base": (512, 1e-5, 1, True), "unsup-roberta-large": (512, 3e-5, 1, True),
        "sup-bert-base": (512, 5e-5, 3, False), "sup-bert-large": (512, 1e-5, 3, False),
        "sup-roberta-base": (512, 5e-5, 3, False), "sup-roberta-large": (512, 1e-5, 3, False),
    }
    monkeypatch.setenv("WORLD_SIZE", "1")
    for name, (bs, lr, epochs, mlp_only) in expected.items():
        r = load_recipe(name)
        assert (r["per_device_train_batch_size"], r["learning_rate"], r["num_train_epochs"], r["mlp_only_train"]) == (
            bs, lr, epochs, mlp_only), name


def test_json_config_as_only_argument(tmp_path):
    cfg = tmp_path / "run.json"
    cfg.write_text(json.dumps({
        "model_name_or_path": "some/model", "train_file": "x.csv", "output_dir": str(tmp_path / "o"),
        "evaluation_strategy": "steps", "eval_steps": 10, "load_best_model_at_end": True,
        "metric_for_best_model": "stsb_spearman", "mlp_only_train": True, "temp": 0.1, "fp16": False,
    }))
    c, t = parsed([str(cfg)])
    assert c.model_name_or_path == "some/model" and c.mlp_only_train and c.temp == 0.1
    assert t.eval_strategy == "steps" and t.save_steps == 10 and t.do_train


def test_json_config_with_object_values_and_dash_strings(tmp_path):
    # Trainer flags whose value is a JSON object, and a string that starts with "-".
    cfg = tmp_path / "run.json"
    cfg.write_text(json.dumps({
        "output_dir": str(tmp_path / "o"), "lr_scheduler_type": "cosine_with_restarts",
        "lr_scheduler_kwargs": {"num_cycles": 2}, "run_name": "-baseline-", "hard_negative_weight": -1.0,
        "do_mlm": False,
    }))
    c, t = parsed([str(cfg)])
    assert t.lr_scheduler_kwargs == {"num_cycles": 2}
    assert t.run_name == "-baseline-" and c.hard_negative_weight == -1.0 and not c.do_mlm


def test_recipe_batch_that_does_not_split_over_the_processes(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "3")  # torchrun --nproc_per_node 3: 64 does not split
    with pytest.raises(ValueError, match="does not split over 3 processes; pass --per_device_train_batch_size"):
        parsed(["--recipe", "unsup-bert-base", "--output_dir", str(tmp_path)])
    # ... and doing what the message says works
    c, t = parsed(["--recipe", "unsup-bert-base", "--output_dir", str(tmp_path), "--per_device_train_batch_size", "21"])
    assert t.per_device_train_batch_size == 21 and t.learning_rate == 3e-5
    c, t = parsed(["--recipe", "unsup-bert-base", "--output_dir", str(tmp_path), "--per_device_train_batch_size=22"])
    assert t.per_device_train_batch_size == 22


@pytest.mark.parametrize("flag", ["eval_strategy", "save_strategy"])
def test_recipe_load_best_model_yields_to_explicit_no(tmp_path, flag):
    # The recipe asks for the best checkpoint by STS-B dev; a run without evaluation (no STS-B data)
    # or without checkpoints must not fail on a --load_best_model_at_end the user never passed.
    c, t = parsed(["--recipe", "unsup-bert-base", "--output_dir", str(tmp_path), f"--{flag}", "no"])
    assert str(getattr(t, flag)) in ("no", "IntervalStrategy.NO", "SaveStrategy.NO")
    assert not t.load_best_model_at_end and t.per_device_train_batch_size == 64 and c.mlp_only_train
    # an explicit --load_best_model_at_end with evaluation off is still the user's error
    with pytest.raises(ValueError, match="load_best_model_at_end"):
        parsed(["--recipe", "unsup-bert-base", "--output_dir", str(tmp_path), "--eval_strategy", "no",
                    "--load_best_model_at_end", "True"])


def test_several_gpus_in_one_process_never_use_data_parallel(tiny_bert_path, tmp_path):
    from transformers import TrainingArguments

    from simcse.training.loss import InfoNCELoss
    from simcse.training.trainer import ContrastiveModel, SimCSETrainer, load_encoder_for_training

    args = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True)
    args._n_gpu = 4  # as if 4 GPUs were visible to this process
    enc, _ = load_encoder_for_training(str(tiny_bert_path), pooler_type="avg")
    trainer = SimCSETrainer(ContrastiveModel(enc, InfoNCELoss()), args)
    assert trainer.args.n_gpu == 1
    assert not isinstance(trainer._wrap_model(trainer.model), torch.nn.DataParallel)


# ---------------------------------------------------------------- the programmatic API: train(TrainConfig)
def test_train_with_a_config_gives_the_weights_of_the_same_command_line(tmp_path, tiny_bert_path, sup_file):
    from safetensors.torch import load_file

    rc, cli_out = _train(tmp_path, tiny_bert_path, sup_file, "cli", ["--max_steps", "3", "--pooler_type", "cls"])
    assert rc == 0
    config = TrainConfig(
        model_name_or_path=str(tiny_bert_path), train_file=str(sup_file), output_dir=str(tmp_path / "api"),
        pooler_type="cls", max_seq_length=16, tokenized_cache_dir=str(tmp_path / "cache"),
        training_args={"per_device_train_batch_size": 8, "learning_rate": 1e-3, "max_steps": 3, "logging_steps": 1,
                       "save_strategy": "no", "seed": 7, "report_to": "none", "disable_tqdm": True},
    )
    result = train(config)
    assert isinstance(result, TrainResult)
    assert result.output_dir == str(tmp_path / "api") and result.global_step == 3
    assert result.best_metric is None and result.best_model_checkpoint is None
    assert result.metrics["train_loss"] > 0 and [e["step"] for e in result.log_history if "loss" in e] == [1, 2, 3]
    assert {e["step"]: e["loss"] for e in result.log_history if "loss" in e} == _losses(cli_out)
    cli_weights, api_weights = load_file(cli_out / "model.safetensors"), load_file(tmp_path / "api" / "model.safetensors")
    assert cli_weights.keys() == api_weights.keys()
    for name, tensor in cli_weights.items():
        assert torch.equal(tensor, api_weights[name]), name
    # the command line gives this very config (output folder aside)
    flags = ["--model_name_or_path", str(tiny_bert_path), "--train_file", str(sup_file), "--output_dir",
             str(tmp_path / "api"), "--per_device_train_batch_size", "8", "--learning_rate", "1e-3", "--max_seq_length",
             "16", "--logging_steps", "1", "--save_strategy", "no", "--seed", "7", "--report_to", "none",
             "--tokenized_cache_dir", str(tmp_path / "cache"), "--disable_tqdm", "True", "--max_steps", "3",
             "--pooler_type", "cls"]
    assert TrainConfig.from_argv(flags) == config


@pytest.mark.slow
def test_train_with_checkpoint_selection_reports_the_best_checkpoint(tmp_path, tiny_bert_path, sup_file, data_dir):
    result = train(TrainConfig(
        model_name_or_path=str(tiny_bert_path), train_file=str(sup_file), output_dir=str(tmp_path / "o"),
        pooler_type="cls", max_seq_length=16, data_dir=str(data_dir), tokenized_cache_dir="",
        training_args={"per_device_train_batch_size": 8, "max_steps": 2, "eval_strategy": "steps", "eval_steps": 1,
                       "load_best_model_at_end": True, "report_to": "none", "disable_tqdm": True},
    ))
    evals = [e["eval_stsb_spearman"] for e in result.log_history if "eval_stsb_spearman" in e][:2]  # steps 1, 2
    assert result.global_step == 2 and result.best_metric == pytest.approx(max(evals))
    # checkpoints followed the evaluations (no save_strategy given), and the best one was selected on STS-B dev
    best_step = 1 + evals.index(max(evals))
    assert result.best_model_checkpoint == str(tmp_path / "o" / f"checkpoint-{best_step}")
    assert result.metrics["train_loss"] > 0


@pytest.mark.parametrize("fields,message", [
    ({"temp": 0.0}, "--temp must be a finite number > 0, got 0.0"),
    ({"temp": "0.1"}, "--temp: expected float, got '0.1' (str)"),
    ({"matryoshka_dims": [16, "8"]}, "--matryoshka_dims: expected list[int] | None, got [16, '8'] (list)"),
    ({"pooler_type": "mean"}, "--pooler_type 'mean' is unknown"),
    ({"train_file_header": "maybe"}, "--train_file_header must be auto, yes or no, got 'maybe'"),
    ({"training_args": {"per_device_train_batch_size": 1}}, "contrastive training needs at least 2 examples per batch"),
    ({"training_args": {"learning_rat": 1e-4}}, "training_args['learning_rat']: TrainingArguments has no setting"),
    ({"training_args": {"temp": 0.1}}, "training_args['temp']: temp is a TrainConfig field, give it as TrainConfig(temp=...)"),
    ({"training_args": {"output_dir": "x"}}, "training_args['output_dir']: give it as TrainConfig(output_dir=...)"),
    ({"output_dir": None}, "--output_dir is required"),
])
def test_a_bad_config_field_is_named_before_the_model_loads(tmp_path, unsup_file, monkeypatch, fields, message):
    import simcse.training.run as run

    monkeypatch.setattr(run, "load_encoder_for_training", lambda *a, **k: pytest.fail("the model was loaded"))
    config = TrainConfig(train_file=str(unsup_file), output_dir=str(tmp_path / "o"))
    for key, value in fields.items():
        setattr(config, key, value)
    with pytest.raises(ValueError) as exc:
        train(config)
    assert message in str(exc.value)
    assert not (tmp_path / "o").exists()


def test_from_flags_names_an_unknown_flag_and_applies_a_recipe(tmp_path):
    with pytest.raises(ValueError, match="no train.py flag named learning_rat, tmep"):
        TrainConfig.from_flags({"output_dir": str(tmp_path), "tmep": 0.1, "learning_rat": 1e-4})
    config = TrainConfig.from_flags({"recipe": "unsup-bert-base", "output_dir": str(tmp_path), "temp": 0.1,
                                     "evaluation_strategy": "no"})
    assert config.pooler_type == "cls" and config.mlp_only_train and config.temp == 0.1
    assert config.training_args["eval_strategy"] == "no" and config.training_args["load_best_model_at_end"] is False
    assert config == TrainConfig.from_argv(["--recipe", "unsup-bert-base", "--output_dir", str(tmp_path), "--temp", "0.1",
                                            "--evaluation_strategy", "no"])


@pytest.mark.parametrize("argv", [
    ["--recipe", "sup-bert-base", "--learning_rate", "1e-4", "--train_file", "nli.csv"],
    ["--model_name_or_path", "m", "--pooler_type", "avg", "--temp", "0.1", "--no_use_fast_tokenizer", "--do_mlm",
     "--matryoshka_dims", "8", "4", "--lora_target_modules", "q_proj", "v_proj", "--use_cpu", "--report_to", "none",
     "--evaluation_strategy", "steps", "--eval_steps", "5", "--load_best_model_at_end", "--do_eval",
     "--lr_scheduler_kwargs", '{"num_cycles": 2}', "--run_name=-baseline-", "--resume_from_checkpoint", "false"],
])
def test_train_config_round_trips_through_train_py_argv(tmp_path, argv):
    config = TrainConfig.from_argv([*argv, "--output_dir", str(tmp_path / "o")])
    again = TrainConfig.from_argv(config.to_argv())
    assert again == config and TrainConfig.from_flags(config.to_flags()) == config
    assert again.trainer_arguments().to_dict() == config.trainer_arguments().to_dict()
    cfg = tmp_path / "run.json"  # to_flags is a JSON config of train.py
    cfg.write_text(json.dumps(config.to_flags()))
    assert TrainConfig.from_argv([str(cfg)]) == config


def _run_script(script: str, env_extra: dict[str, str], flags: list[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHON=sys.executable, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1",
               OMP_NUM_THREADS="1", **env_extra)
    return subprocess.run(["bash", str(ROOT / "examples" / script), *flags], env=env, capture_output=True,
                          text=True, timeout=600)


SHORT = ["--fp16", "False", "--max_steps", "4", "--eval_steps", "2", "--per_device_train_batch_size", "8",
         "--logging_steps", "2", "--use_cpu", "True", "--report_to", "none", "--disable_tqdm", "True"]


@pytest.mark.slow
def test_run_unsup_example_script(tmp_path, tiny_bert_path, unsup_file, data_dir):
    out = tmp_path / "unsup"
    p = _run_script("run_unsup_example.sh", {"MODEL": str(tiny_bert_path), "TRAIN_FILE": str(unsup_file),
                    "OUTPUT_DIR": str(out), "SIMCSE_DATA_DIR": str(data_dir), "SIMCSE_CACHE": str(tmp_path)}, SHORT)
    assert p.returncode == 0, p.stderr[-3000:]
    assert json.loads((out / "simcse_config.json").read_text())["mlp_only_train"] is True
    assert "eval_stsb_spearman" in json.loads((out / "eval_results.json").read_text())


@pytest.mark.slow
def test_run_sup_example_script_with_torchrun_two_processes(tmp_path, tiny_bert_path, sup_file, data_dir):
    out = tmp_path / "sup"
    p = _run_script("run_sup_example.sh", {"NUM_GPU": "2", "MODEL": str(tiny_bert_path), "TRAIN_FILE": str(sup_file),
                    "OUTPUT_DIR": str(out), "SIMCSE_DATA_DIR": str(data_dir), "SIMCSE_CACHE": str(tmp_path)}, SHORT)
    assert p.returncode == 0, p.stderr[-3000:]
    state = json.loads((out / "trainer_state.json").read_text())
    # 64 triplets, 2 processes x 8 = 16 per step: 4 steps are one epoch.
    assert state["global_step"] == 4 and state["epoch"] == pytest.approx(1.0)
    assert (out / "2_Dense").is_dir() and json.loads((out / "simcse_config.json").read_text())["mlp_only_train"] is False


@pytest.mark.slow
def test_supervised_simcse_on_snli_keeps_minilm_stsb(tmp_path, minilm_path, data_dir):
    """all-MiniLM-L6-v2 + a short supervised SimCSE run on SNLI triplets: STS-B dev does not drop."""
    from simcse.training.data import build_nli_triplets, read_training_file, write_triplets_csv
    from simcse.training.trainer import StsbDev

    full = tmp_path / "nli.csv"
    build_nli_triplets([data_dir / "nli" / "snli-senteval"], full, splits=["dev"])
    cols = read_training_file(full)
    small = tmp_path / "nli300.csv"
    write_triplets_csv(list(zip(*(c[:320] for c in cols))), small)
    dev = StsbDev.load(data_dir)
    from simcse.encoder import SentenceEncoder

    before = dev.spearman(SentenceEncoder.from_pretrained(str(minilm_path)))
    rc = main([
        "--model_name_or_path", str(minilm_path), "--train_file", str(small), "--output_dir", str(tmp_path / "out"),
        "--pooler_type", "avg", "--per_device_train_batch_size", "32", "--learning_rate", "1e-5",
        "--max_seq_length", "32", "--num_train_epochs", "1", "--temp", "0.05", "--do_train", "--do_eval",
        "--data_dir", str(data_dir), "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "True",
        "--tokenized_cache_dir", str(tmp_path / "cache"),
    ])
    assert rc == 0
    after = json.loads((tmp_path / "out" / "eval_results.json").read_text())["eval_stsb_spearman"]
    print(f"STS-B dev Spearman: all-MiniLM-L6-v2 {before:.4f} -> after SimCSE on 320 SNLI triplets {after:.4f}")
    assert after >= before - 0.005


def test_default_pooler_and_fresh_mlp(tiny_bert_path, minilm_path, tmp_path):
    from simcse.training.trainer import load_encoder_for_training

    enc, _ = load_encoder_for_training(str(tiny_bert_path))
    assert enc.pooler_type == "cls" and enc.mlp is not None
    # A fresh head as SimCSE's cl_init -> init_weights makes it, not BERT's pre-trained pooler.
    assert enc.mlp.dense.bias.abs().max() == 0 and 0.01 < float(enc.mlp.dense.weight.detach().std()) < 0.03
    assert not torch.equal(enc.mlp.dense.weight, enc.backbone.pooler.dense.weight)
    assert not any(p.requires_grad for p in enc.backbone.pooler.parameters())
    pooled, _ = load_encoder_for_training(str(tiny_bert_path), mlp_init="pooler")
    assert torch.equal(pooled.mlp.dense.weight, pooled.backbone.pooler.dense.weight)
    # A sentence-transformers folder keeps its own pooler (all-MiniLM-L6-v2: mean pooling).
    assert load_encoder_for_training(str(minilm_path))[0].pooler_type == "avg"
    # A saved SimCSE head is kept when training continues.
    enc.mlp.dense.weight.data.fill_(0.5)
    enc.save_pretrained(tmp_path / "saved")
    again, _ = load_encoder_for_training(str(tmp_path / "saved"))
    assert torch.all(again.mlp.dense.weight == 0.5)


def test_mlp_learning_rate_gets_its_own_groups_and_schedule(tmp_path, tiny_bert_path, unsup_file, capsys):
    from transformers import TrainingArguments

    from simcse.training.loss import InfoNCELoss
    from simcse.training.trainer import ContrastiveModel, SimCSETrainer, load_encoder_for_training

    args = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True, learning_rate=1e-4,
                             weight_decay=0.01, lr_scheduler_type="linear")
    enc, _ = load_encoder_for_training(str(tiny_bert_path), pooler_type="cls", mlp_only_train=True)
    trainer = SimCSETrainer(ContrastiveModel(enc, InfoNCELoss()), args, mlp_learning_rate=1e-2)
    trainer.create_optimizer_and_scheduler(num_training_steps=10)
    head = {id(p) for p in enc.mlp.parameters()}
    lrs = {}
    for g in trainer.optimizer.param_groups:
        kinds = {id(p) in head for p in g["params"]}
        assert len(kinds) == 1, "a group mixes head and backbone parameters"
        lrs.setdefault(kinds.pop(), set()).add((g["lr"], g["weight_decay"]))
    # weight decay still follows the Trainer's rule (biases none) in both parts
    assert lrs == {True: {(1e-2, 0.01), (1e-2, 0.0)}, False: {(1e-4, 0.01), (1e-4, 0.0)}}
    n = sum(len(g["params"]) for g in trainer.optimizer.param_groups)
    assert n == sum(1 for p in trainer.model.parameters() if p.requires_grad)
    trainer.optimizer.step()
    trainer.lr_scheduler.step()
    assert sorted({round(lr, 8) for lr in trainer.lr_scheduler.get_last_lr()}) == [9e-5, 9e-3]

    # End to end: Adam moves each weight by about the learning rate a step, so after 3 steps the head
    # (lr 0.1) is far from its N(0, 0.02) init while the backbone (lr 1e-5) has barely moved.
    rc, out = _train(tmp_path, tiny_bert_path, unsup_file, extra=[
        "--max_steps", "3", "--learning_rate", "1e-5", "--mlp_learning_rate", "1e-1", "--pooler_type", "cls",
        "--mlp_only_train", "--save_strategy", "no"])
    assert rc == 0
    trained, _ = load_encoder_for_training(str(out))
    assert float(trained.mlp.dense.weight.detach().std()) > 0.1
    orig, _ = load_encoder_for_training(str(tiny_bert_path), pooler_type="cls")
    drift = max(float((a - b).detach().abs().max()) for a, b in zip(trained.backbone.encoder.parameters(),
                                                          orig.backbone.encoder.parameters()))
    assert 0 < drift < 1e-4
    # ... and bad values or a head-less pooler are named.
    assert _train(tmp_path, tiny_bert_path, unsup_file, "o2", ["--mlp_learning_rate", "0"])[0] == 2
    assert "--mlp_learning_rate must be > 0, got 0.0" in capsys.readouterr().err
    assert _train(tmp_path, tiny_bert_path, unsup_file, "o3", ["--mlp_learning_rate", "1e-3", "--pooler_type", "avg",
                                                               "--max_steps", "1"])[0] == 2
    assert "--mlp_learning_rate needs the MLP head (--pooler_type cls)" in capsys.readouterr().err


def test_load_best_model_checkpoints_follow_the_default_eval_steps(tmp_path):
    """--eval_steps defaults to --logging_steps: the checkpoints follow it (not --save_steps' 500)."""
    _, t = parsed(["--output_dir", str(tmp_path / "o"), "--eval_strategy", "steps", "--load_best_model_at_end",
                          "--logging_steps", "30"])
    assert t.eval_steps == 30 and t.save_steps == 30 and t.save_strategy == "steps"


@pytest.mark.parametrize("flags,train,evaluate", [
    ([], True, False),
    (["--do_eval"], False, True),
    (["--do_eval", "True"], False, True),
    (["--do_eval", "--do_train"], True, True),
    (["--do_eval", "False"], True, False),
    (["--do_train", "False"], False, False),
])
def test_do_eval_alone_evaluates_only(tmp_path, flags, train, evaluate):
    _, t = parsed(["--output_dir", str(tmp_path / "o"), *flags])
    assert (t.do_train, t.do_eval) == (train, evaluate)


def test_do_eval_alone_runs_without_a_train_file(tmp_path, tiny_bert_path, data_dir):
    out = tmp_path / "eval_only"
    rc = main(["--model_name_or_path", str(tiny_bert_path), "--output_dir", str(out), "--do_eval",
               "--data_dir", str(data_dir), "--report_to", "none", "--disable_tqdm", "True"])
    assert rc == 0
    metrics = json.loads((out / "eval_results.json").read_text())
    assert -1 <= metrics["eval_stsb_spearman"] <= 1
    assert not (out / "model.safetensors").exists()  # nothing trained, nothing saved


@pytest.mark.parametrize("value", ["false", "False", "", "none"])
def test_resume_from_checkpoint_false_is_a_fresh_run(tmp_path, value):
    _, t = parsed(["--output_dir", str(tmp_path / "o"), f"--resume_from_checkpoint={value}"])
    assert t.resume_from_checkpoint is None
    cfg = tmp_path / "run.json"
    cfg.write_text(json.dumps({"output_dir": str(tmp_path / "o"), "resume_from_checkpoint": False}))
    assert parsed([str(cfg)])[1].resume_from_checkpoint is None


# ---------------------------------------------------------------- SimCSE's model / data flags
def _run_cli(tmp_path: Path, args: list[str], out: str = "out") -> tuple[int, Path]:
    """``main`` with the tiny-run settings of :func:`_train` but no --model_name_or_path / --train_file of its own."""
    out_dir = tmp_path / out
    return main([
        "--output_dir", str(out_dir), "--per_device_train_batch_size", "4", "--max_seq_length", "16",
        "--max_steps", "2", "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "True",
        "--logging_steps", "1", "--tokenized_cache_dir", str(tmp_path / "cache"), *args,
    ]), out_dir


def test_config_name_and_tokenizer_name_replace_the_models_own(tmp_path, tiny_bert_path, sup_file, caplog):
    from transformers import AutoConfig, AutoTokenizer

    cfg = AutoConfig.from_pretrained(str(tiny_bert_path))
    assert cfg.hidden_dropout_prob == 0.1
    cfg.hidden_dropout_prob = cfg.attention_probs_dropout_prob = 0.0
    cfg.save_pretrained(str(tmp_path / "cfg"))
    # a cased tokenizer: "Hello WORLD" is out of the uncased vocabulary -> [UNK] [UNK]
    AutoTokenizer.from_pretrained(str(tiny_bert_path), do_lower_case=False).save_pretrained(str(tmp_path / "cased"))
    rc, out = _train(tmp_path, tiny_bert_path, sup_file, extra=[
        "--max_steps", "2", "--config_name", str(tmp_path / "cfg"), "--tokenizer_name", str(tmp_path / "cased"),
        "--use_fast_tokenizer", "False", "--cache_dir", str(tmp_path / "hub")])
    assert rc == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["hidden_dropout_prob"] == 0.0 and saved["attention_probs_dropout_prob"] == 0.0
    unk = AutoTokenizer.from_pretrained(str(tiny_bert_path)).unk_token_id
    assert AutoTokenizer.from_pretrained(str(out))("Hello WORLD")["input_ids"][1:3] == [unk, unk]
    assert AutoTokenizer.from_pretrained(str(tiny_bert_path))("Hello WORLD")["input_ids"][1:3] != [unk, unk]
    assert "--use_fast_tokenizer false" in caplog.text


def test_config_and_tokenizer_that_do_not_fit_are_named(tmp_path, tiny_bert_path, unsup_file, capsys):
    from transformers import AutoConfig, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_bert_path))
    tok.add_tokens(["brandnewtoken1", "brandnewtoken2"])
    tok.save_pretrained(str(tmp_path / "bigger"))
    assert _train(tmp_path, tiny_bert_path, unsup_file, extra=["--tokenizer_name", str(tmp_path / "bigger")])[0] == 2
    assert f"--tokenizer_name '{tmp_path / 'bigger'}' has 30524 tokens, but the embedding table" in capsys.readouterr().err
    cfg = AutoConfig.from_pretrained(str(tiny_bert_path))
    cfg.hidden_size, cfg.intermediate_size = 64, 128
    cfg.save_pretrained(str(tmp_path / "wide"))
    assert _train(tmp_path, tiny_bert_path, unsup_file, extra=["--config_name", str(tmp_path / "wide")])[0] == 2
    assert f"--config_name '{tmp_path / 'wide'}' does not fit the weights of" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert _train(tmp_path, tiny_bert_path, unsup_file, extra=["--config_name", str(tmp_path / "empty")])[0] == 2
    assert f"--config_name '{tmp_path / 'empty'}': could not load a model config" in capsys.readouterr().err
    assert _train(tmp_path, tiny_bert_path, unsup_file, extra=["--tokenizer_name", "/nonexistent/tok"])[0] == 2
    assert "--tokenizer_name '/nonexistent/tok': no such folder" in capsys.readouterr().err


@pytest.mark.parametrize("auth", [True, False])
def test_hub_model_download_gets_cache_dir_revision_and_token(tmp_path, tiny_bert_path, unsup_file, monkeypatch, auth):
    import huggingface_hub

    calls = []

    def fake_snapshot_download(**kwargs):
        calls.append(kwargs)
        return str(tiny_bert_path)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    rc, out = _run_cli(tmp_path, [
        "--model_name_or_path", "some-org/tiny-bert", "--train_file", str(unsup_file),
        "--cache_dir", str(tmp_path / "hub"), "--model_revision", "v1.0", *(["--use_auth_token"] if auth else []),
    ])
    assert rc == 0 and (out / "simcse_config.json").is_file()
    expected = {"repo_id": "some-org/tiny-bert", "cache_dir": str(tmp_path / "hub"), "revision": "v1.0"}
    assert calls == [{**expected, "token": True} if auth else expected]


def test_model_revision_of_a_local_folder_is_reported(tmp_path, tiny_bert_path, unsup_file, caplog):
    rc, _ = _train(tmp_path, tiny_bert_path, unsup_file, extra=["--max_steps", "1", "--model_revision", "v2"])
    assert rc == 0
    assert f"--model_revision v2 is ignored: {tiny_bert_path} is a local folder" in caplog.text


def test_model_type_needs_a_pretrained_model(tmp_path, tiny_bert_path, unsup_file, capsys, caplog):
    rc, _ = _run_cli(tmp_path, ["--model_type", "bert", "--train_file", str(unsup_file)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "--model_type 'bert' without --model_name_or_path" in err and "from scratch, which is not supported" in err
    # with a model it is ignored, as in SimCSE, and a type that contradicts the model is reported
    rc, _ = _train(tmp_path, tiny_bert_path, unsup_file, extra=["--max_steps", "1", "--model_type", "roberta"])
    assert rc == 0
    assert "--model_type roberta is ignored" in caplog.text and "is a bert model" in caplog.text


def _dataset_folder(path: Path, header: str, rows: list[str]) -> Path:
    path.mkdir(parents=True)
    (path / "train.csv").write_text("\n".join([header, *rows]) + "\n")
    return path


def test_dataset_name_trains_on_its_columns(tmp_path, tiny_bert_path, caplog):
    from simcse.training.run import load_hub_training_data
    from simcse.training.trainer import load_encoder_for_training

    caplog.set_level(logging.INFO, logger="simcse")
    rows = [f"the {a} {b} waits {p} .,a {a} {b} is {p} .,no {b} is ever {p} ."
            for a, b, p in itertools.islice(itertools.product(ADJ, NOUN, PLACE), 12)]
    folder = _dataset_folder(tmp_path / "nli", "premise,entailment,contra", rows)
    enc, _ = load_encoder_for_training(str(tiny_bert_path))
    ds = load_hub_training_data(str(folder), None, enc, 16, cache_dir=str(tmp_path / "hf"))
    assert len(ds) == 12 and ds.views == 3
    assert [list(x) for x in ds[1]] == enc.tokenize_ids(rows[1].split(","), 16)
    assert any((tmp_path / "hf").iterdir())  # --cache_dir holds the datasets cache
    rc, out = _run_cli(tmp_path, ["--model_name_or_path", str(tiny_bert_path), "--dataset_name", str(folder),
                                  "--cache_dir", str(tmp_path / "hf")])
    assert rc == 0 and sorted(_losses(out)) == [1, 2]
    assert f"training on 12 examples with 3 views each from {folder}" in caplog.text


def test_bad_dataset_name_input_is_named(tmp_path, tiny_bert_path, unsup_file, monkeypatch, capsys):
    base = ["--model_name_or_path", str(tiny_bert_path), "--cache_dir", str(tmp_path / "hf")]
    labelled = _dataset_folder(tmp_path / "snli", "premise,hypothesis,label", ["a dog runs,an animal moves,0"] * 4)
    assert _run_cli(tmp_path, [*base, "--dataset_name", str(labelled)])[0] == 2
    assert f"--dataset_name '{labelled}': train row 0: column 3 ('label') is int, expected text" in capsys.readouterr().err
    wide = _dataset_folder(tmp_path / "wide", "a,b,c,d", ["w,x,y,z"] * 4)
    assert _run_cli(tmp_path, [*base, "--dataset_name", str(wide)])[0] == 2
    assert "4 columns (a, b, c, d); expected 1 (sentence)" in capsys.readouterr().err
    assert _run_cli(tmp_path, [*base, "--dataset_name", str(tmp_path / "missing")])[0] == 2
    assert f"--dataset_name '{tmp_path / 'missing'}': could not load its train split" in capsys.readouterr().err
    assert _run_cli(tmp_path, [*base, "--dataset_name", str(wide), "--train_file", str(unsup_file)])[0] == 2
    assert "both given; pass one of them" in capsys.readouterr().err
    assert _run_cli(tmp_path, [*base, "--train_file", str(unsup_file), "--dataset_config_name", "plain_text"])[0] == 2
    assert "--dataset_config_name 'plain_text' needs --dataset_name" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "datasets", None)  # not installed
    assert _run_cli(tmp_path, [*base, "--dataset_name", str(wide)])[0] == 2
    assert "needs the datasets package (pip install datasets)" in capsys.readouterr().err


@pytest.mark.slow
def test_eval_transfer_reports_the_transfer_tasks_dev_accuracy(tmp_path, tiny_bert_path, sup_file, data_dir, capsys):
    from simcse.evaluation import evaluate

    rc, out = _train(tmp_path, tiny_bert_path, sup_file, extra=[
        "--max_steps", "2", "--do_train", "--do_eval", "--eval_transfer", "--data_dir", str(data_dir), "--pooler_type", "cls"])
    assert rc == 0
    metrics = json.loads((out / "eval_results.json").read_text())
    tasks = ["MR", "CR", "SUBJ", "MPQA", "SST2", "TREC", "MRPC"]
    assert all(0 < metrics[f"eval_{t}"] <= 100 for t in tasks)
    assert metrics["eval_avg_transfer"] == pytest.approx(sum(metrics[f"eval_{t}"] for t in tasks) / 7)
    assert -1 <= metrics["eval_stsb_spearman"] <= 1
    # the same numbers as `simcse evaluate --mode dev` gives the saved model
    ref = evaluate(str(out), tasks=["CR", "TREC"], mode="dev", data_dir=data_dir, device="cpu")["scores"]
    assert ref == {"CR": pytest.approx(metrics["eval_CR"], abs=0.05), "TREC": pytest.approx(metrics["eval_TREC"], abs=0.05)}
    # without any evaluation the flag would do nothing: an error
    assert _train(tmp_path, tiny_bert_path, sup_file, "o2", ["--eval_transfer"])[0] == 2
    assert "--eval_transfer adds the transfer tasks' dev accuracy to the evaluation, but no evaluation runs" in (
        capsys.readouterr().err)


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--preprocessing_num_workers", "0"], "--preprocessing_num_workers must be a positive integer, got 0"),
        (["--validation_split_percentage", "100"], "--validation_split_percentage must be in [0, 100), got 100"),
    ],
)
def test_bad_compatibility_flag_values_are_named(tmp_path, tiny_bert_path, unsup_file, capsys, extra, message):
    assert _train(tmp_path, tiny_bert_path, unsup_file, extra=extra)[0] == 2
    assert message in capsys.readouterr().err


def test_compatibility_flags_without_effect_say_so(tmp_path, tiny_bert_path, unsup_file, caplog):
    caplog.set_level(logging.INFO, logger="simcse")
    rc, _ = _train(tmp_path, tiny_bert_path, unsup_file, extra=[
        "--max_steps", "1", "--preprocessing_num_workers", "4", "--validation_split_percentage", "5"])
    assert rc == 0
    assert "--preprocessing_num_workers 4: no effect here" in caplog.text
    assert "--validation_split_percentage 5: no effect here" in caplog.text


def test_help_states_our_defaults(capsys):
    assert main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "stsb_spearman (default with --load_best_model_at_end)" in text and "Defaults to 'loss'" not in text
    assert "avg_first_last, last, max" in text


@pytest.mark.slow
def test_prompts_and_training_record_reach_the_saved_folder_and_mteb_metadata(tmp_path, tiny_bert_path, sup_file):
    """train --prompts stores named prompts where sentence-transformers reads them; the saved folder records
    its base model and training data, which the MTEB metadata maps to ``adapted_from`` and MTEB dataset names."""
    pytest.importorskip("mteb")
    from simcse import SimCSE
    from simcse.evaluation.mteb import MTEBEncoder

    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps({"query": "query: ", "STS": "Find a sentence that means the same: "}))
    nli = tmp_path / "nli_for_simcse.csv"
    nli.write_text(sup_file.read_text())
    rc, out_dir = _train(tmp_path, tiny_bert_path, nli, extra=["--prompts", str(prompts), "--max_steps", "2",
                                                               "--matryoshka_dims", "32", "16"])
    assert rc == 0
    st_cfg = json.loads((out_dir / "config_sentence_transformers.json").read_text())
    assert st_cfg["prompts"] == {"query": "query: ", "STS": "Find a sentence that means the same: "}
    assert SimCSE(str(out_dir), device="cpu").prompts == st_cfg["prompts"]
    meta = MTEBEncoder(str(out_dir), name="me/tiny").mteb_model_meta
    assert meta.training_datasets == {"SNLI", "MNLI"} and meta.embed_dim == [32, 16] and meta.use_instructions
    assert meta.adapted_from is None  # a local folder is no hub model to name
    prompts.write_text(json.dumps({"STS12-querry": "x"}))
    rc, _ = _train(tmp_path, tiny_bert_path, nli, out="bad", extra=["--prompts", str(prompts)])
    assert rc != 0
