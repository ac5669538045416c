"""Residual connections: y = x + f(x), in a network that is a plain list of layers.

A transformer's block, and a ResNet's, adds its input back to what its layers made of
it. In the list of layers that is two small layers around f's:

    ResidualStart  f's layers ...  ResidualAdd

ResidualStart passes x on unchanged and remembers it; ResidualAdd adds it back. The
add is chapter 5's add node: its backward passes dout to both of its inputs unchanged,
so ResidualAdd gives dout down through f's layers *and* straight to its start, where it
joins what came back through f:

    dL/dx = dout + f's backward(dout)        (dy/dx = I + df/dx)

The text form writes the pair as a group, `residual(layernorm attention(4))`;
models.Sequential pairs each ResidualAdd with its start by nesting, like parentheses
(`link`). Because the network stays a flat list, everything that works for a list of
layers (names, parameters, save and load, summaries, drawing, gradcheck, MPI) works
for residual networks unchanged.
"""

import numpy as np

from .registry import register_layer

__all__ = ["ResidualStart", "ResidualAdd", "link"]


@register_layer
class ResidualStart:
    """Forward: y = x (kept for the add). Backward: dx = dout + the skip path's dout."""

    text_name = "residual"
    text_group = True  # the text form's residual(...) holds layers, not arguments
    keeps_shape = True
    name_prefix = "Residual"

    def __init__(self):
        self.x = None
        self.skip_grad = None  # dL/dy of the add, left by ResidualAdd.backward

    @staticmethod
    def group_end():
        """The layer that closes the group in the text form."""
        return ResidualAdd()

    def forward(self, x):
        self.x = x
        return x

    def backward(self, dout):
        if self.skip_grad is None:
            raise RuntimeError("ResidualStart.backward before its ResidualAdd's backward")
        dx = dout + self.skip_grad  # a new array: neither addend is written into
        self.skip_grad = None
        return dx


@register_layer
class ResidualAdd:
    """Forward: y = h + x, h what the layers since the start made of x.
    Backward: dh = dout, and dout goes to the start as the skip path's gradient."""

    keeps_shape = True
    name_prefix = "Add"
    text_group_end = True  # written as the ')' of its residual(...)

    def __init__(self):
        self.start = None  # the ResidualStart it pairs with: set by `link`

    def forward(self, h):
        x = self.start.x
        if np.shape(h) != np.shape(x):
            raise ValueError(f"ResidualAdd: the layers of the residual group turn "
                             f"{np.shape(x)} into {np.shape(h)}; a residual group must "
                             f"keep the shape")
        return h + x

    def backward(self, dout):
        self.start.skip_grad = dout
        return dout

    # What a recorded graph (chainrule.trace) draws: the skip connection as the add's
    # second input, carrying dout back unchanged.
    def graph_inputs(self):
        return [("x", self.start.x)]

    def graph_input_grads(self, dout):
        return [dout]


def link(layers):
    """Pair every ResidualAdd in `layers` (in order) with its ResidualStart, by nesting.

    Returns the list of (start position, add position) pairs; ValueError for an add
    without a start or a start never closed.
    """
    open_starts, pairs = [], []
    for position, layer in enumerate(layers):
        if isinstance(layer, ResidualStart):
            open_starts.append(position)
        elif isinstance(layer, ResidualAdd):
            if not open_starts:
                raise ValueError(f"layer {position + 1} (ResidualAdd) closes no residual "
                                 f"group: no ResidualStart before it")
            start = open_starts.pop()
            layer.start = layers[start]
            pairs.append((start, position))
    if open_starts:
        raise ValueError(f"layer {open_starts[-1] + 1} (ResidualStart) opens a residual "
                         f"group that no ResidualAdd closes")
    return pairs
