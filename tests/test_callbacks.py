"""Callbacks: early stopping, the best checkpoint, the plateau schedule, the protocol,
resuming after Ctrl-C, and continuing a finished run to a new total."""

import json

import numpy as np
import pytest

import chainrule
from chainrule import cli
from chainrule.augmentation import Augment
from chainrule.callbacks import (BestCheckpoint, Callback, EarlyStopping, EpochCheckpoint,
                                 EpochLog, ReduceLROnPlateau, monitored_value)
from chainrule.checkpoint import load_checkpoint
from chainrule.models import TwoLayerNet
from chainrule.trainer import Trainer, TrainingInterrupted
from stopping import stopped_run


@pytest.fixture(scope="module")
def digits():
    (x, t), (xt, tt) = chainrule.load_dataset("mnist-10k")
    return (x[:600], t[:600]), (xt[:200], tt[:200])


class StubTrainer:
    """Just what the monitoring callbacks touch."""

    def __init__(self):
        self.stop_training = False
        self.verbose = False
        self.base_lr = 0.1
        self.lines = []
        self.log = self.lines.append

    def set_base_lr(self, lr):
        self.base_lr = lr


def feed(callback, values, key="val_loss"):
    trainer = StubTrainer()
    callback.set_trainer(trainer)
    stopped_at = None
    for epoch, value in enumerate(values, start=1):
        callback.on_epoch_end({"epoch": epoch, "iteration": epoch * 10, key: value})
        if trainer.stop_training:
            return trainer, epoch
    return trainer, stopped_at


def test_early_stopping_counts_epochs_without_improvement():
    es = EarlyStopping(patience=2)
    _, stopped = feed(es, [1.0, 0.9, 0.95, 0.91, 0.8, 0.7])
    assert stopped == 4 and es.best == 0.9 and es.best_epoch == 2
    es = EarlyStopping(monitor="val_acc", patience=2, min_delta=0.01)
    _, stopped = feed(es, [0.5, 0.6, 0.605, 0.609, 0.7], key="val_acc")
    assert stopped == 4 and es.best == 0.6  # +0.005 and +0.009 are below min_delta
    # the measurement before the first step (iteration 0) is not judged
    es = EarlyStopping(patience=1)
    es.set_trainer(StubTrainer())
    es.on_epoch_end({"epoch": 0, "iteration": 0, "val_loss": 0.1})
    assert es.best is None


def test_plateau_cuts_the_rate_then_waits():
    plateau = ReduceLROnPlateau(patience=2, factor=0.5, cooldown=1, min_lr=0.02)
    trainer, _ = feed(plateau, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    # epochs 2-3 without improvement: 0.1 -> 0.05; one epoch of cooldown, then two more
    # (6, 7): 0.025; then 0.02, the floor.
    assert trainer.base_lr == pytest.approx(0.02)
    plateau = ReduceLROnPlateau(patience=2, factor=0.5)
    trainer, _ = feed(plateau, [1.0, 0.9, 0.8, 0.7])
    assert trainer.base_lr == 0.1


def test_a_monitor_the_run_does_not_record_is_named():
    with pytest.raises(ValueError, match=r"cannot monitor 'val_loss'.*validation_split"):
        monitored_value({"epoch": 1, "iteration": 5, "loss": 1.0, "test_acc": 0.5}, "val_loss")
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=0)
    with pytest.raises(ValueError, match="factor"):
        ReduceLROnPlateau(factor=1.5)


class WeightsEachEpoch(Callback):
    def __init__(self):
        self.weights = {}

    def on_epoch_end(self, metrics):
        self.weights[metrics["epoch"]] = {k: v.copy() for k, v in self.trainer.network.params.items()}


def make(digits, callbacks, epochs=6, checkpoint=None, lr=0.5):
    (x, t), (xt, tt) = digits
    net = TwoLayerNet(784, 20, 10, rng=0)
    return Trainer(net, x, t, xt, tt, epochs=epochs, mini_batch_size=50,
                   optimizer="momentum", optimizer_param={"lr": lr}, seed=4,
                   validation_split=0.2, verbose=False,
                   callbacks=callbacks + ([EpochCheckpoint(checkpoint)] if checkpoint else []),
                   augment=Augment(shift=1, rotation=5))


def test_restore_best_weights_ends_on_the_best_epoch(digits):
    record = WeightsEachEpoch()
    es = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    trainer = make(digits, [record, es], epochs=12, lr=2.0)  # a rate that overshoots
    trainer.train()
    losses = {h["epoch"]: h["val_loss"] for h in trainer.history if h["iteration"]}
    best = min(losses, key=losses.get)
    assert es.best_epoch == best and best < trainer.history[-1]["epoch"], losses
    for key, value in trainer.network.params.items():
        np.testing.assert_array_equal(value, record.weights[best][key])
    assert trainer.stop_reason == "early stop"
    # the test set is measured once, after the restore
    assert trainer.test_result["test_acc"] == pytest.approx(
        trainer.network.accuracy(trainer.x_test, trainer.t_test))


def test_early_stopping_saves_and_resumes_the_weights_it_reports(digits, tmp_path):
    # A min_delta no change can beat: epoch 1 is the best, the stop comes after epoch 2.
    record = WeightsEachEpoch()
    es = EarlyStopping(monitor="loss", patience=1, min_delta=1e9, restore_best_weights=True)
    trainer = make(digits, [record, es], epochs=5, checkpoint=tmp_path / "run.npz")
    trainer.train()
    assert trainer.stop_reason == "early stop" and trainer.history[-1]["epoch"] == 2
    assert trainer.final_metrics["epoch"] == 1
    assert trainer.final_metrics == trainer.history[1]
    saved = load_checkpoint(tmp_path / "run.npz")
    assert saved.training["weights_epoch"] == 1
    for key, value in record.weights[1].items():
        np.testing.assert_array_equal(trainer.network.params[key], value)
        np.testing.assert_array_equal(saved.model.params[key], value)
    resumed = make(digits, [WeightsEachEpoch(), EarlyStopping(monitor="loss", patience=1, min_delta=1e9,
                                          restore_best_weights=True)], epochs=5,
                   checkpoint=tmp_path / "run.npz")
    resumed.load_state(saved)
    assert resumed.final_metrics == trainer.final_metrics
    for key, value in record.weights[1].items():
        np.testing.assert_array_equal(resumed.network.params[key], value)


def test_command_line_early_stopping_reports_what_it_saves(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(COMMON + ["--epochs", "5", "--validation-split", "0.1",
                              "--early-stopping", "1", "--min-delta", "1e9", "--monitor",
                              "val_loss", "--save", "es.npz"]) == 0
    final = capsys.readouterr().out.strip().splitlines()[-1]
    saved = load_checkpoint("es.npz")
    epoch1 = saved.training["history"][1]
    assert f"train_acc {epoch1['train_acc']:.4f}  val_acc {epoch1['val_acc']:.4f}" in final
    assert cli.main(["evaluate", "es.npz", "--json"]) == 0
    accuracy = json.loads(capsys.readouterr().out)["accuracy"]
    assert f"test_acc {accuracy:.4f}" in final


def test_best_checkpoint_holds_the_best_epoch(digits, tmp_path):
    record = WeightsEachEpoch()
    best = BestCheckpoint(tmp_path / "best.npz", monitor="val_acc")
    trainer = make(digits, [record, best], epochs=5)
    trainer.train()
    accs = {h["epoch"]: h["val_acc"] for h in trainer.history if h["iteration"]}
    first_best = max(accs, key=lambda e: (accs[e], -e))
    saved = chainrule.load(tmp_path / "best.npz")
    for key, value in saved.params.items():
        np.testing.assert_array_equal(value, record.weights[first_best][key])


def _stop_at(trainer, iteration):
    class Stop(Callback):
        def on_iteration_end(self, i, loss):
            if i == iteration:
                self.trainer.request_stop()
    trainer.callbacks.append(Stop())


@pytest.mark.parametrize("stop_at", [7, 24, 41])
def test_interrupted_and_resumed_equals_unbroken(digits, tmp_path, stop_at):
    def callbacks(tag):
        return [ReduceLROnPlateau(monitor="val_acc", patience=1, factor=0.5),
                EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True),
                BestCheckpoint(tmp_path / f"best-{tag}.npz", monitor="val_acc")]

    unbroken = make(digits, callbacks("a"), epochs=7, lr=1.5)
    unbroken.train()

    first = make(digits, callbacks("b"), epochs=7, lr=1.5, checkpoint=tmp_path / "run.npz")
    _stop_at(first, stop_at)
    with pytest.raises(TrainingInterrupted):
        first.train()
    resumed = make(digits, callbacks("b"), epochs=7, lr=1.5, checkpoint=tmp_path / "run.npz")
    resumed.load_state(tmp_path / "run.npz")
    resumed.train()

    for key, value in unbroken.network.params.items():
        np.testing.assert_array_equal(value, resumed.network.params[key])
    strip = [{k: v for k, v in h.items() if k != "elapsed"} for h in unbroken.history]
    assert strip == [{k: v for k, v in h.items() if k != "elapsed"} for h in resumed.history]
    assert unbroken.test_result == resumed.test_result
    assert unbroken.stop_reason == resumed.stop_reason
    a, b = chainrule.load(tmp_path / "best-a.npz"), chainrule.load(tmp_path / "best-b.npz")
    for key in a.params:
        np.testing.assert_array_equal(a.params[key], b.params[key])
    # the callbacks' state went through the file
    es_a, es_b = unbroken.callbacks[1], resumed.callbacks[1]
    assert (es_a.best, es_a.best_epoch, es_a.wait) == (es_b.best, es_b.best_epoch, es_b.wait)


def test_resuming_with_other_callbacks_is_refused(digits, tmp_path):
    first = make(digits, [EarlyStopping(patience=2)], epochs=2, checkpoint=tmp_path / "r.npz")
    first.train()
    other = make(digits, [], epochs=3)
    with pytest.raises(ValueError, match=r"callback 0:EarlyStopping that this trainer does not have"):
        other.load_state(tmp_path / "r.npz")


def test_callback_protocol_order_and_arguments(digits):
    calls = []

    class Spy:
        def set_trainer(self, trainer):
            calls.append(("set_trainer", trainer))

        def on_train_begin(self, run_info):
            calls.append(("begin", run_info))

        def on_epoch_begin(self, epoch):
            calls.append(("epoch_begin", epoch))

        def on_iteration_begin(self, iteration):
            calls.append(("iter_begin", iteration))

        def on_iteration_end(self, iteration, loss):
            calls.append(("iter_end", iteration))

        def on_epoch_end(self, metrics):
            calls.append(("epoch_end", metrics["epoch"]))

        def on_train_end(self):
            calls.append(("end",))

    (x, t), (xt, tt) = digits
    trainer = Trainer(TwoLayerNet(784, 5, 10, rng=0), x[:100], t[:100], xt, tt, epochs=2,
                      mini_batch_size=50, seed=0, verbose=False, callbacks=[Spy()])
    trainer.run_info = {"dataset": "x"}
    trainer.train()
    assert calls[0] == ("set_trainer", trainer)
    assert [c for c in calls[1:]] == [
        ("begin", {"dataset": "x"}), ("epoch_end", 0),
        ("epoch_begin", 0), ("iter_begin", 0), ("iter_end", 1), ("iter_begin", 1),
        ("iter_end", 2), ("epoch_end", 1),
        ("epoch_begin", 1), ("iter_begin", 2), ("iter_end", 3), ("iter_begin", 3),
        ("iter_end", 4), ("epoch_end", 2), ("end",)]
    assert trainer.stop_reason == "finished"


# -- the command line ------------------------------------------------------------------------
COMMON = ["train", "--dataset", "mnist-10k", "--hidden", "16", "--batch-size", "200",
          "--seed", "3", "--quiet"]


def test_continue_a_finished_run_to_a_new_total(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(COMMON + ["--epochs", "2", "--lr-schedule", "cosine", "--save", "r.npz"]) == 0
    capsys.readouterr()
    assert cli.main(["train", "--resume", "r.npz", "--epochs", "4"]) == 0
    err = capsys.readouterr().err
    assert "continuing to 160 steps (4 epochs) instead of 80" in err
    assert "the cosine schedule is stretched over the new total" in err
    ck = load_checkpoint("r.npz")
    assert ck.training["iteration"] == 160 and ck.training["epoch"] == 4
    assert [h["epoch"] for h in ck.training["history"]] == [0, 1, 2, 3, 4]
    assert cli.main(["train", "--resume", "r.npz", "--epochs", "3", "--quiet"]) == 2
    assert "a total of 120 steps is behind it" in capsys.readouterr().err


def test_command_line_early_stopping_resumes_exactly(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    options = ["--epochs", "6", "--validation-split", "0.2", "--early-stopping", "2",
               "--monitor", "val_acc", "--lr-schedule", "plateau", "--plateau-patience", "1",
               "--augment", "--shift", "1", "--lr", "0.8"]
    assert cli.main(COMMON + options + ["--save", "full.npz", "--best-checkpoint", "b1.npz"]) == 0
    full_out = capsys.readouterr().out
    assert "val_acc" in full_out and "test_acc" in full_out

    assert stopped_run(COMMON + options + ["--save", "part.npz", "--best-checkpoint", "b2.npz"],
                       50) == 130
    assert cli.main(["train", "--resume", "part.npz", "--quiet"]) == 0
    resumed_out = capsys.readouterr().out
    assert full_out.strip().splitlines()[-1].split("(")[0] == \
        resumed_out.strip().splitlines()[-1].split("(")[0]
    a, b = load_checkpoint("full.npz"), load_checkpoint("part.npz")
    for key in a.model.params:
        np.testing.assert_array_equal(a.model.params[key], b.model.params[key])
    strip = lambda h: [{k: v for k, v in e.items() if k != "elapsed"} for e in h]  # noqa: E731
    assert strip(a.training["history"]) == strip(b.training["history"])
    best_a, best_b = chainrule.load("b1.npz"), chainrule.load("b2.npz")
    for key in best_a.params:
        np.testing.assert_array_equal(best_a.params[key], best_b.params[key])


def test_an_epoch_log_given_replaces_the_trainers_own(digits, capsys):
    lines = []
    (x, t), (xt, tt) = digits
    trainer = Trainer(TwoLayerNet(784, 5, 10, rng=0), x[:100], t[:100], xt, tt, epochs=2,
                      mini_batch_size=50, seed=0, callbacks=[EpochLog(log=lines.append)])
    trainer.train()
    assert len(lines) == 3 and lines[0].startswith("epoch   0")
    assert capsys.readouterr().out == ""
