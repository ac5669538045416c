"""Every seed layer's backward against numerical gradients, on random shapes and values."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from chainrule import Affine, Relu, Sigmoid, SoftmaxWithLoss, Tanh
from chainrule.functions import NonFiniteError, softmax
from chainrule.gradient import numerical_gradient
from conftest import check_layer_gradients, max_relative_error, read_only

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)
shapes = st.tuples(st.integers(1, 5), st.integers(1, 6))
seeds = st.integers(0, 2**32 - 1)


def away_from_kink(x, rng, margin=1e-2):
    """Move values off ReLU's kink at 0, where the derivative is undefined and
    the central difference straddles two slopes."""
    close = np.abs(x) < margin
    x[close] = np.where(rng.random(close.sum()) < 0.5, -1, 1) * (margin + rng.random(close.sum()))
    return x


@SETTINGS
@given(shape=shapes, seed=seeds)
def test_relu_backward(shape, seed):
    rng = np.random.default_rng(seed)
    x = away_from_kink(rng.standard_normal(shape), rng)
    layer = Relu()
    check_layer_gradients(layer.forward, layer.backward, x, {}, rng)


@SETTINGS
@given(shape=shapes, seed=seeds, scale=st.sampled_from([0.1, 1.0, 5.0]))
def test_sigmoid_backward(shape, seed, scale):
    rng = np.random.default_rng(seed)
    x = scale * rng.standard_normal(shape)
    layer = Sigmoid()
    check_layer_gradients(layer.forward, layer.backward, x, {}, rng)


@SETTINGS
@given(shape=shapes, seed=seeds)
def test_tanh_backward(shape, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    layer = Tanh()
    check_layer_gradients(layer.forward, layer.backward, x, {}, rng)


@SETTINGS
@given(n=st.integers(1, 4), in_shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
       m=st.integers(1, 5), seed=seeds)
def test_affine_backward_any_input_rank(n, in_shape, m, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *in_shape))
    d = int(np.prod(in_shape))
    W = rng.standard_normal((d, m))
    b = rng.standard_normal(m)
    layer = Affine(W, b)
    check_layer_gradients(layer.forward, layer.backward, x,
                          {"W": (W, lambda: layer.dW), "b": (b, lambda: layer.db)}, rng)


@SETTINGS
@given(n=st.integers(1, 5), c=st.integers(2, 6), seed=seeds, one_hot=st.booleans(),
       scale=st.sampled_from([0.5, 3.0, 20.0]))
def test_softmax_with_loss_backward(n, c, seed, one_hot, scale):
    rng = np.random.default_rng(seed)
    x = scale * rng.standard_normal((n, c))
    t = rng.integers(0, c, n)
    if one_hot:
        t = np.eye(c)[t]
    layer = SoftmaxWithLoss()

    def loss(_):
        return layer.forward(x, t)

    num = numerical_gradient(loss, x)
    layer.forward(x, t)
    dx = layer.backward(1)
    assert max_relative_error(dx, num) < 1e-6


def test_softmax_with_loss_value_matches_definition(rng):
    x = rng.standard_normal((4, 3))
    t = np.array([0, 2, 1, 2])
    y = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    expected = -np.mean(np.log(y[np.arange(4), t]))
    assert SoftmaxWithLoss().forward(x, t) == pytest.approx(expected, rel=1e-12)
    assert SoftmaxWithLoss().forward(x, np.eye(3)[t]) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(0, 10), (1, 1), (3, 2), (100, 10), (7, 32), (7, 33), (5, 200)])
def test_row_max_equals_numpy_max(shape, dtype):
    """The faster row maximum the softmax uses gives NumPy's own numbers, NaN, infinities
    and signed zeros included, on both sides of the width where it changes method."""
    from chainrule.layers import _row_max
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape).astype(dtype)
    if x.size:
        specials = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0], dtype=dtype)
        flat = x.reshape(-1)
        flat[rng.integers(0, x.size, min(x.size, 5))] = specials[:min(x.size, 5)]
    got = _row_max(x)
    expected = x.max(axis=1, keepdims=True)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
    assert np.array_equal(np.signbit(got), np.signbit(expected))


def test_softmax_with_loss_extreme_logits_stay_finite():
    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]])
    layer = SoftmaxWithLoss()
    loss = layer.forward(x, np.array([1, 2]))
    assert np.isfinite(loss)
    # row 0: label 1 has logit -1000 against 1000: loss 2000; row 1: log(1 + e) - 0
    assert loss == pytest.approx((2000.0 + np.log1p(np.exp(-1.0)) + 1.0) / 2)
    dx = layer.backward()
    assert np.all(np.isfinite(dx))


def test_one_sample_as_1d_input():
    x = np.array([0.3, 2.9, 4.0])
    layer = SoftmaxWithLoss()
    loss = layer.forward(x, 2)
    assert loss == pytest.approx(-np.log(softmax(x)[2]))
    assert layer.backward().shape == (1, 3)
    W = np.arange(6.0).reshape(3, 2)
    affine = Affine(W, np.zeros(2))
    assert affine.forward(x).shape == (2,)
    assert affine.backward(np.ones(2)).shape == (3,)


@pytest.mark.parametrize("make", [Relu, Sigmoid, Tanh])
def test_activation_backward_leaves_dout_alone(make, rng):
    x = rng.standard_normal((3, 4))
    dout = rng.standard_normal((3, 4))
    keep = dout.copy()
    layer = make()
    layer.forward(x)
    layer.backward(dout)
    np.testing.assert_array_equal(dout, keep)
    layer.backward(read_only(dout))  # would raise if it wrote into dout


def test_affine_and_loss_backward_leave_dout_alone(rng):
    affine = Affine(rng.standard_normal((4, 3)), np.zeros(3))
    affine.forward(rng.standard_normal((2, 4)))
    affine.backward(read_only(rng.standard_normal((2, 3))))
    loss = SoftmaxWithLoss()
    loss.forward(rng.standard_normal((2, 3)), [0, 1])
    y_before = loss.y.copy()
    loss.backward(1)
    np.testing.assert_array_equal(loss.y, y_before)


def test_affine_holds_params_by_reference(rng):
    W = rng.standard_normal((2, 2))
    b = np.zeros(2)
    layer = Affine(W, b)
    x = np.array([[1.0, 2.0]])
    before = layer.forward(x)
    W -= 1.0  # an optimizer's in-place update
    b += 3.0
    np.testing.assert_allclose(layer.forward(x), before - 3.0 + 3.0)


def test_float32_stays_float32(rng):
    W = rng.standard_normal((4, 3)).astype(np.float32)
    b = np.zeros(3, np.float32)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    layers = [Affine(W, b), Relu(), Sigmoid(), Tanh()]
    out = x
    for layer in layers:
        out = layer.forward(out)
        assert out.dtype == np.float32, type(layer).__name__
    loss = SoftmaxWithLoss()
    loss.forward(out, [0, 1, 2, 0, 1])
    d = loss.backward()
    assert d.dtype == np.float32
    for layer in reversed(layers):
        d = layer.backward(d)
        assert d.dtype == np.float32, type(layer).__name__


# -- bad input gets a clear error --------------------------------------------------
def test_affine_shape_mismatch_names_shapes(rng):
    layer = Affine(rng.standard_normal((4, 3)), np.zeros(3))
    with pytest.raises(ValueError, match=r"\(2, 5\).*\(4, 3\)"):
        layer.forward(np.ones((2, 5)))


def test_affine_rejects_mismatched_bias(rng):
    with pytest.raises(ValueError, match="b has shape"):
        Affine(rng.standard_normal((4, 3)), np.zeros(4))


def test_affine_computes_through_non_finite_values(rng):
    # A diverging network makes its own NaN and inf: not a data error for a layer to
    # raise (the network checks data where it enters, the trainer watches the loss).
    W = rng.standard_normal((4, 3))
    layer = Affine(W, np.zeros(3))
    x = np.ones((2, 4))
    x[1, 2] = np.nan
    out = layer.forward(x)
    assert np.isnan(out[1]).all()
    np.testing.assert_allclose(out[0], np.ones(4) @ W)
    W[0, 0] = np.inf
    assert np.isinf(layer.forward(np.ones((1, 4)))[0, 0])
    assert issubclass(NonFiniteError, ValueError)


def test_loss_rejects_labels_out_of_range():
    with pytest.raises(ValueError, match=r"label 3.*0\.\.2"):
        SoftmaxWithLoss().forward(np.zeros((2, 3)), [0, 3])
    with pytest.raises(ValueError, match="label -1"):
        SoftmaxWithLoss().forward(np.zeros((2, 3)), [0, -1])


def test_loss_rejects_label_count_mismatch():
    with pytest.raises(ValueError, match="3 labels but the batch has 2"):
        SoftmaxWithLoss().forward(np.zeros((2, 3)), [0, 1, 2])


def test_loss_reads_a_column_of_labels_as_class_indices():
    # (N, 1) cannot be one-hot with 3 classes: it is indices, as (N,) would be.
    x = np.array([[0.1, 2.0, -1.0], [0.5, 0.2, 0.3]])
    column = SoftmaxWithLoss().forward(x, np.array([[0], [1]]))
    assert column == pytest.approx(SoftmaxWithLoss().forward(x, np.array([0, 1])))


def test_loss_rejects_ambiguous_column_labels():
    # With one class, (N, 1) could be indices or one-hot rows.
    with pytest.raises(ValueError, match=r"\(2, 1\)"):
        SoftmaxWithLoss().forward(np.zeros((2, 1)), np.array([[0], [1]]))


def test_loss_of_non_finite_scores_is_not_finite():
    # The book's batch-norm experiment diverges on purpose and plots the result.
    layer = SoftmaxWithLoss()
    with np.errstate(invalid="ignore"):
        assert np.isnan(layer.forward(np.array([[0.0, np.nan]]), [0]))
        assert not np.isfinite(layer.forward(np.array([[np.inf, 0.0], [0.0, 1.0]]), [1, 1]))


def test_loss_rejects_wrong_one_hot_width():
    with pytest.raises(ValueError, match="one-hot labels need 3 columns"):
        SoftmaxWithLoss().forward(np.zeros((2, 3)), np.eye(4)[:2])
