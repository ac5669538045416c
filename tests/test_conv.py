"""im2col / col2im, Convolution and Pooling: against naive loops and numerical gradients."""

import numpy as np
import pytest
from conftest import check_layer_gradients

from chainrule.functions import (FlatLayout, col2im, conv_output_size, im2col, shifted_rows,
                                 unfold)
import chainrule.layers
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


def naive_conv_backward(x, W, dout, stride, pad):
    """dx, dW, db of the definition: each output position adds its share, one at a time."""
    N, C, H, Wd = x.shape
    FN, _, FH, FW = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = np.zeros_like(xp)
    dW = np.zeros_like(W)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            rows = slice(i * stride, i * stride + FH)
            cols = slice(j * stride, j * stride + FW)
            g = dout[:, :, i, j]  # (N, FN)
            dxp[:, :, rows, cols] += np.einsum("nf,fcuv->ncuv", g, W)
            dW += np.einsum("nf,ncuv->fcuv", g, xp[:, :, rows, cols])
    return dxp[:, :, pad:pad + H, pad:pad + Wd], dW, dout.sum(axis=(0, 2, 3))


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
    (2, 2, 5, 6, 3, 3, 3, 1, 2),  # pad 2 on a 3x3 filter: the output grows (DeepConvNet's Conv4)
    (1, 2, 7, 6, 2, 5, 5, 1, 2),  # 5x5, 'same'
    (2, 1, 8, 9, 3, 5, 5, 1, 0),  # 5x5, 'valid' (SimpleConvNet's)
    (2, 2, 5, 5, 2, 3, 5, 1, 2),  # a 3x5 filter, pad one less than its height
    (2, 2, 4, 5, 2, 1, 1, 1, 1),  # pad not below the filter: the unfold path at stride 1
    (1, 3, 6, 6, 2, 3, 3, 1, 3),  # pad beyond the filter: the unfold path at stride 1
]


@pytest.fixture(params=["flat", "unfold"])
def conv_path(request, monkeypatch):
    """Run a test on both ways of building the patches: the flat layout wherever the
    convolution allows it, and unfold everywhere. Returns a check of the path taken."""
    flat = request.param == "flat"
    monkeypatch.setattr(chainrule.layers, "_FLAT_GRID_LIMIT", np.inf if flat else -1.0)

    def check(layer):
        FH, FW = layer.W.shape[2:]
        eligible = layer.stride == 1 and layer.pad < min(FH, FW)
        assert (layer.layout is not None) == (flat and eligible)
    return check


@pytest.mark.parametrize("case", CONV_CASES)
def test_convolution_forward_matches_naive_loop(case, conv_path):
    N, C, H, W, FN, FH, FW, s, p = case
    rng = np.random.default_rng(2)
    x = rng.standard_normal((N, C, H, W))
    Wt = rng.standard_normal((FN, C, FH, FW))
    b = rng.standard_normal(FN)
    layer = Convolution(Wt, b, stride=s, pad=p)
    out = layer.forward(x)
    conv_path(layer)
    np.testing.assert_allclose(out, naive_conv(x, Wt, b, s, p), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CONV_CASES)
def test_convolution_backward_matches_numerical_gradient(case, conv_path):
    N, C, H, W, FN, FH, FW, s, p = case
    rng = np.random.default_rng(3)
    x = rng.standard_normal((N, C, H, W))
    layer = Convolution(rng.standard_normal((FN, C, FH, FW)), rng.standard_normal(FN), s, p)
    check_layer_gradients(layer.forward, layer.backward, x,
                          {"W": (layer.W, lambda: layer.dW), "b": (layer.b, lambda: layer.db)},
                          rng)
    conv_path(layer)


@pytest.mark.parametrize("case", CONV_CASES)
def test_convolution_backward_matches_naive_loop(case, conv_path):
    N, C, H, W, FN, FH, FW, s, p = case
    rng = np.random.default_rng(11)
    x = rng.standard_normal((N, C, H, W))
    layer = Convolution(rng.standard_normal((FN, C, FH, FW)), rng.standard_normal(FN), s, p)
    dout = rng.standard_normal(layer.forward(x).shape)
    dx = layer.backward(dout)
    conv_path(layer)
    want_dx, want_dW, want_db = naive_conv_backward(x, layer.W, dout, s, p)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.dW, want_dW, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.db, want_db, rtol=1e-12, atol=1e-12)


# The book's shapes (DeepConvNet's six convolutions, SimpleConvNet's one), in float32:
# the layer's sums run in another order than the definition's, and float32 rounds each
# step, so the results are compared with the definition in float64 to 1e-5 of their
# largest magnitude.
BOOK_SHAPES = [  # (C, H, FN, F, pad)
    (1, 28, 16, 3, 1), (16, 28, 16, 3, 1), (16, 14, 32, 3, 1), (32, 14, 32, 3, 2),
    (32, 8, 64, 3, 1), (64, 8, 64, 3, 1), (1, 28, 30, 5, 0),
]


def relative_error(got, want):
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


@pytest.mark.parametrize("shape", BOOK_SHAPES)
def test_convolution_float32_matches_the_definition_at_the_books_shapes(shape, conv_path):
    C, H, FN, F, pad = shape
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, C, H, H))
    W = rng.standard_normal((FN, C, F, F)) * np.sqrt(2 / (C * F * F))
    b = rng.standard_normal(FN)
    layer = Convolution(W.astype(np.float32), b.astype(np.float32), 1, pad)
    out = layer.forward(x.astype(np.float32))
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout.astype(np.float32))
    conv_path(layer)
    want_dx, want_dW, want_db = naive_conv_backward(x, W, dout, 1, pad)
    assert out.dtype == dx.dtype == layer.dW.dtype == np.float32
    assert relative_error(out, naive_conv(x, W, b, 1, pad)) < 1e-5
    assert relative_error(dx, want_dx) < 1e-5
    assert relative_error(layer.dW, want_dW) < 1e-5
    assert relative_error(layer.db, want_db) < 1e-5


def test_convolution_results_survive_later_calls(conv_path):
    # The layer keeps scratch arrays between calls; what it returned must not change,
    # and a call with another batch size must not see what an earlier one left.
    rng = np.random.default_rng(13)
    W, b = rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    layer = Convolution(W, b, stride=1, pad=1)
    xs = [rng.standard_normal(shape) for shape in
          [(2, 2, 6, 6), (2, 2, 6, 6), (3, 2, 6, 6), (2, 2, 5, 7), (2, 2, 6, 6)]]
    kept = []
    for x in xs:
        out = layer.forward(x)
        dout = rng.standard_normal(out.shape)
        kept.append((x, out, dout, layer.backward(dout), layer.dW))
    for x, out, dout, dx, dW in kept:
        np.testing.assert_allclose(out, naive_conv(x, W, b, 1, 1), rtol=1e-12, atol=1e-12)
        want_dx, want_dW, _ = naive_conv_backward(x, W, dout, 1, 1)
        np.testing.assert_allclose(dx, want_dx, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dW, want_dW, rtol=1e-12, atol=1e-12)


def test_a_copied_convolution_leaves_its_scratch_behind_and_still_works():
    import copy
    rng = np.random.default_rng(18)
    W, b = rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    layer = Convolution(W, b, stride=1, pad=1)
    x = rng.standard_normal((2, 2, 12, 12))  # large enough for the flat layout
    layer.forward(x)
    twin = copy.deepcopy(layer)
    assert layer._work and not twin._work
    np.testing.assert_allclose(twin.forward(x), naive_conv(x, W, b, 1, 1), rtol=1e-12,
                               atol=1e-12)


def test_convolution_backward_takes_dout_in_any_memory_order(conv_path):
    rng = np.random.default_rng(14)
    x = rng.standard_normal((2, 3, 5, 5))
    layer = Convolution(rng.standard_normal((4, 3, 3, 3)), np.zeros(4), stride=1, pad=1)
    out = layer.forward(x)
    dout = rng.standard_normal(out.shape)
    dx_c = layer.backward(np.ascontiguousarray(dout))
    dx_f = layer.backward(np.asfortranarray(dout))
    np.testing.assert_array_equal(dx_c, dx_f)


# -- the flat layout ---------------------------------------------------------------------
@pytest.mark.parametrize("case", [(2, 3, 5, 6, 3, 3, 1), (1, 2, 7, 7, 5, 5, 2),
                                  (2, 1, 6, 6, 3, 3, 2), (3, 2, 4, 5, 2, 3, 0)])
def test_shifted_rows_hold_unfolds_patches_at_the_output_positions(case):
    N, C, H, W, FH, FW, pad = case
    x = np.random.default_rng(15).standard_normal((N, C, H, W))
    layout = FlatLayout(x.shape, FH, FW, pad)
    rows = layout.place(x, layout.front, layout.reach - layout.front)
    cols = shifted_rows(rows, layout.offsets, layout.length, ones_row=True)
    assert cols.shape == (C * FH * FW + 1, layout.length)
    np.testing.assert_array_equal(cols[-1], 1)
    OH, OW = layout.out_h, layout.out_w
    # Column n * image + oh * row + ow is output position (oh, ow) of image n.
    grid = cols[:-1].reshape(-1, N, H + pad, W + pad)[:, :, :OH, :OW]
    np.testing.assert_array_equal(grid.reshape(C * FH * FW, -1),
                                  unfold(x, FH, FW, 1, pad))


def test_flat_layout_place_and_take_are_inverse():
    x = np.random.default_rng(16).standard_normal((3, 2, 4, 5))
    layout = FlatLayout(x.shape, 3, 3, 1)
    rows = layout.place(x, 0, 0)
    assert rows.shape == (2, 3 * 5 * 6)
    np.testing.assert_array_equal(layout.take(rows, 4, 5), x)
    assert np.count_nonzero(rows) == x.size  # zeros everywhere else
    x2 = x + 1.0  # placed again into the same array: only the images are rewritten
    np.testing.assert_array_equal(layout.take(layout.place(x2, 0, 0, out=rows), 4, 5), x2)
    assert np.count_nonzero(rows) == x.size


def test_flat_layout_refuses_a_pad_as_large_as_the_filter():
    with pytest.raises(ValueError, match="pad 3 must be smaller"):
        FlatLayout((1, 1, 6, 6), 3, 3, 3)


def test_convolution_chooses_the_flat_layout_where_it_was_measured_faster():
    # DeepConvNet's convolutions (grids of 1.0 to 1.27 times the outputs) take the flat
    # layout, SimpleConvNet's 5x5 'valid' one on 28 x 28 digits (1.36 times) unfold.
    def layer_after_forward(C, H, FN, F, pad):
        layer = Convolution(np.zeros((FN, C, F, F), np.float32), np.zeros(FN, np.float32),
                            1, pad)
        layer.forward(np.zeros((2, C, H, H), np.float32))
        return layer
    for shape in BOOK_SHAPES[:-1]:
        assert layer_after_forward(*shape).layout is not None, shape
    assert layer_after_forward(*BOOK_SHAPES[-1]).layout is None


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


@pytest.mark.parametrize("case", POOL_CASES)
def test_pooling_backward_routes_to_the_first_maximum_like_a_loop(case):
    # With ties (ReLU's zeros, repeated values), each window's gradient goes to its
    # first maximum in row-major order; dout arrives in either memory order.
    N, C, H, W, ph, pw, s, p = case
    rng = np.random.default_rng(17)
    x = np.maximum(rng.integers(-2, 3, (N, C, H, W)), 0).astype(np.float64)
    layer = Pooling(ph, pw, stride=s, pad=p)
    out = layer.forward(x)
    dout = rng.standard_normal(out.shape)
    want = np.zeros((N, C, H + 2 * p, W + 2 * p))
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=-np.inf)
    for n in range(N):
        for c in range(C):
            for i in range(out.shape[2]):
                for j in range(out.shape[3]):
                    window = xp[n, c, i * s:i * s + ph, j * s:j * s + pw]
                    u, v = divmod(int(np.argmax(window)), pw)  # argmax: the first maximum
                    want[n, c, i * s + u, j * s + v] += dout[n, c, i, j]
    want = want[:, :, p:p + H, p:p + W]
    for d in (dout, np.asfortranarray(dout), dout.transpose(1, 0, 2, 3).copy().transpose(1, 0, 2, 3)):
        # (overlapping windows add their shares in another order: to the last bit)
        np.testing.assert_allclose(layer.backward(d), want, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("kwargs, x_shape, message", [
    ({"pool_h": 2, "pool_w": 2, "pad": 2}, (1, 1, 4, 4), "more than half"),
    ({"pool_h": 3, "pool_w": 3}, (1, 1, 2, 2), "does not fit"),
    ({"pool_h": 2, "pool_w": 2, "stride": 0}, (1, 1, 4, 4), "stride"),
    ({"pool_h": 2, "pool_w": 2}, (1, 4, 4), r"\(N, C, H, W\)"),
])
def test_pooling_shape_errors(kwargs, x_shape, message):
    with pytest.raises(ValueError, match=message):
        Pooling(**kwargs).forward(np.zeros(x_shape))
