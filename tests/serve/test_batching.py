"""Dynamic batching: merged requests get their own vectors, the queue is bounded (429), requests time out (504)."""
from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

from servers import tiny_model  # a fixture
from simcse.serve.batcher import Batcher, QueueFull
from simcse.serve.metrics import Metrics

WORDS = "the quick brown fox jumps over a lazy dog while seven wizards quietly hex the jovial boxer".split()


def sentences(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 40)))) for _ in range(n)]


def run_then_close(batcher: Batcher, calls) -> list:
    """Send ``calls`` (coroutines of ``batcher``) at once; their results, once the batcher is closed."""
    async def send():
        return await asyncio.gather(*calls)

    try:
        return asyncio.run(send())
    finally:
        batcher.close()


def passes(metrics: Metrics) -> tuple[float, float]:
    """(merged passes, requests in them) so far."""
    samples = metrics.batch_requests.collect()[0].samples
    return (next(s.value for s in samples if s.name.endswith("_count")),
            next(s.value for s in samples if s.name.endswith("_sum")))


@pytest.mark.parametrize("which", ["tiny_model", pytest.param("minilm", marks=pytest.mark.slow)])
def test_merged_requests_get_the_vectors_of_each_request_encoded_alone(request, which):
    """The tiny model normalises in the server; all-MiniLM-L6-v2 normalises itself (its Normalize module)."""
    minilm = request.getfixturevalue(which)
    metrics = Metrics()
    batcher = Batcher(minilm, metrics, max_batch_size=256, max_wait_ms=500, batch_size=16)
    requests = [sentences(int(k), seed) for seed, k in enumerate([1, 16, 3, 9, 1, 12, 5, 2])]
    dims = [None, None, 16, None, 8, None, None, 32] if which == "tiny_model" else [None, None, 64, None, 128, None, None, 32]

    results = run_then_close(batcher, [batcher.embed(r, d, 60) for r, d in zip(requests, dims)])
    count, total = passes(metrics)
    assert total == len(requests) and count < len(requests)  # requests were merged into fewer passes
    for r, d, res in zip(requests, dims, results):
        want = minilm.encode(r, return_numpy=True, keepdim=True, truncate_dim=d)
        assert res.vectors.shape == want.shape
        # other padding in a merged batch may move the last bit of a float32 (different matmul blocking)
        np.testing.assert_allclose(res.vectors, want, rtol=0, atol=2e-6)
        assert res.tokens == sum(len(ids) for ids in minilm.encoder.tokenize_ids(r, minilm.max_length))


def test_a_bad_request_in_a_merged_batch_fails_alone(tiny_model):
    batcher = Batcher(tiny_model, Metrics(), max_wait_ms=300)
    real = batcher.encode

    def encode(texts):
        if "boom" in texts:
            raise RuntimeError("boom")
        return real(texts)

    batcher.encode = encode

    async def send():
        return await asyncio.gather(batcher.embed(["fine"], None, 30), batcher.embed(["boom"], None, 30),
                                    batcher.embed(["also fine", "ok"], None, 30), return_exceptions=True)

    try:
        good, bad, good2 = asyncio.run(send())
    finally:
        batcher.close()
    assert isinstance(bad, RuntimeError)
    assert good.vectors.shape == (1, 32) and good2.vectors.shape == (2, 32)


def test_the_queue_is_bounded(tiny_model):
    batcher = Batcher(tiny_model, Metrics(), max_queue=2, max_wait_ms=0)
    release = threading.Event()

    async def send():
        blocker = asyncio.ensure_future(batcher.run(release.wait, 30))
        await asyncio.sleep(0.2)  # the worker holds the blocker
        queued = [asyncio.ensure_future(batcher.embed(["x"], None, 30)) for _ in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(QueueFull, match="2 requests are waiting"):
            await batcher.embed(["y"], None, 30)
        release.set()
        return await blocker, await asyncio.gather(*queued)

    try:
        _, results = asyncio.run(send())
    finally:
        release.set()
        batcher.close()
    assert [r.vectors.shape for r in results] == [(1, 32), (1, 32)]


def _blocked_app(model, **settings):
    from simcse.serve.app import create_app
    from simcse.serve.config import ServeConfig
    from simcse.serve.server import ServerThread

    config = ServeConfig(model=str(model.model_name_or_path), port=0, max_wait_ms=0, **settings)
    app = create_app(config, model=model)
    return app, ServerThread(app, config)


def test_a_full_queue_answers_429_with_retry_after_and_queued_requests_finish(tiny_model):
    app, server = _blocked_app(tiny_model, max_queue=3, max_batch_size=1)  # one request per pass
    release = threading.Event()
    with server as url:
        batcher = app.state.service.batcher
        real = batcher.encode
        started = threading.Event()

        def blocked(texts):
            started.set()
            release.wait(30)
            return real(texts)

        batcher.encode = blocked
        with ThreadPoolExecutor(12) as pool:
            send = lambda i: pool.submit(httpx.post, url + "/v1/embeddings", json={"input": f"s{i}"}, timeout=30)  # noqa: E731
            futures = [send(0)]
            assert started.wait(30)  # the model thread holds the first request, so the queue's 3 places are free
            futures += [send(i) for i in range(1, 12)]
            deadline = 300  # 30 s: a busy machine may take seconds to send the 12 requests
            while sum(f.done() for f in futures) < 8 and deadline:  # 1 encoding + 3 queued; the other 8 refused
                threading.Event().wait(0.1)
                deadline -= 1
            release.set()
            answers = [f.result() for f in futures]
        metrics = httpx.get(url + "/metrics", timeout=10).text
    codes = sorted(r.status_code for r in answers)
    assert codes == [200] * 4 + [429] * 8, codes
    refused = [r for r in answers if r.status_code == 429]
    assert all(int(r.headers["Retry-After"]) >= 1 for r in refused)
    assert all(r.json()["error"]["type"] == "rate_limit_error" for r in refused)
    assert "simcse_queue_rejected_total 8.0" in metrics


def test_a_request_that_waits_too_long_gets_504_and_is_dropped(tiny_model):
    app, server = _blocked_app(tiny_model, request_timeout=0.5)
    release = threading.Event()
    with server as url:
        batcher = app.state.service.batcher
        real = batcher.encode
        calls = []
        batcher.encode = lambda texts: (calls.append(texts), release.wait(30), real(texts))[2]
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(httpx.post, url + "/v1/embeddings", json={"input": "first"}, timeout=30)
            threading.Event().wait(0.2)
            second = pool.submit(httpx.post, url + "/v1/embeddings", json={"input": "second"}, timeout=30)
            r1, r2 = first.result(), second.result()
            release.set()
        after = httpx.post(url + "/v1/embeddings", json={"input": "third"}, timeout=30)
    assert r1.status_code == r2.status_code == 504 and r1.json()["error"]["code"] == "timeout"
    assert after.status_code == 200
    assert ["second"] not in calls  # the timed-out request waiting in the queue was never encoded


def test_health_is_503_until_the_model_loads_and_a_model_that_fails_stops(tiny_bert_path, tmp_path):
    from simcse.serve.app import create_app
    from simcse.serve.config import ServeConfig
    from simcse.serve.server import ServerThread

    errors = []
    config = ServeConfig(model=str(tmp_path / "missing"), port=0)
    with ServerThread(create_app(config, on_load_error=errors.append), config) as url:
        for _ in range(100):
            if errors:
                break
            threading.Event().wait(0.05)
        health = httpx.get(url + "/health", timeout=10)
        embed = httpx.post(url + "/v1/embeddings", json={"input": "x"}, timeout=10)
    assert errors and health.status_code == 503 and health.json() == {"status": "failed"}
    assert embed.status_code == 503 and str(tmp_path) not in embed.text

    config = ServeConfig(model=str(tiny_bert_path), port=0)
    with ServerThread(create_app(config), config) as url:
        states = []
        for _ in range(200):
            r = httpx.get(url + "/health", timeout=10)
            states.append(r.status_code)
            if r.status_code == 200:
                break
            threading.Event().wait(0.05)
        assert states[-1] == 200 and set(states[:-1]) <= {503}
        assert httpx.post(url + "/v1/embeddings", json={"input": "x"}, timeout=10).status_code == 200


def test_concurrent_searches_are_merged_and_each_gets_its_own_results(minilm_path):
    """Searches with the same top_k share one encode and one index search; each keeps its own threshold's rows,
    which are those of searching it alone. A search with another top_k is not merged with them."""
    from simcse import SimCSE

    model = SimCSE(str(minilm_path), device="cpu")  # a trained model: a random one scores every pair ~1 (ties)
    corpus = sentences(120, seed=7)
    model.build_index(corpus, use_faiss=False)
    metrics = Metrics()
    batcher = Batcher(model, metrics, max_batch_size=256, max_wait_ms=500, batch_size=16)
    asks = [(sentences(2, 20), 5, -1.0), (sentences(1, 21), 5, 0.5), (sentences(3, 22), 5, 0.9),
            (sentences(1, 23), 3, -1.0)]

    results = run_then_close(batcher, [batcher.search(q, k, t, 60) for q, k, t in asks])
    assert passes(metrics)[0] == 2  # the three top_k=5 searches in one pass, the top_k=3 one in another
    for (queries, k, t), got in zip(asks, results):
        want = model.search(queries, top_k=k, threshold=t, return_ids=True)
        assert [[(text, i) for text, _, i in row] for row in got] == [[(text, i) for text, _, i in row] for row in want]
        for grow, wrow in zip(got, want):
            np.testing.assert_allclose([h[1] for h in grow], [h[1] for h in wrow], atol=2e-6)
            assert all(h[1] >= t for h in grow)
