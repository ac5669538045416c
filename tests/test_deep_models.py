"""MultiLayerNet, SimpleConvNet and DeepConvNet: backprop against numerical gradients,
train/inference modes, configs that rebuild the network, and input shapes."""

import json

import numpy as np
import pytest
from conftest import max_relative_error

from chainrule.layers import Dropout
from chainrule.models import MODELS, DeepConvNet, MultiLayerNet, SimpleConvNet, init_scale


def freeze_dropout(network, seed=123):
    """Make every loss evaluation draw the same dropout masks.

    The numerical gradient evaluates the loss thousands of times; with a fresh mask
    each time it would differentiate a different network at every step. Re-seeding each
    Dropout layer before each evaluation keeps backprop and the numerical gradient on
    one and the same network.
    """
    loss = network.loss

    def seeded_loss(x, t, train_flg=False):
        for i, layer in enumerate(network.layers.values()):
            if isinstance(layer, Dropout):
                layer.rng = np.random.default_rng(seed + i)
        return loss(x, t, train_flg)

    network.loss = seeded_loss
    return network


def check_network_gradient(network, x, t, tol=1e-6, names=None):
    grads = network.gradient(x, t)
    numerical = network.numerical_gradient(x, t)
    assert list(grads) == list(network.params)  # every parameter, in params' order
    errors = {name: max_relative_error(grads[name], numerical[name])
              for name in (names or network.params)}
    bad = {name: err for name, err in errors.items() if not err < tol}
    assert not bad, f"relative errors above {tol}: {bad}"
    return errors


def labels(rng, n, classes):
    return rng.integers(0, classes, n)


# -- MultiLayerNet ----------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [
    {"activation": "relu"},
    {"activation": "sigmoid", "weight_init_std": "xavier"},
    {"activation": "tanh", "weight_decay_lambda": 0.1},
    {"use_batchnorm": True, "use_dropout": True, "dropout_ratio": 0.3,
     "weight_decay_lambda": 0.05},
])
def test_multilayernet_gradient_matches_numerical(kwargs):
    rng = np.random.default_rng(0)
    net = freeze_dropout(MultiLayerNet(6, [5, 4, 5], 3, rng=1, **kwargs))
    x = rng.standard_normal((4, 6))
    check_network_gradient(net, x, labels(rng, 4, 3))


def test_multilayernet_structure_and_buffers():
    net = MultiLayerNet(8, [6, 5], 4, use_batchnorm=True, use_dropout=True, rng=0)
    assert list(net.params) == ["W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2",
                                "W3", "b3"]
    assert list(net.buffers) == ["running_mean1", "running_var1", "running_mean2",
                                 "running_var2"]
    np.testing.assert_array_equal(net.buffers["running_var1"], np.ones(6))
    assert list(net.layers)[:4] == ["Affine1", "BatchNorm1", "Activation1", "Dropout1"]
    assert net.output_size == 4 and net.has_train_mode
    # The buffers are the arrays the layers update.
    bn = net.layers["BatchNorm1"]
    assert bn.running_mean is net.buffers["running_mean1"]
    net.loss(np.random.default_rng(1).standard_normal((5, 8)), [0, 1, 2, 3, 0], train_flg=True)
    assert np.any(net.buffers["running_mean1"] != 0)


def test_multilayernet_train_flg_switches_dropout_and_batchnorm():
    rng = np.random.default_rng(2)
    net = MultiLayerNet(5, [20], 3, use_batchnorm=True, use_dropout=True, rng=3)
    x = rng.standard_normal((6, 5))
    # Inference is deterministic and per-sample; training is neither.
    np.testing.assert_array_equal(net.predict(x), net.predict(x, train_flg=False))
    np.testing.assert_allclose(net.predict(x[:1]), net.predict(x)[:1])
    assert not np.allclose(net.predict(x, train_flg=True), net.predict(x, train_flg=True))


def test_multilayernet_is_reproducible_from_a_seed():
    x = np.random.default_rng(4).standard_normal((5, 6))
    t = np.array([0, 1, 2, 0, 1])
    runs = []
    for _ in range(2):
        net = MultiLayerNet(6, [7, 7], 3, use_dropout=True, rng=11)
        runs.append([net.gradient(x, t)["W1"] for _ in range(2)])
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


def test_multilayernet_weight_decay_adds_to_the_loss():
    rng = np.random.default_rng(5)
    x, t = rng.standard_normal((4, 6)), labels(rng, 4, 3)
    plain = MultiLayerNet(6, [5], 3, rng=6)
    decayed = MultiLayerNet(6, [5], 3, weight_decay_lambda=0.3, rng=6)
    penalty = 0.15 * sum(np.sum(decayed.params[k] ** 2) for k in ("W1", "W2"))
    assert np.isclose(decayed.loss(x, t), plain.loss(x, t) + penalty)


@pytest.mark.parametrize("std, expected", [("relu", np.sqrt(2 / 400)), ("he", np.sqrt(2 / 400)),
                                           ("sigmoid", np.sqrt(1 / 400)),
                                           ("xavier", np.sqrt(1 / 400)), (0.05, 0.05)])
def test_weight_init_std(std, expected):
    assert np.isclose(init_scale(std, 400), expected)
    net = MultiLayerNet(400, [300], 10, weight_init_std=std, rng=0)
    assert abs(net.params["W1"].std() / expected - 1) < 0.02


@pytest.mark.parametrize("kwargs, message", [
    ({"activation": "softplus"}, "activation"),
    ({"weight_init_std": "lecun"}, "weight_init_std"),
    ({"dropout_ratio": 1.0}, "dropout_ratio"),
    ({"hidden_size_list": [5, 0]}, "hidden size"),
])
def test_multilayernet_rejects_bad_arguments(kwargs, message):
    args = {"input_size": 4, "hidden_size_list": [5], "output_size": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        MultiLayerNet(**args)


# -- configs rebuild the same network ------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda: MultiLayerNet(6, [5, 4], 3, activation="tanh", use_batchnorm=True,
                          use_dropout=True, weight_decay_lambda=0.01, dtype=np.float32),
    lambda: SimpleConvNet((1, 10, 10), {"filter_num": 3, "filter_size": 3}, hidden_size=7,
                          output_size=4, weight_init_std="he"),
    lambda: DeepConvNet((1, 12, 12), hidden_size=8, output_size=3, dtype=np.float32),
])
def test_config_is_json_and_rebuilds_the_network(make):
    net = make()
    config = json.loads(json.dumps(net.config))
    rebuilt = MODELS[type(net).__name__](**config)
    assert rebuilt.config == net.config
    assert {k: (v.shape, v.dtype) for k, v in rebuilt.params.items()} == \
        {k: (v.shape, v.dtype) for k, v in net.params.items()}
    assert list(rebuilt.layers) == list(net.layers)
    assert rebuilt.output_size == net.config["output_size"]


# -- SimpleConvNet ------------------------------------------------------------------------------
def test_simpleconvnet_gradient_matches_numerical():
    rng = np.random.default_rng(7)
    net = SimpleConvNet(input_dim=(2, 9, 9),
                        conv_param={"filter_num": 3, "filter_size": 3, "pad": 1, "stride": 1},
                        hidden_size=6, output_size=4, weight_init_std=0.3, rng=8)
    x = rng.standard_normal((3, 2, 9, 9))
    check_network_gradient(net, x, labels(rng, 3, 4))


def test_simpleconvnet_defaults_are_the_books():
    net = SimpleConvNet(rng=0)
    shapes = {k: v.shape for k, v in net.params.items()}
    assert shapes == {"W1": (30, 1, 5, 5), "b1": (30,), "W2": (4320, 100), "b2": (100,),
                      "W3": (100, 10), "b3": (10,)}
    assert net.config["conv_param"] == {"filter_num": 30, "filter_size": 5, "pad": 0,
                                        "stride": 1}
    assert net.params["W2"].dtype == np.float64 and not net.has_train_mode


def test_simpleconvnet_takes_flat_rows_or_images_and_casts_to_its_dtype():
    rng = np.random.default_rng(9)
    net = SimpleConvNet(input_dim=(1, 10, 10), conv_param={"filter_num": 2, "filter_size": 3},
                        hidden_size=5, dtype=np.float32, rng=10)
    images = rng.random((4, 1, 10, 10))  # float64 data, a float32 network
    out = net.predict(images)
    assert out.dtype == np.float32 and out.shape == (4, 10)
    np.testing.assert_array_equal(net.predict(images.reshape(4, 100)), out)
    grads = net.gradient(images.reshape(4, 100), [1, 2, 3, 4])
    assert all(g.dtype == np.float32 for g in grads.values())
    with pytest.raises(ValueError, match=r"\(N, 1, 10, 10\) images or \(N, 100\) flat rows"):
        net.predict(rng.random((4, 99)))
    with pytest.raises(ValueError, match="images"):
        net.predict(rng.random((4, 3, 10, 10)))


def test_simpleconvnet_accuracy_evaluates_in_chunks(monkeypatch):
    rng = np.random.default_rng(11)
    net = SimpleConvNet(input_dim=(1, 8, 8), conv_param={"filter_num": 2, "filter_size": 3},
                        hidden_size=5, output_size=3, rng=12)
    x, t = rng.random((25, 64)), labels(rng, 25, 3)
    expected = np.mean(net.predict(x).argmax(axis=1) == t)
    seen = []
    original = net.layers["Conv1"].forward
    monkeypatch.setattr(net.layers["Conv1"], "forward",
                        lambda x_: seen.append(x_.shape[0]) or original(x_))
    assert net.accuracy(x, t, batch_size=10) == expected
    assert seen == [10, 10, 5]


@pytest.mark.parametrize("kwargs, message", [
    ({"input_dim": (1, 4, 4), "conv_param": {"filter_size": 5}}, "does not fit"),
    ({"input_dim": (1, 5, 5), "conv_param": {"filter_size": 5}}, "does not fit"),  # pool
    ({"conv_param": {"filters": 3}}, "unknown keys"),
    ({"conv_param": {"stride": 0}}, "stride"),
    ({"input_dim": (28, 28)}, r"\(C, H, W\)"),
])
def test_simpleconvnet_rejects_impossible_configurations(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SimpleConvNet(**kwargs)


# -- DeepConvNet --------------------------------------------------------------------------------
def small_deep_convnet(rng=0, dtype=np.float64):
    """The book's architecture with a handful of filters, on 8x8 images."""
    params = {f"conv_param_{i}": {"filter_num": n} for i, n in
              enumerate([2, 2, 3, 3, 4, 4], start=1)}
    return DeepConvNet(input_dim=(1, 8, 8), hidden_size=6, output_size=3, dropout_ratio=0.3,
                       rng=rng, dtype=dtype, **params)


def test_deepconvnet_gradient_matches_numerical():
    rng = np.random.default_rng(13)
    net = freeze_dropout(small_deep_convnet(rng=14))
    x = rng.random((3, 1, 8, 8))
    check_network_gradient(net, x, labels(rng, 3, 3))


def test_deepconvnet_defaults_are_the_books():
    net = DeepConvNet(rng=0)
    filters = [net.params[f"W{i}"].shape for i in range(1, 7)]
    assert filters == [(16, 1, 3, 3), (16, 16, 3, 3), (32, 16, 3, 3), (32, 32, 3, 3),
                       (64, 32, 3, 3), (64, 64, 3, 3)]
    # 28 -> 28 -> pool 14 -> 14 -> 16 (conv4 pads by 2) -> pool 8 -> 8 -> 8 -> pool 4
    assert net.params["W7"].shape == (64 * 4 * 4, 50)
    assert net.params["W8"].shape == (50, 10)
    assert [name for name in net.layers if name.startswith("Pool")] == ["Pool1", "Pool2",
                                                                        "Pool3"]
    assert sum(isinstance(layer, Dropout) for layer in net.layers.values()) == 2
    assert net.has_train_mode
    # He initialisation: the spread follows each layer's fan-in.
    assert abs(net.params["W6"].std() / np.sqrt(2 / (64 * 9)) - 1) < 0.05


def test_deepconvnet_full_size_forward_and_backward():
    rng = np.random.default_rng(15)
    net = DeepConvNet(rng=16, dtype=np.float32)
    x = rng.random((2, 784)).astype(np.float32)
    grads = net.gradient(x, [3, 7])
    assert {k: g.shape for k, g in grads.items()} == {k: p.shape for k, p in net.params.items()}
    assert all(g.dtype == np.float32 and np.all(np.isfinite(g)) for g in grads.values())
    # Dropout is off at inference: predict is deterministic.
    np.testing.assert_array_equal(net.predict(x), net.predict(x))
