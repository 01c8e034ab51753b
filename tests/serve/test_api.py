"""``simcse serve`` through HTTP: the official openai client, errors, auth, search, metrics, and a fuzz table."""
from __future__ import annotations

import base64
import json

import httpx
import numpy as np
import pytest

from servers import CORPUS, start, tiny_model, tiny_server  # tiny_model, tiny_server: fixtures

openai = pytest.importorskip("openai")

SENTENCES = ["A man is playing a guitar.", "Someone plays music.", "Short.",
             "A considerably longer sentence, so that the batch holds sentences of very different lengths."]


@pytest.fixture(scope="module")
def minilm_server(minilm):
    with start(minilm) as url:
        yield url


@pytest.mark.parametrize("encoding_format", ["float", "base64"])
def test_the_openai_client_gets_the_vectors_of_simcse_encode(minilm_server, minilm, encoding_format):
    client = openai.OpenAI(base_url=minilm_server + "/v1", api_key="unused")
    out = client.embeddings.create(model="all-MiniLM-L6-v2", input=SENTENCES, encoding_format=encoding_format)
    got = np.array([d.embedding for d in out.data], dtype=np.float32) if encoding_format == "float" else np.stack(
        [np.frombuffer(base64.b64decode(d.embedding), dtype="<f4") for d in out.data])
    want = minilm.encode(SENTENCES, return_numpy=True)
    assert got.shape == (4, 384) and [d.index for d in out.data] == [0, 1, 2, 3]
    np.testing.assert_array_equal(got, want)
    tokens = sum(len(ids) for ids in minilm.encoder.tokenize_ids(SENTENCES, minilm.max_length))
    assert out.usage.prompt_tokens == out.usage.total_tokens == tokens
    assert out.model == "all-MiniLM-L6-v2"


def test_the_client_default_and_a_single_string(minilm_server, minilm):
    client = openai.OpenAI(base_url=minilm_server + "/v1", api_key="unused")
    out = client.embeddings.create(model="all-MiniLM-L6-v2", input="Just one sentence.")  # the client asks for base64
    np.testing.assert_array_equal(np.array(out.data[0].embedding, dtype=np.float32),
                                  minilm.encode("Just one sentence.", return_numpy=True))


def test_dimensions_truncate_then_renormalise(minilm_server, minilm):
    client = openai.OpenAI(base_url=minilm_server + "/v1", api_key="unused")
    out = client.embeddings.create(model="all-MiniLM-L6-v2", input=SENTENCES, dimensions=64, encoding_format="float")
    got = np.array([d.embedding for d in out.data], dtype=np.float32)
    assert got.shape == (4, 64)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(got, minilm.encode(SENTENCES, return_numpy=True, truncate_dim=64), atol=1e-6)
    with pytest.raises(openai.BadRequestError, match=r"'dimensions' must be 1\.\.384"):
        client.embeddings.create(model="all-MiniLM-L6-v2", input="x", dimensions=385)


def test_openai_errors_reach_the_client_with_their_status(minilm_server):
    client = openai.OpenAI(base_url=minilm_server + "/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.NotFoundError, match="serves 'all-MiniLM-L6-v2'"):
        client.embeddings.create(model="text-embedding-3-small", input="x")
    with pytest.raises(openai.BadRequestError, match="token ids") as err:
        client.embeddings.create(model="all-MiniLM-L6-v2", input=[[101, 2023, 102]])
    assert err.value.body["code"] == "token_ids_not_supported" and err.value.body["param"] == "input"
    models = client.models.list()
    assert [m.id for m in models.data] == ["all-MiniLM-L6-v2"]


def test_search_returns_ids_texts_and_scores(tiny_server, tiny_model):
    r = httpx.post(tiny_server + "/v1/search", json={"queries": ["a guitar player", "password reset"], "top_k": 3},
                   timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["index_size"] == len(CORPUS) and [d["query"] for d in body["data"]] == ["a guitar player", "password reset"]
    for d, query in zip(body["data"], ["a guitar player", "password reset"]):
        want = tiny_model.search(query, top_k=3, threshold=-1.0, return_ids=True)
        assert [(h["text"], h["id"]) for h in d["results"]] == [(t, i) for t, _, i in want]
        np.testing.assert_allclose([h["score"] for h in d["results"]], [s for _, s, _ in want], atol=1e-6)
        assert all(CORPUS[h["id"]] == h["text"] for h in d["results"])


def test_search_without_an_index_is_a_404_naming_the_flag(tiny_bert_path):
    from simcse import SimCSE

    with start(SimCSE(str(tiny_bert_path), device="cpu")) as url:
        r = httpx.post(url + "/v1/search", json={"queries": "x"}, timeout=10)
    assert r.status_code == 404 and "--index" in r.json()["error"]["message"]


def test_health_models_metrics_and_no_paths(tiny_server, tiny_bert_path):
    with httpx.Client(base_url=tiny_server, timeout=10) as c:
        assert c.get("/health").json() == {"status": "ok"}
        c.post("/v1/embeddings", json={"input": ["one", "two", "three"]})
        card = c.get("/v1/models/tiny").json()
        assert card["id"] == "tiny" and card["dimensions"] == 32 and card["index_size"] == len(CORPUS)
        metrics = c.get("/metrics").text
        page = c.get("/").text
        css = c.get("/static/style.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css") and ".result" in css.text
        answers = [c.get("/v1/models").text, json.dumps(card), metrics, page, c.get("/static/app.js").text]
    assert 'simcse_requests_total{endpoint="/v1/embeddings",status="200"}' in metrics
    for name in ("simcse_request_latency_seconds_bucket", "simcse_batch_sentences_bucket", "simcse_queue_depth",
                 "simcse_tokens_total", "simcse_model_ready 1.0"):
        assert name in metrics
    for text in answers:
        assert str(tiny_bert_path) not in text and str(tiny_bert_path.parent) not in text


def test_api_keys_guard_everything_but_health(tiny_model, tmp_path):
    with start(tiny_model, api_keys=["k1", "k2"]) as url:
        with httpx.Client(base_url=url, timeout=10) as c:
            assert c.get("/health").status_code == 200
            for method, path in [("POST", "/v1/embeddings"), ("POST", "/v1/search"), ("GET", "/v1/models"),
                                 ("GET", "/metrics")]:
                r = c.request(method, path, json={"input": "x", "queries": "x"})
                assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key", path
                r = c.request(method, path, json={"input": "x"}, headers={"Authorization": "Bearer wrong"})
                assert r.status_code == 401, path
            ok = c.post("/v1/embeddings", json={"input": "x"}, headers={"Authorization": "Bearer k2"})
            assert ok.status_code == 200
        client = openai.OpenAI(base_url=url + "/v1", api_key="k1")
        assert len(client.embeddings.create(model=tiny_model.model_name_or_path.rstrip("/").split("/")[-1],
                                            input="x").data[0].embedding) == 32
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=url + "/v1", api_key="nope", max_retries=0).models.list()


# ---------------------------------------------------------------------- fuzzing
def _j(obj) -> bytes:
    return json.dumps(obj).encode()


FUZZ = [
    # (name, path, body bytes, expected status)
    ("empty body", "/v1/embeddings", b"", 400),
    ("whitespace body", "/v1/embeddings", b"   \n", 400),
    ("not json", "/v1/embeddings", b"input=hello", 400),
    ("truncated json", "/v1/embeddings", b'{"input": "hel', 400),
    ("json array", "/v1/embeddings", b'["a", "b"]', 400),
    ("json string", "/v1/embeddings", b'"hello"', 400),
    ("json number", "/v1/embeddings", b"42", 400),
    ("json null", "/v1/embeddings", b"null", 400),
    ("NaN constant", "/v1/embeddings", b'{"input": "x", "dimensions": NaN}', 400),
    ("Infinity constant", "/v1/search", b'{"queries": "x", "threshold": Infinity}', 400),
    ("invalid utf-8", "/v1/embeddings", b'{"input": "\xff\xfe caf\xe9"}', 400),
    ("overlong utf-8", "/v1/embeddings", b'{"input": "\xc0\xaf"}', 400),
    ("lone surrogate escape", "/v1/embeddings", b'{"input": "bad \\ud800 text"}', 400),
    ("lone surrogate in list", "/v1/embeddings", b'{"input": ["ok", "\\udfff"]}', 400),
    ("nested arrays 10k", "/v1/embeddings", b"[" * 10000 + b"]" * 10000, 400),
    ("nested arrays 60k unclosed", "/v1/embeddings", b"[" * 60_000, 400),
    ("nested arrays 1M unclosed (too large)", "/v1/embeddings", b"[" * 1_000_000, 413),
    ("nested objects", "/v1/embeddings", b'{"a":' * 5000 + b"1" + b"}" * 5000, 400),
    ("nested input", "/v1/embeddings", b'{"input": ' + b"[" * 100 + b'"x"' + b"]" * 100 + b"}", 400),
    ("brackets inside strings are fine but input nested", "/v1/embeddings", _j({"input": [["[[[["]]}), 400),
    ("missing input", "/v1/embeddings", _j({"model": "tiny"}), 400),
    ("input null", "/v1/embeddings", _j({"input": None}), 400),
    ("input number", "/v1/embeddings", _j({"input": 3}), 400),
    ("input float", "/v1/embeddings", _j({"input": 3.5}), 400),
    ("input bool", "/v1/embeddings", _j({"input": True}), 400),
    ("input object", "/v1/embeddings", _j({"input": {"text": "x"}}), 400),
    ("empty list", "/v1/embeddings", _j({"input": []}), 400),
    ("empty string", "/v1/embeddings", _j({"input": ""}), 400),
    ("empty string in list", "/v1/embeddings", _j({"input": ["a", ""]}), 400),
    ("null in list", "/v1/embeddings", _j({"input": ["a", None]}), 400),
    ("number in list", "/v1/embeddings", _j({"input": ["a", 1]}), 400),
    ("object in list", "/v1/embeddings", _j({"input": ["a", {}]}), 400),
    ("token ids", "/v1/embeddings", _j({"input": [101, 7592, 102]}), 400),
    ("token id lists", "/v1/embeddings", _j({"input": [[101, 102], [101, 103]]}), 400),
    ("lists of strings", "/v1/embeddings", _j({"input": [["a", "b"]]}), 400),
    ("too many inputs", "/v1/embeddings", _j({"input": ["x"] * 65}), 400),
    ("input too long", "/v1/embeddings", _j({"input": "y" * 2001}), 400),
    ("huge body", "/v1/embeddings", _j({"input": "z" * 70000}), 413),
    ("unknown field", "/v1/embeddings", _j({"input": "x", "temperature": 0.5}), 400),
    ("unknown field only", "/v1/embeddings", _j({"prompt": "x"}), 400),
    ("model wrong", "/v1/embeddings", _j({"input": "x", "model": "gpt-4"}), 404),
    ("model not a string", "/v1/embeddings", _j({"input": "x", "model": 7}), 400),
    ("encoding_format unknown", "/v1/embeddings", _j({"input": "x", "encoding_format": "int8"}), 400),
    ("encoding_format number", "/v1/embeddings", _j({"input": "x", "encoding_format": 1}), 400),
    ("dimensions zero", "/v1/embeddings", _j({"input": "x", "dimensions": 0}), 400),
    ("dimensions negative", "/v1/embeddings", _j({"input": "x", "dimensions": -8}), 400),
    ("dimensions above width", "/v1/embeddings", _j({"input": "x", "dimensions": 33}), 400),
    ("dimensions float", "/v1/embeddings", _j({"input": "x", "dimensions": 8.5}), 400),
    ("dimensions string", "/v1/embeddings", _j({"input": "x", "dimensions": "8"}), 400),
    ("dimensions bool", "/v1/embeddings", _j({"input": "x", "dimensions": True}), 400),
    ("dimensions huge int", "/v1/embeddings", b'{"input": "x", "dimensions": 1' + b"0" * 5000 + b"}", 400),
    ("user not a string", "/v1/embeddings", _j({"input": "x", "user": ["u"]}), 400),
    ("search missing queries", "/v1/search", _j({"top_k": 3}), 400),
    ("search queries empty", "/v1/search", _j({"queries": []}), 400),
    ("search queries number", "/v1/search", _j({"queries": 5}), 400),
    ("search top_k zero", "/v1/search", _j({"queries": "x", "top_k": 0}), 400),
    ("search top_k huge", "/v1/search", _j({"queries": "x", "top_k": 10**9}), 400),
    ("search top_k string", "/v1/search", _j({"queries": "x", "top_k": "5"}), 400),
    ("search threshold string", "/v1/search", _j({"queries": "x", "threshold": "high"}), 400),
    ("search unknown field", "/v1/search", _j({"queries": "x", "filter": {"a": 1}}), 400),
    ("search deep nesting", "/v1/search", b'{"queries": ' + b"[" * 50000, 400),
    ("search invalid utf-8", "/v1/search", b'{"queries": "\x80"}', 400),
]


@pytest.mark.parametrize("name,path,body,status", FUZZ, ids=[f[0] for f in FUZZ])
def test_fuzzed_requests_get_a_4xx_with_a_message(tiny_server, name, path, body, status):
    r = httpx.post(tiny_server + path, content=body, headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == status, (name, r.status_code, r.text[:300])
    error = r.json()["error"]
    assert error["message"] and set(error) == {"message", "type", "param", "code"}


MORE = [
    ("GET", "/v1/embeddings", 405), ("PUT", "/v1/search", 405), ("GET", "/nope", 404), ("POST", "/v1/models", 405),
    ("GET", "/v1/models/other-model", 404), ("GET", "/static/../../etc/passwd", 404), ("GET", "/static/x.py", 404),
    ("DELETE", "/health", 405),
]


@pytest.mark.parametrize("method,path,status", MORE)
def test_wrong_methods_and_paths_get_openai_errors(tiny_server, method, path, status):
    r = httpx.request(method, tiny_server + path, timeout=10)
    assert r.status_code == status and r.json()["error"]["message"]


def test_fuzz_table_has_at_least_50_cases_and_the_server_still_answers(tiny_server):
    assert len(FUZZ) + len(MORE) >= 50
    r = httpx.post(tiny_server + "/v1/embeddings", json={"input": "still alive"}, timeout=10)
    assert r.status_code == 200 and len(r.json()["data"][0]["embedding"]) == 32
