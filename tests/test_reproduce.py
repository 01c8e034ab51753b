"""The reproduction driver's pieces: flags, data preparation, summaries (the GPU runs are in REPRODUCTION.md)."""
from __future__ import annotations

import csv
import math

import pytest

from simcse.reproduce import COLS, _flags, ablation_runs, markdown_table, prepare_data, summarize


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
