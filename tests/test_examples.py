"""Every script in examples/ runs, in a short form, and prints what it promises."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from simcse.experiments.analysis import align_uniform, stsb_analysis_data
from simcse.defaults import bundled_corpus

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def run_example(name: str, *args: str, data_dir: Path | None = None, timeout: int = 600) -> str:
    """Run examples/NAME with ARGS; return its stdout (the test fails with stderr on a non-zero exit)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    if data_dir is not None:
        env["SIMCSE_DATA_DIR"] = str(data_dir)
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True,
                          env=env, timeout=timeout)
    assert proc.returncode == 0, f"{name} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout


@pytest.mark.slow
def test_quickstart():
    out = run_example("quickstart.py").splitlines()
    assert out[0] == "embeddings: (2, 384)"
    related, unrelated = (float(line.split()[-1]) for line in out[1:3])
    assert related > 0.7 and unrelated < 0.3
    assert out[3].endswith("A man is playing a guitar on stage.") and out[3].startswith("search:")


@pytest.mark.slow
def test_semantic_search_builds_then_loads_its_index(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(bundled_corpus().read_text(encoding="utf-8").splitlines()[:50]) + "\n")
    index = tmp_path / "index"
    args = ["--corpus", str(corpus), "--index", str(index), "--top_k", "2"]
    out = run_example("semantic_search.py", *args, "My card was refused in a shop.", "Is it going to rain tomorrow?")
    assert f"built and saved to {index}" in out
    blocks = out.split("\n\n")
    assert blocks[1].splitlines()[1].endswith("My card payment was declined at the supermarket.")
    assert blocks[2].splitlines()[1].endswith("Heavy rain is expected across the north of the country tomorrow.")
    out = run_example("semantic_search.py", *args, "A kitten naps by the window.")
    assert f"loaded from {index}" in out
    assert out.split("\n\n")[1].splitlines()[1].endswith("A cat is sleeping on the windowsill in the sun.")


TOPICS = {
    "cooking": ["Chop the onions and fry them in butter.", "Bake the bread for forty minutes.",
                "Stir the soup and add a pinch of salt.", "The recipe needs two eggs and some flour."],
    "weather": ["It will rain all day tomorrow.", "A heavy snowstorm is coming this weekend.",
                "The sky is clear and the sun is shining.", "Strong winds are expected on the coast."],
    "accounts": ["I forgot my password and cannot sign in.", "How do I reset my login password?",
                 "My account was locked after three failed logins.", "Change your password in the settings."],
}


@pytest.mark.slow
@pytest.mark.parametrize("method", ["kmeans", "agglomerative"])
def test_clustering_recovers_topics(tmp_path, method):
    sentences = [s for group in TOPICS.values() for s in group]
    file = tmp_path / "sentences.txt"
    file.write_text("\n".join(sentences[::-1]) + "\n")
    out_json = tmp_path / "clusters.json"
    out = run_example("clustering.py", "--file", str(file), "--n_clusters", "3", "--method", method,
                      "--json", str(out_json))
    assert out.count("cluster ") == 3 and "(4 sentences)" in out
    clusters = [set(c["sentences"]) for c in json.loads(out_json.read_text())]
    assert sorted(map(sorted, clusters)) == sorted(sorted(g) for g in TOPICS.values())


@pytest.mark.slow
def test_alignment_uniformity_of_models(tmp_path, data_dir, tiny_bert_path, minilm):
    # a name without a suffix gets .png; folders that do not exist yet are made
    png, js = tmp_path / "plots" / "plot.png", tmp_path / "numbers" / "points.json"
    out = run_example("alignment_uniformity.py", str(tiny_bert_path), "default", "--max_pairs", "60",
                      "--max_sentences", "200", "--output", str(png.with_suffix("")), "--json", str(js),
                      data_dir=data_dir)
    assert "STS-B dev: 60 positive pairs" in out and png.read_bytes()[:4] == b"\x89PNG"
    assert f"plot: {png}" in out
    points = json.loads(js.read_text())
    assert [p["label"] for p in points] == [tiny_bert_path.name, "all-MiniLM-L6-v2"]
    expected = align_uniform(minilm, stsb_analysis_data(data_dir, "dev", 4.0, 60, 200))
    assert points[1]["align"] == pytest.approx(expected["align"], abs=1e-4)
    assert points[1]["uniform"] == pytest.approx(expected["uniform"], abs=1e-4)
    # a random small BERT maps every sentence to nearly the same point: perfectly "aligned", not uniform
    assert points[0]["uniform"] > -0.1 > points[1]["uniform"]


def _example_error(name: str, *args: str) -> str:
    """Run examples/NAME expecting a usage error (exit 2); return its stderr."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    return proc.stderr


@pytest.mark.slow
def test_example_outputs_are_checked_before_any_work(tmp_path):
    mine = tmp_path / "mine.json"
    mine.write_text('{"my": "results"}')
    err = _example_error("alignment_uniformity.py", "default", "--output", str(tmp_path / "p.png"), "--json", str(mine))
    assert f"--json '{mine}' exists; pass --overwrite to replace it" in err
    err = _example_error("alignment_uniformity.py", "default", "--output", str(tmp_path / "x.json"))
    assert "'.json' is not an image format" in err
    err = _example_error("alignment_uniformity.py", "default", "--output", str(mine.with_suffix(".png")), "--json",
                         str(mine.with_suffix(".png")))
    assert "is the --output plot" in err
    err = _example_error("alignment_uniformity.py", "--run_dir", str(tmp_path / "no_run"))
    assert f"--run_dir '{tmp_path / 'no_run'}' is not a folder" in err and "Traceback" not in err
    corpus = tmp_path / "s.txt"
    corpus.write_text("one\ntwo\n")
    err = _example_error("clustering.py", "--file", str(corpus), "--json", str(mine))
    assert f"--json '{mine}' exists; pass --overwrite" in err
    err = _example_error("clustering.py", "--file", str(corpus), "--json", str(corpus), "--overwrite")
    assert "is the --file it reads" in err
    assert mine.read_text() == '{"my": "results"}' and corpus.read_text() == "one\ntwo\n"


@pytest.fixture(scope="module")
def unsup_run(tmp_path_factory, data_dir, tiny_bert_path) -> tuple[Path, str]:
    """A 4-step unsupervised run of the tiny BERT (checkpoints at steps 2 and 4) and its output."""
    out_dir = tmp_path_factory.mktemp("unsup") / "run"
    out = run_example("train_unsup.py", "--model", str(tiny_bert_path), "--pooler_type", "cls", "--mlp_only_train",
                      "--output_dir", str(out_dir), "--limit", "64", "--max_steps", "4", "--batch_size", "8",
                      "--save_steps", "2", "--eval_tasks", "STSBenchmark", "--eval_mode", "dev", data_dir=data_dir)
    return out_dir, out


def _score_table(out: str) -> dict[str, float]:
    rows = out.split("Spearman x100\n")[1].splitlines()[1:]
    return {r.split()[0]: float(r.split()[1]) for r in rows}


@pytest.mark.slow
def test_train_unsup_trains_saves_and_evaluates(unsup_run):
    out_dir, out = unsup_run
    assert "trained 4 steps" in out and (out_dir / "checkpoint-2" / "config.json").is_file()
    scores = _score_table(out)
    assert set(scores) == {"start", "trained"} and all(0 < v < 100 for v in scores.values())
    assert scores["start"] != scores["trained"]


@pytest.mark.slow
def test_alignment_uniformity_of_a_training_run(unsup_run, data_dir, tmp_path):
    out_dir, _ = unsup_run
    js = tmp_path / "points.json"
    out = run_example("alignment_uniformity.py", "--run_dir", str(out_dir), "--max_pairs", "40",
                      "--max_sentences", "100", "--output", str(tmp_path / "run.png"), "--json", str(js),
                      data_dir=data_dir)
    # the final model is checkpoint-4 (4 steps, saved every 2): drawn once
    assert [p["label"] for p in json.loads(js.read_text())] == ["step 2", "step 4"]
    assert "step 2" in out and "step 4" in out and "final" not in out


@pytest.mark.slow
def test_train_sup_on_snli_triplets(tmp_path, data_dir, tiny_bert_path):
    out = run_example("train_sup.py", "--model", str(tiny_bert_path), "--pooler_type", "cls",
                      "--output_dir", str(tmp_path / "run"), "--limit", "48", "--max_steps", "3", "--batch_size", "8",
                      "--save_steps", "100", "--eval_tasks", "STSBenchmark", "--eval_mode", "dev", data_dir=data_dir)
    assert "training on 48 rows" in out and "trained 3 steps" in out
    assert set(_score_table(out)) == {"start", "trained"}
    assert (tmp_path / "run" / "simcse_config.json").is_file()


def test_run_checkpoints_order_and_final(tmp_path):
    sys.path.insert(0, str(EXAMPLES))
    try:
        from alignment_uniformity import run_checkpoints
    finally:
        sys.path.remove(str(EXAMPLES))
    run = tmp_path / "run"
    for step in (10, 2, 100):
        (run / f"checkpoint-{step}").mkdir(parents=True)
        (run / f"checkpoint-{step}" / "model.safetensors").write_bytes(b"w%d" % step)
    (run / "checkpoint-best").mkdir()  # not a step: ignored
    (run / "config.json").write_text("{}")
    (run / "model.safetensors").write_bytes(b"w100")
    assert [p.name for p in run_checkpoints(run)] == ["checkpoint-2", "checkpoint-10", "checkpoint-100"]
    (run / "model.safetensors").write_bytes(b"best weights")  # e.g. --load_best_model_at_end
    assert [p.name for p in run_checkpoints(run)][-2:] == ["checkpoint-100", "run"]
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        run_checkpoints(tmp_path)


def _import_example(name: str):
    sys.path.insert(0, str(EXAMPLES))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(EXAMPLES))


@pytest.mark.parametrize("columns", [2, 3])
def test_train_sup_reads_a_csv_of_pairs_or_triplets_row_by_row(tmp_path, columns):
    from simcse.training.data import read_training_file

    training_csv = _import_example("train_sup").training_csv
    rows = [[f"Anchor sentence {i}.", f"Its positive {i}.", f"A hard negative {i}."][:columns] for i in range(5)]
    src = tmp_path / "pairs.csv"
    src.write_text(",".join(["sent0", "sent1", "hard_neg"][:columns]) + "\n"
                   + "".join(",".join(r) + "\n" for r in rows), encoding="utf-8")
    (tmp_path / "work").mkdir()
    out, n = training_csv(src, None, tmp_path / "work")
    assert n == 5 and [list(r) for r in zip(*read_training_file(out))] == rows
    out, n = training_csv(src, 3, tmp_path / "work")  # --limit: the first rows
    assert n == 3 and [list(r) for r in zip(*read_training_file(out))] == rows[:3]


def test_semantic_search_rebuilds_an_index_of_another_model_and_refuses_a_folder_of_other_files(
        tmp_path, minilm_path, tiny_bert_path, capsys, monkeypatch):
    example = _import_example("semantic_search")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("A cat sleeps in the sun.\nStocks fell sharply today.\nIt will rain tomorrow.\n")
    index = tmp_path / "index"
    args = ["--corpus", str(corpus), "--index", str(index), "--top_k", "1", "A kitten naps."]
    assert example.main(["--model", str(minilm_path), *args]) == 0
    assert f"built and saved to {index}" in capsys.readouterr().out
    # the same folder with another model: rebuilt (and saved) for that model, not a crash
    assert example.main(["--model", str(tiny_bert_path), *args]) == 0
    out = capsys.readouterr()
    assert "cannot reuse the index" in out.err and f"built and saved to {index}" in out.out
    assert example.main(["--model", str(tiny_bert_path), *args]) == 0
    assert f"loaded from {index}" in capsys.readouterr().out
    # a folder of the user's own files is refused before the model loads or the corpus is encoded
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    monkeypatch.setattr(example, "SimCSE", lambda *a, **k: pytest.fail("the model was loaded first"))
    with pytest.raises(SystemExit) as exc:
        example.main(["--corpus", str(corpus), "--index", str(mine), "a query"])
    assert exc.value.code == 2 and "'" + str(mine) + "' is not empty" in capsys.readouterr().err
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    assert (mine / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("limit", ["0", "-5"])
@pytest.mark.parametrize("name, attr, args", [
    ("train_unsup", "train", ["--output_dir", "unused"]),
    ("train_sup", "train", ["--output_dir", "unused"]),
    ("clustering", "SimCSE", []),
])
def test_limit_must_be_a_positive_integer(tmp_path, capsys, monkeypatch, data_dir, name, attr, args, limit):
    # --limit 0 trained on the whole file (11,913 Wikipedia sentences instead of none), a negative
    # limit on all but the last lines, and clustering failed with "Sample larger than population"
    example = _import_example(name)
    monkeypatch.setenv("SIMCSE_DATA_DIR", str(data_dir))
    monkeypatch.setattr(example, attr, lambda *a, **k: pytest.fail(f"--limit {limit} was accepted"))
    with pytest.raises(SystemExit) as exc:
        example.main([*args, "--limit", limit])
    assert exc.value.code == 2
    assert f"argument --limit: expected a positive integer, got '{limit}'" in capsys.readouterr().err


@pytest.mark.parametrize("name, attr, flag", [
    ("clustering", "SimCSE", "--n_clusters"),
    ("clustering", "SimCSE", "--show"),
    ("semantic_search", "SimCSE", "--top_k"),
])
def test_counts_must_be_positive_before_the_model_loads(capsys, monkeypatch, name, attr, flag):
    # --show -1 printed "... and 4 more" under a 3-sentence cluster; --n_clusters 0 and --top_k 0 failed
    # with a traceback after loading the model and encoding the corpus
    example = _import_example(name)
    monkeypatch.setattr(example, attr, lambda *a, **k: pytest.fail(f"{flag} 0 was accepted"))
    for value in ("0", "-1"):
        with pytest.raises(SystemExit) as exc:
            example.main([flag, value, *(["a query"] if name == "semantic_search" else [])])
        assert exc.value.code == 2
        assert f"argument {flag}: expected a positive integer, got '{value}'" in capsys.readouterr().err
