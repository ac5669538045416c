"""Mini-batch training (chapters 4.5 and 6): the seed's loop as a reusable class.

Each epoch visits every training sample once in a fresh random order (the book samples
with replacement, so some samples are seen twice and others not at all), in
ceil(N / batch_size) steps; after every epoch, and once before the first, the network's
accuracy on the training and test data is measured and recorded.
"""

import copy
import json
import math
import os
import signal
import threading
import time

import numpy as np

from .functions import NonFiniteError, class_indices
from .optimizers import lr_schedule as _lr_schedule, make_optimizer

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
    """Trains `network` on (x_train, t_train), measuring accuracy on both sets each epoch.

    The book's arguments come first and mean what they mean there. Keyword-only extras:
      iters            stop after this many steps instead of `epochs` full epochs
                       (the seed runs 10,000 steps);
      seed             fixes the order of the samples (and nothing else: the network's
                       own initial weights are fixed by how it was built);
      eval_batch_size  chunk size for measuring accuracy (bounds memory);
      checkpoint       a path: the state is saved there at every epoch end (and on
                       Ctrl-C), so a run can be continued with `load_state()`;
      interrupt_path   where Ctrl-C saves the state (default: `checkpoint`);
      callbacks        objects with any of the methods on_train_begin(run_info),
                       on_iteration_end(iteration, loss), on_epoch_end(metrics) and
                       on_train_end();
      metrics_file     a path: one JSON line per evaluation;
      log              where the per-epoch lines go (print by default);
      progress         a progress bar per epoch (needs tqdm): None (default) shows it
                       on a terminal only, True always, False never; none without
                       verbose;
      run_info         a JSON-friendly dict saved with the state (the command line
                       records the data set's name there);
      max_loss         training stops as diverged when a step's loss exceeds this
                       (default: 100 times ln(classes), the loss of guessing at random;
                       float("inf") stops only on NaN or infinity);
      lr_schedule      "constant" (default) or "cosine", or a function of the progress
                       p in [0, 1] (the step's index over the run's steps): each step
                       uses the optimizer's base learning rate times schedule(p);
      eval_in_background  measure each epoch's accuracy on a copy of the network in a
                       second thread while training goes on (the same figures, sooner:
                       worth it with a second core; ignored when a checkpoint is saved
                       every epoch, which needs the figures first).
    After train(): train_loss_list (per step), train_acc_list and test_acc_list (per
    evaluation), and `history`, a list of per-evaluation dicts.
    """

    def __init__(self, network, x_train, t_train, x_test, t_test, epochs=20,
                 mini_batch_size=100, optimizer="SGD", optimizer_param=None,
                 evaluate_sample_num_per_epoch=None, verbose=True, *, iters=None,
                 seed=None, eval_batch_size=1000, checkpoint=None, interrupt_path=None,
                 callbacks=(), metrics_file=None, log=print, progress=None, run_info=None,
                 max_loss=None, eval_in_background=False, lr_schedule=None):
        self.network = network
        dtype = getattr(network, "dtype", np.float64)
        # Cast once, here: a float32 batch meeting float64 weights would be slow every step.
        self.x_train = np.asarray(x_train, dtype=dtype)
        self.x_test = np.asarray(x_test, dtype=dtype)
        n_classes = network.output_size
        if len(self.x_train) == 0:
            raise ValueError("the training set is empty")
        self.t_train = class_indices(t_train, n_classes, batch_size=len(self.x_train),
                                     name="t_train")
        self.t_test = class_indices(t_test, n_classes, batch_size=len(self.x_test),
                                    name="t_test")
        if not 1 <= mini_batch_size:
            raise ValueError(f"mini_batch_size must be at least 1, got {mini_batch_size}")
        self.batch_size = int(min(mini_batch_size, len(self.x_train)))
        self.iter_per_epoch = math.ceil(len(self.x_train) / self.batch_size)
        if iters is not None:
            if iters < 1:
                raise ValueError(f"iters must be at least 1, got {iters}")
            self.max_iter = int(iters)
            self.epochs = math.ceil(self.max_iter / self.iter_per_epoch)
        else:
            if epochs < 1:
                raise ValueError(f"epochs must be at least 1, got {epochs}")
            self.epochs = int(epochs)
            self.max_iter = self.epochs * self.iter_per_epoch

        if optimizer_param is None:
            optimizer_param = {"lr": 0.01}
        self.optimizer = make_optimizer(optimizer, **optimizer_param)
        self.lr_schedule, self._lr_factor = _lr_schedule(lr_schedule)
        self.base_lr = self.optimizer.lr
        self.evaluate_sample_num_per_epoch = evaluate_sample_num_per_epoch
        self.verbose = verbose
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % 2**63)
        if int(seed) != seed or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed = int(seed)
        self.eval_batch_size = eval_batch_size
        self.checkpoint = os.fspath(checkpoint) if checkpoint is not None else None
        self.interrupt_path = os.fspath(interrupt_path) if interrupt_path else self.checkpoint
        self.callbacks = list(callbacks)
        self.metrics_file = os.fspath(metrics_file) if metrics_file is not None else None
        self.log = log
        self.progress = progress
        self.run_info = dict(run_info or {})
        # With a stable softmax the loss of a blown-up network rarely becomes NaN: it
        # grows to 1e9 and more while the weights run off. A loss far above that of
        # guessing (ln C) means the same thing, and is reported the same way.
        if max_loss is None:
            self.max_loss = 100.0 * math.log(max(n_classes, 2))
            self._max_loss_meaning = "100 times the loss of guessing at random"
        else:
            self.max_loss = float(max_loss)
            self._max_loss_meaning = "max_loss"
        self.last_saved = None  # (path, iteration) of the newest checkpoint written

        self.current_iter = 0
        self.current_epoch = 0
        self.elapsed = 0.0
        self.train_loss_list = []
        self.train_acc_list = []
        self.test_acc_list = []
        self.history = []
        self._stop_requested = False
        self.eval_in_background = bool(eval_in_background) and not self.checkpoint
        self._pending_eval = None  # (future, epoch, iteration, losses, elapsed)
        self._executor = None

    # -- the order of the samples ---------------------------------------------------
    def _epoch_order(self, epoch):
        """The sample order of an epoch: a function of (seed, epoch) alone, so a run
        continued from a checkpoint visits exactly the samples the unbroken run would."""
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.x_train))

    # -- measuring ------------------------------------------------------------------
    def _accuracy(self, x, t, network=None):
        if self.evaluate_sample_num_per_epoch:
            x = x[:self.evaluate_sample_num_per_epoch]
            t = t[:self.evaluate_sample_num_per_epoch]
        network = self.network if network is None else network
        return network.accuracy(x, t, batch_size=self.eval_batch_size)

    def _measure(self, network=None):
        """(train accuracy, test accuracy) of `network` (default: the one training)."""
        # A subclass may measure differently (the distributed trainer shares the work
        # among processes) and then takes no network: pass one only when there is one.
        extra = () if network is None else (network,)
        return (self._accuracy(self.x_train, self.t_train, *extra),
                self._accuracy(self.x_test, self.t_test, *extra))

    def _evaluate(self, epoch_losses):
        self._record(self._measure(), self.current_epoch, self.current_iter,
                     epoch_losses, self.elapsed)

    def _evaluate_in_background(self, epoch_losses):
        """Start measuring a snapshot of the network in the second thread.

        The snapshot is a deep copy, so the training thread can go on changing the
        weights (and the layers' cached inputs) while the copy is measured; the
        figures are those of the weights at this epoch's end, as in _evaluate.
        """
        from concurrent.futures import ThreadPoolExecutor
        self._collect_evaluation()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1,
                                                thread_name_prefix="chainrule-eval")
        future = self._executor.submit(self._measure, copy.deepcopy(self.network))
        self._pending_eval = (future, self.current_epoch, self.current_iter,
                              list(epoch_losses), self.elapsed)

    def _collect_evaluation(self):
        """Wait for the evaluation under way, if any, and record its figures."""
        if self._pending_eval is None:
            return
        future, epoch, iteration, losses, elapsed = self._pending_eval
        self._pending_eval = None
        self._record(future.result(), epoch, iteration, losses, elapsed)

    def _record(self, accuracies, epoch, iteration, epoch_losses, elapsed):
        train_acc, test_acc = accuracies
        self.train_acc_list.append(train_acc)
        self.test_acc_list.append(test_acc)
        metrics = {
            "epoch": epoch,
            "iteration": iteration,
            "loss": float(np.mean(epoch_losses)) if epoch_losses else None,
            "train_acc": train_acc,
            "test_acc": test_acc,
            "elapsed": round(elapsed, 3),
        }
        self.history.append(metrics)
        if self.verbose:
            loss = f"{metrics['loss']:.4f}" if metrics["loss"] is not None else "   -  "
            self.log(f"epoch {epoch:3d}  iter {iteration:6d}  "
                     f"loss {loss}  train_acc {train_acc:.4f}  test_acc {test_acc:.4f}  "
                     f"{elapsed:7.1f}s")
        if self.metrics_file:
            with open(self.metrics_file, "a", encoding="utf-8") as f:
                f.write(json.dumps(metrics) + "\n")
        for callback in self.callbacks:
            if hasattr(callback, "on_epoch_end"):
                callback.on_epoch_end(metrics)
        return metrics

    # -- Ctrl-C ---------------------------------------------------------------------
    def _on_sigint(self, signum, frame):
        if self._stop_requested:  # a second Ctrl-C: stop at once
            raise KeyboardInterrupt
        self._stop_requested = True

    def request_stop(self):
        """Ask the loop to stop after the current step, as Ctrl-C does."""
        self._stop_requested = True

    # -- the loop -------------------------------------------------------------------
    def train_step(self, x_batch, t_batch):
        """One step: backprop on the batch, then every parameter updated exactly once.

        A loss that is NaN or infinite stops here, *before* the update, so the network
        keeps the last weights that gave a finite loss.
        """
        grads = self.network.gradient(x_batch, t_batch)
        loss = self.network.last_loss
        if not np.isfinite(loss):
            self._diverged(f"the loss became {loss}")
        if loss > self.max_loss:
            self._diverged(f"the loss became {loss:.4g}, above {self.max_loss:.4g} "
                           f"({self._max_loss_meaning})")
        self.optimizer.update(self.network.params, grads)
        return loss

    def train(self):
        """Run (or continue) training; returns `history`."""
        self._stop_requested = False
        handler_installed = False
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGINT, self._on_sigint)
            handler_installed = True
        for callback in self.callbacks:
            if hasattr(callback, "on_train_begin"):
                callback.on_train_begin(self.run_info)
        try:
            return self._train()
        finally:
            if handler_installed:
                signal.signal(signal.SIGINT, previous)
            for callback in self.callbacks:
                if hasattr(callback, "on_train_end"):
                    callback.on_train_end()

    def _train(self):
        start = time.perf_counter() - self.elapsed
        if self.current_iter == 0 and not self.history:
            self._evaluate([])
        bar = self._progress_bar()
        last_eval = self.history[-1]["iteration"] if self.history else 0
        epoch_losses = list(self.train_loss_list[last_eval:])
        order = None
        try:
            while self.current_iter < self.max_iter:
                epoch, position = divmod(self.current_iter, self.iter_per_epoch)
                if order is None or position == 0:
                    order = self._epoch_order(epoch)
                    if bar is not None:
                        bar.reset(total=min(self.iter_per_epoch,
                                            self.max_iter - epoch * self.iter_per_epoch))
                        bar.update(position)
                        bar.set_description(f"epoch {epoch + 1}")
                batch = order[position * self.batch_size:(position + 1) * self.batch_size]
                if self.lr_schedule != "constant":
                    self.optimizer.lr = self.base_lr * self._lr_factor(
                        self.current_iter / self.max_iter)
                try:
                    loss = float(self.train_step(self.x_train[batch], self.t_train[batch]))
                except NonFiniteError as exc:
                    self._diverged(str(exc), exc)
                self.current_iter += 1
                self.train_loss_list.append(loss)
                epoch_losses.append(loss)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
                for callback in self.callbacks:
                    if hasattr(callback, "on_iteration_end"):
                        callback.on_iteration_end(self.current_iter, loss)

                end_of_epoch = self.current_iter % self.iter_per_epoch == 0
                if end_of_epoch or self.current_iter == self.max_iter:
                    # A finite loss does not prove finite weights: the update after it
                    # may have overflowed. Never evaluate, and above all never save, those.
                    self._check_weights()
                    self.elapsed = time.perf_counter() - start
                    self.current_epoch = math.ceil(self.current_iter / self.iter_per_epoch)
                    if self.eval_in_background:
                        self._evaluate_in_background(epoch_losses)
                    else:
                        self._evaluate(epoch_losses)
                    epoch_losses = []
                    if self.checkpoint:
                        self.save(self.checkpoint)
                if self._stop_requested:
                    self.elapsed = time.perf_counter() - start
                    self._collect_evaluation()
                    self._interrupted()
            self._collect_evaluation()
        finally:
            if bar is not None:
                bar.close()
            if self._executor is not None:
                # After an error the evaluation under way is let finish but not recorded.
                self._pending_eval = None
                self._executor.shutdown(wait=True)
                self._executor = None
        self.elapsed = time.perf_counter() - start
        return self.history

    def _progress_bar(self):
        if not self.verbose or self.progress is False:
            return None
        try:
            from tqdm import tqdm
        except ImportError:
            return None
        # disable=None: shown on a terminal, silent in logs and pipes.
        return tqdm(total=self.iter_per_epoch, leave=False, unit="step",
                    disable=None if self.progress is None else not self.progress)

    # -- when things go wrong --------------------------------------------------------
    def _check_weights(self):
        bad = [name for name, p in self.network.params.items() if not np.isfinite(p).all()]
        if bad:
            self._diverged(f"the weights {', '.join(bad)} hold NaN or infinite values",
                           by=True)

    def _diverged(self, what, exc=None, by=False):
        when = "by" if by else "at"
        message = (f"training diverged {when} iteration {self.current_iter + (0 if by else 1)}: "
                   f"{what}. Try a smaller learning rate (now {self.optimizer.lr:g}).")
        if self.last_saved is not None:
            path, iteration = self.last_saved
            message += f" The last good checkpoint, from iteration {iteration}, is kept in {path}."
        elif self.checkpoint and os.path.exists(self.checkpoint):
            message += f" The checkpoint {self.checkpoint} is left as it was."
        raise TrainingDiverged(message) from exc

    def _interrupted(self):
        message = f"interrupted at iteration {self.current_iter} of {self.max_iter}"
        saved = None
        if self.interrupt_path:
            self._check_weights()
            saved = self.save(self.interrupt_path)
            message += (f"; state saved to {saved} "
                        f"(continue with: chainrule train --resume {saved})")
        raise TrainingInterrupted(message, saved)

    # -- checkpoints ----------------------------------------------------------------
    def state(self):
        """The training state as JSON-friendly values (the arrays go with the model and
        the optimizer): where the run is, how it was set up, and the random generators
        of layers that draw numbers while training (dropout), so that a resumed run
        continues exactly as an unbroken one would."""
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
            "rngs": _layer_rng_states(self.network),
            "run": self.run_info,
            "lr_schedule": self.lr_schedule,
            "base_lr": self.base_lr,
        }

    def save(self, path):
        """Save model, optimizer state and training state to `path` (atomic); returns it."""
        from .checkpoint import save
        path = save(self.network, path, optimizer=self.optimizer, training=self.state())
        self.last_saved = (path, self.current_iter)
        return path

    def load_state(self, checkpoint):
        """Continue from a checkpoint saved by `save` (a Checkpoint, or a path to one).

        The trainer must be set up as the saved run was (same network, optimizer class,
        batch size and number of training samples); it may train for longer.
        """
        if isinstance(checkpoint, (str, os.PathLike)):
            from .checkpoint import load_checkpoint
            checkpoint = load_checkpoint(checkpoint)
        training = checkpoint.training
        if not training:
            raise ValueError("the checkpoint holds a model but no training state to resume")
        check_training_state(training)
        saved, ours = checkpoint.model, self.network
        if type(saved) is not type(ours):
            raise ValueError(f"the checkpoint holds a {type(saved).__name__}, "
                             f"this trainer trains a {type(ours).__name__}")
        for kind in ("params", "buffers"):
            theirs, mine = getattr(saved, kind, {}), getattr(ours, kind, {})
            if set(theirs) != set(mine):
                raise ValueError(f"the checkpoint's {kind} {sorted(theirs)} differ from "
                                 f"the network's {sorted(mine)}")
            for key, value in theirs.items():
                if value.shape != mine[key].shape or value.dtype != mine[key].dtype:
                    raise ValueError(f"{key} is {value.dtype}{list(value.shape)} in the "
                                     f"checkpoint, {mine[key].dtype}{list(mine[key].shape)} "
                                     f"in the network")
        optimizer = (checkpoint.metadata.get("optimizer") or {}).get("class")
        if optimizer != type(self.optimizer).__name__:
            raise ValueError(f"the checkpoint was trained with {optimizer}, this trainer "
                             f"uses {type(self.optimizer).__name__}: its state would not fit")
        for name, value in (("batch_size", self.batch_size),
                            ("train_size", len(self.x_train))):
            if training[name] != value:
                raise ValueError(f"the checkpoint's run had {name} {training[name]}, this "
                                 f"trainer has {value}; the sample order would differ")
        schedule = training.get("lr_schedule", "constant")
        if "custom" not in (schedule, self.lr_schedule) and schedule != self.lr_schedule:
            raise ValueError(f"the checkpoint's run used the {schedule} learning-rate "
                             f"schedule, this trainer the {self.lr_schedule} one")
        if training["iteration"] > self.max_iter:
            raise ValueError(f"the checkpoint is at iteration {training['iteration']}, past "
                             f"this trainer's {self.max_iter}")
        rngs = _generators_from_states(training.get("rngs"), ours)

        # Everything is checked: now change the trainer, all in one go.
        for kind in ("params", "buffers"):
            for key, value in getattr(saved, kind, {}).items():
                getattr(ours, kind)[key][...] = value
        self.optimizer.load_state_dict(checkpoint.optimizer_state, ours.params)
        for layer_name, rng in rngs.items():
            ours.layers[layer_name].rng = rng
        # The optimizer's saved lr is the scheduled one of the last step; the schedule
        # scales the base rate.
        self.base_lr = float(training.get("base_lr", self.optimizer.lr))
        self.seed = training["seed"]
        self.current_iter = training["iteration"]
        self.current_epoch = training["epoch"]
        self.elapsed = float(training["elapsed"])
        self.train_loss_list = [float(v) for v in training["train_loss_list"]]
        self.history = [dict(h) for h in training["history"]]
        self.train_acc_list = [h["train_acc"] for h in self.history]
        self.test_acc_list = [h["test_acc"] for h in self.history]
        self.run_info = dict(training.get("run") or {})


# -- random generators of layers (dropout masks) ----------------------------------------
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _layer_rng_states(network):
    """{"states": [state, ...], "layers": {layer name: index into states}}, or None.

    Layers that share one generator (a network passes its own to every dropout layer)
    share one entry, so that after a restore they share one generator again.
    """
    states, index, layers = [], {}, {}
    for name, layer in getattr(network, "layers", {}).items():
        rng = getattr(layer, "rng", None)
        if isinstance(rng, np.random.Generator):
            kind, state = "Generator", rng.bit_generator.state
        elif isinstance(rng, np.random.RandomState):
            kind, state = "RandomState", rng.get_state(legacy=False)
        else:
            continue
        if id(rng) not in index:
            index[id(rng)] = len(states)
            states.append({"kind": kind, "state": _jsonable(state)})
        layers[name] = index[id(rng)]
    return {"states": states, "layers": layers} if layers else None


def _generator_from_state(saved):
    """A new generator in the saved state. The global generator is never touched: a
    layer that drew from it before the checkpoint gets a private copy of its stream."""
    state = saved["state"]
    name = state["bit_generator"]
    if name not in _BIT_GENERATORS:
        raise ValueError(f"unknown bit generator {name!r}")
    if saved["kind"] == "Generator":
        bit_generator = getattr(np.random, name)()
        bit_generator.state = state
        return np.random.Generator(bit_generator)
    if saved["kind"] == "RandomState" and name == "MT19937":
        rng = np.random.RandomState()
        rng.set_state(state)
        return rng
    raise ValueError(f"unknown kind of generator {saved['kind']!r}")


def _generators_from_states(rngs, network=None):
    """layer name -> generator for the saved states (checked); {} for None."""
    if rngs is None:
        return {}
    try:
        generators = [_generator_from_state(s) for s in rngs["states"]]
        result = {}
        for layer_name, i in rngs["layers"].items():
            if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < len(generators):
                raise ValueError(f"bad generator index {i!r}")
            result[layer_name] = generators[i]
    except (KeyError, TypeError, ValueError, OverflowError, AttributeError) as exc:
        raise ValueError(f"the saved random generator states are damaged ({exc})") from None
    if network is not None:
        missing = sorted(set(result) - set(network.layers))
        if missing:
            raise ValueError(f"the saved random generators are for layers "
                             f"{', '.join(missing)}, which this network does not have")
    return result


def _is_int(value, minimum=0):
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_number(value):
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def check_training_state(training):
    """Raise ValueError unless `training` has the shape Trainer.state() gives it.

    A checkpoint is read from a file that may be damaged: checking everything here
    means that resuming fails with one clear message instead of somewhere later.
    """
    if not isinstance(training, dict):
        raise ValueError("the training state is not an object")
    for key, minimum in (("seed", 0), ("iteration", 0), ("epoch", 0), ("max_iter", 1),
                         ("batch_size", 1), ("train_size", 1)):
        if not _is_int(training.get(key), minimum):
            raise ValueError(f"the training state's {key} must be an integer >= {minimum}, "
                             f"got {training.get(key)!r}")
    if training["iteration"] > training["max_iter"]:
        raise ValueError(f"the training state is at iteration {training['iteration']}, "
                         f"past its end ({training['max_iter']})")
    if not _is_number(training.get("elapsed")) or training["elapsed"] < 0:
        raise ValueError("the training state's elapsed time is not a number >= 0")
    losses = training.get("train_loss_list")
    if (not isinstance(losses, list) or len(losses) != training["iteration"]
            or not all(_is_number(v) for v in losses)):
        raise ValueError("the training state's losses are not one number per iteration")
    history = training.get("history")
    if not isinstance(history, list):
        raise ValueError("the training state's history is missing")
    for entry in history:
        if (not isinstance(entry, dict) or not _is_int(entry.get("iteration"))
                or entry["iteration"] > training["iteration"]
                or not _is_number(entry.get("train_acc"))
                or not _is_number(entry.get("test_acc"))):
            raise ValueError("the training state's history has a malformed entry")
    if training.get("run") is not None and not isinstance(training["run"], dict):
        raise ValueError("the training state's run information is not an object")
    schedule = training.get("lr_schedule", "constant")
    if schedule != "custom":
        try:
            _lr_schedule(schedule)
        except ValueError as exc:
            raise ValueError(f"the training state's {exc}") from None
    if "base_lr" in training and not (_is_number(training["base_lr"])
                                      and training["base_lr"] > 0):
        raise ValueError("the training state's base learning rate is not a positive number")
    _generators_from_states(training.get("rngs"))
