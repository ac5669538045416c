"""Recording computational graphs (chainrule.trace) and drawing them (chainrule.draw).

The seed's apple examples must come out as the book's figures 5-16 and 5-17: the
values are checked exactly as the seed prints them, both in the recorded Graph and in
the DOT text, which is parsed back here rather than compared as a string.
"""

import contextlib
import io
import os
import re
import shutil
import threading

import numpy as np
import pytest

from chainrule import draw, trace
from chainrule.graph import AddLayer, MulLayer
from chainrule.layers import Affine, Relu
from chainrule.models import TwoLayerNet
from chainrule.trace import Leaf, apple_example, apple_orange_example, layer_graph, record

HAVE_DOT = shutil.which("dot") is not None


# -- reading DOT back --------------------------------------------------------------------
_NODE = re.compile(r'^\s*(\w+) \[(.*)\];$')
_EDGE = re.compile(r'^\s*(\w+) -> (\w+) \[label=<(.*)>\];$')
_LABEL = re.compile(r'label="((?:[^"\\]|\\.)*)"')
_FONT = re.compile(r'<font color="([^"]+)">([^<]*)</font>')


def parse_dot(text):
    """{node id: label} and a list of (source label, target id, [(colour, text), ...])."""
    assert text.startswith("digraph chainrule {") and text.rstrip().endswith("}")
    nodes, edges = {}, []
    for line in text.splitlines():
        m = _EDGE.match(line)
        if m:
            edges.append((m.group(1), m.group(2), _FONT.findall(m.group(3))))
            continue
        m = _NODE.match(line)
        if m and m.group(1) not in ("graph", "node", "edge"):
            label = _LABEL.search(m.group(2))
            nodes[m.group(1)] = label.group(1) if label else m.group(2)
    return nodes, edges


def edge_texts(text):
    """{(source label, target id): (forward text, derivative text or None)}."""
    nodes, edges = parse_dot(text)
    result = {}
    for source, target, fonts in edges:
        forward = fonts[0][1]
        backward = fonts[1][1] if len(fonts) > 1 else None
        if len(fonts) > 1:
            assert fonts[1][0] == draw.BACKWARD_COLOUR != fonts[0][0]
        result[(nodes[source], target)] = (forward, backward)
    return nodes, result


# -- the seed's examples ------------------------------------------------------------------
def test_apple_graph_values_are_the_seeds():
    g = apple_example()
    assert [n.op for n in g.nodes] == ["MulLayer", "MulLayer"]
    assert [leaf.name for leaf in g.leaves] == ["apple", "apple_num", "tax"]
    # Forward values and derivatives exactly as the seed prints them.
    assert g.leaf_edge("apple").value == 100 and g.leaf_edge("apple").grad == 2.2
    assert g.leaf_edge("apple_num").value == 2
    assert g.leaf_edge("apple_num").grad == 110.00000000000001
    assert g.leaf_edge("tax").value == 1.1 and g.leaf_edge("tax").grad == 200
    (out,) = g.outputs
    assert out.source is g.nodes[1] and out.target is None and out.name == "price"
    assert out.value == 220.00000000000003 and out.grad == 1
    # The intermediate edge: apple_price = 200 flows from the first node to the second.
    middle = g.nodes[1].inputs[0]
    assert middle.source is g.nodes[0] and middle.value == 200 and middle.grad == 1.1


def test_apple_orange_graph_values_are_the_seeds():
    g = apple_orange_example()
    assert [n.kind for n in g.nodes] == ["mul", "mul", "add", "mul"]
    expected = {"apple": (100, 2.2), "apple_num": (2, 110.00000000000001),
                "orange": (150, 3.3000000000000003), "orange_num": (3, 165.0),
                "tax": (1.1, 650)}
    for name, (value, grad) in expected.items():
        edge = g.leaf_edge(name)
        assert (edge.value, edge.grad) == (value, grad), name
    add = g.nodes[2]
    assert [(e.source, e.value, e.grad) for e in add.inputs] == [
        (g.nodes[0], 200, 1.1), (g.nodes[1], 450, 1.1)]
    tax_mul = g.nodes[3]
    assert tax_mul.inputs[0].source is add
    assert (tax_mul.inputs[0].value, tax_mul.inputs[0].grad) == (650, 1.1)
    (out,) = g.outputs
    assert (out.value, out.grad, out.name) == (715.0000000000001, 1, "price")


def test_apple_dot_text_carries_values_above_and_derivatives_below():
    nodes, edges = edge_texts(draw.to_dot(apple_example()))
    assert sorted(nodes.values()) == sorted(["apple", "apple_num", "tax", "\u00d7", "\u00d7", "price"])
    assert edges[("apple", "node0")] == ("100", "2.2")
    assert edges[("apple_num", "node0")] == ("2", "110.00000000000001")
    assert edges[("\u00d7", "node1")] == ("200", "1.1")
    assert edges[("tax", "node1")] == ("1.1", "200")
    assert edges[("\u00d7", "out0")] == ("220.00000000000003", "1")
    assert nodes["out0"] == "price"


def test_apple_orange_dot_text():
    nodes, edges = edge_texts(draw.to_dot(apple_orange_example()))
    assert list(nodes.values()).count("+") == 1
    assert edges[("orange", "node1")] == ("150", "3.3000000000000003")
    assert edges[("orange_num", "node1")] == ("3", "165.0")
    assert edges[("+", "node3")] == ("650", "1.1")
    assert edges[("tax", "node3")] == ("1.1", "650")
    assert edges[("\u00d7", "out0")] == ("715.0000000000001", "1")
    # The two products enter the + node in argument order.
    _, raw = parse_dot(draw.to_dot(apple_orange_example()))
    into_add = [(s, fonts[0][1]) for s, t, fonts in raw if t == "node2"]
    assert into_add == [("node0", "200"), ("node1", "450")]


def test_forward_only_has_no_derivative_line():
    with record() as g:
        MulLayer().forward(3.0, 4.0)
    _, edges = edge_texts(draw.to_dot(g))
    assert all(backward is None for _, backward in edges.values())
    assert all(e.grad is None for e in g.edges)


# -- recording --------------------------------------------------------------------------
def test_classes_are_restored_after_the_block_even_on_error():
    originals = {cls: (cls.__dict__["forward"], cls.__dict__["backward"])
                 for cls in (MulLayer, AddLayer, Affine, Relu)}
    with record():
        assert MulLayer.__dict__["forward"] is not originals[MulLayer][0]
    with pytest.raises(ZeroDivisionError):
        with record():
            MulLayer().forward(1, 2)
            1 / 0
    for cls, (forward, backward) in originals.items():
        assert cls.__dict__["forward"] is forward and cls.__dict__["backward"] is backward
    # And outside the block nothing is recorded anywhere.
    assert MulLayer().forward(2, 3) == 6


def test_a_users_own_classes_from_the_seed_are_recorded():
    class SeedMulLayer:  # the seed's cell 1, typed in by the reader
        def __init__(self):
            self.x = None
            self.y = None

        def forward(self, x, y):
            self.x = x
            self.y = y
            out = x * y
            return out

        def backward(self, dout):
            dx = dout * self.y
            dy = dout * self.x
            return dx, dy

    with record(SeedMulLayer) as g:
        layer = SeedMulLayer()
        price = layer.forward(100, 2)
        layer.backward(1)
    assert price == 200 and len(g.nodes) == 1
    assert [e.grad for e in g.nodes[0].inputs] == [2, 100]
    assert "forward" in SeedMulLayer.__dict__ and not hasattr(
        SeedMulLayer.__dict__["forward"], "__chainrule_trace_original__")


def test_equal_small_numbers_are_separate_leaves():
    # 2 and 2 are one shared object in CPython; they are still two inputs.
    a = 2
    b = 2
    with record() as g:
        MulLayer().forward(a, b)
        MulLayer().forward(a, 3)
    assert len(g.leaves) == 4
    assert [leaf.position for leaf in g.leaves] == [0, 1, 0, 1]


def test_a_value_used_twice_fans_out_with_one_derivative_per_edge():
    with record() as g:
        mul = MulLayer()
        square = MulLayer()
        add = AddLayer()
        y = mul.forward(3.0, 5.0)        # 15.0, a new float object
        z = square.forward(y, y)         # y used twice
        add.forward(z, 1.0)
        dz, _ = add.backward(1.0)
        dy1, dy2 = square.backward(dz)
        mul.backward(dy1 + dy2)
    inputs = g.nodes[1].inputs
    assert [e.source for e in inputs] == [g.nodes[0], g.nodes[0]]
    assert [e.grad for e in inputs] == [15.0, 15.0]
    assert len(g.nodes[0].consumers) == 2
    assert g.leaf_edge("input0").grad == 150.0   # d(y^2 + 1)/dx = 2 y * 5


def test_backward_pairs_with_the_latest_forward_of_the_same_layer():
    with record() as g:
        layer = MulLayer()
        layer.forward(2.0, 3.0)
        layer.backward(1.0)
        layer.forward(4.0, 5.0)
        layer.backward(10.0)
    assert [e.grad for e in g.nodes[0].inputs] == [3.0, 2.0]
    assert [e.grad for e in g.nodes[1].inputs] == [50.0, 40.0]
    assert g.nodes[1].dout == 10.0


def test_only_the_outer_call_of_nested_layers_is_a_node():
    class Double(MulLayer):
        def forward(self, x, y):
            return 2 * super().forward(x, y)

    with record(Double) as g:
        Double().forward(3.0, 4.0)
    assert len(g.nodes) == 1 and g.nodes[0].op == "Double"


def test_other_threads_are_not_recorded():
    done = threading.Event()
    go = threading.Event()

    def worker():
        go.wait(5)
        MulLayer().forward(7.0, 8.0)
        done.set()

    thread = threading.Thread(target=worker)
    thread.start()
    with record() as g:
        go.set()
        assert done.wait(5)
        MulLayer().forward(1.0, 2.0)
    thread.join(5)
    assert len(g.nodes) == 1 and g.nodes[0].inputs[0].value == 1.0


def test_naming_by_value_and_ambiguity():
    with record() as g:
        price = MulLayer().forward(1.5, 4.0)
    g.name(price=price, apple=1.5)
    assert g.outputs[0].name == "price" and g.leaves[0].name == "apple"
    with record() as g2:
        MulLayer().forward(100, 100)
    with pytest.raises(ValueError, match="name_leaves"):
        g2.name(apple=100, orange=100)
    with pytest.raises(ValueError, match="not a value"):
        g2.name(banana=12345.5)


def test_array_layers_record_values_and_gradients():
    net = TwoLayerNet(4, 3, 2, rng=0)
    x = np.arange(8.0).reshape(2, 4) / 8
    t = np.array([0, 1])
    with record() as g:
        net.gradient(x, t)
    assert [n.op for n in g.nodes] == ["Affine", "Relu", "Affine", "SoftmaxWithLoss"]
    # SoftmaxWithLoss.backward was called with its default dout=1.
    assert g.nodes[3].dout == 1
    hidden = g.nodes[1].inputs[0]
    assert hidden.source is g.nodes[0] and hidden.grad.shape == hidden.value.shape == (2, 3)
    # The first Affine was asked for no input gradient; the labels get none either.
    assert g.leaf_edge("input0").grad is None and g.leaves[1].consumer is g.nodes[3]
    assert g.leaves[1].consumer.inputs[1].grad is None


# -- networks ---------------------------------------------------------------------------
def test_layer_graph_of_a_two_layer_net_has_shapes():
    net = TwoLayerNet(784, 50, 10, rng=0)
    before = {k: v.copy() for k, v in net.params.items()}
    g = layer_graph(net)
    assert [n.label for n in g.nodes] == ["Affine1", "Relu1", "Affine2", "SoftmaxWithLoss"]
    assert g.leaf_edge("x").value.shape == (2, 784)
    text = draw.to_dot(g)
    nodes, edges = edge_texts(text)
    assert edges[("x", "node0")] == ("(N, 784)", None)
    shapes = [fonts[0][1] for _, _, fonts in parse_dot(text)[1]]
    assert shapes == ["(N, 784)", "(N, 50)", "(N, 50)", "(N, 10)", "(N,)", "()"]
    assert "W1 (784, 50)" in text and "b2 (10,)" in text
    assert nodes["out0"] == "loss"
    for name, value in net.params.items():   # drawing trains nothing
        np.testing.assert_array_equal(value, before[name])


def test_layer_graph_of_a_conv_net():
    from chainrule import models
    if "SimpleConvNet" not in models.MODELS:
        pytest.skip("SimpleConvNet not in this version")
    net = models.SimpleConvNet(conv_param={"filter_num": 4, "filter_size": 5, "pad": 0,
                                           "stride": 1}, hidden_size=8)
    text = draw.to_dot(layer_graph(net, with_loss=False))
    assert "(N, 1, 28, 28)" in text and "(N, 4, 24, 24)" in text and "(N, 4, 12, 12)" in text
    assert 'label="scores"' in text


# -- rendering --------------------------------------------------------------------------
def no_temporaries(directory):
    return [name for name in os.listdir(directory) if name.endswith(".tmp")]


def test_render_dot_text_needs_no_graphviz(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    text = draw.to_dot(apple_example())
    path = draw.render(text, tmp_path / "apple.dot")
    assert open(path, encoding="utf-8").read() == text
    with pytest.raises(draw.GraphvizNotFoundError, match="apt-get install graphviz"):
        draw.render(text, tmp_path / "apple.svg")
    assert not (tmp_path / "apple.svg").exists() and not no_temporaries(tmp_path)


def test_render_refuses_unknown_formats(tmp_path):
    with pytest.raises(ValueError, match=r"\.svg"):
        draw.render("digraph {}", tmp_path / "x.jpg")


@pytest.mark.skipif(not HAVE_DOT, reason="Graphviz's dot is not installed (apt-get install graphviz)")
def test_render_svg_and_png_with_graphviz(tmp_path):
    text = draw.to_dot(apple_orange_example())
    svg = draw.render(text, tmp_path / "g.svg")
    content = open(svg, encoding="utf-8").read()
    assert "<svg" in content and "715.0000000000001" in content and "apple_num" in content
    png = draw.draw(apple_example(), tmp_path / "g.png")
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert not no_temporaries(tmp_path)


@pytest.mark.skipif(not HAVE_DOT, reason="Graphviz's dot is not installed (apt-get install graphviz)")
def test_render_reports_graphviz_errors(tmp_path):
    with pytest.raises(RuntimeError, match="Graphviz failed"):
        draw.render("this is not dot {", tmp_path / "bad.svg")
    assert not (tmp_path / "bad.svg").exists() and not no_temporaries(tmp_path)


def test_format_value():
    assert draw.format_value(220.00000000000003) == "220.00000000000003"
    assert draw.format_value(np.float64(2.2)) == "2.2"
    assert draw.format_value(np.array([1.0, 2.5])) == "[1. , 2.5]"
    assert draw.format_value(np.zeros((3, 4))) == "(3, 4)"
    assert draw.format_value(np.zeros((5, 4)), batch_size=5) == "(N, 4)"
    assert draw.format_value(np.zeros(5), batch_size=5) == "(N,)"


def test_labels_are_escaped():
    with record() as g:
        MulLayer().forward(1.0, 2.0)
    g.name_leaves('a<b>&"c"', "y")
    text = draw.to_dot(g)
    assert 'label="a<b>&\\"c\\""' in text


# -- the command line --------------------------------------------------------------------
def run_cli(*argv):
    from chainrule import cli
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_cli_graph_apple_prints_dot():
    code, out, _ = run_cli("graph", "apple")
    assert code == 0
    _, edges = edge_texts(out)
    assert edges[("\u00d7", "out0")] == ("220.00000000000003", "1")
    assert edges[("tax", "node1")] == ("1.1", "200")


def test_cli_graph_network_and_errors(tmp_path):
    code, out, _ = run_cli("graph", "two-layer")
    assert code == 0 and "(N, 784)" in out and "Affine1" in out
    code, _, err = run_cli("graph", "model")
    assert code == 2 and "model file" in err
    code, _, err = run_cli("graph", "model", str(tmp_path / "missing.npz"))
    assert code == 2 and "missing.npz" in err
    code, _, err = run_cli("graph", "apple", "extra.npz")
    assert code == 2
    code, _, err = run_cli("graph", "apple", "-o", str(tmp_path / "a.gif"))
    assert code == 2 and ".svg" in err


def test_cli_graph_writes_dot_file(tmp_path):
    code, _, _ = run_cli("graph", "apple-orange", "-o", str(tmp_path / "ao.dot"))
    assert code == 0
    _, edges = edge_texts((tmp_path / "ao.dot").read_text(encoding="utf-8"))
    assert edges[("\u00d7", "out0")] == ("715.0000000000001", "1")


def test_cli_graph_without_graphviz_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    code, _, err = run_cli("graph", "apple", "-o", str(tmp_path / "a.png"))
    assert code == 1 and "apt-get install graphviz" in err


def test_cli_graph_model_from_a_checkpoint(tmp_path):
    from chainrule import checkpoint
    path = tmp_path / "net.npz"
    checkpoint.save(TwoLayerNet(784, 30, 10, rng=1), path)
    code, out, _ = run_cli("graph", "model", str(path))
    assert code == 0 and "W1 (784, 30)" in out and "(N, 30)" in out


def test_an_edge_says_whether_it_leaves_a_leaf():
    graph = apple_example()
    edges = [edge for node in graph.nodes for edge in node.inputs]
    assert any(edge.from_leaf for edge in edges) and not all(edge.from_leaf for edge in edges)
    assert all(edge.from_leaf == isinstance(edge.source, Leaf) for edge in edges)
    assert trace.Graph().edges == []


def test_graph_command_draws_svg_without_graphviz(tmp_path):
    """Without `dot` on the PATH, an .svg is still drawn (chainrule's own layout) and
    carries the seed's numbers; other formats still need Graphviz and say so."""
    import subprocess
    import sys
    env = dict(os.environ, PATH=os.path.dirname(sys.executable))
    out = tmp_path / "ao.svg"
    done = subprocess.run([sys.executable, "-m", "chainrule", "graph", "apple", "-o", str(out)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "chainrule's own layout" in done.stderr
    svg = out.read_text()
    assert svg.startswith("<svg") and "220.00000000000003" in svg and "2.2" in svg
    done = subprocess.run([sys.executable, "-m", "chainrule", "graph", "apple", "-o",
                           str(tmp_path / "ao.png")], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 1 and "apt-get install graphviz" in done.stderr
    assert not (tmp_path / "ao.png").exists()
