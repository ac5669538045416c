"""The transformer's layers: gradients against numerical ones, the layer protocol, dtypes,
and (where PyTorch is installed) the same numbers as torch in float64."""

import copy
import json
import math

import numpy as np
import pytest

from chainrule.registry import LAYER_TYPES, TEXT_LAYERS, Spec, describe, from_text, \
    output_shape, text_signature
from chainrule.special import erf
from chainrule.transformer import GELU, LayerNorm, MultiHeadAttention, PositionalEmbedding
from conftest import check_layer_gradients, max_relative_error, read_only


def make_attention(rng, C=6, heads=2, causal=True, dtype=np.float64, scale=0.5):
    return MultiHeadAttention(
        (scale * rng.standard_normal((C, 3 * C))).astype(dtype),
        (0.1 * rng.standard_normal(3 * C)).astype(dtype),
        (scale * rng.standard_normal((C, C))).astype(dtype),
        (0.1 * rng.standard_normal(C)).astype(dtype), heads, causal)


def make_layernorm(rng, C=5, dtype=np.float64):
    return LayerNorm((1 + 0.3 * rng.standard_normal(C)).astype(dtype),
                     (0.3 * rng.standard_normal(C)).astype(dtype))


def make_posembed(rng, T_max=7, C=4, dtype=np.float64):
    return PositionalEmbedding(rng.standard_normal((T_max, C)).astype(dtype))


def grads_of(layer):
    return {name: (getattr(layer, name), lambda g=grad: getattr(layer, g))
            for name, grad in type(layer).parameters}


# -- gradient checks (float64, every parameter and the input) --------------------------------
@pytest.mark.parametrize("shape", [(2, 3, 5), (4, 5), (1, 1, 2, 5)])
def test_layernorm_gradients(shape, rng):
    layer = make_layernorm(rng, C=shape[-1])
    x = 2.0 * rng.standard_normal(shape) + 1.0
    check_layer_gradients(layer.forward, layer.backward, x, grads_of(layer), rng)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_gradient(approximate, rng):
    layer = GELU(approximate)
    x = 3.0 * rng.standard_normal((3, 4, 5))
    check_layer_gradients(layer.forward, layer.backward, x, {}, rng)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("N,T,C,heads", [(2, 4, 6, 2), (1, 3, 4, 1), (2, 5, 6, 3)])
def test_attention_gradients(N, T, C, heads, causal, rng):
    layer = make_attention(rng, C, heads, causal)
    x = rng.standard_normal((N, T, C))
    check_layer_gradients(layer.forward, layer.backward, x, grads_of(layer), rng)


@pytest.mark.parametrize("T", [3, 7])
def test_posembed_gradients(T, rng):
    layer = make_posembed(rng, T_max=7)
    x = rng.standard_normal((2, T, 4))
    check_layer_gradients(layer.forward, layer.backward, x, grads_of(layer), rng)
    assert np.all(layer.dW[T:] == 0)


# -- forward values against plain formulas -------------------------------------------------
def naive_attention(layer, x):
    """Head by head, position by position: the definition, not the batched code."""
    N, T, C = x.shape
    H = layer.num_heads
    d = C // H
    qkv = x @ layer.W_qkv + layer.b_qkv
    q, k, v = qkv[..., :C], qkv[..., C:2 * C], qkv[..., 2 * C:]
    out = np.zeros((N, T, C))
    P = np.zeros((N, H, T, T))
    for n in range(N):
        for h in range(H):
            cols = slice(h * d, (h + 1) * d)
            for t in range(T):
                keys = t + 1 if layer.causal else T
                s = np.array([q[n, t, cols] @ k[n, j, cols] for j in range(keys)]) / math.sqrt(d)
                p = np.exp(s - s.max())
                p /= p.sum()
                P[n, h, t, :keys] = p
                out[n, t, cols] = p @ v[n, :keys, cols]
    return out @ layer.W_o + layer.b_o, P


@pytest.mark.parametrize("causal", [True, False])
def test_attention_forward_matches_definition(causal, rng):
    layer = make_attention(rng, C=6, heads=3, causal=causal, scale=1.0)
    x = rng.standard_normal((2, 5, 6))
    out = layer.forward(x)
    expected, P = naive_attention(layer, x)
    assert max_relative_error(out, expected) < 1e-13
    assert layer.attention_weights.shape == (2, 3, 5, 5)
    assert max_relative_error(layer.attention_weights, P) < 1e-13
    if causal:  # no position looks at a later one
        assert np.all(np.triu(layer.attention_weights, k=1) == 0)
        assert np.all(out[:, 0] == layer.forward(x[:, :1])[:, 0])  # the first ignores the rest


def test_causal_output_independent_of_the_future(rng):
    layer = make_attention(rng, C=4, heads=2)
    x = rng.standard_normal((1, 6, 4))
    y = x.copy()
    y[:, 4:] += 10.0
    np.testing.assert_allclose(layer.forward(x)[:, :4], layer.forward(y)[:, :4], rtol=1e-13)


def test_layernorm_forward_matches_definition(rng):
    layer = make_layernorm(rng, C=5)
    x = 3.0 * rng.standard_normal((2, 3, 5)) + 2.0
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    expected = layer.gamma * (x - mean) / np.sqrt(var + 1e-5) + layer.beta
    assert max_relative_error(layer.forward(x), expected) < 1e-14


def test_gelu_forward_matches_definition(rng):
    x = np.linspace(-9, 9, 181)
    # Phi(x) = erfc(-x / sqrt 2) / 2: 1 + erf(x / sqrt 2) would cancel for x << 0
    expected = np.array([v * 0.5 * math.erfc(-v / math.sqrt(2)) for v in x])
    # rtol: x / sqrt 2 is rounded, and erfc's relative slope 2|y| magnifies that at x = -9
    # to 1.1e-14 (x * sqrt(1/2) here, v / sqrt 2 there)
    np.testing.assert_allclose(GELU().forward(x), expected, rtol=5e-14, atol=1e-300)
    tanh = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    np.testing.assert_allclose(GELU("tanh").forward(x), tanh, rtol=1e-14, atol=1e-300)
    # far left, x Phi(x) is tiny but not the 0 that 1 + erf(x / sqrt 2) would round to
    assert GELU().forward(np.array([-10.0]))[0] == pytest.approx(-10 * 0.5 * math.erfc(10 / math.sqrt(2)))
    assert erf(0.0) == 0


def test_posembed_forward_and_refusals(rng):
    layer = make_posembed(rng, T_max=5, C=4)
    x = rng.standard_normal((3, 4, 4))
    np.testing.assert_array_equal(layer.forward(x), x + layer.W[:4])
    with pytest.raises(ValueError, match="longer than the 5"):
        layer.forward(rng.standard_normal((1, 6, 4)))
    with pytest.raises(ValueError, match="channels"):
        layer.forward(rng.standard_normal((1, 2, 3)))
    with pytest.raises(ValueError, match="longer than the 5"):
        layer.output_shape((6, 4))


# -- backward writes into nothing ------------------------------------------------------------
def all_layers(rng, dtype=np.float64):
    return [make_layernorm(rng, C=6, dtype=dtype), GELU(), GELU("tanh"),
            make_attention(rng, C=6, heads=2, dtype=dtype),
            make_attention(rng, C=6, heads=3, causal=False, dtype=dtype),
            make_posembed(rng, T_max=5, C=6, dtype=dtype)]


@pytest.mark.parametrize("index", range(6))
def test_backward_writes_into_nothing(index, rng):
    layer = all_layers(rng)[index]
    x = read_only(rng.standard_normal((2, 4, 6)))
    params = {name: np.array(getattr(layer, name)) for name, _ in getattr(layer, "parameters", ())}
    out = layer.forward(x)
    kept_out = out.copy()
    dout = read_only(rng.standard_normal(out.shape))
    dx = layer.backward(dout)
    dx2 = layer.backward(dout)  # twice: the saved state is not used up or changed
    np.testing.assert_array_equal(dx, dx2)
    np.testing.assert_array_equal(out, kept_out)
    for name, value in params.items():
        np.testing.assert_array_equal(getattr(layer, name), value)


# -- dtypes, shapes, rebuilding, text ---------------------------------------------------------
@pytest.mark.parametrize("index", range(6))
def test_float32_in_float32_out(index, rng):
    layer = all_layers(rng, dtype=np.float32)[index]
    x = rng.standard_normal((2, 4, 6)).astype(np.float32)
    out = layer.forward(x)
    assert out.dtype == np.float32
    dx = layer.backward(rng.standard_normal(out.shape).astype(np.float32))
    assert dx.dtype == np.float32
    for _, grad in getattr(layer, "parameters", ()):
        assert getattr(layer, grad).dtype == np.float32, grad
    # and close to the float64 computation of the same layer
    layer64 = copy.deepcopy(layer)
    for name, _ in getattr(layer, "parameters", ()):
        setattr(layer64, name, getattr(layer, name).astype(np.float64))
    assert max_relative_error(out, layer64.forward(x.astype(np.float64))) < 1e-5


@pytest.mark.parametrize("index", range(6))
def test_output_shape_and_rebuild(index, rng):
    layer = all_layers(rng)[index]
    x = rng.standard_normal((3, 4, 6))
    out = layer.forward(x)
    if hasattr(layer, "output_shape"):
        assert tuple(layer.output_shape(x.shape[1:])) == out.shape[1:]
    assert output_shape(layer, x.shape[1:]) == out.shape[1:]
    arrays = {name: getattr(layer, name) for name, _ in getattr(layer, "parameters", ())}
    rebuilt = type(layer)(**arrays, **layer.get_config())
    np.testing.assert_array_equal(rebuilt.forward(x), out)
    json.dumps(layer.get_config())  # JSON values only
    assert LAYER_TYPES[type(layer).__name__] is type(layer)


def test_protocol_attributes():
    assert describe(GELU).is_activation and describe(GELU).keeps_shape
    for cls in (LayerNorm, GELU, MultiHeadAttention, PositionalEmbedding):
        info = describe(cls)
        assert info.keeps_shape and not info.needs_tokens and not info.has_train_mode
        assert TEXT_LAYERS[info.text_name] is cls
    assert describe(MultiHeadAttention).parameters == (
        ("W_qkv", "dW_qkv"), ("b_qkv", "db_qkv"), ("W_o", "dW_o"), ("b_o", "db_o"))
    assert text_signature(MultiHeadAttention) == (["heads"], {"causal": True})
    assert text_signature(PositionalEmbedding) == (["max_len"], {})
    assert text_signature(LayerNorm) == ([], {"eps": 1e-5})
    assert text_signature(GELU) == ([], {"approximate": "none"})


def test_text_forms_build_and_round_trip():
    rng = np.random.default_rng(0)
    shape = (5, 8)
    for cls, args, kwargs in [(LayerNorm, (), {"eps": 1e-6}), (MultiHeadAttention, (4,), {}),
                              (MultiHeadAttention, (2,), {"causal": "false"}),
                              (PositionalEmbedding, (16,), {})]:
        spec = from_text(cls, *args, **kwargs)
        assert isinstance(spec, Spec)
        layer = spec.build(shape, np.float32, rng)
        assert type(layer) is cls
        for name, _ in cls.parameters:
            assert getattr(layer, name).dtype == np.float32
        assert cls.spec_args(**layer.text_args()) == spec.args  # round trip
        again = Spec(cls, **layer.text_args()).build(shape, np.float64, rng)
        assert again.get_config() == layer.get_config()
    gelu = from_text(GELU, approximate="tanh")
    assert isinstance(gelu, GELU) and gelu.approximate == "tanh"
    assert type(from_text(GELU, **gelu.text_args())) is GELU
    assert from_text(GELU, **GELU().text_args()).approximate == "none"


def test_text_build_weights_are_nanogpt_init():
    layer = MultiHeadAttention.build((64, 128), np.float64, np.random.default_rng(1), 4)
    assert layer.W_qkv.shape == (128, 384) and layer.W_o.shape == (128, 128)
    assert abs(layer.W_qkv.std() - 0.02) < 0.001 and abs(layer.W_o.std() - 0.02) < 0.001
    assert not layer.b_qkv.any() and not layer.b_o.any() and layer.causal
    ln = LayerNorm.build((64, 128), np.float32, None)
    assert np.all(ln.gamma == 1) and np.all(ln.beta == 0) and ln.gamma.dtype == np.float32
    # a RandomState works as well as a Generator
    pe = PositionalEmbedding.build((10, 8), np.float64, np.random.RandomState(0), 32)
    assert pe.W.shape == (32, 8)


@pytest.mark.parametrize("cls,kwargs,match", [
    (MultiHeadAttention, {"heads": 0}, "heads"),
    (MultiHeadAttention, {"heads": 2.5}, "heads"),
    (MultiHeadAttention, {"heads": 2, "causal": "maybe"}, "causal"),
    (LayerNorm, {"eps": -1}, "eps"),
    (LayerNorm, {"eps": "small"}, "eps"),
    (PositionalEmbedding, {"max_len": 0}, "max_len"),
])
def test_bad_text_args_refused(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls.spec_args(**kwargs)


def test_bad_constructions_refused(rng):
    with pytest.raises(ValueError, match="approximate"):
        GELU("sigmoid")
    with pytest.raises(ValueError, match="do not divide"):
        make_attention(rng, C=6, heads=4)
    with pytest.raises(ValueError, match="do not divide"):
        MultiHeadAttention.build((4, 6), np.float64, rng, 4)
    with pytest.raises(ValueError, match="do not fit"):
        PositionalEmbedding.build((9, 6), np.float64, rng, 8)
    with pytest.raises(ValueError, match="W_qkv"):
        MultiHeadAttention(np.zeros((4, 8)), np.zeros(12), np.zeros((4, 4)), np.zeros(4), 2)
    layer = make_attention(rng, C=6, heads=2)
    with pytest.raises(ValueError, match="expected"):
        layer.forward(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="gamma"):
        make_layernorm(rng, C=5).forward(np.zeros((2, 4)))


def test_causal_mask_made_once_per_length(rng):
    layer = make_attention(rng, C=4, heads=2)
    layer.forward(rng.standard_normal((2, 5, 4)))
    mask = layer._masks[(5, np.dtype(np.float64))]
    layer.forward(rng.standard_normal((3, 5, 4)))
    assert layer._masks[(5, np.dtype(np.float64))] is mask
    layer.forward(rng.standard_normal((1, 3, 4)))
    assert len(layer._masks) == 2
    assert copy.deepcopy(layer)._masks == {}


# -- against PyTorch, float64, the same weights ----------------------------------------------
def _torch():
    torch = pytest.importorskip("torch")
    torch.set_default_dtype(torch.float64)
    return torch


@pytest.mark.parametrize("causal", [True, False])
def test_attention_against_torch(causal):
    torch = _torch()
    F = torch.nn.functional
    rng = np.random.default_rng(3)
    N, T, C, H = 3, 7, 8, 2
    layer = make_attention(rng, C, H, causal)
    x = rng.standard_normal((N, T, C))
    dout = rng.standard_normal((N, T, C))
    out = layer.forward(x)
    dx = layer.backward(dout)

    tx = torch.tensor(x, requires_grad=True)
    W_qkv, b_qkv, W_o, b_o = (torch.tensor(a, requires_grad=True) for a in
                              (layer.W_qkv, layer.b_qkv, layer.W_o, layer.b_o))
    q, k, v = (tx @ W_qkv + b_qkv).split(C, dim=2)
    q, k, v = (a.view(N, T, H, C // H).transpose(1, 2) for a in (q, k, v))
    y = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    tout = y.transpose(1, 2).reshape(N, T, C) @ W_o + b_o
    tout.backward(torch.tensor(dout))
    assert max_relative_error(out, tout.detach().numpy()) < 1e-12
    assert max_relative_error(dx, tx.grad.numpy()) < 1e-12
    for mine, theirs in ((layer.dW_qkv, W_qkv), (layer.db_qkv, b_qkv), (layer.dW_o, W_o),
                         (layer.db_o, b_o)):
        assert max_relative_error(mine, theirs.grad.numpy()) < 1e-12


def test_layernorm_and_posembed_against_torch():
    torch = _torch()
    rng = np.random.default_rng(4)
    layer = make_layernorm(rng, C=6)
    x = 3 * rng.standard_normal((2, 5, 6)) + 1
    dout = rng.standard_normal((2, 5, 6))
    out = layer.forward(x)
    dx = layer.backward(dout)
    ln = torch.nn.LayerNorm(6, eps=1e-5)
    with torch.no_grad():
        ln.weight.copy_(torch.tensor(layer.gamma))
        ln.bias.copy_(torch.tensor(layer.beta))
    tx = torch.tensor(x, requires_grad=True)
    tout = ln(tx)
    tout.backward(torch.tensor(dout))
    assert max_relative_error(out, tout.detach().numpy()) < 1e-12
    assert max_relative_error(dx, tx.grad.numpy()) < 1e-12
    assert max_relative_error(layer.dgamma, ln.weight.grad.numpy()) < 1e-12
    assert max_relative_error(layer.dbeta, ln.bias.grad.numpy()) < 1e-12

    pe = make_posembed(rng, T_max=8, C=6)
    out = pe.forward(x)
    pe.backward(dout)
    W = torch.tensor(pe.W, requires_grad=True)
    tout = torch.tensor(x) + W[:5]
    tout.backward(torch.tensor(dout))
    assert max_relative_error(out, tout.detach().numpy()) < 1e-15
    assert max_relative_error(pe.dW, W.grad.numpy()) < 1e-13


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_against_torch(approximate):
    torch = _torch()
    rng = np.random.default_rng(5)
    x = np.concatenate([4 * rng.standard_normal(500), np.linspace(-12, 12, 241)])
    dout = rng.standard_normal(x.shape)
    layer = GELU(approximate)
    out = layer.forward(x)
    dx = layer.backward(dout)
    tx = torch.tensor(x, requires_grad=True)
    tout = torch.nn.functional.gelu(tx, approximate=approximate)
    tout.backward(torch.tensor(dout))
    assert max_relative_error(out, tout.detach().numpy()) < 1e-14
    assert max_relative_error(dx, tx.grad.numpy()) < 1e-14
