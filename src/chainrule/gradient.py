"""Numerical differentiation (chapter 4) and the gradient check of chapter 5.7.3.

Backpropagation is fast but easy to get wrong; the numerical gradient is slow but hard
to get wrong. Comparing the two is how every gradient in chainrule is verified.
"""

import numpy as np

__all__ = ["numerical_gradient", "gradient_check", "relative_error"]


def numerical_gradient(f, x, h=1e-4):
    """df/dx by central differences, (f(x + h) - f(x - h)) / 2h, one element at a time.

    x may have any number of dimensions and is changed in place while f is evaluated
    (f is called with x, and may as well ignore it and read the same array through a
    closure, as the book's networks do); every element is restored afterwards, even if
    f raises. The central difference has an error of order h^2, against h for the
    one-sided one. Use float64: in float32, h = 1e-4 leaves about three digits.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError("numerical_gradient needs x as a NumPy array (it is perturbed in place)")
    grad = np.zeros(x.shape, dtype=np.float64 if x.dtype.kind != "f" else x.dtype)
    for idx in np.ndindex(*x.shape):
        original = x[idx]
        try:
            x[idx] = original + h
            f_plus = f(x)
            x[idx] = original - h
            f_minus = f(x)
        finally:
            x[idx] = original
        grad[idx] = (f_plus - f_minus) / (2 * h)
    return grad


def relative_error(a, b, floor=1e-8):
    """Elementwise |a - b| / max(|a| + |b|, floor).

    Scale-free where gradients are large; the floor keeps places where both are about
    zero (a dead ReLU, a bias that nothing depends on) from dividing by zero.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor)


def gradient_check(network, x, t, detailed=False):
    """Compare network.gradient (backprop) with network.numerical_gradient on (x, t).

    Returns {name: mean absolute difference} for every parameter, the figure the book
    prints. With detailed=True, returns {name: {"mean_abs_diff", "max_abs_diff",
    "max_rel_error"}} instead.
    """
    grad_numerical = network.numerical_gradient(x, t)
    grad_backprop = network.gradient(x, t)
    result = {}
    for key in grad_numerical:
        diff = np.abs(np.asarray(grad_backprop[key], np.float64) - grad_numerical[key])
        mean_abs = float(np.average(diff))
        if detailed:
            result[key] = {
                "mean_abs_diff": mean_abs,
                "max_abs_diff": float(diff.max()) if diff.size else 0.0,
                "max_rel_error": float(relative_error(grad_backprop[key],
                                                      grad_numerical[key]).max())
                if diff.size else 0.0,
            }
        else:
            result[key] = mean_abs
    return result
