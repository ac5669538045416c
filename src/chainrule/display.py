"""How chainrule's objects show themselves in Jupyter: IPython's display protocol.

Jupyter asks an object it is about to show for `_repr_svg_`, `_repr_html_`,
`_repr_png_` ... and uses the richest answer; everywhere else the object's plain
`__repr__` is used. The hooks are plain methods on chainrule's classes, each one line
calling a function here, so IPython is never imported by chainrule itself:

  a recorded Graph (chainrule.trace)     its picture, as SVG        graph_svg(graph)
  a Network (chainrule.models)           its summary as a table     network_html(network)
  a History (chainrule.plot)             its curves, as PNG         (in chainrule.plot)

A graph is drawn by Graphviz when its `dot` program is installed, as `chainrule graph`
draws it, and otherwise by chainrule.svggraph's own layout: the picture must not depend
on a program pip cannot install.
"""

import re
import warnings
from html import escape

from . import draw
from . import svggraph

__all__ = ["graph_svg", "network_html", "ENGINES"]

ENGINES = ("auto", "graphviz", "chainrule")


def graph_svg(graph, *, engine="auto", **options):
    """The recorded graph as SVG text (an <svg> element).

    engine  "graphviz": Graphviz's dot (GraphvizNotFoundError when it is missing);
            "chainrule": chainrule.svggraph's layout, pure Python;
            "auto" (the default): Graphviz when installed, else chainrule's layout.
    options are those of chainrule.draw.to_dot: title, show_grads, rankdir.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "chainrule":
        return svggraph.to_svg(graph, **options)
    try:
        return _points_as_pixels(draw.to_svg(draw.to_dot(graph, **options)))
    except draw.GraphvizNotFoundError:
        if engine == "graphviz":
            raise
    except RuntimeError as exc:
        if engine == "graphviz":
            raise
        # A broken Graphviz install should not cost the user the picture: say so, and
        # draw it ourselves.
        warnings.warn(f"{exc}; drawing the graph without Graphviz", RuntimeWarning,
                      stacklevel=2)
    return svggraph.to_svg(graph, **options)


def _points_as_pixels(svg):
    """Graphviz sizes its SVG in points (1 pt = 4/3 px): the apple graph comes out 931
    pixels wide, wider than a notebook's cell. The same numbers as pixels draw it at
    three quarters of that size (its 14 pt text at 14 px), all of it in view."""
    head_end = svg.find(">")
    head = re.sub(r'(width|height)="([0-9.]+)pt"', r'\1="\2px"', svg[:head_end])
    return head + svg[head_end:]


def network_html(network):
    """The network's summary (layers, output shapes, parameters) as an HTML table:
    the rows of `network.summary_rows()`, or summary()'s text as it is for a network
    without them."""
    rows = getattr(network, "summary_rows", None)
    if rows is None:
        return f"<pre>{escape(network.summary())}</pre>"
    cell = 'style="text-align:{};padding:2px 12px;font-family:monospace"'
    aligns = ("left", "left", "right")
    title = f"{type(network).__name__} ({network.dtype.name})"
    out = ['<div class="chainrule-summary">', f"<strong>{escape(title)}</strong>",
           '<table style="border-collapse:collapse">', "<thead><tr>"]
    for text, align in zip(("layer", "output shape", "parameters"), aligns):
        out.append(f"<th {cell.format(align)}>{text}</th>")
    out.append("</tr></thead><tbody>")
    for name, shape, count in rows():
        values = (name, str(tuple(int(d) for d in shape)), "" if count is None else f"{count:,}")
        out.append("<tr>" + "".join(f"<td {cell.format(align)}>{escape(value)}</td>"
                                    for value, align in zip(values, aligns)) + "</tr>")
    out.append("</tbody></table>")
    trainable, buffers = network.parameter_counts()
    out.append(f"<div>trainable parameters: {trainable:,}</div>")
    if buffers:
        out.append(f"<div>buffers (running statistics, not trained): {buffers:,}</div>")
    out.append("</div>")
    return "\n".join(out)
