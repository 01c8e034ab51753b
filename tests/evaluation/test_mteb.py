"""MTEB: the adapter, offline task loading, and a results folder mteb itself reads back."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

mteb = pytest.importorskip("mteb")

from simcse.cli.mteb import main  # noqa: E402
from simcse.evaluation import evaluate  # noqa: E402
from simcse.evaluation.mteb import MTEBEncoder, load_task, load_tasks, run  # noqa: E402


@pytest.mark.slow
def test_stsbenchmark_results_read_back_with_our_engine_score(minilm, senteval_dir: Path, tmp_path: Path):
    """STSBenchmark through mteb.evaluate on local data: the JSON mteb reads back has the same main
    score as our engine, and the leaderboard value of all-MiniLM-L6-v2 (82.03)."""
    summary = run(minilm, ["STSBenchmark"], tmp_path, data_dir=senteval_dir, max_length=256)
    assert summary["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    folder = tmp_path / "results" / "sentence-transformers__all-MiniLM-L6-v2" / summary["revision"]
    assert (folder / "model_meta.json").is_file()
    result = mteb.TaskResult.from_disk(folder / "STSBenchmark.json")
    ours = evaluate(minilm, tasks=["STSBenchmark"], data_dir=senteval_dir, max_length=256)
    assert result.get_score() == pytest.approx(ours["tasks"]["STSBenchmark"]["main"], abs=1e-4)
    assert round(100 * result.get_score(), 2) == pytest.approx(82.03, abs=0.01)
    meta = mteb.ResultCache(tmp_path).load_task_result("STSBenchmark", "sentence-transformers/all-MiniLM-L6-v2",
                                                        summary["revision"])
    assert meta is not None and meta.task_name == "STSBenchmark"


def test_adapter_protocol_and_metadata(tiny_bert_path):
    from mteb import EncoderProtocol

    enc = MTEBEncoder(str(tiny_bert_path), batch_size=8)
    assert isinstance(enc, EncoderProtocol)
    meta = enc.mteb_model_meta
    assert meta.name == f"local/{tiny_bert_path.name}" and meta.embed_dim == 32
    assert meta.n_parameters > 0 and meta.similarity_fn_name.value == "cosine" and meta.revision.startswith("local-")
    batches = [{"text": ["a cat", "a dog"]}, {"text": ["a cat"]}]
    out = enc.encode(batches, task_metadata=None, hf_split="test", hf_subset="default")
    assert out.shape == (3, 32) and out.dtype == np.float32
    np.testing.assert_allclose(out[0], out[2])


def test_offline_tasks_have_mteb_columns_and_sizes(senteval_dir: Path, data_dir: Path):
    sick = load_task("SICK-R", senteval_dir)
    assert sick.data_loaded and sick.dataset["default"]["test"].num_rows == 9927
    assert sick.dataset["default"]["test"].column_names == ["sentence1", "sentence2", "score"]
    sts12 = load_task("STS12", senteval_dir)
    assert sts12.dataset["default"]["test"].num_rows == 3108
    bank = load_task("Banking77Classification", mteb_data_dir=data_dir / "mteb")
    assert bank.dataset["default"]["train"].num_rows == 10003 and bank.dataset["default"]["test"].num_rows == 3080
    assert len(set(bank.dataset["default"]["test"]["label"])) == 77
    amazon = load_task("AmazonCounterfactualClassification", mteb_data_dir=data_dir / "mteb")
    assert amazon.hf_subsets == ["en"]
    assert {k: v.num_rows for k, v in amazon.dataset["en"].items()} == {"train": 4018, "validation": 335, "test": 670}


def test_nan_model_fails_clearly(tiny_bert_path):
    import torch

    enc = MTEBEncoder(str(tiny_bert_path))
    with torch.no_grad():
        enc.encoder.backbone.embeddings.word_embeddings.weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="non-finite"):
        enc.encode([{"text": ["a sentence"]}], task_metadata=None, hf_split="test", hf_subset="default")


def test_cli_bad_inputs(tiny_bert_path, tmp_path: Path, capsys):
    rc = main(["--model", str(tiny_bert_path), "--tasks", "STS12", "--data_dir", str(tmp_path),
               "--output_folder", str(tmp_path / "out")])
    assert rc == 2 and "STS.input.MSRpar.txt" in capsys.readouterr().err
    rc = main(["--model", str(tiny_bert_path), "--tasks", "NoSuchTask", "--output_folder", str(tmp_path / "out")])
    assert rc == 2 and "NoSuchTask" in capsys.readouterr().err


@pytest.mark.parametrize("revision", ["../../x", "refs/pr/1", "a\\b", "..", ".", " "])
def test_a_revision_that_is_not_one_folder_name_is_refused(tiny_bert_path, tmp_path: Path, capsys, revision):
    """mteb files results under results/<model>/<revision>/: '../..' would write outside it."""
    rc = main(["--model", str(tiny_bert_path), "--tasks", "STS16", "--output_folder", str(tmp_path / "o"),
               "--revision", revision])
    assert rc == 2 and f"revision {revision!r} cannot name the results folder" in capsys.readouterr().err
    assert not any(tmp_path.rglob("*.json"))
    assert MTEBEncoder(str(tiny_bert_path), revision="v1.0").mteb_model_meta.revision == "v1.0"


def test_missing_mteb_data_names_the_mteb_settings(tmp_path: Path, monkeypatch):
    """Banking77 / AmazonCounterfactual come from the MTEB data folder: a missing file's error names
    that folder's settings, not SentEval's --data_dir (which does not move it)."""
    monkeypatch.delenv("SIMCSE_MTEB_DATA_DIR", raising=False)
    for task, missing in (("Banking77Classification", "Banking77/train.csv"),
                          ("AmazonCounterfactualClassification", "AmazonCounterfactual/EN_train.tsv")):
        with pytest.raises(FileNotFoundError) as err:
            load_task(task, mteb_data_dir=tmp_path / "mteb")
        msg = str(err.value)
        assert str(tmp_path / "mteb" / missing) in msg
        assert "--mteb_data_dir" in msg and "SIMCSE_MTEB_DATA_DIR" in msg
        assert "SentEval" not in msg and "--data_dir" not in msg.replace("--mteb_data_dir", "")


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_mteb_csv_with_missing_columns_fails_clearly(tiny_bert_path, tmp_path: Path, capsys):
    """A data file without the columns we read gives an error naming the file, the missing column(s)
    and the columns it has (not a KeyError traceback)."""
    mteb_dir = tmp_path / "mteb"
    train = _write(mteb_dir / "Banking77" / "train.csv", "text,label\nwhere is my card?,card_arrival\n")
    _write(mteb_dir / "Banking77" / "test.csv", "text,category\nwhere is my card?,card_arrival\n")
    rc = main(["--model", str(tiny_bert_path), "--tasks", "Banking77Classification", "--mteb_data_dir",
               str(mteb_dir), "--output_folder", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and str(train) in err
    assert "lacks column(s) 'category'" in err and "header row has 'text', 'label'" in err

    tsv = _write(mteb_dir / "AmazonCounterfactual" / "EN_train.tsv", "text\tlabel\nIt could have been better.\t1\n")
    with pytest.raises(ValueError) as exc:
        load_task("AmazonCounterfactualClassification", mteb_data_dir=mteb_dir)
    msg = str(exc.value)
    assert str(tsv) in msg and "'sentence', 'is_counterfactual'" in msg and "header row has 'text', 'label'" in msg

    _write(mteb_dir / "AmazonCounterfactual" / "EN_train.tsv", "")
    with pytest.raises(ValueError, match="no columns \\(empty file\\)"):
        load_task("AmazonCounterfactualClassification", mteb_data_dir=mteb_dir)

    _write(mteb_dir / "AmazonCounterfactual" / "EN_train.tsv", "sentence\tis_counterfactual\nIt could be.\tyes\n")
    with pytest.raises(ValueError, match="EN_train.tsv': is_counterfactual must be 0 or 1; got 'yes' for 'It could be.'"):
        load_task("AmazonCounterfactualClassification", mteb_data_dir=mteb_dir)

    _write(mteb_dir / "Banking77" / "train.csv", "text,category\nwhere is my card?,card_arrival\nno category\n")
    with pytest.raises(ValueError, match="train.csv' line 3: no value for column\\(s\\) 'category'"):
        load_task("Banking77Classification", mteb_data_dir=mteb_dir)

    _write(mteb_dir / "Banking77" / "train.csv", "text,category\nwhere is my card?,card_lost\n")
    _write(mteb_dir / "Banking77" / "categories.json", '["card_arrival"]')
    with pytest.raises(ValueError, match="'card_lost'.*categories.json"):
        load_task("Banking77Classification", mteb_data_dir=mteb_dir)


def test_benchmark_keeps_its_own_task_filtering(senteval_dir: Path, data_dir: Path):
    """--benchmark evaluates the benchmark's own task objects: mteb's MTEB(eng, v2) keeps only the
    English subset and the test split of multilingual tasks, and the tasks we fill from local files
    keep that filtering too (filled on a copy: mteb's shared benchmark object is left unloaded)."""
    bench = mteb.get_benchmark("MTEB(eng, v2)")
    wanted = {t.metadata.name: (list(t.eval_splits), list(t.hf_subsets)) for t in bench.tasks}
    # the filtering this test is about (mteb's full task has more splits / subsets)
    assert wanted["MassiveIntentClassification"] == (["test"], ["en"])
    assert len(mteb.get_task("MassiveIntentClassification").hf_subsets) > 1
    assert wanted["AmazonCounterfactualClassification"] == (["test"], ["en"])
    assert "validation" in mteb.get_task("AmazonCounterfactualClassification").eval_splits

    tasks = load_tasks(["MassiveIntentClassification", "STS16"], senteval_dir, data_dir / "mteb",
                       benchmark="MTEB(eng, v2)")
    names = [t.metadata.name for t in tasks]
    assert names[:2] == ["MassiveIntentClassification", "STS16"] and len(names) == len(set(names))
    assert set(names) == set(wanted) | {"STS16"}
    got = {t.metadata.name: (list(t.eval_splits), list(t.hf_subsets)) for t in tasks}
    assert {n: got[n] for n in wanted} == wanted
    by_name = {t.metadata.name: t for t in tasks}
    amazon = by_name["AmazonCounterfactualClassification"]
    assert amazon.data_loaded and amazon.dataset["en"]["test"].num_rows == 670
    assert by_name["STS12"].data_loaded and by_name["STS12"].dataset["default"]["test"].num_rows == 3108
    assert not any(t.data_loaded for t in bench.tasks)


def test_changed_pooler_or_length_is_not_filed_as_the_published_model(minilm):
    """--pooler / --max_length other than the folder's change the embeddings: the results must not be
    written as (and over) the published model's at its revision; a length beyond the model's
    positions is refused instead of being recorded as max_tokens."""
    from simcse import SimCSE

    plain = MTEBEncoder(minilm).mteb_model_meta
    assert plain.name == "sentence-transformers/all-MiniLM-L6-v2" and plain.max_tokens == 256
    assert MTEBEncoder(minilm, max_length=256).mteb_model_meta.revision == plain.revision  # the folder's own
    cls = MTEBEncoder(SimCSE(minilm.model_name_or_path, device="cpu", pooler="cls")).mteb_model_meta
    assert cls.name == "local/all-MiniLM-L6-v2-pooler-cls" and cls.revision.endswith("-pooler-cls")
    short = MTEBEncoder(minilm, max_length=64).mteb_model_meta
    assert short.name == "local/all-MiniLM-L6-v2-maxlen-64" and short.max_tokens == 64
    named = MTEBEncoder(minilm, name="me/my-model", max_length=64).mteb_model_meta
    assert named.name == "me/my-model" and named.revision.endswith("-maxlen-64") and named.revision != plain.revision
    with pytest.raises(ValueError, match="max_length=100000 is out of range"):
        MTEBEncoder(minilm, max_length=100000)


def test_a_users_summary_json_in_the_output_folder_is_never_replaced(tiny_bert_path, senteval_dir: Path,
                                                                      tmp_path: Path, capsys):
    """--output_folder may be a folder of the user's: a summary.json there that this command did not write
    is refused before the run (it was silently replaced); our own summary is updated on a rerun."""
    out = tmp_path / "mine"
    out.mkdir()
    (out / "summary.json").write_text('{"my": "notes"}\n')
    base = ["--model", str(tiny_bert_path), "--tasks", "STS16", "--data_dir", str(senteval_dir)]
    assert main([*base, "--output_folder", str(out)]) == 2
    assert str(out / "summary.json") in capsys.readouterr().err
    assert (out / "summary.json").read_text() == '{"my": "notes"}\n' and not (out / "results").exists()
    fresh = tmp_path / "fresh"
    assert main([*base, "--output_folder", str(fresh)]) == 0 and main([*base, "--output_folder", str(fresh)]) == 0
    assert "STS16" in json.loads((fresh / "summary.json").read_text())["scores"]
    (tmp_path / "afile").write_text("x")
    assert main([*base, "--output_folder", str(tmp_path / "afile")]) == 2
    assert "is a file" in capsys.readouterr().err


def test_pooler_variant_is_judged_by_the_embeddings_of_an_mlp_only_train_folder(tmp_path, tiny_bert_path):
    """An unsupervised SimCSE folder (--mlp_only_train) embeds before its MLP: --pooler cls_before_pooler
    gives its own embeddings (filed as the model's), --pooler cls adds the MLP (a variant)."""
    import torch

    from simcse import SimCSE
    from simcse.training.trainer import load_encoder_for_training

    encoder, _ = load_encoder_for_training(str(tiny_bert_path), pooler_type="cls", mlp_only_train=True)
    torch.nn.init.normal_(encoder.mlp.dense.weight, std=0.3)
    encoder.save_pretrained(tmp_path / "unsup")
    own = MTEBEncoder(SimCSE(str(tmp_path / "unsup"), device="cpu")).mteb_model_meta
    same = MTEBEncoder(SimCSE(str(tmp_path / "unsup"), device="cpu", pooler="cls_before_pooler")).mteb_model_meta
    with_mlp = MTEBEncoder(SimCSE(str(tmp_path / "unsup"), device="cpu", pooler="cls")).mteb_model_meta
    assert (same.name, same.revision) == (own.name, own.revision) and "pooler" not in own.revision
    assert with_mlp.name == "local/unsup-pooler-cls" and with_mlp.revision == own.revision + "-pooler-cls"
