"""AdamW: the formula step by step, which parameters decay, the optimizer protocol, and
(where PyTorch is installed) the same parameters as torch.optim.AdamW after several steps."""

import json

import numpy as np
import pytest

from chainrule.optimizers import AdamW
from chainrule.optimizers import Adam, Optimizer
from conftest import read_only


def make_params(rng, dtype=np.float64):
    return {"W1": rng.standard_normal((4, 3)).astype(dtype),
            "b1": rng.standard_normal(3).astype(dtype),
            "gamma": rng.standard_normal(3).astype(dtype),
            "E": rng.standard_normal((2, 3, 2)).astype(dtype)}


def reference_steps(params, grad_list, lr, beta1, beta2, wd, eps, decays):
    """The formula as written: p <- p - lr (m_hat / (sqrt(v_hat) + eps) + wd p)."""
    p = {k: v.copy() for k, v in params.items()}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(x) for k, x in p.items()}
    for t, grads in enumerate(grad_list, start=1):
        for k in p:
            g = grads[k]
            m[k] = beta1 * m[k] + (1 - beta1) * g
            v[k] = beta2 * v[k] + (1 - beta2) * g * g
            m_hat = m[k] / (1 - beta1 ** t)
            v_hat = v[k] / (1 - beta2 ** t)
            decay = wd * p[k] if decays(k, p[k]) else 0.0
            p[k] = p[k] - lr * (m_hat / (np.sqrt(v_hat) + eps) + decay)
    return p


def test_steps_follow_the_formula(rng):
    params = make_params(rng)
    start = {k: v.copy() for k, v in params.items()}
    grad_list = [{k: rng.standard_normal(v.shape) for k, v in params.items()} for _ in range(6)]
    opt = AdamW(lr=0.01, weight_decay=0.1)
    for grads in grad_list:
        opt.update(params, {k: read_only(g) for k, g in grads.items()})
    expected = reference_steps(start, grad_list, 0.01, 0.9, 0.999, 0.1, 1e-8,
                               lambda name, p: p.ndim >= 2)
    for k in params:
        np.testing.assert_allclose(params[k], expected[k], rtol=1e-13, atol=1e-15)


def test_default_decays_matrices_only(rng):
    params = make_params(rng)
    start = {k: v.copy() for k, v in params.items()}
    zeros = {k: np.zeros_like(v) for k, v in params.items()}  # the Adam step is then 0
    AdamW(lr=0.1, weight_decay=0.5).update(params, zeros)
    for k in ("W1", "E"):
        np.testing.assert_array_equal(params[k], start[k] * (1 - 0.1 * 0.5))
    for k in ("b1", "gamma"):
        np.testing.assert_array_equal(params[k], start[k])


@pytest.mark.parametrize("decay", [{"b1"}, ["b1"], lambda name, p: name.startswith("b")])
def test_decay_chosen_by_name_or_function(decay, rng):
    params = make_params(rng)
    start = {k: v.copy() for k, v in params.items()}
    zeros = {k: np.zeros_like(v) for k, v in params.items()}
    AdamW(lr=0.1, weight_decay=0.5, decay=decay).update(params, zeros)
    np.testing.assert_array_equal(params["b1"], start["b1"] * 0.95)
    for k in ("W1", "gamma", "E"):
        np.testing.assert_array_equal(params[k], start[k])


def test_no_decay_is_adam(rng):
    params = make_params(rng)
    twin = {k: v.copy() for k, v in params.items()}
    a, b = AdamW(lr=0.01, weight_decay=0.0), Adam(lr=0.01)
    for _ in range(3):
        grads = {k: rng.standard_normal(v.shape) for k, v in params.items()}
        a.update(params, grads)
        b.update(twin, grads)
    for k in params:
        np.testing.assert_array_equal(params[k], twin[k])


def test_in_place_float32_and_grads_untouched(rng):
    params = make_params(rng, np.float32)
    held = dict(params)  # what the layers hold
    grads = {k: read_only(rng.standard_normal(v.shape).astype(np.float32))
             for k, v in params.items()}
    AdamW(lr=0.01).update(params, grads)
    for k in params:
        assert params[k] is held[k] and params[k].dtype == np.float32


def test_lr_schedule_reaches_the_decay(rng):
    params = {"W": np.ones((2, 2))}
    opt = AdamW(lr=0.1, weight_decay=1.0)
    opt.lr = 0.01
    opt.update(params, {"W": np.zeros((2, 2))})
    np.testing.assert_array_equal(params["W"], np.full((2, 2), 0.99))


def test_refused_update_changes_nothing(rng):
    params = make_params(rng)
    start = {k: v.copy() for k, v in params.items()}
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    grads["E"] = np.zeros(3)
    with pytest.raises(ValueError, match="gradient of E"):
        AdamW(lr=0.1, weight_decay=0.5).update(params, grads)
    for k in params:
        np.testing.assert_array_equal(params[k], start[k])
    with pytest.raises(ValueError, match="no gradient"):
        AdamW().update(params, {})


def test_hyperparameters_and_state_round_trip(rng):
    opt = AdamW(lr=0.003, weight_decay=0.1, decay={"W1", "E"})
    assert isinstance(opt, Adam) and isinstance(opt, Optimizer)
    settings = opt.hyperparameters()
    assert json.loads(json.dumps(settings)) == settings
    assert settings["decay"] == ["E", "W1"] and settings["weight_decay"] == 0.1
    params = make_params(rng)
    for _ in range(2):
        opt.update(params, {k: rng.standard_normal(v.shape) for k, v in params.items()})
    again = AdamW(**settings)  # as a checkpoint rebuilds it
    again.load_state_dict(opt.state_dict(), params)
    twin = {k: v.copy() for k, v in params.items()}
    grads = {k: rng.standard_normal(v.shape) for k, v in params.items()}
    opt.update(params, grads)
    again.update(twin, grads)
    for k in params:
        np.testing.assert_array_equal(params[k], twin[k])
    assert "decay" not in AdamW().hyperparameters()
    assert "decay" not in AdamW(decay=lambda n, p: True).hyperparameters()


def test_bad_settings_refused():
    with pytest.raises(ValueError, match="weight_decay"):
        AdamW(weight_decay=-0.1)
    with pytest.raises(TypeError, match="one string"):
        AdamW(decay="W1")
    with pytest.raises(ValueError, match="lr"):
        AdamW(lr=0)


def test_against_torch(rng):
    torch = pytest.importorskip("torch")
    params = make_params(rng)
    tparams = {k: torch.tensor(v.copy(), dtype=torch.float64, requires_grad=True)
               for k, v in params.items()}
    decayed = [tparams[k] for k in params if params[k].ndim >= 2]
    rest = [tparams[k] for k in params if params[k].ndim < 2]
    settings = dict(lr=0.02, beta1=0.85, beta2=0.99, weight_decay=0.3, eps=1e-6)
    opt = AdamW(**settings)
    topt = torch.optim.AdamW([{"params": decayed, "weight_decay": 0.3},
                              {"params": rest, "weight_decay": 0.0}],
                             lr=0.02, betas=(0.85, 0.99), eps=1e-6, foreach=False)
    for step in range(8):
        grads = {k: rng.standard_normal(v.shape) for k, v in params.items()}
        opt.update(params, grads)
        for k, tp in tparams.items():
            tp.grad = torch.tensor(grads[k])
        topt.step()
        if step == 4:  # a schedule: both see the new rate
            opt.lr = 0.005
            for group in topt.param_groups:
                group["lr"] = 0.005
    for k in params:
        got, expected = params[k], tparams[k].detach().numpy()
        # Parameters of order 1 after steps of order lr: what differs is the rounding of
        # Adam's step (bias corrections folded into scalars here, not in torch), 1e-16
        # of each step.
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-14)
