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


_SPLIT = re.compile(r"\s{2,}")


def _summary_table(text):
    """(title, header, rows, footer lines) read from Network.summary()'s text, or None
    if it is not laid out as that table (then the text is shown as it is)."""
    lines = text.splitlines()
    rules = [i for i, line in enumerate(lines) if line and set(line) == {"-"}]
    if len(rules) < 3:
        return None
    title = "\n".join(lines[:rules[0]])
    header = _SPLIT.split(lines[rules[0] + 1].strip())
    body = [_SPLIT.split(line.strip()) for line in lines[rules[1] + 1:rules[2]]]
    if len(header) != 3 or any(len(row) > 3 for row in body):
        return None
    body = [row + [""] * (3 - len(row)) for row in body]
    return title, header, body, lines[rules[2] + 1:]


def network_html(network):
    """The network's summary (layers, output shapes, parameters) as an HTML table."""
    text = network.summary()
    table = _summary_table(text)
    if table is None:
        return f"<pre>{escape(text)}</pre>"
    title, header, rows, footer = table
    cell = 'style="text-align:{};padding:2px 12px;font-family:monospace"'
    out = ['<div class="chainrule-summary">',
           f"<strong>{escape(title)}</strong>",
           '<table style="border-collapse:collapse">',
           "<thead><tr>"]
    for text_, align in zip(header, ("left", "left", "right")):
        out.append(f"<th {cell.format(align)}>{escape(text_)}</th>")
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td {cell.format(align)}>{escape(value)}</td>"
                                    for value, align in zip(row, ("left", "left", "right")))
                   + "</tr>")
    out.append("</tbody></table>")
    out += [f"<div>{escape(line)}</div>" for line in footer if line.strip()]
    out.append("</div>")
    return "\n".join(out)
