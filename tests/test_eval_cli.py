"""The evaluation command: SimCSE's flags, tables, JSON output and bad-input errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from simcse.cli import main as simcse_main
from simcse.evaluation.cli import main

ROOT = Path(__file__).resolve().parents[1]


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
    assert set(data["tasks"]["STS16"]["subsets"]) == {"answer-answer", "headlines", "plagiarism", "postediting",
                                                      "question-question"}
    assert data["tasks"]["SICKRelatedness"]["test"]["n"] == 4927
    values = printed.splitlines()[4]
    assert f"{data['scores']['STS16']:.2f}" in values and f"{data['scores']['SICKRelatedness']:.2f}" in values
    avg = round((data["scores"]["STS16"] + data["scores"]["SICKRelatedness"]) / 2, 2)
    assert f"{avg:.2f}" in values


def test_unknown_task_exits_2_with_the_known_list(tiny_bert_path, senteval_dir: Path, capsys):
    rc = main(["--model", str(tiny_bert_path), "--task_set", "na", "--tasks", "STS99", "--data_dir", str(senteval_dir)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "unknown task 'STS99'" in err and "SICKRelatedness" in err and "TREC" in err


def test_missing_data_dir_names_the_file(tiny_bert_path, tmp_path: Path, capsys):
    rc = main(["--model", str(tiny_bert_path), "--tasks", "STSBenchmark", "--data_dir", str(tmp_path / "nowhere")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "sts-test.csv" in err and "STS/STSBenchmark" in err


def test_top_level_entry_point_has_simcse_flags():
    proc = subprocess.run([sys.executable, str(ROOT / "evaluation" / "evaluation.py"), "--help"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    for flag in ("--model_name_or_path", "--pooler", "--mode", "--task_set", "--tasks", "--max_length",
                 "--data_dir", "--output"):
        assert flag in proc.stdout


def test_download_script_fails_clearly_offline(tmp_path: Path):
    proc = subprocess.run([sys.executable, str(ROOT / "SentEval" / "download_dataset.py"), "--url",
                           "http://127.0.0.1:9/senteval.tar", "--dest", str(tmp_path / "downstream"), "--timeout", "5"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "could not download" in proc.stderr and "senteval.tar" in proc.stderr and "SIMCSE_DATA_DIR" in proc.stderr
