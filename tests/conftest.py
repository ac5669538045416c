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
    """max|a - b| / max(max|a|, max|b|): the error relative to the gradient's scale.

    Elementwise relative errors blow up where the true gradient is zero and rounding
    leaves 1e-11; measured against the largest entry they mean what they say."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.size == 0:
        return 0.0
    scale = max(np.abs(a).max(), np.abs(b).max(), 1e-12)
    return float(np.abs(a - b).max() / scale)


def read_only(a):
    """A read-only copy of a: a backward that writes into its input then fails loudly."""
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


def check_layer_gradients(forward, backward, x, params=(), seed=0, tol=1e-6):
    """Check a layer's backward against numerical gradients of L = sum(forward(x) * R).

    forward(x) -> out; backward(dout) -> (dx, {param_name: grad}). params is a list of
    (name, array) that forward reads by reference. Returns the worst relative error.
    """
    rng = np.random.default_rng(seed)
    out = forward(x)
    r = rng.standard_normal(np.shape(out))

    def loss(_):
        return float(np.sum(forward(x) * r))

    forward(x)
    dx, grads = backward(read_only(r))
    worst = 0.0
    if dx is not None:
        num = numerical_gradient(loss, x)
        err = max_relative_error(dx, num)
        assert dx.shape == x.shape, f"dx shape {dx.shape} != x shape {x.shape}"
        assert err < tol, f"dx: relative error {err:.2e}"
        worst = max(worst, err)
    for name, p in params:
        num = numerical_gradient(loss, p)
        err = max_relative_error(grads[name], num)
        assert err < tol, f"{name}: relative error {err:.2e}"
        worst = max(worst, err)
    return worst


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
