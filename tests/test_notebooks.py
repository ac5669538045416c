"""The example notebooks, executed top to bottom in a real Jupyter kernel.

A cell that raises fails the test (nbclient stops there and says which cell). The
executed outputs are then read for what a reader must see: the recorded graphs as SVG
carrying the seed's numbers, the network's summary as an HTML table, and the training
curves as one image that was updated in place (not one per epoch); in the sequences and
transformer notebooks also the by-hand RNN and attention equal to the layers' outputs,
the gradient checks' small errors, a model that learnt, its samples and the attention
map. The notebooks are kept in git without outputs, which is checked too.

Needs the `notebook` extra (nbclient, nbformat, ipykernel); .ci/run installs it.
"""

import base64
import copy
import json
import os
import pathlib
import re
import shutil
import sys

import pytest

nbformat = pytest.importorskip("nbformat", reason="the notebook extra is not installed")
nbclient = pytest.importorskip("nbclient", reason="the notebook extra is not installed")
pytest.importorskip("ipykernel", reason="the notebook extra is not installed")
pytest.importorskip("matplotlib", reason="the notebooks draw with matplotlib")

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
SEED_NUMBERS = ("220.00000000000003", "2.2", "110.00000000000001", "200")


def read(path):
    return nbformat.read(str(path), as_version=4)


@pytest.fixture(scope="module", autouse=True)
def this_python_kernel(tmp_path_factory):
    """A kernel spec of our own that runs this very Python: the name "python3" could
    find a kernel of another Python (a user's or the system's) without chainrule."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "chainrule tests", "language": "python"}))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(root))
        yield


KERNEL = "chainrule-tests"


def execute(nb, cwd, env=None):
    """Run every cell in a fresh kernel, in `cwd`; returns the notebook with outputs."""
    nb = copy.deepcopy(nb)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name=KERNEL,
                                     resources={"metadata": {"path": str(cwd)}})
    kernel_env = dict(os.environ, OPENBLAS_NUM_THREADS="1", MPLBACKEND="module://matplotlib_inline.backend_inline")
    if env:
        kernel_env.update(env)
    client.execute(env=kernel_env)
    return nb


def outputs(nb):
    """(cell index, output) for every output of every code cell."""
    return [(i, out) for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
            for out in cell.get("outputs", [])]


def with_mime(nb, mime):
    return [(i, out) for i, out in outputs(nb) if mime in out.get("data", {})]


def test_there_are_notebooks_and_they_are_kept_without_outputs():
    assert {p.name for p in NOTEBOOKS} >= {"chapter5_backprop.ipynb",
                                            "own_network_convolution.ipynb",
                                            "sequences.ipynb", "transformer.ipynb"}
    for path in NOTEBOOKS:
        nb = read(path)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path.name


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Each notebook executed once for the tests below (in its own temporary folder)."""
    done = {}
    for path in NOTEBOOKS:
        cwd = tmp_path_factory.mktemp(path.stem)
        done[path.name] = execute(read(path), cwd)
    return done


def check_common(nb):
    errors = [out for _, out in outputs(nb) if out.output_type == "error"]
    assert not errors
    svgs = with_mime(nb, "image/svg+xml")
    assert svgs, "no graph shown as SVG"
    tables = with_mime(nb, "text/html")
    assert any("<table" in out["data"]["text/html"] for _, out in tables), "no summary table"
    images = with_mime(nb, "image/png")
    assert images, "no curves or pictures shown"
    return svgs, tables, images


def live_curves_cells(nb):
    return [i for i, cell in enumerate(nb.cells)
            if cell.cell_type == "code" and "LiveCurves()" in cell.source]


def test_chapter5_shows_graphs_table_and_curves(executed):
    nb = executed["chapter5_backprop.ipynb"]
    svgs, tables, images = check_common(nb)
    streams = "".join(out.get("text", "") for _, out in outputs(nb)
                      if out.output_type == "stream")
    assert "220.00000000000003\n2.2 110.00000000000001 200\n" in streams
    apple = svgs[0][1]["data"]["image/svg+xml"]
    for number in SEED_NUMBERS:
        assert f">{number}<" in apple
    assert any("715.0000000000001" in out["data"]["image/svg+xml"] for _, out in svgs)
    assert any("(N, 784)" in out["data"]["image/svg+xml"] for _, out in svgs)
    assert any("Affine1 (Affine)" in out["data"]["text/html"] for _, out in tables)
    # The gradient check printed tiny differences.
    diffs = [float(line.rsplit("=", 1)[1]) for line in streams.splitlines()
             if "mean |backprop - numerical|" in line]
    assert len(diffs) == 4 and max(diffs) < 1e-6


def curves_cell(nb):
    """The cell that trains with LiveCurves, checked to show one figure: the curves
    updated in place, not a new picture per evaluation."""
    check_common(nb)
    (cell,) = live_curves_cells(nb)
    pictures = [out for i, out in with_mime(nb, "image/png") if i == cell]
    assert len(pictures) == 1, "LiveCurves must keep one figure, not add one per epoch"
    assert pictures[0].output_type == "display_data"
    return cell


@pytest.mark.parametrize("name", ["chapter5_backprop.ipynb", "own_network_convolution.ipynb"])
def test_training_curves_are_one_figure_updated_in_place(executed, name):
    nb = executed[name]
    cell = curves_cell(nb)
    accuracy = [out.text for i, out in outputs(nb) if i == cell and out.output_type == "stream"]
    assert accuracy and float(accuracy[-1].rsplit(" ", 1)[1]) > 0.8


def printed(nb, cell=None):
    """All that the code cells (or one cell) printed, in order."""
    return "".join(out.get("text", "") for i, out in outputs(nb)
                   if out.output_type == "stream" and out.get("name") == "stdout"
                   and (cell is None or i == cell))


def figures_after(text, label):
    """The numbers printed after `label` on every line that has it."""
    return [float(line.split(label, 1)[1].split()[0]) for line in text.splitlines()
            if label in line]


# A by-hand computation against the layer, in float64 on values of order one: the two make
# the same sums, some in another order, so they differ by a few units of rounding (1e-16).
ROUNDING = 1e-12
# Central differences with h = 1e-4 agree with a right backward to about 1e-8 of the
# gradient's size (their error is of order h^2); a wrong one differs by order one.
GRADIENT_CHECK = 1e-6
# A character model that learnt nothing scores ln 65 = 4.17 nats per character.
LEARNT = 2.5


@pytest.mark.parametrize("name", ["sequences.ipynb", "transformer.ipynb"])
def test_language_model_curves_are_one_figure_and_the_model_learnt(executed, name):
    nb = executed[name]
    (loss,) = figures_after(printed(nb, curves_cell(nb)), "validation loss")
    assert loss < LEARNT


def sampling_cell(nb):
    (cell,) = [i for i, c in enumerate(nb.cells)
               if c.cell_type == "code" and "network.generate(" in c.source]
    return cell


def test_sequences_rnn_by_hand_lstm_check_and_two_temperatures(executed):
    nb = executed["sequences.ipynb"]
    text = printed(nb)
    steps = [line for line in text.splitlines() if line.startswith("t=")]
    assert [line.split()[1] for line in steps] == "you say goodbye and i say hello .".split()
    (forward,) = figures_after(text, "max |by hand - TimeRNN| =")
    (backward,) = figures_after(text, "max |dWh by hand - TimeRNN's dWh| =")
    assert forward < ROUNDING and backward < ROUNDING
    errors = figures_after(text, "max |backprop - numerical| / max |numerical| =")
    assert len(errors) == 6 and max(errors) < GRADIENT_CHECK   # Wx, Wh, b, xs, h0, c0
    # Each sample under its temperature: the prompt and the 300 characters drawn after it.
    shown = printed(nb, sampling_cell(nb)).split("--- temperature ")[1:]
    assert [piece.split(" ---\n", 1)[0] for piece in shown] == ["0.5", "1.0"]
    cold, hot = (piece.split(" ---\n", 1)[1].strip("\n") for piece in shown)
    assert cold.startswith("ROMEO:\n") and hot.startswith("ROMEO:\n") and cold != hot
    assert len(cold) >= 300 and len(hot) >= 300


def test_transformer_attention_by_hand_block_check_samples_and_map(executed):
    nb = executed["transformer.ipynb"]
    text = printed(nb)
    (out,) = figures_after(text, "max |out by hand - MultiHeadAttention| =")
    (weights,) = figures_after(text, "max |P by hand - .attention_weights| =")
    assert out < ROUNDING and weights < ROUNDING
    assert "-inf" in text   # the masked scores were shown
    errors = figures_after(text, "max |backprop - numerical| / max |numerical| =")
    assert len(errors) == 15 and max(errors) < GRADIENT_CHECK   # every weight of the network
    sample = printed(nb, sampling_cell(nb))
    assert sample.startswith("ROMEO:\n") and len(sample.strip("\n")) >= 300
    # The attention map: one picture, of weights that are a causal softmax's.
    (cell,) = [i for i, c in enumerate(nb.cells)
               if c.cell_type == "code" and ".attention_weights" in c.source and "imshow" in c.source]
    assert len([out for i, out in with_mime(nb, "image/png") if i == cell]) == 1
    shown = printed(nb, cell)
    assert "rows sum to 1: True;" in shown
    assert figures_after(shown, "largest weight on a later character:") == [0.0]


def test_saved_html_shows_svg_table_and_images(executed):
    nbconvert = pytest.importorskip("nbconvert", reason="nbconvert is not installed")
    for name, nb in executed.items():
        html, _ = nbconvert.HTMLExporter().from_notebook_node(nb)
        # nbconvert puts each SVG output into the page as an <img> with a data URI.
        svgs = [base64.b64decode(data).decode("utf-8") for data in
                re.findall(r'data-mime-type="image/svg\+xml"[^>]*>\s*<img[^>]*'
                           r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', html)]
        assert svgs and all("<svg" in svg for svg in svgs), name
        if name == "chapter5_backprop.ipynb":
            assert all(f">{n}<" in svgs[0] for n in SEED_NUMBERS)
        assert "chainrule-summary" in html and "<table" in html, name
        assert "data:image/png;base64," in html, name


def test_the_apple_graph_displays_without_graphviz_in_a_kernel(tmp_path):
    """With `dot` off the kernel's PATH the recorded graph is still an SVG picture."""
    bin_dir = tmp_path / "bin"   # an empty PATH (the kernel is started by its full path)
    bin_dir.mkdir()
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import shutil; print(shutil.which('dot'))"),
        nbformat.v4.new_code_cell("from chainrule.trace import apple_example\napple_example()"),
        nbformat.v4.new_code_cell(
            "import sys, chainrule; print(sys.executable); print(chainrule.__file__)"),
    ])
    done = execute(nb, tmp_path, env={"PATH": str(bin_dir)})
    # The kernel is this Python, with this chainrule (a cell's prints may arrive as
    # one stream output or several) ...
    printed = "".join(out.get("text", "") for out in done.cells[2].outputs
                      if out.get("name") == "stdout")
    kernel_python, kernel_chainrule = printed.split()
    import chainrule
    assert os.path.realpath(kernel_python) == os.path.realpath(sys.executable)
    assert os.path.realpath(kernel_chainrule) == os.path.realpath(chainrule.__file__)
    # ... and has no Graphviz.
    assert "".join(out.get("text", "") for out in done.cells[0].outputs
                   if out.get("name") == "stdout").strip() == "None"
    (result,) = done.cells[1].outputs
    svg = result["data"]["image/svg+xml"]
    assert svg.startswith("<svg") and 'class="edge"' in svg   # chainrule's own layout
    for number in SEED_NUMBERS:
        assert f">{number}<" in svg
    if shutil.which("dot"):
        assert "graphviz" not in svg.lower()
