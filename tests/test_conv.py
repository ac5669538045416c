"""im2col / col2im, Convolution and Pooling: against naive loops and numerical gradients."""

import numpy as np
import pytest
from conftest import check_layer_gradients

from chainrule.functions import col2im, conv_output_size, im2col
from chainrule.layers import Convolution, Pooling


# -- helpers -----------------------------------------------------------------------------
def naive_conv(x, W, b, stride, pad):
    """The definition, one output number at a time."""
    N, C, H, Wd = x.shape
    FN, _, FH, FW = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    OH = (H + 2 * pad - FH) // stride + 1
    OW = (Wd + 2 * pad - FW) // stride + 1
    out = np.zeros((N, FN, OH, OW))
    for n in range(N):
        for f in range(FN):
            for i in range(OH):
                for j in range(OW):
                    patch = xp[n, :, i * stride:i * stride + FH, j * stride:j * stride + FW]
                    out[n, f, i, j] = np.sum(patch * W[f]) + b[f]
    return out


def naive_pool(x, ph, pw, stride, pad):
    N, C, H, W = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=-np.inf)
    OH = (H + 2 * pad - ph) // stride + 1
    OW = (W + 2 * pad - pw) // stride + 1
    out = np.empty((N, C, OH, OW))
    for n in range(N):
        for c in range(C):
            for i in range(OH):
                for j in range(OW):
                    out[n, c, i, j] = xp[n, c, i * stride:i * stride + ph,
                                         j * stride:j * stride + pw].max()
    return out


def distinct_values(rng, shape):
    """Random data whose values differ by at least 0.01, so that no max is within the
    numerical gradient's step of changing hands."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.01 - n * 0.005).reshape(shape)


# -- im2col / col2im ---------------------------------------------------------------------
IM2COL_CASES = [  # (N, C, H, W, FH, FW, stride, pad)
    (2, 3, 5, 5, 3, 3, 1, 0),
    (1, 2, 7, 6, 3, 2, 2, 1),
    (3, 1, 6, 9, 2, 4, 3, 2),
    (2, 2, 4, 4, 4, 4, 1, 0),
    (1, 3, 5, 7, 1, 1, 2, 0),
]


@pytest.mark.parametrize("case", IM2COL_CASES)
def test_im2col_layout_matches_loop(case):
    N, C, H, W, FH, FW, s, p = case
    x = np.random.default_rng(0).standard_normal((N, C, H, W))
    col = im2col(x, FH, FW, s, p)
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    OH, OW = (H + 2 * p - FH) // s + 1, (W + 2 * p - FW) // s + 1
    rows = [xp[n, :, i * s:i * s + FH, j * s:j * s + FW].reshape(-1)
            for n in range(N) for i in range(OH) for j in range(OW)]
    np.testing.assert_array_equal(col, np.array(rows))


@pytest.mark.parametrize("case", IM2COL_CASES)
def test_col2im_is_the_adjoint_of_im2col(case):
    # <im2col(x), c> == <x, col2im(c)> for all x and c is what makes col2im the right
    # backward pass of im2col.
    N, C, H, W, FH, FW, s, p = case
    rng = np.random.default_rng(1)
    x = rng.standard_normal((N, C, H, W))
    col = im2col(x, FH, FW, s, p)
    c = rng.standard_normal(col.shape)
    back = col2im(c, x.shape, FH, FW, s, p)
    assert back.shape == x.shape
    assert np.isclose(np.sum(col * c), np.sum(x * back), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_im2col_and_col2im_keep_the_dtype(dtype):
    x = np.ones((2, 3, 6, 6), dtype=dtype)
    col = im2col(x, 3, 3, stride=1, pad=1)
    assert col.dtype == dtype
    assert col2im(col, x.shape, 3, 3, stride=1, pad=1).dtype == dtype


def test_col2im_rejects_a_wrong_col_shape():
    with pytest.raises(ValueError, match="col has shape"):
        col2im(np.zeros((5, 9)), (1, 1, 4, 4), 3, 3)


@pytest.mark.parametrize("args, message", [
    ((4, 5, 1, 0), "does not fit"),
    ((4, 3, 0, 0), "stride"),
    ((4, 3, 1, -1), "pad"),
    ((4.5, 3, 1, 0), "integer"),
])
def test_conv_output_size_rejects_impossible_configurations(args, message):
    with pytest.raises(ValueError, match=message):
        conv_output_size(*args)


def test_conv_output_size_uses_integer_maths():
    assert conv_output_size(28, 5, 1, 0) == 24
    assert conv_output_size(7, 3, 2, 1) == 4
    assert conv_output_size(8, 3, 2, 0) == 3  # floors: the last column is not reached
    assert conv_output_size(7, 2, 2, 0) == 3


# -- Convolution ---------------------------------------------------------------------------
CONV_CASES = [  # (N, C, H, W, FN, FH, FW, stride, pad)
    (2, 1, 5, 5, 2, 3, 3, 1, 0),
    (2, 3, 6, 5, 2, 3, 2, 1, 1),
    (1, 2, 7, 7, 3, 3, 3, 2, 1),
    (3, 2, 5, 6, 2, 2, 3, 3, 2),
    (2, 2, 4, 4, 1, 1, 1, 1, 0),
    (2, 1, 8, 7, 2, 3, 3, 2, 0),  # stride does not divide the span: floor
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_convolution_forward_matches_naive_loop(case):
    N, C, H, W, FN, FH, FW, s, p = case
    rng = np.random.default_rng(2)
    x = rng.standard_normal((N, C, H, W))
    Wt = rng.standard_normal((FN, C, FH, FW))
    b = rng.standard_normal(FN)
    out = Convolution(Wt, b, stride=s, pad=p).forward(x)
    np.testing.assert_allclose(out, naive_conv(x, Wt, b, s, p), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CONV_CASES)
def test_convolution_backward_matches_numerical_gradient(case):
    N, C, H, W, FN, FH, FW, s, p = case
    rng = np.random.default_rng(3)
    x = rng.standard_normal((N, C, H, W))
    layer = Convolution(rng.standard_normal((FN, C, FH, FW)), rng.standard_normal(FN), s, p)
    check_layer_gradients(layer.forward, layer.backward, x,
                          {"W": (layer.W, lambda: layer.dW), "b": (layer.b, lambda: layer.db)},
                          rng)


def test_convolution_input_grad_false_skips_dx_only():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 2, 6, 6))
    layer = Convolution(rng.standard_normal((3, 2, 3, 3)), np.zeros(3), stride=1, pad=1)
    dout = rng.standard_normal(layer.forward(x).shape)
    layer.backward(dout)
    dW, db = layer.dW.copy(), layer.db.copy()
    assert layer.backward(dout, input_grad=False) is None
    np.testing.assert_array_equal(layer.dW, dW)
    np.testing.assert_array_equal(layer.db, db)


def test_convolution_sees_in_place_parameter_updates():
    rng = np.random.default_rng(5)
    W, b = rng.standard_normal((2, 1, 3, 3)), np.zeros(2)
    layer = Convolution(W, b)
    x = rng.standard_normal((1, 1, 4, 4))
    before = layer.forward(x)
    b += 1.0  # as an optimizer does
    np.testing.assert_allclose(layer.forward(x), before + 1.0)


def test_convolution_float32_stays_float32():
    rng = np.random.default_rng(6)
    layer = Convolution(rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
                        np.zeros(4, np.float32), stride=1, pad=1)
    x = rng.standard_normal((2, 3, 7, 7)).astype(np.float32)
    out = layer.forward(x)
    dx = layer.backward(np.ones(out.shape, np.float32))
    assert out.dtype == dx.dtype == layer.dW.dtype == layer.db.dtype == np.float32


@pytest.mark.parametrize("W_shape, x_shape, kwargs, message", [
    ((2, 3, 3, 3), (1, 2, 5, 5), {}, "3 channels|2 channels"),
    ((2, 1, 3, 3), (1, 5, 5), {}, r"\(N, C, H, W\)"),
    ((2, 1, 6, 6), (1, 1, 5, 5), {}, "does not fit"),
    ((2, 1, 6, 6), (1, 1, 5, 5), {"pad": 1}, None),
])
def test_convolution_shape_errors(W_shape, x_shape, kwargs, message):
    layer = Convolution(np.zeros(W_shape), np.zeros(W_shape[0]), **kwargs)
    if message is None:
        assert layer.forward(np.zeros(x_shape)).shape == (1, 2, 2, 2)
    else:
        with pytest.raises(ValueError, match=message):
            layer.forward(np.zeros(x_shape))


@pytest.mark.parametrize("W, b, kwargs, message", [
    (np.zeros((2, 3, 3)), np.zeros(2), {}, "4-D"),
    (np.zeros((2, 1, 3, 3)), np.zeros(3), {}, "b has shape"),
    (np.zeros((2, 1, 3, 3)), np.zeros(2), {"stride": 0}, "stride"),
    (np.zeros((2, 1, 3, 3)), np.zeros(2), {"pad": -1}, "pad"),
])
def test_convolution_rejects_bad_construction(W, b, kwargs, message):
    with pytest.raises(ValueError, match=message):
        Convolution(W, b, **kwargs)


# -- Pooling ---------------------------------------------------------------------------------
POOL_CASES = [  # (N, C, H, W, pool_h, pool_w, stride, pad)
    (2, 3, 4, 4, 2, 2, 2, 0),
    (2, 2, 5, 7, 2, 2, 2, 0),  # odd sizes: the last row and column are not pooled
    (1, 2, 6, 6, 3, 3, 3, 0),
    (2, 1, 7, 6, 3, 3, 2, 1),  # overlapping windows with -inf padding
    (2, 2, 5, 5, 2, 3, 1, 1),
    (1, 1, 6, 5, 3, 2, 2, 0),
]


@pytest.mark.parametrize("case", POOL_CASES)
def test_pooling_forward_matches_naive_loop(case):
    N, C, H, W, ph, pw, s, p = case
    x = np.random.default_rng(7).standard_normal((N, C, H, W))
    out = Pooling(ph, pw, stride=s, pad=p).forward(x)
    np.testing.assert_array_equal(out, naive_pool(x, ph, pw, s, p))


@pytest.mark.parametrize("case", POOL_CASES)
def test_pooling_backward_matches_numerical_gradient(case):
    N, C, H, W, ph, pw, s, p = case
    rng = np.random.default_rng(8)
    x = distinct_values(rng, (N, C, H, W))
    layer = Pooling(ph, pw, stride=s, pad=p)
    check_layer_gradients(layer.forward, layer.backward, x, {}, rng)


@pytest.mark.parametrize("case", [(2, 2, 2, 0), (3, 3, 2, 1), (2, 2, 1, 0)])
def test_pooling_routes_a_tie_to_one_element(case):
    # Every value equal: each window's gradient must go to exactly one element, or the
    # gradient would be counted several times.
    ph, pw, s, p = case
    layer = Pooling(ph, pw, stride=s, pad=p)
    x = np.zeros((2, 1, 6, 6))
    out = layer.forward(x)
    dout = np.random.default_rng(9).uniform(1, 2, out.shape)
    dout.setflags(write=False)
    dx = layer.backward(dout)
    assert np.isclose(dx.sum(), dout.sum())
    if s == ph:  # non-overlapping: one nonzero per window, its first element
        assert np.count_nonzero(dx) == dout.size


def test_pooling_float32_stays_float32_and_handles_strided_input():
    x = np.random.default_rng(10).standard_normal((2, 6, 6, 3)).astype(np.float32)
    x = x.transpose(0, 3, 1, 2)  # a channels-last array viewed as (N, C, H, W)
    layer = Pooling(2, 2, stride=2)
    out = layer.forward(x)
    np.testing.assert_array_equal(out, naive_pool(x.astype(np.float64), 2, 2, 2, 0))
    dx = layer.backward(np.ones(out.shape, np.float32))
    assert out.dtype == dx.dtype == np.float32
    assert dx.shape == x.shape and dx.sum() == out.size


@pytest.mark.parametrize("kwargs, x_shape, message", [
    ({"pool_h": 2, "pool_w": 2, "pad": 2}, (1, 1, 4, 4), "more than half"),
    ({"pool_h": 3, "pool_w": 3}, (1, 1, 2, 2), "does not fit"),
    ({"pool_h": 2, "pool_w": 2, "stride": 0}, (1, 1, 4, 4), "stride"),
    ({"pool_h": 2, "pool_w": 2}, (1, 4, 4), r"\(N, C, H, W\)"),
])
def test_pooling_shape_errors(kwargs, x_shape, message):
    with pytest.raises(ValueError, match=message):
        Pooling(**kwargs).forward(np.zeros(x_shape))
