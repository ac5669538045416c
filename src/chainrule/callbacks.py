"""Callbacks: what a training run does besides stepping, as objects the Trainer calls.

The protocol (every method optional; `Callback` gives empty ones to inherit):

    set_trainer(trainer)            before anything else: the callback may keep the
                                    trainer (Callback stores it as self.trainer) to read
                                    its history, network, optimizer or to stop it
    on_train_begin(run_info)        once per train() call, run_info the run's JSON dict
    on_epoch_begin(epoch)           before the first step of each epoch (0-based index)
    on_iteration_begin(iteration)   before every step (iteration: the steps done so far)
    on_iteration_end(iteration, loss)   after every step (iteration counts from 1)
    on_epoch_end(metrics)           after each evaluation (also the one before the first
                                    step, iteration 0): metrics is the history entry,
                                    {"epoch", "iteration", "loss", "train_acc",
                                    "test_acc" or "val_loss"/"val_acc", "elapsed", ...};
                                    the whole history is trainer.history
    on_interrupt()                  after Ctrl-C (or request_stop), before the run
                                    stops: a callback that saves the state returns
                                    the path it saved to
    on_train_end()                  when train() returns or raises; trainer.stop_reason
                                    says why: "finished", "early stop", "interrupted",
                                    "diverged" or "error"
    state_dict() / load_state_dict(state)
                                    what the callback must remember across a Ctrl-C and
                                    resuming: a dict of JSON values and NumPy arrays,
                                    saved in the checkpoint's training state

A callback stops the run after the current epoch with `trainer.stop_training = True`
(a normal end: the run is finished, the test set measured), and changes the learning
rate with `trainer.set_base_lr(lr)` (the rate a schedule scales).

What a run does besides stepping is done by callbacks of this module too, each holding
its own settings. The Trainer puts LearningRateSchedule, ProgressBar and EpochLog before
yours (give a ProgressBar or EpochLog of your own to change how they show, it then
replaces the Trainer's); MetricsFile(path) and EpochCheckpoint(path) are given like any
other, and a checkpoint runs after all the others (so that it holds their state as of
the epoch's end).
"""

import json
import math
import os

import numpy as np

from . import checks

__all__ = ["Callback", "EarlyStopping", "BestCheckpoint", "ReduceLROnPlateau",
           "LearningRateSchedule", "ProgressBar", "EpochLog", "MetricsFile",
           "EpochCheckpoint", "monitored_value", "call"]


def call(callbacks, method, *args):
    """Call `method` on every callback that has it, in order."""
    for callback in callbacks:
        function = getattr(callback, method, None)
        if function is not None:
            function(*args)


class Callback:
    """The protocol's methods, doing nothing: subclass and override what you need."""

    trainer = None

    def set_trainer(self, trainer):
        self.trainer = trainer

    def on_train_begin(self, run_info):
        pass

    def on_epoch_begin(self, epoch):
        pass

    def on_iteration_begin(self, iteration):
        pass

    def on_iteration_end(self, iteration, loss):
        pass

    def on_epoch_end(self, metrics):
        pass

    def on_interrupt(self):
        return None

    def on_train_end(self):
        pass

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass

    def _log(self, message):
        trainer = self.trainer
        if trainer is not None and trainer.verbose:
            trainer.log(message)


def monitored_value(metrics, monitor):
    """metrics[monitor] as a float; a clear error if the run does not record it."""
    value = metrics.get(monitor)
    if value is None:
        known = [k for k, v in metrics.items()
                 if isinstance(v, (int, float)) and k not in ("epoch", "iteration", "elapsed")]
        hint = (" (val_loss and val_acc need a validation split: validation_split > 0)"
                if monitor.startswith("val_") else "")
        raise ValueError(f"cannot monitor {monitor!r}: this run records "
                         f"{', '.join(known)}{hint}")
    return float(value)


class _Monitor(Callback):
    """A quantity watched for improvement: lower is better for losses, higher for
    accuracies (mode="auto"), by more than min_delta."""

    def __init__(self, monitor, min_delta, mode):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be auto, min or max, got {mode!r}")
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        min_delta = float(min_delta)
        if not min_delta >= 0 or not math.isfinite(min_delta):
            raise ValueError(f"min_delta must be a number >= 0, got {min_delta}")
        self.monitor = str(monitor)
        self.mode = mode
        self.min_delta = min_delta
        self.best = None
        self.best_epoch = None

    def _improved(self, value):
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def _watch(self, metrics):
        """(value, improved) for an evaluation after training steps; None for the one
        before the first step, which no callback judges."""
        if not metrics.get("iteration"):
            return None
        value = monitored_value(metrics, self.monitor)
        improved = self._improved(value)
        if improved:
            self.best, self.best_epoch = value, int(metrics["epoch"])
        return value, improved

    def _monitor_state(self):
        return {"best": self.best, "best_epoch": self.best_epoch}

    def _load_monitor_state(self, state):
        best, epoch = state.get("best"), state.get("best_epoch")
        best = None if best is None else _number(best, "best")
        epoch = None if epoch is None else _count(epoch, "best_epoch")
        self.best, self.best_epoch = best, epoch


def _number(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _count(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a whole number >= 0, got {value!r}")
    return value


class EarlyStopping(_Monitor):
    """Stop when `monitor` has not improved for `patience` epochs in a row.

    With restore_best_weights the network ends on the weights (and batch-norm
    statistics) of its best epoch, kept in memory as the run goes and saved with the
    training state, so a run resumed after Ctrl-C restores the same ones.
    """

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, mode="auto",
                 restore_best_weights=False):
        super().__init__(monitor, min_delta, mode)
        self.patience = checks.positive_int("patience", patience)
        self.restore_best_weights = bool(restore_best_weights)
        self.wait = 0
        self.stopped_epoch = None
        self.best_weights = None  # {"param/W1": array, "buffer/...": array}

    def __repr__(self):
        return (f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience}, "
                f"min_delta={self.min_delta:g}, restore_best_weights="
                f"{self.restore_best_weights})")

    def on_epoch_end(self, metrics):
        watched = self._watch(metrics)
        if watched is None:
            return
        value, improved = watched
        if improved:
            self.wait = 0
            if self.restore_best_weights:
                self.best_weights = _copy_weights(self.trainer.network, self.best_weights)
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = int(metrics["epoch"])
            self.trainer.stop_training = True
            self._log(f"early stop after epoch {self.stopped_epoch}: {self.monitor} has not "
                      f"improved for {self.patience} epoch(s) (best {self.best:.4f} at "
                      f"epoch {self.best_epoch})")
        last = getattr(self.trainer, "max_iter", None)
        if self.trainer.stop_training or (last is not None and metrics["iteration"] >= last):
            self._restore()

    def _restore(self):
        """End on the best epoch's weights. Done here, at the run's last evaluation and
        not when train() returns, so that the checkpoint saved after it (EpochCheckpoint
        runs last), the final test and a resumed run all hold the weights reported."""
        if not self.restore_best_weights or self.best_weights is None:
            return
        _restore_weights(self.trainer.network, self.best_weights)
        self.trainer.weights_from_epoch(self.best_epoch)
        self._log(f"restored the weights of epoch {self.best_epoch} "
                  f"({self.monitor} {self.best:.4f})")

    def state_dict(self):
        state = self._monitor_state()
        state.update({"wait": self.wait, "stopped_epoch": self.stopped_epoch})
        if self.best_weights is not None:
            state["arrays"] = dict(self.best_weights)
        return state

    def load_state_dict(self, state):
        wait = _count(state.get("wait", 0), "wait")
        stopped = state.get("stopped_epoch")
        stopped = None if stopped is None else _count(stopped, "stopped_epoch")
        arrays = state.get("arrays")
        if arrays and not all(k.split("/", 1)[0] in ("param", "buffer") for k in arrays):
            raise ValueError("the best weights are named neither param/ nor buffer/")
        self._load_monitor_state(state)
        self.wait, self.stopped_epoch = wait, stopped
        self.best_weights = ({k: np.array(v) for k, v in arrays.items()}
                             if arrays else None)


class BestCheckpoint(_Monitor):
    """Save the run to `path` each time `monitor` improves (Keras's ModelCheckpoint with
    save_best_only): the file then holds the best epoch's network, loadable with
    chainrule.load, with the training state of that moment. Written atomically."""

    def __init__(self, path, monitor="val_loss", min_delta=0.0, mode="auto"):
        super().__init__(monitor, min_delta, mode)
        self.path = os.fspath(path)

    def __repr__(self):
        return f"BestCheckpoint({self.path!r}, monitor={self.monitor!r})"

    def on_epoch_end(self, metrics):
        watched = self._watch(metrics)
        if watched is not None and watched[1]:
            self.trainer.save(self.path, best=True)
            self._log(f"best {self.monitor} so far ({watched[0]:.4f}, epoch "
                      f"{self.best_epoch}): saved to {self.path}")

    def state_dict(self):
        return self._monitor_state()

    def load_state_dict(self, state):
        self._load_monitor_state(state)


class ReduceLROnPlateau(_Monitor):
    """Multiply the learning rate by `factor` when `monitor` has not improved for
    `patience` epochs, then wait `cooldown` epochs before judging again; never below
    min_lr. The rate changed is the trainer's base rate, which a schedule scales."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=3, min_delta=1e-4,
                 mode="auto", cooldown=0, min_lr=0.0):
        super().__init__(monitor, min_delta, mode)
        factor = float(factor)
        if not 0.0 < factor < 1.0:
            raise ValueError(f"factor must be between 0 and 1, got {factor}")
        self.factor = factor
        self.patience = checks.positive_int("patience", patience)
        self.cooldown = checks.non_negative_int("cooldown", cooldown)
        self.min_lr = float(min_lr)
        if not self.min_lr >= 0:
            raise ValueError(f"min_lr must be >= 0, got {min_lr}")
        self.wait = 0
        self.cooldown_left = 0

    def __repr__(self):
        return (f"ReduceLROnPlateau(monitor={self.monitor!r}, factor={self.factor:g}, "
                f"patience={self.patience})")

    def on_epoch_end(self, metrics):
        watched = self._watch(metrics)
        if watched is None:
            return
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.wait = 0
        if watched[1]:
            self.wait = 0
            return
        if self.cooldown_left > 0:
            return
        self.wait += 1
        if self.wait >= self.patience:
            trainer = self.trainer
            old = trainer.base_lr
            new = max(old * self.factor, self.min_lr)
            if new < old:
                trainer.set_base_lr(new)
                self._log(f"{self.monitor} has not improved for {self.patience} epoch(s): "
                          f"learning rate {old:.4g} -> {new:.4g}")
            self.wait = 0
            self.cooldown_left = self.cooldown

    def state_dict(self):
        state = self._monitor_state()
        state.update({"wait": self.wait, "cooldown_left": self.cooldown_left})
        return state

    def load_state_dict(self, state):
        wait = _count(state.get("wait", 0), "wait")
        cooldown_left = _count(state.get("cooldown_left", 0), "cooldown_left")
        self._load_monitor_state(state)
        self.wait, self.cooldown_left = wait, cooldown_left


# -- the Trainer's own callbacks -------------------------------------------------------
class LearningRateSchedule(Callback):
    """Before each step, the optimizer's rate = trainer.base_lr * factor(progress), the
    progress being the step's index over the run's steps (trainer.lr_schedule names
    the factor: constant leaves the rate alone)."""

    def on_iteration_begin(self, iteration):
        trainer = self.trainer
        if trainer.lr_schedule != "constant":
            factor = trainer.lr_factor
            trainer.optimizer.lr = trainer.base_lr * (
                factor.at(iteration, trainer.max_iter) if hasattr(factor, "at")
                else factor(iteration / trainer.max_iter))


class ProgressBar(Callback):
    """A tqdm bar over each epoch's steps, showing the loss (nothing if tqdm is not
    installed, or the trainer is not verbose). show: None (default) on a terminal
    only, True always, False never. tqdm.auto makes it a widget in Jupyter and text
    elsewhere. The Trainer shows one unless given one."""

    def __init__(self, show=None):
        if show not in (None, True, False):
            raise ValueError(f"show must be None, True or False, got {show!r}")
        self.show = show
        self.bar = None
        self.epoch = None

    def on_train_begin(self, run_info):
        trainer = self.trainer
        self.bar, self.epoch = None, None
        if not trainer.verbose or self.show is False:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return
        # disable=None: shown on a terminal, silent in logs and pipes.
        self.bar = tqdm(total=trainer.iter_per_epoch, leave=False, unit="step",
                        disable=None if self.show is None else not self.show)

    def on_iteration_begin(self, iteration):
        if self.bar is None:
            return
        trainer = self.trainer
        epoch, position = divmod(iteration, trainer.iter_per_epoch)
        if epoch != self.epoch:  # a new epoch, or the first step of a resumed one
            self.epoch = epoch
            self.bar.reset(total=min(trainer.iter_per_epoch,
                                     trainer.max_iter - epoch * trainer.iter_per_epoch))
            self.bar.update(position)
            self.bar.set_description(f"epoch {epoch + 1}")

    def on_iteration_end(self, iteration, loss):
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

    def on_train_end(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class EpochLog(Callback):
    """One line per evaluation, when the trainer is verbose, through `log` (print by
    default); the trainer's other lines (and other callbacks') go through it too. The
    Trainer prints them unless given one."""

    def __init__(self, log=print):
        if not callable(log):
            raise ValueError(f"log must be a function of one line of text, got {log!r}")
        self.log = log

    def on_epoch_end(self, m):
        trainer = self.trainer
        loss = f"{m['loss']:.4f}" if m["loss"] is not None else "   -  "
        if "val_perplexity" in m:  # a language model
            shown = f"val_loss {m['val_loss']:.4f}  val_ppl {m['val_perplexity']:.2f}"
        elif "val_acc" in m:
            shown = f"val_loss {m['val_loss']:.4f}  val_acc {m['val_acc']:.4f}"
        else:
            shown = f"test_acc {m['test_acc']:.4f}"
        train = f"train_acc {m['train_acc']:.4f}  " if "train_acc" in m else ""
        trainer.log(f"epoch {m['epoch']:3d}  iter {m['iteration']:6d}  loss {loss}  "
                    f"{train}{shown}  {m['elapsed']:7.1f}s")


class MetricsFile(Callback):
    """One JSON line per evaluation appended to the file `path`. (With a
    DistributedTrainer, give it in root_callbacks: one process writes.)"""

    def __init__(self, path):
        self.path = os.fspath(path)

    def __repr__(self):
        return f"MetricsFile({self.path!r})"

    def on_epoch_end(self, metrics):
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(metrics) + "\n")


class EpochCheckpoint(Callback):
    """The whole state saved to `path` after every epoch's evaluation (with
    every_epoch, the default) and on Ctrl-C, so that a run can be continued with
    Trainer.load_state. It runs after all other callbacks, so that it holds theirs
    too; before saving on Ctrl-C it checks that the weights are finite."""

    runs_last = True

    def __init__(self, path, every_epoch=True):
        self.path = os.fspath(path)
        self.every_epoch = bool(every_epoch)

    def __repr__(self):
        return f"EpochCheckpoint({self.path!r}, every_epoch={self.every_epoch})"

    @property
    def needs_figures_at_once(self):
        """Saving every epoch needs each epoch's figures before the next step."""
        return self.every_epoch

    def on_epoch_end(self, metrics):
        if self.every_epoch and metrics.get("iteration"):
            self.trainer.save(self.path)

    def on_interrupt(self):
        self.trainer.check_weights()
        return self.trainer.save(self.path)


def _copy_weights(network, into=None):
    arrays = {f"param/{k}": v for k, v in network.params.items()}
    arrays.update({f"buffer/{k}": v for k, v in (getattr(network, "buffers", None) or {}).items()})
    if into is None or set(into) != set(arrays):
        return {k: np.array(v, copy=True) for k, v in arrays.items()}
    for k, v in arrays.items():
        into[k][...] = v
    return into


def _restore_weights(network, saved):
    for key, value in saved.items():
        kind, name = key.split("/", 1)
        target = network.params if kind == "param" else network.buffers
        target[name][...] = value
