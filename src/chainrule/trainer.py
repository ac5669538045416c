"""Mini-batch training (chapters 4.5 and 6): the seed's loop as a reusable class.

Each epoch visits every training sample once in a fresh random order (the book samples
with replacement, so some samples are seen twice and others not at all), in
ceil(N / batch_size) steps; after every epoch, and once before the first, the network's
accuracy on the training and test data is measured and recorded.
"""

import json
import math
import os
import signal
import threading
import time

import numpy as np

from .functions import NonFiniteError, class_indices
from .optimizers import make_optimizer

__all__ = ["Trainer", "TrainingDiverged", "TrainingInterrupted"]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; training was stopped."""


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
      callbacks        objects with optional on_iteration_end(iteration, loss) and
                       on_epoch_end(metrics) methods;
      metrics_file     a path: one JSON line per evaluation;
      log              where the per-epoch lines go (print by default).
    After train(): train_loss_list (per step), train_acc_list and test_acc_list (per
    evaluation), and `history`, a list of per-evaluation dicts.
    """

    def __init__(self, network, x_train, t_train, x_test, t_test, epochs=20,
                 mini_batch_size=100, optimizer="SGD", optimizer_param=None,
                 evaluate_sample_num_per_epoch=None, verbose=True, *, iters=None,
                 seed=None, eval_batch_size=1000, checkpoint=None, interrupt_path=None, callbacks=(),
                 metrics_file=None, log=print, progress=None):
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
        self.evaluate_sample_num_per_epoch = evaluate_sample_num_per_epoch
        self.verbose = verbose
        self.seed = int(seed) if seed is not None else int(np.random.SeedSequence().entropy % 2**63)
        self.eval_batch_size = eval_batch_size
        self.checkpoint = os.fspath(checkpoint) if checkpoint is not None else None
        self.interrupt_path = os.fspath(interrupt_path) if interrupt_path else self.checkpoint
        self.callbacks = list(callbacks)
        self.metrics_file = os.fspath(metrics_file) if metrics_file is not None else None
        self.log = log
        self.progress = progress

        self.current_iter = 0
        self.current_epoch = 0
        self.elapsed = 0.0
        self.train_loss_list = []
        self.train_acc_list = []
        self.test_acc_list = []
        self.history = []
        self._stop_requested = False

    # -- the order of the samples ---------------------------------------------------
    def _epoch_order(self, epoch):
        """The sample order of an epoch: a function of (seed, epoch) alone, so a run
        continued from a checkpoint visits exactly the samples the unbroken run would."""
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.x_train))

    # -- measuring ------------------------------------------------------------------
    def _accuracy(self, x, t):
        if self.evaluate_sample_num_per_epoch:
            x = x[:self.evaluate_sample_num_per_epoch]
            t = t[:self.evaluate_sample_num_per_epoch]
        return self.network.accuracy(x, t, batch_size=self.eval_batch_size)

    def _evaluate(self, epoch_losses):
        train_acc = self._accuracy(self.x_train, self.t_train)
        test_acc = self._accuracy(self.x_test, self.t_test)
        self.train_acc_list.append(train_acc)
        self.test_acc_list.append(test_acc)
        metrics = {
            "epoch": self.current_epoch,
            "iteration": self.current_iter,
            "loss": float(np.mean(epoch_losses)) if epoch_losses else None,
            "train_acc": train_acc,
            "test_acc": test_acc,
            "elapsed": round(self.elapsed, 3),
        }
        self.history.append(metrics)
        if self.verbose:
            loss = f"{metrics['loss']:.4f}" if metrics["loss"] is not None else "   -  "
            self.log(f"epoch {self.current_epoch:3d}  iter {self.current_iter:6d}  "
                     f"loss {loss}  train_acc {train_acc:.4f}  test_acc {test_acc:.4f}  "
                     f"{self.elapsed:7.1f}s")
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
        """One step: backprop on the batch, then every parameter updated exactly once."""
        grads = self.network.gradient(x_batch, t_batch)
        self.optimizer.update(self.network.params, grads)
        return self.network.last_loss

    def train(self):
        """Run (or continue) training; returns `history`."""
        self._stop_requested = False
        handler_installed = False
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGINT, self._on_sigint)
            handler_installed = True
        try:
            return self._train()
        finally:
            if handler_installed:
                signal.signal(signal.SIGINT, previous)

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
                try:
                    loss = self.train_step(self.x_train[batch], self.t_train[batch])
                except NonFiniteError as exc:
                    self._diverged(exc)
                if not np.isfinite(loss):
                    self._diverged(None, loss)
                self.current_iter += 1
                self.train_loss_list.append(float(loss))
                epoch_losses.append(float(loss))
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
                for callback in self.callbacks:
                    if hasattr(callback, "on_iteration_end"):
                        callback.on_iteration_end(self.current_iter, float(loss))

                end_of_epoch = self.current_iter % self.iter_per_epoch == 0
                if end_of_epoch or self.current_iter == self.max_iter:
                    self.elapsed = time.perf_counter() - start
                    self.current_epoch = math.ceil(self.current_iter / self.iter_per_epoch)
                    self._evaluate(epoch_losses)
                    epoch_losses = []
                    if self.checkpoint:
                        self.save(self.checkpoint)
                if self._stop_requested:
                    self.elapsed = time.perf_counter() - start
                    self._interrupted()
        finally:
            if bar is not None:
                bar.close()
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

    def _diverged(self, exc, loss=None):
        what = f"the loss became {loss}" if exc is None else str(exc)
        message = (f"training diverged at iteration {self.current_iter + 1}: {what}. "
                   f"Try a smaller learning rate (now {self.optimizer.lr}).")
        if self.checkpoint and os.path.exists(self.checkpoint):
            message += f" The last good checkpoint is kept in {self.checkpoint}."
        raise TrainingDiverged(message) from exc

    def _interrupted(self):
        message = f"interrupted at iteration {self.current_iter}"
        if self.interrupt_path:
            self.save(self.interrupt_path)
            message += (f"; state saved to {self.interrupt_path} "
                        f"(continue with --resume {self.interrupt_path})")
        raise TrainingInterrupted(message, self.interrupt_path)

    # -- checkpoints ----------------------------------------------------------------
    def state(self):
        """The training state as JSON-friendly values (the arrays go with the model)."""
        rng = getattr(self.network, "rng", None)
        return {
            "seed": self.seed,
            "iteration": self.current_iter,
            "epoch": self.current_epoch,
            "max_iter": self.max_iter,
            "batch_size": self.batch_size,
            "elapsed": self.elapsed,
            "train_loss_list": self.train_loss_list,
            "history": self.history,
            "network_rng": rng.bit_generator.state if isinstance(rng, np.random.Generator) else None,
        }

    def save(self, path):
        """Save model, optimizer state and training state to `path` (atomic)."""
        from .checkpoint import save
        save(self.network, path, optimizer=self.optimizer, training=self.state())

    def load_state(self, checkpoint):
        """Continue from a chainrule.checkpoint.Checkpoint saved by `save`."""
        training = checkpoint.training
        if not training:
            raise ValueError("the checkpoint holds a model but no training state to resume")
        for key, value in checkpoint.model.params.items():
            self.network.params[key][...] = value
        for key, value in getattr(checkpoint.model, "buffers", {}).items():
            self.network.buffers[key][...] = value
        self.optimizer.load_state_dict(checkpoint.optimizer_state)
        self.seed = int(training["seed"])
        self.current_iter = int(training["iteration"])
        self.current_epoch = int(training["epoch"])
        self.elapsed = float(training["elapsed"])
        self.train_loss_list = list(training["train_loss_list"])
        self.history = list(training["history"])
        self.train_acc_list = [h["train_acc"] for h in self.history]
        self.test_acc_list = [h["test_acc"] for h in self.history]
        rng = getattr(self.network, "rng", None)
        if training.get("network_rng") and isinstance(rng, np.random.Generator):
            rng.bit_generator.state = training["network_rng"]
