"""Numerical differentiation (chapter 4) and the gradient check of chapter 5.7.3.

Backpropagation is fast but easy to get wrong; the numerical gradient is slow but hard
to get wrong. Comparing the two is how every gradient in chainrule is verified.
"""

import contextlib
import inspect

import numpy as np

from .registry import describe

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
    if x.dtype.kind != "f":
        # x + h stored back into an integer (or bool) array loses h: f(x + h) = f(x - h)
        # would be measured as if the step were 1 or 0, a silently wrong gradient.
        # Converting a copy is no way out either, since f may read x through a closure.
        raise TypeError(f"numerical_gradient needs a floating-point x (it adds h = {h:g} "
                        f"to x in place, which an array of dtype {x.dtype} cannot hold); "
                        f"pass x.astype(np.float64)")
    grad = np.zeros(x.shape, dtype=x.dtype)
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


#: finer steps tried, element by element, where the book's h = 1e-4 disagrees with
#: backprop: a wrong backward disagrees at every step, a right one stops disagreeing
#: once the step is small next to the curvature (batch norm) or no longer crosses a
#: ReLU's kink.
REFINE_STEPS = (1e-5, 1e-6)


@contextlib.contextmanager
def _fixed_masks(network):
    """Layers that draw random numbers (dropout) draw the same ones at every pass:
    every loss of a numerical gradient must be the same function of the weights, the
    one backprop differentiated. Each such layer gets a generator of its own, reseeded
    with the same seed before each of its forward passes; restored on exit. Use it
    around backprop too, so that backprop's masks are those the check then sees."""
    fixed = []
    layers = getattr(network, "layers", None)
    for position, layer in enumerate((layers or {}).values()):
        if not describe(layer).draws_random:
            continue
        def forward(*args, _layer=layer, _seed=position, **kwargs):
            _layer.rng = np.random.default_rng(_seed)
            return type(_layer).forward(_layer, *args, **kwargs)
        fixed.append((layer, layer.rng))
        layer.forward = forward  # an instance attribute shadows the method
    try:
        yield
    finally:
        for layer, rng in fixed:
            del layer.forward
            layer.rng = rng


def _loss_of(network, x, t):
    """The loss on (x, t) as a function of nothing (the weights are changed in place),
    in training mode where the network has one: the function backprop differentiated."""
    loss = getattr(network, "loss", None)
    if loss is None:
        return None
    try:
        takes_mode = "train_flg" in inspect.signature(loss).parameters
    except (TypeError, ValueError):
        takes_mode = False
    return (lambda: loss(x, t, train_flg=True)) if takes_mode else (lambda: loss(x, t))


def _central_difference(f, param, index, h):
    """(f(w + h) - f(w - h)) / 2h with w = param[index], restored afterwards."""
    original = param[index]
    try:
        param[index] = original + h
        f_plus = f()
        param[index] = original - h
        f_minus = f()
    finally:
        param[index] = original
    return (f_plus - f_minus) / (2 * h)


def _refine(network, x, t, name, backprop, numerical, tolerance, positions=None):
    """Re-estimate, with the finer REFINE_STEPS, the elements of `numerical` whose
    relative error against `backprop` exceeds `tolerance`; keeps, per element, the
    estimate closest to backprop. Returns the number of elements re-estimated. At
    worst (a wrong gradient: every element) this costs twice the first estimate.
    `positions`: each element's index in the parameter, when the arrays hold a
    sample of its elements (default: the parameter's own shape)."""
    param = network.params[name]
    bad = np.argwhere(relative_error(backprop, numerical, floor=_FLOOR) > tolerance)
    f = _loss_of(network, x, t)
    if f is None:
        return 0
    for index in map(tuple, bad):
        best = numerical[index]
        where = index if positions is None else positions[index[0]]
        for h in REFINE_STEPS:
            estimate = _central_difference(f, param, where, h)
            if abs(estimate - backprop[index]) < abs(best - backprop[index]):
                best = estimate
        numerical[index] = best
    return len(bad)


def sample_positions(shape, count, rng):
    """`count` distinct element indices of an array of `shape`, drawn by `rng` and
    sorted (all of them, in order, when count is None or not less than its size)."""
    size = int(np.prod(shape))
    if count is None or count >= size:
        return list(np.ndindex(*shape))
    flat = np.sort(rng.choice(size, count, replace=False))
    return [tuple(int(i) for i in np.unravel_index(k, shape)) for k in flat]


def _sampled_numerical(network, x, t, positions, progress=None):
    """{name: the central differences at h = 1e-4 at the sampled positions}, calling
    progress(name, done, total) as each parameter's sample is measured."""
    f = _loss_of(network, x, t)
    total = sum(len(p) for p in positions.values())
    done, out = 0, {}
    for name, where in positions.items():
        param = network.params[name]
        out[name] = np.array([_central_difference(f, param, index, 1e-4)
                              for index in where], dtype=np.float64)
        done += len(where)
        if progress is not None:
            progress(name, done, total)
    return out


#: relative errors are taken against max(|a| + |b|, _FLOOR): central differences in
#: float64 carry rounding of about eps * loss / h (5e-12 at h = 1e-4, 5e-10 at 1e-6 for
#: a loss of 2.3), which against gradients of 1e-7 alone was a relative error of 4e-5,
#: close to the command's 1e-4 threshold. Below the floor the comparison is absolute.
_FLOOR = 1e-6


def gradient_check(network, x, t, detailed=False, tolerance=1e-6, elements=None, rng=None,
                   progress=None):
    """Compare network.gradient (backprop) with network.numerical_gradient on (x, t).

    Returns {name: mean absolute difference} for every parameter, the figure the book
    prints. With detailed=True, returns {name: {"mean_abs_diff", "max_abs_diff",
    "max_rel_error", "refined", "checked", "size"}} instead, and the comparison is made
    fit to judge a network by:
      * layers that draw random numbers (dropout) draw the same ones for backprop and
        for every evaluation of the numerical gradient (new masks at every evaluation
        would make the loss a different function each time: differences of 1e3 in a
        correct network);
      * elements whose relative error exceeds `tolerance` at the book's h = 1e-4 are
        measured again with h = 1e-5 and 1e-6 and the closest estimate kept
        ("refined" counts them): a step of 1e-4 can cross a ReLU's kink or meet batch
        norm's curvature, and then the check, not the network, is coarse;
      * relative errors are floored at 1e-6 (|a - b| / max(|a| + |b|, 1e-6)): below
        it, float64 differences measure rounding more than the gradient.

    elements: check at most this many elements of each parameter, drawn at random by
    `rng` (a seed or Generator; the figures are then those of the sample); None checks
    every element. Two losses per element: SimpleConvNet's 433,000 weights take
    minutes, a sample of 100 per parameter seconds. progress(name, done, total), if
    given, is called as each parameter's elements are measured (with `elements`).
    """
    with _fixed_masks(network):
        grad_backprop = {key: np.array(value, dtype=np.float64)
                         for key, value in network.gradient(x, t).items()}
        positions = None
        if elements is None or _loss_of(network, x, t) is None:
            grad_numerical = network.numerical_gradient(x, t)
        else:
            rng = np.random.default_rng(rng)
            positions = {key: sample_positions(np.shape(network.params[key]), elements, rng)
                         for key in grad_backprop}
            grad_numerical = _sampled_numerical(network, x, t, positions, progress)
        result = {}
        for key in grad_numerical:
            numerical = np.array(grad_numerical[key], dtype=np.float64)
            backprop = grad_backprop[key]
            if positions is not None:
                backprop = np.array([backprop[i] for i in positions[key]], dtype=np.float64)
            refined = 0
            if detailed and numerical.size:
                refined = _refine(network, x, t, key, backprop, numerical, tolerance,
                                  None if positions is None else positions[key])
            diff = np.abs(backprop - numerical)
            mean_abs = float(np.average(diff))
            if detailed:
                result[key] = {
                    "mean_abs_diff": mean_abs,
                    "max_abs_diff": float(diff.max()) if diff.size else 0.0,
                    "max_rel_error": float(relative_error(backprop, numerical,
                                                          floor=_FLOOR).max())
                    if diff.size else 0.0,
                    "refined": refined,
                    "checked": int(numerical.size),
                    "size": int(np.size(network.params[key])),
                }
            else:
                result[key] = mean_abs
    return result
