"""The gradient check on a sample of each parameter's elements: seeded, the same
figures as the full check at those elements, and the command shows its progress."""

import numpy as np
from no_traceback import run

from chainrule import layers, models
from chainrule.gradient import gradient_check, numerical_gradient, sample_positions


def small_net_and_batch():
    rng = np.random.default_rng(3)
    net = models.TwoLayerNet(12, 6, 4, rng=1, weight_init_std=0.5)
    return net, rng.random((3, 12)), np.array([0, 2, 3])


def test_the_sample_is_seeded_and_distinct():
    a = sample_positions((30, 20), 7, np.random.default_rng(5))
    assert a == sample_positions((30, 20), 7, np.random.default_rng(5))
    assert len(set(a)) == 7 and all(0 <= i < 30 and 0 <= j < 20 for i, j in a)
    assert sample_positions((3,), 10, np.random.default_rng(0)) == [(0,), (1,), (2,)]


def test_sampled_figures_are_the_full_checks_at_those_elements():
    net, x, t = small_net_and_batch()
    backprop = net.gradient(x, t)
    result = gradient_check(net, x, t, detailed=True, elements=5, rng=11)
    rng = np.random.default_rng(11)  # drawn in the parameters' order, as the check does
    positions = {k: sample_positions(np.shape(v), 5, rng) for k, v in net.params.items()}
    for name, param in net.params.items():
        full = numerical_gradient(lambda _: net.loss(x, t), param)
        diff = [abs(backprop[name][i] - full[i]) for i in positions[name]]
        assert result[name]["checked"] == min(5, param.size)
        assert result[name]["size"] == param.size
        # The same central differences, summed in another order: rounding alone.
        assert abs(result[name]["mean_abs_diff"] - np.mean(diff)) <= 1e-12
        assert result[name]["max_rel_error"] < 1e-6


def test_a_wrong_gradient_is_caught_on_a_sample(monkeypatch):
    original = layers.Affine.backward

    def slightly_wrong(self, dout, *args, **kwargs):
        dx = original(self, dout, *args, **kwargs)
        self.dW = self.dW * 1.01
        return dx
    monkeypatch.setattr(layers.Affine, "backward", slightly_wrong)
    net, x, t = small_net_and_batch()
    result = gradient_check(net, x, t, detailed=True, elements=3, rng=0)
    assert result["W1"]["max_rel_error"] > 1e-3 and result["W2"]["max_rel_error"] > 1e-3


def test_the_command_checks_a_sample_and_shows_progress(tmp_path):
    code, out, err = run("gradcheck", "--model", "mlp", "--hidden", "5", "--elements", "3",
                         cwd=tmp_path)
    assert code == 0, out + err
    assert "3 of 3,920" in out and "up to 3 elements of each parameter" in out
    assert "measuring numerical gradients: 12 of 12 elements" in err


def test_simple_conv_is_checked_on_a_sample_by_default(tmp_path):
    code, out, err = run("gradcheck", "--model", "simple-conv", "--synthetic", cwd=tmp_path)
    assert code in (0, 1), err
    assert "100 of 432,000" in out and "measuring numerical gradients" in err


def test_elements_takes_all_or_a_positive_number(tmp_path):
    code, _, err = run("gradcheck", "--elements", "0", cwd=tmp_path)
    assert code == 2 and "--elements: must be at least 1 or 'all'" in err
    code, out, _ = run("gradcheck", "--elements", "all", cwd=tmp_path)
    assert code == 0 and "7,840 of 7,840" in out
