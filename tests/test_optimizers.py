"""Optimizers: each update against its formula, computed here independently.

The references below are written straight from the papers' update rules, one plain
NumPy expression per line, with their own state; the library's versions are optimised
(in-place operations, Adam's bias corrections folded into one scalar) and must agree.
"""

import numpy as np
import pytest

from chainrule import models
from chainrule.optimizers import (OPTIMIZERS, SGD, AdaGrad, Adam, Momentum, Nesterov,
                                  RMSprop, make_optimizer)


# -- reference implementations ---------------------------------------------------------
def ref_sgd(w, grads, lr):
    for g in grads:
        w = w - lr * g
    return w


def ref_momentum(w, grads, lr, mu):
    v = np.zeros_like(w)
    for g in grads:
        v = mu * v - lr * g
        w = w + v
    return w


def ref_nesterov(w, grads, lr, mu):
    # The form of Sutskever et al. (2013) rewritten for the parameters themselves, as
    # most frameworks implement it: look ahead along the *updated* velocity.
    v = np.zeros_like(w)
    for g in grads:
        v = mu * v - lr * g
        w = w + mu * v - lr * g
    return w


def ref_adagrad(w, grads, lr, eps):
    h = np.zeros_like(w)
    for g in grads:
        h = h + g * g
        w = w - lr * g / (np.sqrt(h) + eps)
    return w


def ref_rmsprop(w, grads, lr, rho, eps):
    h = np.zeros_like(w)
    for g in grads:
        h = rho * h + (1 - rho) * g * g
        w = w - lr * g / (np.sqrt(h) + eps)
    return w


def ref_adam(w, grads, lr, b1, b2, eps):
    # Kingma & Ba (2015), Algorithm 1, literally.
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1 ** t)
        v_hat = v / (1 - b2 ** t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
    return w


CASES = [
    (SGD(lr=0.05), lambda w, gs: ref_sgd(w, gs, 0.05)),
    (Momentum(lr=0.05, momentum=0.8), lambda w, gs: ref_momentum(w, gs, 0.05, 0.8)),
    (Nesterov(lr=0.05, momentum=0.8), lambda w, gs: ref_nesterov(w, gs, 0.05, 0.8)),
    (AdaGrad(lr=0.05, eps=1e-7), lambda w, gs: ref_adagrad(w, gs, 0.05, 1e-7)),
    (RMSprop(lr=0.05, decay_rate=0.9, eps=1e-7),
     lambda w, gs: ref_rmsprop(w, gs, 0.05, 0.9, 1e-7)),
    (Adam(lr=0.05, beta1=0.8, beta2=0.95, eps=1e-8),
     lambda w, gs: ref_adam(w, gs, 0.05, 0.8, 0.95, 1e-8)),
]
IDS = [type(opt).__name__ for opt, _ in CASES]


def fresh(optimizer):
    """A new optimizer of the same kind and settings (the CASES objects keep state)."""
    return type(optimizer)(**optimizer.hyperparameters())


@pytest.mark.parametrize("optimizer,reference", CASES, ids=IDS)
def test_update_matches_the_formula(optimizer, reference):
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(6)]
    opt = fresh(optimizer)
    w = w0.copy()
    for g in grads:
        opt.update({"w": w}, {"w": g})
    expected = reference(w0, grads)
    # Not equal bit for bit: the library folds constants differently (Adam's bias
    # corrections), but far closer than any real difference between two rules.
    np.testing.assert_allclose(w, expected, rtol=1e-12, atol=1e-14)
    assert not np.allclose(w, w0), "the parameters did not move"


@pytest.mark.parametrize("optimizer,reference", CASES, ids=IDS)
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_large_parameters_updated_in_blocks_match_the_formula(optimizer, reference, layout,
                                                              monkeypatch):
    """A parameter of many blocks, with a last block shorter than the others; the
    transposed one cannot be split into views and must be updated whole, in place."""
    from chainrule import optimizers
    monkeypatch.setattr(optimizers, "BLOCK", 7)
    rng = np.random.default_rng(4)
    w0 = rng.standard_normal((9, 11))
    grads = [rng.standard_normal((9, 11)) for _ in range(4)]
    w = w0.copy() if layout == "contiguous" else np.asfortranarray(w0)
    held = w
    opt = fresh(optimizer)
    for g in grads:
        opt.update({"w": w}, {"w": g})
    assert held is w
    np.testing.assert_allclose(w, reference(w0, grads), rtol=1e-12, atol=1e-14)


def test_blocks_cover_every_element_once():
    from chainrule.optimizers import _blocks
    import chainrule.optimizers as optimizers
    a = np.arange(3 * optimizers.BLOCK + 5, dtype=np.float64)
    b = -a
    seen = []
    for pa, pb in _blocks(a, b):
        assert np.shares_memory(pa, a) and np.array_equal(pb, -pa)
        seen.append(pa.copy())
    assert len(seen) == 4
    np.testing.assert_array_equal(np.concatenate(seen), a)


def test_nesterov_is_not_the_books_variant():
    """The book's code adds the velocity once more; the two must be told apart."""
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal(5)
    grads = [rng.standard_normal(5) for _ in range(3)]
    lr, mu = 0.1, 0.9
    v = np.zeros(5)
    book = w0.copy()
    for g in grads:
        v = mu * v - lr * g
        book = book + mu * mu * v - (1 + mu) * lr * g  # the already updated v
    w = w0.copy()
    opt = Nesterov(lr=lr, momentum=mu)
    for g in grads:
        opt.update({"w": w}, {"w": g})
    assert not np.allclose(w, book)
    np.testing.assert_allclose(w, ref_nesterov(w0, grads, lr, mu), rtol=1e-12)


@pytest.mark.parametrize("optimizer,reference", CASES, ids=IDS)
def test_updates_in_place_and_never_writes_grads(optimizer, reference):
    rng = np.random.default_rng(2)
    params = {"W": rng.standard_normal((4, 3)), "b": rng.standard_normal(3)}
    ids = {k: id(v) for k, v in params.items()}
    held = dict(params)  # what a layer holds: the same array objects
    before = {k: v.copy() for k, v in params.items()}
    grads = {k: rng.standard_normal(v.shape) for k, v in params.items()}
    saved = {k: g.copy() for k, g in grads.items()}
    for g in grads.values():
        g.setflags(write=False)  # any write into a gradient now raises
    opt = fresh(optimizer)
    for _ in range(3):
        opt.update(params, grads)
    for k in params:
        assert id(params[k]) == ids[k]
        assert held[k] is params[k]
        assert not np.array_equal(held[k], before[k]), f"{k} did not change"
        assert np.array_equal(grads[k], saved[k])


@pytest.mark.parametrize("optimizer,reference", CASES, ids=IDS)
def test_float32_stays_float32(optimizer, reference):
    rng = np.random.default_rng(3)
    w = rng.standard_normal((5, 2)).astype(np.float32)
    opt = fresh(optimizer)
    for _ in range(3):
        g = rng.standard_normal((5, 2)).astype(np.float32)
        opt.update({"w": w}, {"w": g})
    assert w.dtype == np.float32
    for name, value in opt.state_dict().items():
        if name != "iter":
            assert value.dtype == np.float32, name


@pytest.mark.parametrize("name,lr,steps", [("sgd", 0.1, 300), ("momentum", 0.05, 300),
                                           ("nesterov", 0.05, 300), ("adagrad", 0.5, 500),
                                           ("rmsprop", 0.01, 800), ("adam", 0.05, 800)])
def test_minimises_a_quadratic(name, lr, steps):
    """f(w) = 1/2 sum a (w - c)^2 with unequal curvatures; its minimum is w = c."""
    a = np.array([1.0, 3.0, 0.5, 2.0])
    c = np.array([1.0, -2.0, 0.5, 3.0])
    w = np.zeros(4)
    opt = make_optimizer(name, lr=lr)
    start = 0.5 * np.sum(a * (w - c) ** 2)
    for _ in range(steps):
        opt.update({"w": w}, {"w": a * (w - c)})
    end = 0.5 * np.sum(a * (w - c) ** 2)
    assert end < 1e-3 * start
    np.testing.assert_allclose(w, c, atol=0.05)


def small_models():
    rng = np.random.default_rng(4)
    yield "TwoLayerNet", models.TwoLayerNet(12, 6, 3, rng=rng), (5, 12)
    yield "MultiLayerNet+bn+decay", models.MultiLayerNet(
        12, [7, 5], 3, use_batchnorm=True, weight_decay_lambda=0.1, rng=rng), (5, 12)
    yield "SimpleConvNet", models.SimpleConvNet(
        (1, 8, 8), {"filter_num": 2, "filter_size": 3, "pad": 0, "stride": 1},
        hidden_size=5, output_size=3, rng=rng), (3, 1, 8, 8)


@pytest.mark.parametrize("label", ["TwoLayerNet", "MultiLayerNet+bn+decay", "SimpleConvNet"])
def test_every_parameter_updated_exactly_once(label):
    """The seed updated ("W1", "b2", "W2", "b2"): b1 never, b2 twice. With lr = 1 an
    SGD step must subtract each gradient from its parameter exactly once."""
    name, net, shape = next(m for m in small_models() if m[0] == label)
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape)
    t = rng.integers(0, 3, shape[0])
    grads = net.gradient(x, t)
    assert list(grads) == list(net.params)
    before = {k: v.copy() for k, v in net.params.items()}
    SGD(lr=1.0).update(net.params, grads)
    for k in net.params:
        assert np.any(grads[k] != 0), f"{k} has a zero gradient: the test would be vacuous"
        assert np.array_equal(net.params[k], before[k] - grads[k]), k


def test_deep_conv_net_updates_every_parameter_once():
    net = models.DeepConvNet(rng=0)
    rng = np.random.default_rng(6)
    x = rng.random((2, 1, 28, 28))
    grads = net.gradient(x, np.array([3, 7]))
    assert set(grads) == set(net.params)
    before = {k: v.copy() for k, v in net.params.items()}
    SGD(lr=1.0).update(net.params, grads)
    for k in net.params:
        assert np.array_equal(net.params[k], before[k] - grads[k]), k


def test_missing_or_misshapen_gradient_is_refused():
    w = np.zeros(3)
    with pytest.raises(ValueError, match="no gradient for"):
        SGD().update({"w": w, "b": np.zeros(1)}, {"w": np.ones(3)})
    with pytest.raises(ValueError, match="shape"):
        Adam().update({"w": w}, {"w": np.ones(4)})


@pytest.mark.parametrize("optimizer,reference", CASES, ids=IDS)
def test_state_round_trip_continues_identically(optimizer, reference):
    rng = np.random.default_rng(7)
    w = rng.standard_normal(6)
    grads = [rng.standard_normal(6) for _ in range(6)]
    a = fresh(optimizer)
    w_a = w.copy()
    for g in grads:
        a.update({"w": w_a}, {"w": g})

    b = fresh(optimizer)
    w_b = w.copy()
    for g in grads[:3]:
        b.update({"w": w_b}, {"w": g})
    state = {k: np.array(v) for k, v in b.state_dict().items()}
    c = fresh(optimizer)
    c.load_state_dict(state, {"w": w_b})
    for g in grads[3:]:
        c.update({"w": w_b}, {"w": g})
    assert np.array_equal(w_a, w_b)


def test_state_for_another_network_is_refused():
    opt = Adam()
    w = np.zeros((2, 3))
    opt.update({"w": w}, {"w": np.ones((2, 3))})
    state = opt.state_dict()
    with pytest.raises(ValueError, match="shape"):
        Adam().load_state_dict(state, {"w": np.zeros((3, 2))})
    with pytest.raises(ValueError, match="does not have"):
        Adam().load_state_dict(state, {"u": np.zeros((2, 3))})
    with pytest.raises(ValueError, match="keeps no state"):
        SGD().load_state_dict(state)


@pytest.mark.parametrize("cls,kwargs", [(SGD, {"lr": 0}), (SGD, {"lr": -1}),
                                        (SGD, {"lr": float("nan")}),
                                        (Momentum, {"momentum": 1.0}),
                                        (RMSprop, {"decay_rate": 1.5}),
                                        (Adam, {"beta2": -0.1}), (AdaGrad, {"eps": 0})])
def test_bad_settings_are_refused(cls, kwargs):
    with pytest.raises(ValueError):
        cls(**kwargs)


def test_make_optimizer_by_name():
    assert isinstance(make_optimizer("ADAM", lr=0.1), Adam)
    assert make_optimizer("sgd", lr=0.3).lr == 0.3
    opt = Momentum()
    assert make_optimizer(opt) is opt
    assert set(OPTIMIZERS) == {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam",
                               "adamw"}
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("lbfgs")


def test_contract_defaults():
    """The defaults api.md promises."""
    assert SGD().lr == 0.01
    assert (Momentum().lr, Momentum().momentum) == (0.01, 0.9)
    assert (Nesterov().lr, Nesterov().momentum) == (0.01, 0.9)
    assert AdaGrad().lr == 0.01
    assert (RMSprop().lr, RMSprop().decay_rate) == (0.01, 0.99)
    assert (Adam().lr, Adam().beta1, Adam().beta2) == (0.001, 0.9, 0.999)


# -- plain numbers as parameters (the book's chapter 6.1 minimises f(x, y) this way) -----
@pytest.mark.parametrize("optimizer,reference", CASES, ids=IDS)
def test_plain_numbers_are_replaced_with_their_update(optimizer, reference):
    rng = np.random.default_rng(1)
    grads_x = [float(g) for g in rng.standard_normal(5)]
    grads_y = [int(g) for g in rng.integers(-3, 4, 5)]  # an int gradient is a number too
    w0 = rng.standard_normal((2, 3))
    grads_w = [rng.standard_normal((2, 3)) for _ in range(5)]
    opt = fresh(optimizer)
    w = w0.copy()
    params = {"x": -7.0, "y": 2, "w": w}
    for gx, gy, gw in zip(grads_x, grads_y, grads_w):
        opt.update(params, {"x": gx, "y": gy, "w": gw})
    for key in ("x", "y"):
        assert type(params[key]) is float
    assert params["w"] is w  # arrays are still updated in place
    np.testing.assert_allclose(params["x"], reference(np.float64(-7.0), grads_x),
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(params["y"], reference(np.float64(2.0), grads_y),
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(w, reference(w0, grads_w), rtol=1e-12, atol=1e-14)


def test_the_books_naive_comparison_reaches_the_minimum():
    # f(x, y) = x^2 / 20 + y^2 from (-7, 2), 30 steps each, the book's learning rates.
    settings = {"SGD": 0.95, "Momentum": 0.1, "AdaGrad": 1.5, "Adam": 0.3}
    for name, lr in settings.items():
        opt = make_optimizer(name, lr=lr)
        params = {"x": -7.0, "y": 2.0}
        start = params["x"] ** 2 / 20 + params["y"] ** 2
        for _ in range(30):
            opt.update(params, {"x": params["x"] / 10.0, "y": 2.0 * params["y"]})
        end = params["x"] ** 2 / 20 + params["y"] ** 2
        assert end < 0.25 * start, name


def test_plain_number_state_round_trips():
    opt = Adam(lr=0.1)
    params = {"x": 1.0}
    opt.update(params, {"x": 0.5})
    again = Adam(lr=0.1)
    again.load_state_dict(opt.state_dict(), params)
    other = dict(params)
    opt.update(params, {"x": -0.25})
    again.update(other, {"x": -0.25})
    assert params["x"] == other["x"]


def test_a_parameter_that_is_no_number_is_refused():
    with pytest.raises(TypeError, match="parameter x is a str"):
        SGD().update({"x": "1.0"}, {"x": 0.1})
    with pytest.raises(TypeError, match="parameter x is a bool"):
        SGD().update({"x": True}, {"x": 0.1})
    with pytest.raises(ValueError, match=r"gradient of x has shape \(2,\)"):
        SGD().update({"x": 1.0}, {"x": np.ones(2)})
    with pytest.raises(ValueError, match=r"gradient of w has shape \(\), parameter has \(2,\)"):
        SGD().update({"w": np.ones(2)}, {"w": 0.5})


def test_warmup_cosine_is_gpts_schedule():
    from chainrule.optimizers import WarmupCosine, lr_schedule
    schedule = WarmupCosine(100, 0.1)
    assert schedule.at(0, 2000) == pytest.approx(1 / 101)
    assert schedule.at(99, 2000) == pytest.approx(100 / 101)
    assert schedule.at(100, 2000) == pytest.approx(1.0)
    assert schedule.at(1050, 2000) == pytest.approx(0.1 + 0.9 * 0.5)  # half way down
    assert schedule.at(2000, 2000) == pytest.approx(0.1)
    name, again = lr_schedule(schedule.name)
    assert name == "warmup-cosine:100:0.1" and again.at(1050, 2000) == schedule.at(1050, 2000)
    with pytest.raises(ValueError, match="warmup-cosine:WARMUP:FLOOR"):
        lr_schedule("warmup-cosine:ten:0.1")
