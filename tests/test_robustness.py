"""No silent wrong answers (issue 18): what a careful user tried and the library got
wrong or answered with a traceback, each pinned by a test that failed before the fix."""

import os

import numpy as np
import pytest

import chainrule
from chainrule import models
from chainrule.checkpoint import CheckpointError, load, save
from chainrule.files import atomic_file
from chainrule.functions import class_indices, cross_entropy_error, softmax, targets
from chainrule.gradient import gradient_check, numerical_gradient
from chainrule.layers import Relu, SoftmaxWithLoss


# -- 1. numerical_gradient on integer arrays -------------------------------------------
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.bool_])
def test_numerical_gradient_refuses_a_non_floating_x(dtype):
    x = np.array([3, 4]).astype(dtype)
    with pytest.raises(TypeError, match="floating-point x.*astype"):
        numerical_gradient(lambda v: np.sum(v ** 2), x)
    assert x.tolist() == np.array([3, 4]).astype(dtype).tolist()  # left as it was


def test_numerical_gradient_of_floats_is_unchanged():
    x = np.array([3.0, 4.0])
    assert numerical_gradient(lambda v: np.sum(v ** 2), x) == pytest.approx([6.0, 8.0])


# -- 2. soft targets, one-hot rows, column labels ----------------------------------------
def test_cross_entropy_of_soft_targets_is_the_full_sum():
    y, t = np.array([[0.1, 0.6, 0.3]]), np.array([[0.0, 0.5, 0.5]])
    expected = -(0.5 * np.log(0.6) + 0.5 * np.log(0.3))  # 0.857, not -log 0.6 = 0.511
    assert cross_entropy_error(y, t) == pytest.approx(expected)
    assert cross_entropy_error(y, t) == pytest.approx(0.8574, abs=1e-4)


def test_one_hot_rows_stay_class_indices():
    y = np.array([[0.1, 0.6, 0.3], [0.2, 0.2, 0.6]])
    assert cross_entropy_error(y, np.array([[0, 1, 0], [0, 0, 1]])) == \
        pytest.approx(-(np.log(0.6) + np.log(0.6)) / 2)
    assert targets(np.array([[0, 1, 0]]), 3).tolist() == [1]


@pytest.mark.parametrize("bad, row", [
    ([[0, 1, 0], [0, 0, 0]], 1),          # an all-zero row (was: class 0)
    ([[0.2, 0.3, 0.4]], 0),               # does not sum to 1
    ([[1, 0, 0], [1.5, -0.5, 0]], 1),     # negative
    ([[0, 2, 0]], 0),                     # integer, not one-hot
    ([[np.nan, 0.5, 0.5]], 0),
])
def test_rows_that_are_neither_one_hot_nor_a_distribution_are_refused(bad, row):
    y = softmax(np.zeros((len(bad), 3)))
    with pytest.raises(ValueError, match=f"t row {row} is"):
        cross_entropy_error(y, np.array(bad, dtype=float if np.any(np.isnan(bad)) else None))
    with pytest.raises(ValueError, match=f"t row {row} is"):
        SoftmaxWithLoss().forward(np.zeros((len(bad), 3)), np.array(bad))


def test_class_indices_refuses_soft_targets_rather_than_taking_their_argmax():
    with pytest.raises(ValueError, match="soft targets"):
        class_indices(np.array([[0.0, 0.5, 0.5]]), 3)


def test_softmax_with_loss_soft_targets_loss_and_gradient():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 5))
    t = rng.random((4, 5))
    t /= t.sum(axis=1, keepdims=True)
    layer = SoftmaxWithLoss()
    loss = layer.forward(x, t)
    y = softmax(x)
    assert loss == pytest.approx(-np.sum(t * np.log(y)) / 4)
    assert layer.backward() == pytest.approx((y - t) / 4)
    numerical = numerical_gradient(lambda _: SoftmaxWithLoss().forward(x, t), x)
    assert np.abs(layer.backward() - numerical).max() < 1e-8


def test_network_loss_and_gradient_with_soft_targets():
    net = models.TwoLayerNet(6, 4, 3, rng=0)
    x = np.random.default_rng(1).random((2, 6))
    t = np.array([[0.0, 0.5, 0.5], [0.2, 0.8, 0.0]])
    y = softmax(net.predict(x))
    assert net.loss(x, t) == pytest.approx(-np.sum(t * np.log(y)) / 2)
    result = gradient_check(net, x, t)
    assert max(result.values()) < 1e-8


def test_a_column_of_class_indices_is_read_as_indices():
    t = np.array([1]).reshape((1, 1))
    assert class_indices(t, 10, batch_size=1).tolist() == [1]
    assert class_indices(np.array([[0], [2]]), 3).tolist() == [0, 2]
    y = softmax(np.array([[0.1, 2.0, -1.0]]))
    assert cross_entropy_error(y, t) == pytest.approx(cross_entropy_error(y, [1]))
    net = models.TwoLayerNet(4, 3, 3, rng=0)
    x = np.ones((2, 4))
    assert net.loss(x, np.array([[0], [2]])) == pytest.approx(net.loss(x, np.array([0, 2])))
    with pytest.raises(ValueError, match="outside the 3 classes"):
        class_indices(np.array([[0], [3]]), 3)


def test_a_column_stays_refused_where_it_is_ambiguous():
    with pytest.raises(ValueError, match="one class"):
        class_indices(np.array([[0], [0]]), 1)


def test_single_sample_with_integer_one_hot_labels():
    y1d = np.array([0.1, 0.6, 0.3])
    expected = -np.log(0.6)
    assert cross_entropy_error(y1d, np.array([0, 1, 0])) == pytest.approx(expected)
    assert cross_entropy_error(y1d, np.array([0.0, 1.0, 0.0])) == pytest.approx(expected)
    assert cross_entropy_error(y1d, np.array([False, True, False])) == pytest.approx(expected)
    assert SoftmaxWithLoss().forward(np.log(y1d), np.array([0, 1, 0])) == pytest.approx(expected)
    # one sample's distribution
    assert cross_entropy_error(y1d, np.array([0.0, 0.5, 0.5])) == \
        pytest.approx(-(0.5 * np.log(0.6) + 0.5 * np.log(0.3)))


# -- 6. gradient_check -----------------------------------------------------------------
def _digits(n, seed=0):
    (x, t), _ = chainrule.load_dataset("mnist-10k", normalize=True, flatten=True)
    pick = np.random.default_rng(seed).choice(len(x), n, replace=False)
    return x[pick].astype(np.float64), t[pick]


def test_gradient_check_holds_dropout_masks_fixed():
    x, t = _digits(3)
    net = models.MultiLayerNet(784, [5], 10, use_dropout=True, dropout_ratio=0.5,
                               rng=np.random.default_rng(0))
    result = gradient_check(net, x, t, detailed=True)
    for name, figures in result.items():
        assert figures["max_rel_error"] < 1e-4, name
        assert figures["mean_abs_diff"] < 1e-6, name
    # and the network is back to drawing masks
    net.predict(x, train_flg=True)
    first = net.layers["Dropout1"].mask.copy()
    net.predict(x, train_flg=True)
    assert not np.array_equal(first, net.layers["Dropout1"].mask)


def test_gradient_check_does_not_call_a_correct_batchnorm_network_broken():
    # Seed 0 of `chainrule gradcheck --model mlp --batchnorm --hidden 5`: one unit's
    # three pre-activations are within 0.02 of each other, so batch norm divides by a
    # tiny spread and h = 1e-4 is too coarse (max rel error 1.4e-3 before).
    from chainrule import cli
    args = cli.make_parser().parse_args(
        ["gradcheck", "--model", "mlp", "--batchnorm", "--hidden", "5"])
    rng = np.random.default_rng(0)
    (x_train, t_train), _ = cli.load_data("mnist-10k", quiet=True)[0]
    pick = rng.choice(len(x_train), 3, replace=False)
    args.dtype = "float64"
    net = cli.build_model(args, 784, 10)
    result = gradient_check(net, x_train[pick], t_train[pick], detailed=True)
    assert result["W1"]["refined"] > 0
    assert all(f["max_rel_error"] < 1e-4 for f in result.values()), result


def test_gradient_check_still_catches_a_wrong_backward(monkeypatch):
    x, t = _digits(3)
    net = models.MultiLayerNet(784, [5], 10, rng=np.random.default_rng(0))
    right = Relu.backward
    monkeypatch.setattr(Relu, "backward", lambda self, dout: 1.1 * right(self, dout))
    result = gradient_check(net, x, t, detailed=True)
    assert result["W1"]["max_rel_error"] > 1e-2
    assert result["W2"]["max_rel_error"] < 1e-4  # above the broken layer: still right


# -- 8. save validates the training state ------------------------------------------------
def test_save_refuses_a_training_state_that_load_would_refuse(tmp_path):
    net = models.TwoLayerNet(4, 3, 2, rng=0)
    path = tmp_path / "m.npz"
    with pytest.raises(ValueError, match="Trainer.state.*seed"):
        save(net, path, training={"note": "hi"})
    assert not path.exists()
    save(net, path)
    assert load(path).params["W1"].tolist() == net.params["W1"].tolist()


def test_save_refuses_a_state_that_is_not_json(tmp_path):
    from chainrule.trainer import Trainer
    x, t = np.random.default_rng(0).random((4, 4)), np.array([0, 1, 0, 1])
    trainer = Trainer(models.TwoLayerNet(4, 3, 2, rng=0), x, t, x, t, iters=1,
                      verbose=False, seed=0)
    state = trainer.state()
    state["run"] = {"when": object()}
    path = tmp_path / "m.npz"
    with pytest.raises(ValueError, match="not plain JSON"):
        save(trainer.network, path, training=state)
    assert not path.exists()


# -- 11. files that are not regular files -------------------------------------------------
def test_load_refuses_devices_and_fifos_before_reading(tmp_path):
    with pytest.raises(CheckpointError, match="not a regular file"):
        load("/dev/zero")
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    with pytest.raises(CheckpointError, match="not a regular file"):
        load(fifo)  # opening it would block for ever
    with pytest.raises(CheckpointError, match="is a directory"):
        load(tmp_path)


def test_load_digit_refuses_a_fifo(tmp_path):
    pytest.importorskip("PIL")
    from chainrule.images import load_digit
    fifo = tmp_path / "digit.png"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        load_digit(fifo)


def test_white_digit_on_transparent_background():
    Image = pytest.importorskip("PIL.Image")
    from PIL import ImageDraw
    from chainrule.images import load_digit
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        arrays = []
        for ink in ((255, 255, 255, 255), (0, 0, 0, 255)):
            img = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
            ImageDraw.Draw(img).line([(20, 5), (20, 35)], fill=ink, width=4)
            path = os.path.join(folder, "d.png")
            img.save(path)
            arrays.append(load_digit(path))
    assert arrays[0].max() == pytest.approx(1.0)
    assert np.array_equal(arrays[0], arrays[1])  # white or black ink: the same digit


# -- smaller: a symlinked output keeps its link -----------------------------------------
def test_atomic_file_writes_through_a_symlink(tmp_path):
    target = tmp_path / "real.npz"
    target.write_bytes(b"old")
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    with atomic_file(link) as f:
        f.write(b"new")
    assert link.is_symlink()
    assert target.read_bytes() == b"new"
