"""The sequel's layers (chainrule.time_layers, chainrule.clipping): every gradient against
numerical_gradient in float64 (parameters, inputs and the initial state), backward never
writing into what it was given, float32 in and out, the state's rules, the text form."""

import numpy as np
import pytest

from chainrule import registry
from chainrule.clipping import clip_grads
from chainrule.gradient import numerical_gradient
from chainrule.time_layers import (GRU, LSTM, RNN, Attention, Embedding, SigmoidWithLoss,
                                   TimeAffine, TimeAttention, TimeBiLSTM, TimeDropout,
                                   TimeEmbedding, TimeGRU, TimeLSTM, TimeRNN,
                                   TimeSoftmaxWithLoss, scatter_add_rows)
from conftest import max_relative_error, read_only

TOL = 1e-6
GATES = {TimeRNN: 1, TimeLSTM: 4, TimeGRU: 3, RNN: 1, LSTM: 4, GRU: 3}
TIME_CLASSES = (TimeRNN, TimeLSTM, TimeGRU)


def weights(cls, D, H, rng, dtype=np.float64, scale=0.5):
    g = GATES[cls]
    return (scale * rng.standard_normal((D, g * H)).astype(dtype),
            scale * rng.standard_normal((H, g * H)).astype(dtype),
            scale * rng.standard_normal(g * H).astype(dtype))


def check(loss, pairs):
    """pairs: (name, array perturbed in place, analytic gradient)."""
    for name, array, analytic in pairs:
        numeric = numerical_gradient(lambda _: loss(), array)
        error = max_relative_error(analytic, numeric)
        assert error < TOL, f"gradient of {name}: relative error {error:.2e}"


def frozen(*arrays):
    """Copies to compare with afterwards: was any of the arrays written into?"""
    return [np.array(a, copy=True) for a in arrays]


# -- the per-step cells ---------------------------------------------------------------------
@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_cell_gradients(cls, rng):
    N, D, H = 3, 4, 5
    Wx, Wh, b = weights(cls, D, H, rng)
    x, h, c = rng.standard_normal((N, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    R, Rc = read_only(rng.standard_normal((N, H))), read_only(rng.standard_normal((N, H)))
    cell = cls(Wx, Wh, b)
    lstm = cls is LSTM

    def loss():
        if lstm:
            h_next, c_next = cell.forward(x, h, c)
            return float(np.sum(h_next * R) + np.sum(c_next * Rc))
        return float(np.sum(cell.forward(x, h) * R))

    loss()
    grads = cell.backward(R, Rc) if lstm else cell.backward(R)
    pairs = [("Wx", Wx, cell.dWx), ("Wh", Wh, cell.dWh), ("b", b, cell.db),
             ("x", x, grads[0]), ("h_prev", h, grads[1])]
    if lstm:
        pairs.append(("c_prev", c, grads[2]))
    check(loss, [(n, a, np.array(g, copy=True)) for n, a, g in pairs])


# -- the Time recurrent layers ---------------------------------------------------------------
@pytest.mark.parametrize("cls", TIME_CLASSES)
@pytest.mark.parametrize("shape", [(2, 5, 3, 4), (1, 1, 2, 3), (3, 4, 1, 2)])
def test_time_recurrent_gradients(cls, shape, rng):
    N, T, D, H = shape
    Wx, Wh, b = weights(cls, D, H, rng)
    xs = rng.standard_normal((N, T, D))
    h0, c0 = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    R = read_only(rng.standard_normal((N, T, H)))
    layer = cls(Wx, Wh, b, stateful=True)
    lstm = cls is TimeLSTM
    before = frozen(xs, h0, c0)

    def loss():
        layer.set_state(h0, c0) if lstm else layer.set_state(h0)
        return float(np.sum(layer.forward(xs) * R))

    loss()
    dxs = layer.backward(R)
    pairs = [("Wx", Wx, layer.dWx.copy()), ("Wh", Wh, layer.dWh.copy()),
             ("b", b, layer.db.copy()), ("xs", xs, dxs), ("h0 (.dh)", h0, layer.dh.copy())]
    if lstm:
        pairs.append(("c0 (.dc)", c0, layer.dc.copy()))
    for a, old in zip((xs, h0, c0), before):
        assert np.array_equal(a, old), "forward or backward wrote into its input"
    check(loss, pairs)


@pytest.mark.parametrize("cls", TIME_CLASSES)
@pytest.mark.parametrize("shape", [(3, 6, 4, 5), (1, 2, 4, 5)])
def test_time_layer_is_its_cells_unrolled(cls, shape, rng):
    """The lean loop computes what T cell objects compute, the sequel's way; for many
    rows and for fewer rows than the weights have (TimeLSTM prepares its weights
    differently then)."""
    N, T, D, H = shape
    Wx, Wh, b = weights(cls, D, H, rng)
    xs, dhs = rng.standard_normal((N, T, D)), rng.standard_normal((N, T, H))
    h0, c0 = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    layer = cls(Wx, Wh, b)
    lstm = cls is TimeLSTM
    layer.set_state(h0, c0) if lstm else layer.set_state(h0)
    hs = layer.forward(xs)
    dxs = layer.backward(dhs)

    cell_cls = {TimeRNN: RNN, TimeLSTM: LSTM, TimeGRU: GRU}[cls]
    cells, h, c, ref = [], h0, c0, []
    for t in range(T):
        cell = cell_cls(Wx, Wh, b)
        if lstm:
            h, c = cell.forward(xs[:, t], h, c)
        else:
            h = cell.forward(xs[:, t], h)
        cells.append(cell)
        ref.append(h)
    np.testing.assert_allclose(hs, np.stack(ref, axis=1), rtol=1e-12, atol=1e-12)
    dh, dc = np.zeros((N, H)), np.zeros((N, H))
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    ref_dxs = np.empty_like(xs)
    for t in reversed(range(T)):
        if lstm:
            ref_dxs[:, t], dh, dc = cells[t].backward(dhs[:, t] + dh, dc)
        else:
            ref_dxs[:, t], dh = cells[t].backward(dhs[:, t] + dh)
        dWx += cells[t].dWx
        dWh += cells[t].dWh
        db += cells[t].db
    for got, want in ((dxs, ref_dxs), (layer.dWx, dWx), (layer.dWh, dWh), (layer.db, db),
                      (layer.dh, dh)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    if lstm:
        np.testing.assert_allclose(layer.dc, dc, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls", TIME_CLASSES)
def test_stateful_carries_the_state_and_stateless_restarts(cls, rng):
    N, T, D, H = 2, 6, 3, 4
    xs = rng.standard_normal((N, T, D))
    w = weights(cls, D, H, rng)
    whole = cls(*w).forward(xs)
    layer = cls(*w, stateful=True)
    halves = np.concatenate((layer.forward(xs[:, :3]), layer.forward(xs[:, 3:])), axis=1)
    np.testing.assert_allclose(halves, whole, rtol=1e-12)
    np.testing.assert_array_equal(layer.h, whole[:, -1])
    # backward stops at the first step of its own forward: dh is the gradient of the
    # state this forward started from
    layer.backward(np.ones((N, 3, H)))
    assert layer.dh.shape == (N, H)
    layer.reset_state()
    np.testing.assert_allclose(layer.forward(xs[:, :3]), whole[:, :3], rtol=1e-12)

    stateless = cls(*w)
    stateless.forward(xs[:, :3])
    np.testing.assert_allclose(stateless.forward(xs[:, :3]), whole[:, :3], rtol=1e-12)


@pytest.mark.parametrize("cls", TIME_CLASSES)
def test_set_state_is_used_once_when_not_stateful(cls, rng):
    N, T, D, H = 2, 3, 3, 4
    layer = cls(*weights(cls, D, H, rng))
    xs = rng.standard_normal((N, T, D))
    zero_start = layer.forward(xs)
    layer.set_state(np.ones((N, H)))
    from_ones = layer.forward(xs)
    assert not np.allclose(from_ones, zero_start)
    np.testing.assert_array_equal(layer.forward(xs), zero_start)
    with pytest.raises(ValueError, match="expected"):
        layer.set_state(np.ones((N, H + 1)))
    layer = cls(*weights(cls, D, H, rng), stateful=True)
    layer.forward(xs)
    with pytest.raises(ValueError, match="streams"):
        layer.forward(xs[:1])


@pytest.mark.parametrize("cls", TIME_CLASSES)
def test_time_recurrent_float32(cls, rng):
    N, T, D, H = 2, 4, 3, 5
    Wx, Wh, b = weights(cls, D, H, rng, np.float32)
    layer = cls(Wx, Wh, b, stateful=True)
    layer.set_state(np.zeros((N, H)))  # float64 given: kept in the parameters' dtype
    assert layer.h.dtype == np.float32
    hs = layer.forward(rng.standard_normal((N, T, D)).astype(np.float32))
    assert hs.dtype == np.float32 and layer.h.dtype == np.float32
    dxs = layer.backward(read_only(np.ones((N, T, H), np.float32)))
    for a in (dxs, layer.dWx, layer.dWh, layer.db, layer.dh):
        assert a.dtype == np.float32
    if cls is TimeLSTM:
        assert layer.c.dtype == np.float32 and layer.dc.dtype == np.float32
    # and close to the float64 computation
    ref = cls(Wx.astype(np.float64), Wh.astype(np.float64), b.astype(np.float64))
    xs = rng.standard_normal((N, T, D))
    np.testing.assert_allclose(cls(Wx, Wh, b).forward(xs.astype(np.float32)),
                               ref.forward(xs), atol=1e-5)


def test_time_bilstm_gradients(rng):
    N, T, D, H = 2, 4, 3, 3
    p1, p2 = weights(TimeLSTM, D, H, rng), weights(TimeLSTM, D, H, rng)
    layer = TimeBiLSTM(*p1, *p2, stateful=True)
    xs = rng.standard_normal((N, T, D))
    h0, c0 = rng.standard_normal((N, 2 * H)), rng.standard_normal((N, 2 * H))
    R = read_only(rng.standard_normal((N, T, 2 * H)))

    def loss():
        layer.set_state(h0, c0)
        return float(np.sum(layer.forward(xs) * R))

    loss()
    dxs = layer.backward(R)
    pairs = [(name, getattr(layer, name), getattr(layer, "d" + name).copy())
             for name, _ in [("Wx1", 0), ("Wh1", 0), ("b1", 0), ("Wx2", 0), ("Wh2", 0), ("b2", 0)]]
    pairs += [("xs", xs, dxs), ("h0 (.dh)", h0, layer.dh.copy())]
    check(loss, pairs)


def test_time_bilstm_halves_are_the_two_directions(rng):
    N, T, D, H = 2, 5, 3, 4
    p1, p2 = weights(TimeLSTM, D, H, rng), weights(TimeLSTM, D, H, rng)
    xs = rng.standard_normal((N, T, D))
    hs = TimeBiLSTM(*p1, *p2).forward(xs)
    assert hs.shape == (N, T, 2 * H)
    np.testing.assert_allclose(hs[..., :H], TimeLSTM(*p1).forward(xs))
    np.testing.assert_allclose(hs[..., H:], TimeLSTM(*p2).forward(xs[:, ::-1])[:, ::-1])


# -- embedding ----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("vocab,size,zipf", [(65, 2048, False), (10000, 2048, False),
                                             (10000, 2048, True), (5, 300, False),
                                             (3, 7, False), (50, 1, False)])
def test_scatter_add_rows_equals_add_at_bit_for_bit(vocab, size, zipf, dtype, rng):
    idx = (np.minimum(rng.zipf(1.2, size) - 1, vocab - 1) if zipf
           else rng.integers(0, vocab, size))
    rows = rng.standard_normal((size, 8)).astype(dtype)
    expected = np.zeros((vocab, 8), dtype)
    np.add.at(expected, idx, rows)
    got = scatter_add_rows(idx, read_only(rows), vocab)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, expected)


def test_scatter_add_rows_all_one_id_and_empty():
    rows = np.arange(200.0).reshape(100, 2)
    expected = np.zeros((4, 2))
    np.add.at(expected, np.full(100, 2), rows)
    np.testing.assert_array_equal(scatter_add_rows(np.full(100, 2), rows, 4), expected)
    np.testing.assert_array_equal(scatter_add_rows(np.array([], int), np.zeros((0, 2)), 3),
                                  np.zeros((3, 2)))


@pytest.mark.parametrize("cls,shape", [(Embedding, (7,)), (Embedding, (2, 3, 2)),
                                       (TimeEmbedding, (3, 4))])
def test_embedding_gradient(cls, shape, rng):
    W = rng.standard_normal((5, 3))
    idx = rng.integers(0, 5, shape)
    idx[(0,) * len(shape)] = idx.flat[-1]  # a row used more than once
    layer = cls(W)
    out = layer.forward(idx)
    assert out.shape == shape + (3,)
    np.testing.assert_array_equal(out, W[idx])
    R = read_only(rng.standard_normal(out.shape))
    assert layer.backward(R) is None
    check(lambda: float(np.sum(layer.forward(idx) * R)), [("W", W, layer.dW.copy())])
    assert cls.needs_tokens


def test_embedding_float32_and_errors(rng):
    W = rng.standard_normal((5, 3)).astype(np.float32)
    layer = TimeEmbedding(W)
    out = layer.forward(np.array([[0, 4], [4, 1]]))
    assert out.dtype == np.float32
    layer.backward(np.ones((2, 2, 3)))  # float64 dout: the gradient in W's dtype
    assert layer.dW.dtype == np.float32 and layer.dW[4, 0] == 2
    with pytest.raises(ValueError, match=r"token id 5 at position \(1, 0\)"):
        layer.forward(np.array([[0, 1], [5, 2]]))
    with pytest.raises(ValueError, match="token id -1"):
        layer.forward(np.array([[0, -1]]))
    with pytest.raises(ValueError, match="integers"):
        layer.forward(np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"\(N, T\)"):
        layer.forward(np.zeros(3, int))


# -- affine, losses, dropout --------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_time_affine(dtype, rng):
    W, b = rng.standard_normal((4, 3)).astype(dtype), rng.standard_normal(3).astype(dtype)
    xs = rng.standard_normal((2, 5, 4)).astype(dtype)
    layer = TimeAffine(W, b)
    out = layer.forward(xs)
    assert out.shape == (2, 5, 3) and out.dtype == dtype
    np.testing.assert_allclose(out, xs @ W + b, rtol=1e-5)
    R = read_only(rng.standard_normal(out.shape).astype(dtype))
    dxs = layer.backward(R)
    assert dxs.dtype == dtype and layer.dW.dtype == dtype
    if dtype == np.float64:
        check(lambda: float(np.sum(layer.forward(xs) * R)),
              [("W", W, layer.dW.copy()), ("b", b, layer.db.copy()), ("xs", xs, dxs)])


@pytest.mark.parametrize("one_hot", [False, True])
def test_time_softmax_with_loss_gradient(one_hot, rng):
    N, T, V = 3, 4, 5
    xs = 3 * rng.standard_normal((N, T, V))
    ts = rng.integers(0, V, (N, T))
    ts[0, 1] = ts[2, 3] = -1
    labels = ts
    if one_hot:
        labels = np.zeros((N, T, V))
        for n, t in np.ndindex(N, T):
            if ts[n, t] >= 0:
                labels[n, t, ts[n, t]] = 1
    layer = TimeSoftmaxWithLoss()
    loss = layer.forward(xs, labels)
    valid = ts >= 0
    logp = xs - np.log(np.exp(xs).sum(axis=2, keepdims=True))
    expected = -np.mean(np.take_along_axis(logp, np.maximum(ts, 0)[..., None], 2)[..., 0][valid])
    assert loss == pytest.approx(expected, rel=1e-12)
    dxs = layer.backward(2.0)
    assert not dxs[0, 1].any() and not dxs[2, 3].any()
    check(lambda: 2.0 * layer.forward(xs, labels), [("xs", xs, dxs)])


def test_time_softmax_with_loss_numerics_and_errors():
    layer = TimeSoftmaxWithLoss()
    xs = np.array([[[1000.0, 0.0, -1000.0]]], dtype=np.float32)
    assert layer.forward(xs, np.array([[2]])) == pytest.approx(2000.0)
    dxs = layer.backward()
    assert dxs.dtype == np.float32 and np.isfinite(dxs).all()
    assert layer.forward(xs, np.array([[-1]])) == 0 and not layer.backward().any()
    with pytest.raises(ValueError, match=r"label 3 at position \(n=0, t=0\) is outside \[0, 3\)"):
        layer.forward(xs, np.array([[3]]))
    with pytest.raises(ValueError, match="label -2"):
        layer.forward(xs, np.array([[-2]]))
    with pytest.raises(ValueError, match="shape"):
        layer.forward(xs, np.array([[0, 1]]))
    with pytest.raises(ValueError, match="integers"):
        layer.forward(xs, np.array([[0.5]]))
    with pytest.raises(ValueError, match=r"\(N, T, V\)"):
        layer.forward(xs[0], np.array([0]))
    ignore_zero = TimeSoftmaxWithLoss(ignore_label=0)
    assert ignore_zero.forward(np.zeros((1, 2, 3)), np.array([[0, 1]])) == pytest.approx(np.log(3))


def test_sigmoid_with_loss(rng):
    x = 4 * rng.standard_normal((6,))
    t = rng.integers(0, 2, 6)
    layer = SigmoidWithLoss()
    y = 1 / (1 + np.exp(-x))
    expected = -np.mean(t * np.log(y) + (1 - t) * np.log(1 - y))
    assert layer.forward(x, t) == pytest.approx(expected, rel=1e-12)
    dx = layer.backward(3.0)
    np.testing.assert_allclose(dx, (y - t) * 3.0 / 6)
    check(lambda: 3.0 * layer.forward(x, t), [("x", x, dx)])
    big = np.array([800.0, -800.0], dtype=np.float32)
    assert layer.forward(big, np.array([0, 1])) == pytest.approx(800.0)
    assert layer.backward().dtype == np.float32
    with pytest.raises(ValueError, match="shape"):
        layer.forward(x, t[:3])
    with pytest.raises(ValueError, match="0s and 1s"):
        layer.forward(x, t + 1)


def test_time_dropout(rng):
    xs = np.ones((4, 5, 6), dtype=np.float32)
    layer = TimeDropout(0.5, rng=0)
    ys = layer.forward(xs)
    assert ys.dtype == np.float32 and set(np.unique(ys)) <= {0.0, 2.0}
    dout = read_only(np.full(xs.shape, 3.0, np.float32))
    np.testing.assert_array_equal(layer.backward(dout), ys * 3.0)
    np.testing.assert_array_equal(TimeDropout(0.5, rng=0).forward(xs), ys)
    np.testing.assert_array_equal(layer.forward(xs, train_flg=False), xs)
    assert TimeDropout.draws_random and TimeDropout.has_train_mode
    assert registry.describe(TimeDropout).text_name is None
    np.random.seed(3)
    a = TimeDropout().forward(xs)
    np.random.seed(3)
    np.testing.assert_array_equal(TimeDropout().forward(xs), a)


# -- attention ----------------------------------------------------------------------------
def test_time_attention_gradients_and_per_step_equivalence(rng):
    N, Te, Td, H = 2, 4, 3, 5
    hs_enc, hs_dec = rng.standard_normal((N, Te, H)), rng.standard_normal((N, Td, H))
    layer = TimeAttention()
    out = layer.forward(hs_enc, hs_dec)
    assert out.shape == (N, Td, H)
    assert len(layer.attention_weights) == Td
    assert layer.attention_weights[0].shape == (N, Te)
    R = read_only(rng.standard_normal(out.shape))
    d_enc, d_dec = layer.backward(R)
    ref_enc = np.zeros_like(hs_enc)
    for t in range(Td):
        step = Attention()
        np.testing.assert_allclose(step.forward(hs_enc, hs_dec[:, t]), out[:, t], rtol=1e-12)
        np.testing.assert_allclose(step.attention_weight, layer.attention_weights[t])
        dhs, dh = step.backward(R[:, t])
        ref_enc += dhs
        np.testing.assert_allclose(dh, d_dec[:, t], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(d_enc, ref_enc, rtol=1e-10, atol=1e-12)
    loss = lambda: float(np.sum(layer.forward(hs_enc, hs_dec) * R))  # noqa: E731
    check(loss, [("hs_enc", hs_enc, d_enc), ("hs_dec", hs_dec, d_dec)])
    f32 = TimeAttention().forward(hs_enc.astype(np.float32), hs_dec.astype(np.float32))
    assert f32.dtype == np.float32


# -- clip_grads ---------------------------------------------------------------------------
def test_clip_grads():
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]], dtype=np.float32)}
    norm = clip_grads(grads, 1.0)
    assert norm == pytest.approx(5.0)
    np.testing.assert_allclose(grads["a"], [3 / (5 + 1e-6), 0])
    assert grads["b"].dtype == np.float32
    np.testing.assert_allclose(grads["b"], [[4 / (5 + 1e-6)]], rtol=1e-6)
    small = [np.array([0.3, 0.4])]
    assert clip_grads(small, 1.0) == pytest.approx(0.5)
    np.testing.assert_array_equal(small[0], [0.3, 0.4])
    shared = np.array([6.0, 8.0])
    assert clip_grads([shared, shared], 5.0) == pytest.approx(10.0)
    np.testing.assert_allclose(shared, [3.0, 4.0], rtol=1e-6)


def test_clip_grads_refuses_without_scaling_anything():
    writable = np.array([30.0])
    broadcast = np.broadcast_to(np.array([40.0]), (2,))
    with pytest.raises(ValueError, match="read-only"):
        clip_grads({"w": writable, "v": broadcast}, 1.0)
    assert writable[0] == 30.0
    with pytest.raises(ValueError, match="positive"):
        clip_grads([writable], 0)
    with pytest.raises(TypeError):
        clip_grads(writable, 1.0)
    nan = np.array([np.nan, 1.0])
    assert np.isnan(clip_grads([nan], 1.0)) and nan[1] == 1.0


# -- the text form and what the layers say of themselves -----------------------------------
@pytest.mark.parametrize("name,cls,args,shape,out,params", [
    ("embed", TimeEmbedding, (8,), (5,), (5, 8), {"W": (11, 8)}),
    ("rnn", TimeRNN, (6,), (5, 3), (5, 6), {"Wx": (3, 6), "Wh": (6, 6), "b": (6,)}),
    ("lstm", TimeLSTM, (6,), (5, 3), (5, 6), {"Wx": (3, 24), "Wh": (6, 24), "b": (24,)}),
    ("gru", TimeGRU, (6,), (5, 3), (5, 6), {"Wx": (3, 18), "Wh": (6, 18), "b": (18,)}),
    ("bilstm", TimeBiLSTM, (6,), (5, 3), (5, 12), {"Wx1": (3, 24), "Wh2": (6, 24)}),
])
def test_text_forms_build(name, cls, args, shape, out, params):
    assert registry.TEXT_LAYERS[name] is cls
    kwargs = {"vocab": 11} if cls is TimeEmbedding else {}
    spec = registry.from_text(cls, *args, **kwargs)
    layer = spec.build(shape, np.float32, np.random.default_rng(0))
    assert type(layer) is cls
    for attr, want in params.items():
        assert getattr(layer, attr).shape == want
        assert getattr(layer, attr).dtype == np.float32
    assert registry.output_shape(layer, shape) == out
    # text_args round-trips through the text form
    again = registry.from_text(cls, **layer.text_args()).build(shape, np.float32, None)
    assert registry.output_shape(again, shape) == out
    assert type(layer)(**{a: getattr(layer, a) for a, _ in cls.parameters},
                       **layer.get_config()).get_config() == layer.get_config()


def test_text_form_details():
    spec = registry.from_text(TimeLSTM, 4, stateful="true")
    assert spec.args == {"hidden": 4, "stateful": True}
    layer = spec.build((7, 2), np.float64, np.random.default_rng(0))
    assert layer.stateful and layer.get_config() == {"stateful": True}
    assert not registry.from_text(TimeRNN, 4).build((7, 2), np.float64, None).stateful
    # Xavier as the sequel: Wx ~ N(0, 1/D), Wh ~ N(0, 1/H), b = 0
    big = TimeLSTM.build((3, 400), np.float64, np.random.default_rng(0), 100)
    assert big.Wx.std() == pytest.approx(1 / 20, rel=0.05)
    assert big.Wh.std() == pytest.approx(1 / 10, rel=0.05)
    assert not big.b.any()
    embed = TimeEmbedding.build((3,), np.float64, np.random.default_rng(0), 50, vocab=400)
    assert embed.W.std() == pytest.approx(0.01, rel=0.05)
    with pytest.raises(ValueError, match="embed needs vocab="):
        registry.from_text(TimeEmbedding, 8).build((5,), np.float32, None)
    with pytest.raises(ValueError, match="stateful"):
        registry.from_text(TimeGRU, 4, stateful="maybe")
    with pytest.raises(ValueError, match="hidden"):
        registry.from_text(TimeLSTM, 0)
    with pytest.raises(ValueError, match="sequence"):
        TimeLSTM.build((3,), np.float32, None, 4)
    assert registry.describe(TimeEmbedding).needs_tokens
    for cls in (TimeSoftmaxWithLoss, SigmoidWithLoss, TimeAttention, Embedding):
        assert registry.describe(cls).text_name is None
    # TimeAffine is what `affine(M)` builds where a sequence arrives, and written so
    assert TimeAffine.text_alias and registry.TEXT_LAYERS["affine"] is not TimeAffine


def test_docs_example_runs(capsys):
    """The example of docs/sequences.md runs and its language model learns."""
    from pathlib import Path
    doc = (Path(__file__).resolve().parent.parent / "docs" / "sequences.md").read_text()
    code = doc.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "docs/sequences.md", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    first, last = (float(line.split("loss ")[1].split()[0]) for line in (lines[0], lines[-1]))
    assert last < first / 2


def _built(name, cls, rng):
    shape = (5,) if cls is TimeEmbedding else (5, 3)
    kwargs = {"vocab": 11} if cls is TimeEmbedding else {}
    layer = registry.from_text(cls, 4, **kwargs).build(shape, np.float64, rng)
    if cls is TimeEmbedding:
        xs = rng.integers(0, 11, (2,) + shape)
    else:
        xs = rng.standard_normal((2,) + shape)
    return layer, shape, xs


@pytest.mark.parametrize("cls", [TimeEmbedding, TimeRNN, TimeLSTM, TimeGRU, TimeBiLSTM])
def test_output_shape_rebuild_and_read_only_inputs(cls, rng):
    layer, shape, xs = _built(cls.text_name, cls, rng)
    xs = read_only(xs)
    out = layer.forward(xs)
    assert out.shape[1:] == registry.output_shape(layer, shape) == layer.output_shape(shape)
    arrays = {a: getattr(layer, a) for a, _ in cls.parameters}
    rebuilt = cls(**arrays, **layer.get_config())
    np.testing.assert_array_equal(rebuilt.forward(xs), out)
    layer.backward(read_only(np.ones_like(out)))  # read-only inputs and dout: no write


def test_time_affine_and_losses_with_read_only_inputs(rng):
    W, b = read_only(rng.standard_normal((3, 4))), read_only(np.zeros(4))
    layer = TimeAffine(W, b)
    xs = read_only(rng.standard_normal((2, 5, 3)))
    out = layer.forward(xs)
    assert layer.output_shape((5, 3)) == out.shape[1:]
    np.testing.assert_array_equal(TimeAffine(W, b, **layer.get_config()).forward(xs), out)
    layer.backward(read_only(out))
    loss = TimeSoftmaxWithLoss(**TimeSoftmaxWithLoss(ignore_label=2).get_config())
    assert loss.ignore_label == 2
    loss.forward(read_only(out), read_only(rng.integers(0, 4, (2, 5))))
    loss.backward()
    sig = SigmoidWithLoss()
    sig.forward(read_only(out), read_only(np.ones(out.shape)))
    sig.backward()
    att = TimeAttention()
    att.forward(read_only(out), read_only(out[:, :2]))
    att.backward(read_only(np.ones((2, 2, 4))))
