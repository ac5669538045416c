"""The web pages in a real browser: Debian's Chromium, driven by Playwright.

A person draws with the mouse and the prediction must appear; the training page must
draw its curves. The server runs in a thread on 127.0.0.1 with a free port.

Needs `apt-get install chromium` and `pip install playwright` (the Python package only;
its own browser download is never used: the test points it at /usr/bin/chromium).
Skipped, saying why, when either is missing.
"""

import os
import shutil

import numpy as np
import pytest

CHROMIUM = os.environ.get("CHAINRULE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]

pytest.importorskip("flask", reason="Flask is not installed (chainrule[web])")
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="playwright is not installed (pip install playwright)")
if not os.path.exists(CHROMIUM):
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)

from chainrule.models import TwoLayerNet  # noqa: E402
from chainrule.web import LiveMetrics, create_app, start_server_in_thread  # noqa: E402


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30000)
        except Exception as exc:  # a broken browser install is a reason to skip, not fail
            pytest.skip(f"chromium did not start: {exc}")
        yield b
        b.close()


@pytest.fixture
def server():
    model = TwoLayerNet(784, 16, 10, weight_init_std=0.1, rng=0)
    metrics = LiveMetrics(info={"model": "TwoLayerNet(784, 16, 10)"})
    for i in range(1, 41):
        metrics.on_iteration_end(i, 2.3 * np.exp(-i / 15))
        if i % 10 == 0:
            metrics.on_epoch_end({"epoch": i // 10, "iteration": i, "loss": 2.3 * np.exp(-i / 15),
                                  "train_acc": 0.5 + i / 100, "test_acc": 0.45 + i / 100,
                                  "elapsed": i / 10})
    app = create_app(model, metrics=metrics, info={"source": "a test model"})
    srv = start_server_in_thread(app, host="127.0.0.1", port=0)
    srv.metrics = metrics
    yield srv
    srv.shutdown()
    srv.server_close()


def test_drawing_a_digit_shows_a_prediction(browser, server):
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("requestfailed", lambda req: errors.append("failed: " + req.url))
    requests = []
    page.on("request", lambda req: requests.append(req.url))
    page.goto(server.url, wait_until="load")
    # (Waits use selectors, not JavaScript predicates: the pages' Content-Security-Policy
    # forbids eval, and the test keeps that policy on, so it also checks the pages obey it.)
    page.wait_for_selector("#model-info:has-text('a test model')")
    assert page.inner_text("#prediction") == "?"

    box = page.locator("#pad").bounding_box()
    x0, y0 = box["x"], box["y"]
    page.mouse.move(x0 + 140, y0 + 40)
    page.mouse.down()
    for step in range(1, 21):                      # a vertical stroke: a "1"
        page.mouse.move(x0 + 140 + step, y0 + 40 + 10 * step)
    page.mouse.up()

    page.wait_for_selector("#prediction[data-state='shown']", timeout=10000)
    prediction = page.inner_text("#prediction")
    assert prediction in [str(k) for k in range(10)]
    widths = page.eval_on_selector_all(
        "#probs .fill", "els => els.map(e => parseFloat(e.style.width))")
    assert len(widths) == 10 and abs(sum(widths) - 100) < 1.0
    assert "units" in page.inner_text("#hidden-name")
    # The digit the server classified is shown: the small canvas is no longer all black.
    lit = page.evaluate("""() => {
        const d = document.getElementById('seen').getContext('2d').getImageData(0, 0, 28, 28).data;
        let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""")
    assert lit > 10
    # Clear brings the page back to its empty state.
    page.click("#clear")
    assert page.inner_text("#prediction") == "?"
    assert errors == []
    # Every request went to our own server: nothing remote, no CDN.
    assert requests and all(url.startswith(server.url) for url in requests), requests
    page.close()


def test_training_page_draws_live_curves(browser, server):
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.url + "train", wait_until="load")
    page.wait_for_selector("#loss-chart polyline.loss-raw", timeout=10000)
    page.wait_for_selector("#acc-chart polyline.test")
    assert page.locator("#epoch-rows tr").count() == 4
    assert "iteration 40" in page.inner_text("#train-status")
    # Training goes on: the page picks the new values up by itself.
    for i in range(41, 51):
        server.metrics.on_iteration_end(i, 0.3)
    server.metrics.on_epoch_end({"epoch": 5, "iteration": 50, "loss": 0.3,
                                 "train_acc": 0.99, "test_acc": 0.97, "elapsed": 5.0})
    page.wait_for_selector("#train-status:has-text('iteration 50')", timeout=10000)
    assert page.locator("#epoch-rows tr").count() == 5
    assert errors == []
    page.close()
