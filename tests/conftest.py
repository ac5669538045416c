"""Shared test set-up: one BLAS thread, and a float64 gradient-check helper."""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

try:  # BLAS may have started before this file ran: limit it directly as well.
    from threadpoolctl import threadpool_limits
    _limits = threadpool_limits(limits=1, user_api="blas")
except ImportError:
    pass

from chainrule.gradient import numerical_gradient  # noqa: E402


def max_relative_error(a, b):
    """max |a - b| over the larger of max |a| and max |b|, a scale-free figure per array.

    Elementwise relative errors blow up where the true gradient is zero and rounding
    leaves 1e-11; measured against the array's largest entry they mean what they say.
    The scale has a floor of 1e-8: a gradient that is zero in theory (a bias before batch
    norm) comes out as rounding noise on both sides, which is agreement, not an error.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    if a.size == 0:
        return 0.0
    scale = max(np.abs(a).max(), np.abs(b).max(), 1e-8)
    return float(np.abs(a - b).max() / scale)


def read_only(a):
    """A read-only copy of a: a backward that writes into its input then fails loudly."""
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


def check_layer_gradients(forward, backward, x, params, rng, tol=1e-6):
    """backward(R) against numerical gradients of L = sum(forward(x) * R), R read-only.

    params maps a name to (array held by the layer, function returning its gradient).
    Returns the relative error of each gradient.
    """
    out = forward(x)
    R = read_only(rng.standard_normal(np.shape(out)))
    dx = backward(R)
    analytic = {name: np.array(getter(), copy=True) for name, (_, getter) in params.items()}

    def loss(_):
        return float(np.sum(forward(x) * R))

    errors = {"x": max_relative_error(dx, numerical_gradient(loss, x))}
    for name, (array, _) in params.items():
        errors[name] = max_relative_error(analytic[name], numerical_gradient(loss, array))
    for name, error in errors.items():
        assert error < tol, f"gradient of {name}: relative error {error:.2e}"
    return errors


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
