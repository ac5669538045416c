"""Initial weights (chapter 6.2 of the book): where random numbers come from, and how large.

A layer that makes its own weights (Affine.build, Convolution.build) draws them here,
from a generator given by the network, scaled to the layer's fan-in.
"""

import numpy as np

__all__ = ["make_rng", "normal", "init_scale", "init_config"]


def make_rng(rng):
    """A random generator from a seed, a Generator, or None.

    None keeps the book's behaviour: weights drawn from NumPy's global generator, so
    `np.random.seed(...)` in a reader's script still fixes them.
    """
    if rng is None:
        return np.random.mtrand._rand
    if isinstance(rng, (np.random.Generator, np.random.RandomState)):
        return rng
    return np.random.default_rng(rng)


def normal(rng, shape):
    """Standard normal numbers of `shape` from a Generator, a RandomState or None (NumPy's
    global generator, whose numbers stay those of np.random.randn, as the book draws them)."""
    if rng is None:
        rng = np.random.mtrand._rand
    if isinstance(rng, np.random.Generator):
        return rng.standard_normal(shape)
    return rng.randn(*shape)


def init_scale(weight_init_std, fan_in):
    """The standard deviation of a layer's initial weights.

    A number is used as it is. "relu" or "he" gives sqrt(2 / fan_in) (He et al.), which
    keeps the spread of activations steady through ReLU layers, which zero half their
    input; "sigmoid" or "xavier" gives sqrt(1 / fan_in) (Glorot and Bengio, in the form
    the book uses), for sigmoid and tanh.
    """
    if isinstance(weight_init_std, str):
        key = weight_init_std.lower()
        if key in ("relu", "he"):
            return float(np.sqrt(2.0 / fan_in))
        if key in ("sigmoid", "xavier"):
            return float(np.sqrt(1.0 / fan_in))
        raise ValueError(f"weight_init_std must be a number, 'relu'/'he' or "
                         f"'sigmoid'/'xavier', got {weight_init_std!r}")
    if isinstance(weight_init_std, bool):
        raise ValueError(f"weight_init_std must be a number, got {weight_init_std!r}")
    value = float(weight_init_std)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"weight_init_std must be a non-negative number, "
                         f"got {weight_init_std!r}")
    return value


def init_config(init):
    """init as a JSON value (checked on the way): a lower-case word or a float."""
    init_scale(init, 1)
    return init.lower() if isinstance(init, str) else float(init)
