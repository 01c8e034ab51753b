"""A probe of bad input through the API and the CLI: every case must give an error of the expected type
whose message names the argument (or flag, or file) and what is allowed, never a raw traceback.

The API cases run on a tiny random BERT; the CLI cases call ``simcse.cli.main(argv)`` in-process and
read its exit status and stderr.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from simcse import SimCSE
from simcse.cli import main as cli_main

CORPUS = ["a cat sits on the mat .", "a dog runs in the park .", "the sun is hot today .", "we read a book ."]


@pytest.fixture(scope="module")
def bare(tiny_bert_path) -> SimCSE:
    """A model with no index."""
    return SimCSE(str(tiny_bert_path), device="cpu")


@pytest.fixture(scope="module")
def indexed(tiny_bert_path) -> SimCSE:
    model = SimCSE(str(tiny_bert_path), device="cpu")
    model.build_index(CORPUS, use_faiss=False)
    return model


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("probe")
    good = d / "good.txt"
    good.write_text("\n".join(CORPUS) + "\n")
    bad_utf8 = d / "latin1.txt"
    bad_utf8.write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    empty = d / "empty.txt"
    empty.write_text("\n  \n")
    folder = d / "a_folder"
    folder.mkdir()
    return {"good": good, "bad_utf8": bad_utf8, "empty": empty, "folder": folder, "missing": d / "nope.txt",
            "dir": d}


# ------------------------------------------------------------------ API: constructor
CTOR = [
    ("device-unknown", {"device": "gpu9"}, ValueError, ["device 'gpu9'", "cpu, cuda"]),
    ("device-tpu", {"device": "tpu"}, ValueError, ["device 'tpu'", "cpu, cuda"]),
    ("device-empty", {"device": ""}, ValueError, ["device ''", "cpu, cuda"]),
    ("device-int", {"device": 3.5}, ValueError, ["device 3.5", "cpu, cuda"]),
    ("device-cuda-index", {"device": "cuda:99"}, ValueError, ["device 'cuda:99'", "cpu"]),
    ("num_cells-0", {"num_cells": 0}, ValueError, ["num_cells", "positive integer", "got 0"]),
    ("num_cells-neg", {"num_cells": -3}, ValueError, ["num_cells", "positive integer"]),
    ("num_cells-float", {"num_cells": 1.5}, ValueError, ["num_cells", "positive integer"]),
    ("num_cells-str", {"num_cells": "100"}, ValueError, ["num_cells", "positive integer"]),
    ("num_cells-bool", {"num_cells": True}, ValueError, ["num_cells", "positive integer"]),
    ("nprobe-0", {"num_cells_in_search": 0}, ValueError, ["num_cells_in_search", "positive integer"]),
    ("nprobe-None", {"num_cells_in_search": None}, ValueError, ["num_cells_in_search", "positive integer"]),
    ("pooler-unknown", {"pooler": "mean"}, ValueError, ["pooler", "'mean'", "cls", "avg"]),
    ("pooler-int", {"pooler": 3}, ValueError, ["pooler", "cls", "avg"]),
    ("max_length-0", {"max_length": 0}, ValueError, ["max_length=0", "[3, 128]"]),
    ("max_length-neg", {"max_length": -5}, ValueError, ["max_length", "["]),
    ("max_length-1", {"max_length": 1}, ValueError, ["max_length=1", "["]),
    ("max_length-huge", {"max_length": 100000}, ValueError, ["max_length=100000", "128"]),
    ("max_length-str", {"max_length": "64"}, ValueError, ["max_length", "integer"]),
    ("max_length-float", {"max_length": 64.0}, ValueError, ["max_length", "integer"]),
    ("truncate_dim-0", {"truncate_dim": 0}, ValueError, ["truncate_dim", "32"]),
    ("truncate_dim-neg", {"truncate_dim": -1}, ValueError, ["truncate_dim", "32"]),
    ("truncate_dim-big", {"truncate_dim": 64}, ValueError, ["truncate_dim", "32"]),
    ("truncate_dim-str", {"truncate_dim": "16"}, ValueError, ["truncate_dim"]),
]


@pytest.mark.parametrize("kwargs,exc,parts", [c[1:] for c in CTOR], ids=[c[0] for c in CTOR])
def test_constructor_arguments(tiny_bert_path, kwargs, exc, parts):
    with pytest.raises(exc) as info:
        SimCSE(str(tiny_bert_path), **kwargs)
    for part in parts:
        assert part in str(info.value), (part, str(info.value))


MODEL_PATHS = [
    ("missing-folder", lambda f: str(f["dir"] / "no_model_here"), OSError, ["no_model_here"]),
    ("a-text-file", lambda f: str(f["good"]), (OSError, ValueError), ["good.txt"]),
    ("empty-folder", lambda f: str(f["folder"]), (OSError, ValueError), ["a_folder"]),
    ("not-a-name", lambda f: 123, (TypeError, ValueError, OSError), ["123"]),
]


@pytest.mark.parametrize("path,exc,parts", [c[1:] for c in MODEL_PATHS], ids=[c[0] for c in MODEL_PATHS])
def test_model_name_or_path(files, path, exc, parts):
    with pytest.raises(exc) as info:
        SimCSE(path(files), device="cpu")
    for part in parts:
        assert part in str(info.value), (part, str(info.value))


# ------------------------------------------------------------------ API: methods
def _call(name, *args, **kwargs):
    return lambda m: getattr(m, name)(*args, **kwargs)


ENCODE = [
    ("none", _call("encode", None), TypeError, ["sentence", "string or a list of strings", "None"]),
    ("int", _call("encode", 5), TypeError, ["sentence", "string or a list of strings", "int"]),
    ("float", _call("encode", 1.5), TypeError, ["sentence", "string or a list of strings"]),
    ("bytes", _call("encode", b"hello"), TypeError, ["sentence", "str"]),
    ("item-int", _call("encode", ["a", 2]), TypeError, ["sentence[1]", "int", "not str"]),
    ("item-none", _call("encode", ["a", None]), TypeError, ["sentence[1]", "NoneType", "not str"]),
    ("item-bytes", _call("encode", [b"a"]), TypeError, ["sentence[0]", "bytes", "not str"]),
    ("nested", _call("encode", [["a", "b"]]), TypeError, ["sentence[0]", "list", "not str"]),
    ("dict-item", _call("encode", [{"text": "a"}]), TypeError, ["sentence[0]", "dict"]),
    ("ndarray", _call("encode", np.array(["a", "b"])), TypeError, ["sentence", "ndarray"]),
    ("tensor", _call("encode", torch.zeros(2)), TypeError, ["sentence", "Tensor"]),
    ("surrogate", _call("encode", "caf\udce9"), ValueError, ["sentence", "not valid Unicode"]),
    ("item-surrogate", _call("encode", ["ok", "caf\udce9"]), ValueError, ["sentence[1]", "not valid Unicode"]),
    ("batch_size-0", _call("encode", "a", batch_size=0), ValueError, ["batch_size", "positive integer", "0"]),
    ("batch_size-neg", _call("encode", "a", batch_size=-4), ValueError, ["batch_size", "positive integer"]),
    ("batch_size-float", _call("encode", "a", batch_size=2.5), ValueError, ["batch_size", "positive integer"]),
    ("batch_size-str", _call("encode", "a", batch_size="8"), ValueError, ["batch_size", "positive integer"]),
    ("batch_size-None", _call("encode", "a", batch_size=None), ValueError, ["batch_size", "positive integer"]),
    ("batch_size-bool", _call("encode", "a", batch_size=True), ValueError, ["batch_size", "positive integer"]),
    ("max_length-0", _call("encode", "a", max_length=0), ValueError, ["max_length", "["]),
    ("max_length-neg", _call("encode", "a", max_length=-1), ValueError, ["max_length", "["]),
    ("max_length-huge", _call("encode", "a", max_length=4096), ValueError, ["max_length=4096", "128"]),
    ("max_length-str", _call("encode", "a", max_length="32"), ValueError, ["max_length", "integer"]),
    ("device-bad", _call("encode", "a", device="gpu"), ValueError, ["device 'gpu'", "cpu, cuda"]),
    ("device-cuda", _call("encode", "a", device="cuda:7"), ValueError, ["device 'cuda:7'", "cpu"]),
    ("precision-bad", _call("encode", ["a", "b"], precision="int4"), ValueError, ["precision", "int4", "int8", "binary"]),
    ("precision-None", _call("encode", ["a", "b"], precision=None), ValueError, ["precision", "int8", "binary"]),
    ("int8-one", _call("encode", "a", precision="int8"), ValueError, ["int8", "calibration_embeddings"]),
    ("truncate_dim-0", _call("encode", "a", truncate_dim=0), ValueError, ["truncate_dim", "32"]),
    ("truncate_dim-big", _call("encode", "a", truncate_dim=33), ValueError, ["truncate_dim", "32"]),
    ("sim-none", _call("similarity", None, "a"), TypeError, ["string or a list of strings", "None"]),
    ("sim-keys-int", _call("similarity", "a", 3), TypeError, ["int"]),
    ("sim-nested", _call("similarity", "a", [["b"]]), TypeError, ["[0]", "list", "not str"]),
    ("sim-keys-none-item", _call("similarity", ["a"], ["b", None]), TypeError, ["[1]", "NoneType"]),
    ("search-before-build", _call("search", "a"), RuntimeError, ["no index", "build_index", "load_index"]),
    ("save-before-build", lambda m: m.save_index("/tmp/never-written-probe"), RuntimeError, ["no index", "build_index"]),
    ("build-none", _call("build_index", None), TypeError, ["sentences", "None"]),
    ("build-item-int", _call("build_index", ["a", 1]), TypeError, ["sentences[1]", "int"]),
    ("build-precision", _call("build_index", CORPUS, precision="fp8"), ValueError, ["precision", "fp8", "int8", "binary"]),
    ("build-rescore-neg", _call("build_index", CORPUS, precision="binary", rescore_multiplier=-1), ValueError,
     ["rescore_multiplier", "non-negative integer"]),
    ("build-rescore-with", _call("build_index", CORPUS, precision="binary", rescore_with="exact"), ValueError,
     ["rescore_with", "quantized", "float"]),
    ("build-batch_size", _call("build_index", CORPUS, batch_size=0), ValueError, ["batch_size", "positive integer"]),
    ("build-device", _call("build_index", CORPUS, device="npu"), ValueError, ["device 'npu'", "cpu, cuda"]),
    ("build-truncate", _call("build_index", CORPUS, truncate_dim=100), ValueError, ["truncate_dim", "32"]),
    ("load-missing", lambda m: m.load_index("/tmp/no-such-index-probe"), (FileNotFoundError, ValueError),
     ["no-such-index-probe"]),
    ("add-batch_size", _call("add_to_index", CORPUS, batch_size=-1), ValueError, ["batch_size", "positive integer"]),
]


@pytest.mark.parametrize("call,exc,parts", [c[1:] for c in ENCODE], ids=[c[0] for c in ENCODE])
def test_methods_on_a_bare_model(bare, call, exc, parts):
    with pytest.raises(exc) as info:
        call(bare)
    for part in parts:
        assert part in str(info.value), (part, str(info.value))
    assert bare.index is None


def _add_other_dim(m):
    m.index.add(np.zeros((1, m.index.dim + 3), dtype=np.float32), ["x"])


SEARCH = [
    ("top_k-0", _call("search", "a", top_k=0), ValueError, ["top_k", "positive integer", "0"]),
    ("top_k-neg", _call("search", "a", top_k=-2), ValueError, ["top_k", "positive integer"]),
    ("top_k-float", _call("search", "a", top_k=2.5), ValueError, ["top_k", "positive integer"]),
    ("top_k-str", _call("search", "a", top_k="3"), ValueError, ["top_k", "positive integer"]),
    ("top_k-None", _call("search", "a", top_k=None), ValueError, ["top_k", "positive integer"]),
    ("top_k-bool", _call("search", "a", top_k=True), ValueError, ["top_k", "positive integer"]),
    ("threshold-above", _call("search", "a", threshold=1.5), ValueError, ["threshold", "[-1, 1]", "1.5"]),
    ("threshold-below", _call("search", "a", threshold=-2), ValueError, ["threshold", "[-1, 1]"]),
    ("threshold-inf", _call("search", "a", threshold=float("inf")), ValueError, ["threshold", "[-1, 1]", "-inf"]),
    ("index-threshold", lambda m: m.search("a", threshold=1.01), ValueError, ["threshold", "[-1, 1]", "1.01"]),
    ("threshold-nan", _call("search", "a", threshold=float("nan")), ValueError, ["threshold", "nan", "[-1, 1]"]),
    ("threshold-str", _call("search", "a", threshold="high"), ValueError, ["threshold", "number", "[-1, 1]"]),
    ("threshold-None", _call("search", "a", threshold=None), ValueError, ["threshold", "number", "[-1, 1]"]),
    ("queries-none", _call("search", None), TypeError, ["string or a list of strings", "None"]),
    ("queries-int-item", _call("search", ["a", 3]), TypeError, ["[1]", "int", "not str"]),
    ("queries-nested", _call("search", [["a"]]), TypeError, ["[0]", "list", "not str"]),
    ("search-device", _call("search", "a", device="cuda:3"), ValueError, ["device 'cuda:3'", "cpu"]),
    ("rerank-neg", _call("search", "a", rerank=-1), ValueError, ["rerank", "simcse index build"]),
    ("add-none", _call("add_to_index", None), TypeError, ["sentences", "None"]),
    ("add-item-int", _call("add_to_index", ["a", 5]), TypeError, ["sentences[1]", "int"]),
    ("add-other-dim", _add_other_dim, ValueError, ["dimension 35", "32"]),
    ("add-missing-file", _call("add_to_index", "/tmp/no-such-sentences-probe.txt"), FileNotFoundError,
     ["no-such-sentences-probe.txt", "does not exist"]),
    ("save-into-a-file", lambda m: m.save_index(__file__), FileExistsError, ["test_input_probe.py"]),
]


@pytest.mark.parametrize("call,exc,parts", [c[1:] for c in SEARCH], ids=[c[0] for c in SEARCH])
def test_methods_on_an_indexed_model(indexed, call, exc, parts):
    n = indexed.index.ntotal
    with pytest.raises(exc) as info:
        call(indexed)
    for part in parts:
        assert part in str(info.value), (part, str(info.value))
    assert indexed.index.ntotal == n and len(indexed.index) == n  # nothing half added


FILE_CASES = [
    ("build-missing", "missing", FileNotFoundError, ["nope.txt", "does not exist"]),
    ("build-folder", "folder", (IsADirectoryError, ValueError), ["a_folder", "not a file"]),
    ("build-bad-utf8", "bad_utf8", ValueError, ["latin1.txt", "UTF-8"]),
]


@pytest.mark.parametrize("key,exc,parts", [c[1:] for c in FILE_CASES], ids=[c[0] for c in FILE_CASES])
def test_build_index_from_bad_files(tiny_bert_path, files, key, exc, parts):
    model = SimCSE(str(tiny_bert_path), device="cpu")
    with pytest.raises(exc) as info:
        model.build_index(str(files[key]))
    for part in parts:
        assert part in str(info.value), (part, str(info.value))
    assert model.index is None


# ------------------------------------------------------------------ CLI
def _cli(argv: list[str], capsys, monkeypatch=None) -> tuple[int, str]:
    if monkeypatch is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(""))  # no sentences on stdin
    try:
        rc = cli_main(argv)
    except SystemExit as exc:  # argparse errors
        rc = exc.code
    return int(rc or 0), capsys.readouterr().err


def _cases(files: dict[str, Path], model: str, tmp: Path) -> dict[str, tuple[list[str], list[str]]]:
    m = ["--model", model, "--device", "cpu"]
    f = {k: str(v) for k, v in files.items()}
    return {
        # encode
        "encode-file-missing": (["encode", *m, "--file", f["missing"]], ["nope.txt", "does not exist"]),
        "encode-file-folder": (["encode", *m, "--file", f["folder"]], ["a_folder", "not a file"]),
        "encode-file-bad-utf8": (["encode", *m, "--file", f["bad_utf8"]], ["latin1.txt", "UTF-8"]),
        "encode-file-empty": (["encode", *m, "--file", f["empty"]], ["no sentences"]),
        "encode-file-and-args": (["encode", *m, "--file", f["good"], "hello"], ["--file", "sentence argument"]),
        "encode-output-folder": (["encode", *m, "hello", "--output", f["folder"]], ["--output", "a_folder"]),
        "encode-output-exists": (["encode", *m, "hello", "--output", f["good"]], ["--output", "--overwrite"]),
        "encode-output-under-a-file": (["encode", *m, "hi", "--output", f["good"] + "/v.npy"],
                                       ["--output", "good.txt", "is not a directory"]),
        "encode-batch-0": (["encode", *m, "hi", "--batch_size", "0"], ["--batch_size", "positive integer"]),
        "encode-batch-x": (["encode", *m, "hi", "--batch_size", "x"], ["--batch_size", "positive integer"]),
        "encode-max_length-0": (["encode", *m, "hi", "--max_length", "0"], ["--max_length", "positive integer"]),
        "encode-max_length-1": (["encode", *m, "hi", "--max_length", "1"], ["max_length=1", "[3, 128]"]),
        "encode-max_length-neg": (["encode", *m, "hi", "--max_length", "-3"], ["--max_length", "positive integer"]),
        "encode-max_length-x": (["encode", *m, "hi", "--max_length", "ten"], ["--max_length", "positive integer"]),
        "encode-device": (["encode", "--model", model, "--device", "gpu", "hi"], ["device 'gpu'", "cpu, cuda"]),
        "encode-pooler": (["encode", *m, "--pooler", "mean", "hi"], ["pooler", "'mean'", "cls"]),
        "encode-model-missing": (["encode", "--model", f["dir"] + "/nomodel", "hi"], ["nomodel"]),
        "encode-model-file": (["encode", "--model", f["good"], "hi"], ["good.txt"]),
        "encode-input-no-output_dir": (["encode", *m, "--input", f["good"]], ["--input", "--output_dir"]),
        "encode-output_dir-no-input": (["encode", *m, "--output_dir", str(tmp / "e")], ["--output_dir", "--input"]),
        "encode-input-and-file": (["encode", *m, "--input", f["good"], "--output_dir", str(tmp / "e2"), "--file",
                                   f["good"]], ["--input", "--file"]),
        "encode-input-missing": (["encode", *m, "--input", f["missing"], "--output_dir", str(tmp / "e3")],
                                 ["nope.txt"]),
        "encode-input-folder": (["encode", *m, "--input", f["folder"], "--output_dir", str(tmp / "e4")],
                                ["a_folder"]),
        "encode-input-bad-utf8": (["encode", *m, "--input", f["bad_utf8"], "--output_dir", str(tmp / "e5")],
                                  ["latin1.txt", "UTF-8"]),
        "encode-dtype": (["encode", *m, "--input", f["good"], "--output_dir", str(tmp / "e6"), "--dtype", "int3"],
                         ["--dtype", "float16"]),
        "encode-shard_mb": (["encode", *m, "--input", f["good"], "--output_dir", str(tmp / "e7"), "--shard_mb", "-1"],
                            ["--shard_mb", "positive number"]),
        "encode-unknown-flag": (["encode", *m, "--topk", "3", "hi"], ["unrecognized arguments", "--topk"]),
        # similarity
        "similarity-none": (["similarity", *m], ["no query sentences"]),
        "similarity-batch": (["similarity", *m, "a", "--batch_size", "-1"], ["--batch_size", "positive integer"]),
        "similarity-format": (["similarity", *m, "a", "--format", "xml"], ["--format", "table", "json"]),
        "similarity-device": (["similarity", "--model", model, "--device", "cuda:9", "a"], ["device 'cuda:9'"]),
        "similarity-surrogate": (["similarity", *m, "caf\udce9"], ["not valid Unicode"]),
        # search
        "search-corpus-missing": (["search", *m, "--corpus", f["missing"], "q"], ["nope.txt", "does not exist"]),
        "search-corpus-folder": (["search", *m, "--corpus", f["folder"], "q"], ["a_folder", "not a file"]),
        "search-corpus-bad-utf8": (["search", *m, "--corpus", f["bad_utf8"], "q"], ["latin1.txt", "UTF-8"]),
        "search-corpus-empty": (["search", *m, "--corpus", f["empty"], "q"], ["--corpus", "empty.txt", "no sentences"]),
        "search-top_k-0": (["search", *m, "--top_k", "0", "q"], ["--top_k", "positive integer"]),
        "search-top_k-x": (["search", *m, "--top_k", "five", "q"], ["--top_k", "positive integer"]),
        "search-threshold-high": (["search", *m, "--threshold", "3", "q"], ["--threshold", "[-1, 1]"]),
        "search-threshold-low": (["search", *m, "--threshold", "-1.5", "q"], ["--threshold", "[-1, 1]"]),
        "search-threshold-nan": (["search", *m, "--threshold", "nan", "q"], ["--threshold", "[-1, 1]"]),
        "search-threshold-x": (["search", *m, "--threshold", "high", "q"], ["--threshold", "[-1, 1]"]),
        "search-faiss-conflict": (["search", *m, "--faiss_fast", "--no_faiss", "q"], ["--faiss_fast", "--no_faiss"]),
        "search-index-file": (["search", *m, "--index", f["good"], "q"], ["--index", "good.txt"]),
        "search-index-nonempty": (["search", *m, "--index", f["dir"], "q"], ["--index", "index_meta.json"]),
        "search-format": (["search", *m, "--format", "csv", "q"], ["--format", "table", "json"]),
        # index
        "index-build-missing": (["index", "build", "--embeddings", f["missing"], "--output", str(tmp / "i1")],
                                ["nope.txt"]),
        "index-build-file": (["index", "build", "--embeddings", f["good"], "--output", str(tmp / "i2")],
                             ["good.txt"]),
        "index-search-missing": (["index", "search", "--index", f["missing"], "q"], ["nope.txt"]),
        "index-no-subcommand": (["index"], ["build", "search"]),
        "index-threshold": (["index", "search", "--index", f["dir"], "--threshold", "2", "q"], ["--threshold", "[-1, 1]"]),
        # evaluate
        "evaluate-task": (["evaluate", "--model", model, "--tasks", "STS99"], ["STS99", "STSBenchmark"]),
        "evaluate-data-missing": (["evaluate", "--model", model, "--data_dir", f["missing"]], ["nope.txt"]),
        "evaluate-data-file": (["evaluate", "--model", model, "--data_dir", f["good"]], ["good.txt"]),
        "evaluate-mode": (["evaluate", "--model", model, "--mode", "final"], ["--mode", "test", "dev"]),
        # top level
        "unknown-command": (["encod"], ["invalid choice", "encode"]),
        "train-file-missing": (["train", "--model_name_or_path", model, "--train_file", f["missing"], "--output_dir",
                                str(tmp / "t1")], ["--train_file", "nope.txt"]),
        "train-file-folder": (["train", "--model_name_or_path", model, "--train_file", f["folder"], "--output_dir",
                               str(tmp / "t2")], ["--train_file", "a_folder"]),
        "train-nonfinite": (["train", "--model_name_or_path", model, "--train_file", f["good"], "--output_dir",
                             str(tmp / "t3"), "--on_nonfinite_loss", "ignore"], ["--on_nonfinite_loss", "stop", "skip"]),
        "train-temp": (["train", "--model_name_or_path", model, "--train_file", f["good"], "--output_dir",
                        str(tmp / "t4"), "--temp", "0"], ["--temp", "> 0"]),
        "train-pooler": (["train", "--model_name_or_path", model, "--train_file", f["good"], "--output_dir",
                          str(tmp / "t5"), "--pooler_type", "mean"], ["--pooler_type", "'mean'", "cls"]),
        "convert-missing": (["convert", f["missing"], str(tmp / "c1")], ["nope.txt"]),
    }


CLI_IDS = list(_cases({k: Path("/x") for k in ("good", "bad_utf8", "empty", "folder", "missing", "dir")}, "m",
                      Path("/t")))


@pytest.mark.parametrize("case", CLI_IDS)
def test_cli(case, files, tiny_bert_path, tmp_path, capsys, monkeypatch):
    argv, parts = _cases(files, str(tiny_bert_path), tmp_path)[case]
    rc, err = _cli(argv, capsys, monkeypatch)
    assert rc == 2, (rc, err)
    assert "Traceback" not in err
    for part in parts:
        assert part in err, (part, err)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
@pytest.mark.parametrize("command", ["encode", "search"])
def test_cli_unreadable_file(command, files, tiny_bert_path, tmp_path, capsys):
    f = tmp_path / "secret.txt"
    f.write_text("a b c\n")
    f.chmod(0)
    flag = "--file" if command == "encode" else "--corpus"
    rc, err = _cli([command, "--model", str(tiny_bert_path), "--device", "cpu", flag, str(f), "q"], capsys)
    assert rc == 2 and "secret.txt" in err and "Permission denied" in err


def test_encode_output_in_a_new_folder_is_created(files, tiny_bert_path, tmp_path, capsys):
    out = tmp_path / "new" / "sub" / "v.npy"
    rc, err = _cli(["encode", "--model", str(tiny_bert_path), "--device", "cpu", "hi", "--output", str(out)], capsys)
    assert rc == 0, err
    assert np.load(out).shape == (1, 32)


def test_the_table_has_at_least_100_cases():
    n = len(CTOR) + len(MODEL_PATHS) + len(ENCODE) + len(SEARCH) + len(FILE_CASES) + len(CLI_IDS)
    assert n >= 100, n
