"""``simcse serve`` as a real process: the printed URL, API keys from a file, a corpus index saved once
and loaded at the next start, and bad flags or models exiting 2 with a message."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from conftest import start_command, stop_command
from servers import CORPUS

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")


def start_serve(args: list[str], timeout: float = 120):
    return start_command("serve", args, timeout)


stop = stop_command


@pytest.mark.slow
def test_serve_builds_the_corpus_index_once_and_guards_it_with_keys(tiny_bert_path, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(CORPUS) + "\n", encoding="utf-8")
    keys = tmp_path / "keys.txt"
    keys.write_text("# clients\nsecret-1\n\nsecret-2\n", encoding="utf-8")
    index = tmp_path / "idx"
    args = ["--model", str(tiny_bert_path), "--corpus", str(corpus), "--index", str(index), "--api_key_file", str(keys)]
    logs = []
    for _ in range(2):
        proc, url = start_serve(args)
        try:
            auth = {"Authorization": "Bearer secret-2"}
            assert httpx.post(url + "/v1/search", json={"queries": "x"}, timeout=10).status_code == 401
            r = httpx.post(url + "/v1/search", json={"queries": ["A man plays guitar."], "top_k": 2}, headers=auth,
                           timeout=10)
            assert r.status_code == 200 and len(r.json()["data"][0]["results"]) == 2
            models = httpx.get(url + "/v1/models", headers=auth, timeout=10).json()
            assert models["data"][0]["id"] == tiny_bert_path.name
            bad = httpx.post(url + "/v1/embeddings", json={"input": "x", "model": "nope"}, headers=auth, timeout=10)
            for text in (r.text, str(models), bad.text, httpx.get(url + "/", timeout=10).text):
                assert str(tmp_path) not in text and str(tiny_bert_path.parent) not in text
        finally:
            logs.append(stop(proc))
    assert "built index of 6 sentences" in logs[0] and "loaded index of 6 sentences" in logs[1], logs


@pytest.mark.parametrize("args,message", [
    (["--dtype", "int4"], "invalid choice: 'int4'"),
    (["--max_queue", "0"], "expected a positive integer"),
    (["--api_key_file", "/nonexistent/keys"], "No such file"),
    (["--corpus", "/nonexistent/corpus.txt"], "corpus.txt"),
    (["--max_wait_ms", "-1"], "max_wait_ms must be a number >= 0"),
])
def test_bad_flags_exit_2_with_a_message(args, message, capsys):
    from simcse.cli.serve import main

    try:
        status = main(args)
    except SystemExit as exc:  # argparse's own errors
        status = exc.code
    err = capsys.readouterr().err
    assert status == 2 and message in err, err[-2000:]


@pytest.mark.slow
def test_a_model_that_cannot_load_stops_the_server_with_status_2(tmp_path):
    out = subprocess.run([sys.executable, "-m", "simcse", "serve", "--model", str(tmp_path / "missing"), "--port", "0"],
                         capture_output=True, text=True, env=ENV, timeout=120)
    assert out.returncode == 2 and "does not exist" in out.stderr, out.stderr[-2000:]


def test_without_the_serve_extra_the_command_says_what_to_install(monkeypatch, capsys):
    from simcse.cli.serve import main

    for name in ("simcse.serve.app", "simcse.serve.server"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setitem(sys.modules, "fastapi", None)  # an import of fastapi now fails as if not installed
    assert main([]) == 2
    assert "pip install 'simcse[serve]'" in capsys.readouterr().err
