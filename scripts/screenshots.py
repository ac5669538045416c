"""Screenshots of the web pages for docs/seeing-backprop.md, from headless Chromium.

    python scripts/screenshots.py [--out docs/images] [--chromium /usr/bin/chromium]

Starts the server in a thread on 127.0.0.1 (a free port), with networks trained for a
few seconds on the bundled digits, draws a digit with the mouse as a person would,
chooses a label, and saves:

  backprop-mlp.png    the drawing page with a TwoLayerNet, the label 9 for a drawn 7:
                      heat map of dL/dx, gradient sizes, first-layer weights and
                      gradients, the graph;
  backprop-conv.png   a SimpleConvNet (filters and feature maps), the label 2, after
                      one "learn" step at lr 0.01;
  apple.png           the apple graph with the book's numbers.

Needs the web extra (Flask), playwright (the Python package only) and Debian's
chromium. Nothing is fetched from the network.
"""

import argparse
import os
import shutil
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


def train(model, epochs, lr=0.1, seed=0):
    """A few epochs of SGD on the bundled digits: enough for a sensible picture."""
    from chainrule.datasets import load_dataset
    (x, t), _ = load_dataset("mnist-10k")
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), 100):
            batch = order[start:start + 100]
            grads = model.gradient(x[batch], t[batch])
            for name, grad in grads.items():
                model.params[name] -= lr * grad
    return model


def draw_seven(page):
    box = page.locator("#pad").bounding_box()
    x0, y0 = box["x"], box["y"]
    page.mouse.move(x0 + 70, y0 + 60)
    page.mouse.down()
    for step in range(1, 21):                     # the top bar
        page.mouse.move(x0 + 70 + 7 * step, y0 + 60)
    for step in range(1, 25):                     # the stem, down and to the left
        page.mouse.move(x0 + 210 - 4 * step, y0 + 60 + 7 * step)
    page.mouse.up()


def shoot(browser, url, path, label, learn_lr=None):
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    page.goto(url, wait_until="load")
    page.wait_for_selector("#model-info:has-text('Model')")
    draw_seven(page)
    page.wait_for_selector("#prediction[data-state='shown']", timeout=10000)
    page.wait_for_selector("#pad[data-sync='done']", timeout=10000)   # the whole drawing
    page.click(f"#labels button[data-label='{label}']")
    page.wait_for_selector("#heat[data-state='shown']", timeout=10000)
    if learn_lr is not None:
        page.select_option("#lr", learn_lr)
        page.click("#learn")
        page.wait_for_selector("#learn-status:has-text('1 step')", timeout=10000)
    page.wait_for_selector("#pad[data-sync='done']", timeout=10000)
    page.screenshot(path=path, full_page=True)
    page.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "images"))
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from chainrule.models import SimpleConvNet, TwoLayerNet
    from chainrule.web import create_app, start_server_in_thread

    mlp = train(TwoLayerNet(784, 50, 10, rng=0), epochs=3)
    conv = train(SimpleConvNet(conv_param={"filter_num": 8, "filter_size": 5, "pad": 0,
                                           "stride": 1}, hidden_size=50,
                               weight_init_std="he", rng=0), epochs=1, lr=0.05)
    os.makedirs(args.out, exist_ok=True)
    servers = [start_server_in_thread(create_app(m, info={"source": s}), port=0)
               for m, s in ((mlp, "TwoLayerNet trained 3 epochs on mnist-10k"),
                            (conv, "SimpleConvNet trained 1 epoch on mnist-10k"))]
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=ARGS)
            # The gradients for a wrong answer, before any learning...
            shoot(browser, servers[0].url, os.path.join(args.out, "backprop-mlp.png"), 9)
            # ...and a convolutional network after one small step towards another digit.
            shoot(browser, servers[1].url, os.path.join(args.out, "backprop-conv.png"), 2,
                  learn_lr="0.01")
            page = browser.new_page(viewport={"width": 1000, "height": 760})
            page.goto(servers[0].url + "apple", wait_until="load")
            page.wait_for_selector("#apple-status:has-text('price 715')", timeout=10000)
            page.screenshot(path=os.path.join(args.out, "apple.png"), full_page=True)
            page.close()
            browser.close()
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
    for name in ("backprop-mlp.png", "backprop-conv.png", "apple.png"):
        print(os.path.join(args.out, name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
