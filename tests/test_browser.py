"""The web pages in a real browser: Debian's Chromium, driven by Playwright.

A person draws with the mouse and the prediction must appear; the training page must
draw its curves. After choosing the true digit, the gradients must appear (heat map,
layer sizes, first layer, graph), "learn" must raise the chosen digit's probability and
"reset" bring the original ones back; on the apple page, editing a price must change the
derivatives. The server runs in a thread on 127.0.0.1 with a free port.

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


# -- the backward pass, learn and reset, the apple graph -------------------------------------
def _serve(model):
    srv = start_server_in_thread(create_app(model, info={"source": "a test model"}),
                                 host="127.0.0.1", port=0)
    return srv


def _small_conv():
    from chainrule.models import SimpleConvNet
    return SimpleConvNet(conv_param={"filter_num": 4, "filter_size": 5, "pad": 0, "stride": 1},
                         hidden_size=12, weight_init_std=0.3, rng=1)


def _draw_seven(page):
    box = page.locator("#pad").bounding_box()
    x0, y0 = box["x"], box["y"]
    page.mouse.move(x0 + 70, y0 + 60)
    page.mouse.down()
    for step in range(1, 21):
        page.mouse.move(x0 + 70 + 7 * step, y0 + 60)
    for step in range(1, 25):
        page.mouse.move(x0 + 210 - 4 * step, y0 + 60 + 7 * step)
    page.mouse.up()
    page.wait_for_selector("#prediction[data-state='shown']", timeout=10000)
    _settled(page)


def _settled(page):
    """Wait until the page has an answer for everything drawn and pressed so far."""
    page.wait_for_selector("#pad[data-sync='done']", timeout=10000)


def _probabilities(page):
    return [float(v) for v in page.eval_on_selector_all(
        "#probs li", "els => els.map(e => e.dataset.p)")]


def _open(browser, url, errors):
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("requestfailed", lambda req: errors.append("failed: " + req.url))
    page.goto(url, wait_until="load")
    return page


def _small_sequential():
    from chainrule.models import Sequential
    return Sequential("affine(24) leakyrelu dropout(0.5) affine(10)", input_shape=784, rng=2)


@pytest.mark.parametrize("make", [lambda: TwoLayerNet(784, 16, 10, weight_init_std=0.1, rng=0),
                                  _small_conv, _small_sequential],
                         ids=["TwoLayerNet", "SimpleConvNet", "Sequential"])
def test_gradient_heat_map_layer_sizes_first_layer_and_graph_appear(browser, make):
    model = make()
    srv = _serve(model)
    errors = []
    try:
        page = _open(browser, srv.url, errors)
        page.wait_for_selector("#model-info:has-text('a test model')")
        # The layer graph is there before any backward pass, with shapes, no gradients.
        page.wait_for_selector("#graph g.edge text.shape")
        assert page.locator("#graph g.node").count() == len(model.layers) + 2
        assert page.locator("#graph text.grad").count() == 0
        _draw_seven(page)
        assert page.get_attribute("#heat", "data-state") == "empty"
        page.click("#labels button[data-label='3']")
        page.wait_for_selector("#heat[data-state='shown']", timeout=10000)
        assert page.get_attribute("#labels button[data-label='3']", "aria-pressed") == "true"
        # Both signs of dL/dx are drawn: red (raise the loss) and blue (lower it).
        red, blue = page.evaluate("""() => {
            const ctx = document.getElementById('heat').getContext('2d');
            const d = ctx.getImageData(0, 0, 28, 28).data;
            let r = 0, b = 0;
            for (let i = 0; i < d.length; i += 4) {
                if (d[i] > d[i + 2] + 30) r++;
                if (d[i + 2] > d[i] + 30) b++;
            }
            return [r, b]; }""")
        assert red > 5 and blue > 5, (red, blue)
        assert "loss for 3" in page.inner_text("#loss-info")
        # One row per layer, each with the size of its gradient.
        rows = page.locator("#grad-table tbody tr")
        assert rows.count() == len(model.layers)
        assert [rows.nth(i).get_attribute("data-layer") for i in range(rows.count())] == \
            list(model.layers)
        # The first layer: an image pair per hidden unit (or filter, with its maps).
        first = model.layers[next(iter(model.layers))]
        n_units = first.W.shape[1] if first.W.ndim == 2 else first.W.shape[0]
        assert page.locator("#units figure").count() == n_units
        per_figure = 2 if first.W.ndim == 2 else 4
        assert page.locator("#units canvas").count() == per_figure * n_units
        # Every edge of the graph now carries a gradient norm.
        assert page.locator("#graph text.grad").count() == len(model.layers) + 1
        assert errors == []
        page.close()
    finally:
        srv.shutdown()
        srv.server_close()


def test_learn_raises_the_chosen_digits_probability_and_reset_restores_it(browser):
    model = TwoLayerNet(784, 16, 10, weight_init_std=0.1, rng=0)
    original = {k: v.copy() for k, v in model.params.items()}
    srv = _serve(model)
    errors = []
    try:
        page = _open(browser, srv.url, errors)
        page.wait_for_selector("#model-info:has-text('a test model')")
        assert page.is_disabled("#learn") and page.is_disabled("#reset")
        _draw_seven(page)
        before = _probabilities(page)
        label = int(np.argmin(before))                  # the digit it least believes
        page.click(f"#labels button[data-label='{label}']")
        page.wait_for_selector("#heat[data-state='shown']", timeout=10000)
        assert not page.is_disabled("#learn")
        page.select_option("#lr", "0.1")
        page.click("#learn")
        page.wait_for_selector("#learn-status:has-text('1 step')", timeout=10000)
        _settled(page)
        after = _probabilities(page)
        assert after[label] > before[label], (before[label], after[label])
        page.click("#learn")
        page.wait_for_selector("#learn-status:has-text('2 steps')", timeout=10000)
        _settled(page)
        assert _probabilities(page)[label] > after[label]
        # The loaded weights never moved: learning happened on the page's own copy.
        for k, v in model.params.items():
            assert np.array_equal(v, original[k]), k
        assert not page.is_disabled("#reset")
        page.click("#reset")
        page.wait_for_selector("#learn-status:has-text('Reset')", timeout=10000)
        _settled(page)
        # The original probabilities come back, exactly as the page first showed them.
        page.wait_for_selector(f"#probs li:nth-child({label + 1})[data-p='{before[label]!r}']",
                               timeout=10000)
        assert _probabilities(page) == before
        assert page.is_disabled("#reset")
        assert errors == []
        page.close()
    finally:
        srv.shutdown()
        srv.server_close()


def test_apple_graph_derivatives_follow_the_edited_price(browser, server):
    errors = []
    page = _open(browser, server.url + "apple", errors)
    page.wait_for_selector("#apple-status:has-text('price 715')", timeout=10000)

    def shown(edge, kind):
        return page.text_content(f"#edge-{edge} text.{kind}")
    # The seed's numbers, as the book's figure 5-17 has them.
    assert [shown(e, "grad") for e in ("apple", "apple_num", "orange", "orange_num", "tax")] == \
        ["2.2", "110", "3.3", "165", "650"]
    assert shown("all_price", "value") == "650" and shown("price", "value") == "715"
    # A new apple price: the number of apples' derivative and the tax's follow.
    page.fill("#in-apple", "200")
    page.wait_for_selector("#apple-status:has-text('price 935')", timeout=10000)
    assert shown("apple_num", "grad") == "220"       # 200 * 1.1
    assert shown("tax", "grad") == "850"             # 200 * 2 + 150 * 3
    assert shown("apple_price", "value") == "400" and shown("apple", "grad") == "2.2"
    # Not a number: marked, nothing sent, the last good graph stays.
    page.fill("#in-tax", "abc")
    page.wait_for_selector("#in-tax[aria-invalid='true']")
    assert "must be a number" in page.inner_text("#apple-status")
    assert shown("tax", "grad") == "850"
    page.click("#apple-defaults")
    page.wait_for_selector("#apple-status:has-text('price 715')", timeout=10000)
    assert errors == []
    page.close()


def test_learn_after_the_session_was_dropped_says_so_and_falls_back(browser):
    model = TwoLayerNet(784, 16, 10, weight_init_std=0.1, rng=0)
    srv = start_server_in_thread(create_app(model, max_sessions=1), host="127.0.0.1", port=0)
    errors = []
    try:
        page = _open(browser, srv.url, errors)
        page.wait_for_selector("#model-info:has-text('Model')")
        _draw_seven(page)
        before = _probabilities(page)
        page.click("#labels button[data-label='2']")
        page.wait_for_selector("#heat[data-state='shown']", timeout=10000)
        page.select_option("#lr", "0.5")
        page.click("#learn")
        page.wait_for_selector("#learn-status:has-text('1 step')", timeout=10000)
        _settled(page)
        assert _probabilities(page) != before
        # Another browser learns: with room for one session, this page's is dropped.
        import json
        import urllib.request
        body = json.dumps({"pixels": [0.0] * 783 + [1.0], "label": 1}).encode()
        request = urllib.request.Request(srv.url + "api/learn", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as r:
            assert r.status == 200
        page.click("#learn")
        page.wait_for_selector("#learn-status:has-text('dropped')", timeout=10000)
        _settled(page)
        page.wait_for_selector(f"#probs li:nth-child(3)[data-p='{before[2]!r}']", timeout=10000)
        assert _probabilities(page) == before and page.is_disabled("#reset")
        assert errors == []
        page.close()
    finally:
        srv.shutdown()
        srv.server_close()


# -- the attention page: a language model ------------------------------------------------
ATTENTION_TEXT = "hello world, a tiny text!"


def _language_model(layers):
    from chainrule.datasets.text import read_text
    from chainrule.models import Sequential
    data = read_text(ATTENTION_TEXT)
    net = Sequential(layers.format(V=len(data.vocab)), input_shape=8, rng=0)
    for name in net.params:
        if name.startswith("W_qkv"):  # attention that is not uniform: maps worth drawing
            net.params[name] *= 40
    net.inputs = data.describe()
    return net


def _pixel(page, selector, x, y):
    """The RGB of the canvas pixel at CSS position (x, y) (the page draws at the
    device's pixel ratio, 1 here)."""
    return page.evaluate("""([sel, x, y]) => {
        const c = document.querySelector(sel);
        const r = window.devicePixelRatio || 1;
        return Array.from(c.getContext('2d').getImageData(Math.floor(x * r), Math.floor(y * r),
                                                          1, 1).data.slice(0, 3)); }""",
                         [selector, x, y])


def test_attention_page_shows_probabilities_maps_and_samples_the_next_character(browser):
    model = _language_model("embed(8,vocab={V}) posembed(8) block(2) block(2) layernorm unembed")
    srv = _serve(model)
    errors, requests = [], []
    try:
        page = _open(browser, srv.url, errors)
        page.on("request", lambda req: requests.append(req.url))
        page.wait_for_selector("#model-info:has-text('2 attention layers')")
        page.fill("#prompt", "")
        page.type("#prompt", "hello wor")
        page.wait_for_selector("#maps[data-prompt-length='9']", timeout=10000)
        page.wait_for_selector("#prompt[data-sync='done']", timeout=10000)
        # The bars: every character of this 16-character vocabulary, likeliest first,
        # the network's own probabilities after the last 8 characters.
        from chainrule.datasets import model_vocabulary
        ids = model_vocabulary(model).encode("hello wor")
        scores = model.predict(ids[-8:][None])[0, -1]
        last_row = model.layers["Attention1"].attention_weights[0, 0, -1].copy()
        expected = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
        shown = page.eval_on_selector_all(
            "#next li", "els => els.map(e => [e.dataset.token, parseFloat(e.dataset.p)])")
        vocabulary = model.inputs["vocabulary"]["tokens"]
        assert [t for t, _ in shown] == [vocabulary[i] for i in np.argsort(-expected,
                                                                            kind="stable")]
        np.testing.assert_allclose([p for _, p in shown], np.sort(expected)[::-1], rtol=1e-9)
        # A map per layer and head, each over the 8 characters the model read.
        maps = page.locator("#maps canvas")
        assert maps.count() == 4
        for k in range(4):
            assert maps.nth(k).get_attribute("data-t") == "8"
        x0 = float(maps.nth(0).get_attribute("data-x0"))
        cell = float(maps.nth(0).get_attribute("data-cell"))
        first = "#maps canvas[data-layer='0'][data-head='0']"
        # Row 0 can only read itself (weight 1: the darkest shade); above the diagonal
        # is empty (the page's paper colour); in the last row, the key the model weighs
        # most is blue.
        assert _pixel(page, first, x0 + cell / 2, x0 + cell / 2) == [8, 48, 107]
        assert _pixel(page, first, x0 + 7.5 * cell, x0 + cell / 2) == [247, 248, 250]
        r, g, b = _pixel(page, first, x0 + (np.argmax(last_row) + 0.5) * cell, x0 + 7.5 * cell)
        assert b > r + 40, (r, g, b)
        # Sample next: one more character, and everything is drawn again for it.
        page.click("#sample")
        page.wait_for_selector("#maps[data-prompt-length='10']", timeout=10000)
        prompt = page.input_value("#prompt")
        assert len(prompt) == 10 and prompt.startswith("hello wor") and prompt[-1] in vocabulary
        assert "Sampled" in page.inner_text("#status")
        # A small map chosen is drawn large.
        page.click("#maps canvas[data-layer='1'][data-head='1']")
        page.wait_for_selector("#focus-name:has-text('head 2')")
        assert "Attention2" in page.inner_text("#focus-name")
        # A character the model never saw: the server names it, the page marks the prompt.
        page.type("#prompt", "Z")
        page.wait_for_selector("#prompt[aria-invalid='true']", timeout=10000)
        assert "lacks: 'Z'" in page.inner_text("#status")
        assert errors == []
        assert requests and all(url.startswith(srv.url) for url in requests), requests
        page.close()
    finally:
        srv.shutdown()
        srv.server_close()


def test_a_recurrent_language_model_gets_probabilities_without_maps(browser):
    model = _language_model("embed(6,vocab={V}) lstm(12) affine({V})")
    srv = _serve(model)
    errors = []
    try:
        page = _open(browser, srv.url, errors)
        page.wait_for_selector("#model-info:has-text('recurrent')")
        page.fill("#prompt", "a tiny")
        page.wait_for_selector("#maps[data-prompt-length='6']", state="attached",
                               timeout=10000)
        assert page.locator("#next li").count() == 16
        assert page.is_hidden("#attention")
        assert page.locator("#maps canvas").count() == 0
        assert errors == []
        page.close()
    finally:
        srv.shutdown()
        srv.server_close()
