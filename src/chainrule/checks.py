"""Checks of arguments, one set for the whole library.

Each takes the name of what it checks (as the caller's parameter is called) and the
value, returns the value in its plain Python type, and raises ValueError naming the
parameter otherwise. `True` is not a number here: `epochs=True` is a mistake, not 1.
A float is a whole number only when it has no fraction: `epochs=2.0` is 2 epochs,
`epochs=2.7` an error rather than 2 epochs run in silence.

This module depends on NumPy alone, so that every other module may use it.
"""

import math
import numbers

__all__ = ["positive_int", "non_negative_int", "whole_number", "finite_number",
           "positive_number", "non_negative_number", "fraction", "flag"]


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def whole_number(what, value, minimum=0):
    """int(value) if value is a whole number >= minimum (an int, or a float without a
    fraction); ValueError saying `what must be ...` otherwise."""
    if (not _is_real(value) or not math.isfinite(value) or int(value) != value
            or value < minimum):
        requirement = {0: "a non-negative integer", 1: "a positive integer"}.get(
            minimum, f"an integer >= {minimum}")
        raise ValueError(f"{what} must be {requirement}, got {value!r}")
    return int(value)


def positive_int(what, value):
    """A whole number of at least 1 (epochs, a batch size, a number of units)."""
    return whole_number(what, value, 1)


def non_negative_int(what, value):
    """A whole number of at least 0 (a seed, a padding)."""
    return whole_number(what, value, 0)


def finite_number(what, value):
    """float(value) if value is a finite real number (not a bool)."""
    if not _is_real(value) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def positive_number(what, value):
    """A finite number > 0 (a learning rate)."""
    value = finite_number(what, value)
    if value <= 0:
        raise ValueError(f"{what} must be a positive number, got {value!r}")
    return value


def non_negative_number(what, value):
    """A finite number >= 0 (a weight decay, a min_delta)."""
    value = finite_number(what, value)
    if value < 0:
        raise ValueError(f"{what} must be a number >= 0, got {value!r}")
    return value


def fraction(what, value):
    """A number in [0, 1) (a validation split, a dropout ratio)."""
    if not _is_real(value) or not 0.0 <= value < 1.0:
        raise ValueError(f"{what} must be in [0, 1), got {value!r}")
    return float(value)


def flag(what, value):
    """A yes/no setting as a bool: a bool, 0 or 1, or the words true/false (any case),
    as the text form of a network writes them."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":  # NumPy's bool too
        return bool(value)
    if isinstance(value, numbers.Integral) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValueError(f"{what} must be true or false, got {value!r}")
