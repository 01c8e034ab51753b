"""The web demo's JSON API, page, input checking, concurrency, index reuse and the `simcse demo` command."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import simcse.demo.app as demo_app
from simcse import SimCSE
from simcse.cli import main as cli_main
from simcse.cli.demo import main
from simcse.defaults import bundled_corpus
from simcse.demo.app import MAX_QUERY_CHARS, MAX_TOP_K, SearchService, create_app, load_or_build_index, serve

ROOT = Path(__file__).resolve().parents[2]
# The first lines of the bundled corpus (hand-written anchors over many topics).
SMALL_CORPUS = bundled_corpus().read_text(encoding="utf-8").splitlines()[:50]


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("demo_corpus") / "corpus.txt"
    path.write_text("\n".join(SMALL_CORPUS) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def service(minilm_path, corpus_file) -> SearchService:
    model = SimCSE(str(minilm_path), device="cpu")
    load_or_build_index(model, corpus_file, show_progress_bar=False)
    return SearchService(model, corpus_file.name, default_top_k=5, default_threshold=0.0)


@pytest.fixture(scope="module")
def client(service):
    return create_app(service).test_client()


def test_bundled_corpus_is_large_and_generated_by_the_committed_script():
    lines = bundled_corpus().read_text(encoding="utf-8").splitlines()
    assert len(lines) >= 2000 and len(set(lines)) == len(lines) and all(s.strip() == s and s for s in lines)
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_example_corpus.py"), "--check"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("query, expected", [
    ("How can I change my password?", "password"),
    ("A man is playing a guitar.", "A man is playing a guitar on the street."),
    ("Share prices dropped after the bank raised rates.", "The stock market fell sharply after the interest rate announcement."),
    ("Will it rain tomorrow?", "Heavy rain is expected across the north of the country tomorrow."),
])
def test_search_api_returns_the_nearest_sentence_first(client, query, expected):
    r = client.get("/api/search", query_string={"q": query, "top_k": 3})
    assert r.status_code == 200
    body = r.get_json()
    assert body["query"] == query and body["top_k"] == 3 and body["latency_ms"] >= 0
    results = body["results"]
    assert len(results) == 3 and [x["rank"] for x in results] == [1, 2, 3]
    assert expected in results[0]["sentence"], results
    scores = [x["score"] for x in results]
    assert scores == sorted(scores, reverse=True)


def test_search_matches_the_library_and_honours_threshold(client, service):
    q = "The dog runs after a ball."
    lib = service.model.search(q, top_k=4, threshold=0.0)
    api = client.get("/api/search", query_string={"q": q, "top_k": "4"}).get_json()["results"]
    assert [(x["sentence"], round(x["score"], 4)) for x in api] == [(s, round(sc, 4)) for s, sc in lib]
    cut = (api[0]["score"] + api[1]["score"]) / 2
    kept = client.get("/api/search", query_string={"q": q, "top_k": 4, "threshold": cut}).get_json()["results"]
    assert [x["sentence"] for x in kept] == [api[0]["sentence"]]
    exact = client.post("/api/search", json={"q": SMALL_CORPUS[3], "top_k": 1, "threshold": 0.99}).get_json()
    assert exact["results"][0]["sentence"] == SMALL_CORPUS[3] and exact["results"][0]["score"] > 0.999


@pytest.mark.parametrize("params, field", [
    ({}, "q"),
    ({"q": ""}, "q"),
    ({"q": "   "}, "q"),
    ({"q": "x" * (MAX_QUERY_CHARS + 1)}, "q"),
    ({"q": "hello", "top_k": "0"}, "top_k"),
    ({"q": "hello", "top_k": str(MAX_TOP_K + 1)}, "top_k"),
    ({"q": "hello", "top_k": "-3"}, "top_k"),
    ({"q": "hello", "top_k": "abc"}, "top_k"),
    ({"q": "hello", "top_k": "2.5"}, "top_k"),
    ({"q": "hello", "top_k": "99999999999999999999999"}, "top_k"),
    ({"q": "hello", "threshold": "abc"}, "threshold"),
    ({"q": "hello", "threshold": "nan"}, "threshold"),
    ({"q": "hello", "threshold": "inf"}, "threshold"),
    ({"q": "hello", "threshold": "1.5"}, "threshold"),
])
def test_bad_search_input_is_a_400_with_a_json_error(client, params, field):
    r = client.get("/api/search", query_string=params)
    assert r.status_code == 400, r.data
    body = r.get_json()
    assert body["field"] == field and field in body["error"] and "Traceback" not in r.get_data(as_text=True)


@pytest.mark.parametrize("body, field", [
    ({"q": 42}, "q"),
    ({"q": ["a", "b"]}, "q"),
    ({"q": "hello", "top_k": True}, "top_k"),
    ({"q": "hello", "top_k": 1.5}, "top_k"),
    ({"q": "hello", "threshold": "high"}, "threshold"),
    ([1, 2], "body"),
])
def test_bad_json_body_is_a_400(client, body, field):
    r = client.post("/api/search", json=body)
    assert r.status_code == 400 and r.get_json()["field"] == field


@pytest.mark.parametrize("route, body, field", [
    ("/api/search", '{"q": "A cat \\ud83d sleeps."}', "q"),  # half of an emoji's surrogate pair
    ("/api/similarity", '{"a": "A cat sleeps.", "b": "\\udc00"}', "b"),
])
def test_lone_surrogate_in_a_json_body_is_a_400_not_a_500(client, route, body, field):
    r = client.post(route, data=body, content_type="application/json")
    assert r.status_code == 400, r.get_data(as_text=True)
    assert r.get_json()["field"] == field and "surrogate" in r.get_json()["error"]


def test_non_json_body_and_oversized_body(client):
    r = client.post("/api/search", data="q=hello", content_type="text/plain")
    assert r.status_code == 400 and r.get_json()["field"] == "body"
    r = client.post("/api/search", data=json.dumps({"q": "a" * 100_000}), content_type="application/json")
    assert r.status_code == 413 and "error" in r.get_json()


def test_unknown_route_and_method_are_json_errors(client):
    r = client.get("/api/nothing")
    assert r.status_code == 404 and "Not Found" in r.get_json()["error"]
    r = client.delete("/api/search")
    assert r.status_code == 405 and "error" in r.get_json()


def test_unexpected_failure_is_a_json_500_without_traceback(service, monkeypatch):
    app = create_app(service)
    monkeypatch.setattr(service.model, "search", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    r = app.test_client().get("/api/search", query_string={"q": "hello"})
    text = r.get_data(as_text=True)
    assert r.status_code == 500 and "RuntimeError" in r.get_json()["error"]
    assert "Traceback" not in text and "boom" not in text


def test_similarity_get_and_post(client, service):
    a, b, c = "A man is playing a guitar.", "Someone plays music on the street.", "The central bank raised rates."
    close = client.get("/api/similarity", query_string={"a": a, "b": b}).get_json()
    far = client.post("/api/similarity", json={"a": a, "b": c}).get_json()
    assert close["similarity"] == pytest.approx(service.model.similarity(a, b), abs=1e-4)
    assert close["similarity"] > far["similarity"] + 0.2
    r = client.get("/api/similarity", query_string={"a": a})
    assert r.status_code == 400 and r.get_json()["field"] == "b"


def test_info(client, corpus_file):
    info = client.get("/api/info").get_json()
    assert info["sentences"] == len(SMALL_CORPUS) and info["corpus"] == corpus_file.name
    assert info["model_name"] == "all-MiniLM-L6-v2" and info["limits"]["max_top_k"] == MAX_TOP_K


def test_page_renders_results_without_javascript(client):
    page = client.get("/").get_data(as_text=True)
    assert 'id="search-form"' in page and 'id="query"' in page and "app.js" in page
    page = client.get("/", query_string={"q": "A man is playing a guitar.", "top_k": 2}).get_data(as_text=True)
    assert "A man is playing a guitar on the street." in page and page.count('class="result"') == 2
    r = client.get("/", query_string={"q": "hello", "top_k": "abc"})
    assert r.status_code == 200 and "top_k must be an integer" in r.get_data(as_text=True)
    assert client.get("/static/app.js").status_code == 200


def _number_input_accepts(page: str, input_id: str) -> bool:
    """Whether the browser would let the form submit with the <input type=number> ``input_id`` as
    rendered: its value must lie on the grid min + k * step (unless step="any")."""
    import re
    from decimal import Decimal

    tag = re.search(rf'<input id="{input_id}"[^>]*>', page).group(0)
    attrs = dict(re.findall(r'(\w+)="([^"]*)"', tag))
    value, low, high = Decimal(attrs["value"]), Decimal(attrs["min"]), Decimal(attrs["max"])
    if not low <= value <= high:
        return False
    return attrs.get("step") == "any" or (value - low) % Decimal(attrs.get("step", "1")) == 0


def test_page_threshold_box_accepts_any_threshold_in_range(service):
    # `simcse demo --threshold 0.33`: the box must not block the form (a step of 0.05 did: "the two
    # nearest valid values are 0.3 and 0.35", and Search did nothing)
    odd = SearchService(service.model, "corpus.txt", default_top_k=5, default_threshold=0.33)
    client = create_app(odd).test_client()
    assert _number_input_accepts(client.get("/").get_data(as_text=True), "threshold")
    page = client.get("/", query_string={"q": "A cat sleeps.", "threshold": "0.42"}).get_data(as_text=True)
    assert _number_input_accepts(page, "threshold") and _number_input_accepts(page, "top_k")


def test_concurrent_requests_on_a_threaded_server(service):
    server = serve(create_app(service))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    queries = ["How can I change my password?", "A cat sleeps in the sun.", "Stocks fell today.",
               "The team won the final.", "It will be sunny this weekend.", "A new galaxy was photographed."]
    expected = {q: [s for s, _ in service.model.search(q, top_k=3, threshold=0.0)] for q in queries}

    def fetch(i: int) -> tuple[str, list[str], int]:
        q = queries[i % len(queries)]
        path = ("/api/search?" + urllib.parse.urlencode({"q": q, "top_k": 3})) if i % 5 else "/api/search?q="
        try:
            with urllib.request.urlopen(base + path, timeout=60) as resp:
                return q, [x["sentence"] for x in json.load(resp)["results"]], resp.status
        except urllib.error.HTTPError as err:
            return q, [], err.code

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(fetch, range(48)))
        # a request line past the server's 64 KiB limit is refused before the app: still a JSON 4xx
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(base + "/api/search?q=" + "a" * 70_000, timeout=60)
        assert err.value.code == 414 and "error" in json.loads(err.value.read())
        assert err.value.headers["Content-Type"].startswith("application/json")
    finally:
        server.shutdown()
        thread.join(10)
    for i, (q, sentences, status) in enumerate(answers):
        if i % 5:
            assert status == 200 and sentences == expected[q], (i, q)
        else:
            assert status == 400


def test_malformed_request_lines_get_a_valid_json_error():
    """Errors the server answers before the app runs quote the request line: a '"' or a control byte in
    it must still give a JSON body (http.server's text template gave invalid JSON)."""
    import socket

    server = serve(create_app(SearchService(model=None, corpus_name="none")), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        for line in (b'GET /api/search?q=dog HTTP/1.1"', b"GET /api/search?q=dog HTTP/1.1\x01",
                     b"GET /api/search?q=dog HTTP/1.1 extra"):
            with socket.create_connection(("127.0.0.1", server.server_port), timeout=10) as conn:
                conn.sendall(line + b"\r\n\r\n")
                reply = b""
                while chunk := conn.recv(65536):
                    reply += chunk
            head, _, body = reply.partition(b"\r\n\r\n")
            body = body if head.startswith(b"HTTP/") else reply  # an HTTP/0.9-style reply has no head
            error = json.loads(body)
            assert error["field"] is None and error["error"].startswith("400 Bad request"), reply
    finally:
        server.shutdown()
        thread.join(10)


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
    # 70000 was served on 4464 and 65536 on a random port (the socket layer keeps the low 16 bits);
    # -1 failed with a traceback only after the corpus had been encoded
    monkeypatch.setattr(demo_app, "SimCSE", lambda *a, **k: pytest.fail("the model was loaded first"))
    assert main(["--port", port]) == 2
    assert f"port must be from 0 to 65535 (0: any free port), got {port}" in capsys.readouterr().err


def test_demo_command_fails_on_a_busy_port_before_indexing(corpus_file, capsys, monkeypatch):
    # the whole corpus used to be encoded first, then werkzeug said "Port N is in use" and exited
    import socket

    monkeypatch.setattr(demo_app, "SimCSE", lambda *a, **k: object())
    monkeypatch.setattr(demo_app, "load_or_build_index", lambda *a, **k: pytest.fail("the corpus was indexed first"))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main([str(corpus_file), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "in use" in err


def test_demo_command_rejects_bad_arguments(tmp_path, capsys):
    assert main([str(tmp_path / "missing.txt")]) == 2
    assert "missing.txt" in capsys.readouterr().err
    assert main(["--top_k", "0"]) == 2
    assert f"top_k must be from 1 to {MAX_TOP_K}, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli_main(["demo", "--help"])
    assert exc.value.code == 0 and "simcse demo" in capsys.readouterr().out


@pytest.mark.slow
def test_commands_work_without_flask():
    """Flask is the [demo] extra: without it the other commands and ``simcse demo --help`` run, and
    ``simcse demo`` says what to install."""
    code = ("import sys; sys.modules['flask'] = None\n"  # an import of flask now fails as if not installed
            "from simcse.cli import main\n"
            "try:\n    main(['demo', '--help'])\nexcept SystemExit as exc:\n    assert exc.code == 0\n"
            "sys.exit(main(['demo']))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert "usage: simcse demo" in proc.stdout
    assert proc.returncode == 2 and "pip install 'simcse[demo]'" in proc.stderr, proc.stderr[-2000:]


def start_demo(args: list[str], timeout: float = 180) -> tuple[subprocess.Popen, str]:
    """Start `python -m simcse demo ARGS --port 0`; return the process and the URL it prints."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    proc = subprocess.Popen([sys.executable, "-m", "simcse", "demo", *args, "--host", "127.0.0.1", "--port", "0",
                             "--device", "cpu"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + timeout
    line = ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "serving at http://" in line:
            return proc, line.split("serving at ")[1].split()[0]
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"demo did not start: {line!r}; stderr: {proc.stderr.read()[-3000:]}")


def stop_demo(proc: subprocess.Popen) -> str:
    """Stop the server; return what it wrote to stderr (its log)."""
    proc.terminate()
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err


@pytest.mark.slow
def test_demo_command_serves_logs_and_reuses_its_index(corpus_file, tmp_path):
    index_dir = tmp_path / "idx"
    proc, url = start_demo([str(corpus_file), "--index", str(index_dir)])
    try:
        with urllib.request.urlopen(url + "api/search?" + urllib.parse.urlencode({"q": "A cat naps in the sun."})) as r:
            assert json.load(r)["results"][0]["sentence"] == "A cat is sleeping on the windowsill in the sun."
    finally:
        log = stop_demo(proc)
    assert "built index of 50 sentences" in log and "GET /api/search" in log and "Encoding" in log
    proc, url = start_demo([str(corpus_file), "--index", str(index_dir)])
    log = stop_demo(proc)
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
