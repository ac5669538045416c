"""A recorded graph drawn as SVG by a small layered layout of our own, without Graphviz.

`chainrule.draw` hands a graph to Graphviz's ``dot`` program, which draws the book's
figures beautifully but is a separate program that a notebook user may not have (it is
not a Python package; pip cannot install it). A graph that shows as an error message
instead of a picture is no use in a notebook, so this module draws the same figure in
pure Python, as SVG text.

Why our own layout and not another library: the graphs recorded here are small (the
apple examples have 2 to 4 operations, a network's layer graph a dozen boxes) and always
acyclic, with the nodes already in forward (topological) order. For such graphs the
classic layered drawing (Sugiyama's method) shrinks to a few dozen lines: ranks by
longest path, an order within each rank taken from the consumers (so each node's inputs
appear in argument order, apple above apple_num, as the book draws them), a few
averaging passes to straighten the edges, straight edges. The Python packages that lay
out graphs either wrap Graphviz itself (pygraphviz, graphviz) or are large (networkx
plus a plotting stack) for what would still need our own drawing of the labels.

The picture is the one `chainrule graph` draws: inputs as plain names, operations as
circles with x or +, layers as rounded boxes; every edge carries its forward value above
it in black and, once backward has run, its derivative below it in red. Graphs of more
than 8 operations are drawn top to bottom, with the labels beside the edges.
"""

import math
from xml.sax.saxutils import escape

import numpy as np

from .draw import BACKWARD_COLOUR, FORWARD_COLOUR, format_value
from .registry import parameter_arrays

__all__ = ["to_svg", "layout"]

_SYMBOLS = {"mul": "\u00d7", "add": "+"}
_FONT = "Helvetica, Arial, sans-serif"
_LABEL_SIZE = 12          # edge labels
_CHAR = 0.6               # average glyph width in ems for Helvetica-like fonts (an estimate)
_RADIUS = 18              # the operation circles
_MARGIN = 16


def _text_width(text, size):
    return len(str(text)) * size * _CHAR


class _Item:
    """Something placed in the drawing: a leaf, an operation or an output name."""

    def __init__(self, key, kind, lines, order):
        self.key = key            # ("leaf", i), ("node", i) or ("out", k)
        self.kind = kind          # "text", "circle" or "box"
        self.lines = lines        # [(text, font size, bold)]
        self.order = order        # a tie-breaker: creation order
        self.rank = 0
        self.cross = 0.0          # position across the ranks, in slots
        self.x = self.y = 0.0
        if kind == "circle":
            self.width = self.height = 2 * _RADIUS
        else:
            pad = 10 if kind == "box" else 2
            self.width = max(_text_width(t, s) for t, s, _ in lines) + 2 * pad
            self.height = sum(s * 1.25 for _, s, _ in lines) + (10 if kind == "box" else 2)


def _layer_lines(node, params):
    """A box's text: the layer's name, its class if the name hides it, its parameters."""
    lines = [(node.label, 13, True)]
    if node.name is not None and not node.name.startswith(node.op):
        lines.append((node.op, 10, False))
    for attr, array in parameter_arrays(node.layer):
        name = params.get(id(array), attr)
        lines.append((f"{name} {tuple(array.shape)}", 10, False))
    return lines


def layout(graph, rankdir=None, top=0.0):
    """Place the graph: (items by key, edges as (source key, target key, Edge), rankdir).

    Each item gets x, y (its centre, in pixels), width and height; `top` pixels are
    left free above the drawing (for a title).
    """
    if rankdir is None:
        rankdir = "LR" if len(graph.nodes) <= 8 else "TB"
    if rankdir not in ("LR", "TB"):
        raise ValueError(f"rankdir must be 'LR' or 'TB', got {rankdir!r}")
    if not graph.nodes:
        raise ValueError("the graph is empty: no layer call was recorded")
    params = getattr(graph, "params", {}) or {}
    items, edges = {}, []
    for leaf in graph.leaves:
        items[("leaf", leaf.index)] = _Item(("leaf", leaf.index), "text",
                                            [(leaf.label, 14, False)], leaf.index)
    for node in graph.nodes:
        symbol = _SYMBOLS.get(node.kind)
        if symbol is not None:
            item = _Item(("node", node.index), "circle", [(symbol, 18, False)], node.index)
        else:
            item = _Item(("node", node.index), "box", _layer_lines(node, params), node.index)
        items[item.key] = item
        for edge in node.inputs:
            source = (("leaf", edge.source.index) if edge.from_leaf
                      else ("node", edge.source.index))
            edges.append((source, item.key, edge))
    for k, edge in enumerate(graph.outputs):
        key = ("out", k)
        items[key] = _Item(key, "text", [(edge.source.output_name or "", 14, False)],
                           len(graph.nodes) + k)
        edges.append((("node", edge.source.index), key, edge))

    # Ranks by longest path; nodes arrive in forward order, so sources come first.
    for node in graph.nodes:
        sources = [items[s].rank for s, t, _ in edges if t == ("node", node.index)
                   and s[0] == "node"]
        items[("node", node.index)].rank = 1 + max(sources, default=0)
    for source, target, _ in edges:
        if source[0] == "leaf":
            items[source].rank = items[target].rank - 1
        if target[0] == "out":
            items[target].rank = items[source].rank + 1
    ranks = {}
    for item in items.values():
        ranks.setdefault(item.rank, []).append(item)

    consumers, producers = {}, {}
    for source, target, edge in edges:
        consumers.setdefault(source, []).append((target, edge.position))
        producers.setdefault(target, []).append(source)

    def where_consumed(item):
        targets = consumers.get(item.key, [])
        if not targets:
            return (item.order, item.order)
        return (sum(items[t].cross + 0.01 * pos for t, pos in targets) / len(targets),
                item.order)

    # Order within each rank from the right: an item sits where its consumers are,
    # inputs of one node in argument order.
    for r in sorted(ranks, reverse=True):
        members = ranks[r]
        members.sort(key=where_consumed)
        _spread(members, [i - (len(members) - 1) / 2 for i in range(len(members))])

    # Straighten: move each item towards its neighbours, keeping the order. An
    # operation follows the operations feeding it, so a chain of layers stays straight
    # and the inputs (leaves) gather beside it, as the book draws them.
    for _ in range(6):
        for r in sorted(ranks):
            members = ranks[r]
            wanted = []
            for item in members:
                near = [p for p in producers.get(item.key, []) if p[0] == "node"]
                if not near:
                    near = producers.get(item.key, []) + [t for t, _ in
                                                          consumers.get(item.key, [])]
                wanted.append(sum(items[n].cross for n in near) / len(near) if near
                              else item.cross)
            _spread(members, wanted)

    # Slots and ranks to pixels. Left to right, each gap between two ranks is as wide
    # as the labels of the edges leaving the first need; top to bottom, the labels sit
    # beside the edges, so the slots across are that wide instead.
    def label_width(edge):
        texts = [format_value(edge.value, graph.batch_size)]
        if edge.grad is not None:
            texts.append(format_value(edge.grad, graph.batch_size))
        return max(_text_width(t, _LABEL_SIZE) for t in texts)
    gap_labels = {}
    for source, _, edge in edges:
        r = items[source].rank
        gap_labels[r] = max(gap_labels.get(r, 0.0), label_width(edge))
    half = {r: max(i.width if rankdir == "LR" else i.height for i in members) / 2
            for r, members in ranks.items()}
    order = sorted(ranks)
    along = {order[0]: 0.0}
    for previous, r in zip(order, order[1:]):
        if rankdir == "LR":
            # At least 100 px of edge: a short, steep edge leaves no room for its labels.
            step = half[previous] + half[r] + max(gap_labels.get(previous, 0.0), 70) + 30
        else:
            step = half[previous] + half[r] + 3.2 * _LABEL_SIZE + 24
        along[r] = along[previous] + step
    widest = max(i.width for i in items.values())
    tallest = max(i.height for i in items.values())
    if rankdir == "LR":
        slot = max(tallest + 4 * _LABEL_SIZE, 84)
    else:
        slot = widest + max(gap_labels.values(), default=0.0) + 30
    for item in items.values():
        a, c = along[item.rank], item.cross * slot
        item.x, item.y = (a, c) if rankdir == "LR" else (c, a)
    left = min(i.x - i.width / 2 for i in items.values())
    top_edge = min(i.y - i.height / 2 for i in items.values())
    for item in items.values():
        item.x += _MARGIN - left
        item.y += _MARGIN - top_edge + top + (2 * _LABEL_SIZE if rankdir == "LR" else 0)
    return items, edges, rankdir


def _spread(members, wanted):
    """Set the members' cross positions, in their order and at least one slot apart, as
    near `wanted` as can be: the least-squares fit (operations weigh more than inputs,
    so a chain of layers stays straight and its inputs move aside).

    With q_i = p_i - i the constraint p_(i+1) >= p_i + 1 becomes q nondecreasing, which
    is isotonic regression, solved by pooling adjacent violators.
    """
    blocks = []   # [weighted mean of q, weight, count]
    for i, (item, w) in enumerate(zip(members, wanted)):
        weight = 4.0 if item.key[0] == "node" else 1.0
        blocks.append([w - i, weight, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            q2, w2, n2 = blocks.pop()
            q1, w1, n1 = blocks.pop()
            blocks.append([(q1 * w1 + q2 * w2) / (w1 + w2), w1 + w2, n1 + n2])
    i = 0
    for q, _, n in blocks:
        for _ in range(n):
            members[i].cross = q + i
            i += 1


def _boundary(item, dx, dy):
    """The point where a line from the item's centre in direction (dx, dy) leaves it."""
    length = math.hypot(dx, dy) or 1.0
    if item.kind == "circle":
        return item.x + dx / length * _RADIUS, item.y + dy / length * _RADIUS
    half_w, half_h = item.width / 2 + 2, item.height / 2 + 2
    scale = min(half_w / abs(dx) if dx else math.inf, half_h / abs(dy) if dy else math.inf)
    return item.x + dx * scale, item.y + dy * scale


def _fmt(v):
    return f"{v:.1f}"


def to_svg(graph, *, title=None, show_grads=True, rankdir=None):
    """The graph as a standalone SVG document (a string), laid out without Graphviz."""
    items, edges, rankdir = layout(graph, rankdir, top=24 if title else 0)
    batch_size = getattr(graph, "batch_size", None)
    parts = []
    right = bottom = 0.0
    for source, target, edge in edges:
        a, b = items[source], items[target]
        dx, dy = b.x - a.x, b.y - a.y
        x1, y1 = _boundary(a, dx, dy)
        x2, y2 = _boundary(b, -dx, -dy)
        length = math.hypot(x2 - x1, y2 - y1) or 1.0
        ux, uy = (x2 - x1) / length, (y2 - y1) / length
        # The arrowhead is drawn as a polygon, not an SVG marker: marker ids would clash
        # between several pictures inlined in one notebook page.
        bx, by = x2 - 9 * ux, y2 - 9 * uy
        head = [(x2, y2), (bx - 4 * uy, by + 4 * ux), (bx + 4 * uy, by - 4 * ux)]
        forward = format_value(edge.value, batch_size)
        backward = format_value(edge.grad, batch_size) if show_grads and edge.grad is not None else None
        # Labels sit 40% along the edge: edges that meet at one node are further
        # apart there than at their middle.
        mx, my = x1 + 0.4 * (bx - x1), y1 + 0.4 * (by - y1)
        parts.append('<g class="edge">')
        parts.append(f'<line x1="{_fmt(x1)}" y1="{_fmt(y1)}" x2="{_fmt(bx)}" y2="{_fmt(by)}" '
                     f'stroke="{FORWARD_COLOUR}" stroke-width="1.2"/>')
        parts.append('<polygon points="' + " ".join(f"{_fmt(x)},{_fmt(y)}" for x, y in head)
                     + f'" fill="{FORWARD_COLOUR}"/>')
        if rankdir == "LR":
            # Over a sloping edge a label clears the line along its whole width: it is
            # moved up (or down) by how far the line rises under half of it.
            slope = abs(by - y1) / abs(bx - x1) if bx != x1 else 0.0

            def reach(text):
                return slope * _text_width(text, _LABEL_SIZE) / 2 if text else 0.0
            spots = [(mx, my - 5 - reach(forward), "middle"),
                     (mx, my + _LABEL_SIZE + 3 + reach(backward), "middle")]
        else:
            spots = [(mx + 6, my - 2, "start"), (mx + 6, my + _LABEL_SIZE + 1, "start")]
        for (text, colour, cls), (x, y, anchor) in zip(
                [(forward, FORWARD_COLOUR, "value"), (backward, BACKWARD_COLOUR, "grad")], spots):
            if text is None:
                continue
            parts.append(f'<text class="{cls}" x="{_fmt(x)}" y="{_fmt(y)}" '
                         f'text-anchor="{anchor}" font-size="{_LABEL_SIZE}" '
                         f'fill="{colour}">{escape(text)}</text>')
            end = x + (_text_width(text, _LABEL_SIZE) / (2 if anchor == "middle" else 1))
            right, bottom = max(right, end), max(bottom, y + 4)
        parts.append("</g>")
    for item in sorted(items.values(), key=lambda i: (i.key[0], i.order)):
        kind, index = item.key
        parts.append(f'<g class="{ {"leaf": "input", "node": "op", "out": "output"}[kind] }" '
                     f'id="{kind}{index}">')
        if item.kind == "circle":
            parts.append(f'<circle cx="{_fmt(item.x)}" cy="{_fmt(item.y)}" r="{_RADIUS}" '
                         f'fill="white" stroke="{FORWARD_COLOUR}" stroke-width="1.2"/>')
        elif item.kind == "box":
            parts.append(f'<rect x="{_fmt(item.x - item.width / 2)}" '
                         f'y="{_fmt(item.y - item.height / 2)}" width="{_fmt(item.width)}" '
                         f'height="{_fmt(item.height)}" rx="6" fill="white" '
                         f'stroke="{FORWARD_COLOUR}" stroke-width="1.2"/>')
        total = sum(s * 1.25 for _, s, _ in item.lines)
        y = item.y - total / 2
        for text, size, bold in item.lines:
            y += size * 1.25
            weight = ' font-weight="bold"' if bold else ""
            parts.append(f'<text x="{_fmt(item.x)}" y="{_fmt(y - size * 0.3)}" '
                         f'text-anchor="middle" font-size="{size}"{weight} '
                         f'fill="{FORWARD_COLOUR}">{escape(str(text))}</text>')
        parts.append("</g>")
        right = max(right, item.x + item.width / 2)
        bottom = max(bottom, item.y + item.height / 2)
    if title:
        parts.insert(0, f'<text x="{_MARGIN}" y="{_MARGIN + 4}" font-size="14" '
                        f'fill="{FORWARD_COLOUR}">{escape(str(title))}</text>')
        right = max(right, _MARGIN + _text_width(title, 14))
    width, height = math.ceil(right + _MARGIN), math.ceil(bottom + _MARGIN)
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="{_FONT}">'
            f'<rect width="100%" height="100%" fill="white"/>')
    return "\n".join([head] + parts + ["</svg>"]) + "\n"
