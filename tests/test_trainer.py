"""The Trainer: it learns, visits every sample once per epoch, stops cleanly on
request or on divergence, and a run continued from a checkpoint ends exactly where
the unbroken run does."""

import json
import math

import numpy as np
import pytest

from chainrule import load_dataset, models
from chainrule.callbacks import EpochCheckpoint, MetricsFile
from chainrule.checkpoint import load_checkpoint
from chainrule.trainer import Trainer, TrainingDiverged, TrainingInterrupted


@pytest.fixture(scope="module")
def digits():
    return load_dataset("mnist-10k")


@pytest.fixture(scope="module")
def small_digits(digits):
    """2,000 training and 500 test digits: enough to train on, quick to evaluate."""
    (x, t), (xt, tt) = digits
    return (x[:2000], t[:2000]), (xt[:500], tt[:500])


def two_layer(seed=0, dtype="float32"):
    return models.TwoLayerNet(784, 30, 10, dtype=dtype, rng=seed)


def make_trainer(data, network, **kwargs):
    (x, t), (xt, tt) = data
    kwargs.setdefault("verbose", False)
    return Trainer(network, x, t, xt, tt, **kwargs)


class StopAt:
    """A callback asking the trainer to stop after step k, as Ctrl-C would."""

    def __init__(self, trainer, k):
        self.trainer, self.k = trainer, k

    def on_iteration_end(self, iteration, loss):
        if iteration == self.k:
            self.trainer.request_stop()


def without_elapsed(history):
    return [{k: v for k, v in h.items() if k != "elapsed"} for h in history]


def assert_same_run(a, b):
    for kind in ("params", "buffers"):
        mine, theirs = getattr(a.network, kind), getattr(b.network, kind)
        assert list(mine) == list(theirs)
        for key in mine:
            assert np.array_equal(mine[key], theirs[key]), f"{kind} {key} differ"
    assert a.train_loss_list == b.train_loss_list
    assert without_elapsed(a.history) == without_elapsed(b.history)
    sa, sb = a.optimizer.state_dict(), b.optimizer.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        assert np.array_equal(sa[key], sb[key]), f"optimizer state {key} differs"


def test_learns_the_bundled_digits(digits):
    """The accuracy gate: 10 epochs of the seed's set-up on 8,000 digits."""
    trainer = make_trainer(digits, models.TwoLayerNet(784, 50, 10, dtype="float32", rng=1),
                           epochs=10, optimizer="SGD", optimizer_param={"lr": 0.1}, seed=1)
    trainer.train()
    (_, _), (xt, tt) = digits
    assert trainer.test_acc_list[-1] >= 0.90
    # The recorded figure is the network's real accuracy, measured independently here.
    predicted = trainer.network.predict(xt).argmax(axis=1)
    assert trainer.test_acc_list[-1] == pytest.approx(np.mean(predicted == tt))
    assert trainer.test_acc_list[0] < 0.3  # the first entry is before any training
    assert len(trainer.history) == 11 and len(trainer.train_loss_list) == 800
    assert np.mean(trainer.train_loss_list[-80:]) < np.mean(trainer.train_loss_list[:80])


class Recorder(Trainer):
    """Remembers which samples each step saw (x holds each sample's index)."""

    def train_step(self, x_batch, t_batch):
        self.seen.append(x_batch[:, 0].astype(int))
        return super().train_step(x_batch, t_batch)


def test_every_sample_once_per_epoch_in_a_fresh_order():
    n, batch = 23, 5  # a last, partial batch of 3
    x = np.zeros((n, 2))
    x[:, 0] = np.arange(n)
    t = np.arange(n) % 2
    trainer = Recorder(models.TwoLayerNet(2, 3, 2, rng=0), x, t, x, t, epochs=3,
                       mini_batch_size=batch, optimizer_param={"lr": 1e-6}, seed=4,
                       verbose=False)
    trainer.seen = []
    trainer.train()
    steps = math.ceil(n / batch)
    assert len(trainer.seen) == 3 * steps
    orders = []
    for epoch in range(3):
        batches = trainer.seen[epoch * steps:(epoch + 1) * steps]
        assert [len(b) for b in batches] == [5, 5, 5, 5, 3]
        order = np.concatenate(batches)
        assert sorted(order) == list(range(n))
        orders.append(order.tolist())
    assert orders[0] != orders[1] != orders[2]


def test_iters_and_epochs(small_digits):
    trainer = make_trainer(small_digits, two_layer(), iters=50, seed=0,
                           optimizer_param={"lr": 0.1})
    trainer.train()
    # 20 steps per epoch: evaluations before training, after 20, 40 and at the end (50).
    assert [h["iteration"] for h in trainer.history] == [0, 20, 40, 50]
    assert [h["epoch"] for h in trainer.history] == [0, 1, 2, 3]
    assert len(trainer.train_loss_list) == 50
    trainer = make_trainer(small_digits, two_layer(), epochs=2, mini_batch_size=300, seed=0)
    trainer.train()
    assert trainer.max_iter == 2 * math.ceil(2000 / 300)
    assert len(trainer.train_acc_list) == len(trainer.test_acc_list) == 3


def test_same_seed_same_run(small_digits):
    a = make_trainer(small_digits, two_layer(5), iters=60, seed=9, optimizer="Adam",
                     optimizer_param={"lr": 0.001})
    b = make_trainer(small_digits, two_layer(5), iters=60, seed=9, optimizer="Adam",
                     optimizer_param={"lr": 0.001})
    a.train()
    b.train()
    assert_same_run(a, b)
    c = make_trainer(small_digits, two_layer(5), iters=60, seed=10, optimizer="Adam",
                     optimizer_param={"lr": 0.001})
    c.train()
    assert not np.array_equal(a.network.params["W1"], c.network.params["W1"])


def test_metrics_file_has_one_line_per_evaluation(small_digits, tmp_path):
    path = tmp_path / "metrics.jsonl"
    trainer = make_trainer(small_digits, two_layer(), iters=45, seed=0,
                           callbacks=[MetricsFile(path)])
    trainer.train()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines == trainer.history
    assert [line["iteration"] for line in lines] == [0, 20, 40, 45]
    assert lines[0]["loss"] is None
    # Each epoch's loss is the mean of its steps' losses.
    assert lines[1]["loss"] == pytest.approx(np.mean(trainer.train_loss_list[:20]))
    assert lines[3]["loss"] == pytest.approx(np.mean(trainer.train_loss_list[40:45]))


# -- interrupt and resume --------------------------------------------------------------
RESUME_CASES = [
    # (label, network factory, optimizer, settings, stop after step k)
    ("sgd-mid-epoch", lambda: two_layer(3), "SGD", {"lr": 0.1}, 27),
    ("adam-mid-epoch", lambda: two_layer(3), "Adam", {"lr": 0.002}, 33),
    ("adam-epoch-end", lambda: two_layer(3), "Adam", {"lr": 0.002}, 40),
    ("momentum-dropout-batchnorm", lambda: models.MultiLayerNet(
        784, [30, 20], 10, use_dropout=True, dropout_ratio=0.2, use_batchnorm=True,
        dtype="float32", rng=3), "Momentum", {"lr": 0.01}, 31),
    # A network built without a generator draws its dropout masks from NumPy's
    # global one; the checkpoint must carry that stream too.
    ("dropout-global-generator", lambda: models.MultiLayerNet(
        784, [20], 10, use_dropout=True, dtype="float32"), "SGD", {"lr": 0.1}, 13),
]


@pytest.mark.parametrize("label,factory,optimizer,settings,k", RESUME_CASES,
                         ids=[c[0] for c in RESUME_CASES])
def test_interrupted_and_resumed_equals_unbroken(small_digits, tmp_path, label, factory,
                                                 optimizer, settings, k):
    common = dict(iters=70, seed=11, optimizer=optimizer, optimizer_param=settings)

    np.random.seed(0)
    unbroken = make_trainer(small_digits, factory(), **common)
    unbroken.train()

    np.random.seed(0)
    path = tmp_path / "stopped.npz"
    first = make_trainer(small_digits, factory(),
                         callbacks=[EpochCheckpoint(path, every_epoch=False)], **common)
    first.callbacks.append(StopAt(first, k))
    with pytest.raises(TrainingInterrupted, match=f"iteration {k}") as info:
        first.train()
    assert str(path) in str(info.value) and info.value.checkpoint == str(path)
    assert "--" not in str(info.value)  # the library names no command-line options
    assert path.exists() and first.current_iter == k

    np.random.seed(12345)  # whatever the global generator does now must not matter
    second = make_trainer(small_digits, factory(), **common)
    second.load_state(load_checkpoint(path))
    assert second.current_iter == k
    second.train()
    assert_same_run(unbroken, second)


def test_cosine_schedule_resumed_equals_unbroken(small_digits, tmp_path):
    """The scheduled rate depends on the step alone: a run stopped and continued from
    its checkpoint (which holds the optimizer's last, decayed, rate) takes the steps
    the unbroken run takes."""
    common = dict(iters=60, seed=5, optimizer="Momentum", optimizer_param={"lr": 0.05},
                  lr_schedule="cosine")
    unbroken = make_trainer(small_digits, two_layer(4), **common)
    unbroken.train()
    path = tmp_path / "cosine.npz"
    first = make_trainer(small_digits, two_layer(4),
                         callbacks=[EpochCheckpoint(path, every_epoch=False)], **common)
    first.callbacks.append(StopAt(first, 23))
    with pytest.raises(TrainingInterrupted):
        first.train()
    assert first.optimizer.lr < 0.05
    second = make_trainer(small_digits, two_layer(4), **common)
    second.load_state(load_checkpoint(path))
    assert second.base_lr == 0.05
    second.train()
    assert_same_run(unbroken, second)
    constant = make_trainer(small_digits, two_layer(4), **dict(common, lr_schedule=None))
    with pytest.raises(ValueError, match="cosine learning-rate schedule"):
        constant.load_state(load_checkpoint(path))


def test_cosine_schedule_rates(small_digits):
    """Each step's rate, recorded by a callback, against the formula written out."""
    seen = []

    class Record:
        def on_iteration_end(self, iteration, loss):
            seen.append(trainer.optimizer.lr)

    trainer = make_trainer(small_digits, two_layer(), iters=8, seed=0, optimizer="SGD",
                           optimizer_param={"lr": 0.2}, lr_schedule="cosine",
                           callbacks=[Record()])
    trainer.train()
    expected = [0.2 * 0.5 * (1 + math.cos(math.pi * i / 8)) for i in range(8)]
    assert seen == pytest.approx(expected, rel=1e-12)
    assert seen[0] == 0.2 and seen[-1] < 0.01

    trainer = make_trainer(small_digits, two_layer(), iters=4, seed=0, optimizer="SGD",
                           optimizer_param={"lr": 0.2}, lr_schedule=lambda p: 1 - p,
                           callbacks=[Record()])
    seen.clear()
    trainer.train()
    assert trainer.lr_schedule == "custom"
    assert seen == pytest.approx([0.2, 0.15, 0.1, 0.05])
    with pytest.raises(ValueError, match="learning-rate schedule 'linear'"):
        make_trainer(small_digits, two_layer(), iters=4, lr_schedule="linear")


@pytest.mark.parametrize("field,value,match", [
    ("lr_schedule", "linear", "learning-rate schedule 'linear'"),
    ("lr_schedule", 3, "learning-rate schedule 3"),
    ("base_lr", -0.1, "base learning rate"),
    ("base_lr", "0.1", "base learning rate"),
    ("base_lr", True, "base learning rate"),
])
def test_a_damaged_schedule_in_a_checkpoint_is_refused(small_digits, field, value, match):
    from chainrule.trainer import check_training_state
    trainer = make_trainer(small_digits, two_layer(), iters=5, seed=0, lr_schedule="cosine")
    trainer.train()
    state = json.loads(json.dumps(trainer.state()))
    check_training_state(state)  # as saved: sound
    state[field] = value
    with pytest.raises(ValueError, match=match):
        check_training_state(state)


def test_stop_without_a_checkpoint_then_train_again(small_digits):
    common = dict(iters=50, seed=2, optimizer="Adam", optimizer_param={"lr": 0.002})
    unbroken = make_trainer(small_digits, two_layer(), **common)
    unbroken.train()
    trainer = make_trainer(small_digits, two_layer(), **common)
    trainer.callbacks.append(StopAt(trainer, 17))
    with pytest.raises(TrainingInterrupted):
        trainer.train()
    trainer.callbacks.clear()
    trainer.train()  # continues in memory
    assert_same_run(unbroken, trainer)


def test_load_state_refuses_a_different_set_up(small_digits, tmp_path):
    path = tmp_path / "run.npz"
    trainer = make_trainer(small_digits, two_layer(), iters=20, seed=0, optimizer="Adam",
                           callbacks=[EpochCheckpoint(path)])
    trainer.train()
    saved = load_checkpoint(path)
    for kwargs, network, match in [
        ({"optimizer": "SGD"}, two_layer(), "trained with Adam"),
        ({"optimizer": "Adam", "mini_batch_size": 50}, two_layer(), "batch_size"),
        ({"optimizer": "Adam"}, models.TwoLayerNet(784, 31, 10, dtype="float32"), "W1"),
        ({"optimizer": "Adam"}, two_layer(dtype="float64"), "float"),
        ({"optimizer": "Adam", "iters": 10}, two_layer(), "past"),
    ]:
        other = make_trainer(small_digits, network, iters=kwargs.pop("iters", 40), **kwargs)
        before = {k: v.copy() for k, v in other.network.params.items()}
        with pytest.raises(ValueError, match=match):
            other.load_state(saved)
        for k, v in other.network.params.items():  # refused means untouched
            assert np.array_equal(v, before[k])
    (x, t), test = small_digits
    fewer = make_trainer(((x[:1000], t[:1000]), test), two_layer(), iters=40, optimizer="Adam")
    with pytest.raises(ValueError, match="train_size"):
        fewer.load_state(saved)


def test_model_only_checkpoint_cannot_be_resumed(small_digits, tmp_path):
    from chainrule import save
    save(two_layer(), tmp_path / "m.npz")
    with pytest.raises(ValueError, match="no training state"):
        make_trainer(small_digits, two_layer(), iters=5).load_state(tmp_path / "m.npz")


# -- divergence ------------------------------------------------------------------------
class RaiseLearningRate:
    """After the first epoch, a learning rate no network survives."""

    def __init__(self, trainer):
        self.trainer = trainer

    def on_epoch_end(self, metrics):
        if metrics["epoch"] == 1:
            self.trainer.optimizer.lr = 1e6


def test_divergence_stops_and_keeps_the_last_good_checkpoint(small_digits, tmp_path):
    path = tmp_path / "run.npz"
    trainer = make_trainer(small_digits, two_layer(), iters=100, seed=0,
                           callbacks=[EpochCheckpoint(path)],
                           optimizer_param={"lr": 0.1})
    trainer.callbacks.append(RaiseLearningRate(trainer))
    with pytest.raises(TrainingDiverged) as info:
        trainer.train()
    message = str(info.value)
    assert "smaller learning rate" in message and str(path) in message
    diverged_at = int(message.split("iteration ")[1].split(":")[0])
    assert 20 < diverged_at <= 40  # in the second epoch, after the first was saved

    # The file holds exactly the state after epoch 1: compare with a 20-step run.
    kept = load_checkpoint(path)
    assert kept.training["iteration"] == 20
    reference = make_trainer(small_digits, two_layer(), iters=20, seed=0,
                             optimizer_param={"lr": 0.1})
    reference.train()
    for key, value in kept.model.params.items():
        assert np.all(np.isfinite(value))
        assert np.array_equal(value, reference.network.params[key])


def test_huge_learning_rate_diverges_with_a_clear_message(small_digits):
    trainer = make_trainer(small_digits, two_layer(), iters=100, seed=0,
                           optimizer_param={"lr": 1e6})
    with pytest.raises(TrainingDiverged, match=r"diverged (at|by) iteration \d+.*smaller "
                                               r"learning rate \(now 1e\+06\)"):
        trainer.train()


def test_non_finite_weights_are_never_saved(small_digits, tmp_path):
    """A finite loss can be followed by an update that overflows: the epoch-end check
    must catch it before the checkpoint is written."""
    path = tmp_path / "run.npz"
    trainer = make_trainer(small_digits, two_layer(), iters=60, seed=0,
                           callbacks=[EpochCheckpoint(path)])

    class Poison:
        def on_iteration_end(self, iteration, loss):
            if iteration == 40:  # the last step of epoch 2
                trainer.network.params["W2"][0, 0] = np.inf

    trainer.callbacks.append(Poison())
    with pytest.raises(TrainingDiverged, match="by iteration 40.*W2"):
        trainer.train()
    kept = load_checkpoint(path)
    assert kept.training["iteration"] == 20
    assert all(np.all(np.isfinite(v)) for v in kept.model.params.values())


def test_bad_arguments(small_digits):
    with pytest.raises(ValueError, match="mini_batch_size"):
        make_trainer(small_digits, two_layer(), mini_batch_size=0)
    with pytest.raises(ValueError, match="iters"):
        make_trainer(small_digits, two_layer(), iters=0)
    with pytest.raises(ValueError, match="seed"):
        make_trainer(small_digits, two_layer(), seed=-1)
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_trainer(small_digits, two_layer(), optimizer="nope")


def test_nan_loss_stops_at_the_step_that_saw_it(small_digits):
    trainer = make_trainer(small_digits, two_layer(), iters=60, seed=0)

    class Poison:
        def on_iteration_end(self, iteration, loss):
            if iteration == 5:
                trainer.network.params["W1"][:] = np.nan

    trainer.callbacks.append(Poison())
    with pytest.raises(TrainingDiverged, match=r"(?i)at iteration 6\b.*nan.*smaller learning rate"):
        trainer.train()
    assert trainer.current_iter == 5 and len(trainer.train_loss_list) == 5


def test_max_loss_can_be_relaxed(small_digits):
    """Only NaN or infinity stops a run with max_loss=inf; lr 1000 then runs to the end."""
    trainer = make_trainer(small_digits, two_layer(), iters=30, seed=0, max_loss=float("inf"),
                           optimizer_param={"lr": 1000.0})
    trainer.train()
    assert trainer.current_iter == 30
    assert max(trainer.train_loss_list) > 100 * np.log(10)  # the default would have stopped
    with pytest.raises(TrainingDiverged, match="100 times the loss of guessing"):
        make_trainer(small_digits, two_layer(), iters=30, seed=0,
                     optimizer_param={"lr": 1000.0}).train()


# -- networks of the book's protocol, validation splits, augmentation ----------------------
class BookStyleNet:
    """The book's protocol and nothing more: params, gradient, loss, accuracy; no
    output_size, no dtype, no last_loss (its last layer keeps the loss, as the book's)."""

    def __init__(self, rng):
        from chainrule.layers import SoftmaxWithLoss
        self.params = {"W": rng.normal(0, 0.01, (784, 10)), "b": np.zeros(10)}
        self.last_layer = SoftmaxWithLoss()

    def predict(self, x):
        return x @ self.params["W"] + self.params["b"]

    def loss(self, x, t):
        return self.last_layer.forward(self.predict(x), t)

    def accuracy(self, x, t, batch_size=100):
        if t.ndim != 1:
            t = np.argmax(t, axis=1)
        return float(np.mean(self.predict(x).argmax(axis=1) == t))

    def gradient(self, x, t):
        self.loss(x, t)
        dout = self.last_layer.backward(1)
        return {"W": x.T @ dout, "b": dout.sum(axis=0)}


def test_a_network_of_the_books_protocol_trains(digits):
    (x, t), (xt, tt) = digits
    net = BookStyleNet(np.random.default_rng(0))
    trainer = Trainer(net, x[:500], t[:500], xt[:200], tt[:200], epochs=3,
                      optimizer_param={"lr": 0.5}, seed=0, verbose=False)
    trainer.train()
    assert trainer.n_classes == 10  # read from the labels
    assert trainer.train_loss_list[0] == pytest.approx(np.log(10), abs=0.01)
    assert trainer.test_acc_list[-1] > 0.6
    trainer = Trainer(BookStyleNet(np.random.default_rng(0)), x[:500], t[:500], xt, tt,
                      epochs=1, seed=0, verbose=False, validation_split=0.2)
    trainer.train()
    assert "val_loss" in trainer.history[-1] and trainer.test_result is not None


def test_validation_split_is_stratified_seeded_and_apart_from_the_test_set(digits):
    (x, t), (xt, tt) = digits
    def make(seed):
        return Trainer(models.TwoLayerNet(784, 10, 10, rng=0), x[:1000], t[:1000], xt[:100],
                       tt[:100], epochs=1, seed=seed, verbose=False, validation_split=0.25)
    a, b, c = make(1), make(1), make(2)
    counts = np.bincount(t[:1000], minlength=10)
    assert np.bincount(a.t_val, minlength=10).tolist() == [int(round(0.25 * n)) for n in counts]
    assert len(a.x_train) + len(a.x_val) == 1000
    np.testing.assert_array_equal(a.x_val, b.x_val)
    assert not np.array_equal(a.x_val, c.x_val)
    # no sample is in both parts
    rows = {row.tobytes() for row in a.x_train}
    assert not any(row.tobytes() in rows for row in a.x_val)
    a.train()
    assert set(a.history[-1]) == {"epoch", "iteration", "loss", "train_acc", "val_loss",
                                  "val_acc", "elapsed"}
    assert a.test_acc_list == [] and len(a.val_acc_list) == 2
    with pytest.raises(ValueError, match="validation_split"):
        Trainer(models.TwoLayerNet(784, 10, 10), x[:10], t[:10], xt, tt, validation_split=1.0)


def test_default_history_keys_are_the_books(digits):
    (x, t), (xt, tt) = digits
    trainer = Trainer(models.TwoLayerNet(784, 10, 10, rng=0), x[:200], t[:200], xt[:50], tt[:50],
                      epochs=1, seed=0, verbose=False)
    trainer.train()
    assert set(trainer.history[-1]) == {"epoch", "iteration", "loss", "train_acc",
                                        "test_acc", "elapsed"}
    assert trainer.test_result is None


def test_augment_shifts_exactly_mirrors_and_is_seeded():
    from chainrule.augmentation import Augment
    x = np.arange(2 * 1 * 5 * 6, dtype=np.float64).reshape(2, 1, 5, 6) + 1
    class Fixed:  # a generator that draws what the test says
        def __init__(self, dy, dx):
            self.calls = [np.array(dy), np.array(dx)]
        def integers(self, lo, hi, size):
            return self.calls.pop(0)
        def uniform(self, lo, hi, size):
            return np.zeros(size)
        def random(self, size):
            return np.ones(size)
    out = Augment(shift=2)(x, Fixed([1, 0], [0, -2]))
    expected0 = np.zeros((5, 6)); expected0[1:, :] = x[0, 0, :-1, :]   # down by one
    expected1 = np.zeros((5, 6)); expected1[:, :-2] = x[1, 0, :, 2:]   # left by two
    np.testing.assert_array_equal(out[0, 0], expected0)
    np.testing.assert_array_equal(out[1, 0], expected1)
    # a rotation of 0 degrees with the bilinear path is the shift itself
    out_rot = Augment(shift=2, rotation=10)._images(x)
    assert out_rot is x
    from chainrule.augmentation import _rotate_shift
    np.testing.assert_allclose(_rotate_shift(x, np.zeros(2), np.array([1, 0]),
                                             np.array([0, -2])), out)
    # a rotation by +90 degrees of a square image is a quarter turn clockwise as the
    # array is printed (rows downwards), np.rot90(k=-1): the bilinear weights are 0/1
    sq = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    turned = _rotate_shift(sq, np.array([np.pi / 2]), np.zeros(1, int), np.zeros(1, int))
    np.testing.assert_allclose(turned[0, 0], np.rot90(sq[0, 0], k=-1), atol=1e-12)
    # mirror
    class Mirror(Fixed):
        def random(self, size):
            return np.zeros(size)
    flipped = Augment(shift=0, flip=True)(x, Mirror([0, 0], [0, 0]))
    np.testing.assert_array_equal(flipped, x[..., ::-1])
    # flat rows, seeded
    flat = np.random.default_rng(0).random((4, 784)).astype(np.float32)
    aug = Augment(shift=2, rotation=10, flip=True)
    a = aug(flat, np.random.default_rng(5))
    b = aug(flat, np.random.default_rng(5))
    c = aug(flat, np.random.default_rng(6))
    assert a.shape == flat.shape and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    with pytest.raises(ValueError, match="image_shape"):
        Augment()(np.zeros((2, 10)), np.random.default_rng(0))


# -- the arguments are checked, naming the parameter -------------------------------------
@pytest.mark.parametrize("name, value", [
    ("epochs", 2.7), ("epochs", True), ("epochs", 0), ("mini_batch_size", 10.5),
    ("mini_batch_size", True), ("iters", 3.5), ("iters", False), ("seed", -1),
    ("seed", 1.5), ("eval_batch_size", 0), ("evaluate_sample_num_per_epoch", 2.5),
])
def test_whole_numbers_that_are_not_are_refused_by_name(small_digits, name, value):
    with pytest.raises(ValueError, match=rf"^{name} must be a (positive|non-negative) "
                                         rf"integer, got {value!r}$"):
        make_trainer(small_digits, two_layer(), **{name: value})


def test_whole_floats_are_whole_numbers(small_digits):
    trainer = make_trainer(small_digits, two_layer(), epochs=2.0, mini_batch_size=50.0)
    assert (trainer.epochs, trainer.batch_size) == (2, 50)
    assert type(trainer.epochs) is int and type(trainer.batch_size) is int


@pytest.mark.parametrize("value", [1.0, -0.1, True, "0.2"])
def test_a_validation_split_outside_0_1_is_refused_by_name(small_digits, value):
    with pytest.raises(ValueError, match="validation_split must be in"):
        make_trainer(small_digits, two_layer(), validation_split=value)


def test_the_book_layouts_trainer_checks_alike(small_digits):
    from chainrule.book.common.trainer import Trainer as BookTrainer
    (x, t), (xt, tt) = small_digits
    for kwargs in ({"epochs": 2.7}, {"epochs": True}, {"mini_batch_size": 10.5}):
        with pytest.raises(ValueError, match=f"Trainer: {next(iter(kwargs))} must be"):
            BookTrainer(two_layer(), x, t, xt, tt, verbose=False, **kwargs)
