"""Dropout and BatchNormalization: masks, modes, running statistics and gradients."""

import numpy as np
import pytest
from conftest import check_layer_gradients

from chainrule.layers import BatchNormalization, Dropout


# -- Dropout ---------------------------------------------------------------------------------
def test_dropout_backward_uses_the_forward_mask():
    rng = np.random.default_rng(0)
    layer = Dropout(0.4, rng=1)
    x = rng.standard_normal((5, 7))
    out = layer.forward(x, train_flg=True)
    dout = rng.standard_normal(out.shape)
    dout.setflags(write=False)
    dx = layer.backward(dout)
    kept = out != 0
    # Dropped units pass no gradient, kept ones pass it scaled as forward scaled x.
    np.testing.assert_array_equal(dx == 0, ~kept)
    np.testing.assert_allclose(out, x * layer.mask)
    np.testing.assert_allclose(dx, dout * layer.mask)


def test_dropout_is_inverted_and_keeps_the_expectation():
    layer = Dropout(0.3, rng=2)
    x = np.ones((200, 500))
    out = layer.forward(x, train_flg=True)
    kept = out[out != 0]
    np.testing.assert_allclose(kept, 1 / 0.7)  # scaled at train time
    assert abs(np.mean(out != 0) - 0.7) < 0.01
    assert abs(out.mean() - 1.0) < 0.02


def test_dropout_is_the_identity_at_inference():
    layer = Dropout(0.5, rng=3)
    x = np.random.default_rng(3).standard_normal((4, 6))
    np.testing.assert_array_equal(layer.forward(x, train_flg=False), x)
    dout = np.ones_like(x)
    np.testing.assert_array_equal(layer.backward(dout), dout)


def test_dropout_masks_are_reproducible_from_a_seed():
    x = np.ones((10, 10))
    a = [Dropout(0.5, rng=np.random.default_rng(42)) for _ in range(2)]
    masks = [[layer.forward(x).copy() for _ in range(3)] for layer in a]
    for m0, m1 in zip(*masks):
        np.testing.assert_array_equal(m0, m1)
    assert not np.array_equal(masks[0][0], masks[0][1])  # a fresh mask each call


def test_dropout_follows_the_global_generator_without_rng():
    x = np.ones((8, 8))
    state = np.random.get_state()
    try:
        np.random.seed(7)
        first = Dropout(0.5).forward(x)
        np.random.seed(7)
        np.testing.assert_array_equal(Dropout(0.5).forward(x), first)
    finally:
        np.random.set_state(state)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_keeps_the_dtype(dtype):
    layer = Dropout(0.5, rng=0)
    out = layer.forward(np.ones((3, 4), dtype=dtype))
    assert out.dtype == dtype
    assert layer.backward(np.ones((3, 4), dtype=dtype)).dtype == dtype


def test_dropout_gradient_matches_numerical_with_a_fixed_mask():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 2, 4, 4))
    layer = Dropout(0.5, rng=5)
    layer.forward(x)
    mask = layer.mask.copy()

    def forward(x_):
        layer.rng = np.random.default_rng(5)  # the same mask at every evaluation
        out = layer.forward(x_)
        np.testing.assert_array_equal(layer.mask, mask)
        return out

    check_layer_gradients(forward, layer.backward, x, {}, rng)


@pytest.mark.parametrize("ratio", [-0.1, 1.0, 1.5])
def test_dropout_rejects_a_bad_ratio(ratio):
    with pytest.raises(ValueError, match="dropout_ratio"):
        Dropout(ratio)


# -- BatchNormalization ------------------------------------------------------------------------
def make_bn(n_features, rng, **kwargs):
    gamma = rng.uniform(0.5, 1.5, n_features)
    beta = rng.standard_normal(n_features)
    return BatchNormalization(gamma, beta, **kwargs)


def test_batchnorm_normalises_each_feature_in_training():
    rng = np.random.default_rng(10)
    layer = BatchNormalization(np.ones(4), np.zeros(4))
    x = rng.normal(5.0, 3.0, (50, 4))
    out = layer.forward(x, train_flg=True)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=0), 1, rtol=1e-4)  # eps shrinks it a little


def test_batchnorm_4d_is_per_channel():
    rng = np.random.default_rng(11)
    layer = make_bn(3, rng)
    x = rng.normal(2.0, 4.0, (4, 3, 5, 6))
    out = layer.forward(x, train_flg=True)
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    var = x.var(axis=(0, 2, 3), keepdims=True)
    expected = (layer.gamma.reshape(1, 3, 1, 1) * (x - mean) / np.sqrt(var + layer.eps)
                + layer.beta.reshape(1, 3, 1, 1))
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.running_mean, 0.1 * mean.ravel())


def test_batchnorm_running_statistics_follow_momentum_and_are_used_at_inference():
    rng = np.random.default_rng(12)
    running_mean, running_var = np.zeros(3), np.ones(3)
    layer = BatchNormalization(np.ones(3), np.zeros(3), momentum=0.8,
                               running_mean=running_mean, running_var=running_var)
    batches = [rng.normal(1.0, 2.0, (10, 3)) for _ in range(2)]
    expected_mean, expected_var = np.zeros(3), np.ones(3)  # running_var starts at ones
    for batch in batches:
        layer.forward(batch, train_flg=True)
        expected_mean = 0.8 * expected_mean + 0.2 * batch.mean(axis=0)
        expected_var = 0.8 * expected_var + 0.2 * batch.var(axis=0)
    # Updated in place: whoever holds these arrays (a network's buffers) sees them.
    assert layer.running_mean is running_mean and layer.running_var is running_var
    np.testing.assert_allclose(running_mean, expected_mean)
    np.testing.assert_allclose(running_var, expected_var)

    x = rng.normal(size=(1, 3))  # one sample: only the running statistics make sense
    out = layer.forward(x, train_flg=False)
    np.testing.assert_allclose(out, (x - expected_mean) / np.sqrt(expected_var + layer.eps))
    # Inference leaves the statistics alone.
    np.testing.assert_allclose(running_mean, expected_mean)


def test_batchnorm_defaults():
    layer = BatchNormalization(np.ones(2), np.zeros(2))
    np.testing.assert_array_equal(layer.running_mean, [0, 0])
    np.testing.assert_array_equal(layer.running_var, [1, 1])
    assert layer.momentum == 0.9
    assert 1e-7 <= layer.eps <= 1e-5


@pytest.mark.parametrize("shape", [(2, 3), (5, 4), (2, 3, 2, 2), (3, 2, 3, 1)])
@pytest.mark.parametrize("train_flg", [True, False])
def test_batchnorm_backward_matches_numerical_gradient(shape, train_flg):
    rng = np.random.default_rng(13)
    C = shape[1]
    layer = make_bn(C, rng, running_mean=rng.standard_normal(C),
                    running_var=rng.uniform(0.5, 2.0, C))
    x = rng.normal(1.0, 2.0, shape)
    saved = layer.running_mean.copy(), layer.running_var.copy()

    def forward(x_):
        # Training mode moves the running statistics; keep them fixed for the check.
        layer.running_mean[...], layer.running_var[...] = saved
        return layer.forward(x_, train_flg=train_flg)

    check_layer_gradients(forward, layer.backward, x,
                          {"gamma": (layer.gamma, lambda: layer.dgamma),
                           "beta": (layer.beta, lambda: layer.dbeta)}, rng)


def test_batchnorm_float32_stays_float32():
    layer = BatchNormalization(np.ones(3, np.float32), np.zeros(3, np.float32),
                               running_mean=np.zeros(3, np.float32),
                               running_var=np.ones(3, np.float32))
    x = np.random.default_rng(14).standard_normal((4, 3, 2, 2)).astype(np.float32)
    for train_flg in (True, False):
        out = layer.forward(x, train_flg=train_flg)
        dx = layer.backward(np.ones_like(out))
        assert out.dtype == dx.dtype == layer.dgamma.dtype == np.float32
    assert layer.running_mean.dtype == layer.running_var.dtype == np.float32


@pytest.mark.parametrize("x_shape, message", [
    ((4, 5), "5 features"),
    ((2, 4, 3, 3), "4 channels"),
    ((2, 3, 3), r"\(N, D\) or \(N, C, H, W\)"),
])
def test_batchnorm_shape_errors(x_shape, message):
    layer = BatchNormalization(np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match=message):
        layer.forward(np.zeros(x_shape))


def test_batchnorm_rejects_mismatched_parameters():
    with pytest.raises(ValueError, match="gamma and beta"):
        BatchNormalization(np.ones(3), np.zeros(2))
    with pytest.raises(ValueError, match="running_var"):
        BatchNormalization(np.ones(3), np.zeros(3), running_var=np.ones(4))
