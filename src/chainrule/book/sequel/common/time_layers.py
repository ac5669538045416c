"""The sequel's common/time_layers.py names: chainrule's sequence layers in the sequel's
protocol (params and grads lists, gradients written into grads in place; see
common.layers).

Each class keeps the sequel's constructor, methods and attributes (stateful, h, c, dh,
set_state, reset_state, train_flg, ...) and computes with chainrule's layer of the same
name (chainrule.time_layers: the Time layers loop over arrays, not over T cell
objects, and compute every product that does not depend on the previous step once for
all steps). The sequel's rules that differ from chainrule's own layers are kept here:

- a recurrent layer made with stateful=False starts every forward from zeros, even
  after set_state (chainrule's uses a state given by set_state once);
- TimeDropout's `train_flg` attribute says whether it drops (its forward takes xs only).

`from common.time_layers import *` brings np, the layers of common.layers, softmax and
sigmoid, as the sequel's does.
"""

import numpy as np

from chainrule import time_layers as _time_layers

from .functions import sigmoid, softmax  # noqa: F401  (re-exported, as the sequel's)
from .layers import *  # noqa: F401,F403
from .layers import ListLayer, scatter_rows_into

__all__ = ["RNN", "TimeRNN", "LSTM", "TimeLSTM", "GRU", "TimeGRU", "TimeEmbedding",
           "TimeAffine", "TimeSoftmaxWithLoss", "TimeDropout", "TimeBiLSTM",
           "TimeSigmoidWithLoss", "Simple_TimeSoftmaxWithLoss", "Simple_TimeAffine",
           "MatMul", "Affine", "Softmax", "SoftmaxWithLoss", "Sigmoid", "SigmoidWithLoss",
           "Dropout", "Embedding", "np", "GPU", "softmax", "sigmoid", "cross_entropy_error"]

_GATE_GRADS = ("dWx", "dWh", "db")


class _Cell(ListLayer):
    """One step of a chainrule cell (RNN, LSTM, GRU) with params [Wx, Wh, b]."""

    _grad_names = _GATE_GRADS
    _cell = None

    def __init__(self, Wx, Wh, b):
        self._lists(Wx, Wh, b)
        self.layer = self._cell(Wx, Wh, b)

    @property
    def cache(self):
        return self.layer.cache


class RNN(_Cell):
    """One RNN step, chainrule.time_layers.RNN: forward(x, h_prev) -> h_next;
    backward(dh_next) -> (dx, dh_prev)."""

    _cell = _time_layers.RNN


class LSTM(_Cell):
    """One LSTM step, chainrule.time_layers.LSTM (gates f, g, i, o):
    forward(x, h_prev, c_prev) -> (h_next, c_next); backward(dh_next, dc_next) ->
    (dx, dh_prev, dc_prev)."""

    _cell = _time_layers.LSTM


class GRU(_Cell):
    """One GRU step, chainrule.time_layers.GRU (the sequel's form, gates z, r, h~):
    forward(x, h_prev) -> h_next; backward(dh_next) -> (dx, dh_prev)."""

    _cell = _time_layers.GRU


class _TimeRecurrent(ListLayer):
    """A chainrule Time layer (TimeRNN, TimeLSTM, TimeGRU) with the sequel's state rules.

    stateful=True: each forward starts from the last state (or the one set_state gave);
    stateful=False: from zeros, always. .h (and .c) is the state, .dh the gradient of the
    initial state after backward.
    """

    _grad_names = _GATE_GRADS
    _time = None

    def __init__(self, Wx, Wh, b, stateful=False):
        self._lists(Wx, Wh, b)
        self.layer = self._time(Wx, Wh, b, stateful=stateful)

    @property
    def stateful(self):
        return self.layer.stateful

    @stateful.setter
    def stateful(self, value):
        self.layer.stateful = bool(value)

    @property
    def h(self):
        return self.layer.h

    @h.setter
    def h(self, value):
        self.layer.h = value

    @property
    def dh(self):
        return self.layer.dh

    def forward(self, xs):
        if not self.layer.stateful:
            self.layer.reset_state()
        return self.layer.forward(xs)

    def set_state(self, h):
        self.layer.set_state(h)

    def reset_state(self):
        self.layer.reset_state()


class TimeRNN(_TimeRecurrent):
    """T steps of RNN, chainrule.time_layers.TimeRNN."""

    _time = _time_layers.TimeRNN


class TimeGRU(_TimeRecurrent):
    """T steps of GRU, chainrule.time_layers.TimeGRU."""

    _time = _time_layers.TimeGRU


class TimeLSTM(_TimeRecurrent):
    """T steps of LSTM, chainrule.time_layers.TimeLSTM; state .h and .c."""

    _time = _time_layers.TimeLSTM

    @property
    def c(self):
        return self.layer.c

    @c.setter
    def c(self, value):
        self.layer.c = value

    def set_state(self, h, c=None):
        self.layer.set_state(h, c)


class TimeEmbedding(ListLayer):
    """out[n, t] = W[xs[n, t]] over chainrule's TimeEmbedding: one lookup for all steps;
    backward puts dW into grads[0] in place (common.layers.scatter_rows_into: the used
    rows only, no per-step array of W's size) and returns None."""

    def __init__(self, W):
        self._lists(W)
        self.W = W
        self.layer = _time_layers.TimeEmbedding(W)

    def backward(self, dout):
        scatter_rows_into(self.grads[0], self.layer.idx, dout)
        return None


class TimeAffine(ListLayer):
    """out[n, t] = xs[n, t] . W + b over chainrule's TimeAffine (one product for all
    steps)."""

    _grad_names = ("dW", "db")

    def __init__(self, W, b):
        self._lists(W, b)
        self.layer = _time_layers.TimeAffine(W, b)


class TimeSoftmaxWithLoss(_time_layers.TimeSoftmaxWithLoss):
    """chainrule's TimeSoftmaxWithLoss (the mean over the positions whose label is not
    ignore_label = -1), with empty params and grads lists.

    The loss comes back as a float64 number, as the sequel's (its float32 sum divided
    by the count), so that perplexities print alike. Its backward turns the cached
    softmax into the gradient in place, as the sequel's does (the cache serves one
    backward): at the language models' (700, 10000) scores that is one pass over 28 MB
    fewer than a copy.
    """

    def __init__(self):
        super().__init__(ignore_label=-1)
        self.params, self.grads = [], []

    def forward(self, xs, ts):
        self.loss = np.float64(super().forward(xs, ts))
        return self.loss

    def backward(self, dout=1):
        y, labels, mask, count, shape = self.cache
        dx = y
        dx[np.arange(dx.shape[0]), labels] -= 1
        if count < mask.size:
            dx[~mask] = 0
        dx *= dx.dtype.type(dout / max(count, 1))
        return dx.reshape(shape)


class TimeDropout:
    """Inverted dropout on sequences, chainrule.time_layers.TimeDropout: drops while
    `train_flg` is True (the sequel's models set it), the identity otherwise."""

    def __init__(self, dropout_ratio=0.5):
        self.params, self.grads = [], []
        self.layer = _time_layers.TimeDropout(dropout_ratio)
        self.dropout_ratio = self.layer.dropout_ratio
        self.train_flg = True

    @property
    def mask(self):
        return self.layer.mask

    def forward(self, xs):
        return self.layer.forward(xs, self.train_flg)

    def backward(self, dout):
        return self.layer.backward(dout)


class TimeBiLSTM(ListLayer):
    """Two TimeLSTMs, forwards and backwards in time, over chainrule's TimeBiLSTM;
    params [Wx1, Wh1, b1, Wx2, Wh2, b2]."""

    _grad_names = ("dWx1", "dWh1", "db1", "dWx2", "dWh2", "db2")

    def __init__(self, Wx1, Wh1, b1, Wx2, Wh2, b2, stateful=False):
        self._lists(Wx1, Wh1, b1, Wx2, Wh2, b2)
        self.layer = _time_layers.TimeBiLSTM(Wx1, Wh1, b1, Wx2, Wh2, b2, stateful)


class TimeSigmoidWithLoss(_time_layers.SigmoidWithLoss):
    """The mean binary cross-entropy over every score of xs (N, T), chainrule's
    SigmoidWithLoss, with empty params and grads lists."""

    def __init__(self):
        super().__init__()
        self.params, self.grads = [], []


class Simple_TimeSoftmaxWithLoss(_time_layers.TimeSoftmaxWithLoss):
    """The sequel's step-by-step variant: the mean over all N*T positions, no label
    ignored (the same numbers as one loss over them all)."""

    def __init__(self):
        super().__init__(ignore_label=np.iinfo(np.int64).min)
        self.params, self.grads = [], []


class Simple_TimeAffine:
    """The sequel's step-by-step variant of TimeAffine (attributes W, b, dW, db, no
    lists); computed as TimeAffine."""

    def __init__(self, W, b):
        self.W, self.b = W, b
        self.dW, self.db = None, None
        self.layer = _time_layers.TimeAffine(W, b)

    def forward(self, xs):
        return self.layer.forward(xs)

    def backward(self, dout):
        dxs = self.layer.backward(dout)
        self.dW, self.db = self.layer.dW, self.layer.db
        return dxs
