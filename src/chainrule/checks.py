"""Checks of the numbers a user passes in, one set for the whole library.

Each takes what the number is (named in the message) and the value, and returns the
value as the type wanted or raises ValueError naming both. A bool is not a number here
(`epochs=True` is a mistake, not 1), and a float counts as an integer only when it is
one (2.0, not 2.7: rounding it silently would run something else than was asked).
"""

import numpy as np

__all__ = ["positive_int", "non_negative_int", "flag"]


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


def flag(what, value):
    """A yes/no setting as a bool: a bool, 0 or 1, or the words true/false (any case),
    as the text form of a network writes them."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValueError(f"{what} must be true or false, got {value!r}")
