"""Rich display in Jupyter (chainrule.display, chainrule.svggraph, plot.History,
chainrule.notebook), tested without a kernel: the display hooks are plain methods.

The SVG pictures are parsed back as XML and read by position, not compared as strings:
each edge must carry the seed's value above its line and its derivative below, in the
colours `chainrule graph` uses.
"""

import os
import shutil
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from chainrule import MultiLayerNet, SimpleConvNet, Trainer, TwoLayerNet, display, draw, svggraph
from chainrule.graph import MulLayer
from chainrule.trace import apple_example, apple_orange_example, layer_graph, record

SVG = "{http://www.w3.org/2000/svg}"
HAVE_DOT = shutil.which("dot") is not None

# The seed's apple example, edge by edge: (forward value, derivative), as it prints them.
APPLE_EDGES = {("100", "2.2"), ("2", "110.00000000000001"), ("1.1", "200"),
               ("200", "1.1"), ("220.00000000000003", "1")}


@pytest.fixture
def no_dot(monkeypatch, tmp_path):
    """A PATH without Graphviz's dot: only an empty directory."""
    monkeypatch.setenv("PATH", str(tmp_path))
    assert shutil.which("dot") is None


def parse(svg):
    root = ET.fromstring(svg)
    assert root.tag == SVG + "svg"
    return root


def our_edges(root):
    """[(value text, value fill, grad text or None, grad fill, value y, grad y, line)]."""
    result = []
    for group in root.iter(SVG + "g"):
        if group.get("class") != "edge":
            continue
        line = group.find(SVG + "line")
        texts = {t.get("class"): t for t in group.findall(SVG + "text")}
        value, grad = texts["value"], texts.get("grad")
        result.append((value.text, value.get("fill"),
                       grad.text if grad is not None else None,
                       grad.get("fill") if grad is not None else None,
                       float(value.get("y")), float(grad.get("y")) if grad is not None else None,
                       tuple(float(line.get(k)) for k in ("x1", "y1", "x2", "y2")),
                       float(value.get("x"))))
    return result


def line_y(line, x):
    x1, y1, x2, y2 = line
    if x2 == x1:
        return (y1 + y2) / 2
    return y1 + (y2 - y1) * (x - x1) / (x2 - x1)


def all_texts(root):
    return [t.text for t in root.iter(SVG + "text")]


# -- our own layout --------------------------------------------------------------------
def test_apple_graph_carries_the_seed_numbers_above_and_below_the_edges():
    root = parse(svggraph.to_svg(apple_example()))
    edges = our_edges(root)
    assert {(e[0], e[2]) for e in edges} == APPLE_EDGES
    for value, value_fill, grad, grad_fill, value_y, grad_y, line, x in edges:
        assert value_fill == draw.FORWARD_COLOUR and grad_fill == draw.BACKWARD_COLOUR
        # The book's figure: the value above the edge, the derivative below it.
        assert value_y < line_y(line, x) < grad_y


@pytest.mark.parametrize("make", [apple_example, apple_orange_example])
def test_labels_clear_their_sloping_edges(make):
    """Across its whole width the value stays above its line, the derivative below."""
    root = parse(svggraph.to_svg(make()))
    for value, _, grad, _, value_y, grad_y, line, x in our_edges(root):
        for text, y, above in ((value, value_y, True), (grad, grad_y, False)):
            half = len(text) * 12 * 0.55 / 2
            ends = (line_y(line, x - half), line_y(line, x + half))
            if above:
                assert y + 2 < min(ends), (text, y, ends)
            else:
                assert y - 9 > max(ends), (text, y, ends)


def test_apple_graph_names_and_operations():
    root = parse(svggraph.to_svg(apple_example()))
    groups = {g.get("id"): g for g in root.iter(SVG + "g") if g.get("id")}
    names = {g.find(SVG + "text").text for k, g in groups.items() if k.startswith("leaf")}
    assert names == {"apple", "apple_num", "tax"}
    assert [g.find(SVG + "text").text for k, g in groups.items() if k.startswith("out")] == ["price"]
    circles = [g for k, g in groups.items() if k.startswith("node")]
    assert len(circles) == 2 and all(g.find(SVG + "circle") is not None for g in circles)
    assert all(g.find(SVG + "text").text == "\u00d7" for g in circles)

    def y(key):
        return float(groups[key].find(SVG + "text").get("y"))
    # Inputs of one operation in argument order, as the book draws them: apple above
    # apple_num; inputs on the left, the price on the right.
    assert y("leaf0") < y("leaf1")
    xs = {k: float(g.find(SVG + "text").get("x")) for k, g in groups.items()}
    assert xs["leaf0"] < xs["node0"] < xs["node1"] < xs["out0"]


def boxes(root):
    """Bounding boxes of the drawn items (circles, boxes, the text of inputs/outputs)."""
    result = []
    for group in root.iter(SVG + "g"):
        if not group.get("id"):
            continue
        circle, rect = group.find(SVG + "circle"), group.find(SVG + "rect")
        if circle is not None:
            cx, cy, r = (float(circle.get(k)) for k in ("cx", "cy", "r"))
            result.append((cx - r, cy - r, cx + r, cy + r))
        elif rect is not None:
            x, y, w, h = (float(rect.get(k)) for k in ("x", "y", "width", "height"))
            result.append((x, y, x + w, y + h))
        else:
            text = group.find(SVG + "text")
            x, y = float(text.get("x")), float(text.get("y"))
            result.append((x - 5, y - 10, x + 5, y))
    return result


@pytest.mark.parametrize("make", [
    apple_example, apple_orange_example,
    lambda: layer_graph(TwoLayerNet(784, 5, 10)),
    lambda: layer_graph(SimpleConvNet(conv_param={"filter_num": 2}, hidden_size=4)),
    lambda: layer_graph(MultiLayerNet(12, [4, 4, 4, 4], 3, use_batchnorm=True)),
], ids=["apple", "apple-orange", "two-layer", "simple-conv", "mlp-batchnorm"])
def test_items_do_not_overlap_and_fit_the_picture(make):
    root = parse(svggraph.to_svg(make()))
    width, height = float(root.get("width")), float(root.get("height"))
    drawn = boxes(root)
    assert drawn
    for i, a in enumerate(drawn):
        assert 0 <= a[0] and a[2] <= width and 0 <= a[1] and a[3] <= height
        for b in drawn[i + 1:]:
            overlap = a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
            assert not overlap, (a, b)
    for text in root.iter(SVG + "text"):
        assert 0 <= float(text.get("x")) <= width and 0 <= float(text.get("y")) <= height
    # Edge labels (their extent estimated as the layout does) clear each other and
    # the items.
    labels = []
    for group in root.iter(SVG + "g"):
        if group.get("class") == "edge":
            for text in group.findall(SVG + "text"):
                x, y, w = float(text.get("x")), float(text.get("y")), len(text.text) * 12 * 0.55
                left = x - w / 2 if text.get("text-anchor") == "middle" else x
                labels.append((left, y - 9, left + w, y + 2))
    for i, a in enumerate(labels):
        for b in labels[i + 1:] + drawn:
            overlap = a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
            assert not overlap, (a, b)


def test_layer_graph_shows_shapes_and_parameters():
    net = TwoLayerNet(784, 50, 10)
    texts = all_texts(parse(svggraph.to_svg(layer_graph(net))))
    for expected in ("Affine1", "Relu1", "Affine2", "SoftmaxWithLoss", "x", "t", "loss",
                     "(N, 784)", "(N, 50)", "(N, 10)", "W1 (784, 50)", "b2 (10,)"):
        assert expected in texts


def test_big_graphs_go_top_to_bottom():
    graph = layer_graph(MultiLayerNet(12, [4, 4, 4, 4, 4], 3))
    assert len(graph.nodes) > 8
    items, _, rankdir = svggraph.layout(graph)
    assert rankdir == "TB"
    ordered = [items[("node", n.index)].y for n in graph.nodes]
    assert ordered == sorted(ordered) and len(set(ordered)) == len(ordered)


def test_forward_only_graph_has_no_derivatives():
    with record() as g:
        MulLayer().forward(3.0, 4.0)
    edges = our_edges(parse(svggraph.to_svg(g)))
    assert {e[0] for e in edges} == {"3.0", "4.0", "12.0"}
    assert all(e[2] is None for e in edges)
    edges = our_edges(parse(svggraph.to_svg(apple_example(), show_grads=False)))
    assert all(e[2] is None for e in edges)


def test_names_are_escaped_and_title_shown():
    g = apple_example()
    g.name_leaves("<apple & co>")
    root = parse(svggraph.to_svg(g, title='"prices" <1>'))
    texts = all_texts(root)
    assert "<apple & co>" in texts and '"prices" <1>' in texts


def test_bad_rankdir_is_named():
    with pytest.raises(ValueError, match="rankdir"):
        svggraph.to_svg(apple_example(), rankdir="XY")


# -- the display hook: Graphviz or our layout ------------------------------------------------
def test_without_dot_the_apple_graph_still_displays_as_svg(no_dot):
    svg = apple_example()._repr_svg_()
    root = parse(svg)
    assert {(e[0], e[2]) for e in our_edges(root)} == APPLE_EDGES
    for number in ("220.00000000000003", "2.2", "110.00000000000001", "200"):
        assert number in all_texts(root)
    with pytest.raises(draw.GraphvizNotFoundError):
        display.graph_svg(apple_example(), engine="graphviz")


@pytest.mark.skipif(not HAVE_DOT, reason="Graphviz's dot is not installed")
def test_with_dot_the_graph_is_drawn_by_graphviz():
    svg = apple_example()._repr_svg_()
    assert svg.startswith("<svg")   # no XML prolog: it is inlined in the page
    root = parse(svg)
    assert "Generated by graphviz" in svg or root.find(SVG + "g").get("class") == "graph"
    texts = all_texts(root)
    for number in ("220.00000000000003", "2.2", "110.00000000000001", "200", "1.1"):
        assert number in texts
    ours = display.graph_svg(apple_example(), engine="chainrule")
    assert ours != svg and our_edges(parse(ours))


def test_a_broken_graphviz_falls_back_with_a_warning(tmp_path, monkeypatch):
    fake = tmp_path / "dot"
    fake.write_text("#!/bin/sh\necho 'dot: broken' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.warns(RuntimeWarning, match="broken"):
        svg = display.graph_svg(apple_example())
    assert {(e[0], e[2]) for e in our_edges(parse(svg))} == APPLE_EDGES
    with pytest.raises(RuntimeError, match="exit 3"):
        display.graph_svg(apple_example(), engine="graphviz")


def test_unknown_engine_and_empty_graph():
    with pytest.raises(ValueError, match="engine"):
        display.graph_svg(apple_example(), engine="matplotlib")
    with record() as g:
        pass
    assert g._repr_svg_() is None
    assert repr(g) == "Graph(0 nodes, 0 leaves)"
    with pytest.raises(ValueError, match="empty"):
        svggraph.to_svg(g)


# -- networks as tables ---------------------------------------------------------------
def html_rows(html):
    root = ET.fromstring(html)
    table = root.find("table")
    header = [th.text for th in table.find("thead").iter("th")]
    rows = [[td.text or "" for td in tr.iter("td")] for tr in table.find("tbody").iter("tr")]
    return root, header, rows


def test_network_html_is_its_summary_as_a_table():
    net = TwoLayerNet(784, 50, 10)
    root, header, rows = html_rows(net._repr_html_())
    assert header == ["layer", "output shape", "parameters"]
    assert rows[0] == ["input", "(784,)", ""]
    by_name = {row[0]: row[1:] for row in rows}
    assert by_name["Affine1 (Affine)"] == ["(50,)", f"{784 * 50 + 50:,}"]
    assert by_name["Relu1 (Relu)"] == ["(50,)", "0"]
    assert by_name["Affine2 (Affine)"] == ["(10,)", f"{50 * 10 + 10:,}"]
    assert root.find("strong").text == "TwoLayerNet (float64)"
    total = sum(p.size for p in net.params.values())
    assert f"trainable parameters: {total:,}" in [d.text for d in root.findall("div")]


def test_conv_and_batchnorm_networks_show_shapes_and_buffers():
    net = SimpleConvNet(conv_param={"filter_num": 4, "filter_size": 3}, hidden_size=8)
    _, _, rows = html_rows(net._repr_html_())
    assert ["Conv1 (Convolution)", "(4, 26, 26)", f"{4 * 9 + 4:,}"] in rows
    net = MultiLayerNet(6, [5], 3, use_batchnorm=True)
    root, _, rows = html_rows(net._repr_html_())
    notes = [d.text for d in root.findall("div")]
    assert any(n.startswith("buffers") and n.endswith(f"{sum(b.size for b in net.buffers.values()):,}")
               for n in notes)


def test_network_html_escapes_and_falls_back_to_the_text():
    class Odd:
        def summary(self):
            return "a <network> & no rows"
    assert display.network_html(Odd()) == "<pre>a &lt;network&gt; &amp; no rows</pre>"


def test_a_sequential_network_of_your_own_shows_its_table():
    from chainrule.models import Sequential
    net = Sequential("conv(4,3,pad=1) relu pool(2) affine(10) relu affine(3)",
                     input_shape=(1, 8, 8), rng=0)
    _, header, rows = html_rows(net._repr_html_())
    assert rows[0] == ["input", "(1, 8, 8)", ""]
    assert ["Conv1 (Convolution)", "(4, 8, 8)", f"{4 * 9 + 4:,}"] in rows
    assert rows[-1][1] == "(3,)"
    texts = all_texts(parse(svggraph.to_svg(layer_graph(net))))
    assert "Conv1" in texts and "(N, 4, 8, 8)" in texts


# -- training histories ---------------------------------------------------------------------
def small_data(n=60, d=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    t = rng.integers(0, classes, n)
    return x, t


def small_trainer(epochs=2, **kw):
    x, t = small_data()
    net = TwoLayerNet(6, 5, 3, rng=0)
    return Trainer(net, x, t, x[:20], t[:20], epochs=epochs, mini_batch_size=20,
                   optimizer_param={"lr": 0.1}, seed=0, verbose=False, **kw)


def test_history_from_a_trainer_shows_png_curves():
    pytest.importorskip("matplotlib")
    from chainrule.plot import History, history
    trainer = small_trainer(epochs=2)
    trainer.train()
    h = history(trainer)
    assert isinstance(h, History)
    assert h.data["epoch"] == [0, 1, 2]   # the evaluation before training is epoch 0
    assert h.data["loss"] == trainer.train_loss_list and len(h.data["loss"]) == 6
    assert h.data["test_acc"] == trainer.test_acc_list
    png = h._repr_png_()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    svg = h.image("svg")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert repr(h) == (f"History(3 evaluations, 6 losses, train_acc "
                       f"{trainer.train_acc_list[-1]:.4f}, test_acc {trainer.test_acc_list[-1]:.4f})")


def test_empty_history_shows_as_text_only():
    from chainrule.plot import History
    h = History({"loss": [], "train_acc": [], "test_acc": []})
    assert h._repr_png_() is None
    assert repr(h) == "History(0 evaluations, 0 losses)"


def test_history_save_is_whole(tmp_path):
    pytest.importorskip("matplotlib")
    from chainrule.plot import History
    path = History({"loss": [2.0, 1.5, 1.0], "train_acc": [0.5], "test_acc": [0.4]}).save(
        tmp_path / "curves.png")
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.listdir(tmp_path) == ["curves.png"]


# -- live curves and progress, with a stand-in for IPython's display ----------------------------
class FakeHandle:
    def __init__(self):
        self.updates = []

    def update(self, obj):
        self.updates.append(obj)


@pytest.fixture
def fake_notebook(monkeypatch):
    from chainrule import notebook
    handles = []

    def new_handle():
        handles.append(FakeHandle())
        return handles[-1]
    monkeypatch.setattr(notebook, "in_notebook", lambda: True)
    monkeypatch.setattr(notebook, "_display_handle", new_handle)
    monkeypatch.setattr(notebook, "_png_image", lambda data: data)
    return handles


def test_live_curves_update_one_figure_in_place(fake_notebook):
    pytest.importorskip("matplotlib")
    from chainrule.notebook import LiveCurves
    live = LiveCurves(every=None, progress=False)
    trainer = small_trainer(epochs=3, callbacks=[live])
    trainer.train()
    assert len(fake_notebook) == 1            # one output in the cell ...
    updates = fake_notebook[0].updates
    assert len(updates) == live.draws == 4 + 1   # ... redrawn per evaluation, and at the end
    assert all(u.startswith(b"\x89PNG") for u in updates)
    assert [r["epoch"] for r in live.records] == [0, 1, 2, 3]
    assert [loss for _, loss in live.losses] == trainer.train_loss_list
    assert live.history().data["test_acc"] == trainer.test_acc_list


def small_language_model_trainer(**kw):
    """A character LSTM on a repeating text, measured on the validation text every 4
    steps: a run whose evaluations hold val_loss and val_perplexity, no accuracy."""
    from chainrule import Sequential
    from chainrule.lm_trainer import LanguageModelTrainer
    ids = np.tile(np.arange(5), 40)
    net = Sequential("embed(4,vocab=5) lstm(6) affine(5)", input_shape=4, rng=0)
    return LanguageModelTrainer(net, ids[:150], ids[150:], batch_size=4, time_size=4,
                                iters=8, eval_interval=4, optimizer="Adam",
                                optimizer_param={"lr": 0.05}, seed=0, verbose=False, **kw)


def test_live_curves_of_a_language_model_show_validation_loss_and_perplexity(fake_notebook):
    pytest.importorskip("matplotlib")
    from chainrule import plot
    from chainrule.notebook import LiveCurves
    live = LiveCurves(every=None, progress=False)
    trainer = small_language_model_trainer(callbacks=[live])
    trainer.train()
    assert len(fake_notebook) == 1 and live.draws == 3 + 1   # evaluations at 0, 4, 8; the end
    steps = [r["iteration"] for r in trainer.history]
    assert steps == [0, 4, 8] and all("val_acc" not in r for r in trainer.history)
    val_loss = [r["val_loss"] for r in trainer.history]
    perplexity = [r["val_perplexity"] for r in trainer.history]
    loss_panel, right_panel = live._figure.axes   # the figure last drawn in the cell
    lines = {line.get_label(): line for line in loss_panel.lines}
    assert list(lines["validation"].get_xdata()) == steps
    assert list(lines["validation"].get_ydata()) == val_loss
    assert list(lines["training"].get_ydata()) == trainer.train_loss_list
    # No accuracy to show: the right panel is the perplexity, exp(val_loss), log scale.
    assert "perplexity" in right_panel.get_title() and right_panel.get_yscale() == "log"
    (line,) = right_panel.lines
    assert list(line.get_xdata()) == steps and list(line.get_ydata()) == perplexity
    assert perplexity == pytest.approx(np.exp(val_loss), rel=1e-12)
    # The same curves from the run's History and from plot_curves' reading of the trainer.
    h = live.history()
    assert h.data["val_loss"] == val_loss and h.data["val_perplexity"] == perplexity
    assert f"val_perplexity {perplexity[-1]:.4f}" in repr(h)
    assert plot.load_history(trainer)["val_loss"] == val_loss


def test_live_curves_redraw_within_an_epoch_when_asked(fake_notebook):
    pytest.importorskip("matplotlib")
    from chainrule.notebook import LiveCurves
    live = LiveCurves(every=0.0, progress=False)
    small_trainer(epochs=1, callbacks=[live]).train()
    # every=0: after each of the 3 steps too, still in the one output.
    assert len(fake_notebook) == 1 and live.draws == 2 + 3 + 1


def test_live_curves_outside_a_notebook_draw_nothing():
    from chainrule.notebook import LiveCurves, in_notebook
    assert not in_notebook()
    live = LiveCurves()
    trainer = small_trainer(epochs=1, callbacks=[live])
    trainer.train()
    assert live.handle is None and live.draws == 0
    assert len(live.records) == 2 and len(live.losses) == 3


def test_live_curves_continue_from_the_trainer_they_are_given(fake_notebook):
    pytest.importorskip("matplotlib")
    from chainrule.notebook import LiveCurves
    trainer = small_trainer(epochs=1)
    trainer.train()
    live = LiveCurves(every=None, progress=False)
    live.set_trainer(trainer)
    live.on_train_begin({})
    assert [r["epoch"] for r in live.records] == [0, 1]
    assert [loss for _, loss in live.losses] == trainer.train_loss_list


def test_progress_bar_counts_steps_with_tqdm_auto(monkeypatch, fake_notebook):
    import tqdm.auto
    import tqdm.std
    from chainrule.notebook import LiveCurves, ProgressBar
    bars = []

    class FakeTqdm:
        def __init__(self, total=None, **kwargs):
            self.total, self.n, self.closed, self.kwargs = total, 0, False, kwargs
            bars.append(self)

        def update(self, n):
            self.n += n

        def set_postfix(self, **kwargs):
            self.postfix = kwargs

        def set_description(self, text, refresh=True):
            self.desc = text

        def close(self):
            self.closed = True
    monkeypatch.setattr(tqdm.auto, "tqdm", FakeTqdm)
    monkeypatch.setattr(tqdm.std, "tqdm", FakeTqdm)   # the bar without ipywidgets
    bar = ProgressBar()
    small_trainer(epochs=2, callbacks=[bar]).train()
    # The trainer hands itself to its callbacks (set_trainer), so the bar knows its total.
    assert bars[0].n == 6 and bars[0].closed and bars[0].total == 6
    assert bars[0].desc == "training, epoch 2" and bars[0].postfix["loss"]
    bar = ProgressBar()                                 # without a trainer: no total
    bar.on_train_begin({})
    bar.on_iteration_end(1, 2.5)
    bar.on_train_end()
    assert bars[1].total is None and bars[1].n == 1 and bars[1].closed
    bar = ProgressBar(total=10)
    small_trainer(epochs=2, callbacks=[bar]).train()
    assert bars[2].total == 10 and bars[2].n == 6  # a total given is kept
    pytest.importorskip("matplotlib")
    small_trainer(epochs=1, callbacks=[LiveCurves(every=None)]).train()
    assert bars[3].n == 3 and bars[3].closed and bars[3].total == 3


def test_missing_tqdm_is_named(monkeypatch):
    import sys
    from chainrule.notebook import ProgressBar
    from chainrule.plot import MissingDependencyError
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    with pytest.raises(MissingDependencyError, match="chainrule\\[notebook\\]"):
        ProgressBar().on_train_begin({})


@pytest.mark.skipif(not HAVE_DOT, reason="Graphviz's dot is not installed")
def test_graphviz_points_become_pixels_so_the_graph_fits_a_cell():
    raw = draw.to_svg(draw.to_dot(apple_example()))
    shown = apple_example()._repr_svg_()
    width_pt = ET.fromstring(raw).get("width")
    assert width_pt.endswith("pt")
    assert ET.fromstring(shown).get("width") == width_pt[:-2] + "px"
    assert shown.split(">", 1)[1] == raw.split(">", 1)[1]   # only the size changed


def test_progress_bar_is_the_widget_with_ipywidgets_else_text(monkeypatch, fake_notebook):
    import sys
    import tqdm.auto
    import tqdm.std
    from chainrule import notebook
    pytest.importorskip("ipywidgets")
    assert notebook._tqdm_class() is tqdm.auto.tqdm
    monkeypatch.setitem(sys.modules, "ipywidgets", None)   # as if not installed
    with warnings.catch_warnings():
        warnings.simplefilter("error")                      # and no warning about it
        assert notebook._tqdm_class() is tqdm.std.tqdm


def test_ipython_formats_each_object_with_its_rich_type():
    """What Jupyter's formatter makes of each object: the mime types a notebook shows."""
    pytest.importorskip("matplotlib")
    formatters = pytest.importorskip("IPython.core.formatters")
    from chainrule.plot import History
    formatter = formatters.DisplayFormatter()
    data, _ = formatter.format(apple_example())
    assert set(data) == {"text/plain", "image/svg+xml"}
    assert "220.00000000000003" in data["image/svg+xml"]
    data, _ = formatter.format(TwoLayerNet(784, 50, 10))
    assert set(data) == {"text/plain", "text/html"} and "<table" in data["text/html"]
    assert data["text/plain"].startswith("TwoLayerNet(")
    data, _ = formatter.format(History({"loss": [2.0, 1.0], "train_acc": [0.5], "test_acc": [0.4]}))
    assert set(data) == {"text/plain", "image/png"}
    assert data["text/plain"] == "History(1 evaluation, 2 losses, train_acc 0.5000, test_acc 0.4000)"


def test_the_display_modules_import_neither_ipython_nor_matplotlib():
    import subprocess
    import sys
    code = ("import sys, chainrule, chainrule.display, chainrule.svggraph, chainrule.notebook\n"
            "from chainrule.trace import apple_example\n"
            "from chainrule import TwoLayerNet\n"
            "apple_example()._repr_svg_(); TwoLayerNet(4, 3, 2)._repr_html_()\n"
            "print(sorted(m for m in ('IPython', 'matplotlib', 'tqdm') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


def test_history_of_a_run_with_a_validation_split_draws_its_curve():
    pytest.importorskip("matplotlib")
    from chainrule.plot import History
    trainer = small_trainer(epochs=2, validation_split=0.25)
    trainer.train()
    h = History(trainer)
    assert h.data["val_acc"] == trainer.val_acc_list and len(h.data["val_acc"]) == 3
    assert h._repr_png_().startswith(b"\x89PNG")
    fig = h.figure()
    labels = [line.get_label() for line in fig.axes[1].lines]
    assert "validation" in labels and "train" in labels
    assert f"val_acc {trainer.val_acc_list[-1]:.4f}" in repr(h)
