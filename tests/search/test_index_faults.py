"""Faults injected into saving and loading an index: a killed process, a full disk, damaged files."""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from simcse.search.index import TorchIndex, faiss_available
from simcse.search.store import (INDEX_META, IndexManifest, SearchIndex, open_search_index,
                                 save_search_index)

REPO = Path(__file__).resolve().parents[2]
OLD = [f"old sentence {i}" for i in range(6)]


def torch_index(sentences: list[str], seed: int) -> SearchIndex:
    vectors = np.random.default_rng(seed).standard_normal((len(sentences), 8)).astype(np.float32)
    index = TorchIndex(8, torch.device("cpu"))
    index.add(vectors)
    return SearchIndex(index, list(sentences))


def load(path: Path) -> SearchIndex:
    return open_search_index(path, IndexManifest.read(path), False, "cpu")


def saved_old(tmp_path: Path) -> tuple[Path, SearchIndex]:
    path = tmp_path / "idx"
    old = torch_index(OLD, 0)
    save_search_index(path, old, {})
    (path / "notes.txt").write_text("mine\n")  # a file of the user's beside the index
    return path, old


def assert_is_old(path: Path, old: SearchIndex) -> None:
    got = load(path)
    assert list(got.sentences) == OLD
    np.testing.assert_array_equal(got.index.vectors(), old.index.vectors())
    assert (path / "notes.txt").read_text() == "mine\n"


CHILD = r"""
import sys, time, numpy as np, torch
from pathlib import Path
import simcse.atomic, simcse.search.store as store
from simcse.search.index import TorchIndex
path, sentinel, where = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
def stall(*a, **k):
    sentinel.write_text("now")
    time.sleep(120)
if where == "writing":
    real = np.save
    def slow_save(*a, **k):
        real(*a, **k)
        stall()
    np.save = slow_save
else:  # just before the new folder is swapped in
    simcse.atomic.fsync_tree = stall
index = TorchIndex(8, torch.device("cpu"))
index.add(np.ones((50, 8), np.float32))
store.save_search_index(path, store.SearchIndex(index, [f"new {i}" for i in range(50)]), {})
"""


@pytest.mark.parametrize("where", ["writing", "swapping"])
def test_a_save_killed_midway_leaves_the_old_index(tmp_path, where):
    path, old = saved_old(tmp_path)
    sentinel = tmp_path / "sentinel"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(sentinel), where], env=env)
    try:
        deadline = time.time() + 120
        while not sentinel.exists():
            assert child.poll() is None, "the child exited before reaching the kill point"
            assert time.time() < deadline
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
    assert_is_old(path, old)
    save_search_index(path, torch_index(["a", "b"], 1), {})  # and the folder can be saved over again
    assert list(load(path).sentences) == ["a", "b"]
    assert (path / "notes.txt").read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx", "sentinel"]  # the killed save's leftovers went


def test_a_full_disk_leaves_the_old_index_and_names_the_folder(tmp_path, monkeypatch):
    path, old = saved_old(tmp_path)

    def full(file, *args, **kwargs):
        Path(file).write_bytes(b"\x93NUMPY partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "save", full)
    with pytest.raises(OSError, match="cannot save the index to .*idx.*unchanged") as info:
        save_search_index(path, torch_index(["x", "y", "z"], 1), {})
    assert info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert_is_old(path, old)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]  # no temporary folder left


def test_a_resave_keeps_only_the_new_index_files_and_the_users(tmp_path):
    path, _ = saved_old(tmp_path)
    (path / "codes.npy").write_bytes(b"stale")  # an index file a quantised index saved there before
    save_search_index(path, torch_index(["a"], 1), {})
    assert sorted(p.name for p in path.iterdir()) == ["embeddings.npy", INDEX_META, "notes.txt", "sentences.jsonl"]


def test_the_manifest_records_sizes_and_sha256(tmp_path):
    path, _ = saved_old(tmp_path)
    meta = json.loads((path / INDEX_META).read_text())
    assert set(meta["files"]) == set(meta["sha256"]) == {"embeddings.npy", "sentences.jsonl"}
    assert meta["files"]["embeddings.npy"] == (path / "embeddings.npy").stat().st_size


def flip_last_byte(file: Path) -> None:
    data = bytearray(file.read_bytes())
    data[-1] ^= 0xFF
    file.write_bytes(bytes(data))


def test_a_bit_flip_is_named_with_how_to_rebuild(tmp_path):
    path, _ = saved_old(tmp_path)
    flip_last_byte(path / "embeddings.npy")
    with pytest.raises(ValueError, match=r"embeddings\.npy is damaged.*simcse search --corpus CORPUS --index"):
        load(path)


def test_large_indexes_hash_only_when_asked(tmp_path, monkeypatch):
    path, _ = saved_old(tmp_path)
    flip_last_byte(path / "embeddings.npy")
    monkeypatch.setattr("simcse.search.store.VERIFY_BYTES", 10)
    IndexManifest.read(path)  # sizes only: the flip is not seen
    with pytest.raises(ValueError, match=r"embeddings\.npy is damaged"):
        IndexManifest.read(path, verify=True)


def test_folders_saved_without_checksums_still_load(tmp_path):
    path, old = saved_old(tmp_path)
    meta = json.loads((path / INDEX_META).read_text())
    del meta["files"], meta["sha256"]
    (path / INDEX_META).write_text(json.dumps(meta))
    assert_is_old(path, old)


def strip_checksums(path: Path) -> None:
    meta = json.loads((path / INDEX_META).read_text())
    meta.pop("files", None)
    meta.pop("sha256", None)
    (path / INDEX_META).write_text(json.dumps(meta))


def truncate(name: str):
    def damage(path: Path) -> None:
        data = (path / name).read_bytes()
        (path / name).write_bytes(data[: len(data) // 2])
    return damage


def garble(name: str):
    def damage(path: Path) -> None:
        data = bytearray((path / name).read_bytes())
        data[:16] = b"\xff" * 16
        (path / name).write_bytes(bytes(data))
    return damage


def set_manifest(text: str | None = None, drop: str | None = None):
    def damage(path: Path) -> None:
        if drop is not None:
            meta = json.loads((path / INDEX_META).read_text())
            del meta[drop]
            text_ = json.dumps(meta)
        else:
            text_ = text
        (path / INDEX_META).write_text(text_)
    return damage


DAMAGE = {
    "embeddings truncated": truncate("embeddings.npy"),
    "embeddings garbled": garble("embeddings.npy"),
    "embeddings empty": lambda p: (p / "embeddings.npy").write_bytes(b""),
    "sentences truncated": truncate("sentences.jsonl"),
    "sentences garbled": garble("sentences.jsonl"),
    "faiss.index truncated": truncate("faiss.index"),
    "faiss.index garbled": garble("faiss.index"),
    "manifest bad JSON": set_manifest(text="{not json"),
    "manifest without dim": set_manifest(drop="dim"),
    "manifest a list": set_manifest(text="[1, 2]"),
}


@pytest.fixture(scope="module")
def tiny_model(tiny_bert_path):
    from simcse import SimCSE
    return SimCSE(str(tiny_bert_path), device="cpu")


def damaged_index(tiny_model, tmp_path: Path, damage: str, checksums: bool) -> Path:
    ivf = damage.startswith("faiss")
    if ivf and not faiss_available():
        pytest.skip("faiss is not installed")
    path = tmp_path / "idx"
    sentences = [f"sentence number {i}" for i in range(64)]
    tiny_model.num_cells = 4
    tiny_model.build_index(sentences, use_faiss=ivf or False, faiss_fast=ivf)
    tiny_model.save_index(path)
    if not checksums:  # the loader itself, not only the checksums, must name the damage
        strip_checksums(path)
    DAMAGE[damage](path)
    return path


@pytest.mark.parametrize("checksums", [True, False], ids=["checksums", "no checksums"])
@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_index_is_a_named_error(tiny_model, tmp_path, damage, checksums):
    path = damaged_index(tiny_model, tmp_path, damage, checksums)
    with pytest.raises((ValueError, FileNotFoundError)) as info:
        tiny_model.load_index(path)
    assert str(path) in str(info.value) and "rebuild it" in str(info.value)


@pytest.mark.parametrize("damage", ["embeddings garbled", "sentences truncated", "manifest without dim"])
def test_simcse_search_names_a_damaged_index(tiny_model, tiny_bert_path, tmp_path, capsys, damage):
    from simcse.cli import main
    path = damaged_index(tiny_model, tmp_path, damage, checksums=False)
    assert main(["search", "--model", str(tiny_bert_path), "--index", str(path), "--no_faiss", "hello"]) == 2
    err = capsys.readouterr().err
    assert "simcse search: error: " in err and str(path) in err and "rebuild it" in err


@pytest.fixture(scope="module")
def factory_index(tiny_bert_path, tmp_path_factory) -> Path:
    """A `simcse index build` index of 200 lines (exact, with float16 vectors for the torch index)."""
    if not faiss_available():
        pytest.skip("faiss is not installed")
    from simcse.cli import encode as encode_cli
    from simcse.search.build import build_index_folder
    d = tmp_path_factory.mktemp("factory")
    (d / "corpus.txt").write_text("".join(f"line number {i}\n" for i in range(200)))
    assert encode_cli.main(["--model", str(tiny_bert_path), "--input", str(d / "corpus.txt"), "--output_dir",
                            str(d / "emb"), "--device", "cpu", "--dtype", "float16"]) == 0
    build_index_folder(d / "emb", d / "idx", factory="Flat", rerank_store=True, say=lambda s: None)
    return d / "idx"


@pytest.mark.parametrize("checksums", [True, False], ids=["checksums", "no checksums"])
@pytest.mark.parametrize("damage", ["faiss.index", "texts.offsets.npy", "rows.npy", "vectors_f16.npy", INDEX_META])
def test_simcse_index_search_names_a_damaged_index(factory_index, tiny_bert_path, tmp_path, capsys, damage,
                                                   checksums):
    import shutil
    from simcse.cli import main
    path = tmp_path / "idx"
    shutil.copytree(factory_index, path)
    if not checksums:
        strip_checksums(path)
    truncate(damage)(path)
    assert main(["index", "search", "--model", str(tiny_bert_path), "--index", str(path), "hello"]) == 2
    err = capsys.readouterr().err
    assert "simcse index: error: " in err and str(path) in err and "simcse index build" in err


def test_the_demo_rebuilds_a_damaged_index(tiny_model, tmp_path, caplog):
    from simcse.serve.corpus import load_or_build_index
    path = damaged_index(tiny_model, tmp_path, "embeddings garbled", checksums=False)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"sentence number {i}\n" for i in range(64)))
    assert load_or_build_index(tiny_model, corpus, path, use_faiss=False, show_progress_bar=False) == "built"
    assert any("cannot reuse the index" in r.getMessage() and "damaged" in r.getMessage() for r in caplog.records)
    tiny_model.load_index(path)  # the rebuilt index is whole


def test_encode_output_on_a_full_disk_leaves_the_old_file(tiny_bert_path, tmp_path, monkeypatch, capsys):
    from simcse.cli import encode as encode_cli
    out = tmp_path / "vectors.npy"
    out.write_bytes(b"the old vectors")

    def full(file, *args, **kwargs):
        file.write(b"\x93NUMPY partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "save", full)
    argv = ["--model", str(tiny_bert_path), "--device", "cpu", "--output", str(out), "--overwrite", "hello"]
    assert encode_cli.main(argv) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert out.read_bytes() == b"the old vectors"
    assert [p.name for p in tmp_path.iterdir()] == ["vectors.npy"]  # no temporary file left
    monkeypatch.undo()
    assert encode_cli.main(argv) == 0
    assert np.load(out).shape[0] == 1


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2 exchange", "rename aside"])
def test_a_resave_swaps_the_folder_in_and_keeps_the_users_files(tmp_path, monkeypatch, exchange):
    import simcse.atomic
    if not exchange:  # platforms without renameat2: the old folder is renamed aside, then removed
        monkeypatch.setattr(simcse.atomic, "exchange_folders", lambda a, b: False)
    path, _ = saved_old(tmp_path)
    (path / "sub").mkdir()
    (path / "sub" / "more.txt").write_text("also mine\n")
    save_search_index(path, torch_index(["a", "b", "c"], 1), {})
    assert list(load(path).sentences) == ["a", "b", "c"]
    assert (path / "notes.txt").read_text() == "mine\n" and (path / "sub" / "more.txt").read_text() == "also mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]


def test_index_and_model_folders_are_fsynced_before_they_are_renamed_into_place(tmp_path, tiny_bert_path,
                                                                               monkeypatch):
    from simcse.encoder import SentenceEncoder
    from simcse.formats import save_model_atomically
    synced: set[str] = set()
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.add(os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to name the fsynced files")
    monkeypatch.setattr(os, "fsync", fsync)
    path, _ = saved_old(tmp_path)
    save_search_index(path, torch_index(["a"], 1), {})
    assert {"embeddings.npy", "sentences.jsonl", INDEX_META} <= synced
    synced.clear()
    save_model_atomically(SentenceEncoder.from_pretrained(str(tiny_bert_path)), tmp_path / "model")
    assert {p.name for p in (tmp_path / "model").iterdir() if p.is_file()} <= synced
