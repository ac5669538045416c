"""Drawing a recorded graph: DOT text, and pictures made from it by Graphviz.

`to_dot(graph)` turns a :class:`chainrule.trace.Graph` into the DOT language, the text
format of Graphviz. It needs nothing beyond Python, so it is what the tests read. The
picture follows the book's figures 5-16 and 5-17: inputs are plain names on the left,
operations are circles ("x", "+"), and every edge carries its forward value above and,
once backward has run, its derivative below in red. Layers of a network are boxes, and
their edges carry array shapes with the batch axis written as N.

`render(dot_text, "graph.svg")` runs Graphviz's ``dot`` program, if it is installed, to
make an SVG, PNG or PDF file. Graphviz is a separate program, not a Python package:
``apt-get install graphviz`` on Debian and Ubuntu. `to_svg(dot_text)` returns the SVG
text instead of writing a file: it is what a graph shows in a notebook when Graphviz is
there (see chainrule.display; without it, chainrule.svggraph draws the figure).
"""

import os
import shutil
import subprocess

import numpy as np

from .files import atomic_file
from .registry import parameter_arrays

__all__ = ["to_dot", "render", "draw", "to_svg", "format_value", "find_dot", "GraphvizNotFoundError",
           "RENDER_FORMATS"]

# Formats `dot` writes for us; ".dot"/".gv" files are the text itself.
RENDER_FORMATS = ("svg", "png", "pdf")
_TEXT_FORMATS = ("dot", "gv")

FORWARD_COLOUR = "#1a1a1a"
BACKWARD_COLOUR = "#d62728"
_SYMBOLS = {"mul": "\u00d7", "add": "+"}   # the book's circles: x and +

# Small arrays are drawn with their values; larger ones by their shape.
_MAX_SHOWN_ELEMENTS = 6


class GraphvizNotFoundError(RuntimeError):
    """Graphviz's `dot` program is needed to make a picture and is not installed."""


def format_value(value, batch_size=None):
    """How a value is written on an edge.

    Python numbers as Python prints them (220.00000000000003, as the seed shows), NumPy
    scalars likewise, small arrays by their values and larger ones by their shape, the
    first axis written as N when it is the batch axis of a recorded network pass.
    """
    if value is None:
        return ""
    if batch_size is not None and np.ndim(value) == 0 and not isinstance(value, bool):
        return "()"  # a drawing of shapes: a scalar, such as the loss, has shape ()
    if isinstance(value, (bool, np.bool_)):
        return repr(bool(value))
    if isinstance(value, np.generic):
        return repr(value.item())
    if isinstance(value, (int, float, complex)):
        return repr(value)
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return repr(value.item())
        if batch_size is not None and value.shape[0] == batch_size:
            dims = ["N"] + [str(d) for d in value.shape[1:]]
            return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"
        if value.size <= _MAX_SHOWN_ELEMENTS:
            return np.array2string(value, precision=4, separator=", ")
        return str(tuple(value.shape))
    return type(value).__name__


def _html(text):
    """Escape text for a Graphviz HTML-like label."""
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def _quoted(text):
    """A DOT double-quoted string."""
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _edge_label(edge, batch_size, show_grads):
    forward = format_value(edge.value, batch_size)
    parts = [f'<font color="{FORWARD_COLOUR}">{_html(forward)}</font>']
    if show_grads and edge.grad is not None:
        backward = format_value(edge.grad, batch_size)
        parts.append(f'<font color="{BACKWARD_COLOUR}">{_html(backward)}</font>')
    return "<" + "<br/>".join(parts) + ">"


def _layer_label(node, params):
    """A box label: the layer's name, then its parameters with their shapes."""
    lines = [f"<b>{_html(node.label)}</b>"]
    if node.name is not None and not node.name.startswith(node.op):
        lines.append(f'<font point-size="10">{_html(node.op)}</font>')
    for attr, array in parameter_arrays(node.layer):
        name = params.get(id(array), attr)
        lines.append(f'<font point-size="10">{_html(name)} {_html(tuple(array.shape))}</font>')
    return "<" + "<br/>".join(lines) + ">"


def to_dot(graph, *, title=None, show_grads=True, rankdir=None):
    """The graph in the DOT language, as a string.

    rankdir: "LR" (left to right, the book's way) or "TB" (top to bottom); by default
    left to right, except for more than 8 operations, which would make a very wide
    picture.

    Node ids: leafK for inputs, nodeK for operations, outK for results. Each edge is one
    line ``a -> b [label=<forward<br/>derivative>]`` so the text reads (and parses)
    easily.
    """
    batch_size = getattr(graph, "batch_size", None)
    if rankdir is None:
        rankdir = "LR" if len(graph.nodes) <= 8 else "TB"
    params = getattr(graph, "params", {}) or {}
    lines = ["digraph chainrule {"]
    # ordering=in keeps each node's inputs in argument order (apple above apple_num),
    # as the book draws them.
    graph_attrs = [f"rankdir={rankdir}", "ordering=in", 'fontname="Helvetica"',
                   "nodesep=0.5", "ranksep=0.9"]
    if title:
        graph_attrs += [f"label={_quoted(title)}", "labelloc=t"]
    lines.append("  graph [" + ", ".join(graph_attrs) + "];")
    lines.append('  node [fontname="Helvetica"];')
    lines.append('  edge [fontname="Helvetica", fontsize=11, arrowsize=0.7];')

    for leaf in graph.leaves:
        lines.append(f"  leaf{leaf.index} [shape=plaintext, label={_quoted(leaf.label)}];")
    for node in graph.nodes:
        symbol = _SYMBOLS.get(node.kind)
        if symbol is not None:
            lines.append(f"  node{node.index} [shape=circle, width=0.45, fixedsize=true, "
                         f"fontsize=18, label={_quoted(symbol)}];")
        else:
            lines.append(f"  node{node.index} [shape=box, style=rounded, "
                         f"label={_layer_label(node, params)}];")
    outputs = graph.outputs
    for k, edge in enumerate(outputs):
        name = edge.source.output_name or ""
        lines.append(f"  out{k} [shape=plaintext, label={_quoted(name)}];")

    for node in graph.nodes:
        for edge in node.inputs:
            source = (f"leaf{edge.source.index}" if edge.from_leaf
                      else f"node{edge.source.index}")
            lines.append(f"  {source} -> node{node.index} "
                         f"[label={_edge_label(edge, batch_size, show_grads)}];")
    for k, edge in enumerate(outputs):
        lines.append(f"  node{edge.source.index} -> out{k} "
                     f"[label={_edge_label(edge, batch_size, show_grads)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def find_dot():
    """The path of Graphviz's `dot` program, or raise GraphvizNotFoundError saying how
    to install it."""
    path = shutil.which("dot")
    if path is None:
        raise GraphvizNotFoundError(
            "Graphviz's `dot` program is not installed, so no picture can be made. "
            "Install it with `apt-get install graphviz` (Debian/Ubuntu; "
            "`brew install graphviz` on macOS), or write the text with -o FILE.dot.")
    return path


def _output_format(path, fmt):
    if fmt is None:
        fmt = os.path.splitext(str(path))[1].lstrip(".").lower()
    fmt = fmt.lower()
    if fmt not in RENDER_FORMATS + _TEXT_FORMATS:
        raise ValueError(f"cannot write {path!s}: choose a file ending in "
                         f".svg, .png, .pdf or .dot (got {fmt!r})")
    return fmt


def render(dot_text, path, fmt=None, *, timeout=60):
    """Write `dot_text` to `path` as a picture made by Graphviz (.svg, .png, .pdf), or as
    the text itself (.dot, .gv). Returns the path.

    The file appears whole or not at all: Graphviz writes into a temporary file beside
    it, which is renamed into place only when it is complete. `dot` is run with a list of
    arguments, never through a shell, and reads the graph from its standard input.
    """
    fmt = _output_format(path, fmt)
    path = os.fspath(path)
    dot = None if fmt in _TEXT_FORMATS else find_dot()
    with atomic_file(path) as f:
        if dot is None:
            f.write(dot_text.encode("utf-8"))
        else:
            try:
                done = subprocess.run([dot, "-T" + fmt], input=dot_text.encode("utf-8"),
                                      stdout=f, stderr=subprocess.PIPE, timeout=timeout,
                                      check=False)
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"Graphviz took longer than {timeout} s; gave up") from None
            if done.returncode != 0:
                message = done.stderr.decode("utf-8", "replace").strip()
                raise RuntimeError(f"Graphviz failed (exit {done.returncode}): {message}")
    return path


def draw(graph, path, **options):
    """`render(to_dot(graph, **options), path)`: a recorded graph straight to a file."""
    return render(to_dot(graph, **options), path)


def to_svg(dot_text, *, timeout=60):
    """The SVG text Graphviz makes of `dot_text` (the <svg> element, without the XML
    prolog, so it can be inlined in a page); GraphvizNotFoundError without `dot`."""
    dot = find_dot()
    try:
        done = subprocess.run([dot, "-Tsvg"], input=dot_text.encode("utf-8"),
                              capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"Graphviz took longer than {timeout} s; gave up") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip()
        raise RuntimeError(f"Graphviz failed (exit {done.returncode}): {message}")
    text = done.stdout.decode("utf-8")
    start = text.find("<svg")
    return text[start:] if start >= 0 else text

