"""The transformer's layers: LayerNorm, GELU, MultiHeadAttention and PositionalEmbedding.

A GPT block is x + Attention(LayerNorm(x)), then x + MLP(LayerNorm(x)) with the MLP an
affine map to 4C, GELU and an affine map back to C; the blocks sit between a token
embedding plus a PositionalEmbedding and a last LayerNorm. Each layer here is one step
of that, with forward and backward side by side, as in layers.py: forward(x) keeps
what backward needs, backward(dout) returns dL/dx and leaves the parameters' gradients
in d + their names. Sequences are (N, T, C): batch, time (positions), channels.

No backward writes into an array it was given, and every layer computes in the dtype
of what it is given: float32 in, float32 out.
"""

import math

import numpy as np

from .checks import flag, positive_int
from .initializers import normal
from .layers import Affine, Dropout
from .registry import register_layer
from .residual import ResidualAdd, ResidualStart
from .special import erfc

__all__ = ["LayerNorm", "GELU", "MultiHeadAttention", "PositionalEmbedding", "Unembedding",
           "Block"]

#: the standard deviation of initial weights in the text form's build: GPT-2's and
#: nanoGPT's N(0, 0.02^2) for every weight matrix and embedding
INIT_STD = 0.02


def _positive_float(what, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)) \
            or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{what} must be a positive number, got {value!r}")
    return float(value)


def _sequence_shape(name, input_shape):
    input_shape = tuple(int(d) for d in input_shape)
    if len(input_shape) != 2:
        raise ValueError(f"{name}: one sample must be a sequence (T, C), got shape "
                         f"{input_shape}")
    return input_shape


# -- LayerNorm -----------------------------------------------------------------------------
@register_layer
class LayerNorm:
    """Layer normalisation over the last axis (Ba et al. 2016), sample by sample:

        mean = mean(x),  var = mean((x - mean)^2)  (biased),  rstd = 1 / sqrt(var + eps)
        xhat = (x - mean) * rstd,  y = gamma * xhat + beta

    with gamma, beta of shape (C,) for x (..., C). Unlike batch normalisation nothing is
    taken over the batch, so training and inference are the same.

    Backward, with dxhat = dout * gamma and means over the last axis:
        dbeta = sum of dout,  dgamma = sum of dout * xhat  (over every other axis)
        dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
    the last two terms being what flows back through the mean and the variance.
    """

    parameters = (("gamma", "dgamma"), ("beta", "dbeta"))
    text_name = "layernorm"
    keeps_shape = True

    def __init__(self, gamma, beta, eps=1e-5):
        gamma = np.asarray(gamma)
        beta = np.asarray(beta)
        if gamma.ndim != 1 or beta.shape != gamma.shape:
            raise ValueError(f"LayerNorm: gamma and beta must be 1-D of one shape, got "
                             f"{gamma.shape} and {beta.shape}")
        self.gamma = gamma
        self.beta = beta
        self.eps = _positive_float("LayerNorm: eps", eps)
        self.xhat = None
        self.rstd = None  # 1 / sqrt(var + eps), (..., 1)
        self.dgamma = None
        self.dbeta = None

    def get_config(self):
        return {"eps": self.eps}

    @classmethod
    def build(cls, input_shape, dtype, rng, eps=1e-5):
        """gamma ones and beta zeros, as many as the input's last axis."""
        C = int(input_shape[-1])
        return cls(np.ones(C, dtype=dtype), np.zeros(C, dtype=dtype), eps=eps)

    @classmethod
    def spec_args(cls, eps=1e-5):
        return {"eps": _positive_float("layernorm: eps", eps)}

    def text_args(self):
        return {"eps": self.eps}

    def output_shape(self, input_shape):
        input_shape = tuple(int(d) for d in input_shape)
        if not input_shape or input_shape[-1] != self.gamma.shape[0]:
            raise ValueError(f"LayerNorm: the input {input_shape} must end in "
                             f"{self.gamma.shape[0]} features, as many as gamma")
        return input_shape

    def forward(self, x):
        x = np.asarray(x)
        if x.ndim == 0 or x.shape[-1] != self.gamma.shape[0]:
            raise ValueError(f"LayerNorm: x has shape {x.shape}; its last axis must have "
                             f"{self.gamma.shape[0]} features, as many as gamma")
        xhat = x - x.mean(axis=-1, keepdims=True)
        var = np.mean(xhat * xhat, axis=-1, keepdims=True)
        var += var.dtype.type(self.eps)
        rstd = np.sqrt(var, out=var)
        np.divide(1, rstd, out=rstd)
        xhat *= rstd
        self.xhat = xhat
        self.rstd = rstd
        out = xhat * self.gamma
        out += self.beta
        return out

    def backward(self, dout):
        dout = np.asarray(dout)
        C = self.gamma.shape[0]
        self.dbeta = dout.reshape(-1, C).sum(axis=0)
        self.dgamma = (dout * self.xhat).reshape(-1, C).sum(axis=0)
        dxhat = dout * self.gamma
        dx = dxhat - dxhat.mean(axis=-1, keepdims=True)
        dxhat *= self.xhat
        dx -= self.xhat * dxhat.mean(axis=-1, keepdims=True)
        dx *= self.rstd
        return dx


# -- GELU ----------------------------------------------------------------------------------
_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_CUBIC = 0.044715


@register_layer
class GELU:
    """The Gaussian error linear unit (Hendrycks & Gimpel 2016): y = x Phi(x), with Phi the
    standard normal CDF, Phi(x) = (1 + erf(x / sqrt 2)) / 2.

        dy/dx = Phi(x) + x phi(x),  phi(x) = exp(-x^2 / 2) / sqrt(2 pi)

    Phi is computed as erfc(-x / sqrt 2) / 2, the same number, without the cancellation
    of 1 + erf for x << 0 (chainrule.special.erfc, accurate to float64 rounding).

    approximate="tanh" is GPT-2's form:
        y = x (1 + tanh u) / 2,  u = sqrt(2/pi) (x + 0.044715 x^3)
        dy/dx = (1 + tanh u) / 2 + x (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2) / 2
    """

    text_name = "gelu"
    is_activation = True
    keeps_shape = True

    def __init__(self, approximate="none"):
        if not isinstance(approximate, str) or approximate.lower() not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got "
                             f"{approximate!r}")
        self.approximate = approximate.lower()
        self.x = None
        self.cdf = None  # Phi(x), or (1 + tanh u) / 2 for the tanh form
        self.tanh = None

    def get_config(self):
        return {"approximate": self.approximate}

    def text_args(self):
        return {"approximate": self.approximate}

    def forward(self, x):
        x = np.asarray(x)
        self.x = x
        if self.approximate == "tanh":
            u = x * x
            u *= _GELU_CUBIC
            u += 1
            u *= x
            u *= _SQRT_2_OVER_PI
            t = np.tanh(u, out=u)
            self.tanh = t
            cdf = t + 1
            cdf *= 0.5
        else:
            cdf = erfc(x * -_SQRT_HALF)
            cdf *= 0.5
        self.cdf = cdf
        return x * cdf

    def backward(self, dout):
        x = self.x
        if self.approximate == "tanh":
            # x (1 - t^2) sqrt(2/pi) (1 + 3c x^2) / 2, then + (1 + t) / 2
            slope = x * x
            slope *= 3 * _GELU_CUBIC
            slope += 1
            slope *= x
            slope *= 0.5 * _SQRT_2_OVER_PI
            slope *= 1 - self.tanh * self.tanh
        else:
            # x phi(x) = x exp(-x^2 / 2) / sqrt(2 pi)
            slope = x * x
            slope *= -0.5
            np.exp(slope, out=slope)
            slope *= x
            slope *= _INV_SQRT_2PI
        slope += self.cdf
        slope *= dout
        return slope


# -- MultiHeadAttention --------------------------------------------------------------------
@register_layer
class MultiHeadAttention:
    """Multi-head self-attention (Vaswani et al. 2017) on x (N, T, C), as in a GPT:

        [q | k | v] = x W_qkv + b_qkv           W_qkv (C, 3C): q, k, v (N, T, C) each
        head h takes columns h d .. (h+1) d - 1 of q, k and v,  d = C / num_heads:
        S = q_h k_h^T / sqrt(d)                 (N, T, T) scores, query by key
        S[t, s] = -inf for s > t                where causal: no look at a later position
        P = softmax(S) over the keys            .attention_weights (N, num_heads, T, T)
        Y_h = P v_h,  Y = [Y_1 | ... | Y_H]     heads side by side in head order
        out = Y W_o + b_o                       W_o (C, C)

    Backward, the same steps in reverse (the sums are over the batch and positions):
        dW_o = Y^T dout, db_o = sum dout, dY = dout W_o^T
        dP = dY_h v_h^T,  dv_h = P^T dY_h
        dS = P * (dP - sum over keys of dP * P)          (softmax's derivative)
        dq_h = dS k_h / sqrt(d),  dk_h = dS^T q_h / sqrt(d)
        dW_qkv = x^T [dq | dk | dv], db_qkv = sum [dq | dk | dv], dx = [dq | dk | dv] W_qkv^T
    A masked score has P = 0, so dS = 0 there: the mask needs no backward of its own.

    How it is computed: all heads at once, as batched products over (N, heads) of views
    into the one (N T, 3C) projection, never a loop over heads; the softmax runs in place
    on the scores. Times of each step: benchmarks/bench_attention.py, docs/transformer.md.
    """

    parameters = (("W_qkv", "dW_qkv"), ("b_qkv", "db_qkv"), ("W_o", "dW_o"), ("b_o", "db_o"))
    text_name = "attention"
    name_prefix = "Attention"
    keeps_shape = True

    def __init__(self, W_qkv, b_qkv, W_o, b_o, num_heads, causal=True):
        W_qkv, b_qkv, W_o, b_o = (np.asarray(a) for a in (W_qkv, b_qkv, W_o, b_o))
        if W_o.ndim != 2 or W_o.shape[0] != W_o.shape[1]:
            raise ValueError(f"MultiHeadAttention: W_o must be square (C, C), got "
                             f"{W_o.shape}")
        C = W_o.shape[0]
        if W_qkv.shape != (C, 3 * C) or b_qkv.shape != (3 * C,) or b_o.shape != (C,):
            raise ValueError(f"MultiHeadAttention: for C = {C} (from W_o) W_qkv must be "
                             f"({C}, {3 * C}), b_qkv ({3 * C},) and b_o ({C},); got "
                             f"{W_qkv.shape}, {b_qkv.shape} and {b_o.shape}")
        num_heads = positive_int("MultiHeadAttention: num_heads", num_heads)
        if C % num_heads:
            raise ValueError(f"MultiHeadAttention: {num_heads} heads do not divide "
                             f"C = {C} channels")
        self.W_qkv, self.b_qkv, self.W_o, self.b_o = W_qkv, b_qkv, W_o, b_o
        self.num_heads = num_heads
        self.causal = flag("MultiHeadAttention: causal", causal)
        self.attention_weights = None  # P, (N, num_heads, T, T)
        self.x = None  # (N T, C)
        self.qkv = None  # the projection as (3, N, heads, T, d) views
        self.q_scaled = None  # q / sqrt(d), (N, heads, T, d)
        self.y = None  # the heads' outputs side by side, (N T, C)
        self._masks = {}  # (T, dtype) -> the (T, T) triangle of -inf added to causal scores
        self.dW_qkv = self.db_qkv = self.dW_o = self.db_o = None

    def get_config(self):
        return {"num_heads": self.num_heads, "causal": self.causal}

    @classmethod
    def build(cls, input_shape, dtype, rng, heads, causal=True):
        """Weights as nanoGPT draws them: W_qkv and W_o from N(0, 0.02^2), biases zero."""
        _, C = _sequence_shape("attention", input_shape)
        if C % heads:
            raise ValueError(f"attention: {heads} heads do not divide C = {C} channels")
        W_qkv = (INIT_STD * normal(rng, (C, 3 * C))).astype(dtype, copy=False)
        W_o = (INIT_STD * normal(rng, (C, C))).astype(dtype, copy=False)
        return cls(W_qkv, np.zeros(3 * C, dtype=dtype), W_o, np.zeros(C, dtype=dtype),
                   heads, causal)

    @classmethod
    def spec_args(cls, heads, causal=True):
        return {"heads": positive_int("attention: heads", heads),
                "causal": flag("attention: causal", causal)}

    def text_args(self):
        return {"heads": self.num_heads, "causal": self.causal}

    def output_shape(self, input_shape):
        T, C = _sequence_shape("MultiHeadAttention", input_shape)
        if C != self.W_o.shape[0]:
            raise ValueError(f"MultiHeadAttention: the input has C = {C} channels, the "
                             f"weights {self.W_o.shape[0]}")
        return T, C

    def _mask(self, T, dtype):
        """0 on and below the diagonal, -inf above: added to the scores, it takes a later
        key out of the softmax. Kept per T, so no call builds a (T, T) boolean again."""
        key = (T, np.dtype(dtype))
        mask = self._masks.get(key)
        if mask is None:
            mask = np.triu(np.full((T, T), -np.inf, dtype=dtype), k=1)
            self._masks[key] = mask
        return mask

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_masks"] = {}  # rebuilt on use; a copy of the layer need not carry them
        return state

    def forward(self, x):
        x = np.asarray(x)
        if x.ndim != 3 or x.shape[2] != self.W_o.shape[0]:
            raise ValueError(f"MultiHeadAttention: x has shape {x.shape}; expected "
                             f"(N, T, {self.W_o.shape[0]})")
        N, T, C = x.shape
        H = self.num_heads
        d = C // H
        x2 = x.reshape(N * T, C)
        # One product for q, k and v of every head; the heads are then views of it,
        # (N, T, 3, H, d) -> (3, N, H, T, d), whose (T, d) slices BLAS reads in place
        # (rows 3C apart). Measured (benchmarks/bench_attention.py, N=12 T=64 C=128, 4
        # heads, float32, one thread): scores from these views 0.22-0.23 ms, against
        # 0.28 ms after copying q and k contiguous and 0.22 ms for a Python loop over
        # the heads, so no copy and no loop.
        qkv = x2 @ self.W_qkv
        qkv += self.b_qkv
        qkv = qkv.reshape(N, T, 3, H, d).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv
        # The 1/sqrt(d) on q, (T, d), rather than on the scores, (T, T): the same time
        # forward (0.22 ms either way, measured as above), and backward's dk needs
        # exactly q / sqrt(d), so it is kept rather than computed again.
        q_scaled = q * q.dtype.type(1.0 / math.sqrt(d))
        scores = q_scaled @ k.swapaxes(-1, -2)  # (N, H, T, T)
        if self.causal:
            # S + M, M the cached triangle of -inf above the diagonal: 0.034 ms, against
            # 0.19-0.25 ms for np.where on a boolean triangle made at each call and 0.29
            # for S[..., triangle] = -inf (measured as above).
            scores += self._mask(T, scores.dtype)
        # softmax over the keys, in place: P = exp(S - max S) / sum exp(S - max S).
        # 0.57-0.61 ms against 0.63-0.66 into new arrays (measured as above); of it the
        # row maximum over 64 keys alone is 0.27 ms, the exp 0.08.
        scores -= scores.max(axis=-1, keepdims=True)
        P = np.exp(scores, out=scores)
        P /= P.sum(axis=-1, keepdims=True)
        y = P @ v  # (N, H, T, d)
        y = y.transpose(0, 2, 1, 3).reshape(N * T, C)  # heads side by side
        out = y @ self.W_o
        out += self.b_o
        self.x, self.qkv, self.q_scaled, self.y = x2, qkv, q_scaled, y
        self.attention_weights = P
        return out.reshape(N, T, C)

    def backward(self, dout):
        dout = np.asarray(dout)
        N, H, T, _ = self.attention_weights.shape
        C = self.W_o.shape[0]
        d = C // H
        P = self.attention_weights
        _, k, v = self.qkv
        dout2 = dout.reshape(N * T, C)
        self.dW_o = self.y.T @ dout2
        self.db_o = dout2.sum(axis=0)
        dy = (dout2 @ self.W_o.T).reshape(N, T, H, d).transpose(0, 2, 1, 3)
        # [dq | dk | dv] is filled head by head straight into the (N T, 3C) layout the
        # projection's backward multiplies.
        dqkv = np.empty((N, T, 3, H, d), dtype=dy.dtype)
        dq, dk, dv = dqkv.transpose(2, 0, 3, 1, 4)
        np.matmul(P.swapaxes(-1, -2), dy, out=dv)
        dS = dy @ v.swapaxes(-1, -2)  # dP, (N, H, T, T), turned into dS in place:
        # dS = P * (dP - sum_keys(dP * P))
        dS *= P
        dS -= P * dS.sum(axis=-1, keepdims=True)
        scale = dS.dtype.type(1.0 / math.sqrt(d))
        np.matmul(dS, k, out=dq)
        dq *= scale
        np.matmul(dS.swapaxes(-1, -2), self.q_scaled, out=dk)  # q_scaled holds the 1/sqrt(d)
        dqkv = dqkv.reshape(N * T, 3 * C)
        self.dW_qkv = self.x.T @ dqkv
        self.db_qkv = dqkv.sum(axis=0)
        return (dqkv @ self.W_qkv.T).reshape(N, T, C)


# -- PositionalEmbedding -------------------------------------------------------------------
@register_layer
class PositionalEmbedding:
    """A learned position embedding added to x (N, T, C): y[n, t] = x[n, t] + W[t], with
    W (T_max, C) one row per position, T <= T_max.

    dx = dout (the very array given: nothing here writes into it, and nothing after may),
    dW[t] = sum over the batch of dout[n, t] for t < T, and 0 for the rows from T on,
    which this input did not use.
    """

    parameters = (("W", "dW"),)
    text_name = "posembed"
    name_prefix = "PosEmbed"
    keeps_shape = True

    def __init__(self, W):
        W = np.asarray(W)
        if W.ndim != 2:
            raise ValueError(f"PositionalEmbedding: W must be 2-D (T_max, C), got shape "
                             f"{W.shape}")
        self.W = W
        self.T = None
        self.dW = None

    def get_config(self):
        return {}

    @classmethod
    def build(cls, input_shape, dtype, rng, max_len):
        """W (max_len, C) from N(0, 0.02^2), as nanoGPT's position embedding."""
        T, C = _sequence_shape("posembed", input_shape)
        if T > max_len:
            raise ValueError(f"posembed: sequences of T = {T} positions do not fit in "
                             f"max_len = {max_len}")
        return cls((INIT_STD * normal(rng, (max_len, C))).astype(dtype, copy=False))

    @classmethod
    def spec_args(cls, max_len):
        return {"max_len": positive_int("posembed: max_len", max_len)}

    def text_args(self):
        return {"max_len": int(self.W.shape[0])}

    def _check(self, T, C, shape):
        T_max, width = self.W.shape
        if C != width:
            raise ValueError(f"PositionalEmbedding: the input {shape} has C = {C} channels, "
                             f"W has {width}")
        if T > T_max:
            raise ValueError(f"PositionalEmbedding: a sequence of T = {T} positions is "
                             f"longer than the {T_max} that W {self.W.shape} has rows for")

    def output_shape(self, input_shape):
        T, C = _sequence_shape("PositionalEmbedding", input_shape)
        self._check(T, C, (T, C))
        return T, C

    def forward(self, x):
        x = np.asarray(x)
        if x.ndim != 3:
            raise ValueError(f"PositionalEmbedding: x has shape {x.shape}; expected (N, T, C)")
        self._check(x.shape[1], x.shape[2], x.shape)
        self.T = x.shape[1]
        return x + self.W[:self.T]

    def backward(self, dout):
        dW = np.zeros_like(self.W)
        np.sum(dout, axis=0, out=dW[:self.T])
        self.dW = dW
        return dout


# -- the output layer tied to the embedding ------------------------------------------------
@register_layer
class Unembedding:
    """Scores for every token from the embedding's own matrix: y = x W^T (no bias),
    x (N, T, C), W (V, C) the token embedding's, y (N, T, V). GPT-2 ties its output
    layer to its input embedding this way: one matrix, read at both ends.

    dx = dout W,  dW = sum over N and T of dout^T x: the gradient of W along this path,
    which the network adds to the embedding's own (`ties`), since the loss depends on W
    through both layers.

    `unembed` in the text form; a network gives it the matrix of the token embedding
    that comes before it. It has no parameters of its own, so a file stores W once.
    """

    text_name = "unembed"
    name_prefix = "Unembed"
    ties = ("W", "dW")  # reads the token embedding's W; leaves its gradient in dW

    def __init__(self, W=None):
        self.W = W
        self.x = None
        self.dW = None

    def output_shape(self, input_shape):
        T, C = _sequence_shape("Unembedding", input_shape)
        if self.W is None or self.W.shape[1] != C:
            raise ValueError(f"Unembedding: the input has C = {C} channels, the embedding "
                             f"{None if self.W is None else self.W.shape[1]}")
        return T, self.W.shape[0]

    def forward(self, x):
        x = np.asarray(x, dtype=self.W.dtype)
        self.x = x
        return x @ self.W.T

    def backward(self, dout):
        dout = np.asarray(dout)
        C = self.W.shape[1]
        self.dW = dout.reshape(-1, dout.shape[-1]).T @ self.x.reshape(-1, C)
        return dout @ self.W


# -- the GPT block, as a shorthand ---------------------------------------------------------
@register_layer
class Block:
    """`block(heads)`: the pre-norm block of GPT-2 and nanoGPT, written out as layers:

        residual(layernorm attention(heads))              x + Attention(LayerNorm(x))
        residual(layernorm affine(4C) gelu affine(C))     x + MLP(LayerNorm(x))

    for C channels arriving. Not a layer itself: it is the text form's shorthand for
    those ten layers (residual groups are a start and an add), which is what a network
    holds, saves and draws; their derivatives are their own. `mlp` is the hidden width
    as a multiple of C, `dropout` a dropout after the attention and after the MLP, each
    inside its residual group (nanoGPT's resid_dropout), `init` the standard deviation
    of the MLP's weights (nanoGPT's 0.02; the attention's are drawn likewise).
    """

    text_name = "block"
    expands = True

    @classmethod
    def spec_args(cls, heads, causal=True, mlp=4, dropout=0.0, init=INIT_STD):
        dropout = float(dropout)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"block: dropout must be in [0, 1), got {dropout}")
        return {"heads": positive_int("block: heads", heads),
                "causal": flag("block: causal", causal),
                "mlp": positive_int("block: mlp", mlp), "dropout": dropout,
                "init": _positive_float("block: init", init)}

    @classmethod
    def build(cls, input_shape, dtype, rng, heads, causal=True, mlp=4, dropout=0.0,
              init=INIT_STD):
        """The block's layers, their weights drawn from rng in the order they stand."""
        T, C = _sequence_shape("block", input_shape)
        wide = (T, mlp * C)
        resid = [Dropout(dropout)] if dropout else []
        return ([ResidualStart(), LayerNorm.build(input_shape, dtype, rng),
                 MultiHeadAttention.build(input_shape, dtype, rng, heads, causal)]
                + resid + [ResidualAdd(), ResidualStart(),
                           LayerNorm.build(input_shape, dtype, rng),
                           Affine.build(input_shape, dtype, rng, mlp * C, init=init), GELU(),
                           Affine.build(wide, dtype, rng, C, init=init)]
                + [Dropout(dropout) for _ in resid] + [ResidualAdd()])
