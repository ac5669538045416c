"""Networks of one's own: Sequential, its text form, user layers, files, the command line."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule
from chainrule import compose, models, registry
from user_layers import Square
from chainrule.checkpoint import CheckpointError, load_checkpoint
from chainrule.compose import BatchNorm, Conv, Dense, LayerTextError
from chainrule.gradient import numerical_gradient
from chainrule.layers import (Affine, AvgPooling, BatchNormalization, Dropout, LeakyRelu,
                              Pooling, Relu,
                              Sigmoid, Tanh)
from chainrule.models import Sequential
from chainrule.optimizers import make_optimizer
from chainrule.trainer import Trainer, TrainingInterrupted
from chainrule.callbacks import EpochCheckpoint

from conftest import check_layer_gradients, max_relative_error

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="module")
def digits():
    return chainrule.load_dataset("mnist-10k")


# -- the book's networks are definitions on Sequential ---------------------------------
FIGURES = json.loads((FIXTURES / "model_figures.json").read_text())


@pytest.mark.parametrize("case", FIGURES, ids=[f"{c['model']}-{c['optimizer']}" for c in FIGURES])
def test_book_networks_give_the_numbers_of_the_code_before(case, digits):
    """Weights after three training steps from seed 0, against figures recorded by
    tests/fixtures/record_model_figures.py with chainrule 0.1.0, whose networks were
    written out layer by layer. On the machine that recorded them the numbers are
    bit-identical; 1e-12 leaves room for another CPU's BLAS kernels, none for a layer
    drawn in another order, a different initial scale or a missing decay term."""
    (x, t), _ = digits
    steps, batch = 3, 20
    x, t = x[:steps * batch].astype(np.float64), t[:steps * batch]
    net = getattr(models, case["model"])(**case["kwargs"], rng=0)
    assert isinstance(net, Sequential)
    opt = make_optimizer(case["optimizer"], **case["settings"])
    losses = []
    for i in range(steps):
        grads = net.gradient(x[i * batch:(i + 1) * batch], t[i * batch:(i + 1) * batch])
        losses.append(float(net.last_loss))
        opt.update(net.params, grads)
    np.testing.assert_allclose(losses, case["losses"], rtol=1e-12)
    arrays = {**net.params, **net.buffers}
    assert list(arrays) == list(case["arrays"])
    zero_in_theory, absorbing = _biases_before_batch_norm(net)
    for key, figures in case["arrays"].items():
        a = arrays[key]
        if key in zero_in_theory:
            # Its gradient is zero in theory (batch norm subtracts the mean): what it
            # holds is rounding noise that Adam amplifies, other noise on another CPU.
            # What can be checked is that it stayed noise.
            assert np.abs(a).max() < NOISE, key
            continue
        # The batch norm's running mean takes that noise in: up to NOISE per entry.
        atol = NOISE if key in absorbing else 0.0
        n = a.size
        np.testing.assert_allclose(a.sum(), figures["sum"], rtol=1e-10, atol=1e-14 + n * atol,
                                   err_msg=key)
        np.testing.assert_allclose((a * a).sum(), figures["sumsq"], rtol=1e-12,
                                   atol=2 * np.sqrt(n * figures["sumsq"]) * atol, err_msg=key)
        np.testing.assert_allclose(a.reshape(-1)[:4], figures["first"], rtol=1e-12, atol=atol,
                                   err_msg=key)


#: how large the rounding noise in a bias before batch norm may grow in three Adam steps
#: (recorded: 1.4e-10 at most); a gradient that is not zero would move it by lr = 0.01.
NOISE = 1e-8


def _biases_before_batch_norm(net):
    """Names of the biases of affine layers that feed batch norm directly, and of the
    running means of those batch norms."""
    names = list(net.layers)
    owner = {(layer, attr): param for param, (layer, attr) in net.grad_map.items()}
    biases, means = set(), set()
    for name, following in zip(names, names[1:]):
        layer = net.layers[following]
        if isinstance(layer, BatchNormalization) and (name, "db") in owner:
            biases.add(owner[(name, "db")])
            means.update(key for key, a in net.buffers.items() if a is layer.running_mean)
    return biases, means


def test_book_networks_keep_their_layer_and_parameter_names():
    deep = models.DeepConvNet(rng=0)
    assert list(deep.layers) == [
        "Conv1", "Relu1", "Conv2", "Relu2", "Pool1", "Conv3", "Relu3", "Conv4", "Relu4",
        "Pool2", "Conv5", "Relu5", "Conv6", "Relu6", "Pool3", "Affine1", "Relu7",
        "Dropout1", "Affine2", "Dropout2"]
    assert list(deep.params) == [f"{p}{i}" for i in range(1, 9) for p in "Wb"]
    mlp = models.MultiLayerNet(8, [5, 4], 3, use_batchnorm=True, use_dropout=True, rng=0)
    assert list(mlp.layers) == ["Affine1", "BatchNorm1", "Activation1", "Dropout1",
                                "Affine2", "BatchNorm2", "Activation2", "Dropout2", "Affine3"]
    assert list(mlp.params) == ["W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2",
                                "beta2", "W3", "b3"]
    assert list(mlp.buffers) == ["running_mean1", "running_var1", "running_mean2",
                                 "running_var2"]
    # Layers hold the very arrays in params: an update in place reaches them.
    mlp.params["W2"] += 1.0
    assert mlp.layers["Affine2"].W is mlp.params["W2"]
    assert repr(models.TwoLayerNet(4, 3, 2)) == (
        "TwoLayerNet(input_size=4, hidden_size=3, output_size=2, weight_init_std=0.01, "
        "dtype='float64')")


# -- building ------------------------------------------------------------------------
LENET = "conv(6,5,pad=2) relu pool(2) conv(16,5) relu pool(2) affine(120) relu affine(84) relu affine(10)"


def test_text_specs_and_names_build_the_same_network():
    from_text = Sequential(LENET, input_shape=(1, 28, 28), rng=7)
    from_specs = Sequential([Conv(6, 5, pad=2), Relu(), Pooling(2, 2, 2), Conv(16, 5), Relu(),
                             Pooling(2, 2, 2), Dense(120), Relu(), Dense(84), Relu(),
                             Dense(10)], input_shape=(1, 28, 28), rng=7)
    mixed = Sequential(["conv(6,5,pad=2) relu pool(2)", Conv(16, 5), Relu(), "pool(2)",
                        Dense(120), "relu affine(84) relu", Dense(10)],
                       input_shape=(1, 28, 28), rng=7)
    for net in (from_specs, mixed):
        assert list(net.params) == list(from_text.params) == [
            "W1", "b1", "W2", "b2", "W3", "b3", "W4", "b4", "W5", "b5"]
        for key in from_text.params:
            np.testing.assert_array_equal(net.params[key], from_text.params[key])
    assert list(from_text.layers) == ["Conv1", "Relu1", "Pool1", "Conv2", "Relu2", "Pool2",
                                      "Affine1", "Relu3", "Affine2", "Relu4", "Affine3"]
    assert from_text.params["W3"].shape == (16 * 5 * 5, 120)  # the flattened size, inferred
    assert from_text.config == {"layers": LENET, "input_shape": [1, 28, 28],
                                "dtype": "float64"}
    assert from_text.output_size == 10
    # He initialisation by default: std sqrt(2 / fan_in).
    W = Sequential("affine(2000)", input_shape=500, rng=0).params["W1"]
    assert W.std() == pytest.approx(np.sqrt(2 / 500), rel=0.01)
    W = Sequential("affine(2000,init=0.5)", input_shape=500, rng=0).params["W1"]
    assert W.std() == pytest.approx(0.5, rel=0.01)
    W = Sequential("affine(2000,init=xavier)", input_shape=500, rng=0).params["W1"]
    assert W.std() == pytest.approx(np.sqrt(1 / 500), rel=0.01)


def test_canonical_text_rebuilds_the_network():
    text = ("conv( 8 , 3, stride=1, pad=1 , init=he)  relu batchnorm pool(2, stride=2) "
            "avgpool(2) affine(20, init=0.1) leakyrelu(slope=0.2) dropout(ratio=0.3) "
            "sigmoid tanh affine(5)")
    net = Sequential(text, input_shape=(2, 12, 12), rng=1)
    canonical = net.config["layers"]
    assert canonical == ("conv(8,3,pad=1) relu batchnorm pool(2) avgpool(2) "
                         "affine(20,init=0.1) leakyrelu(slope=0.2) dropout(ratio=0.3) "
                         "sigmoid tanh affine(5)")
    again = Sequential(canonical, input_shape=(2, 12, 12), rng=1)
    for key in net.params:
        np.testing.assert_array_equal(again.params[key], net.params[key])
    assert repr(net) == f"Sequential({canonical!r}, input_shape=(2, 12, 12))"
    assert "\n" not in repr(net)


def test_built_layers_are_taken_as_they_are():
    W, b = np.ones((4, 3)), np.zeros(3)
    affine = Affine(W, b)
    net = Sequential([affine, Tanh()], input_shape=4)
    assert net.layers["Affine1"] is affine and net.params["W1"] is W
    assert net.config["layers"] == "affine(3) tanh"
    # An array of another dtype than the network's is named, not silently mixed.
    with pytest.raises(ValueError, match=r"layer 1 \(Affine\) holds W of float64.*float32"):
        Sequential([Affine(W, b)], input_shape=4, dtype="float32")
    with pytest.raises(TypeError, match="layer 2 is the class Relu; give a layer"):
        Sequential([Dense(3), Relu], input_shape=4)
    with pytest.raises(TypeError, match="layer 1 is 42, which is not a layer"):
        Sequential([42], input_shape=4)
    with pytest.raises(ValueError, match="two layers are named 'a'"):
        Sequential([("a", Dense(3)), ("a", Dense(2))], input_shape=4)


@pytest.mark.parametrize("layers,shape,match", [
    ("affine(10) conv(3,3)", 784, r"layer 2 \(Conv\(3, 3.*does not fit the input \(10,\).*images"),
    ("conv(4,30) affine(10)", (1, 28, 28), r"layer 1 \(Convolution\) does not fit the input \(1, 28, 28\).*filter of 30"),
    ("pool(2) affine(10)", 784, r"layer 1 \(Pooling\).*\(784,\).*needs images \(C, H, W\)"),
    ("conv(4,3) relu", (1, 8, 8), r"the last layer gives \(4, 6, 6\).*end with affine"),
    ("conv(4,3) batchnorm relu pool(5) pool(5) affine(2)", (1, 8, 8),
     r"layer 5 \(Pooling\) does not fit the input \(4, 1, 1\)"),
])
def test_shapes_that_cannot_fit_are_named_at_construction(layers, shape, match):
    with pytest.raises(ValueError, match=match):
        Sequential(layers, input_shape=shape)


@pytest.mark.parametrize("text,position,match", [
    ("conv(16,3) relu pol(2)", 16, "unknown layer 'pol'"),
    ("conv(16,3 relu", 4, r"conv: '\(' is never closed"),
    ("conv(16) relu", 0, r"conv needs size: conv\(filters, size, stride=1, pad=0, init=he\)"),
    ("affine(10,units=3)", 0, "affine: units given twice"),
    ("affine(10) relu(3)", 11, "relu takes at most 0 arguments"),
    ("affine(size=3)", 0, "affine has no argument 'size'"),
    ("affine(3,,)", 9, "an empty argument"),
    ("affine(init=he,3)", 15, "a positional argument after key=value"),
    ("affine(10)relu", 10, r"expected a space after affine\(...\)"),
    ("affine(-3)", 0, "affine: Dense: units must be a positive integer, got -3"),
    ("lstm(0)", 0, "^lstm: hidden must be a positive integer, got 0"),
    ("embed(8,vocab=5,init=0)", 0, "^embed: init must be a positive number, got 0"),
    ("dropout(ratio=1.5)", 0, r"dropout: Dropout: dropout_ratio must be in \[0, 1\)"),
    ("affine(10,init=huge)", 0, "weight_init_std must be a number"),
    ("  ", 0, "no layers"),
    ("3conv", 0, "expected a layer name"),
])
def test_malformed_text_points_at_the_problem(text, position, match):
    with pytest.raises(LayerTextError, match=match) as info:
        compose.build_items(text)
    assert info.value.position == position
    message = str(info.value)
    assert f"at character {position + 1}" in message
    assert "\n  " + " " * position + "^" in message  # a caret under the problem
    assert "known layers: " + ", ".join(sorted(registry.TEXT_LAYERS)) in message


# -- gradients ----------------------------------------------------------------------
COMPOSITIONS = [
    ("affine(6) leakyrelu(slope=0.1) affine(3)", 5),
    ("affine(6) sigmoid affine(5) tanh affine(3)", 5),
    ("affine(6) batchnorm relu affine(3)", 5),
    ("conv(3,3,pad=1) relu pool(2) affine(3)", (2, 6, 6)),
    ("conv(2,3,stride=2) leakyrelu avgpool(2,stride=1) affine(3)", (1, 9, 9)),
    ("conv(3,3) batchnorm tanh avgpool(2) conv(2,2) sigmoid affine(3)", (2, 8, 8)),
]


@pytest.mark.parametrize("text,shape", COMPOSITIONS, ids=[c[0] for c in COMPOSITIONS])
def test_any_composition_passes_the_gradient_check(text, shape, rng):
    net = Sequential(text, input_shape=shape, rng=3)
    for b in (name for name in net.params if name.startswith(("b", "beta"))):
        net.params[b][...] = rng.normal(0, 0.1, net.params[b].shape)  # off ReLU's kink
    x = rng.standard_normal((4,) + tuple(np.atleast_1d(shape)))
    t = np.array([0, 1, 2, 1])
    analytic = net.gradient(x, t)
    numeric = net.numerical_gradient(x, t)
    for name in net.params:
        # A bias just before batch norm has a zero gradient in theory; both sides are
        # then rounding noise (1e-12), which is agreement.
        assert (max_relative_error(analytic[name], numeric[name]) < 1e-6
                or np.abs(analytic[name] - numeric[name]).max() < 1e-9), name


def test_new_layers_backward_against_numerical_gradients(rng):
    for layer, shape in ((LeakyRelu(0.05), (3, 4)), (LeakyRelu(0.0), (2, 5)),
                         (AvgPooling(2, 2, 2), (2, 3, 6, 6)), (AvgPooling(3, 3, 1), (1, 2, 5, 5)),
                         (AvgPooling(2, 3, 2), (2, 1, 6, 7))):
        x = rng.standard_normal(shape)
        check_layer_gradients(layer.forward, layer.backward, x, {}, rng)


def test_avgpooling_and_leakyrelu_numbers():
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(AvgPooling(2, 2, 2).forward(x)[0, 0],
                                  [[2.5, 4.5], [10.5, 12.5]])
    np.testing.assert_array_equal(LeakyRelu(0.1).forward(np.array([-2.0, 0.0, 3.0])),
                                  [-0.2, 0.0, 3.0])
    with pytest.raises(ValueError, match=r"slope must be in \[0, 1\)"):
        LeakyRelu(2)


def test_first_layer_skips_its_input_gradient_and_backprop_keeps_it(rng):
    net = Sequential("dropout(ratio=0.2) affine(4) relu affine(3)", input_shape=6, rng=0)
    calls = []
    first = net.layers["Dropout1"]
    original = first.backward
    first.backward = lambda dout: calls.append(1) or original(dout)
    x, t = rng.standard_normal((5, 6)), np.array([0, 1, 2, 0, 1])
    net.gradient(x, t)
    assert calls == []  # nothing before the first weights is worth a backward pass
    result = net.backprop(x, t)
    assert calls == [1] and result["input_grad"].shape == x.shape
    xx = x.copy()
    numeric = numerical_gradient(lambda _: net.loss(xx, t, train_flg=False), xx)
    assert max_relative_error(result["input_grad"], numeric) < 1e-6
    assert list(result["output_grads"]) == list(net.layers)


def test_empty_batches_and_bad_shapes(rng):
    net = Sequential("conv(2,3) relu pool(2) affine(4)", input_shape=(1, 8, 8), rng=0)
    out = net.predict(np.zeros((0, 64)))
    assert out.shape == (0, 4) and out.dtype == np.float64
    assert net.predict(np.zeros((0, 1, 8, 8))).shape == (0, 4)
    with pytest.raises(ValueError, match="empty batch"):
        net.loss(np.zeros((0, 64)), np.zeros(0, dtype=int))
    with pytest.raises(ValueError, match=r"input of shape \(\); expected \(N, 1, 8, 8\) images "
                                         r"or \(N, 64\) flat rows"):
        net.predict(np.float64(1))
    flat = models.TwoLayerNet(6, 4, 3)
    assert flat.predict(np.zeros((0, 6))).shape == (0, 3)
    with pytest.raises(ValueError, match=r"\(N, 6\): 6 features"):
        flat.predict(np.float64(1))
    with pytest.raises(chainrule.NonFiniteError, match="TwoLayerNet: the input x contains 12 NaN"):
        flat.loss(np.full((2, 6), np.nan), [0, 1])


# -- summary -------------------------------------------------------------------------
def test_summary_lists_layers_shapes_and_counts():
    net = Sequential("conv(16,5) relu pool(2) batchnorm affine(10)", input_shape=(1, 28, 28))
    text = net.summary()
    lines = text.splitlines()
    assert lines[0] == "Sequential (float64)"
    rows = {line.split()[0]: line.split() for line in lines if line.split()
            and line.split()[0] in ("input", "Conv1", "Relu1", "Pool1", "BatchNorm1", "Affine1")}
    assert rows["input"][1:] == ["(1,", "28,", "28)"]
    assert rows["Conv1"][-1] == f"{16 * 25 + 16:,}" and rows["Conv1"][2:5] == ["(16,", "24,", "24)"]
    assert rows["Pool1"][-1] == "0"
    assert rows["BatchNorm1"][-1] == "32"
    assert rows["Affine1"][-1] == f"{16 * 12 * 12 * 10 + 10:,}" and rows["Affine1"][2] == "(10,)"
    assert f"trainable parameters: {416 + 32 + 23050:,}" in lines
    assert "buffers (running statistics, not trained): 32" in lines
    assert "trainable parameters: 39,760" in models.TwoLayerNet(784, 50, 10).summary()


# -- a layer of one's own ------------------------------------------------------------
class Scale:
    """y = x * w per feature; dw = sum over the batch of dout * x, dx = dout * w."""

    parameters = (("w", "dw"),)

    def __init__(self, w, clip=None):
        self.w, self.clip, self.x, self.dw = w, clip, None, None

    def get_config(self):
        return {"clip": self.clip}

    def forward(self, x):
        self.x = x
        return x * self.w

    def backward(self, dout):
        self.dw = (dout * self.x).sum(axis=0)
        return dout * self.w


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setattr(registry, "LAYER_TYPES", dict(registry.LAYER_TYPES))
    chainrule.register_layer(Scale)
    chainrule.register_layer(Square)


def user_network(seed=0):
    rng = np.random.default_rng(seed)
    return Sequential([Scale(rng.normal(1, 0.2, 6)), Square(), Dense(5), Relu(), Dense(3)],
                      input_shape=6, rng=seed)


def test_a_user_layer_plugs_in(registered, rng, tmp_path):
    net = user_network()
    assert list(net.params) == ["w1", "W1", "b1", "W2", "b2"]
    assert list(net.layers)[:2] == ["Scale1", "Square1"]
    assert net.config["layers"] is None  # no text form for these
    assert "Scale" in repr(net) and net.output_size == 3
    x, t = rng.standard_normal((4, 6)), np.array([0, 1, 2, 0])
    analytic = net.gradient(x, t)  # its backward(dout) knows nothing of input_grad
    numeric = net.numerical_gradient(x, t)
    for name in net.params:
        assert max_relative_error(analytic[name], numeric[name]) < 1e-6, name
    path = tmp_path / "user.npz"
    chainrule.save(net, path)
    loaded = chainrule.load(path)
    assert isinstance(loaded.layers["Scale1"], Scale) and loaded.layers["Scale1"].clip is None
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))


def test_a_file_naming_an_unregistered_layer_is_refused(registered, tmp_path, monkeypatch):
    path = tmp_path / "user.npz"
    chainrule.save(user_network(), path)
    monkeypatch.setattr(registry, "LAYER_TYPES", {k: v for k, v in registry.LAYER_TYPES.items()
                                                 if k != "Scale"})
    with pytest.raises(CheckpointError, match=r"type 'Scale', which is neither chainrule's "
                                              r"nor registered.*never imports a module"):
        chainrule.load(path)
    with pytest.raises(ValueError, match=r"not registered: call chainrule.register_layer\(Scale\)"):
        chainrule.save(user_network(), tmp_path / "again.npz")
    assert not (tmp_path / "again.npz").exists()


def test_register_layer_checks_what_it_is_given(monkeypatch):
    monkeypatch.setattr(registry, "LAYER_TYPES", dict(registry.LAYER_TYPES))
    with pytest.raises(TypeError, match="no backward method"):
        chainrule.register_layer(type("Half", (), {"forward": lambda self, x: x}))
    with pytest.raises(ValueError, match="another layer class is already registered as 'Relu'"):
        chainrule.register_layer(type("Relu", (), {"forward": None, "backward": None}))


# -- files -----------------------------------------------------------------------------
ROUND_TRIPS = [
    (LENET, (1, 28, 28), "float32"),
    ("affine(16) batchnorm leakyrelu dropout(ratio=0.3) affine(10)", 784, "float64"),
    ("conv(4,3,pad=1) batchnorm relu avgpool(2) dropout affine(10)", (1, 28, 28), "float32"),
]


@pytest.mark.parametrize("text,shape,dtype", ROUND_TRIPS, ids=[r[0][:30] for r in ROUND_TRIPS])
def test_save_and_load_give_bit_identical_predictions(text, shape, dtype, digits, tmp_path):
    (x, t), (xt, _) = digits
    net = Sequential(text, input_shape=shape, dtype=dtype, rng=2)
    Trainer(net, x[:200], t[:200], xt[:50], _[:50], iters=4, mini_batch_size=50,
            optimizer="Adam", seed=0, verbose=False).train()  # batch norm's statistics move
    path = tmp_path / "net.npz"
    chainrule.save(net, path)
    loaded = chainrule.load(path)
    assert type(loaded) is Sequential and loaded.config == net.config
    assert list(loaded.params) == list(net.params) and list(loaded.buffers) == list(net.buffers)
    np.testing.assert_array_equal(loaded.predict(xt[:100]), net.predict(xt[:100]))
    assert loaded.summary() == net.summary()


@pytest.mark.parametrize("name", sorted(p.name for p in (FIXTURES / "checkpoints_0.1.0").glob("*.npz")))
def test_checkpoints_written_by_0_1_0_still_load(name, digits):
    """Files written by chainrule 0.1.0 (tests/fixtures/checkpoints_0.1.0), with the
    scores that version computed from them."""
    recorded = json.loads((FIXTURES / "checkpoints_0.1.0" / "scores.json").read_text())[name]
    checkpoint = load_checkpoint(FIXTURES / "checkpoints_0.1.0" / name)
    assert type(checkpoint.model).__name__ == recorded["class"]
    assert (checkpoint.training is not None) == recorded["has_training"]
    _, (xt, _t) = digits
    xs = (xt[:4, :144] if "144" in recorded["input_rows"] else xt[:4]).astype(np.float32)
    np.testing.assert_allclose(checkpoint.model.predict(xs), recorded["scores"], rtol=1e-6,
                               atol=1e-7)


def test_presets_load_back_as_their_class(tmp_path):
    for net in (models.TwoLayerNet(5, 3, 2, rng=0),
                models.MultiLayerNet(5, [4], 2, use_batchnorm=True, rng=0),
                models.SimpleConvNet((1, 8, 8), {"filter_num": 2, "filter_size": 3},
                                     hidden_size=3, output_size=2, rng=0)):
        chainrule.save(net, tmp_path / "p.npz")
        loaded = chainrule.load(tmp_path / "p.npz")
        assert type(loaded) is type(net) and loaded.config == net.config


def _rewrite_metadata(src, dst, change):
    """A copy of checkpoint src with its JSON metadata changed by change(meta)."""
    import zipfile
    with zipfile.ZipFile(src) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    with np.load(src, allow_pickle=False) as data:
        meta = json.loads(data["__chainrule__"].tobytes().decode())
    change(meta)
    arrays = {}
    with np.load(src, allow_pickle=False) as data:
        for key in data.files:
            arrays[key] = data[key]
    arrays["__chainrule__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(dst, **arrays)
    assert set(members) == {k + ".npy" for k in arrays}


@pytest.mark.parametrize("change,match", [
    (lambda m: m["architecture"]["layers"][0].update(type="os.system"), "neither chainrule's nor registered"),
    (lambda m: m["architecture"]["layers"].__setitem__(slice(None), [{"type": "Relu"}] * 5000),
     "5000 layers, more than the 4096"),
    (lambda m: m["architecture"]["layers"][2].update(config={"pool_h": 10 ** 12, "pool_w": 2, "stride": 2, "pad": 0}),
     "layer 3 \\(Pooling\\) does not fit"),
    (lambda m: m["architecture"].update(input_shape=[3, 12, 12]), "3 channels but the filters"),
    (lambda m: m["architecture"].update(input_shape=[10 ** 12]), "input_shape"),
    (lambda m: m["architecture"]["layers"].pop(), "arrays no layer uses: W2, b2"),
    (lambda m: m["architecture"]["layers"].append({"type": "Affine", "config": {}}), "needs W3"),
    (lambda m: m["architecture"]["layers"][0]["config"].update(stride="x"), "cannot be rebuilt"),
    (lambda m: m["architecture"]["layers"][0]["config"].update(evil=1), "cannot be rebuilt"),
    (lambda m: m["architecture"].update(dtype="object"), "not a floating-point type"),
    (lambda m: m.pop("architecture"), "without its architecture"),
    (lambda m: m["architecture"]["layers"].insert(0, [1, [2, [3]]]), "layer 1 of the architecture is not an object"),
])
def test_a_damaged_or_hostile_architecture_is_refused(change, match, tmp_path):
    net = Sequential("conv(2,3) relu pool(2) affine(3)", input_shape=(1, 12, 12), rng=0)
    good = tmp_path / "good.npz"
    chainrule.save(net, good)
    bad = tmp_path / "bad.npz"
    _rewrite_metadata(good, bad, change)
    with pytest.raises(CheckpointError, match=match):
        chainrule.load(bad)


# -- training, resuming, the command line --------------------------------------------
class StopAt:
    def __init__(self, trainer, k):
        self.trainer, self.k = trainer, k

    def on_iteration_end(self, iteration, loss):
        if iteration == self.k:
            self.trainer.request_stop()


@pytest.mark.parametrize("use_user_layer", [False, True])
def test_interrupted_and_resumed_equals_unbroken(use_user_layer, digits, tmp_path, request):
    if use_user_layer:
        request.getfixturevalue("registered")
    (x, t), (xt, tt) = digits
    data = (x[:600], t[:600], xt[:200], tt[:200])

    def network():
        if use_user_layer:
            return Sequential([Conv(3, 3), Relu(), Pooling(2, 2, 2), Square(), Dense(10)],
                              input_shape=(1, 28, 28), dtype="float32", rng=5)
        return Sequential("conv(3,3) batchnorm relu pool(2) dropout(ratio=0.2) affine(10)",
                          input_shape=(1, 28, 28), dtype="float32", rng=5)

    common = dict(iters=30, mini_batch_size=50, optimizer="Adam", seed=4, verbose=False)
    unbroken = Trainer(network(), *data, **common)
    unbroken.train()
    path = tmp_path / "stopped.npz"
    first = Trainer(network(), *data, callbacks=[EpochCheckpoint(path, every_epoch=False)],
                    **common)
    first.callbacks.append(StopAt(first, 17))
    with pytest.raises(TrainingInterrupted):
        first.train()
    second = Trainer(network(), *data, **common)
    second.load_state(load_checkpoint(path))
    second.train()
    for key, value in unbroken.network.params.items():
        np.testing.assert_array_equal(second.network.params[key], value, err_msg=key)
    assert second.train_loss_list == unbroken.train_loss_list


def run_cli(*args, cwd):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "chainrule", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=300,
                          stdin=subprocess.DEVNULL)


def test_command_line_trains_evaluates_draws_and_resumes_a_network_of_ones_own(tmp_path):
    layers = "conv(4,5) relu pool(2) affine(20) relu affine(10)"
    done = run_cli("train", "--dataset", "mnist-10k", "--layers", layers, "--iters", 40,
                   "--optimizer", "adam", "--seed", 3, "--save", "net.npz", "--quiet",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    net = chainrule.load(tmp_path / "net.npz")
    assert isinstance(net, Sequential) and net.config["layers"] == layers
    done = run_cli("evaluate", "net.npz", cwd=tmp_path)
    assert done.returncode == 0 and "accuracy" in done.stdout, done.stderr
    done = run_cli("graph", "model", "net.npz", cwd=tmp_path)
    assert done.returncode == 0 and "Conv1" in done.stdout and "Affine2" in done.stdout
    # The same seed gives the same weights.
    done = run_cli("train", "--dataset", "mnist-10k", "--layers", layers, "--iters", 40,
                   "--optimizer", "adam", "--seed", 3, "--save", "again.npz", "--quiet",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    again = chainrule.load(tmp_path / "again.npz")
    for key in net.params:
        np.testing.assert_array_equal(again.params[key], net.params[key])


@pytest.mark.parametrize("args,message", [
    (["--layers", "conv(4,5) relu pol(2) affine(10)"], "unknown layer 'pol'"),
    (["--layers", "affine(10)", "--hidden", "5"], "cannot be combined with --hidden"),
    (["--layers", "affine(10)", "--model", "mlp"], "cannot be combined with --model"),
    (["--layers", "affine(12)"], r"the last layer gives 12 scores, but the data has 10 classes"),
    (["--model", "deep-conv", "--batchnorm"],
     r"--model deep-conv has no --batchnorm \(DeepConvNet takes --hidden, --dropout\)"),
    (["--model", "two-layer", "--dropout", "0.3"], r"--model two-layer has no --dropout"),
    (["--model", "simple-conv", "--hidden", "7", "9"], r"--model simple-conv takes one --hidden size"),
])
def test_command_line_refuses_networks_that_cannot_work(args, message, tmp_path):
    done = run_cli("train", "--dataset", "mnist-10k", "--iters", 2, *args, cwd=tmp_path)
    assert done.returncode == 2
    assert re.search(message, done.stderr), done.stderr
    assert "Traceback" not in done.stderr


def test_gradcheck_takes_layers(tmp_path):
    done = run_cli("gradcheck", "--synthetic", "--samples", 3, "--layers",
                   "conv(2,3) relu pool(2) affine(10)", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Sequential" in done.stdout and "passed" in done.stdout


def test_threading_policy_counts_a_sequential_networks_flops():
    from chainrule.threads import step_flops
    simple = models.SimpleConvNet(rng=0)
    same = Sequential("conv(30,5,init=0.01) relu pool(2) affine(100,init=0.01) relu "
                      "affine(10,init=0.01)", input_shape=(1, 28, 28), rng=0)
    assert step_flops(same, 100) == step_flops(simple, 100)
    conv_uses = 30 * 25 * 24 * 24  # each filter weight once per output position
    affine_uses = 30 * 12 * 12 * 100 + 100 * 10
    assert step_flops(same, 100) == 6.0 * 100 * (conv_uses + affine_uses)
