"""Checks of the numbers a user passes in, one set for the whole library.

Each takes what the number is (named in the message) and the value, and returns the
value as the type wanted or raises ValueError naming both. A bool is not a number here
(`epochs=True` is a mistake, not 1), and a float counts as an integer only when it is
one (2.0, not 2.7: rounding it silently would run something else than was asked).
"""

import numpy as np

__all__ = ["positive_int", "non_negative_int"]


def _whole(value):
    return (not isinstance(value, bool) and isinstance(value, (int, np.integer, float, np.floating))
            and np.isfinite(value) and int(value) == value)


def positive_int(what, value):
    """value as an int >= 1."""
    if not _whole(value) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def non_negative_int(what, value):
    """value as an int >= 0."""
    if not _whole(value) or value < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {value!r}")
    return int(value)
