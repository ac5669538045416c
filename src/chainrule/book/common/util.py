"""The book's common/util.py names: smoothing, shuffling and the im2col helpers."""

import numpy as np

from chainrule.functions import col2im, conv_output_size, im2col  # noqa: F401

_WINDOW = 11  # points averaged for each point of a smoothed curve
_KAISER_BETA = 2.0


def smooth_curve(x):
    """A loss curve smoothed for plotting: a moving average over 11 points.

    Each point becomes the average of itself and the 5 points either side, weighted by
    a Kaiser window (beta 2) that gives the nearest points the most weight. At the
    ends the curve is mirrored to supply the missing neighbours: at the start without
    repeating the first point, at the end repeating the last one, so the result is the
    book's number for number. The result has the length of x (at least 6 points).
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    half = _WINDOW // 2
    if x.size <= half:
        raise ValueError(f"smooth_curve needs at least {half + 1} points, got {x.size}")
    w = np.kaiser(_WINDOW, _KAISER_BETA)
    w /= w.sum()
    padded = np.concatenate([x[half:0:-1], x, x[:-half - 1:-1]])
    return np.convolve(padded, w, mode="valid")


def shuffle_dataset(x, t):
    """x and t reordered by one random permutation (NumPy's global generator, as the
    book's); x may have any number of dimensions after the sample axis."""
    x = np.asarray(x)
    t = np.asarray(t)
    if len(x) != len(t):
        raise ValueError(f"shuffle_dataset: x has {len(x)} samples but t has {len(t)}")
    permutation = np.random.permutation(x.shape[0])
    return x[permutation], t[permutation]
