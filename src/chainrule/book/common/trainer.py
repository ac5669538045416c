"""The book's common/trainer.py: its Trainer, on chainrule's optimizers.

The book's scripts read this Trainer's lists and plot them, so it keeps the book's
protocol exactly: mini-batches drawn at random with replacement, one line
"train loss:..." per step, one line "=== epoch:..., train acc:..., test acc:... ===" per
epoch, and `epochs` accuracy entries, the first measured before any training (the book
plots them against np.arange(epochs)). It takes any network with the book's protocol:
`params`, `gradient(x, t)`, `loss(x, t)` and `accuracy(x, t)`.

chainrule's own Trainer (chainrule.trainer) is the one to use for new work: it visits
every sample once per epoch, records epochs + 1 evaluations, and stops a diverging run.
"""

import os  # noqa: F401  (the book's module exports os and sys)
import sys  # noqa: F401

import numpy as np

from chainrule import checks
from chainrule.optimizers import make_optimizer

from .optimizer import *  # noqa: F401,F403


class Trainer:
    """Trains `network` for `epochs` epochs of len(x_train) / mini_batch_size steps.

    optimizer is a name ("SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam",
    any case) with optimizer_param its settings, or an optimizer object.
    evaluate_sample_num_per_epoch measures each epoch's accuracies on that many
    samples of each set (the final test accuracy always uses all of x_test).
    After train(): train_loss_list (one per step), train_acc_list and test_acc_list
    (one per epoch).
    """

    def __init__(self, network, x_train, t_train, x_test, t_test, epochs=20,
                 mini_batch_size=100, optimizer="SGD", optimizer_param={"lr": 0.01},
                 evaluate_sample_num_per_epoch=None, verbose=True):
        for name, x, t in (("train", x_train, t_train), ("test", x_test, t_test)):
            if len(x) != len(t):
                raise ValueError(f"Trainer: x_{name} has {len(x)} samples but t_{name} "
                                 f"has {len(t)} labels")
        if len(x_train) == 0:
            raise ValueError("Trainer: the training set is empty")
        epochs = checks.positive_int("Trainer: epochs", epochs)
        mini_batch_size = checks.positive_int("Trainer: mini_batch_size", mini_batch_size)
        self.network = network
        self.verbose = verbose
        self.x_train = x_train
        self.t_train = t_train
        self.x_test = x_test
        self.t_test = t_test
        self.epochs = int(epochs)
        self.batch_size = int(mini_batch_size)
        self.evaluate_sample_num_per_epoch = evaluate_sample_num_per_epoch
        self.optimizer = make_optimizer(optimizer, **dict(optimizer_param or {}))

        self.train_size = len(x_train)
        self.iter_per_epoch = max(self.train_size / self.batch_size, 1)
        self.max_iter = int(self.epochs * self.iter_per_epoch)
        self.current_iter = 0
        self.current_epoch = 0

        self.train_loss_list = []
        self.train_acc_list = []
        self.test_acc_list = []

    def _epoch_starts_here(self):
        # Epoch k starts at step int(k * iter_per_epoch): the book's test
        # `current_iter % iter_per_epoch == 0` where iter_per_epoch is whole, and still
        # `epochs` evaluations where it is not (300 samples in batches of 128).
        return (self.current_epoch < self.epochs
                and self.current_iter >= int(self.current_epoch * self.iter_per_epoch))

    def _evaluate(self):
        self.current_epoch += 1
        x_train, t_train = self.x_train, self.t_train
        x_test, t_test = self.x_test, self.t_test
        n = self.evaluate_sample_num_per_epoch
        if n is not None:
            x_train, t_train = x_train[:n], t_train[:n]
            x_test, t_test = x_test[:n], t_test[:n]
        train_acc = self.network.accuracy(x_train, t_train)
        test_acc = self.network.accuracy(x_test, t_test)
        self.train_acc_list.append(train_acc)
        self.test_acc_list.append(test_acc)
        if self.verbose:
            print(f"=== epoch:{self.current_epoch}, train acc:{train_acc}, "
                  f"test acc:{test_acc} ===")

    def train_step(self):
        """One step: evaluate first if an epoch starts here, then one random mini-batch."""
        if self._epoch_starts_here():
            self._evaluate()
        batch_mask = np.random.choice(self.train_size, self.batch_size)
        x_batch = self.x_train[batch_mask]
        t_batch = self.t_train[batch_mask]
        grads = self.network.gradient(x_batch, t_batch)
        self.optimizer.update(self.network.params, grads)
        loss = self.network.loss(x_batch, t_batch)
        self.train_loss_list.append(loss)
        if self.verbose:
            print(f"train loss:{loss}")
        self.current_iter += 1

    def train(self):
        for _ in range(self.max_iter):
            self.train_step()
        test_acc = self.network.accuracy(self.x_test, self.t_test)
        if self.verbose:
            print("=============== Final Test Accuracy ===============")
            print(f"test acc:{test_acc}")
