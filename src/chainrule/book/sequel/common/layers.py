"""The sequel's common/layers.py names: chainrule's layers in the sequel's protocol.

The sequel's layers keep their parameters in a list `params` and their gradients in a
list `grads` of arrays of the same shapes, made once; backward writes each gradient
*into* its array (`grads[0][...] = dW`), because the sequel's models gather those lists
once (`self.params += layer.params; self.grads += layer.grads`) and its optimizers and
Trainer read them after every backward. The classes here are that protocol over
chainrule's layers: `params` holds the very arrays the caller passed (so tied weights,
`embed_W.T` passed as another layer's weight, stay one array, as `remove_duplicate`
expects), the computation is chainrule's layer's, and backward copies its gradients
into `grads` in place.

Where the sequel's code and chainrule's differ (docs/book.md, "The sequel"):
- SoftmaxWithLoss and SigmoidWithLoss compute the loss from log-softmax and the stable
  log-sigmoid: no `+ 1e-7` inside the log (the sequel's losses are larger by up to
  about 1e-7 / y), no overflow warning for large scores;
- Embedding's backward sums the rows of repeated ids with chainrule's scatter_add_rows
  (the same sums as the sequel's np.add.at, in the same order, 3 to 4x faster) into
  the rows used only, after zeroing the rows of its gradient array it wrote the step
  before (see _ROWS).
- Dropout is the sequel's (and the first book's): not inverted (see
  chainrule.book.common.layers.Dropout); TimeDropout (common.time_layers) is inverted,
  as the sequel's.

As in the sequel's module, `from common.layers import *` also brings np, GPU, softmax
and cross_entropy_error.
"""

import weakref

import numpy as np

from chainrule import layers as _layers
from chainrule import time_layers as _time_layers
from chainrule.book.common.layers import Dropout as _BookDropout

from .functions import cross_entropy_error, softmax  # noqa: F401  (re-exported, as the sequel's)
from .np import GPU  # noqa: F401

__all__ = ["MatMul", "Affine", "Softmax", "SoftmaxWithLoss", "Sigmoid", "SigmoidWithLoss",
           "Dropout", "Embedding", "np", "GPU", "softmax", "cross_entropy_error"]


class ListLayer:
    """The sequel's protocol over a chainrule layer `self.layer`.

    `params` are the arrays given (by reference), `grads` zero arrays of their shapes;
    `_grad_names` name the chainrule layer's gradient attributes in the order of
    `params`. forward is the chainrule layer's; backward is too, and then copies its
    gradients into `grads` in place (`_store_grads`).
    """

    _grad_names = ()

    def _lists(self, *params):
        self.params = list(params)
        self.grads = [np.zeros_like(p) for p in self.params]

    def _store_grads(self):
        for grad, name in zip(self.grads, self._grad_names):
            grad[...] = getattr(self.layer, name)

    def forward(self, *args):
        return self.layer.forward(*args)

    def backward(self, *args):
        out = self.layer.backward(*args)
        self._store_grads()
        return out


class MatMul(ListLayer):
    """out = x . W (the sequel's ch 1.3.4); dx = dout . W^T, dW = x^T . dout."""

    def __init__(self, W):
        self._lists(W)
        self.x = None

    def forward(self, x):
        W, = self.params
        self.x = x
        return np.dot(x, W)

    def backward(self, dout):
        W, = self.params
        self.grads[0][...] = np.dot(self.x.T, dout)
        return np.dot(dout, W.T)


class Affine(ListLayer):
    """out = x . W + b over chainrule's Affine (formulas there)."""

    _grad_names = ("dW", "db")

    def __init__(self, W, b):
        self._lists(W, b)
        self.layer = _layers.Affine(W, b)

    @property
    def x(self):
        return self.layer.x


class Softmax:
    """y = softmax(x) along the last axis; dx = y * (dout - sum(dout * y))."""

    def __init__(self):
        self.params, self.grads = [], []
        self.out = None

    def forward(self, x):
        self.out = softmax(x)
        return self.out

    def backward(self, dout):
        return self.out * (dout - np.sum(dout * self.out, axis=-1, keepdims=True))


class SoftmaxWithLoss(_layers.SoftmaxWithLoss):
    """chainrule's SoftmaxWithLoss (labels as indices or one-hot rows), with empty
    params and grads lists."""

    def __init__(self):
        super().__init__()
        self.params, self.grads = [], []


class Sigmoid(_layers.Sigmoid):
    """chainrule's Sigmoid, with empty params and grads lists."""

    def __init__(self):
        super().__init__()
        self.params, self.grads = [], []


class SigmoidWithLoss(_time_layers.SigmoidWithLoss):
    """chainrule's SigmoidWithLoss (the mean binary cross-entropy over the scores; the
    sequel's is the same mean over a batch of single scores), with empty params and
    grads lists."""

    def __init__(self):
        super().__init__()
        self.params, self.grads = [], []


class Dropout(_BookDropout):
    """The sequel's Dropout, which is the first book's: not inverted (see
    chainrule.book.common.layers.Dropout), with empty params and grads lists."""

    def __init__(self, dropout_ratio=0.5):
        super().__init__(dropout_ratio)
        self.params, self.grads = [], []


# The rows of an embedding's gradient array that may be nonzero, by the array's id (a
# weak reference beside it, so that the record ends with its array). An embedding of
# 10,000 words by 100 has a 4 MB gradient array that backward must leave whole, but a
# step of ch04's CBOW uses 100 of its rows: with the record, backward zeroes the rows
# it wrote the step before instead of all 10,000, and remove_duplicate adds the rows
# in use instead of whole arrays (ch04/train.py, 16 such arrays, one thread, cProfile
# over 100 steps: backward's scatters and remove_duplicate 17.7 -> 3.3 ms a step; the
# plain form is `out[...] = 0` and `total += part`). Only chainrule's code writes into these
# arrays (backward, remove_duplicate, clip_grads' scaling); a write it does not know of
# is one the sequel's protocol does not have.
_ROWS = {}


def _recorded_rows(array):
    """The rows of `array` that may be nonzero, as recorded; None if not known."""
    entry = _ROWS.get(id(array))
    if entry is None or entry[0]() is not array:
        return None
    return entry[1]


def _record_rows(array, rows):
    """Records that only `rows` of `array` may be nonzero (None: any of them)."""
    key = id(array)
    if rows is None:
        _ROWS.pop(key, None)
    else:
        _ROWS[key] = (weakref.ref(array, lambda _, key=key: _ROWS.pop(key, None)), rows)


def scatter_rows_into(out, idx, rows):
    """out[...] = 0, then out[k] += rows[i] for every i with idx[i] == k, in place.

    The same numbers as the sequel's `out[...] = 0; np.add.at(out, idx, rows)`: each
    row of out is summed in the order its ids occur, by chainrule's scatter_add_rows on
    the ids renumbered 0..U-1 (U the distinct ids), so that its work is over the used
    rows only; they are then written into out's rows. Zeroing: only the rows recorded
    as written before, when out has a record (see _ROWS); all of out otherwise.
    """
    idx = np.asarray(idx).reshape(-1)
    written = _recorded_rows(out)
    if written is None:
        out[...] = 0
    else:
        out[written] = 0
    if idx.size == 0:
        _record_rows(out, idx.astype(np.intp))
        return out
    rows = np.asarray(rows).reshape(idx.size, -1).astype(out.dtype, copy=False)
    ids, inverse = np.unique(idx, return_inverse=True)
    out[ids] = _time_layers.scatter_add_rows(inverse.reshape(-1), rows, ids.size)
    _record_rows(out, ids)
    return out


def add_into(total, part):
    """total += part in place, the sequel's sum of a shared weight's gradients; over
    part's recorded rows only when it has a record (rows it lacks are zeros: adding
    them changes nothing), keeping total's record up to date."""
    rows = _recorded_rows(part)
    if rows is None or total.shape != part.shape:
        total += part
        _record_rows(total, None)
        return total
    total[rows] += part[rows]
    known = _recorded_rows(total)
    if known is not None:
        _record_rows(total, np.union1d(known, rows))
    return total


class Embedding(ListLayer):
    """out = W[idx] over chainrule's Embedding (ids checked against W's rows); backward
    puts dW[k] = the sum of dout over the positions of id k into grads[0] in place
    (scatter_rows_into) and returns None."""

    def __init__(self, W):
        self._lists(W)
        self.layer = _time_layers.Embedding(W)

    @property
    def idx(self):
        return self.layer.idx

    def backward(self, dout):
        scatter_rows_into(self.grads[0], self.layer.idx, dout)
        return None
