"""`simcse demo`: the serve stack over a corpus (the bundled one by default) in one process; its index saved,
loaded and cached; bad arguments, ports out of range and busy ports failing before anything is encoded."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import simcse.serve.app as serve_app
from conftest import start_command, stop_command
from simcse import SimCSE
from simcse.cli import main as cli_main
from simcse.cli import serve as serve_command
from simcse.cli.demo import main
from simcse.defaults import bundled_corpus
from simcse.serve.corpus import load_or_build_index

ROOT = Path(__file__).resolve().parents[2]
# The first lines of the bundled corpus (hand-written anchors over many topics).
SMALL_CORPUS = bundled_corpus().read_text(encoding="utf-8").splitlines()[:50]


@pytest.fixture(autouse=True)
def restore_simcse_logger():
    """`simcse demo` configures the "simcse" logger (its own handler, no propagation): undone after each test."""
    ours = logging.getLogger("simcse")
    saved = ours.level, list(ours.handlers), ours.propagate
    yield
    ours.setLevel(saved[0])
    ours.handlers[:] = saved[1]
    ours.propagate = saved[2]


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("demo_corpus") / "corpus.txt"
    path.write_text("\n".join(SMALL_CORPUS) + "\n", encoding="utf-8")
    return path


def test_bundled_corpus_is_large_and_generated_by_the_committed_script():
    lines = bundled_corpus().read_text(encoding="utf-8").splitlines()
    assert len(lines) >= 2000 and len(set(lines)) == len(lines) and all(s.strip() == s and s for s in lines)
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_example_corpus.py"), "--check"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_index_is_saved_then_loaded_and_rebuilt_for_another_corpus(minilm_path, corpus_file, tmp_path):
    model = SimCSE(str(minilm_path), device="cpu")
    index_dir = tmp_path / "index"
    assert load_or_build_index(model, corpus_file, index_dir, show_progress_bar=False) == "built"
    assert (index_dir / "index_meta.json").is_file()
    fresh = SimCSE(str(minilm_path), device="cpu")
    assert load_or_build_index(fresh, corpus_file, index_dir, show_progress_bar=False) == "loaded"
    q = "How do I reset my password?"
    assert fresh.search(q, top_k=3) == model.search(q, top_k=3)
    other = tmp_path / "other.txt"
    other.write_text("The moon is bright tonight.\nA cat is asleep.\n", encoding="utf-8")
    assert load_or_build_index(fresh, other, index_dir, show_progress_bar=False) == "built"
    assert fresh.index["sentences"] == ["The moon is bright tonight.", "A cat is asleep."]
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="empty.txt"):
        load_or_build_index(fresh, empty)


def test_index_folder_of_other_files_is_refused_before_encoding(minilm_path, corpus_file, tmp_path, monkeypatch):
    model = SimCSE(str(minilm_path), device="cpu")
    mine = tmp_path / "my_folder"
    mine.mkdir()
    (mine / "embeddings.npy").write_bytes(b"my own file")
    monkeypatch.setattr(model, "build_index", lambda *a, **k: pytest.fail("the corpus was encoded first"))
    with pytest.raises(FileExistsError, match="my_folder"):
        load_or_build_index(model, corpus_file, mine, show_progress_bar=False)
    assert (mine / "embeddings.npy").read_bytes() == b"my own file"


@pytest.mark.parametrize("port", ["70000", "65536", "-1"])
def test_demo_command_rejects_a_port_out_of_range_before_indexing(port, capsys, monkeypatch):
    # 70000 was served on 4464 and 65536 on a random port (the socket layer keeps the low 16 bits)
    monkeypatch.setattr(serve_command, "run_server", lambda *a, **k: pytest.fail("the server was started"))
    assert main(["--port", port]) == 2
    assert f"port must be 0..65535 (0: any free port), got {port}" in capsys.readouterr().err


def test_demo_command_fails_on_a_busy_port_before_indexing(corpus_file, capsys, monkeypatch):
    import socket

    monkeypatch.setattr(serve_app, "load_model", lambda *a, **k: pytest.fail("the model was loaded first"))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main([str(corpus_file), "--port", str(port), "--no_index_cache"]) == 2
    err = capsys.readouterr().err
    assert f"simcse demo: error: cannot listen on 127.0.0.1:{port}" in err and "in use" in err


@pytest.mark.parametrize("args, message", [
    (["missing.txt"], "sentence file 'missing.txt' does not exist"),
    (["--top_k", "0"], "top_k must be 1..100 (max_top_k), got 0"),
    (["--top_k", "101"], "top_k must be 1..100 (max_top_k), got 101"),
    (["--threshold", "1.5"], "threshold must be a cosine similarity, -1..1, got 1.5"),
    (["--threshold", "nan"], "threshold must be a cosine similarity, -1..1, got nan"),
])
def test_demo_command_rejects_bad_arguments_before_serving(args, message, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(serve_command, "run_server", lambda *a, **k: pytest.fail("the server was started"))
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    assert f"simcse demo: error: {message}" in capsys.readouterr().err


def test_demo_command_help(capsys):
    with pytest.raises(SystemExit) as exc:
        cli_main(["demo", "--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0 and "simcse demo" in out and "/v1/search" in out


@pytest.mark.slow
def test_commands_work_without_fastapi(tmp_path):
    """fastapi and uvicorn are the [demo] (and [serve]) extra: without them the other commands and
    ``simcse demo --help`` run, and ``simcse demo`` says what to install."""
    code = ("import sys; sys.modules['fastapi'] = None\n"  # an import of fastapi now fails as if not installed
            "from simcse.cli import main\n"
            "try:\n    main(['demo', '--help'])\nexcept SystemExit as exc:\n    assert exc.code == 0\n"
            "sys.exit(main(['demo']))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), SIMCSE_CACHE=str(tmp_path)))
    assert "usage: simcse demo" in proc.stdout
    assert proc.returncode == 2 and "pip install 'simcse[demo]'" in proc.stderr, proc.stderr[-2000:]


def start_demo(args: list[str], timeout: float = 180):
    """``python -m simcse demo ARGS`` on a free port, once loaded: the process and its URL (ending in /)."""
    proc, url = start_command("demo", [*args, "--host", "127.0.0.1"], timeout)
    return proc, url + "/"


stop_demo = stop_command


@pytest.mark.slow
def test_demo_command_serves_the_page_and_api_logs_and_reuses_its_index(corpus_file, tmp_path):
    index_dir = tmp_path / "idx"
    proc, url = start_demo([str(corpus_file), "--index", str(index_dir), "--top_k", "3", "--threshold", "0.25"])
    try:
        r = httpx.post(url + "v1/search", json={"queries": ["A cat naps in the sun."], "top_k": 2}, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["data"][0]["results"][0]["text"] == "A cat is sleeping on the windowsill in the sun."
        page = httpx.get(url, timeout=10)
        assert page.status_code == 200 and 'id="search-form"' in page.text and "/static/app.js" in page.text
        assert httpx.get(url + "static/style.css", timeout=10).status_code == 200
        card = httpx.get(url + "v1/models/all-MiniLM-L6-v2", timeout=10).json()
        assert card["index_size"] == 50 and card["search_defaults"] == {"top_k": 3, "threshold": 0.25}
    finally:
        log = stop_demo(proc)
    assert "built index of 50 sentences" in log and "model all-MiniLM-L6-v2 loaded: serving" in log, log[-3000:]
    log = stop_demo(start_demo([str(corpus_file), "--index", str(index_dir)])[0])
    assert "loaded index of 50 sentences" in log


@pytest.mark.slow
def test_demo_command_keeps_its_index_in_the_cache_without_index_flag(corpus_file, private_cache, tmp_path):
    """Without --index the index goes to $SIMCSE_CACHE/demo-indexes, so a restart loads it; an edited corpus
    gets its own folder; --no_index_cache encodes at every start."""
    log = stop_demo(start_demo([str(corpus_file)])[0])
    assert "built index of 50 sentences" in log
    folders = list((private_cache / "demo-indexes").iterdir())
    assert len(folders) == 1 and folders[0].name.startswith(corpus_file.stem)
    log = stop_demo(start_demo([str(corpus_file)])[0])
    assert "loaded index of 50 sentences" in log and str(folders[0]) in log
    edited = tmp_path / corpus_file.name
    edited.write_text(corpus_file.read_text() + "One more sentence about the sea.\n")
    log = stop_demo(start_demo([str(edited)])[0])
    assert "built index of 51 sentences" in log and len(list((private_cache / "demo-indexes").iterdir())) == 2
    log = stop_demo(start_demo([str(corpus_file), "--no_index_cache"])[0])
    assert "built index of 50 sentences" in log and len(list((private_cache / "demo-indexes").iterdir())) == 2
