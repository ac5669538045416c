"""The book's common/gradient.py names, on chainrule's numerical gradient."""

import numpy as np

from chainrule.gradient import numerical_gradient  # noqa: F401


def numerical_gradient_2d(f, X):
    """The gradient of f at every row of X: f takes one row (a vector), as in chapter 4.

    A 1-D X is a single point. Each row is perturbed in place and restored.
    """
    X = np.asarray(X)
    if X.ndim == 1:
        return numerical_gradient(f, X)
    grad = np.zeros(X.shape, dtype=np.float64 if X.dtype.kind != "f" else X.dtype)
    for i, row in enumerate(X):
        grad[i] = numerical_gradient(f, row)
    return grad
