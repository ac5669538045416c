"""Networks of sequences: token ids in, a score for every step out, as a list of layers."""

import numpy as np
import pytest

import chainrule
from chainrule.layers import TimeAffine
from chainrule.models import Sequential
from chainrule.time_layers import TimeLSTM, TimeSoftmaxWithLoss
from conftest import max_relative_error

V, T = 11, 5
NETWORKS = [
    "embed(6,vocab=11) lstm(7) affine(11)",
    "embed(6,vocab=11) lstm(5) lstm(5) affine(11)",
    "embed(6,vocab=11) gru(5) affine(11)",
    "embed(6,vocab=11) rnn(5) tanh affine(11)",
    "embed(8,vocab=11) bilstm(4) affine(11)",
    "embed(8,vocab=11) posembed(8) residual(layernorm attention(2)) "
    "residual(layernorm affine(16) gelu affine(8)) layernorm affine(11)",
    "embed(8,vocab=11) posembed(8) block(2) block(2,causal=false,mlp=2) layernorm affine(11)",
    "embed(8,vocab=11) posembed(8) block(2) layernorm unembed",
]


def tokens(rng, n=3):
    return rng.integers(0, V, (n, T)), rng.integers(0, V, (n, T))


@pytest.mark.parametrize("text", NETWORKS)
def test_backprop_through_time_matches_the_numerical_gradient(text, rng):
    net = Sequential(text, input_shape=T, rng=0)
    for name in ("Embed1", "PosEmbed1"):
        if name in net.layers:
            # GPT's N(0, 0.02^2) embeddings make layer norm's input so small that its
            # curvature is (h / 0.02)^2 = 2.5e-5 of the check's step h = 1e-4: the
            # central difference, not backprop, would be off. Unit scale instead.
            net.layers[name].W *= 50.0
    x, t = tokens(rng)
    analytic, numeric = net.gradient(x, t), net.numerical_gradient(x, t)
    for name in net.params:
        assert max_relative_error(analytic[name], numeric[name]) < 1e-6, name


@pytest.mark.parametrize("text", NETWORKS)
def test_a_sequence_network_predicts_every_step_and_saves(text, rng, tmp_path):
    net = Sequential(text, input_shape=T, rng=0)
    assert net.config["layers"] == text
    assert isinstance(net.lastLayer, TimeSoftmaxWithLoss)
    assert net.layer_shapes()[-1][1] == (T, V) and net.output_size == V
    x, _ = tokens(rng)
    assert net.predict(x).shape == (3, T, V)
    chainrule.save(net, tmp_path / "lm.npz")
    np.testing.assert_array_equal(chainrule.load(tmp_path / "lm.npz").predict(x),
                                  net.predict(x))


def test_an_affine_on_a_sequence_acts_at_every_step():
    net = Sequential("embed(6,vocab=11) lstm(7) affine(11)", input_shape=T, rng=0)
    affine = net.layers["Affine1"]
    assert isinstance(affine, TimeAffine) and affine.W.shape == (7, 11)
    assert isinstance(net.layers["LSTM1"], TimeLSTM)


def test_step_accuracy_leaves_out_ignored_labels(rng):
    net = Sequential("embed(6,vocab=11) lstm(7) affine(11)", input_shape=T, rng=0)
    x, _ = tokens(rng)
    best = net.predict(x).argmax(axis=-1)
    t = best.copy()
    t[0, :2] = (best[0, :2] + 1) % V  # two wrong
    t[1, :] = -1  # ignored
    assert net.accuracy(x, t) == pytest.approx((10 - 2) / 10)


def test_token_ids_are_checked(rng):
    net = Sequential("embed(6,vocab=11) lstm(7) affine(11)", input_shape=T, rng=0)
    assert net.predict(np.arange(4)).shape == (1, 4, V)  # one sequence, any length
    assert net.predict(np.array([[1.0, 2.0]])).shape == (1, 2, V)
    with pytest.raises(ValueError, match="token ids must be whole numbers"):
        net.predict(np.array([[1.5, 2.0]]))
    with pytest.raises(ValueError, match=r"token ids of shape \(2, 3, 1\); expected \(N, T\)"):
        net.predict(np.zeros((2, 3, 1), dtype=int))
    with pytest.raises(ValueError, match="11"):
        net.predict(np.array([[3, 11]]))  # outside the vocabulary


def test_stateful_layers_carry_state_until_reset(rng):
    net = Sequential("embed(6,vocab=11) lstm(7,stateful=true) affine(11)", input_shape=T,
                     rng=0)
    x, _ = tokens(rng, 2)
    first = net.predict(x)
    np.testing.assert_raises(AssertionError, np.testing.assert_array_equal,
                             net.predict(x), first)  # it went on from the last state
    net.reset_state()
    np.testing.assert_array_equal(net.predict(x), first)


def test_an_embedding_without_its_vocabulary_is_named():
    with pytest.raises(ValueError, match="embed needs vocab="):
        Sequential("embed(6) lstm(7) affine(11)", input_shape=T)


def test_block_is_the_gpt_block_written_out():
    short = Sequential("embed(8,vocab=11) posembed(8) block(2) layernorm affine(11)",
                       input_shape=T, rng=3)
    long = Sequential("embed(8,vocab=11) posembed(8) residual(layernorm attention(2)) "
                      "residual(layernorm affine(32,init=0.02) gelu affine(8,init=0.02)) "
                      "layernorm affine(11)", input_shape=T, rng=3)
    assert [type(layer) for layer in short.layers.values()] == \
        [type(layer) for layer in long.layers.values()]
    assert list(short.params) == list(long.params)
    for name in short.params:  # the same draws in the same order
        np.testing.assert_array_equal(short.params[name], long.params[name], err_msg=name)
    assert short.layers["Add1"].start is short.layers["Residual1"]


def test_block_with_dropout_puts_it_inside_each_residual_group():
    net = Sequential("embed(8,vocab=11) block(2,dropout=0.1) affine(11)", input_shape=T)
    kinds = [type(layer).__name__ for layer in net.layers.values()]
    assert kinds[1:12] == ["ResidualStart", "LayerNorm", "MultiHeadAttention", "Dropout",
                           "ResidualAdd", "ResidualStart", "LayerNorm", "TimeAffine",
                           "GELU", "TimeAffine", "Dropout"]


def test_unembed_reads_the_embeddings_matrix_and_adds_its_gradient(rng, tmp_path):
    net = Sequential("embed(8,vocab=11) posembed(8) block(2) layernorm unembed",
                     input_shape=T, rng=0)
    embedding = net.params["W1"]
    assert net.layers["Unembed1"].W is embedding
    assert sum(a is embedding for a in net.params.values()) == 1  # stored once
    x, t = tokens(rng)
    grads = net.gradient(x, t)
    np.testing.assert_array_equal(grads["W1"], net.layers["Embed1"].dW
                                  + net.layers["Unembed1"].dW)
    chainrule.save(net, tmp_path / "gpt.npz")
    loaded = chainrule.load(tmp_path / "gpt.npz")
    assert loaded.layers["Unembed1"].W is loaded.params["W1"]
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))


def test_unembed_needs_an_embedding_before_it():
    with pytest.raises(ValueError, match="no embedding comes before it"):
        Sequential("affine(8) unembed", input_shape=4)


def test_summary_shows_the_batch_and_time_axes():
    net = Sequential("embed(6,vocab=11) lstm(7) affine(11)", input_shape=T, rng=0)
    table = net.summary()
    assert "input                   (N, 5)" in table or "(N, 5)" in table.splitlines()[4]
    assert "(N, 5, 7)" in table and "(N, 5, 11)" in table
    assert f"{11 * 6 + 4 * 7 * (6 + 7 + 1) + 7 * 11 + 11:,}" in table  # every parameter
