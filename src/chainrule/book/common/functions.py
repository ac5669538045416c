"""The book's common/functions.py names, on chainrule's functions.

sigmoid, relu, softmax and cross_entropy_error are chainrule's (overflow-free, labels
checked); the rest are the book's small helpers of chapters 3 and 4.
"""

import numpy as np

from chainrule.functions import cross_entropy_error, relu, sigmoid, softmax  # noqa: F401


def identity_function(x):
    """y = x (the output layer of a regression network, chapter 3.5)."""
    return x


def step_function(x):
    """1 where x > 0, else 0, as integers (the perceptron's activation, chapter 3.2)."""
    return np.array(np.asarray(x) > 0, dtype=int)


def sigmoid_grad(x):
    """d sigmoid / dx = sigmoid(x) (1 - sigmoid(x))."""
    s = sigmoid(x)
    return (1.0 - s) * s


def relu_grad(x):
    """d relu / dx: 1 where x >= 0, 0 elsewhere (the book counts x = 0 as 1)."""
    x = np.asarray(x)
    return (x >= 0).astype(x.dtype if x.dtype.kind == "f" else np.float64)


def sum_squared_error(y, t):
    """E = 1/2 sum (y - t)^2 over every element (chapter 4.2.1)."""
    d = np.asarray(y, dtype=np.float64) - np.asarray(t, dtype=np.float64)
    return 0.5 * np.sum(d * d)


def softmax_loss(X, t):
    """Cross-entropy of softmax(X) against labels t."""
    return cross_entropy_error(softmax(X), t)
