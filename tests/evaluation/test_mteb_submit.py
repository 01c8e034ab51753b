"""MTEB with prompts, equal to mteb's own sentence-transformers wrapper, and a submission the results
repository's checks accept."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

mteb = pytest.importorskip("mteb")

from simcse import SimCSE  # noqa: E402
from simcse.cli.mteb import main  # noqa: E402
from simcse.evaluation.mteb import PROVENANCE_FILE, load_prompts, load_tasks, run  # noqa: E402
from simcse.evaluation.mteb_submit import check_results_folder, submit  # noqa: E402
from simcse.formats.sentence_transformers import write_prompts  # noqa: E402

PROMPTS = {"query": "query: ", "document": "passage: ", "STS": "Retrieve semantically similar text: ",
           "Classification": "Classify the sentiment of a review: "}
SHA = "0123456789abcdef0123456789abcdef01234567"
TASKS = ["STS16", "AmazonCounterfactualClassification"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory, tiny_bert_path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("mteb_models")
    SimCSE(str(tiny_bert_path), device="cpu", pooler="avg").encoder.save_pretrained(root / "plain")
    SimCSE(str(tiny_bert_path), device="cpu", pooler="avg").encoder.save_pretrained(root / "prompted")
    write_prompts(root / "prompted", PROMPTS)
    return {"plain": root / "plain", "prompted": root / "prompted"}


def _theirs(folder: Path, senteval_dir: Path, data_dir: Path, model_prompts=None) -> dict[str, float]:
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper

    wrapper = SentenceTransformerEncoderWrapper(str(folder), device="cpu", model_prompts=model_prompts)
    res = mteb.evaluate(wrapper, load_tasks(TASKS, senteval_dir, data_dir / "mteb"), cache=None,
                        show_progress_bar=False, encode_kwargs={"batch_size": 64})
    return {r.task_name: r.get_score() for r in res.task_results}


def _ours(summary: dict) -> dict[str, float]:
    return {t: s["test"] for t, s in summary["scores"].items()}


@pytest.fixture
def quick_classification(monkeypatch):
    """mteb's classification tasks fit 10 classifiers per split on undersampled training data, most of the
    time going to its row-by-row label handling: for the comparison 2 on the test split, drawn from 400
    training rows, are enough (both sides evaluate the very same task objects)."""
    import simcse.evaluation.mteb as ours

    real = ours.load_task

    def load_task(*args, **kwargs):
        task = real(*args, **kwargs)
        if task.metadata.type == "Classification":
            task.n_experiments = 2
            task.metadata = task.metadata.model_copy(update={"eval_splits": ["test"]})
            for subset in task.dataset.values():  # the classifiers see 32 examples per label anyway
                subset["train"] = subset["train"].select(range(400))
        return task

    monkeypatch.setattr(ours, "load_task", load_task)


@pytest.mark.slow
def test_scores_equal_mtebs_sentence_transformers_wrapper_with_and_without_prompts(
        folders, senteval_dir: Path, data_dir: Path, tmp_path: Path, quick_classification):
    """On the same folder our scores equal mteb's SentenceTransformerEncoderWrapper's (1e-4) on an STS
    and a classification task: without prompts, with the folder's prompts, and with a prompts file;
    the prompts change the scores."""
    kw = dict(data_dir=senteval_dir, mteb_data_dir=data_dir / "mteb", batch_size=64)
    plain = _ours(run(str(folders["plain"]), TASKS, tmp_path / "a", **kw))
    prompted = _ours(run(str(folders["prompted"]), TASKS, tmp_path / "b", **kw))
    file_prompts = {"STS16": "Find a sentence with the same meaning: ", "Classification-query": "unused: ",
                    "Classification": "Is this counterfactual? "}
    from_file = _ours(run(str(folders["plain"]), TASKS, tmp_path / "c", prompts=file_prompts, **kw))
    for ours, theirs in ((plain, _theirs(folders["plain"], senteval_dir, data_dir)),
                         (prompted, _theirs(folders["prompted"], senteval_dir, data_dir)),
                         (from_file, _theirs(folders["plain"], senteval_dir, data_dir, file_prompts))):
        assert set(ours) == set(TASKS)
        for task in TASKS:
            assert ours[task] == pytest.approx(theirs[task], abs=1e-4), task
    print("scores (plain, folder prompts, file prompts):", plain, prompted, from_file)
    for task in TASKS:
        assert abs(prompted[task] - plain[task]) > 1e-3 and abs(from_file[task] - plain[task]) > 1e-3, task


def test_prompts_file_with_unknown_keys_is_refused(tmp_path: Path, capsys):
    bad = tmp_path / "p.json"
    for content, expected in (({"STS61": "x"}, "'STS61' is not an MTEB task name, task type or prompt type (did you mean"),
                              ({"STS12-querry": "x"}, "'STS12-querry' is not an MTEB task name"),
                              ({"Banking77-query": "x"}, "'Banking77' in 'Banking77-query' is not an MTEB task name"),
                              ({"query": 3}, "must be a JSON object mapping names to prompt texts")):
        bad.write_text(json.dumps(content))
        with pytest.raises(ValueError, match=expected.replace("(", "\\(")):
            load_prompts(bad)
    good = {"STS12": "a: ", "STS-query": "b: ", "document": "c: ", "Banking77Classification-query": "d: "}
    bad.write_text(json.dumps(good))
    assert load_prompts(bad) == good
    bad.write_text("{not json")
    assert main(["--tasks", "STS16", "--prompts", str(bad), "--output_folder", str(tmp_path / "o")]) == 2
    assert "is not valid JSON" in capsys.readouterr().err


def test_unknown_task_and_benchmark_names_suggest_the_nearest(tmp_path: Path, capsys):
    assert main(["--tasks", "STSBenchmrk", "--output_folder", str(tmp_path / "o")]) == 2
    assert "unknown MTEB task 'STSBenchmrk' (did you mean 'STSBenchmark'" in capsys.readouterr().err
    assert main(["--benchmark", "MTEB(eng, v3)", "--output_folder", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "unknown MTEB benchmark 'MTEB(eng, v3)' (did you mean" in err and "MTEB(eng, v2)" in err


def test_a_name_without_organization_is_refused_before_the_run(folders, tmp_path: Path, capsys):
    assert main(["--model", str(folders["plain"]), "--tasks", "STS16", "--name", "tiny-simcse",
                 "--output_folder", str(tmp_path / "o")]) == 2
    assert "--name 'tiny-simcse' must be 'organization/model_name'" in capsys.readouterr().err
    assert not (tmp_path / "o" / "results").exists()


@pytest.fixture(scope="module")
def run_folder(folders, senteval_dir: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "out"
    rc = main(["--model", str(folders["prompted"]), "--tasks", "STS16", "--data_dir", str(senteval_dir),
               "--output_folder", str(out), "--name", "my-org/tiny-simcse", "--revision", SHA])
    assert rc == 0
    return out


def test_run_records_provenance_not_the_hub_revision(run_folder: Path):
    prov = json.loads((run_folder / PROVENANCE_FILE).read_text())
    src = prov["tasks"]["STS16"]
    assert src["from_local_copy"] is True and src["verified_against_hub"] is False
    assert all(len(f["sha256"]) == 64 and Path(f["path"]).is_file() for f in src["files"]) and len(src["files"]) == 10
    result = json.loads((run_folder / "results" / "my-org__tiny-simcse" / SHA / "STS16.json").read_text())
    assert result["dataset_revision"] == src["data_revision"] != src["hub_revision"]
    meta = json.loads((run_folder / "results" / "my-org__tiny-simcse" / SHA / "model_meta.json").read_text())
    assert meta["loader"] == "SentenceTransformerEncoderWrapper" and meta["use_instructions"] is True
    assert meta["public_training_code"] is None and meta["similarity_fn_name"] == "cosine"


def test_submission_passes_the_results_repository_checks(run_folder: Path, folders, tmp_path: Path, capsys):
    """submit writes results/<org>__<model>/<sha>/ that passes the results repository's checks and loads
    through mteb once our registry entry is registered, and a registry entry whose loader is mteb's
    sentence-transformers wrapper (mteb.get_model works on it)."""
    sub = tmp_path / "sub"
    args = ["submit", "--output_folder", str(run_folder), "--submission", str(sub), "--model", str(folders["prompted"]),
            "--license", "mit", "--release_date", "2026-12-01", "--languages", "eng-Latn",
            "--reference", "https://huggingface.co/my-org/tiny-simcse"]
    assert main(args) == 2  # local data, not verified
    assert "--accept_local_data" in capsys.readouterr().err and not (sub / "results").exists()
    assert main([*args, "--accept_local_data"]) == 0
    out = capsys.readouterr().out
    assert "embeddings-benchmark/results" in out and "model_implementations" in out
    rev = sub / "results" / "my-org__tiny-simcse" / SHA
    assert sorted(p.name for p in rev.iterdir()) == ["STS16.json", "model_meta.json", "run_settings.jsonl"]
    assert check_results_folder(sub / "results") == []
    raw = json.loads((rev / "model_meta.json").read_text())
    from mteb.models.model_meta import ModelMeta

    assert ModelMeta.model_validate({**raw, "loader": None}).name == "my-org/tiny-simcse"
    assert json.loads((rev / "STS16.json").read_text())["dataset_revision"] == mteb.get_task("STS16").metadata.dataset["revision"]
    assert json.loads((sub / "simcse_submission.json").read_text())["tasks"]["STS16"]["accepted_by_user"]

    # the registry entry, registered in this process as mteb's registry would hold it
    from mteb.models.model_implementations import MODEL_REGISTRY

    namespace: dict = {}
    exec((sub / "my_org__tiny_simcse.py").read_text(), namespace)
    entry = namespace["tiny_simcse"]
    assert entry.name == "my-org/tiny-simcse" and entry.revision == SHA and entry.license == "mit"
    MODEL_REGISTRY[entry.name] = entry
    try:
        assert entry.name in {m.name for m in mteb.get_model_metas()}  # "model implemented in mteb"
        loaded = mteb.ResultCache(sub).load_results(models=[entry.name], require_model_meta=True)
        [model_result] = loaded.model_results
        assert model_result.model_name == entry.name and model_result.task_results[0].task_name == "STS16"
        wrapper = entry.loader(str(folders["prompted"]), revision=None, **entry.loader_kwargs)
        assert wrapper.model_prompts == PROMPTS
    finally:
        del MODEL_REGISTRY[entry.name]


def test_submit_refusals(run_folder: Path, folders, tmp_path: Path, senteval_dir: Path, capsys):
    base = ["submit", "--output_folder", str(run_folder), "--accept_local_data", "--license", "mit",
            "--release_date", "2026-12-01", "--languages", "eng-Latn"]
    cases = [
        (["--submission", str(tmp_path / "a"), "--name", "local/x"], "--name: 'local/x' is a placeholder"),
        (["--submission", str(tmp_path / "b"), "--name", "noorg"], "must be 'organization/model_name'"),
        (["--submission", str(tmp_path / "c"), "--revision", "v1"], "is not a commit hash"),
        (["--submission", str(tmp_path / "d"), "--model", str(folders["plain"])], "weights fingerprint"),
    ]
    for extra, expected in cases:
        assert main([*base, *extra]) == 2
        assert expected in capsys.readouterr().err
    assert main(["submit", "--output_folder", str(run_folder), "--submission", str(tmp_path / "e"),
                 "--accept_local_data"]) == 2
    assert "needs --license, --release_date" in capsys.readouterr().err
    # a run without a revision: the submission asks for it
    out = tmp_path / "norev"
    assert main(["--model", str(folders["plain"]), "--tasks", "STS16", "--data_dir", str(senteval_dir),
                 "--output_folder", str(out)]) == 0
    capsys.readouterr()
    assert main(["submit", "--output_folder", str(out), "--submission", str(tmp_path / "f"), "--name", "o/m",
                 "--accept_local_data", "--license", "mit", "--release_date", "2026-12-01", "--languages", "eng-Latn"]) == 2
    assert "--revision is missing" in capsys.readouterr().err
    # the output folder of another model, or of the same revision from other weights
    assert main(["--model", str(folders["plain"]), "--tasks", "STS16", "--data_dir", str(senteval_dir),
                 "--output_folder", str(run_folder), "--name", "my-org/tiny-simcse", "--revision", SHA]) == 2
    assert "computed from other weights" in capsys.readouterr().err
    assert main(["--model", str(folders["prompted"]), "--tasks", "STS16", "--data_dir", str(senteval_dir),
                 "--output_folder", str(run_folder), "--name", "my-org/other"]) == 2
    assert "holds results of my-org/tiny-simcse" in capsys.readouterr().err


def test_benchmark_runs_what_is_reachable_and_summarises_per_task_type(folders, senteval_dir: Path, tmp_path: Path,
                                                                        monkeypatch, capsys):
    """--benchmark runs the benchmark's tasks whose data can be reached and lists the others; the summary
    has the leaderboard's per-type means, mean over tasks and mean over types, printed and saved."""
    import simcse.evaluation.mteb as ours

    def no_hub(self, *args, **kwargs):
        raise ConnectionError("Couldn't reach the Hugging Face Hub")

    monkeypatch.setattr(ours, "check_benchmark", lambda name: type("B", (), {"tasks": [
        mteb.get_task("STS16"), mteb.get_task("SciFact")]})())
    monkeypatch.setattr(type(mteb.get_task("SciFact")), "load_data", no_hub)
    rc = main(["--model", str(folders["plain"]), "--benchmark", "B", "--tasks", "STS15", "--data_dir",
               str(senteval_dir), "--output_folder", str(tmp_path / "o")])
    out = capsys.readouterr().out
    assert rc == 0, out
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert set(summary["scores"]) == {"STS15", "STS16"} and list(summary["skipped"]) == ["SciFact"]
    by = summary["by_type"]
    sts = [summary["scores"][t]["test"] for t in ("STS15", "STS16")]
    assert by["types"] == {"STS": pytest.approx(sum(sts) / 2)} and by["tasks_per_type"] == {"STS": 2}
    assert by["mean_task"] == pytest.approx(sum(sts) / 2) == by["mean_type"]
    assert "mean (type)" in out and "not run (1 tasks whose data could not be reached): SciFact" in out


def test_type_means_weigh_each_type_once():
    from simcse.evaluation.mteb import summary_table, type_means

    summary = {"model": "o/m", "revision": "r", "scores": {"A": {"test": 0.5}, "B": {"test": 0.7},
                                                          "C": {"validation": 0.2, "test": 0.4}},
               "types": {"A": "STS", "B": "STS", "C": "Classification"}}
    by = type_means(summary)
    assert by["types"] == {"Classification": pytest.approx(0.4), "STS": pytest.approx(0.6)}
    assert by["mean_task"] == pytest.approx((0.5 + 0.7 + 0.4) / 3) and by["mean_type"] == pytest.approx(0.5)
    table = summary_table(summary)
    assert "Classification      1   40.00" in table and "mean (type)         2   50.00" in table


def test_a_revision_other_than_the_hub_snapshots_is_refused(folders, tmp_path: Path, capsys):
    """A model folder that is a hub snapshot has its revision: another --revision would claim other weights."""
    import shutil

    snap = tmp_path / "models--o--m" / "snapshots" / SHA
    shutil.copytree(folders["plain"], snap)
    other = "f" * 40
    assert main(["--model", str(snap), "--tasks", "STS16", "--name", "o/m", "--revision", other,
                 "--output_folder", str(tmp_path / "o")]) == 2
    assert f"--revision '{other}' does not match the model folder: it is the hub snapshot {SHA}" in capsys.readouterr().err


def test_results_of_a_changed_max_length_cannot_be_submitted(folders, senteval_dir: Path, tmp_path: Path, capsys):
    out = tmp_path / "o"
    assert main(["--model", str(folders["plain"]), "--tasks", "STS16", "--data_dir", str(senteval_dir), "--max_length",
                 "32", "--name", "o/m", "--revision", SHA, "--output_folder", str(out)]) == 0
    capsys.readouterr()
    assert main(["submit", "--output_folder", str(out), "--submission", str(tmp_path / "s"), "--accept_local_data",
                 "--license", "mit", "--release_date", "2026-12-01", "--languages", "eng-Latn"]) == 2
    assert "another pooler or max_length than the model folder's own" in capsys.readouterr().err
