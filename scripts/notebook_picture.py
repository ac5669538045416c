"""Make docs/images/notebook.png, the README's picture of a notebook, from the real thing.

    python scripts/notebook_picture.py [--notebook examples/chapter5_backprop.ipynb]
                                       [--out docs/images/notebook.png] [--width 900]

Executes the notebook in a Jupyter kernel (nbclient), keeps the cells the picture shows
(the apple example and its graph, training with its live curves), saves them as
HTML with nbconvert, and has headless Chromium take a screenshot of the page, cropped to
what is drawn. So the picture can be made again whenever the notebook or the drawing
changes, and it shows what a user sees, not a mock-up.

Needs the notebook extra (pip install -e ".[notebook]"), Pillow (the image extra) and
Chromium (apt-get install chromium; CHAINRULE_CHROMIUM names another binary). The page
is opened offline: nothing is fetched (no MathJax, no widget scripts).
"""

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Cells whose source starts with one of these are kept (with their outputs), after the
# notebook's title: the apple example, its graph, and training with the live curves.
SHOWN = ("from chainrule import MulLayer", "g.name_leaves", "from chainrule import Trainer")


def fail(message):
    print(f"notebook_picture: {message}", file=sys.stderr)
    sys.exit(1)


def execute(path):
    import nbclient
    import nbformat
    nb = nbformat.read(str(path), as_version=4)
    with tempfile.TemporaryDirectory() as cwd:
        # A kernel spec for this very Python: "python3" might name another one's kernel.
        spec = pathlib.Path(cwd) / "jupyter" / "kernels" / "chainrule-picture"
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "chainrule", "language": "python"}))
        os.environ["JUPYTER_PATH"] = str(spec.parent.parent)
        client = nbclient.NotebookClient(nb, timeout=600, kernel_name="chainrule-picture",
                                         resources={"metadata": {"path": cwd}})
        client.execute(env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    return nb


def keep_shown(nb):
    """The title cell and the shown code cells."""
    nb.cells = [cell for i, cell in enumerate(nb.cells)
                if i == 0 or (cell.cell_type == "code" and cell.source.startswith(SHOWN))]
    # The progress bar is a widget whose view needs scripts from the web: leave it out.
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [out for out in cell.outputs
                            if "application/vnd.jupyter.widget-view+json" not in out.get("data", {})]
    return nb


def to_html(nb):
    import nbconvert
    exporter = nbconvert.HTMLExporter(template_name="lab")
    exporter.mathjax_url = ""
    html, _ = exporter.from_notebook_node(nb)
    return html


def screenshot(html_path, png_path, width, chromium):
    height = 6000  # cut down to the drawing afterwards
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--force-device-scale-factor=1", f"--window-size={width},{height}",
               "--virtual-time-budget=5000", f"--screenshot={png_path}",
               html_path.as_uri()]
    done = subprocess.run(command, capture_output=True, timeout=120, check=False)
    if done.returncode != 0 or not png_path.exists():
        fail(f"chromium failed (exit {done.returncode}): "
             f"{done.stderr.decode('utf-8', 'replace').strip()[-500:]}")


def crop(png_path, out_path):
    from PIL import Image, ImageChops
    from chainrule.files import atomic_file
    image = Image.open(png_path).convert("RGB")
    background = Image.new("RGB", image.size, image.getpixel((image.width - 1, image.height - 1)))
    box = ImageChops.difference(image, background).getbbox()
    if box is None:
        fail("the screenshot is blank")
    image = image.crop((0, 0, image.width, min(image.height, box[3] + 24)))
    with atomic_file(out_path) as f:
        image.save(f, format="PNG", optimize=True)
    return image.size


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebook", default=str(ROOT / "examples" / "chapter5_backprop.ipynb"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "images" / "notebook.png"))
    parser.add_argument("--width", type=int, default=900)
    args = parser.parse_args(argv)
    chromium = os.environ.get("CHAINRULE_CHROMIUM") or shutil.which("chromium")
    if not chromium:
        fail("chromium is not installed (apt-get install chromium)")
    try:
        import nbclient  # noqa: F401
        import nbconvert  # noqa: F401
        import PIL  # noqa: F401
    except ImportError as exc:
        fail(f"{exc.name} is missing: pip install -e '.[notebook,image]'")
    if not os.path.exists(args.notebook):
        fail(f"no notebook {args.notebook}")
    nb = keep_shown(execute(args.notebook))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        html_path = pathlib.Path(tmp) / "notebook.html"
        html_path.write_text(to_html(nb), encoding="utf-8")
        png_path = pathlib.Path(tmp) / "screen.png"
        screenshot(html_path, png_path, args.width, chromium)
        size = crop(png_path, args.out)
    print(f"wrote {args.out} ({size[0]} x {size[1]})")


if __name__ == "__main__":
    main()
