"""The reproduction driver's pieces: flags, data preparation, summaries (the GPU runs are in REPRODUCTION.md)."""
from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import pytest

from simcse.cli.reproduce import main
from simcse.experiments.reproduce import (
    COLS,
    MAIN_RUNS,
    ablation_runs,
    markdown_table,
    merge_results,
    prepare_data,
    summarize,
    train_config,
)


def _exit_status(argv: list[str]) -> int:
    """``simcse reproduce ARGV``'s exit status, whether argparse exits or the command returns."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def test_a_rows_training_config_is_the_recipe_then_its_settings(tmp_path):
    from simcse.training.config import typed_flags

    kind, params = MAIN_RUNS["unsupervised SimCSE, CLS"]
    overrides = typed_flags({"temp": "0.1", "mlp_init": "pooler", "weight_decay": "0.01"})  # --set, typed as train.py does
    assert overrides == {"temp": 0.1, "mlp_init": "pooler", "weight_decay": 0.01}
    config = train_config("m", tmp_path / "wiki.txt", dict(params, **overrides), 43, tmp_path / "out", "cpu", 30,
                          tmp_path, eval_steps=15)
    assert (config.model_name_or_path, config.train_file, config.output_dir) == ("m", str(tmp_path / "wiki.txt"),
                                                                                 str(tmp_path / "out"))
    assert config.pooler_type == "cls" and config.mlp_only_train and config.temp == 0.1 and config.mlp_init == "pooler"
    assert config.max_seq_length == 32 and config.overwrite_output_dir and config.data_dir == str(tmp_path)
    t = config.trainer_arguments()
    assert (t.seed, t.max_steps, t.per_device_train_batch_size, t.learning_rate, t.weight_decay) == (43, 30, 64, 3e-5, 0.01)
    assert t.use_cpu and not t.bf16 and t.load_best_model_at_end and t.metric_for_best_model == "stsb_spearman"
    assert (t.eval_steps, t.save_steps, t.save_total_limit) == (15, 15, 2)
    with pytest.raises(ValueError, match="no train.py flag named tmep"):
        typed_flags({"tmep": "0.1"})


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


# ---------------------------------------------------------------------- provenance and --compare
def test_reference_rows_average_their_seven_tasks():
    from simcse.experiments.reproduce import reference_result

    ref = reference_result()
    assert list(ref["rows"]) == ["no training, mean pooling", "no training, CLS pooling", "unsupervised SimCSE, mean",
                                 "unsupervised SimCSE, CLS", "supervised SimCSE, mean"]
    for name, rec in ref["rows"].items():
        row = rec["runs"][0]
        assert sum(row[c] for c in COLS) / len(COLS) == pytest.approx(row["Avg"], abs=0.006), name


def test_provenance_fingerprints_and_git_commit(tmp_path):
    import shutil
    import subprocess

    from simcse.experiments.provenance import environment, folder_fingerprint, git_commit, records_fingerprint

    env = environment()
    assert {"python", "simcse", "torch", "transformers"} <= set(env)
    a = tmp_path / "a"
    a.mkdir()
    (a / "config.json").write_text('{"x": 1}')
    (a / "model.safetensors").write_bytes(b"\x00\x01weights")
    (a / "notes.txt").write_text("not part of the model")
    b = tmp_path / "elsewhere" / "b"
    shutil.copytree(a, b)
    (b / "notes.txt").write_text("different notes")
    assert folder_fingerprint(a) == folder_fingerprint(b)
    (b / "model.safetensors").write_bytes(b"\x00\x02weights")
    assert folder_fingerprint(a) != folder_fingerprint(b)

    r1 = records_fingerprint([("s1", "s2", 4.0), ("s3", "s4", 1.5)])
    assert r1["rows"] == 2 and r1 == records_fingerprint([("s1", "s2", 4.0), ("s3", "s4", 1.5)])
    assert r1["sha256"] != records_fingerprint([("s1", "s2", 4.0), ("s3", "s4", 1.0)])["sha256"]

    assert git_commit(tmp_path / "a") is None  # not a checkout
    repo = tmp_path / "repo"
    repo.mkdir()
    git = lambda *args: subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)
    git("init", "-q")
    (repo / "x.py").write_text("x = 1\n")
    git("add", "x.py")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "x")
    clean = git_commit(repo)
    assert clean and len(clean) == 12 and not clean.endswith("-dirty")
    (repo / "x.py").write_text("x = 2\n")
    assert git_commit(repo) == clean + "-dirty"


def test_data_fingerprints_count_the_real_data(data_dir, tmp_path):
    from simcse.evaluation.datadir import resolve_data_dir
    from simcse.experiments.reproduce import data_fingerprints

    fp = data_fingerprints(prepare_data(data_dir, tmp_path, limit=None), resolve_data_dir(data_dir))
    assert fp["unsup_sentences"]["rows"] == 11913 and fp["sup_triplets"]["rows"] == 5864
    # the scored pairs of each STS7 test set (shared/data/README.md)
    assert {c: v["rows"] for c, v in fp["eval"].items()} == {
        "STS12": 3108, "STS13": 1500, "STS14": 3750, "STS15": 3000, "STS16": 1186, "STS-B": 1379, "SICK-R": 4927}


def _with_provenance(res, **changes):
    res = dict(res, trainer="simcse 0.5.0", environment={"torch": "2.11.0", "transformers": "5.17.0"},
               model_fingerprint="abc", data={"unsup_sentences": {"rows": 11913, "sha256": "f00"}})
    for key, value in changes.items():
        res[key] = value
    return res


def test_compare_reports_deltas_paired_by_seed_and_what_differs():
    from simcse.experiments.reproduce import compare, differences

    base = _with_provenance(_res([42, 43, 44]))
    base["rows"]["unsup temp=0.1"]["params"] = {"temp": 0.1, "mlp_only_train": True}
    ours = _with_provenance(_res([42, 43]), device="NVIDIA H100 80GB HBM3",
                            environment={"torch": "2.13.0", "transformers": "5.17.0", "gpu": "H100"},
                            data={"unsup_sentences": {"rows": 11912, "sha256": "f01"}})
    # a variant row is compared with its base row; "--set" strings equal to recorded numbers are no difference
    variant = dict(ours["rows"]["unsup temp=0.1"], params={"temp": "0.1", "mlp_init": "pooler", "mlp_only_train": "true"},
                   runs=[dict(r, Avg=r["Avg"] + 0.5, STS12=r["STS12"] + 2.0) for r in ours["rows"]["unsup temp=0.1"]["runs"]])
    ours["rows"]["unsup temp=0.1"]["params"] = {"temp": 0.1, "mlp_only_train": True}
    ours["rows"]["unsup temp=0.1 [pooler init]"] = variant
    ours["rows"]["only here"] = {"runs": [dict({c: 1.0 for c in COLS}, Avg=1.0)]}
    report = compare(ours, base, ("ours.json", "base.json"))
    lines = report.splitlines()
    assert lines[:2] == ["A = ours.json", "B = base.json"]
    row = next(l for l in lines if l.startswith("| unsup temp=0.1 |"))
    # A: seeds 42, 43 -> Avg 70, 71; B: 70, 71, 72 -> mean 71: delta -0.50, paired by seed 0.00 over 2 seeds
    assert "| 70.50 ± 0.71 | 71.00 ± 1.00 | -0.50 | +0.00 ± 0.00 (2) |" in row
    vrow = next(l for l in lines if l.startswith("| unsup temp=0.1 [pooler init] (vs unsup temp=0.1) |"))
    assert "| +0.50 ± 0.00 (2) | +1.50 |" in vrow  # paired Avg, then STS12's mean delta (2.0 - 0.5)
    assert "Only in A: only here" in report
    diffs = differences(ours, base)
    assert "environment.torch: '2.13.0' vs '2.11.0'" in diffs
    assert "data.unsup_sentences.rows: 11912 vs 11913" in diffs and "data.unsup_sentences.sha256: 'f01' vs 'f00'" in diffs
    assert not any(d.startswith("device") for d in diffs)  # 'H100' names the same device as the full name
    assert "row 'unsup temp=0.1 [pooler init] (against unsup temp=0.1)': mlp_init 'pooler' vs unset" in diffs
    assert not any("temp 0.1" in d or "mlp_only_train" in d for d in diffs)
    assert "row 'unsup temp=0.1': seeds [42, 43] vs [42, 43, 44]" in diffs
    assert not any("environment.gpu" in d for d in diffs)  # recorded on one side only: not a difference
    assert all(f"- {d}" in report for d in diffs)

    same = compare(base, base)
    assert "+0.00 ± 0.00 (3)" in same and "What differs: nothing that both files record." in same


def test_compare_command_line_defaults_to_the_reference_and_names_bad_files(tmp_path, capsys):
    res = _with_provenance(_res([42, 43, 44]))
    res["rows"]["unsupervised SimCSE, CLS"] = {
        "kind": "unsup", "eval_steps": 125, "params": {"temp": 0.05, "pooler_type": "cls", "mlp_only_train": True,
                                                        "per_device_train_batch_size": 64, "learning_rate": 3e-5,
                                                        "num_train_epochs": 1},
        "runs": [dict({c: 76.0 for c in COLS}, Avg=76.0 + 0.1 * i, seed=42 + i) for i in range(3)]}
    res["data"]["sup_triplets"] = {"rows": 5864, "sha256": "abc"}
    f = tmp_path / "r.json"
    f.write_text(json.dumps(res))
    assert main(["--compare", str(f)]) == 0
    out = capsys.readouterr().out
    assert "B = the sentence-transformers 6.0.1 reference (issue 8)" in out
    assert re.search(r"\| unsupervised SimCSE, CLS \| 76\.10 ± 0\.10 \| 76\.22 \| -0\.12 \| – \|", out)
    assert "pooler_type 'cls' vs 'cls_before_pooler'" in out and "mlp_only_train True vs unset" in out
    assert "STS-B dev selection every 125 steps vs no checkpoint selection" in out
    assert "data.sup_triplets.rows: 5864 vs 5863" in out and "trainer: 'simcse 0.5.0' vs 'sentence-transformers 6.0.1'" in out
    for bad, message in [(tmp_path / "missing.json", "does not exist"), ("notjson", "is not JSON"),
                         ("norows", "has no 'rows'"), ("noavg", "row 'x' of .* has no runs with an 'Avg'")]:
        path = bad if isinstance(bad, Path) else tmp_path / f"{bad}.json"
        if bad == "notjson":
            path.write_text("{oops")
        elif bad == "norows":
            path.write_text(json.dumps({"model": "m"}))
        elif bad == "noavg":
            path.write_text(json.dumps({"rows": {"x": {"runs": [{"STS12": 1.0}]}}}))
        assert main(["--compare", str(path)]) == 2
        assert re.search(f"simcse reproduce: error: .*{message}", capsys.readouterr().err)
    with pytest.raises(SystemExit):
        main(["--compare", str(f), str(f), str(f)])
    assert "takes one or two result files, got 3" in capsys.readouterr().err


def test_merge_checks_model_and_data_fingerprints_and_notes_other_versions():
    a = _with_provenance(_res([42]))
    b = _with_provenance(_res([43]), environment={"torch": "2.12.0", "transformers": "5.17.0"})
    merged = merge_results([a, b], ["a.json", "b.json"])
    assert merged["environment"] == a["environment"] and merged["data"] == a["data"]
    assert merged["merge_notes"] == ["b.json: environment.torch: '2.12.0' vs '2.11.0'"]
    with pytest.raises(ValueError, match="cannot merge b.json: data.unsup_sentences.rows: 100 vs 11913, against a.json"):
        merge_results([a, _with_provenance(_res([43]), data={"unsup_sentences": {"rows": 100, "sha256": "f00"}})],
                      ["a.json", "b.json"])
    with pytest.raises(ValueError, match="cannot merge b.json: model_fingerprint: 'xyz' vs 'abc', against a.json"):
        merge_results([a, _with_provenance(_res([43]), model_fingerprint="xyz")], ["a.json", "b.json"])


def test_a_run_records_its_set_up_and_warns_before_adding_to_another_set_ups_file(data_dir, tmp_path, monkeypatch,
                                                                                  capsys, minilm_path):
    import simcse.experiments.reproduce as rp
    from simcse.experiments.provenance import folder_fingerprint

    # the evaluation itself is tested in test_sts.py; here only what the run records around it
    monkeypatch.setattr(rp, "sts7", lambda model, data, pooler=None, device=None: dict({c: 50.0 for c in COLS}, Avg=50.0))
    out = tmp_path / "r.json"
    argv = ["--preset", "cpu", "--groups", "baseline", "--only", "no training, CLS pooling", "--data_dir", str(data_dir),
            "--output", str(out), "--work_dir", str(tmp_path / "w")]
    assert main(argv) == 0
    res = json.loads(out.read_text())
    assert res["model_fingerprint"] == folder_fingerprint(minilm_path) and res["trainer"].startswith("simcse ")
    assert res["data"]["unsup_sentences"]["rows"] == 30 * 128 and res["data"]["eval"]["STS-B"]["rows"] == 1379
    assert res["environment"]["torch"] and list(res["rows"]) == ["no training, CLS pooling"]
    assert f"simcse reproduce --compare {out} OTHER.json" in capsys.readouterr().out

    res["data"]["unsup_sentences"]["rows"] = 99
    res["rows"]["kept row"] = res["rows"]["no training, CLS pooling"]
    out.write_text(json.dumps(res))
    assert main(argv) == 0
    assert "already holds rows from another set-up (data.unsup_sentences.rows: 3840 vs 99)" in capsys.readouterr().err
    assert list(json.loads(out.read_text())["rows"]) == ["no training, CLS pooling", "kept row"]


@pytest.mark.slow
def test_sentence_transformers_reference_runner_writes_a_comparable_result_file(data_dir, tmp_path, capsys,
                                                                                 tiny_bert_path):
    """bench.st_reference trains sentence-transformers' recipe on the same data and scores it with the same
    STS7 evaluator; its file is a reproduce result file (same data fingerprints), so --compare works."""
    from bench import st_reference
    from simcse.experiments.reproduce import compare

    out = tmp_path / "st.json"
    argv = lambda output, temp="temp=0.1": [
        "--model", str(tiny_bert_path), "--preset", "cpu", "--data_dir", str(data_dir), "--output", str(output),
        "--work_dir", str(tmp_path / "w"), "--only", "unsupervised SimCSE, CLS", "--set", temp, "--suffix", " [temp 0.1]"]
    assert st_reference.main(argv(out)) == 0
    res = json.loads(out.read_text())
    assert res["trainer"].startswith("sentence-transformers ")
    assert res["data"]["unsup_sentences"]["rows"] == 30 * 128
    row = res["rows"]["unsupervised SimCSE, CLS [temp 0.1]"]
    # sentence-transformers has no MLP head: its CLS row is the CLS vector itself, with the overridden temperature
    assert row["params"]["pooler_type"] == "cls_before_pooler" and "mlp_only_train" not in row["params"]
    assert row["params"]["temp"] == "0.1" and row["eval_steps"] is None
    (run,) = row["runs"]
    assert run["seed"] == 42 and set(COLS) <= set(run) and 0 < run["Avg"] < 100
    report = compare(res, res)
    assert "| unsupervised SimCSE, CLS [temp 0.1] |" in report and "+0.00 (1)" in report

    # a file that is not a result file is refused, not overwritten; a flag with no sentence-transformers
    # equivalent is refused before anything runs
    not_results = tmp_path / "notes.json"
    not_results.write_text('{"my": "notes"}')
    with pytest.raises(SystemExit, match="is not a result file"):
        st_reference.main(argv(not_results))
    assert json.loads(not_results.read_text()) == {"my": "notes"}
    with pytest.raises(SystemExit):
        st_reference.main(argv(out, temp="mlp_init=pooler"))
    assert "FLAG one of" in capsys.readouterr().err


def test_eval_interval_is_the_one_used_and_recorded():
    from simcse.experiments.reproduce import eval_interval

    assert eval_interval(None, None) == 25  # the GPU preset's default
    assert eval_interval(None, 30) == 15  # the CPU preset: half its 30 steps
    assert eval_interval(10, 30) == 10 and eval_interval(125, None) == 125  # given: used as given
    cpu = json.loads((Path(__file__).resolve().parents[2] / "bench/results/reproduce_cpu.json").read_text())
    for name, rec in cpu["rows"].items():
        if "eval_steps" in rec:  # the recorded interval is the one its dev curve shows
            assert [s for s, _ in rec["runs"][0]["dev_curve"]] == [15, 30], name
            assert rec["eval_steps"] == 15, name


def test_bad_reproduce_arguments_are_refused_before_any_work(tmp_path, capsys, monkeypatch):
    import simcse.experiments.reproduce as R

    monkeypatch.setattr(R.RunSetup, "create", lambda *a, **k: pytest.fail("work started"))
    for argv, message in [
        (["--set", "temp"], "--set expects FLAG=VALUE, got 'temp'"),
        (["--set", "tmep=0.1"], "--set: no train.py flag named tmep"),
        (["--only", "no training mean pooling"], "--only: no row named 'no training mean pooling'"),
        (["--eval_steps", "0"], "--eval_steps must be a positive integer, got 0"),
    ]:
        assert _exit_status(["--preset", "cpu", "--output", str(tmp_path / "r.json"), *argv]) == 2
        assert message in capsys.readouterr().err
    # ... and without a command line
    for kwargs, message in [({"overrides": {"tmep": 0.1}}, "no train.py flag named tmep"),
                            ({"only": ["nope"]}, "--only: no row named 'nope'"),
                            ({"groups": ["main", "extra"]}, "groups: no group 'extra'")]:
        with pytest.raises(ValueError, match=message):
            R.reproduce_table(tmp_path / "r.json", preset="cpu", **kwargs)


def test_merge_never_replaces_a_file_and_names_conflicts(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_res([42])))
    b.write_text(json.dumps(_res([43], device="A100")))
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    assert main(["--merge", str(a), str(a), "--output", str(notes)]) == 2
    assert "exists; --merge writes a new file" in capsys.readouterr().err and notes.read_text() == "mine"
    assert main(["--merge", str(a), str(b), "--output", str(tmp_path / "m.json")]) == 2
    assert re.search("simcse reproduce: error: cannot merge .*b.json: device 'A100'", capsys.readouterr().err)
    assert not (tmp_path / "m.json").exists()


def test_work_dir_with_files_of_the_users_is_refused(data_dir, tmp_path):
    from simcse.experiments.reproduce import RunSetup

    work = tmp_path / "w"
    work.mkdir()
    (work / "wiki.txt").write_text("MY OWN wiki notes")
    with pytest.raises(ValueError, match="holds files that a reproduce run did not write"):
        RunSetup.create(tmp_path / "r.json", "simcse test", "x-", data_dir=data_dir, preset="cpu", work_dir=work)
    assert (work / "wiki.txt").read_text() == "MY OWN wiki notes"
