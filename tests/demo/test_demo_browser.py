"""End to end: `simcse demo` as a real process (the serve stack's page calling /v1/search), driven by headless
Chromium (Debian's) through Playwright.

Chromium and the `playwright` package come from scripts/install_browser.sh (run by
scripts/run_tests.sh, and here once if they are missing); the test skips only when they cannot be
installed. A screenshot of the page with results is kept as tests' artifact: <tmp_path>/demo.png.
"""
from __future__ import annotations

import pytest

from conftest import CHROMIUM_FLAGS
from test_demo import SMALL_CORPUS, start_demo, stop_demo

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory):
    corpus = tmp_path_factory.mktemp("browser_demo") / "corpus.txt"
    corpus.write_text("\n".join(SMALL_CORPUS) + "\n", encoding="utf-8")
    proc, url = start_demo([str(corpus), "--top_k", "4", "--threshold", "0.1"])
    yield url
    stop_demo(proc)


@pytest.fixture
def page(chromium_path, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=chromium_path, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1000, "height": 760},
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def open_page(page, url: str) -> None:
    page.goto(url)
    page.wait_for_function("document.getElementById('info').textContent.includes('indexed sentences')")


def test_typing_a_query_shows_the_nearest_sentence(page, demo_url, tmp_path):
    open_page(page, demo_url)
    assert "SimCSE semantic search" in page.title()
    assert "50 indexed sentences" in page.inner_text("#info")
    # the demo's --top_k and --threshold fill the boxes
    assert page.input_value("#top_k") == "4" and float(page.input_value("#threshold")) == 0.1
    page.fill("#query", "Someone is strumming a guitar outside.")
    page.fill("#top_k", "3")
    page.press("#query", "Enter")
    page.wait_for_selector("#results li.result")
    rows = page.locator("#results li.result .sentence").all_inner_texts()
    assert len(rows) == 3
    assert rows[0] == "A man is playing a guitar on the street."
    scores = [float(s) for s in page.locator("#results li.result .score").all_inner_texts()]
    assert scores == sorted(scores, reverse=True) and 0.1 <= scores[-1] and scores[0] <= 1
    assert page.inner_text("#latency").endswith(" ms")

    shot = tmp_path / "demo.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")


def test_bad_input_shows_an_error_and_a_new_query_clears_it(page, demo_url):
    open_page(page, demo_url)
    page.fill("#query", "")
    page.click("#search-button")
    page.wait_for_selector("#error:not([hidden])")
    assert "is an empty string" in page.inner_text("#error")
    assert page.locator("#results li").count() == 0
    page.fill("#query", "A dog plays in the park.")
    page.fill("#top_k", "2")
    page.click("#search-button")
    page.wait_for_selector("#results li.result")
    assert page.locator("#error").is_hidden()
    assert page.locator("#results li.result .sentence").first.inner_text() == "A dog is chasing a ball across the park."


def test_a_threshold_off_a_step_grid_still_searches(page, demo_url):
    # step="0.05" made Chromium refuse 0.33 ("the two nearest valid values are 0.3 and 0.35"): no search
    open_page(page, demo_url)
    page.fill("#query", "A cat naps in the sun.")
    page.fill("#threshold", "0.33")
    page.click("#search-button")
    page.wait_for_selector("#results li.result", timeout=20_000)
    assert page.evaluate("document.getElementById('threshold').validity.valid")
    scores = [float(s) for s in page.locator("#results li.result .score").all_inner_texts()]
    assert scores and min(scores) >= 0.33
