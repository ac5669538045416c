"""The sequel's common/trainer.py: Trainer, RnnlmTrainer and remove_duplicate.

Both trainers keep the sequel's protocol, which its scripts depend on: `fit` runs
max_epoch epochs of len(x) // batch_size (RnnlmTrainer: len(xs) // (batch_size *
time_size)) steps of model.forward(x, t), model.backward(), remove_duplicate of the
model's params and grads lists, clip_grads when max_grad is given, and
optimizer.update; every eval_interval steps (from the first) it prints the sequel's
line and records the mean loss (Trainer, loss_list) or its exp, the perplexity
(RnnlmTrainer, ppl_list). Trainer shuffles the data at every epoch with NumPy's global
generator, as the sequel's; RnnlmTrainer reads batch_size streams from evenly spaced
offsets, time_size steps at a time. `plot(ylim=None)` draws the recorded curve.
"""

import time

import numpy

from chainrule.clipping import clip_grads

from .layers import add_into

__all__ = ["Trainer", "RnnlmTrainer", "remove_duplicate"]


class Trainer:
    """Trains a model of the sequel's protocol (forward(x, t) -> loss, backward(),
    params and grads lists) with an optimizer of common.optimizer."""

    def __init__(self, model, optimizer):
        self.model = model
        self.optimizer = optimizer
        self.loss_list = []
        self.eval_interval = None
        self.current_epoch = 0

    def fit(self, x, t, max_epoch=10, batch_size=32, max_grad=None, eval_interval=20):
        data_size = len(x)
        max_iters = data_size // batch_size
        self.eval_interval = eval_interval
        total_loss, loss_count = 0, 0
        start_time = time.time()
        for _ in range(max_epoch):
            idx = numpy.random.permutation(numpy.arange(data_size))
            x, t = x[idx], t[idx]
            for iters in range(max_iters):
                batch_x = x[iters * batch_size:(iters + 1) * batch_size]
                batch_t = t[iters * batch_size:(iters + 1) * batch_size]
                loss = _step(self.model, self.optimizer, batch_x, batch_t, max_grad)
                total_loss += loss
                loss_count += 1
                if eval_interval is not None and iters % eval_interval == 0:
                    avg_loss = total_loss / loss_count
                    print("| epoch %d |  iter %d / %d | time %d[s] | loss %.2f"
                          % (self.current_epoch + 1, iters + 1, max_iters,
                             time.time() - start_time, avg_loss))
                    self.loss_list.append(float(avg_loss))
                    total_loss, loss_count = 0, 0
            self.current_epoch += 1

    def plot(self, ylim=None):
        _plot(self.loss_list, self.eval_interval, "loss", ylim)


class RnnlmTrainer:
    """Trains a language model on one long stream of word ids xs (targets ts), read as
    batch_size streams from evenly spaced offsets, time_size steps per step, the
    position carried from step to step and epoch to epoch (truncated BPTT)."""

    def __init__(self, model, optimizer):
        self.model = model
        self.optimizer = optimizer
        self.time_idx = None
        self.ppl_list = None
        self.eval_interval = None
        self.current_epoch = 0

    def get_batch(self, x, t, batch_size, time_size):
        """(batch_x, batch_t) int32 (batch_size, time_size): stream i reads positions
        i * (len(x) // batch_size) + time_idx + 0..time_size-1 (modulo len(x))."""
        data_size = len(x)
        jump = data_size // batch_size
        positions = (numpy.arange(batch_size)[:, None] * jump
                     + (self.time_idx + numpy.arange(time_size))[None, :]) % data_size
        self.time_idx += time_size
        return (numpy.asarray(x)[positions].astype("i"),
                numpy.asarray(t)[positions].astype("i"))

    def fit(self, xs, ts, max_epoch=10, batch_size=20, time_size=35, max_grad=None,
            eval_interval=20):
        data_size = len(xs)
        max_iters = data_size // (batch_size * time_size)
        self.time_idx = 0
        self.ppl_list = []
        self.eval_interval = eval_interval
        total_loss, loss_count = 0, 0
        start_time = time.time()
        for _ in range(max_epoch):
            for iters in range(max_iters):
                batch_x, batch_t = self.get_batch(xs, ts, batch_size, time_size)
                loss = _step(self.model, self.optimizer, batch_x, batch_t, max_grad)
                total_loss += loss
                loss_count += 1
                if eval_interval is not None and iters % eval_interval == 0:
                    ppl = numpy.exp(total_loss / loss_count)
                    print("| epoch %d |  iter %d / %d | time %d[s] | perplexity %.2f"
                          % (self.current_epoch + 1, iters + 1, max_iters,
                             time.time() - start_time, ppl))
                    self.ppl_list.append(float(ppl))
                    total_loss, loss_count = 0, 0
            self.current_epoch += 1

    def plot(self, ylim=None):
        _plot(self.ppl_list, self.eval_interval, "perplexity", ylim)


def _step(model, optimizer, batch_x, batch_t, max_grad):
    loss = model.forward(batch_x, batch_t)
    model.backward()
    params, grads = remove_duplicate(model.params, model.grads)
    if max_grad is not None:
        clip_grads(grads, max_grad)
    optimizer.update(params, grads)
    return loss


def _plot(values, eval_interval, ylabel, ylim):
    import matplotlib.pyplot as plt  # only the scripts that draw need matplotlib
    if ylim is not None:
        plt.ylim(*ylim)
    plt.plot(numpy.arange(len(values)), values, label="train")
    plt.xlabel("iterations (x" + str(eval_interval) + ")")
    plt.ylabel(ylabel)
    plt.show()


def _tied_transposed(a, b):
    """Whether b is a's transpose, the sequel's test for weight tying (equal values),
    answered from memory first: a transposed view of the same array (BetterRnnlm's
    embed_W.T) is, and two arrays whose first elements differ are not, without
    comparing all of them (10^6 comparisons per pair and step for Rnnlm's embedding
    and output matrices, which have transposed shapes)."""
    if a.ndim != 2 or b.ndim != 2 or a.T.shape != b.shape:
        return False
    aT = a.T
    if (aT.__array_interface__["data"][0] == b.__array_interface__["data"][0]
            and aT.strides == b.strides and aT.dtype == b.dtype):
        return True
    if a.size and aT[0, 0] != b[0, 0]:
        return False
    return bool(numpy.all(aT == b))


def remove_duplicate(params, grads):
    """The parameter list with each shared array once, and its gradient the sum of
    its gradients: an array listed twice (the same object) keeps the first place
    and grads[i] += grads[j]; a matrix listed as another's transpose (weight tying)
    keeps the first and grads[i] += grads[j].T. Returns new lists (grads[i] itself
    is added to in place, as the sequel's)."""
    params, grads = list(params), list(grads)
    i = 0
    while i < len(params):
        j = i + 1
        while j < len(params):
            if params[i] is params[j]:
                add_into(grads[i], grads[j])
            elif _tied_transposed(params[i], params[j]):
                add_into(grads[i], grads[j].T)
            else:
                j += 1
                continue
            del params[j], grads[j]
        i += 1
    return params, grads
