"""chainrule.special.erf and erfc against Python's math.erf and math.erfc."""

import math

import numpy as np
import pytest

from chainrule.special import erf, erfc


def _grid():
    """A dense grid over every range of the approximation, the boundaries and the tails."""
    parts = [np.linspace(-30.0, 30.0, 120001),
             np.geomspace(1e-300, 30.0, 40001),
             -np.geomspace(1e-300, 30.0, 4001)]
    edges = np.array([0.46875, 4.0, 26.543])
    for edge in edges:  # both sides of each range boundary, a few ulp apart
        near = edge + np.spacing(edge) * np.arange(-4, 5)
        parts += [near, -near]
    return np.concatenate(parts)


def test_erf_within_a_few_ulp_of_math_erf():
    x = _grid()
    got = erf(x)
    expected = np.array([math.erf(v) for v in x])
    # Measured here: 4.5e-16 at most (rounding in the rational functions and in
    # 0.5 - erfc + 0.5); 6e-16 is 2.7 ulp of 2^-53 relative rounding.
    nonzero = expected != 0
    rel = np.abs(got - expected)[nonzero] / np.abs(expected[nonzero])
    assert rel.max() <= 6e-16, (rel.max(), x[nonzero][np.argmax(rel)])
    assert np.all(got[~nonzero] == 0)


def test_erfc_within_a_few_ulp_of_math_erfc_into_the_tail():
    x = _grid()
    got = erfc(x)
    expected = np.array([math.erfc(v) for v in x])
    normal = expected > 1e-300  # erfc is subnormal from x = 26.2 on: absolute there
    rel = np.abs(got - expected)[normal] / expected[normal]
    # Measured here: 8.9e-16 at most (exp twice, rational functions of degree 8).
    assert rel.max() <= 2e-15, (rel.max(), x[normal][np.argmax(rel)])
    assert np.abs(got - expected)[~normal].max() <= 1e-300


def test_odd_symmetry_and_special_values():
    x = np.linspace(0, 8, 1001)
    np.testing.assert_array_equal(erf(-x), -erf(x))
    np.testing.assert_array_equal(erf(np.array([np.inf, -np.inf])), [1.0, -1.0])
    np.testing.assert_array_equal(erfc(np.array([np.inf, -np.inf, 30.0])), [0.0, 2.0, 0.0])
    assert np.isnan(erf(np.nan)) and np.isnan(erfc(np.nan))
    assert np.signbit(erf(-0.0))


def test_shapes_scalars_and_dtypes():
    assert isinstance(erf(0.5), np.floating) and erf(0.5) == pytest.approx(math.erf(0.5))
    x = np.linspace(-3, 3, 24).reshape(2, 3, 4)
    assert erf(x).shape == (2, 3, 4) and erf(x).dtype == np.float64
    x32 = x.astype(np.float32)
    assert erf(x32).dtype == np.float32 and erfc(x32).dtype == np.float32
    np.testing.assert_array_equal(erf(x32), erf(x32.astype(np.float64)).astype(np.float32))
    assert erf(np.arange(3)).dtype == np.float64
    assert erf(np.zeros((0, 3))).shape == (0, 3)


def test_input_left_alone_and_no_warnings():
    x = np.array([-50.0, -5.0, -1.0, 0.0, 0.3, 2.0, 6.0, 1e300, np.inf])
    x.setflags(write=False)
    with np.errstate(all="raise"):  # an overflow in a range not taken would raise here
        erf(x)
        erfc(x)


def test_blocks_join_up():
    """An array longer than one block gives the same numbers as its pieces alone."""
    from chainrule import special
    x = np.random.default_rng(0).standard_normal(3 * special._BLOCK + 17) * 3
    whole = erf(x)
    pieces = np.concatenate([erf(x[i:i + 1000]) for i in range(0, x.size, 1000)])
    np.testing.assert_array_equal(whole, pieces)
