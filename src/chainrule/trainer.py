"""Mini-batch training (chapters 4.5 and 6): the seed's loop as a reusable class.

Each epoch visits every training sample once in a fresh random order (the book samples
with replacement, so some samples are seen twice and others not at all), in
ceil(N / batch_size) steps; after every epoch, and once before the first, the network is
measured (accuracy on the training data, and on the test data or, with a validation
split, the loss and accuracy on the part held out) and the figures recorded.

The loop itself is short: it steps, and calls callbacks (chainrule.callbacks) before and
after every step and epoch. What the run does besides stepping (the learning-rate
schedule, the progress bar, the printed lines, the metrics file, the per-epoch
checkpoint, and any callbacks given: early stopping, a best checkpoint, a plateau
schedule, the live page) is done by them.
"""

import copy
import math
import os
import signal
import threading
import time

import numpy as np

from . import callbacks as _callbacks
from . import checkpoint as _checkpoint
from . import checks
from .functions import NonFiniteError, class_indices
from .optimizers import clip_grads, lr_schedule as _lr_schedule, make_optimizer
from .training_state import (callback_states_to_load, check_model_fits, check_run_fits,
                             check_training_state, generators_from_states, layer_rng_states)

__all__ = ["Trainer", "TrainingDiverged", "TrainingInterrupted", "check_training_state"]


class TrainingDiverged(RuntimeError):
    """The loss became NaN, infinite or absurdly large, or the weights stopped being
    finite; training was stopped before anything bad was saved."""


class TrainingInterrupted(KeyboardInterrupt):
    """Training was interrupted with Ctrl-C after a complete step (state saved if asked)."""

    def __init__(self, message, checkpoint=None):
        super().__init__(message)
        self.checkpoint = checkpoint


class Trainer:
    """Trains `network` on (x_train, t_train), measuring it after every epoch.

    `network` is anything with the book's protocol: `params` (name -> array),
    `gradient(x, t)`, `loss(x, t)` and `accuracy(x, t)`, such as the book's own
    SimpleConvNet; what chainrule's networks add (output_size, dtype, last_loss) is
    used when there and inferred from the data otherwise.

    The book's arguments come first and mean what they mean there. Keyword-only, what
    the loop itself needs:
      iters            stop after this many steps instead of `epochs` full epochs
                       (the seed runs 10,000 steps);
      seed             fixes the order of the samples, the validation split and the
                       augmentation (the network's own initial weights are fixed by how
                       it was built);
      callbacks        objects with any of the methods of chainrule.callbacks.Callback;
                       what a run does besides stepping is one of them: the metrics
                       file (MetricsFile(path)), the checkpoint saved every epoch and on
                       Ctrl-C (EpochCheckpoint(path)), the progress bar and the epoch
                       lines (ProgressBar, EpochLog: given, they replace the trainer's
                       own), early stopping, a best checkpoint, a plateau schedule...;
      validation_split hold out this stratified fraction of the training data (drawn
                       from the seed); each epoch then records val_loss and val_acc
                       instead of test_acc, callbacks watch those, and the test set is
                       measured once, at the end, into `test_result`. Default 0: the
                       book's per-epoch test accuracy;
      augment          a function (x_batch, rng) -> new batch applied to every training
                       batch, such as chainrule.augmentation.Augment (off by default);
      lr_schedule      "constant" (default) or "cosine", or a function of the progress
                       p in [0, 1] (the step's index over the run's steps): each step
                       uses the base learning rate times schedule(p);
      max_loss         training stops as diverged when a step's loss exceeds this
                       (default: 100 times ln(classes), the loss of guessing at random;
                       float("inf") stops only on NaN or infinity);
      eval_batch_size  chunk size for measuring (bounds memory);
      clip_grad        scale each step's gradients down to this global L2 norm when
                       they exceed it (chainrule.optimizers.clip_grads; off by default);
      eval_in_background  measure each epoch on a copy of the network in a second
                       thread while training goes on (the same figures, sooner: worth it
                       with a second core; ignored when a checkpoint, a validation split
                       or a callback with state needs the figures at once).
    `run_info`, a JSON-friendly dict, is saved with the state (the command line records
    its data set there); set it before train().

    After train(): train_loss_list (per step), train_acc_list and test_acc_list (or
    val_loss_list and val_acc_list) per evaluation, `history`, a list of per-evaluation
    dicts, and `stop_reason` ("finished", "early stop", "interrupted", "diverged").

    Extension points, for a trainer that steps or measures differently (such as
    chainrule.distributed.DistributedTrainer): step_gradients (a step's gradients and
    loss), measure_accuracy (the share of correct answers), stop_agreed (whether the
    run stops after this step) and check_weights (that the weights may be kept);
    such a method calls diverged(what) to stop the run as diverged.
    """

    def __init__(self, network, x_train, t_train, x_test, t_test, epochs=20,
                 mini_batch_size=100, optimizer="SGD", optimizer_param=None,
                 evaluate_sample_num_per_epoch=None, verbose=True, *, iters=None,
                 seed=None, callbacks=(), validation_split=0.0, augment=None,
                 lr_schedule=None, max_loss=None, eval_batch_size=1000,
                 eval_in_background=False, clip_grad=None):
        self.network = network
        self._set_data(x_train, t_train, x_test, t_test)
        self.validation_split = checks.fraction("validation_split", validation_split or 0.0)
        self.augment = augment
        if augment is not None and getattr(augment, "image_shape", False) is None:
            shape = getattr(network, "input_shape", None) or getattr(network, "input_dim", None)
            if shape is not None and len(tuple(shape)) == 3:
                augment.image_shape = tuple(int(d) for d in shape)
        if hasattr(augment, "check"):
            # Refused now rather than at the first batch.
            augment.check(self._all_train[0][:1])

        if seed is None:
            seed = int(np.random.SeedSequence().entropy % 2**63)
        self.seed = checks.non_negative_int("seed", seed)
        self._split(self.seed)
        self._set_length(epochs, mini_batch_size, iters)

        if optimizer_param is None:
            optimizer_param = {"lr": 0.01}
        self.optimizer = make_optimizer(optimizer, **optimizer_param)
        self.lr_schedule, self.lr_factor = _lr_schedule(lr_schedule)
        self.base_lr = self._initial_base_lr = self.optimizer.lr
        if evaluate_sample_num_per_epoch is not None:
            evaluate_sample_num_per_epoch = checks.positive_int(
                "evaluate_sample_num_per_epoch", evaluate_sample_num_per_epoch)
        self.evaluate_sample_num_per_epoch = evaluate_sample_num_per_epoch
        self.verbose = verbose
        self.eval_batch_size = checks.positive_int("eval_batch_size", eval_batch_size)
        self.clip_grad = (None if clip_grad is None
                          else checks.positive_number("clip_grad", clip_grad))
        self.callbacks = list(callbacks)
        self.run_info = {}
        self._set_max_loss(max_loss, self.n_classes)
        self.last_saved = None  # (path, iteration) of the newest checkpoint written
        self._reset_progress()
        # Callbacks that decide on an epoch's figures need them at once, as does the
        # per-epoch checkpoint; a validation run measures little, so gains nothing.
        watching = any(_keeps_state(c) or getattr(c, "needs_figures_at_once", False)
                       for c in self.callbacks)
        self.eval_in_background = (bool(eval_in_background) and not watching
                                   and self.x_val is None)
        self._pending_eval = None  # (future, epoch, iteration, losses, elapsed)
        self._executor = None
        self._builtin = None

    def _set_data(self, x_train, t_train, x_test, t_test):
        """The data in the network's dtype and the labels as class indices."""
        dtype = getattr(self.network, "dtype", np.float64)
        # Cast once, here: a float32 batch meeting float64 weights would be slow every step.
        x_train = np.asarray(x_train, dtype=dtype)
        self.x_test = np.asarray(x_test, dtype=dtype)
        if len(x_train) == 0:
            raise ValueError("the training set is empty")
        self.n_classes = n_classes = _class_count(self.network, t_train, t_test)
        t_train = class_indices(t_train, n_classes, batch_size=len(x_train), name="t_train")
        self.t_test = class_indices(t_test, n_classes, batch_size=len(self.x_test),
                                    name="t_test")
        self._all_train = (x_train, t_train)

    def _reset_progress(self):
        """Where a new run starts: no steps, no figures."""
        self.current_iter = 0
        self.current_epoch = 0
        self.elapsed = 0.0
        self.train_loss_list = []
        self.train_acc_list = []
        self.test_acc_list = []
        self.val_loss_list = []
        self.val_acc_list = []
        self.history = []
        self.test_result = None  # {"test_loss", "test_acc"}: the one final measurement
        self.weights_epoch = None  # the epoch whose weights the network holds: None, the last
        self.stop_training = False
        self.stop_reason = None
        self.stop_requested = False  # set by Ctrl-C and request_stop()

    def _set_length(self, epochs, mini_batch_size, iters):
        """The batch size, and the run's length in epochs and steps."""
        epochs = checks.positive_int("epochs", epochs)
        mini_batch_size = checks.positive_int("mini_batch_size", mini_batch_size)
        self.batch_size = min(mini_batch_size, len(self.x_train))
        self.iter_per_epoch = math.ceil(len(self.x_train) / self.batch_size)
        if iters is not None:
            self.max_iter = checks.positive_int("iters", iters)
            self.epochs = math.ceil(self.max_iter / self.iter_per_epoch)
        else:
            self.epochs = epochs
            self.max_iter = self.epochs * self.iter_per_epoch
        self.eval_interval = self.iter_per_epoch  # steps between measurements

    def _set_max_loss(self, max_loss, n_classes):
        # With a stable softmax the loss of a blown-up network rarely becomes NaN: it
        # grows to 1e9 and more while the weights run off. A loss far above that of
        # guessing (ln C) means the same thing, and is reported the same way.
        if max_loss is None:
            self.max_loss = 100.0 * math.log(max(n_classes, 2))
            self._max_loss_meaning = "100 times the loss of guessing at random"
        else:
            self.max_loss = float(max_loss)
            if not self.max_loss > 0:
                raise ValueError(f"max_loss must be a positive number, got {max_loss!r}")
            self._max_loss_meaning = "max_loss"

    # -- the data -------------------------------------------------------------------
    def _split(self, seed):
        """Hold out the validation part (stratified, drawn from the seed) or not."""
        x, t = self._all_train
        if self.validation_split == 0.0:
            self.x_train, self.t_train = x, t
            self.x_val = self.t_val = None
            return
        from .split import split_generator, stratified_split
        kept, held = stratified_split(t, self.validation_split, split_generator(seed, 1))
        self.x_train, self.t_train = x[kept], t[kept]
        self.x_val, self.t_val = x[held], t[held]

    def batch(self, iteration):
        """(x, t) of the step with this index. An extension point: the samples of the
        epoch's order, augmented when asked; a language model's trainer reads streams
        or windows of text instead."""
        epoch, position = divmod(iteration, self.iter_per_epoch)
        if getattr(self, "_order", (None,))[0] != epoch:
            self._order = (epoch, self._epoch_order(epoch))
        chosen = self._order[1][position * self.batch_size:(position + 1) * self.batch_size]
        x_batch = self.x_train[chosen]
        if self.augment is not None:
            x_batch = self.augment(x_batch, _augment_generator(self.seed, iteration))
        return x_batch, self.t_train[chosen]

    def _epoch_order(self, epoch):
        """The sample order of an epoch: a function of (seed, epoch) alone, so a run
        continued from a checkpoint visits exactly the samples the unbroken run would."""
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.x_train))

    def set_base_lr(self, lr):
        """Change the learning rate from the next step on (a schedule scales it)."""
        self.base_lr = float(lr)
        if self.lr_schedule == "constant":
            self.optimizer.lr = self.base_lr

    # -- the loop -------------------------------------------------------------------
    def _all_callbacks(self):
        """The trainer's own callbacks (the schedule, and the progress bar and the
        printed lines unless given) first, then the ones given, in their order, but
        those that save the run (EpochCheckpoint) last, so that the checkpoint holds
        the others' state as of the epoch's end."""
        if self._builtin is None:
            self._builtin = [_callbacks.LearningRateSchedule()] + [
                kind() for kind in (_callbacks.ProgressBar, _callbacks.EpochLog)
                if not any(isinstance(c, kind) for c in self.callbacks)]
        last = [c for c in self.callbacks if getattr(c, "runs_last", False)]
        return self._builtin + [c for c in self.callbacks if c not in last] + last

    def log(self, message):
        """One line of the run's log, when verbose: through the log function of the
        EpochLog callback given (print by default)."""
        if self.verbose:
            logs = [c for c in self.callbacks if isinstance(c, _callbacks.EpochLog)]
            (logs[0].log if logs else print)(message)

    def step_gradients(self, x_batch, t_batch):
        """(gradients, loss) of one step's batch: backprop on it. An extension point:
        DistributedTrainer computes a slice of the batch on each process and adds the
        gradients up."""
        grads = self.network.gradient(x_batch, t_batch)
        return grads, _last_loss(self.network, x_batch, t_batch)

    def train_step(self, x_batch, t_batch):
        """One step: the batch's gradients, then every parameter updated exactly once.

        A loss that is NaN or infinite stops here, *before* the update, so the network
        keeps the last weights that gave a finite loss.
        """
        grads, loss = self.step_gradients(x_batch, t_batch)
        if not np.isfinite(loss):
            self.diverged(f"the loss became {loss}")
        if loss > self.max_loss:
            self.diverged(f"the loss became {loss:.4g}, above {self.max_loss:.4g} "
                           f"({self._max_loss_meaning})")
        if self.clip_grad is not None:
            clip_grads(grads, self.clip_grad)
        self.optimizer.update(self.network.params, grads)
        return loss

    def train(self):
        """Run (or continue) training; returns `history`."""
        self.stop_requested = False
        self.stop_training = False
        self.stop_reason = None
        callbacks = self._all_callbacks()
        handler_installed = False
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGINT, self._on_sigint)
            handler_installed = True
        _callbacks.call(callbacks, "set_trainer", self)
        _callbacks.call(callbacks, "on_train_begin", self.run_info)
        try:
            self._loop(callbacks)
            self.stop_reason = "early stop" if self.stop_training else "finished"
        except BaseException as exc:
            self.stop_reason = {TrainingInterrupted: "interrupted",
                                TrainingDiverged: "diverged"}.get(type(exc), "error")
            raise
        finally:
            if handler_installed:
                signal.signal(signal.SIGINT, previous)
            _callbacks.call(callbacks, "on_train_end")
        if self.x_val is not None:
            self._final_test()
        return self.history

    def _loop(self, callbacks):
        start = time.perf_counter() - self.elapsed
        if self.current_iter == 0 and not self.history:
            self._evaluate([], callbacks)
        last_eval = self.history[-1]["iteration"] if self.history else 0
        epoch_losses = list(self.train_loss_list[last_eval:])
        try:
            while self.current_iter < self.max_iter and not self.stop_training:
                if self.current_iter % self.eval_interval == 0:
                    _callbacks.call(callbacks, "on_epoch_begin",
                                    self.current_iter // self.eval_interval)
                _callbacks.call(callbacks, "on_iteration_begin", self.current_iter)
                x_batch, t_batch = self.batch(self.current_iter)
                try:
                    loss = float(self.train_step(x_batch, t_batch))
                except NonFiniteError as exc:
                    self.diverged(str(exc), exc)
                self.current_iter += 1
                self.train_loss_list.append(loss)
                epoch_losses.append(loss)
                _callbacks.call(callbacks, "on_iteration_end", self.current_iter, loss)

                if (self.current_iter % self.eval_interval == 0
                        or self.current_iter == self.max_iter):
                    # A finite loss does not prove finite weights: the update after it
                    # may have overflowed. Never evaluate, and above all never save, those.
                    self.check_weights()
                    self.elapsed = time.perf_counter() - start
                    self.current_epoch = math.ceil(self.current_iter / self.iter_per_epoch)
                    self._evaluate(epoch_losses, callbacks)
                    epoch_losses = []
                if self.stop_agreed():
                    self.elapsed = time.perf_counter() - start
                    self._collect_evaluation(callbacks)
                    self._interrupted(callbacks)
            self._collect_evaluation(callbacks)
        finally:
            if self._executor is not None:
                # After an error the evaluation under way is let finish but not recorded.
                self._pending_eval = None
                self._executor.shutdown(wait=True)
                self._executor = None
        self.elapsed = time.perf_counter() - start

    # -- measuring ------------------------------------------------------------------
    def measure_accuracy(self, x, t, network=None):
        """The share of (x, t) that `network` (default: the one training) classifies
        right, on at most evaluate_sample_num_per_epoch samples. An extension point:
        DistributedTrainer counts the correct answers of each process's slice and adds
        the counts up."""
        if self.evaluate_sample_num_per_epoch:
            x = x[:self.evaluate_sample_num_per_epoch]
            t = t[:self.evaluate_sample_num_per_epoch]
        network = self.network if network is None else network
        return network.accuracy(x, t, batch_size=self.eval_batch_size)

    def _whole_accuracy(self, x, t):
        """Accuracy on every sample (the validation and final test sets are never cut
        to evaluate_sample_num_per_epoch)."""
        limit, self.evaluate_sample_num_per_epoch = self.evaluate_sample_num_per_epoch, None
        try:
            return self.measure_accuracy(x, t)
        finally:
            self.evaluate_sample_num_per_epoch = limit

    def _loss(self, x, t):
        """The mean loss over (x, t) in evaluation mode, in chunks."""
        total = 0.0
        for start in range(0, len(x), self.eval_batch_size):
            xb, tb = x[start:start + self.eval_batch_size], t[start:start + self.eval_batch_size]
            total += _eval_loss(self.network, xb, tb) * len(xb)
        return total / len(x)

    def _measure(self, network=None):
        """(train accuracy, test accuracy) of `network` (default: the one training);
        with a validation split, (train accuracy, {"val_loss", "val_acc"})."""
        train_acc = self.measure_accuracy(self.x_train, self.t_train, network)
        if self.x_val is not None:
            return train_acc, {"val_loss": self._loss(self.x_val, self.t_val),
                               "val_acc": self._whole_accuracy(self.x_val, self.t_val)}
        return train_acc, self.measure_accuracy(self.x_test, self.t_test, network)

    def _evaluate(self, epoch_losses, callbacks):
        if not self.eval_in_background or self.current_iter == 0:
            self._record(self._measure(), self.current_epoch, self.current_iter,
                         epoch_losses, self.elapsed, callbacks)
            return
        # Measure a snapshot in the second thread: a deep copy, so training can go on
        # changing the weights (and the layers' cached inputs) meanwhile; the figures
        # are those of the weights at this epoch's end.
        from concurrent.futures import ThreadPoolExecutor
        self._collect_evaluation(callbacks)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1,
                                                thread_name_prefix="chainrule-eval")
        future = self._executor.submit(self._measure, copy.deepcopy(self.network))
        self._pending_eval = (future, self.current_epoch, self.current_iter,
                              list(epoch_losses), self.elapsed)

    def _collect_evaluation(self, callbacks):
        """Wait for the evaluation under way, if any, and record its figures."""
        if self._pending_eval is None:
            return
        future, epoch, iteration, losses, elapsed = self._pending_eval
        self._pending_eval = None
        self._record(future.result(), epoch, iteration, losses, elapsed, callbacks)

    def _record(self, measured, epoch, iteration, epoch_losses, elapsed, callbacks):
        train_acc, held_out = measured
        metrics = {"epoch": epoch, "iteration": iteration,
                   "loss": float(np.mean(epoch_losses)) if epoch_losses else None}
        if train_acc is not None:  # a language model's run measures held-out text only
            self.train_acc_list.append(train_acc)
            metrics["train_acc"] = train_acc
        if isinstance(held_out, dict):
            metrics.update(held_out)
            self.val_loss_list.append(held_out["val_loss"])
            if "val_acc" in held_out:
                self.val_acc_list.append(held_out["val_acc"])
        else:
            metrics["test_acc"] = held_out
            self.test_acc_list.append(held_out)
        if self.base_lr != self._initial_base_lr:  # a plateau schedule changed it
            metrics["lr"] = self.base_lr
        metrics["elapsed"] = round(elapsed, 3)
        self.history.append(metrics)
        self.weights_epoch = None  # these figures are of the weights the network holds
        _callbacks.call(callbacks, "on_epoch_end", metrics)
        return metrics

    def _final_test(self):
        """The test set, measured once at the end of a run with a validation split."""
        self.test_result = {"test_loss": self._loss(self.x_test, self.t_test),
                            "test_acc": self._whole_accuracy(self.x_test, self.t_test)}
        if self.verbose:
            self.log(f"test (measured once, at the end): loss "
                     f"{self.test_result['test_loss']:.4f}  test_acc "
                     f"{self.test_result['test_acc']:.4f}")
        return self.test_result

    def weights_from_epoch(self, epoch):
        """Say that the network now holds the weights it had after `epoch` (early
        stopping restored them): final_metrics, the checkpoint and a resumed run then
        speak of that epoch."""
        if not any(h["epoch"] == epoch for h in self.history):
            raise ValueError(f"no evaluation of epoch {epoch} in this run's history")
        self.weights_epoch = int(epoch)

    @property
    def final_metrics(self):
        """The history entry of the weights the network holds: the last one, or the
        best epoch's after early stopping restored its weights."""
        if not self.history:
            return None
        if self.weights_epoch is None:
            return self.history[-1]
        return next(h for h in self.history if h["epoch"] == self.weights_epoch)

    # -- Ctrl-C ---------------------------------------------------------------------
    def _on_sigint(self, signum, frame):
        if self.stop_requested:  # a second Ctrl-C: stop at once
            raise KeyboardInterrupt
        self.stop_requested = True

    def request_stop(self):
        """Ask the loop to stop after the current step, as Ctrl-C does."""
        self.stop_requested = True

    def stop_agreed(self):
        """Whether the run stops after the step just made: here, whether a stop was
        requested. An extension point: DistributedTrainer's processes agree on it, so
        that all stop after the same step."""
        return self.stop_requested

    # -- when things go wrong --------------------------------------------------------
    def check_weights(self):
        """Raise TrainingDiverged if a weight is NaN or infinite; called at every
        epoch's end and before a checkpoint is saved on Ctrl-C. An extension point:
        DistributedTrainer also checks that its processes' copies agree."""
        bad = [name for name, p in self.network.params.items() if not np.isfinite(p).all()]
        if bad:
            self.diverged(f"the weights {', '.join(bad)} hold NaN or infinite values",
                           by=True)

    def diverged(self, what, exc=None, by=False):
        """Raise TrainingDiverged: `what` went wrong at the step under way (by: was
        found by the end of the steps done), with advice and the checkpoint kept. For
        a step_gradients of one's own that finds a step has gone wrong."""
        when = "by" if by else "at"
        message = (f"training diverged {when} iteration {self.current_iter + (0 if by else 1)}: "
                   f"{what}. Try a smaller learning rate (now {self.optimizer.lr:g}).")
        kept = [c.path for c in self.callbacks if isinstance(c, _callbacks.EpochCheckpoint)
                and c.every_epoch and os.path.exists(c.path)]
        if self.last_saved is not None:
            path, iteration = self.last_saved
            message += f" The last good checkpoint, from iteration {iteration}, is kept in {path}."
        elif kept:
            message += f" The checkpoint {kept[0]} is left as it was."
        raise TrainingDiverged(message) from exc

    def _interrupted(self, callbacks):
        """Stop after Ctrl-C: callbacks that save on it (EpochCheckpoint) save, and
        TrainingInterrupted says where (its `checkpoint`)."""
        message = f"interrupted at iteration {self.current_iter} of {self.max_iter}"
        saved = None
        for callback in callbacks:
            on_interrupt = getattr(callback, "on_interrupt", None)
            path = on_interrupt() if on_interrupt is not None else None
            saved = path or saved
        if saved:
            message += f"; state saved to {saved}"
        raise TrainingInterrupted(message, saved)

    # -- checkpoints ----------------------------------------------------------------
    def state(self):
        """The training state as JSON-friendly values (the arrays go with the model and
        the optimizer): where the run is, how it was set up, the random generators of
        layers that draw numbers while training (dropout), and the callbacks' state,
        so that a resumed run continues exactly as an unbroken one would."""
        return {
            "seed": self.seed,
            "iteration": self.current_iter,
            "epoch": self.current_epoch,
            "max_iter": self.max_iter,
            "batch_size": self.batch_size,
            "train_size": len(self.x_train),
            "elapsed": self.elapsed,
            "train_loss_list": self.train_loss_list,
            "history": self.history,
            "weights_epoch": self.weights_epoch,
            "rngs": layer_rng_states(self.network),
            "run": self.run_info,
            "lr_schedule": self.lr_schedule,
            "base_lr": self.base_lr,
            "initial_base_lr": self._initial_base_lr,
            "validation_split": self.validation_split,
            "clip_grad": self.clip_grad,
            "augment": self.augment.config() if hasattr(self.augment, "config") else None,
            "callbacks": self._callback_states()[0],
        }

    def state_arrays(self):
        """The arrays that go with state(): the callbacks' (a language model's trainer
        adds its recurrent layers' state)."""
        return self._callback_states()[1]

    def _callback_key(self, index, callback):
        return f"{index}:{type(callback).__name__}"

    def _callback_states(self):
        """({key: JSON state}, {key/name: array}) of the callbacks that keep state."""
        states, arrays = {}, {}
        for i, callback in enumerate(self.callbacks):
            if not _keeps_state(callback):
                continue
            key = self._callback_key(i, callback)
            state = dict(callback.state_dict())
            for name, value in (state.pop("arrays", None) or {}).items():
                arrays[f"{key}/{name}"] = value
            states[key] = state
        return states, arrays

    def save(self, path, best=False):
        """Save model, optimizer state and training state to `path` (atomic); returns it.
        (best: a copy of the best epoch so far, not the run's checkpoint to fall back on.)"""
        # Looked up at each call, not bound at import, so that one place
        # (chainrule.checkpoint.save) is what every save goes through.
        path = _checkpoint.save(self.network, path, optimizer=self.optimizer,
                                training=self.state(),
                                training_arrays=self.state_arrays())
        if not best:
            self.last_saved = (path, self.current_iter)
        return path

    def load_state(self, checkpoint):
        """Continue from a checkpoint saved by `save` (a Checkpoint, or a path to one).

        The trainer must be set up as the saved run was (same network, optimizer class,
        batch size and number of training samples); it may train for longer. Everything
        is checked (chainrule.training_state) before anything changes.
        """
        if isinstance(checkpoint, (str, os.PathLike)):
            checkpoint = _checkpoint.load_checkpoint(checkpoint)
        training = checkpoint.training
        if not training:
            raise ValueError("the checkpoint holds a model but no training state to resume")
        check_training_state(training)
        check_model_fits(checkpoint.model, self.network)
        check_run_fits(training, (checkpoint.metadata.get("optimizer") or {}).get("class"),
                       self)
        ours_by_key = {self._callback_key(i, c): c for i, c in enumerate(self.callbacks)
                       if _keeps_state(c)}
        callback_states = callback_states_to_load(
            training, getattr(checkpoint, "training_arrays", {}) or {}, ours_by_key)
        rngs = generators_from_states(training.get("rngs"), self.network)
        # Everything is checked: now change the trainer, all in one go.
        self._restore(checkpoint, rngs)
        for key, state in callback_states.items():
            ours_by_key[key].load_state_dict(state)

    def _restore(self, checkpoint, rngs):
        """The weights, optimizer, generators and progress of a checked checkpoint."""
        training, ours = checkpoint.training, self.network
        for kind in ("params", "buffers"):
            for key, value in getattr(checkpoint.model, kind, {}).items():
                getattr(ours, kind)[key][...] = value
        self.optimizer.load_state_dict(checkpoint.optimizer_state, ours.params)
        for layer_name, rng in rngs.items():
            ours.layers[layer_name].rng = rng
        # The optimizer's saved lr is the scheduled one of the last step; the schedule
        # scales the base rate.
        self.base_lr = float(training.get("base_lr", self.optimizer.lr))
        self._initial_base_lr = float(training.get("initial_base_lr", self.base_lr))
        if self.lr_schedule == "constant":
            # A plateau schedule may have cut the rate: go on at the cut rate.
            self.optimizer.lr = self.base_lr
        if training["seed"] != self.seed:
            self._split(training["seed"])
        self.seed = training["seed"]
        self.current_iter = training["iteration"]
        self.current_epoch = training["epoch"]
        self.elapsed = float(training["elapsed"])
        self.train_loss_list = [float(v) for v in training["train_loss_list"]]
        self.history = [dict(h) for h in training["history"]]
        self.train_acc_list = [h["train_acc"] for h in self.history if "train_acc" in h]
        self.test_acc_list = [h["test_acc"] for h in self.history if "test_acc" in h]
        self.val_loss_list = [h["val_loss"] for h in self.history if "val_loss" in h]
        self.val_acc_list = [h["val_acc"] for h in self.history if "val_acc" in h]
        self.weights_epoch = training.get("weights_epoch")
        self.run_info = dict(training.get("run") or {})


def _keeps_state(callback):
    """Whether a callback has state to save (a state_dict of its own, not the empty one
    every chainrule.callbacks.Callback inherits)."""
    method = getattr(type(callback), "state_dict", None)
    return method is not None and method is not _callbacks.Callback.state_dict


def _augment_generator(seed, iteration):
    """The augmentation's generator for one step: a function of (seed, step) alone, so
    a resumed run transforms its batches exactly as the unbroken run did."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(iteration)],
                                                        spawn_key=(3,)))


def _class_count(network, *label_sets):
    """The network's number of classes, or, for a network that does not say (the
    book's own classes have no output_size), what the labels show: the width of
    one-hot rows, or the largest class index plus one."""
    n = getattr(network, "output_size", None)
    if n is not None:
        return int(n)
    width = 0
    for t in label_sets:
        t = np.asarray(t)
        if t.ndim == 2 and t.shape[1] > 1:
            width = max(width, t.shape[1])
        elif t.size:
            width = max(width, int(t.max()) + 1)
    if width < 1:
        raise ValueError("cannot tell the number of classes from empty labels")
    return width


def _last_loss(network, x, t):
    """The loss of the forward pass that gradient() just made: chainrule's networks
    keep it in last_loss, the book's in their last layer; failing both, one more
    forward pass."""
    loss = getattr(network, "last_loss", None)
    if loss is None:
        last = getattr(network, "last_layer", None) or getattr(network, "lastLayer", None)
        loss = getattr(last, "loss", None)
    if loss is None:
        loss = network.loss(x, t)
    return float(loss)


def _eval_loss(network, x, t):
    """The loss in evaluation mode (no dropout), for networks with and without a
    train_flg argument."""
    try:
        return float(network.loss(x, t, train_flg=False))
    except TypeError:
        return float(network.loss(x, t))
