"""``simcse encode --input CORPUS --output_dir EMB/``: the sharded embeddings folder, its reader, resuming after
a SIGKILL or a corrupt shard, 2 processes == 1 process byte for byte, and the refusals.

A tiny random BERT (the real bert-base-uncased vocabulary) and corpora generated here keep it fast. Every
run uses one torch thread (the subprocesses through OMP_NUM_THREADS), so that the vectors of two runs are
comparable byte for byte.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from conftest import ROOT, make_tiny_bert
from simcse import SimCSE
from simcse.cli import encode as encode_cli
from simcse.search.shards import EmbeddingManifest, iter_shards, load_vectors_float32
from spawn_helpers import exit_after

WORDS = ("the a of and to in is was for on as with by at from his her that it an are were be this which or has "
         "city river music film team school war king song game book church army party station album village "
         "north early former large small played built named known released founded").split()
SHARD_MB = "0.002"  # 2,097 bytes: ~40 lines a shard, ~30 shards
FLAGS = ["--device", "cpu", "--max_length", "32", "--batch_size", "16", "--shard_mb", SHARD_MB]


def make_corpus(path: Path, n: int, seed: int = 0) -> Path:
    """``n`` lines of random words, with blank and whitespace-only lines, a CRLF line end, non-ASCII text
    and no newline after the last line."""
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        if i % 97 == 5:
            lines.append("")
        elif i % 131 == 7:
            lines.append("  \t ")
        elif i == 10:
            lines.append("café naïve 東京 résumé\r")
        else:
            lines.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 14))))
    path.write_bytes("\n".join(lines).encode("utf-8"))
    return path


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, minilm_path) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny"), minilm_path)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("corpus") / "corpus.txt", 3000)


def encode(tiny: Path, inp: Path, out: Path, *extra: str) -> int:
    return encode_cli.main(["--model", str(tiny), "--input", str(inp), "--output_dir", str(out), *FLAGS, *extra])


@pytest.fixture(scope="module")
def reference(tiny, corpus, tmp_path_factory) -> Path:
    """An uninterrupted one-process run over ``corpus``."""
    out = tmp_path_factory.mktemp("ref") / "emb"
    assert encode(tiny, corpus, out) == 0
    return out


def test_folder_rows_and_vectors(reference, corpus, tiny):
    manifest = EmbeddingManifest.read(reference)
    manifest.verify(full=True)
    data = corpus.read_bytes()
    lines = data.split(b"\n")
    nonblank = [i for i, line in enumerate(lines) if line.strip()]
    assert manifest.num_rows == len(nonblank) and manifest.dtype == "float16" and manifest.dim == 32
    assert len(manifest.shards) == -(-len(data) // manifest.shard_bytes) > 20
    assert manifest.input["path"] == str(corpus) and manifest.input["format"] == "txt"
    shards = list(iter_shards(reference))
    rows = np.concatenate([s.rows for s in shards])
    assert rows[:, 0].tolist() == nonblank  # 0-based line numbers, blank lines skipped
    assert all(data[b:e] == lines[i] for i, b, e in rows.tolist())  # byte range of the line, without "\n"
    for s, rec in zip(shards, manifest.shards):  # each shard's lines start in its byte range
        assert len(s) == rec.rows and all(rec.byte_start <= b < rec.byte_end for b in s.rows[:, 1].tolist())
        assert s.ids is None and s.keys == s.rows[:, 0].tolist()
    texts = [lines[i].decode("utf-8").strip() for i in nonblank]
    want = SimCSE(str(tiny), device="cpu", max_length=32).encode(texts, return_numpy=True)
    got = np.concatenate([load_vectors_float32(s) for s in shards])
    np.testing.assert_allclose(got, want, atol=2e-3)


@pytest.mark.slow
def test_sigkill_then_rerun_equals_uninterrupted_run(reference, corpus, tiny, tmp_path):
    out = tmp_path / "emb"
    cmd = [sys.executable, "-m", "simcse", "encode", "--model", str(tiny), "--input", str(corpus),
           "--output_dir", str(out), *FLAGS]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    log = open(tmp_path / "stderr.txt", "wb")  # a file, not a pipe: the progress bar would fill a pipe and block
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 120
    while not (out / "shard-00000.json").exists():
        assert proc.poll() is None, (tmp_path / "stderr.txt").read_text()
        assert time.monotonic() < deadline, "no shard completed in 120 s"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    log.close()
    assert not (out / "manifest.json").exists(), "the run finished before it was killed"
    done = len(list(out.glob("shard-*.json")))
    assert 1 <= done < len(EmbeddingManifest.read(reference).shards)
    assert encode(tiny, corpus, out) == 0
    assert files_of(out) == files_of(reference)


def test_corrupt_and_partial_shards_are_redone(reference, corpus, tiny, tmp_path, capsys):
    out = tmp_path / "emb"
    shutil.copytree(reference, out)
    (out / "manifest.json").unlink()
    vec = out / "shard-00001.npy"
    data = bytearray(vec.read_bytes())
    data[-1] ^= 0xFF  # same size, other bytes: only the sha256 tells
    vec.write_bytes(bytes(data))
    (out / "shard-00003.json").unlink()  # shard 3 was being written: its files are partial
    (out / "shard-00003.npy").write_bytes(b"partial")
    capsys.readouterr()
    assert encode(tiny, corpus, out) == 0
    err = capsys.readouterr().err
    assert "shard-00001 is corrupt" in err and "shard-00001.npy does not match the sha256" in err
    assert "shard-00003" not in err
    assert files_of(out) == files_of(reference)


def _spawned_encode(rank: int, world: int, rendezvous: str, argv: list[str]) -> None:
    os.environ["GLOO_SOCKET_IFNAME"] = "lo"  # loopback only
    torch.set_num_threads(1)
    # A file rendezvous: no TCP port to pick in advance (and lose to another process in between).
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world)
    try:
        assert encode_cli.main(argv) == 0
    finally:
        dist.destroy_process_group()


def _spawn_worker(*args) -> None:
    exit_after(_spawned_encode, *args)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["int8"])  # int8: the ranges calibrated on shard 0 travel to the other rank
def test_two_processes_equal_one_process(tiny, tmp_path, dtype):
    corpus = make_corpus(tmp_path / "c.txt", 800, seed=1)
    argv = ["--model", str(tiny), "--input", str(corpus), *FLAGS, "--dtype", dtype]
    assert encode_cli.main([*argv, "--output_dir", str(tmp_path / "one")]) == 0
    mp.spawn(_spawn_worker, args=(2, str(tmp_path / "rendezvous"), [*argv, "--output_dir", str(tmp_path / "two")]),
             nprocs=2, join=True)
    assert files_of(tmp_path / "two") == files_of(tmp_path / "one")
    manifest = EmbeddingManifest.read(tmp_path / "one")
    assert len(manifest.shards) > 4 and np.asarray(manifest.int8_ranges).shape == (32, 2)


def test_int8_and_binary_dequantise_close_to_float(tiny, tmp_path):
    corpus = make_corpus(tmp_path / "c.txt", 300, seed=2)
    floats = {}
    for dtype in ("float32", "int8", "binary"):
        assert encode(tiny, corpus, tmp_path / dtype, "--dtype", dtype) == 0
        shards = list(iter_shards(tmp_path / dtype))
        floats[dtype] = np.concatenate([load_vectors_float32(s) for s in shards])
        if dtype == "binary":
            assert all(s.vectors.dtype == np.uint8 and s.vectors.shape[1] == 4 for s in shards)
    ref = floats["float32"]
    ranges = np.asarray(EmbeddingManifest.read(tmp_path / "int8").int8_ranges)
    assert np.allclose(ranges[:, 0], -ranges[:, 1])  # symmetric
    inside = np.abs(ref) <= ranges[:, 1]  # later shards can go past shard 0's ranges: those values are clipped
    assert inside.mean() > 0.9
    assert np.abs(floats["int8"] - ref)[inside].max() <= ranges[:, 1].max() / 255 + 1e-6  # half a bucket
    cos = (floats["int8"] * ref).sum(1) / np.linalg.norm(floats["int8"], axis=1)
    assert cos.min() > 0.99
    np.testing.assert_array_equal(floats["binary"] > 0, ref > 0)


def test_jsonl_ids_text_field_and_line_ids(tiny, tmp_path):
    records = [{"doc": f"sentence number {i} about a river", "id": f"d{i}"} for i in range(60)]
    lines = [json.dumps(r) for r in records]
    lines.insert(7, "   ")
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert encode(tiny, path, tmp_path / "ids", "--text_field", "doc") == 0
    manifest = EmbeddingManifest.read(tmp_path / "ids")
    assert manifest.input["id_field"] == "id" and manifest.input["text_field"] == "doc"
    shards = list(iter_shards(manifest))
    assert [k for s in shards for k in s.keys] == [r["id"] for r in records]
    assert np.concatenate([s.rows for s in shards])[:, 0].tolist() == list(range(7)) + list(range(8, 61))
    no_ids = tmp_path / "n.jsonl"
    no_ids.write_text("".join(json.dumps({"text": f"line {i}"}) + "\n" for i in range(10)))
    assert encode(tiny, no_ids, tmp_path / "noids") == 0
    shards = list(iter_shards(tmp_path / "noids"))
    assert not list((tmp_path / "noids").glob("*.ids.json"))
    assert [k for s in shards for k in s.keys] == list(range(10))


def _refused(capsys, tiny, inp: Path, out: Path, *extra: str) -> str:
    capsys.readouterr()
    assert encode(tiny, inp, out, *extra) == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith("simcse encode: error: ")
    return err


@pytest.mark.parametrize("content,expected", [
    ("\n  \n\t\n", "is empty: it has no non-blank line"),
    ('{"text": "a"}\n{"text": "b"}\n{"text": oops}\n', "line 3: not valid JSON"),
    ('{"text": "a"}\n\n{"body": "b"}\n', "line 3: no 'text' field (fields: 'body')"),
    ('{"text": "a"}\n{"text": 7}\n', "line 2: field 'text' is int, not a string"),
    ('{"text": "a", "id": 1}\n{"text": "b"}\n', "line 2: no 'id' field"),
    ('{"text": "a", "id": "x"}\n{"text": "b", "id": "y"}\n{"text": "c", "id": "x"}\n',
     "id 'x' is on line 1 and again on line 3"),
    ("[1, 2]\n", "line 1: expected a JSON object, got list"),
])
def test_bad_input_is_refused_naming_file_and_line(capsys, tiny, tmp_path, content, expected):
    path = tmp_path / ("c.txt" if content.startswith("\n") else "c.jsonl")
    path.write_text(content)
    err = _refused(capsys, tiny, path, tmp_path / "out")
    assert expected in err and str(path) in err
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_duplicate_ids_in_different_shards_are_refused(capsys, tiny, tmp_path):
    lines = [json.dumps({"text": f"sentence {i} of the corpus", "id": i}) for i in range(400)]
    lines[350] = json.dumps({"text": "a repeated id", "id": 2})
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(lines) + "\n")
    err = _refused(capsys, tiny, path, tmp_path / "out")
    assert "id 2 is on line 3 and again on line 351" in err and "no manifest" in err
    assert len(list((tmp_path / "out").glob("shard-*.json"))) > 2
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_foreign_or_misused_output_folder_is_refused(capsys, tiny, tmp_path):
    corpus = make_corpus(tmp_path / "c.txt", 50)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    err = _refused(capsys, tiny, corpus, foreign)
    assert "is not empty and is not an embeddings folder" in err and "notes.txt" in err
    assert files_of(foreign) == {"notes.txt": b"keep me"}
    err = _refused(capsys, tiny, corpus, tmp_path / "o", "--text_field", "body")
    assert "--text_field applies to .jsonl input" in err
    capsys.readouterr()
    assert encode_cli.main(["--input", str(corpus), "--output", "v.npy"]) == 2
    assert "--input/--output_dir" in capsys.readouterr().err


def test_rerun_with_other_settings_is_refused_by_name(capsys, tiny, tmp_path):
    corpus = make_corpus(tmp_path / "c.txt", 100)
    out = tmp_path / "emb"
    assert encode(tiny, corpus, out) == 0
    before = files_of(out)
    other_model = make_tiny_bert(tmp_path / "other", tiny, seed=1)
    cases = [
        (["--dtype", "int8"], "dtype: 'float16' in the folder, 'int8' now"),
        (["--no_normalize"], "normalized: True in the folder, False now"),
        (["--pooler", "avg"], "pooler: 'cls' in the folder, 'avg' now"),
        (["--shard_mb", "0.001"], "shard_bytes: 2097 in the folder, 1049 now"),
    ]
    for extra, expected in cases:
        err = _refused(capsys, tiny, corpus, out, *extra)
        assert expected in err, err
    assert "max_length: 32 in the folder, 16 now" in _refused(capsys, tiny, corpus, out, "--max_length", "16")
    capsys.readouterr()
    assert encode_cli.main(["--model", str(other_model), "--input", str(corpus), "--output_dir", str(out), *FLAGS]) == 2
    assert "model fingerprint: " in capsys.readouterr().err
    with open(corpus, "a") as fh:
        fh.write("\none more line")
    err = _refused(capsys, tiny, corpus, out)
    assert "input size: " in err
    assert files_of(out) == before


def test_encode_keeps_its_old_forms(tiny, tmp_path, capsys):
    sentences = tmp_path / "s.txt"
    sentences.write_text("a river\n\nthe city\n")
    assert encode_cli.main(["--model", str(tiny), "--device", "cpu", "--file", str(sentences),
                            "--output", str(tmp_path / "v.npy")]) == 0
    assert np.load(tmp_path / "v.npy").shape == (2, 32)
    capsys.readouterr()
    assert encode_cli.main(["--model", str(tiny), "--device", "cpu", "one sentence"]) == 0
    assert len(json.loads(capsys.readouterr().out)["embedding"]) == 32


@pytest.mark.slow
def test_tokenizer_processes_write_the_same_shards(corpus, tiny, tmp_path, monkeypatch):
    """--tokenize_workers 2 (processes tokenizing each shard's chunks after its first) writes the shards of the
    in-process run, byte for byte; --no_cuda_graphs is accepted everywhere."""
    import simcse.search.encode_corpus as encode_corpus

    monkeypatch.setattr(encode_corpus, "CHUNK_SENTENCES", 40)  # about 3 chunks a shard
    assert encode(tiny, corpus, tmp_path / "thread", "--tokenize_workers", "0") == 0
    assert encode(tiny, corpus, tmp_path / "procs", "--tokenize_workers", "2", "--no_cuda_graphs") == 0
    want, got = files_of(tmp_path / "thread"), files_of(tmp_path / "procs")
    assert want.keys() == got.keys() and len(want) > 20
    assert all(want[k] == got[k] for k in want if k.startswith("shard"))
