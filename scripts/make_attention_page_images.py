"""Screenshots of the attention page for docs/seeing-attention.md, from headless Chromium.

    python scripts/make_attention_page_images.py [--out docs/images] [--steps 1500]
        [--model gpt.npz] [--chromium /usr/bin/chromium]

Trains a small GPT (two blocks of four heads, 64 channels, a context of 64 characters)
on random windows of the bundled Shakespeare with a plain loop of AdamW steps (a
minute or two of one CPU core), records its vocabulary in `network.inputs`, saves it
(--model, else a temporary folder) and serves that file as `chainrule serve` does, on
127.0.0.1 with a free port. Then it types a prompt as a person would, samples a few
characters with the button (top-k 1: the likeliest, so that a run's pictures are the
same each time), and saves:

  attention.png        the whole page: the next character's probabilities and the
                       maps of every layer and head, one head large;
  attention-head.png   one head that looks back at a fixed distance, pointed at.

Needs the web extra (Flask), playwright (the Python package only) and Debian's
chromium. Nothing is fetched from the network.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.request

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
LAYERS = "embed(64,vocab={vocab}) posembed(64) block(4) block(4) layernorm unembed"
CONTEXT = 64
PROMPT = "ROMEO:\nBut soft, what light through yonder"


def train_gpt(steps, batch=16, lr=2e-3, seed=0):
    """A small GPT on nanoGPT-style random windows of Shakespeare; (network, text data,
    validation loss)."""
    import chainrule
    from chainrule.datasets import load_text
    from chainrule.optimizers import AdamW
    data = load_text("shakespeare")
    network = chainrule.Sequential(LAYERS.format(vocab=len(data.vocab)), input_shape=CONTEXT,
                                   dtype="float32", rng=seed)
    optimizer = AdamW(lr=lr, beta2=0.99, weight_decay=0.1)
    rng = np.random.default_rng(seed)

    def windows(ids, n):
        starts = rng.integers(0, len(ids) - CONTEXT - 1, size=n)
        x = np.stack([ids[s:s + CONTEXT] for s in starts])
        t = np.stack([ids[s + 1:s + CONTEXT + 1] for s in starts])
        return x, t

    started = time.perf_counter()
    for step in range(1, steps + 1):
        x, t = windows(data.train, batch)
        grads = network.gradient(x, t)
        optimizer.update(network.params, grads)
        if step % 100 == 0 or step == steps:
            print(f"  step {step}: loss {network.last_loss:.3f} "
                  f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    x, t = windows(data.validation, 64)
    network.inputs = data.describe()
    return network, float(network.loss(x, t))


def type_and_sample(page, samples):
    page.wait_for_selector("#model-info:has-text('attention layers')")
    page.fill("#prompt", "")
    page.type("#prompt", PROMPT, delay=5)
    page.wait_for_selector(f"#maps[data-prompt-length='{len(PROMPT)}']", timeout=20000)
    page.select_option("#top-k", "1")  # the likeliest each time: the same pictures every run
    for k in range(1, samples + 1):
        page.click("#sample")
        page.wait_for_selector(f"#maps[data-prompt-length='{len(PROMPT) + k}']", timeout=20000)
    page.wait_for_selector("#prompt[data-sync='done']", timeout=20000)


def ask(url, prompt):
    """The attention maps the server sends for `prompt`."""
    request = urllib.request.Request(url + "api/next", data=json.dumps({"prompt": prompt})
                                     .encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.loads(r.read())["attention"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "images"))
    parser.add_argument("--steps", type=int, default=1500, help="AdamW steps (default: 1500)")
    parser.add_argument("--model", help="where to save the trained model (default: a "
                                        "temporary folder)")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    import chainrule
    from chainrule.web import create_app, start_server_in_thread

    print(f"training a small GPT for {args.steps} steps...", file=sys.stderr)
    network, validation_loss = train_gpt(args.steps)
    print(f"  validation loss {validation_loss:.3f} nats per character", file=sys.stderr)
    folder = None
    path = args.model
    if path is None:
        folder = tempfile.mkdtemp(prefix="chainrule-gpt-")
        path = os.path.join(folder, "gpt.npz")
    chainrule.save(network, path)
    model = chainrule.load(path)  # served from the file, as `chainrule serve gpt.npz` does
    info = {"source": f"loaded from gpt.npz: {args.steps} AdamW steps on Shakespeare, "
                      f"validation loss {validation_loss:.2f}"}
    server = start_server_in_thread(create_app(model, info=info), port=0)
    os.makedirs(args.out, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=ARGS)
            page = browser.new_page(viewport={"width": 1000, "height": 900})
            page.goto(server.url, wait_until="load")
            type_and_sample(page, samples=3)
            page.screenshot(path=os.path.join(args.out, "attention.png"), full_page=True)
            # One head large, pointed at the key its last query weighs most: the
            # readout says what that cell holds.
            layer, head = 0, 1
            page.click(f"#maps canvas[data-layer='{layer}'][data-head='{head}']")
            page.wait_for_selector(f"#focus-name:has-text('head {head + 1}')")
            last_row = ask(server.url, page.input_value("#prompt"))[layer]["heads"][head][-1]
            box = page.locator("#focus").bounding_box()
            x0 = float(page.get_attribute("#focus", "data-x0"))
            cell = float(page.get_attribute("#focus", "data-cell"))
            T = int(page.get_attribute("#focus", "data-t"))
            page.mouse.move(box["x"] + x0 + (int(np.argmax(last_row)) + 0.5) * cell,
                            box["y"] + x0 + (T - 0.5) * cell)
            page.wait_for_selector("#focus-cell:has-text('reads')")
            page.locator(".focus-box").screenshot(
                path=os.path.join(args.out, "attention-head.png"))
            page.close()
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    for name in ("attention.png", "attention-head.png"):
        print(os.path.join(args.out, name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
