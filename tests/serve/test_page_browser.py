"""The search page of ``simcse serve`` in headless Chromium (Playwright): it calls /v1/search and /v1/embeddings.

Chromium and playwright come from scripts/install_browser.sh (as for the demo's browser test); the
test skips only when they cannot be installed.
"""
from __future__ import annotations

import pytest

from conftest import CHROMIUM_FLAGS
from servers import CORPUS, start

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def indexed_minilm(minilm_path, tmp_path_factory):
    """all-MiniLM-L6-v2 with the index of CORPUS, saved and loaded back (as ``simcse serve --index`` does)."""
    from simcse import SimCSE

    folder = tmp_path_factory.mktemp("page") / "idx"
    model = SimCSE(str(minilm_path), device="cpu")
    model.build_index(CORPUS, use_faiss=False)
    model.save_index(folder)
    served = SimCSE(str(minilm_path), device="cpu")
    served.load_index(folder, use_faiss=False)
    return served


@pytest.fixture
def page(chromium_path, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(str(tmp_path / "profile"), executable_path=chromium_path,
                                                        headless=True, args=CHROMIUM_FLAGS, viewport={"width": 1000, "height": 760})
        try:
            yield context.new_page()
        finally:
            context.close()


def test_the_page_searches_compares_and_shows_errors(page, indexed_minilm, tmp_path):
    with start(indexed_minilm) as url:
        page.goto(url + "/")
        assert "SimCSE semantic search" in page.title()
        page.wait_for_function("document.getElementById('info').textContent.includes('indexed sentences')")
        assert "6 indexed sentences, model all-MiniLM-L6-v2 (384-d)" in page.inner_text("#info")
        assert str(tmp_path) not in page.content()
        page.fill("#query", "Someone is strumming a guitar outside.")
        page.fill("#top_k", "3")
        page.press("#query", "Enter")
        page.wait_for_selector("#results li.result")
        rows = page.locator("#results li.result .sentence").all_inner_texts()
        assert len(rows) == 3 and rows[0] == "A man is playing a guitar."
        scores = [float(s) for s in page.locator("#results li.result .score").all_inner_texts()]
        assert scores == sorted(scores, reverse=True) and 0 < scores[0] <= 1
        assert page.inner_text("#latency").endswith(" ms")

        page.fill("#sent_a", "A man is playing a guitar.")
        page.fill("#sent_b", "Someone plays music on the street.")
        page.click("#similarity-button")
        page.wait_for_function("document.getElementById('similarity').textContent.includes('cosine')")
        cosine = float(page.inner_text("#similarity").split()[2])
        want = float(indexed_minilm.similarity("A man is playing a guitar.", "Someone plays music on the street."))
        assert abs(cosine - want) < 1e-3

        page.fill("#query", "")  # the server's 400 is shown as it says it
        page.click("#search-button")
        page.wait_for_selector("#error:not([hidden])")
        assert "'queries[0]' is an empty string" in page.inner_text("#error")
        assert page.locator("#results li").count() == 0
        shot = tmp_path / "serve_page.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000


def test_with_api_keys_the_page_asks_for_one(page, indexed_minilm):
    with start(indexed_minilm, api_keys=["page-key"]) as url:
        page.goto(url + "/")
        page.wait_for_selector("#key-section:not([hidden])")
        assert "API key" in page.inner_text("#info") or "Authorization" in page.inner_text("#info")
        page.fill("#api_key", "page-key")
        page.press("#api_key", "Enter")
        page.wait_for_function("document.getElementById('info').textContent.includes('indexed sentences')")
        page.fill("#query", "The kitten is napping on the couch.")
        page.press("#query", "Enter")
        page.wait_for_selector("#results li.result")
        assert page.locator("#results li.result .sentence").first.inner_text() == "The cat sleeps on the sofa."
