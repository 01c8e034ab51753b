"""The evaluation command: SimCSE's flags, tables, JSON output and bad-input errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import simcse.cli.evaluate as cli
from simcse.cli import main as simcse_main
from simcse.cli.evaluate import build_parser, main
from simcse.evaluation.engine import resolve_tasks

ROOT = Path(__file__).resolve().parents[2]


def test_simcse_evaluate_prints_table_and_writes_json(tiny_bert_path, senteval_dir: Path, tmp_path: Path, capsys):
    out = tmp_path / "res" / "eval.json"
    rc = simcse_main(["evaluate", "--model_name_or_path", str(tiny_bert_path), "--pooler", "avg",
                      "--tasks", "STS16", "SICK-R", "--mode", "test", "--data_dir", str(senteval_dir),
                      "--output", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "------ test ------" in printed
    header = [c.strip() for c in printed.splitlines()[2].strip("|").split("|")]
    assert header == ["STS16", "SICKRelatedness", "Avg."]
    data = json.loads(out.read_text())
    assert data["pooler"] == "avg" and data["mode"] == "test"
    assert Path(data["data_dir"]) == senteval_dir.resolve() and data["data_dir_source"] == "argument"
    assert set(data["tasks"]["STS16"]["subsets"]) == {"answer-answer", "headlines", "plagiarism", "postediting",
                                                      "question-question"}
    assert data["tasks"]["SICKRelatedness"]["test"]["n"] == 4927
    values = printed.splitlines()[4]
    assert f"{data['scores']['STS16']:.2f}" in values and f"{data['scores']['SICKRelatedness']:.2f}" in values
    avg = round((data["scores"]["STS16"] + data["scores"]["SICKRelatedness"]) / 2, 2)
    assert f"{avg:.2f}" in values


def test_output_records_the_data_folder_that_simcse_data_dir_gave(tiny_bert_path, senteval_dir: Path,
                                                                   tmp_path: Path, monkeypatch):
    # without --data_dir the folder comes from the environment; the result file says which folder was read
    monkeypatch.setenv("SIMCSE_DATA_DIR", str(senteval_dir))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "eval.json"
    rc = main(["--model_name_or_path", str(tiny_bert_path), "--pooler", "avg", "--tasks", "STS16",
               "--mode", "test", "--output", str(out)])
    assert rc == 0
    data = json.loads(out.read_text())
    assert Path(data["data_dir"]) == senteval_dir.resolve()
    assert data["data_dir_source"] == "SIMCSE_DATA_DIR"


def test_unknown_task_exits_2_with_the_known_list(tiny_bert_path, senteval_dir: Path, capsys):
    rc = main(["--model", str(tiny_bert_path), "--task_set", "na", "--tasks", "STS99", "--data_dir", str(senteval_dir)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "unknown task 'STS99'" in err and "SICKRelatedness" in err and "TREC" in err


SIMCSE_DEFAULT_TASKS = ["STS12", "STS13", "STS14", "STS15", "STS16", "MR", "CR", "MPQA", "SUBJ", "SST2", "TREC",
                        "MRPC", "SICKRelatedness", "STSBenchmark"]  # --tasks default of SimCSE's evaluation.py


def test_task_set_na_without_tasks_runs_simcse_default_tasks(tiny_bert_path, tmp_path: Path, capsys):
    """As in SimCSE's evaluation.py, --task_set na runs --tasks, whose default is its 14 tasks: the run
    starts (and, with no data, stops at the first task: STS12); in dev mode STS12-16, which have no dev
    split, are left out as for a task set (not refused), so it stops at MR."""
    assert resolve_tasks(None, "na") == SIMCSE_DEFAULT_TASKS
    for run_cli in (main, lambda argv: simcse_main(["evaluate", *argv])):
        rc = run_cli(["--model", str(tiny_bert_path), "--task_set", "na", "--data_dir", str(tmp_path)])
        assert rc == 2
        err = capsys.readouterr().err
        assert "STS12: data file" in err and "STS.input.MSRpar.txt" in err
    rc = main(["--model", str(tiny_bert_path), "--task_set", "na", "--mode", "dev", "--data_dir", str(tmp_path)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "MR: data file" in err and "rt-polarity.pos" in err
    assert " ".join(SIMCSE_DEFAULT_TASKS) in " ".join(build_parser().format_help().split())
    rc = main(["--model", str(tiny_bert_path), "--task_set", "na", "--tasks", "TREC", "--data_dir", str(tmp_path)])
    assert rc == 2 and "TREC: data file" in capsys.readouterr().err


def test_missing_data_dir_names_the_file(tiny_bert_path, tmp_path: Path, capsys):
    rc = main(["--model", str(tiny_bert_path), "--tasks", "STSBenchmark", "--data_dir", str(tmp_path / "nowhere")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "sts-test.csv" in err and "STS/STSBenchmark" in err


def test_missing_data_is_named_before_the_model_loads(tmp_path: Path, capsys, monkeypatch):
    import simcse.evaluation.engine as engine

    def no_model(*a, **k):
        raise AssertionError("the model was loaded before the data were checked")

    monkeypatch.setattr(engine, "SimCSE", no_model)
    rc = main(["--model", str(tmp_path / "some_model"), "--tasks", "STSBenchmark", "--data_dir", str(tmp_path / "nowhere")])
    assert rc == 2
    assert "sts-test.csv" in capsys.readouterr().err


def test_evaluate_reports_progress(tiny_bert_path, senteval_dir: Path, capsys):
    rc = main(["--model", str(tiny_bert_path), "--pooler", "avg", "--tasks", "STS16", "SICK-R", "--mode", "test",
               "--data_dir", str(senteval_dir)])
    assert rc == 0
    err = capsys.readouterr().err
    assert "read 2 task(s) (STS16, SICKRelatedness)" in err and "distinct sentences to encode" in err
    assert "Encoding" in err  # the progress bar
    assert "[1/2] STS16: " in err and "[2/2] SICKRelatedness: " in err


@pytest.mark.slow
def test_top_level_entry_point_has_simcse_flags():
    proc = subprocess.run([sys.executable, str(ROOT / "evaluation" / "evaluation.py"), "--help"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    for flag in ("--model_name_or_path", "--pooler", "--mode", "--task_set", "--tasks", "--max_length",
                 "--data_dir", "--output"):
        assert flag in proc.stdout


def test_old_module_path_is_the_command_module():
    """``simcse.evaluation.cli`` (where the command lived) gives the module of ``simcse evaluate``."""
    import simcse.evaluation.cli as old

    assert old is cli and old.main is main


def test_download_script_fails_clearly_offline(tmp_path: Path):
    proc = subprocess.run([sys.executable, str(ROOT / "SentEval" / "download_dataset.py"), "--url",
                           "http://127.0.0.1:9/senteval.tar", "--dest", str(tmp_path / "downstream"), "--timeout", "5"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "could not download" in proc.stderr and "senteval.tar" in proc.stderr and "SIMCSE_DATA_DIR" in proc.stderr


# ---------------------------------------------------------------------- the paper's scores beside ours
def test_paper_tables_average_to_the_published_averages():
    from simcse.evaluation import STS_TASKS, TRANSFER_TASKS
    from simcse.evaluation.references import PAPER_MODELS, paper_scores

    published = {  # Avg. columns of Tables 5 and E.1
        "unsup-simcse-bert-base-uncased": (76.25, 85.81), "unsup-simcse-roberta-base": (76.57, 84.84),
        "unsup-simcse-roberta-large": (78.90, 86.11), "sup-simcse-bert-base-uncased": (81.57, 86.51),
        "sup-simcse-roberta-base": (82.52, 88.08), "sup-simcse-roberta-large": (83.76, 89.61)}
    assert set(PAPER_MODELS) == set(published)
    for name, (sts, transfer) in published.items():
        scores = paper_scores(name)
        assert sum(scores[t] for t in STS_TASKS) / 7 == pytest.approx(sts, abs=0.006), name
        assert sum(scores[t] for t in TRANSFER_TASKS) / 7 == pytest.approx(transfer, abs=0.006), name


def test_reference_lookup_and_comparison_over_shared_tasks():
    from simcse.evaluation.references import compare_with_paper, reference_for

    assert reference_for("princeton-nlp/sup-simcse-bert-base-uncased") == "sup-simcse-bert-base-uncased"
    assert reference_for("/runs/unsup-simcse-roberta-large/") == "unsup-simcse-roberta-large"
    assert reference_for("bert-base-uncased") is None and reference_for(None) is None
    c = compare_with_paper({"STSBenchmark": 80.25, "SICKRelatedness": 81.39, "MR": 80.00, "Banking": 1.0},
                           "sup-simcse-bert-base-uncased")
    assert c["delta"] == {"STSBenchmark": -4.0, "SICKRelatedness": 1.0, "MR": -2.69}
    assert c["avg"]["sts"] == {"ours": 80.82, "paper": 82.32, "delta": -1.5, "tasks": 2}
    assert c["avg"]["transfer"]["tasks"] == 1
    with pytest.raises(ValueError, match="none of the evaluated tasks"):
        compare_with_paper({"Banking": 1.0}, "sup-simcse-bert-base-uncased")
    with pytest.raises(ValueError, match="no published scores for 'bert-base'"):
        compare_with_paper({"STS12": 1.0}, "bert-base")


def test_evaluate_prints_the_paper_row_for_a_released_models_name(tiny_bert_path, senteval_dir: Path,
                                                                    tmp_path: Path, capsys):
    named = tmp_path / "sup-simcse-bert-base-uncased"
    named.symlink_to(tiny_bert_path, target_is_directory=True)
    out = tmp_path / "eval.json"
    base = ["--pooler", "avg", "--tasks", "STSBenchmark", "--data_dir", str(senteval_dir)]
    assert main(["--model", str(named), *base, "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    ours = json.loads(out.read_text())["scores"]["STSBenchmark"]
    assert "against the paper: sup-simcse-bert-base-uncased" in printed
    lines = {l.split("|")[1].strip(): [c.strip() for c in l.strip("|").split("|")[1:]]
             for l in printed.splitlines() if l.startswith("| ours") or l.startswith("| paper") or l.startswith("| delta")}
    assert lines["ours"][0] == f"{ours:.2f}" and lines["paper"][0] == "84.25"
    assert lines["delta"][0] == f"{ours - 84.25:+.2f}"
    assert json.loads(out.read_text())["reference"]["delta"]["STSBenchmark"] == round(ours - 84.25, 2)
    # off on request, explicit for any model, and not against dev scores
    assert main(["--model", str(named), *base, "--reference", "none"]) == 0
    assert "against the paper" not in capsys.readouterr().out
    assert main(["--model", str(tiny_bert_path), *base, "--reference", "unsup-simcse-bert-base-uncased"]) == 0
    assert "| paper |    76.85     |" in capsys.readouterr().out
    assert main(["--model", str(named), *base, "--mode", "dev"]) == 0
    captured = capsys.readouterr()
    assert "against the paper" not in captured.out and "not compared in --mode dev" in captured.err


def _tiny_stsb(root: Path) -> Path:
    """A 12-pair STS-B test split (text written here) in SentEval's layout."""
    folder = root / "STS" / "STSBenchmark"
    folder.mkdir(parents=True)
    pairs = [("a man plays a guitar", "a person plays guitar", 4.2), ("a cat sleeps", "a dog barks", 0.8),
             ("the sun is bright", "it is a sunny day", 3.5), ("he eats rice", "she reads a book", 0.2),
             ("kids play football", "children play soccer", 4.6), ("a car drives", "a plane flies", 1.1),
             ("the market fell", "stocks dropped today", 3.9), ("a bird sings", "the phone rings", 0.5),
             ("two men talk", "two people chat", 4.0), ("water is cold", "the tea is hot", 1.4),
             ("a girl runs", "a woman jogs", 3.2), ("rain falls", "it is raining", 4.8)]
    (folder / "sts-test.csv").write_text("".join(f"main-captions\tMSRvid\t2012test\t{i:04d}\t{g}\t{a}\t{b}\n"
                                                 for i, (a, b, g) in enumerate(pairs)), encoding="utf-8")
    return root


def test_output_never_replaces_a_file_or_crashes_after_the_run(tiny_bert_path, tmp_path: Path, capsys):
    """--output: an existing file is kept unless --overwrite; a directory is refused up front instead
    of a traceback after the whole evaluation."""
    data = _tiny_stsb(tmp_path / "data")
    base = ["--model", str(tiny_bert_path), "--pooler", "avg", "--tasks", "STSBenchmark", "--data_dir", str(data)]
    mine = tmp_path / "results.json"
    mine.write_text("my earlier results\n")
    assert main([*base, "--output", str(mine)]) == 2
    err = capsys.readouterr().err
    assert "exists" in err and "--overwrite" in err and str(mine) in err
    assert mine.read_text() == "my earlier results\n"
    folder = tmp_path / "outdir"
    folder.mkdir()
    assert main([*base, "--output", str(folder)]) == 2
    assert "is a directory" in capsys.readouterr().err and not any(folder.iterdir())
    assert main([*base, "--output", str(mine), "--overwrite"]) == 0
    assert json.loads(mine.read_text())["tasks"]["STSBenchmark"]["test"]["n"] == 12


def test_seed_out_of_range_is_named_before_encoding(tiny_bert_path, tmp_path: Path, capsys, monkeypatch):
    import simcse.tool

    def no_encoding(*args, **kwargs):
        raise AssertionError("encoded before the seed was checked")

    monkeypatch.setattr(simcse.tool.SimCSE, "encode", no_encoding)
    data = _tiny_stsb(tmp_path / "data")
    assert main(["--model", str(tiny_bert_path), "--tasks", "STSBenchmark", "--data_dir", str(data), "--seed", "-1"]) == 2
    assert "seed (--seed) must be an integer from 0 to 2**32 - 1, got -1" in capsys.readouterr().err


def test_output_never_replaces_a_file_the_evaluation_reads(tiny_bert_path, tmp_path: Path, capsys):
    """Even with --overwrite: a gold-score file of the data folder or a file of the model folder is not a
    results file; an earlier results file kept beside the model is."""
    import shutil

    data = _tiny_stsb(tmp_path / "data")
    model = tmp_path / "model"
    shutil.copytree(tiny_bert_path, model)
    base = ["--model", str(model), "--pooler", "avg", "--tasks", "STSBenchmark", "--data_dir", str(data)]
    gold = data / "STS" / "STSBenchmark" / "sts-test.csv"
    for target in (gold, model / "config.json"):
        before = target.read_bytes()
        assert main([*base, "--output", str(target), "--overwrite"]) == 2
        err = capsys.readouterr().err
        assert f"--output '{target}' is a file in the " in err and "that this evaluation reads" in err
        assert target.read_bytes() == before
    assert main([*base, "--output", str(model / "eval.json")]) == 0
    assert main([*base, "--output", str(model / "eval.json"), "--overwrite"]) == 0  # its own earlier results
    assert json.loads((model / "eval.json").read_text())["tasks"]["STSBenchmark"]["test"]["n"] == 12


def test_output_created_during_the_run_is_not_replaced(tiny_bert_path, tmp_path: Path, capsys, monkeypatch):
    """Two evaluations given the same new --output: the one that finishes second does not overwrite the
    first one's file (the check before the run cannot see it); its results go beside it, and it says so."""
    data = _tiny_stsb(tmp_path / "data")
    out = tmp_path / "results.json"
    real = cli.evaluate

    def evaluate_while_another_run_writes(*args, **kwargs):
        result = real(*args, **kwargs)
        out.write_text("the other run's results\n")
        return result

    monkeypatch.setattr(cli, "evaluate", evaluate_while_another_run_writes)
    rc = main(["--model", str(tiny_bert_path), "--pooler", "avg", "--tasks", "STSBenchmark", "--data_dir", str(data),
               "--output", str(out)])
    err = capsys.readouterr().err
    assert out.read_text() == "the other run's results\n"
    beside = tmp_path / "results.1.json"
    assert rc == 2 and str(out) in err and str(beside) in err
    assert json.loads(beside.read_text())["tasks"]["STSBenchmark"]["test"]["n"] == 12


def test_tasks_overridden_by_a_task_set_are_named(tiny_bert_path, tmp_path: Path, capsys):
    """--task_set sts|transfer|full replaces --tasks (SimCSE's rule): the command says so instead of
    silently running another (possibly hours-long) set of tasks."""
    data = _tiny_stsb(tmp_path / "data")  # STS-B only: the sts set then stops at STS12's missing file
    rc = main(["--model", str(tiny_bert_path), "--pooler", "avg", "--task_set", "sts", "--tasks", "STSBenchmark",
               "--data_dir", str(data)])
    err = capsys.readouterr().err
    assert rc == 2 and "--tasks STSBenchmark is ignored" in err and "--task_set na" in err
    assert main(["--model", str(tiny_bert_path), "--pooler", "avg", "--tasks", "STSBenchmark", "--data_dir",
                 str(data)]) == 0
    assert "ignored" not in capsys.readouterr().err
