"""chainrule.book: the book's module layout and the runner, on stand-in scripts.

CI has no copy of the book's repository, so these tests build a checkout of their own in
the book's layout (chNN/ folders, a common/ and a dataset/ package at the top) whose
common/ and dataset/ are decoys: a script that imports them through the book's
`sys.path.append(os.pardir)` must still get chainrule's modules.
"""

import importlib.util
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from stand_in import write_scripts

from chainrule import gradient as cr_gradient
from chainrule.book import book_modules, run_script
from chainrule.book.common import layers as book_layers
from chainrule.book.common import util as book_util
from chainrule.book.common.multi_layer_net_extend import MultiLayerNetExtend
from chainrule.book.common.trainer import Trainer as BookTrainer
from chainrule.datasets import dataset_available

DECOY = "raise RuntimeError('the checkout\\'s own {} was imported')\n"


def make_checkout(root, scripts):
    """A stand-in checkout: decoy common/ and dataset/, and chNN/name.py scripts."""
    for package, modules in (("common", ["layers", "functions", "util", "trainer",
                                         "optimizer", "gradient", "multi_layer_net",
                                         "multi_layer_net_extend"]),
                             ("dataset", ["mnist"])):
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").write_text(DECOY.format(package))
        for module in modules:
            (root / package / f"{module}.py").write_text(DECOY.format(f"{package}.{module}"))
    return write_scripts(root, scripts)


BOOK_STYLE_NET = """\
    # coding: utf-8
    import sys, os
    sys.path.append(os.pardir)
    import numpy as np
    from common.layers import *
    from common.gradient import numerical_gradient
    from collections import OrderedDict


    class TinyNet:
        def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01):
            self.params = {}
            self.params['W1'] = weight_init_std * np.random.randn(input_size, hidden_size)
            self.params['b1'] = np.zeros(hidden_size)
            self.params['W2'] = weight_init_std * np.random.randn(hidden_size, output_size)
            self.params['b2'] = np.zeros(output_size)
            self.layers = OrderedDict()
            self.layers['Affine1'] = Affine(self.params['W1'], self.params['b1'])
            self.layers['Relu1'] = Relu()
            self.layers['Affine2'] = Affine(self.params['W2'], self.params['b2'])
            self.lastLayer = SoftmaxWithLoss()

        def predict(self, x):
            for layer in self.layers.values():
                x = layer.forward(x)
            return x

        def loss(self, x, t):
            return self.lastLayer.forward(self.predict(x), t)

        def accuracy(self, x, t):
            y = np.argmax(self.predict(x), axis=1)
            if t.ndim != 1: t = np.argmax(t, axis=1)
            return np.sum(y == t) / float(x.shape[0])

        def gradient(self, x, t):
            self.loss(x, t)
            dout = self.lastLayer.backward(1)
            for layer in reversed(list(self.layers.values())):
                dout = layer.backward(dout)
            grads = {}
            grads['W1'], grads['b1'] = self.layers['Affine1'].dW, self.layers['Affine1'].db
            grads['W2'], grads['b2'] = self.layers['Affine2'].dW, self.layers['Affine2'].db
            return grads
"""

WHO_SERVES = """\
    # coding: utf-8
    import sys, os
    sys.path.append(os.pardir)
    import common.layers, common.trainer, common.util, dataset.mnist
    from common.optimizer import *
    from tiny_net import TinyNet
    print("layers", common.layers.__name__)
    print("trainer", common.trainer.Trainer.__module__)
    print("mnist", dataset.mnist.load_mnist.__module__)
    print("np", np.__name__)
    print("cwd", os.path.basename(os.getcwd()))
    print("argv", sys.argv[1:])
    print("net", TinyNet(4, 3, 2).predict(np.ones((1, 4))).shape)
    sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
"""


@pytest.fixture
def checkout(tmp_path):
    return make_checkout(tmp_path / "deep-learning-from-scratch", {
        "ch05/who_serves.py": WHO_SERVES,
        "ch05/tiny_net.py": BOOK_STYLE_NET,
    })


def test_runner_serves_chainrule_modules_over_the_checkouts_own(checkout, capsys):
    script = checkout["ch05/who_serves.py"]
    cwd = os.getcwd()
    status = run_script(script, ["3", "--flag"])
    out = capsys.readouterr().out.splitlines()
    assert status == 3
    assert "layers chainrule.book.common.layers" in out
    assert "trainer chainrule.book.common.trainer" in out
    assert "mnist chainrule.book.dataset.mnist" in out
    assert "np numpy" in out  # the book's star imports bring np along
    assert "cwd ch05" in out  # run from the script's own folder
    assert "argv ['3', '--flag']" in out
    assert "net (1, 2)" in out
    # Afterwards nothing of the run is left: names, folder, the script's own modules.
    assert os.getcwd() == cwd
    assert not any(n == "common" or n.startswith(("common.", "dataset")) or n == "tiny_net"
                   for n in sys.modules)


def test_the_layout_is_never_installed_top_level():
    for name in ("common", "dataset"):
        spec = importlib.util.find_spec(name)
        assert spec is None or "chainrule" not in (spec.origin or ""), name


def test_a_users_own_common_is_back_after_the_block(monkeypatch):
    import types
    mine = types.ModuleType("common")
    monkeypatch.setitem(sys.modules, "common", mine)
    with book_modules():
        import common.layers
        assert common.layers is book_layers
    assert sys.modules["common"] is mine


def test_exit_status_and_errors_come_back(checkout, tmp_path, capsys):
    failing = checkout["ch05/who_serves.py"].parent / "fails.py"
    failing.write_text("import sys, os\nsys.path.append(os.pardir)\n"
                       "from common.util import shuffle_dataset\n"
                       "shuffle_dataset([1, 2], [1])\n")
    assert run_script(failing) == 1
    err = capsys.readouterr().err
    assert f'File "{failing}", line 4' in err
    assert "x has 2 samples but t has 1" in err
    assert "runpy" not in err  # the traceback starts at the script, as Python's does


def test_command_line_passes_the_status_back(checkout):
    script = checkout["ch05/who_serves.py"]
    run = subprocess.run([sys.executable, "-m", "chainrule", "book", "run", str(script), "5"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 5, run.stderr
    assert "layers chainrule.book.common.layers" in run.stdout
    missing = subprocess.run([sys.executable, "-m", "chainrule", "book", "run",
                              str(script.parent / "nope.py")],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        f"chainrule: error: no such script: {script.parent / 'nope.py'}"]


def test_figures_are_saved_next_to_the_script_without_a_display(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    paths = make_checkout(tmp_path / "book", {"ch06/draw.py": """\
        import numpy as np
        import matplotlib.pyplot as plt
        plt.plot(np.arange(5), np.arange(5) ** 2)
        plt.show()
        plt.figure(); plt.subplot(1, 2, 1); plt.hist(np.random.randn(100)); plt.show()
    """})
    assert run_script(paths["ch06/draw.py"], figures="save") == 0
    err = capsys.readouterr().err.splitlines()
    saved = [paths["ch06/draw.py"].parent / f"draw-{i}.png" for i in (1, 2)]
    assert err == [f"figure saved to {p}" for p in saved]
    for p in saved:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- the modules ------------------------------------------------------------------------
def test_books_dropout_scales_at_inference_and_masks_while_training():
    layer = book_layers.Dropout(0.25)
    x = np.arange(1.0, 13.0).reshape(3, 4)
    np.testing.assert_array_equal(layer.forward(x, train_flg=False), 0.75 * x)
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), np.full_like(x, 0.75))
    np.random.seed(3)
    expected_mask = np.random.rand(3, 4) > 0.25
    np.random.seed(3)
    y = layer.forward(x, train_flg=True)
    np.testing.assert_array_equal(y, np.where(expected_mask, x, 0.0))  # kept units unscaled
    dout = np.linspace(-1, 1, 12).reshape(3, 4)
    dout.setflags(write=False)
    np.testing.assert_array_equal(layer.backward(dout), np.where(expected_mask, dout, 0.0))
    with pytest.raises(ValueError, match="dropout_ratio"):
        book_layers.Dropout(1.0)


@pytest.mark.parametrize("train_flg", [True, False])
def test_books_dropout_backward_is_its_derivative(train_flg):
    rng = np.random.default_rng(0)
    layer = book_layers.Dropout(0.4)
    x = rng.standard_normal((4, 5))
    layer.forward(x, train_flg)
    mask = layer.mask
    weights = rng.standard_normal((4, 5))

    def f(x):
        # While training, the derivative of this one pass: the mask it drew, fixed.
        y = x * mask if train_flg else x * (1.0 - 0.4)
        return float(np.sum(weights * y))

    expected = cr_gradient.numerical_gradient(f, x.copy())
    np.testing.assert_allclose(layer.backward(weights), expected, atol=1e-8)


def test_convolution_takes_a_single_number_as_bias():
    rng = np.random.default_rng(1)
    W = rng.standard_normal((2, 1, 3, 3))
    x = rng.standard_normal((1, 1, 5, 5))
    from chainrule.layers import Convolution
    expected = Convolution(W, np.full(2, 0.5)).forward(x)
    np.testing.assert_allclose(book_layers.Convolution(W, 0.5).forward(x), expected)
    np.testing.assert_allclose(book_layers.Convolution(W, 0).forward(x),
                               Convolution(W, np.zeros(2)).forward(x))


def test_smooth_curve_is_a_kaiser_weighted_average_with_mirrored_ends():
    x = np.random.default_rng(2).standard_normal(40)
    w = np.kaiser(11, 2.0)
    w = w / w.sum()
    # The neighbours of x[i] at i + k; outside the curve, mirrored: x[-k] at the start
    # (the first point not repeated), x[n - 1 - (j - n)] at the end (the last repeated).
    n = len(x)

    def at(j):
        if j < 0:
            return x[-j]
        if j >= n:
            return x[2 * n - 1 - j]
        return x[j]
    expected = [sum(w[k + 5] * at(i + k) for k in range(-5, 6)) for i in range(n)]
    np.testing.assert_allclose(book_util.smooth_curve(x), expected, rtol=1e-12)
    np.testing.assert_allclose(book_util.smooth_curve(np.full(20, 3.0)), np.full(20, 3.0))
    with pytest.raises(ValueError, match="at least 6 points"):
        book_util.smooth_curve([1.0, 2.0])


def test_shuffle_dataset_keeps_pairs_together():
    x = np.arange(24).reshape(6, 1, 2, 2)
    t = np.arange(6) * 10
    np.random.seed(0)
    xs, ts = book_util.shuffle_dataset(x, t)
    assert sorted(ts.tolist()) == t.tolist() and ts.tolist() != t.tolist()
    for xi, ti in zip(xs, ts):
        np.testing.assert_array_equal(xi, x[ti // 10])
    with pytest.raises(ValueError, match="6 samples but t has 5"):
        book_util.shuffle_dataset(x, t[:5])


def test_util_has_the_books_im2col_helpers():
    assert book_util.conv_output_size(28, 5) == 24
    col = book_util.im2col(np.arange(16.0).reshape(1, 1, 4, 4), 2, 2, stride=2)
    np.testing.assert_array_equal(col[0], [0, 1, 4, 5])


def test_multi_layer_net_extend_takes_the_books_keyword():
    np.random.seed(0)
    net = MultiLayerNetExtend(6, [5, 4], 3, use_dropout=True, dropout_ration=0.2,
                              use_batchnorm=True)
    dropouts = [layer for name, layer in net.layers.items() if name.startswith("Dropout")]
    assert len(dropouts) == 2
    assert all(isinstance(d, book_layers.Dropout) and d.dropout_ratio == 0.2 for d in dropouts)
    x = np.random.default_rng(0).standard_normal((4, 6))
    # At inference every dropout scales by 0.8 (batch norm on its running statistics).
    h = x
    for name, layer in net.layers.items():
        h = layer.forward(h, False) if getattr(layer, "has_train_mode", False) else layer.forward(h)
        if name == "Dropout1":
            assert np.all(h == 0.8 * np.maximum(net.layers["BatchNorm1"].forward(
                net.layers["Affine1"].forward(x), False), 0))
    np.testing.assert_array_equal(net.predict(x), h)


def test_multi_layer_net_extend_gradient_is_right():
    np.random.seed(1)
    net = MultiLayerNetExtend(5, [4, 3], 3, use_batchnorm=True, weight_decay_lambda=0.1)
    x = np.random.default_rng(1).standard_normal((4, 5))
    t = np.array([0, 2, 1, 1])
    for name, diff in cr_gradient.gradient_check(net, x, t).items():
        assert diff < 1e-7, name


def book_style_net():
    """TinyNet of BOOK_STYLE_NET, built inside the layout, as a book script builds it."""
    namespace = {}
    with book_modules():
        exec(textwrap.dedent(BOOK_STYLE_NET), namespace)
    return namespace["TinyNet"]


def test_books_trainer_prints_and_records_as_the_book(capsys):
    TinyNet = book_style_net()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 4))
    t = (x[:, 0] > 0).astype(int)
    np.random.seed(0)
    net = TinyNet(4, 8, 2, weight_init_std=0.5)
    initial = net.accuracy(x[:50], t[:50])
    trainer = BookTrainer(net, x, t, x[:50], t[:50], epochs=4, mini_batch_size=100,
                          optimizer="Adam", optimizer_param={"lr": 0.05})
    trainer.train()
    lines = capsys.readouterr().out.splitlines()
    assert len(trainer.train_acc_list) == len(trainer.test_acc_list) == 4
    assert trainer.test_acc_list[0] == initial  # measured before any step
    assert len(trainer.train_loss_list) == 12
    assert sum(line.startswith("train loss:") for line in lines) == 12
    epoch_lines = [line for line in lines if line.startswith("=== epoch:")]
    assert epoch_lines[0] == (f"=== epoch:1, train acc:{trainer.train_acc_list[0]}, "
                              f"test acc:{initial} ===")
    assert len(epoch_lines) == 4
    assert lines[-2] == "=============== Final Test Accuracy ==============="
    assert lines[-1] == f"test acc:{net.accuracy(x[:50], t[:50])}"
    assert trainer.test_acc_list[-1] > 0.8


def test_books_trainer_evaluates_every_epoch_when_batches_do_not_divide(capsys):
    TinyNet = book_style_net()
    x = np.random.default_rng(1).standard_normal((300, 4))
    t = (x[:, 1] > 0).astype(int)
    trainer = BookTrainer(TinyNet(4, 3, 2), x, t, x, t, epochs=5, mini_batch_size=128,
                          verbose=False, evaluate_sample_num_per_epoch=40)
    trainer.train()
    assert capsys.readouterr().out == ""
    assert len(trainer.train_acc_list) == 5
    assert len(trainer.train_loss_list) == int(5 * 300 / 128)


def test_books_trainer_refuses_mismatched_data():
    TinyNet = book_style_net()
    with pytest.raises(ValueError, match="x_train has 3 samples but t_train has 2"):
        BookTrainer(TinyNet(2, 2, 2), np.ones((3, 2)), [0, 1], np.ones((1, 2)), [0])


def test_load_mnist_reads_the_bundled_digits_when_mnist_is_absent(capsys):
    from chainrule.book.dataset.mnist import load_mnist
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, flatten=False,
                                                      one_hot_label=True)
    err = capsys.readouterr().err
    if dataset_available("mnist"):
        assert x_train.shape == (60000, 1, 28, 28) and err == ""
    else:
        assert x_train.shape == (8000, 1, 28, 28) and x_test.shape == (2000, 1, 28, 28)
        assert len(err.splitlines()) == 1 and "mnist-10k" in err
    assert x_train.dtype == np.float32 and 0 <= x_train.min() and x_train.max() <= 1
    assert t_train.shape == (len(x_train), 10)
    np.testing.assert_array_equal(t_test.sum(axis=1), 1)
    (x_raw, t_raw), _ = load_mnist(normalize=False)
    assert x_raw.dtype == np.uint8 and x_raw.shape[1] == 784 and t_raw.ndim == 1
    x_raw[0, 0] = 7  # the book's arrays are the caller's to change


def test_functions_module_has_the_books_helpers():
    from chainrule.book.common import functions as f
    np.testing.assert_array_equal(f.step_function(np.array([-1.0, 0.0, 2.0])), [0, 0, 1])
    np.testing.assert_array_equal(f.relu_grad(np.array([-1.0, 0.0, 2.0])), [0, 1, 1])
    assert f.sum_squared_error(np.array([1.0, 2.0]), np.array([0.0, 0.0])) == 2.5
    x = np.array([0.3, -1.2])
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(f.sigmoid_grad(x), s * (1 - s))
    np.testing.assert_allclose(f.softmax_loss(np.array([[2.0, 0.0]]), [0]),
                               -np.log(np.exp(2) / (np.exp(2) + 1)))


def test_numerical_gradient_2d_differentiates_each_row():
    from chainrule.book.common.gradient import numerical_gradient_2d
    X = np.array([[1.0, 2.0], [-3.0, 0.5]])
    np.testing.assert_allclose(numerical_gradient_2d(lambda v: np.sum(v ** 2), X), 2 * X,
                               rtol=1e-7)


def test_a_diverging_book_network_computes_on():
    # ch06/batch_norm_test.py trains with weight scales up to 1 on purpose; the largest
    # diverge and the book plots their accuracy. Nothing may raise on the way.
    np.random.seed(0)
    net = MultiLayerNetExtend(8, [16, 16, 16], 3, weight_init_std=1e3)
    x = np.random.default_rng(0).standard_normal((10, 8))
    t = np.arange(10) % 3
    from chainrule.book.common.optimizer import SGD
    optimizer = SGD(lr=10.0)
    with np.errstate(all="ignore"):
        for _ in range(5):
            optimizer.update(net.params, net.gradient(x, t))
        acc = net.accuracy(x, t)
    assert 0.0 <= acc <= 1.0


def test_books_batch_norm_constants():
    rng = np.random.default_rng(4)
    x = 1e-3 * rng.standard_normal((8, 3))  # a variance far below chainrule's eps 1e-5
    gamma, beta = np.array([1.0, 2.0, 0.5]), np.array([0.0, 0.1, -0.1])
    layer = book_layers.BatchNormalization(gamma, beta)
    assert layer.eps == 1e-6
    np.testing.assert_array_equal(layer.running_var, 0.0)
    y = layer.forward(x, train_flg=True)
    mu, var = x.mean(axis=0), x.var(axis=0)
    np.testing.assert_allclose(y, gamma * (x - mu) / np.sqrt(var + 1e-6) + beta, rtol=1e-12)
    np.testing.assert_allclose(layer.running_var, 0.1 * var, rtol=1e-12)  # from zeros
    np.testing.assert_allclose(layer.running_mean, 0.1 * mu, rtol=1e-12)
    np.random.seed(0)
    net = MultiLayerNetExtend(3, [3], 2, use_batchnorm=True)
    assert net.layers["BatchNorm1"].eps == 1e-6
    assert net.buffers["running_var1"] is net.layers["BatchNorm1"].running_var
    np.testing.assert_array_equal(net.buffers["running_var1"], 0.0)
