"""Gradient clipping by the global norm (*Deep Learning from Scratch 2*, ch 5.5.3).

An RNN's gradients can explode: backprop through T steps multiplies by Wh^T T times.
The sequel's remedy rescales all gradients together when their joint length is too
large, keeping their direction:

    norm = sqrt(sum over every gradient array g of sum(g ** 2))
    if norm > max_norm:  g <- g * max_norm / (norm + 1e-6)   for every g

chainrule.optimizers and the top level re-export `clip_grads`.
"""

import numpy as np

__all__ = ["clip_grads"]


def clip_grads(grads, max_norm):
    """Scale the gradients in place when their global L2 norm exceeds max_norm.

    Parameters
    ----------
    grads : dict of name -> array, or a list (tuple) of arrays
        The gradients, as a network's `gradient` returns them.
    max_norm : float
        The largest global norm let through unchanged (positive).

    Returns
    -------
    float
        The global norm before clipping.

    The same array listed twice (a gradient shared by tied weights) counts once in the
    norm and is scaled once. The norm is summed in float64 whatever the gradients'
    dtype, so that float32 gradients of millions of entries do not lose it to rounding.
    A norm that is not finite (NaN or inf: training has diverged) is returned and
    nothing is scaled, so the divergence stays visible instead of being zeroed away.
    Every array is checked before any is scaled: a read-only one (a broadcast view)
    raises ValueError and leaves all of them as they were.
    """
    max_norm = float(max_norm)
    if not max_norm > 0:
        raise ValueError(f"clip_grads: max_norm must be positive, got {max_norm}")
    if isinstance(grads, dict):
        items = list(grads.items())
    elif isinstance(grads, (list, tuple)):
        items = list(enumerate(grads))
    else:
        raise TypeError(f"clip_grads: grads must be a dict or a list of arrays, "
                        f"got {type(grads).__name__}")
    arrays, seen = [], set()
    for name, g in items:
        if not isinstance(g, np.ndarray):
            raise TypeError(f"clip_grads: gradient {name!r} is a {type(g).__name__}, "
                            f"not a NumPy array (it is scaled in place)")
        if id(g) in seen:
            continue
        seen.add(id(g))
        arrays.append((name, g))
    total = 0.0
    for _, g in arrays:
        flat = g.ravel()
        if flat.dtype != np.float64:
            flat = flat.astype(np.float64)
        total += float(np.dot(flat, flat))
    norm = float(np.sqrt(total))
    if not np.isfinite(norm):
        return norm
    rate = max_norm / (norm + 1e-6)
    if rate < 1:
        for name, g in arrays:
            if not g.flags.writeable:
                raise ValueError(f"clip_grads: gradient {name!r} is read-only (a broadcast "
                                 f"view?) and cannot be scaled in place; nothing was scaled")
        for _, g in arrays:
            g *= g.dtype.type(rate)
    return norm
