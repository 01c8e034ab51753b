"""The reproduction driver's pieces: flags, data preparation, summaries (the GPU runs are in REPRODUCTION.md)."""
from __future__ import annotations

import csv
import json
import math

import pytest

from simcse.reproduce import COLS, _flags, ablation_runs, main, markdown_table, merge_results, prepare_data, summarize


def test_flags_render_bools_lists_and_values():
    assert _flags({"mlp_only_train": True, "do_mlm": False, "temp": 0.05, "matryoshka_dims": [384, 64]}) == [
        "--mlp_only_train", "--temp", "0.05", "--matryoshka_dims", "384", "64"]


def test_ablation_grid_matches_the_issue():
    runs = ablation_runs()
    assert {n for n in runs if n.startswith("unsup temp=")} == {"unsup temp=0.01", "unsup temp=0.05", "unsup temp=0.1"}
    assert sum(n.startswith("unsup batch=") for n in runs) == 4
    assert sum(n.startswith("unsup pooler=") for n in runs) == 4
    kind, params = runs["sup hard-negative weight alpha=2.0"]
    assert kind == "sup" and params["hard_negative_weight"] == pytest.approx(math.log(2.0), abs=1e-6)
    assert runs["sup without hard negatives"][0] == "sup-pairs"


def test_summary_is_mean_and_sample_std():
    runs = [dict({c: 70.0 for c in COLS}, Avg=70.0), dict({c: 72.0 for c in COLS}, Avg=72.0)]
    s = summarize(runs)
    assert s["Avg"] == "71.00 ± 1.41"
    table = markdown_table({"rows": {"row": {"runs": runs}}})
    assert "| row | 71.00 ± 1.41" in table


def test_prepare_data_builds_unsup_sup_and_pairs_files(data_dir, tmp_path):
    files = prepare_data(data_dir, tmp_path, limit=100)
    assert len(files["unsup"].read_text(encoding="utf-8").splitlines()) == 100
    with open(files["sup"], encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["sent0", "sent1", "hard_neg"] and len(rows) == 101
    with open(files["sup-pairs"], encoding="utf-8") as f:
        pairs = list(csv.reader(f))
    assert all(len(r) == 2 for r in pairs) and pairs[1] == rows[1][:2]


def _res(seeds, avg0=70.0, eval_steps=125, device="H100"):
    runs = [dict({c: avg0 + s - 42 for c in COLS}, Avg=avg0 + s - 42, seed=s) for s in seeds]
    return {"model": "m", "device": device, "preset": "gpu", "seeds": list(seeds), "rows": {
        "no training, mean pooling": {"runs": [dict({c: 1.0 for c in COLS}, Avg=1.0)]},
        "unsup temp=0.1": {"kind": "unsup", "params": {"temp": 0.1}, "eval_steps": eval_steps, "runs": runs}}}


def test_merge_pools_seeds_and_refuses_conflicts(tmp_path, capsys):
    merged = merge_results([_res([42]), _res([44, 43])], ["a.json", "b.json"])
    assert [r["seed"] for r in merged["rows"]["unsup temp=0.1"]["runs"]] == [42, 43, 44]
    assert len(merged["rows"]["no training, mean pooling"]["runs"]) == 1 and merged["seeds"] == [42, 43, 44]
    assert summarize(merged["rows"]["unsup temp=0.1"]["runs"])["Avg"] == "71.00 ± 1.00"
    with pytest.raises(ValueError, match="row 'unsup temp=0.1' of b.json: seed 42 is already there"):
        merge_results([_res([42]), _res([42])], ["a.json", "b.json"])
    with pytest.raises(ValueError, match="of b.json: its eval_steps 25 differs from 125"):
        merge_results([_res([42]), _res([43], eval_steps=25)], ["a.json", "b.json"])
    with pytest.raises(ValueError, match="cannot merge b.json: device 'cpu'"):
        merge_results([_res([42]), _res([43], device="cpu")], ["a.json", "b.json"])
    # the command line: files in, merged file and table out, no training
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_res([42])))
    b.write_text(json.dumps(_res([43, 44])))
    assert main(["--merge", str(a), str(b), "--output", str(tmp_path / "all.json")]) == 0
    assert "| unsup temp=0.1 | 71.00 ± 1.00" in capsys.readouterr().out
    assert len(json.loads((tmp_path / "all.json").read_text())["rows"]["unsup temp=0.1"]["runs"]) == 3
