"""TwoLayerNet and the numerical gradient it is checked with."""

import numpy as np
import pytest

from chainrule import TwoLayerNet, gradient_check, numerical_gradient
from chainrule.functions import NonFiniteError
from conftest import max_relative_error


def test_numerical_gradient_of_known_function_any_ndim(rng):
    x = rng.standard_normal((2, 3, 2))
    keep = x.copy()
    grad = numerical_gradient(lambda z: np.sum(z ** 3), x)
    np.testing.assert_allclose(grad, 3 * keep ** 2, rtol=1e-7, atol=1e-8)
    np.testing.assert_array_equal(x, keep)  # restored


def test_numerical_gradient_restores_x_when_f_raises(rng):
    x = rng.standard_normal(3)
    keep = x.copy()

    def f(_):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        numerical_gradient(f, x)
    np.testing.assert_array_equal(x, keep)


@pytest.mark.parametrize("labels", ["indices", "one_hot"])
def test_two_layer_net_backprop_matches_numerical(labels, rng):
    net = TwoLayerNet(6, 5, 4, weight_init_std=0.5, rng=rng)
    x = rng.standard_normal((3, 6))
    t = rng.integers(0, 4, 3)
    if labels == "one_hot":
        t = np.eye(4)[t]
    num = net.numerical_gradient(x, t)
    grads = net.gradient(x, t)
    for key in ("W1", "b1", "W2", "b2"):
        assert max_relative_error(grads[key], num[key]) < 1e-6, key
    detailed = gradient_check(net, x, t, detailed=True)
    assert set(detailed["W1"]) >= {"mean_abs_diff", "max_rel_error"}


def test_gradient_keeps_loss_of_its_forward_pass(rng):
    net = TwoLayerNet(6, 5, 4, rng=rng)
    x, t = rng.standard_normal((3, 6)), [0, 1, 2]
    net.gradient(x, t)
    assert net.last_loss == pytest.approx(net.loss(x, t))


def test_seed_style_update_trains_every_param_in_place(rng):
    net = TwoLayerNet(6, 5, 4, weight_init_std=0.5, rng=rng)
    x, t = rng.standard_normal((8, 6)), rng.integers(0, 4, 8)
    before = {k: v.copy() for k, v in net.params.items()}
    ids = {k: id(v) for k, v in net.params.items()}
    grads = net.gradient(x, t)
    for key in ("W1", "b1", "W2", "b2"):
        net.params[key] -= 0.1 * grads[key]
    for key in before:
        assert id(net.params[key]) == ids[key]
        assert not np.array_equal(net.params[key], before[key]), key
    # the layers see the update (they hold the same arrays)
    assert net.layers["Affine1"].W is net.params["W1"]


def test_same_seed_same_weights():
    a = TwoLayerNet(10, 4, 3, rng=7)
    b = TwoLayerNet(10, 4, 3, rng=7)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])


def test_global_seed_still_fixes_default_weights():
    np.random.seed(3)
    a = TwoLayerNet(10, 4, 3)
    np.random.seed(3)
    b = TwoLayerNet(10, 4, 3)
    np.testing.assert_array_equal(a.params["W1"], b.params["W1"])


def test_dtype_policy(rng):
    net = TwoLayerNet(6, 5, 4, dtype=np.float32, rng=rng)
    assert all(p.dtype == np.float32 for p in net.params.values())
    x = rng.standard_normal((3, 6))  # float64 data is cast at the boundary
    assert net.predict(x).dtype == np.float32
    grads = net.gradient(x, [0, 1, 2])
    assert all(g.dtype == np.float32 for g in grads.values())
    assert TwoLayerNet(6, 5, 4).params["W1"].dtype == np.float64  # the seed's default


def test_accuracy_in_chunks_counts_the_last_partial_chunk(rng):
    net = TwoLayerNet(6, 5, 3, rng=rng)
    x = rng.standard_normal((23, 6))
    pred = net.predict(x).argmax(axis=1)
    t = pred.copy()
    t[-1] = (t[-1] + 1) % 3  # exactly one wrong, in the last chunk
    assert net.accuracy(x, t, batch_size=10) == pytest.approx(22 / 23)
    assert net.accuracy(x, np.eye(3)[t], batch_size=4) == pytest.approx(22 / 23)


def test_bad_input_errors(rng):
    net = TwoLayerNet(6, 5, 4, rng=rng)
    with pytest.raises(ValueError, match="features"):
        net.loss(np.ones((2, 7)), [0, 1])
    with pytest.raises(ValueError, match="outside the 4 classes"):
        net.loss(np.ones((2, 6)), [0, 4])
    with pytest.raises(ValueError, match="3 labels but the batch has 2"):
        net.gradient(np.ones((2, 6)), [0, 1, 2])
    x = np.ones((2, 6))
    x[0, 0] = np.nan
    with pytest.raises(NonFiniteError):
        net.gradient(x, [0, 1])
    with pytest.raises(ValueError, match="positive integer"):
        TwoLayerNet(6, 0, 4)
    with pytest.raises(ValueError, match="floating-point"):
        TwoLayerNet(6, 5, 4, dtype=np.int32)
