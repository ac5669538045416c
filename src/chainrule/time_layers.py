"""Layers for sequences (*Deep Learning from Scratch 2*, chapters 4 to 8).

The sequel keeps these in common/time_layers.py. A sequence is an (N, T, D) array:
N streams (the batch), T time steps, D features; token ids are (N, T) integers.

Two kinds of layer:

- a per-step cell (RNN, LSTM, GRU, Attention) computes one time step; it is the
  readable unit, with its formula and derivative in its docstring;
- a Time layer (TimeRNN, TimeLSTM, ...) applies one step after another along T. The
  sequel builds it as T cell objects; here the loop runs over arrays instead, and
  everything that does not depend on the previous step is done once for all steps:

      the input products   xs . Wx   one (N*T, D) x (D, G) product before the loop
      the weight gradients dWx = xs^T . dA, dWh = hs_prev^T . dA, db = sum of dA
                           one product (one sum) each after the loop, over N*T rows

  because the unrolled graph uses the same Wx, Wh and b at every step, and the
  gradient of a parameter used T times is the sum of its T per-step gradients: a sum
  over t of (N, D)^T (N, G) products is one (N*T, D)^T (N*T, G) product.
  Only h_prev . Wh and the nonlinearities stay in the loop, on slices of arrays made
  once per call. The figures are in TimeLSTM's docstring and docs/sequences.md.

Internally the Time layers keep time-major arrays, (T, N, ...): step t is then one
contiguous (N, ...) block, and all steps together one (T*N, ...) matrix. TimeLSTM's loop
works on each step's transpose, (T, 4H, N), so that every gate is a contiguous block.

All layers follow layers.py's rules: parameters held by reference, gradients left in
`d` + the parameter's name, backward never writes into what it was given, computation
in the parameters' dtype (inputs are cast to it; the state is kept in it).
"""

import numpy as np

from .checks import flag, positive_int, positive_number
from .initializers import normal
from .layers import Dropout, TimeAffine  # noqa: F401  (TimeAffine is the sequel's too)
from .registry import register_layer

__all__ = ["Embedding", "TimeEmbedding", "RNN", "TimeRNN", "LSTM", "TimeLSTM", "GRU",
           "TimeGRU", "TimeAffine", "TimeSoftmaxWithLoss", "TimeDropout", "TimeBiLSTM",
           "SigmoidWithLoss", "Attention", "TimeAttention", "scatter_add_rows"]


# -- helpers ------------------------------------------------------------------------------
def _sigmoid(x, out=None):
    """sigma(x) = 1 / (1 + exp(-x)) computed as (1 + tanh(x/2)) / 2: equal, and it
    cannot overflow for x << 0. With out=x it works in place (no temporary)."""
    out = np.multiply(x, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def _check_matrix(owner, name, a, shape):
    if a.shape != shape:
        raise ValueError(f"{owner}: {name} has shape {a.shape}, expected {shape}")


def _gate_weights(owner, Wx, Wh, b, gates):
    """Wx (D, gates*H), Wh (H, gates*H), b (gates*H,) as arrays, checked; returns H."""
    Wx, Wh, b = np.asarray(Wx), np.asarray(Wh), np.asarray(b)
    if Wh.ndim != 2 or Wh.shape[1] != gates * Wh.shape[0]:
        raise ValueError(f"{owner}: Wh has shape {Wh.shape}, expected (H, {gates}*H)")
    H = Wh.shape[0]
    if Wx.ndim != 2 or Wx.shape[1] != gates * H:
        raise ValueError(f"{owner}: Wx has shape {Wx.shape}, expected (D, {gates * H}) "
                         f"to match Wh {Wh.shape}")
    _check_matrix(owner, "b", b, (gates * H,))
    return Wx, Wh, b, H


def _sequence(owner, xs, D, dtype):
    """xs as an (N, T, D) array of dtype, or ValueError naming the shape."""
    xs = np.asarray(xs)
    if xs.ndim != 3 or xs.shape[2] != D:
        raise ValueError(f"{owner}: xs has shape {xs.shape}; expected (N, T, {D})")
    return xs.astype(dtype, copy=False)


def _time_major(xs):
    """(N, T, D) -> the same numbers as a contiguous (T*N, D) matrix, step after step."""
    N, T, D = xs.shape
    return np.ascontiguousarray(xs.transpose(1, 0, 2)).reshape(T * N, D)


def _batch_major(a):
    """(T, N, K) time-major -> a contiguous (N, T, K) array."""
    return np.ascontiguousarray(a.transpose(1, 0, 2))


def _recurrent_shape(cls, input_shape, D, H):
    input_shape = tuple(input_shape)
    if len(input_shape) != 2:
        raise ValueError(f"{cls.__name__}: needs a sequence (T, D) per sample, "
                         f"got {input_shape}")
    if D is not None and input_shape[1] != D:
        raise ValueError(f"{cls.__name__}: the input {input_shape} has {input_shape[1]} "
                         f"features per step, Wx expects {D}")
    return input_shape[0], H


# -- embedding ------------------------------------------------------------------------------
#: segments longer than this are summed one by one (np.add.reduce over their rows);
#: the shorter ones, round by round. See scatter_add_rows.
_LONG_RUN = 32


def scatter_add_rows(idx, rows, num_rows):
    """dW of shape (num_rows, D) with dW[k] = the sum of rows[i] over every i with idx[i] == k.

    The same result as `dW = zeros; np.add.at(dW, idx, rows)`, bit for bit: each row of
    dW is summed in the same order, the order in which its ids occur. Measured at 32x64
    ids, dim 64, float32, one thread, on a loaded 2-core Xeon (benchmarks/
    bench_embedding.py; the table is in docs/sequences.md): np.add.at 0.88 ms at 65 rows,
    1.15 ms at 10,000 (uniform ids) and 1.85 ms (Zipf-distributed ids, as words are);
    this 0.27, 0.37 and 0.49 ms, 3.1 to 3.8x faster. np.add.at pays a call of its inner
    loop per id; this pays one per round below. The alternatives measured: sorting +
    np.add.reduceat, 0.17 ms at 65 rows but 0.76 ms at 10,000 (one inner-loop call per
    distinct id) and not bit for bit (its sums differ by rounding); one np.bincount
    over (id, column) pairs, 0.8-1.7 ms (exact in float64; float32 summed in float64);
    a one-hot matmul, 0.30 ms at 65 rows and out of the question at 10,000.

    How: a stable sort puts each id's occurrences together, in their original order. The
    ids are then ordered by how often they occur, so that the ids still having a k-th
    occurrence are a prefix: round k adds every id's k-th occurrence at once, one
    gather and one add over at most as many rows as there are distinct ids. Ids that
    occur more than _LONG_RUN times (a frequent word) are summed each with one
    np.add.reduce over its contiguous run of sorted rows, which adds rows one after
    another (reduction along the outer axis), the same order again.
    """
    idx = np.asarray(idx).ravel()
    rows = np.asarray(rows)
    D = rows.shape[-1]
    rows = rows.reshape(-1, D)
    out = np.zeros((num_rows, D), dtype=rows.dtype)
    if idx.size == 0:
        return out
    # A stable sort of 16-bit keys is a radix sort: 6x faster than of 64-bit ones.
    keys = idx.astype(np.uint16) if num_rows <= 65536 else idx
    order = np.argsort(keys, kind="stable")
    sorted_ids = idx[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_ids[1:] != sorted_ids[:-1])))
    counts = np.diff(np.append(starts, idx.size))
    long_ = counts > _LONG_RUN
    if long_.any():
        for start, count in zip(starts[long_], counts[long_]):
            out[sorted_ids[start]] = np.add.reduce(rows[order[start:start + count]], axis=0)
        starts, counts = starts[~long_], counts[~long_]
        if starts.size == 0:
            return out
    by_count = np.argsort(-counts, kind="stable")
    starts, counts = starts[by_count], counts[by_count]
    sums = rows[order[starts]]  # every id's first occurrence
    # active[k] = how many ids occur more than k times (counts are now descending)
    active = np.searchsorted(-counts, -np.arange(1, counts[0]), side="left")
    for k, n in enumerate(active, start=1):
        sums[:n] += rows[order[starts[:n] + k]]
    out[sorted_ids[starts]] = sums
    return out


def _token_ids(owner, idx, vocab):
    """idx as an integer array with every id in [0, vocab), or ValueError naming the
    first bad id and its position."""
    idx = np.asarray(idx)
    if idx.dtype.kind not in "iu":
        raise ValueError(f"{owner}: token ids must be integers, got dtype {idx.dtype}")
    if idx.size:
        bad = (idx < 0) | (idx >= vocab)
        if bad.any():
            where = np.unravel_index(int(np.argmax(bad)), idx.shape)
            raise ValueError(f"{owner}: token id {idx[where]} at position {tuple(map(int, where))} "
                             f"is outside the vocabulary 0..{vocab - 1} (W has {vocab} rows)")
    return idx


@register_layer
class Embedding:
    """out = W[idx]: the rows of W for integer ids of any shape (the sequel's ch 4.1).

    Picking row k is the product of a one-hot row (1 at k) with W, done without the
    product. Its derivative: dL/dW[k] = the sum of dout over every position whose id is
    k (a row used several times gets the sum), and zero for rows not used; there is
    no gradient with respect to ids, so backward returns None. The sum is made by
    scatter_add_rows, equal bit for bit to np.add.at and 3 to 4x faster (its
    docstring has the figures).

    W is (vocab, D); forward(idx) returns idx.shape + (D,).
    """

    parameters = (("W", "dW"),)
    needs_tokens = True

    def __init__(self, W):
        W = np.asarray(W)
        if W.ndim != 2:
            raise ValueError(f"{type(self).__name__}: W must be 2-D (vocab, D), got {W.shape}")
        self.W = W
        self.idx = None
        self.dW = None

    def get_config(self):
        return {}

    def forward(self, idx):
        self.idx = _token_ids(type(self).__name__, idx, self.W.shape[0])
        return self.W[self.idx]

    def backward(self, dout):
        dout = np.asarray(dout)
        expected = self.idx.shape + (self.W.shape[1],)
        if dout.shape != expected:
            raise ValueError(f"{type(self).__name__}: dout has shape {dout.shape}, "
                             f"expected {expected}")
        self.dW = scatter_add_rows(self.idx, dout.astype(self.W.dtype, copy=False),
                                   self.W.shape[0])
        return None


@register_layer
class TimeEmbedding(Embedding):
    """Embedding over (N, T) token ids: out[n, t] = W[ids[n, t]], (N, T, D).

    As Embedding (one lookup for all steps: no per-step objects), dW[k] = the sum of
    dout[n, t] over every (n, t) with ids[n, t] == k; backward returns None.

    Text form `embed(dim, vocab=None, init=0.01)`: W (vocab, dim) ~ N(0, init^2), 0.01
    being the sequel's initialisation (GPT-2 draws 0.02). The vocabulary size is not in
    the incoming shape (T,), so it is given as `vocab`.
    """

    text_name = "embed"
    name_prefix = "Embed"

    def forward(self, idx):
        idx = np.asarray(idx)
        if idx.ndim != 2:
            raise ValueError(f"TimeEmbedding: ids have shape {idx.shape}; expected (N, T)")
        return super().forward(idx)

    def output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 1:
            raise ValueError(f"TimeEmbedding: needs (T,) token ids per sample, got {input_shape}")
        return input_shape + (self.W.shape[1],)

    @classmethod
    def spec_args(cls, dim, vocab=None, init=0.01):
        dim = positive_int("embed: dim", dim)
        if vocab is not None:
            vocab = positive_int("embed: vocab", vocab)
        return {"dim": dim, "vocab": vocab, "init": positive_number("embed: init", init)}

    @classmethod
    def build(cls, input_shape, dtype, rng, dim, vocab=None, init=0.01):
        """W (vocab, dim) from N(0, init^2): 0.01 as the sequel, 0.02 as GPT-2."""
        args = cls.spec_args(dim, vocab, init)
        if args["vocab"] is None:
            raise ValueError("embed needs vocab= (the number of token ids): the incoming "
                             "shape does not say it, e.g. embed(64,vocab=65)")
        if len(tuple(input_shape)) != 1:
            raise ValueError(f"embed: needs (T,) token ids per sample, got {tuple(input_shape)}")
        W = args["init"] * normal(rng, (args["vocab"], args["dim"]))
        return cls(W.astype(dtype, copy=False))

    def text_args(self):
        return {"dim": int(self.W.shape[1]), "vocab": int(self.W.shape[0])}


# -- recurrent layers: common state handling ---------------------------------------------
class _TimeRecurrent:
    """What TimeRNN, TimeLSTM and TimeGRU share: the parameters, the state, the text form.

    The state: each forward starts from zeros, unless stateful=True (then from the last
    state of the previous forward) or set_state was called since the last forward (then
    from that state, once). Backward stops at the first step of its own forward: the
    gradient with respect to the state it started from is left in .dh (truncated
    backpropagation through time).
    """

    gates = 1
    parameters = (("Wx", "dWx"), ("Wh", "dWh"), ("b", "db"))

    def __init__(self, Wx, Wh, b, stateful=False):
        self.Wx, self.Wh, self.b, self.H = _gate_weights(type(self).__name__, Wx, Wh, b,
                                                         self.gates)
        self.stateful = bool(stateful)
        self.h = None  # the current state (N, H): the last forward's last step
        self.dh = None  # dL/d(the initial state) of the last backward
        self._given = False  # set_state was called since the last forward
        self.dWx = self.dWh = self.db = None

    def get_config(self):
        return {"stateful": self.stateful}

    def set_state(self, h):
        """The state the next forward starts from (copied, in the parameters' dtype)."""
        self.h = self._state("h", h)
        self._given = True

    def reset_state(self):
        """Start the next forward from zeros."""
        self.h = None
        self._given = False

    def _state(self, name, a):
        a = np.array(a, dtype=self.Wh.dtype, copy=True)
        if a.ndim != 2 or a.shape[1] != self.H:
            raise ValueError(f"{type(self).__name__}: the state {name} has shape {a.shape}; "
                             f"expected (N, {self.H})")
        return a

    def _start(self, name, state, N):
        """The state a forward over N streams starts from: the kept one, or zeros."""
        if (self.stateful or self._given) and state is not None:
            if state.shape[0] != N:
                raise ValueError(f"{type(self).__name__}: the state {name} is for "
                                 f"{state.shape[0]} streams but xs has {N}; call "
                                 f"reset_state() or set_state() first")
            return state
        return np.zeros((N, self.H), dtype=self.Wh.dtype)

    def output_shape(self, input_shape):
        return _recurrent_shape(type(self), input_shape, self.Wx.shape[0], self.H)

    @classmethod
    def spec_args(cls, hidden, stateful=False):
        return {"hidden": positive_int(f"{cls.text_name}: hidden", hidden),
                "stateful": flag(f"{cls.text_name}: stateful", stateful)}

    @classmethod
    def _init(cls, input_shape, dtype, rng, hidden, stateful):
        """Xavier as the sequel: Wx ~ N(0, 1)/sqrt(D), Wh ~ N(0, 1)/sqrt(H), b = 0."""
        args = cls.spec_args(hidden, stateful)
        H = args["hidden"]
        _recurrent_shape(cls, input_shape, None, None)  # (T, D), or ValueError
        D = int(tuple(input_shape)[1])
        G = cls.gates * H
        Wx = (normal(rng, (D, G)) / np.sqrt(D)).astype(dtype, copy=False)
        Wh = (normal(rng, (H, G)) / np.sqrt(H)).astype(dtype, copy=False)
        return Wx, Wh, np.zeros(G, dtype=dtype), args["stateful"]

    @classmethod
    def build(cls, input_shape, dtype, rng, hidden, stateful=False):
        Wx, Wh, b, stateful = cls._init(input_shape, dtype, rng, hidden, stateful)
        return cls(Wx, Wh, b, stateful=stateful)

    def text_args(self):
        return {"hidden": self.H, "stateful": self.stateful}

    def _parameter_grads(self, X, H_prev, dA, N, T, D):
        """After the loop: dWx = X^T.dA, dWh = H_prev^T.dA, db = sum of dA (sums over
        the T steps, as one product each over the N*T rows), and dxs = dA.Wx^T."""
        dA = dA.reshape(T * N, -1)
        self.dWx = X.T @ dA
        self.dWh = H_prev.reshape(T * N, -1).T @ dA
        self.db = dA.sum(axis=0)
        return _batch_major((dA @ self.Wx.T).reshape(T, N, D))


# -- RNN ----------------------------------------------------------------------------------
@register_layer
class RNN:
    """One step of a plain RNN (the sequel's ch 5.3): h_next = tanh(h_prev.Wh + x.Wx + b).

    With t = h_next, dt = dh_next * (1 - t^2) (tanh' = 1 - tanh^2), and
        dWx = x^T . dt,  dWh = h_prev^T . dt,  db = sum of dt over N,
        dx = dt . Wx^T,  dh_prev = dt . Wh^T.
    Wx (D, H), Wh (H, H), b (H,); x (N, D), h_prev (N, H).
    """

    parameters = (("Wx", "dWx"), ("Wh", "dWh"), ("b", "db"))

    def __init__(self, Wx, Wh, b):
        self.Wx, self.Wh, self.b, self.H = _gate_weights("RNN", Wx, Wh, b, 1)
        self.cache = None
        self.dWx = self.dWh = self.db = None

    def get_config(self):
        return {}

    def forward(self, x, h_prev):
        x = np.asarray(x, dtype=self.Wx.dtype)
        h_prev = np.asarray(h_prev, dtype=self.Wx.dtype)
        h_next = np.tanh(h_prev @ self.Wh + x @ self.Wx + self.b)
        self.cache = (x, h_prev, h_next)
        return h_next

    def backward(self, dh_next):
        x, h_prev, h_next = self.cache
        dt = dh_next * (1 - h_next ** 2)
        self.db = dt.sum(axis=0)
        self.dWh = h_prev.T @ dt
        self.dWx = x.T @ dt
        return dt @ self.Wx.T, dt @ self.Wh.T


@register_layer
class TimeRNN(_TimeRecurrent):
    """T steps of RNN over xs (N, T, D) -> hs (N, T, H) (the sequel's ch 5.3).

    Unrolled: h_0 = the initial state, h_t = tanh(h_{t-1}.Wh + x_t.Wx + b). The loss
    reaches h_t twice, through hs[:, t] (dhs[:, t] from above) and through h_{t+1};
    backward therefore goes from t = T to 1 with dh_t = dhs[:, t] + dh_prev of step t+1,
    where the two gradients add up. dt_t = dh_t * (1 - h_t^2); Wx, Wh and b are used
    at every step, so their gradients are the sums over t, made as one product each
    after the loop: dWx = X^T.dA, dWh = H_prev^T.dA, db = sum of dA, with X, H_prev
    and dA all T steps stacked into (T*N, .) matrices. .dh = dh_0.

    Text form `rnn(hidden, stateful=false)`.
    """

    text_name = "rnn"
    name_prefix = "RNN"

    def forward(self, xs):
        xs = _sequence("TimeRNN", xs, self.Wx.shape[0], self.Wx.dtype)
        N, T, _ = xs.shape
        H = self.H
        X = _time_major(xs)
        Hs = np.empty((T + 1, N, H), dtype=self.Wx.dtype)  # Hs[t] = h_t
        Hs[0] = self._start("h", self.h, N)
        A = (X @ self.Wx).reshape(T, N, H)  # every step's x_t.Wx at once
        A += self.b
        for t in range(T):
            h = np.matmul(Hs[t], self.Wh, out=Hs[t + 1])
            h += A[t]
            np.tanh(h, out=h)
        self.h, self._given = Hs[T].copy(), False
        self.cache = (X, Hs, xs.shape)
        return _batch_major(Hs[1:])

    def backward(self, dhs):
        X, Hs, (N, T, D) = self.cache
        dhs = np.asarray(dhs).transpose(1, 0, 2)  # a time-major view, no copy
        dA = 1 - Hs[1:] ** 2  # tanh' of every step at once; multiplied in below
        dh = np.zeros((N, self.H), dtype=self.Wx.dtype)
        WhT = np.ascontiguousarray(self.Wh.T)  # faster products than the view (TimeLSTM)
        for t in range(T - 1, -1, -1):
            dh += dhs[t]  # the two gradients of h_t add up
            dA[t] *= dh
            np.matmul(dA[t], WhT, out=dh)  # dh_{t-1}
        self.dh = dh
        return self._parameter_grads(X, Hs[:-1], dA, N, T, D)


# -- LSTM ---------------------------------------------------------------------------------
@register_layer
class LSTM:
    """One LSTM step (the sequel's ch 6.3), the four gates packed f, g, i, o:

        A = x.Wx + h_prev.Wh + b,          A = [A_f, A_g, A_i, A_o], each (N, H)
        f = sigma(A_f)  forget,  g = tanh(A_g)  candidate,
        i = sigma(A_i)  input,   o = sigma(A_o) output
        c_next = f * c_prev + g * i
        h_next = o * tanh(c_next)

    Backward, from dh_next and dc_next (both reach c_next: through h_next and from the
    next step), with tc = tanh(c_next):
        dc = dc_next + dh_next * o * (1 - tc^2)      the two gradients of c add up
        df = dc * c_prev,  dg = dc * i,  di = dc * g,  do = dh_next * tc
        dA = [df * f(1-f), dg * (1-g^2), di * i(1-i), do * o(1-o)]   (sigma' = s(1-s))
        dWx = x^T.dA, dWh = h_prev^T.dA, db = sum of dA over N,
        dx = dA.Wx^T, dh_prev = dA.Wh^T, dc_prev = dc * f.
    Wx (D, 4H), Wh (H, 4H), b (4H,).
    """

    parameters = (("Wx", "dWx"), ("Wh", "dWh"), ("b", "db"))

    def __init__(self, Wx, Wh, b):
        self.Wx, self.Wh, self.b, self.H = _gate_weights("LSTM", Wx, Wh, b, 4)
        self.cache = None
        self.dWx = self.dWh = self.db = None

    def get_config(self):
        return {}

    def forward(self, x, h_prev, c_prev):
        dtype = self.Wx.dtype
        x, h_prev, c_prev = (np.asarray(a, dtype=dtype) for a in (x, h_prev, c_prev))
        H = self.H
        A = x @ self.Wx + h_prev @ self.Wh + self.b
        f = _sigmoid(A[:, :H])
        g = np.tanh(A[:, H:2 * H])
        i = _sigmoid(A[:, 2 * H:3 * H])
        o = _sigmoid(A[:, 3 * H:])
        c_next = f * c_prev + g * i
        tc = np.tanh(c_next)
        h_next = o * tc
        self.cache = (x, h_prev, c_prev, f, g, i, o, tc)
        return h_next, c_next

    def backward(self, dh_next, dc_next):
        x, h_prev, c_prev, f, g, i, o, tc = self.cache
        dc = dc_next + dh_next * o * (1 - tc ** 2)
        dA = np.hstack((dc * c_prev * f * (1 - f), dc * i * (1 - g ** 2),
                        dc * g * i * (1 - i), dh_next * tc * o * (1 - o)))
        self.dWx = x.T @ dA
        self.dWh = h_prev.T @ dA
        self.db = dA.sum(axis=0)
        return dA @ self.Wx.T, dA @ self.Wh.T, dc * f


#: columns of the packed gates (f, g, i, o) that go through a sigmoid: scaled by 1/2
#: (see TimeLSTM.forward)
def _half_sigmoid_columns(H, dtype):
    scale = np.full(4 * H, 0.5, dtype=dtype)
    scale[H:2 * H] = 1
    return scale


@register_layer
class TimeLSTM(_TimeRecurrent):
    """T steps of LSTM over xs (N, T, D) -> hs (N, T, H) (the sequel's ch 6.3).

    Each step is LSTM's formula (see LSTM). Unrolled, h_t and c_t each reach the loss
    by two paths: h_t through hs[:, t] and through step t+1's gates, c_t through h_t
    and through c_{t+1} = f_{t+1} * c_t + ...; backward runs from t = T down to 1 with
        dh_t = dhs[:, t] + dh_prev of step t+1          (the two gradients add up)
        dc_t = dc_prev of step t+1 + dh_t * o_t * (1 - tanh(c_t)^2)
    and leaves .dh = dh_0, .dc = dc_0 (the initial state's gradients). Wx, Wh and b
    serve every step, so dWx, dWh and db are sums over t: one product each after the
    loop, over all N*T rows.

    `set_state(h, c=None)` (c None: zeros), `reset_state()`; the state is in .h and .c.
    Text form `lstm(hidden, stateful=false)`.

    What makes it fast (N=32, T=64, D=64, H=256, float32, one thread, this machine's
    2-core Xeon; benchmarks/bench_time_lstm.py, docs/sequences.md): forward + backward
    49.2 ms, against 83.8 ms for the sequel's way (64 LSTM objects, x.Wx per step,
    np.hstack and += of dWx, dWh, db at every step) and 61.8 ms for the batched
    products with every step in plain expressions. The products alone (64 h.Wh, 64
    dA.Wh^T, and the five over all steps) take about 40 ms of it: that is the floor.
      - x.Wx for all steps before the loop, in one matmul call, already transposed;
      - per step only h.Wh (into a preallocated array) and the nonlinearities, in
        place, on the step's transpose: (4H, N) blocks of one (T, 4H, N) array, so
        that each gate is one contiguous (H, N) block instead of a strided (N, H) slice
        of an (N, 4H) row; the per-step product is then Wh^T.h^T (forward) and
        Wh.dA^T (backward), the same sums. Against (T, N, 4H) steps (the plain form
        h.Wh, dA.Wh^T), with the same results bit for bit, measured in one process
        under load (char-rnn's shapes, float32, one thread, median of 15 alternating
        windows): forward + backward 171 ms -> 161 ms; the backward step's elementwise
        operations alone 14.4 ms -> 6.2 ms per 64 steps. The transposed copies of
        dhs and dA that it costs are in these figures;
      - one tanh call for all four gates: the f, i, o columns of Wx, Wh, b are
        halved once per forward, so that A/2 arrives and sigma(A) = (1 + tanh(A/2))/2
        needs only tanh and a multiply-add; halving is exact in binary floating
        point, so the numbers are the same as with the weights as they are (on
        fewer rows than the weights have, as in generation, each step's sums are
        halved instead: preparing the weights would cost more than the steps);
      - backward: each gate's block of dA computed in place in its block of one
        (T, 4H, N) array (computing the factors that do not depend on dh and dc for
        all steps at once before the loop, in fewer but larger operations, measured
        3 ms slower: its 2 MB temporaries leave the cache);
      - dWx, dWh as one product each and db as one sum after the loop.
    """

    gates = 4
    text_name = "lstm"
    name_prefix = "LSTM"

    def __init__(self, Wx, Wh, b, stateful=False):
        super().__init__(Wx, Wh, b, stateful)
        self.c = None
        self.dc = None

    def set_state(self, h, c=None):
        """The state the next forward starts from; c None: zeros."""
        h = self._state("h", h)
        c = np.zeros_like(h) if c is None else self._state("c", c)
        if c.shape != h.shape:
            raise ValueError(f"TimeLSTM: h has shape {h.shape} but c {c.shape}")
        self.h, self.c, self._given = h, c, True

    def reset_state(self):
        super().reset_state()
        self.c = None

    def forward(self, xs):
        dtype = self.Wx.dtype
        xs = _sequence("TimeLSTM", xs, self.Wx.shape[0], dtype)
        N, T, _ = xs.shape
        H = self.H
        half = _half_sigmoid_columns(H, dtype)
        X = _time_major(xs)  # (T*N, D), kept for dWx = X^T.dA
        # Each step works on its transpose, (4H, N): every gate one contiguous block (see
        # the class docstring). AT[t] = (x_t.Wx + b)^T becomes [f, g, i, o]^T of step t,
        # in place. Every step's x_t.Wx at once, made transposed: Wx^T.x_t^T for the T
        # steps in one matmul call, rather than X.Wx and then a transposed copy of it
        # (char-rnn's shapes, one thread: 6.9 -> 2.5 ms; ch08's, N=128 D=16: 8.7 -> 2.9).
        # x_t^T is a transposed view of X's rows, which BLAS reads as it is.
        XT = X.reshape(T, N, -1).transpose(0, 2, 1)  # (T, D, N)
        if T * N >= xs.shape[2] + H:
            # The sigmoid gates' columns of Wx, Wh and b halved once (see the docstring),
            # and Wh^T made contiguous, for the faster per-step product.
            WxT, bias, halve = (self.Wx * half).T, self.b * half, None
            WhT = np.ascontiguousarray((self.Wh * half[None, :]).T)  # (4H, H)
        else:
            # Fewer rows than the weights have (generation: one sequence, a step at a
            # time): preparing the weights would cost more than the steps, so each
            # step's sums are halved instead, the same numbers (halving is exact).
            # Forward at N=1, one thread: D=16, H=128 (ch07's seq2seq) 107 -> 19 us a
            # call at T=1, 165 -> 75 at T=7; D=64, H=256 (char-rnn) 398 -> 37 us.
            WxT, bias, halve, WhT = self.Wx.T, self.b, half[:, None], self.Wh.T
        AT = np.matmul(WxT, XT)  # (T, 4H, N)
        AT += bias[:, None]
        HsT = np.empty((T + 1, H, N), dtype=dtype)  # HsT[t] = h_t^T, HsT[0] the initial state
        CsT = np.empty((T + 1, H, N), dtype=dtype)
        HsT[0] = self._start("h", self.h, N).T
        CsT[0] = self._start("c", self.c, N).T
        TC = np.empty((T, H, N), dtype=dtype)  # tanh(c_t)^T, for backward
        rec = np.empty((4 * H, N), dtype=dtype)
        gi = np.empty((H, N), dtype=dtype)
        for t in range(T):
            a = AT[t]
            np.matmul(WhT, HsT[t], out=rec)  # (h_t.Wh)^T
            a += rec
            if halve is not None:
                a *= halve
            np.tanh(a, out=a)  # tanh(A_g), and tanh(A/2) for the sigmoid gates
            for s in (a[:H], a[2 * H:]):  # f; i and o
                s *= 0.5
                s += 0.5
            f, g, i, o = a[:H], a[H:2 * H], a[2 * H:3 * H], a[3 * H:]
            c = np.multiply(f, CsT[t], out=CsT[t + 1])
            c += np.multiply(g, i, out=gi)
            tc = np.tanh(c, out=TC[t])
            np.multiply(o, tc, out=HsT[t + 1])
        self.h = np.ascontiguousarray(HsT[T].T)
        self.c = np.ascontiguousarray(CsT[T].T)
        self._given = False
        self.cache = (X, AT, HsT, CsT, TC, xs.shape)
        return np.ascontiguousarray(HsT[1:].transpose(2, 0, 1))

    def backward(self, dhs):
        X, gates, HsT, CsT, TC, (N, T, D) = self.cache
        H = self.H
        dtype = self.Wx.dtype
        dhsT = np.ascontiguousarray(np.asarray(dhs).transpose(1, 2, 0))  # (T, H, N)
        dA = np.empty((T, 4 * H, N), dtype=dtype)  # dA[t] = (dL/dA_t)^T
        dh = np.zeros((H, N), dtype=dtype)  # from step t+1: dh_prev
        dc = np.zeros((H, N), dtype=dtype)  # from step t+1: dc_prev, then dc of step t
        tmp = np.empty((H, N), dtype=dtype)
        Wh = self.Wh  # dh_prev^T = Wh . dA_t^T, Wh as it is stored: no copy needed
        for t in range(T - 1, -1, -1):
            a, d, tc = gates[t], dA[t], TC[t]
            f, g, i, o = a[:H], a[H:2 * H], a[2 * H:3 * H], a[3 * H:]
            dh += dhsT[t]  # the two gradients of h_t add up
            k = np.multiply(tc, tc, out=tmp)  # and those of c_t:
            np.subtract(1, k, out=k)
            k *= o
            k *= dh
            dc += k  # dc = dc_next + dh * o * (1 - tanh(c)^2)
            # dA = [dc c_prev f(1-f), dc i (1-g^2), dc g i(1-i), dh tanh(c) o(1-o)],
            # each written into its block of dA, no temporaries
            df = np.subtract(1, f, out=d[:H])
            df *= f
            df *= CsT[t]
            df *= dc
            dg = np.multiply(g, g, out=d[H:2 * H])
            np.subtract(1, dg, out=dg)
            dg *= i
            dg *= dc
            di = np.subtract(1, i, out=d[2 * H:3 * H])
            di *= i
            di *= g
            di *= dc
            do = np.subtract(1, o, out=d[3 * H:])
            do *= o
            do *= tc
            do *= dh
            dc *= f  # dc_{t-1}
            np.matmul(Wh, d, out=dh)  # dh_{t-1}
        self.dh = np.ascontiguousarray(dh.T)
        self.dc = np.ascontiguousarray(dc.T)
        return self._parameter_grads(X, HsT[:-1].transpose(0, 2, 1),
                                     np.ascontiguousarray(dA.transpose(0, 2, 1)), N, T, D)


# -- GRU ----------------------------------------------------------------------------------
@register_layer
class GRU:
    """One GRU step, the sequel's form (ch 6, "GRU"), gates packed z, r, h~:

        z = sigma(x.Wx_z + h.Wh_z + b_z)          update gate
        r = sigma(x.Wx_r + h.Wh_r + b_r)          reset gate
        h~ = tanh(x.Wx_h + (r * h).Wh_h + b_h)    candidate
        h_next = (1 - z) * h + z * h~

    (PyTorch's GRU applies r after the product, r * (h.Wh_h + b); this one does not.)
    Backward from dh_next:
        dh~ = dh_next * z,  dt = dh~ * (1 - h~^2)      (gradient of h~'s pre-activation)
        d(r*h) = dt . Wh_h^T,  dWh_h = (r*h)^T . dt
        dz = dh_next * (h~ - h) * z(1-z),  dr = d(r*h) * h * r(1-r)
        dA = [dz, dr, dt];  dWx = x^T.dA, db = sum of dA, dx = dA.Wx^T
        dWh_z, dWh_r = h^T.[dz, dr]
        dh_prev = dh_next * (1 - z) + d(r*h) * r + [dz, dr] . [Wh_z, Wh_r]^T
    Wx (D, 3H), Wh (H, 3H), b (3H,).
    """

    parameters = (("Wx", "dWx"), ("Wh", "dWh"), ("b", "db"))

    def __init__(self, Wx, Wh, b):
        self.Wx, self.Wh, self.b, self.H = _gate_weights("GRU", Wx, Wh, b, 3)
        self.cache = None
        self.dWx = self.dWh = self.db = None

    def get_config(self):
        return {}

    def forward(self, x, h_prev):
        x = np.asarray(x, dtype=self.Wx.dtype)
        h = np.asarray(h_prev, dtype=self.Wx.dtype)
        H = self.H
        Ax = x @ self.Wx + self.b
        zr = _sigmoid(Ax[:, :2 * H] + h @ self.Wh[:, :2 * H])
        z, r = zr[:, :H], zr[:, H:]
        hh = np.tanh(Ax[:, 2 * H:] + (r * h) @ self.Wh[:, 2 * H:])
        h_next = (1 - z) * h + z * hh
        self.cache = (x, h, z, r, hh)
        return h_next

    def backward(self, dh_next):
        x, h, z, r, hh = self.cache
        H = self.H
        dt = dh_next * z * (1 - hh ** 2)
        drh = dt @ self.Wh[:, 2 * H:].T
        dz = dh_next * (hh - h) * z * (1 - z)
        dr = drh * h * r * (1 - r)
        dzr = np.hstack((dz, dr))
        dA = np.hstack((dzr, dt))
        self.dWx = x.T @ dA
        self.dWh = np.hstack((h.T @ dzr, (r * h).T @ dt))
        self.db = dA.sum(axis=0)
        dh_prev = dh_next * (1 - z) + drh * r + dzr @ self.Wh[:, :2 * H].T
        return dA @ self.Wx.T, dh_prev


@register_layer
class TimeGRU(_TimeRecurrent):
    """T steps of GRU over xs (N, T, D) -> hs (N, T, H).

    Each step is GRU's formula (see GRU); as in TimeRNN, dh_t = dhs[:, t] + dh_prev of
    step t+1, and the parameters' gradients are sums over t, made after the loop as one
    product each: dWx = X^T.dA, dWh = [H_prev^T.dA_zr, RH^T.dA_h] with RH the stacked
    r_t * h_{t-1}, db = sum of dA. x_t.Wx for all steps is one product before the loop.
    .dh = dh_0. Text form `gru(hidden, stateful=false)`.
    """

    gates = 3
    text_name = "gru"
    name_prefix = "GRU"

    def forward(self, xs):
        dtype = self.Wx.dtype
        xs = _sequence("TimeGRU", xs, self.Wx.shape[0], dtype)
        N, T, _ = xs.shape
        H = self.H
        X = _time_major(xs)
        A = (X @ self.Wx).reshape(T, N, 3 * H)  # becomes [z, r, h~] of every step
        A += self.b
        Hs = np.empty((T + 1, N, H), dtype=dtype)
        Hs[0] = self._start("h", self.h, N)
        RH = np.empty((T, N, H), dtype=dtype)  # r_t * h_{t-1}
        Wh_zr, Wh_h = self.Wh[:, :2 * H], self.Wh[:, 2 * H:]
        rec_zr = np.empty((N, 2 * H), dtype=dtype)
        rec_h = np.empty((N, H), dtype=dtype)
        for t in range(T):
            h, zr, hh = Hs[t], A[t, :, :2 * H], A[t, :, 2 * H:]
            zr += np.matmul(h, Wh_zr, out=rec_zr)
            _sigmoid(zr, out=zr)
            z, r = zr[:, :H], zr[:, H:]
            rh = np.multiply(r, h, out=RH[t])
            hh += np.matmul(rh, Wh_h, out=rec_h)
            np.tanh(hh, out=hh)
            h_next = np.subtract(hh, h, out=Hs[t + 1])  # h + z * (h~ - h)
            h_next *= z
            h_next += h
        self.h, self._given = Hs[T].copy(), False
        self.cache = (X, A, Hs, RH, xs.shape)
        return _batch_major(Hs[1:])

    def backward(self, dhs):
        X, A, Hs, RH, (N, T, D) = self.cache
        H = self.H
        dtype = self.Wx.dtype
        dhs = np.asarray(dhs).transpose(1, 0, 2)
        z, r, hh = A[..., :H], A[..., H:2 * H], A[..., 2 * H:]
        # dh-independent factors for all steps: dA = [dh*K_z, d(rh)*K_r, dh*K_h]
        K_z = (hh - Hs[:-1]) * z * (1 - z)
        K_r = Hs[:-1] * r * (1 - r)
        K_h = z * (1 - hh * hh)
        dA = np.empty((T, N, 3 * H), dtype=dtype)
        dh = np.zeros((N, H), dtype=dtype)
        drh = np.empty((N, H), dtype=dtype)
        rec = np.empty((N, H), dtype=dtype)
        WhT_zr = np.ascontiguousarray(self.Wh[:, :2 * H].T)  # see TimeLSTM.backward
        WhT_h = np.ascontiguousarray(self.Wh[:, 2 * H:].T)
        for t in range(T - 1, -1, -1):
            dh += dhs[t]
            dz, dr, dt = dA[t, :, :H], dA[t, :, H:2 * H], dA[t, :, 2 * H:]
            np.multiply(dh, K_h[t], out=dt)
            np.matmul(dt, WhT_h, out=drh)
            np.multiply(dh, K_z[t], out=dz)
            np.multiply(drh, K_r[t], out=dr)
            dh *= 1 - z[t]  # dh_{t-1}: through (1 - z) * h, r * h and the gates
            dh += np.multiply(drh, r[t], out=rec)
            dh += np.matmul(dA[t, :, :2 * H], WhT_zr, out=rec)
        self.dh = dh
        dA2 = dA.reshape(T * N, 3 * H)
        self.dWx = X.T @ dA2
        self.dWh = np.empty_like(self.Wh)
        self.dWh[:, :2 * H] = Hs[:-1].reshape(T * N, H).T @ dA2[:, :2 * H]
        self.dWh[:, 2 * H:] = RH.reshape(T * N, H).T @ dA2[:, 2 * H:]
        self.db = dA2.sum(axis=0)
        return _batch_major((dA2 @ self.Wx.T).reshape(T, N, D))


# -- bidirectional LSTM --------------------------------------------------------------------
def _inner(layer, attr):
    """A property that reads and writes the attribute `attr` of self.<layer>."""
    return property(lambda self: getattr(getattr(self, layer), attr),
                    lambda self, value: setattr(getattr(self, layer), attr, value))


@register_layer
class TimeBiLSTM:
    """Two TimeLSTMs, one reading xs forwards, one backwards (the sequel's ch 8.4.2):

        hs[:, t] = [forward LSTM's h_t, backward LSTM's h_t]   (N, T, 2H)

    where the backward LSTM runs over xs[:, ::-1] and its states are reversed again,
    so that both halves at t belong to step t. Backward: the first H columns of dhs go
    to the forward LSTM, the last H (reversed in time) to the backward one, and xs
    gets the sum of both dxs (it feeds both).

    The state (.h, set_state, .dh) is both LSTMs' side by side, (N, 2H): the forward
    LSTM's, then the backward one's (whose "initial" state is at the end of xs).
    Text form `bilstm(hidden, stateful=false)`; each direction has `hidden` units.
    """

    parameters = (("Wx1", "dWx1"), ("Wh1", "dWh1"), ("b1", "db1"),
                  ("Wx2", "dWx2"), ("Wh2", "dWh2"), ("b2", "db2"))
    text_name = "bilstm"
    name_prefix = "BiLSTM"

    def __init__(self, Wx1, Wh1, b1, Wx2, Wh2, b2, stateful=False):
        self.forward_lstm = TimeLSTM(Wx1, Wh1, b1, stateful)
        self.backward_lstm = TimeLSTM(Wx2, Wh2, b2, stateful)
        if self.forward_lstm.Wx.shape != self.backward_lstm.Wx.shape:
            raise ValueError(f"TimeBiLSTM: Wx1 {self.forward_lstm.Wx.shape} and Wx2 "
                             f"{self.backward_lstm.Wx.shape} differ")
        self.stateful = bool(stateful)
        self.H = self.forward_lstm.H
        self.dh = None

    # The arrays are the inner layers'; these names make them parameters of this one.
    Wx1, Wh1, b1 = (_inner("forward_lstm", a) for a in ("Wx", "Wh", "b"))
    Wx2, Wh2, b2 = (_inner("backward_lstm", a) for a in ("Wx", "Wh", "b"))
    dWx1, dWh1, db1 = (_inner("forward_lstm", a) for a in ("dWx", "dWh", "db"))
    dWx2, dWh2, db2 = (_inner("backward_lstm", a) for a in ("dWx", "dWh", "db"))

    @property
    def h(self):
        a, b = self.forward_lstm.h, self.backward_lstm.h
        return None if a is None else np.concatenate((a, b), axis=1)

    @property
    def c(self):
        a, b = self.forward_lstm.c, self.backward_lstm.c
        return None if a is None else np.concatenate((a, b), axis=1)

    def get_config(self):
        return {"stateful": self.stateful}

    def set_state(self, h, c=None):
        H = self.H
        h = np.asarray(h)
        if h.ndim != 2 or h.shape[1] != 2 * H:
            raise ValueError(f"TimeBiLSTM: the state h has shape {h.shape}; expected (N, {2 * H})")
        if c is not None:
            c = np.asarray(c)
            if c.shape != h.shape:
                raise ValueError(f"TimeBiLSTM: h has shape {h.shape} but c {c.shape}")
        self.forward_lstm.set_state(h[:, :H], None if c is None else c[:, :H])
        self.backward_lstm.set_state(h[:, H:], None if c is None else c[:, H:])

    def reset_state(self):
        self.forward_lstm.reset_state()
        self.backward_lstm.reset_state()

    def forward(self, xs):
        xs = np.asarray(xs)
        hs_f = self.forward_lstm.forward(xs)
        hs_b = self.backward_lstm.forward(xs[:, ::-1])
        return np.concatenate((hs_f, hs_b[:, ::-1]), axis=2)

    def backward(self, dhs):
        dhs = np.asarray(dhs)
        H = self.H
        dxs = self.forward_lstm.backward(dhs[:, :, :H])
        dxs += self.backward_lstm.backward(dhs[:, ::-1, H:])[:, ::-1]
        self.dh = np.concatenate((self.forward_lstm.dh, self.backward_lstm.dh), axis=1)
        return dxs

    def output_shape(self, input_shape):
        T, _ = _recurrent_shape(type(self), input_shape, self.forward_lstm.Wx.shape[0], None)
        return (T, 2 * self.H)

    @classmethod
    def spec_args(cls, hidden, stateful=False):
        return {"hidden": positive_int("bilstm: hidden", hidden),
                "stateful": flag("bilstm: stateful", stateful)}

    @classmethod
    def build(cls, input_shape, dtype, rng, hidden, stateful=False):
        Wx1, Wh1, b1, stateful = TimeLSTM._init(input_shape, dtype, rng, hidden, stateful)
        Wx2, Wh2, b2, _ = TimeLSTM._init(input_shape, dtype, rng, hidden, stateful)
        return cls(Wx1, Wh1, b1, Wx2, Wh2, b2, stateful=stateful)

    def text_args(self):
        return {"hidden": self.H, "stateful": self.stateful}


# -- affine, loss, dropout ----------------------------------------------------------------
@register_layer
class TimeSoftmaxWithLoss:
    """Softmax and cross-entropy at every step, averaged (the sequel's ch 5.4.3):

        L = (1/K) sum over the K positions (n, t) whose label is not ignore_label of
            -log softmax(xs[n, t])[ts[n, t]]
        dxs[n, t] = (softmax(xs[n, t]) - onehot(ts[n, t])) / K * dout, 0 where ignored.

    -log softmax is computed as log sum_j exp(x_j - m) - (x_t - m), m the row's
    maximum: no overflow, no log(0), no 1e-7 added. ts is (N, T) integer labels, or
    (N, T, V) one-hot rows (a row of zeros is an ignored position). With every position
    ignored the loss is 0 and so is dxs.
    """

    def __init__(self, ignore_label=-1):
        self.ignore_label = int(ignore_label)
        self.cache = None
        self.loss = None

    def get_config(self):
        return {"ignore_label": self.ignore_label}

    def _labels(self, ts, shape):
        N, T, V = shape
        ts = np.asarray(ts)
        if ts.shape == shape:  # one-hot rows
            if not np.all((ts == 0) | (ts == 1)) or np.any(ts.sum(axis=2) > 1):
                raise ValueError("TimeSoftmaxWithLoss: ts of shape (N, T, V) must hold "
                                 "one-hot rows (0s and a single 1; a row of 0s is ignored)")
            labels = ts.argmax(axis=2)
            labels[ts.max(axis=2) == 0] = self.ignore_label
            return labels
        if ts.shape != (N, T):
            raise ValueError(f"TimeSoftmaxWithLoss: ts has shape {ts.shape}; for scores xs "
                             f"{shape} it must be ({N}, {T}) labels or ({N}, {T}, {V}) "
                             f"one-hot rows")
        if ts.dtype.kind not in "iu":
            raise ValueError(f"TimeSoftmaxWithLoss: labels must be integers, got dtype {ts.dtype}")
        bad = (ts != self.ignore_label) & ((ts < 0) | (ts >= V))
        if bad.any():
            n, t = np.unravel_index(int(np.argmax(bad)), bad.shape)
            raise ValueError(f"TimeSoftmaxWithLoss: label {ts[n, t]} at position "
                             f"(n={n}, t={t}) is outside [0, {V}) and is not the "
                             f"ignore_label {self.ignore_label}")
        return ts

    def forward(self, xs, ts):
        xs = np.asarray(xs)
        if xs.ndim != 3:
            raise ValueError(f"TimeSoftmaxWithLoss: xs has shape {xs.shape}; expected "
                             f"(N, T, V) scores")
        if xs.dtype.kind != "f":
            xs = xs.astype(np.float64)
        N, T, V = xs.shape
        labels = self._labels(ts, xs.shape).reshape(N * T)
        mask = labels != self.ignore_label
        labels = np.where(mask, labels, 0)
        rows = np.arange(N * T)
        shifted = xs.reshape(N * T, V) - xs.reshape(N * T, V).max(axis=1, keepdims=True)
        e = np.exp(shifted)
        total = e.sum(axis=1)
        y = e
        y /= total[:, None]
        count = int(mask.sum())
        nll = np.log(total) - shifted[rows, labels]  # -log softmax at the label
        self.loss = nll[mask].sum() / max(count, 1)
        self.cache = (y, labels, mask, count, xs.shape)
        return self.loss

    def backward(self, dout=1):
        y, labels, mask, count, shape = self.cache
        dx = y.copy()
        dx[np.arange(dx.shape[0]), labels] -= 1
        dx[~mask] = 0
        dx *= dx.dtype.type(dout / max(count, 1))
        return dx.reshape(shape)


@register_layer
class TimeDropout(Dropout):
    """Inverted dropout on sequences: ys = xs * mask / (1 - p) while training, the
    identity at inference (forward(xs, train_flg=False)). One mask element per element
    of xs, as the sequel's TimeDropout (ch 6.5.2); dxs = dout * the same scaled mask.

    rng is a seed, a Generator, or None for NumPy's global generator (looked up at
    each call, so np.random.seed fixes the masks). It is layers.Dropout, which works on
    any shape, under the sequel's name; it has no text form of its own (`dropout` is
    Dropout's).
    """

    text_name = None
    draws_random = True
    has_train_mode = True
    keeps_shape = True


@register_layer
class SigmoidWithLoss:
    """Sigmoid and binary cross-entropy in one (the sequel's ch 4.2.3):

        y = sigma(x),  L = mean of -(t log y + (1 - t) log(1 - y))
        dL/dx = (y - t) / N * dout,   N the number of scores (x.size)

    The loss is computed as max(x, 0) - x t + log(1 + exp(-|x|)), which equals the
    formula above and stays finite for any x. t has x's shape and holds 0s and 1s
    (targets between 0 and 1 give the same formulas).
    """

    def __init__(self):
        self.y = None
        self.t = None
        self.loss = None

    def forward(self, x, t):
        x = np.asarray(x)
        if x.dtype.kind != "f":
            x = x.astype(np.float64)
        t = np.asarray(t)
        if t.shape != x.shape:
            raise ValueError(f"SigmoidWithLoss: t has shape {t.shape} but x {x.shape}")
        if t.size and (t.min() < 0 or t.max() > 1):
            raise ValueError("SigmoidWithLoss: t must hold 0s and 1s (or values in [0, 1])")
        t = t.astype(x.dtype, copy=False)
        self.y = _sigmoid(x)
        self.t = t
        losses = np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))
        self.loss = losses.sum() / max(x.size, 1)
        return self.loss

    def backward(self, dout=1):
        dx = self.y - self.t
        dx *= dx.dtype.type(dout / max(self.y.size, 1))
        return dx


# -- attention ----------------------------------------------------------------------------
def _softmax_last(s):
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    e /= e.sum(axis=-1, keepdims=True)
    return e


def _softmax_backward(a, da):
    """ds for a = softmax(s) along the last axis: a * (da - sum(da * a))."""
    return a * (da - (da * a).sum(axis=-1, keepdims=True))


@register_layer
class Attention:
    """One decoder step's attention (the sequel's ch 8.1, AttentionWeight + WeightSum):

        s_j = hs[:, j] . h               scores against every encoder state, (N, Te)
        a = softmax(s)                    the attention weights
        c = sum_j a_j hs[:, j]            the context, (N, H)

    Backward from dc: da_j = dc . hs[:, j]; ds = a * (da - sum_k da_k a_k) (softmax's
    derivative); dhs[:, j] = a_j dc + ds_j h (hs is used twice: in the sum and in the
    scores; the two gradients add up); dh = sum_j ds_j hs[:, j].
    forward(hs, h) with hs (N, Te, H), h (N, H); backward(dc) -> (dhs, dh).
    """

    def __init__(self):
        self.cache = None
        self.attention_weight = None

    def forward(self, hs, h):
        hs, h = np.asarray(hs), np.asarray(h)
        a = _softmax_last(np.einsum("njh,nh->nj", hs, h))
        self.cache = (hs, h, a)
        self.attention_weight = a
        return np.einsum("nj,njh->nh", a, hs)

    def backward(self, dc):
        hs, h, a = self.cache
        da = np.einsum("nh,njh->nj", dc, hs)
        ds = _softmax_backward(a, da)
        dhs = a[:, :, None] * dc[:, None, :] + ds[:, :, None] * h[:, None, :]
        dh = np.einsum("nj,njh->nh", ds, hs)
        return dhs, dh


@register_layer
class TimeAttention:
    """Attention for every decoder step at once (the sequel's ch 8.1.5):

        for each decoder step t:  a_t = softmax over s of hs_enc[:, s] . hs_dec[:, t]
                                  c_t = sum_s a_t[s] hs_enc[:, s]

    which is Attention's formula per step, computed for all steps together as two
    batched products: S = hs_dec . hs_enc^T (N, Td, Te), A = softmax(S) along s,
    contexts = A . hs_enc (N, Td, H). Backward from dC (N, Td, H):
        dA = dC . hs_enc^T,  dS = A * (dA - sum_s dA A)
        dhs_enc = A^T . dC + dS^T . hs_dec    (hs_enc is used in both products: they add up)
        dhs_dec = dS . hs_enc
    .attention_weights is the list of the Td (N, Te) weight arrays, as the sequel keeps it.
    """

    def __init__(self):
        self.cache = None
        self.attention_weights = None

    def forward(self, hs_enc, hs_dec):
        hs_enc, hs_dec = np.asarray(hs_enc), np.asarray(hs_dec)
        if hs_enc.ndim != 3 or hs_dec.ndim != 3 or hs_enc.shape[0] != hs_dec.shape[0] \
                or hs_enc.shape[2] != hs_dec.shape[2]:
            raise ValueError(f"TimeAttention: hs_enc {hs_enc.shape} and hs_dec "
                             f"{hs_dec.shape} must be (N, Te, H) and (N, Td, H)")
        A = _softmax_last(hs_dec @ hs_enc.transpose(0, 2, 1))
        self.cache = (hs_enc, hs_dec, A)
        self.attention_weights = [A[:, t] for t in range(A.shape[1])]
        return A @ hs_enc

    def backward(self, dout):
        hs_enc, hs_dec, A = self.cache
        dout = np.asarray(dout)
        dS = _softmax_backward(A, dout @ hs_enc.transpose(0, 2, 1))
        dhs_enc = A.transpose(0, 2, 1) @ dout
        dhs_enc += dS.transpose(0, 2, 1) @ hs_dec
        dhs_dec = dS @ hs_enc
        return dhs_enc, dhs_dec
