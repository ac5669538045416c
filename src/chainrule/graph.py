"""Scalar nodes of a computational graph: the book's apple-shopping example (chapter 5.4).

A node computes its output in forward and, in backward, turns the derivative of the
final result with respect to its output (dout) into derivatives with respect to each
input. Chaining backward calls in reverse order of the forward calls is backpropagation.
Both nodes work on Python numbers and on NumPy arrays of equal shape.
"""

__all__ = ["MulLayer", "AddLayer"]


class MulLayer:
    """out = x * y.

    d(out)/dx = y and d(out)/dy = x: each input's derivative is the *other* input,
    so dx = dout * y, dy = dout * x.
    """

    def __init__(self):
        self.x = None
        self.y = None

    def forward(self, x, y):
        self.x = x
        self.y = y
        return x * y

    def backward(self, dout):
        dx = dout * self.y
        dy = dout * self.x
        return dx, dy


class AddLayer:
    """out = x + y.

    d(out)/dx = d(out)/dy = 1: addition passes dout on to both inputs unchanged.
    """

    def __init__(self):
        pass

    def forward(self, x, y):
        return x + y

    def backward(self, dout):
        dx = dout * 1
        dy = dout * 1
        return dx, dy
