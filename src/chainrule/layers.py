"""Layers of a network (chapter 5 of the book): each a small class with forward and backward.

forward(x) computes the layer's output and keeps what backward will need; backward(dout)
takes dL/d(output) and returns dL/d(input), the chain rule applied one layer at a time.
Layers with parameters hold the very arrays they were given (an optimizer that updates
them in place is seen at once) and leave their gradients in attributes (dW, db, ...).

No backward writes into the array it was given: the upstream gradient may be shared by
another layer or be read-only.

Layers that behave differently while training (Dropout, BatchNormalization) say so with
the class attribute `has_train_mode = True` and take `forward(x, train_flg=True)`;
a network passes its own train_flg to exactly those layers.

What a network (models.Sequential), a checkpoint, the text form and the rest of the
library need to know of a layer, every layer here says itself, and a layer written by a
user may say the same way: `parameters`, `buffers`, `get_config()`, `text_name`,
`build(...)`, `output_shape(...)` and a few flags, listed in registry.py. Each class is
registered where it is defined (@register_layer), so adding a layer is one class and
one registration. A layer that says nothing has no parameters and is rebuilt with no
arguments.
"""

import numpy as np

from .checks import non_negative_int, positive_int
from .functions import (FlatLayout, _conv_output_size, class_indices, fold, pad_images,
                        shifted_rows, targets, unfold)
from .initializers import init_config, init_scale, normal
from .registry import register_layer

__all__ = ["Relu", "LeakyRelu", "Sigmoid", "Tanh", "Affine", "TimeAffine", "SoftmaxWithLoss",
           "Dropout",
           "BatchNormalization", "Convolution", "Pooling", "AvgPooling"]


# Integer types of the same width as each float type, for _zero_where.
_SAME_WIDTH_INT = {np.dtype(np.float32): np.int32, np.dtype(np.float64): np.int64}


def _zero_where(mask, a):
    """np.where(mask, 0, a), the same numbers, without a branch per element.

    np.where decides element by element which side to take. With a mask like ReLU's,
    true for about half the entries in no pattern, the CPU mispredicts that branch half
    the time, which made np.where ten times slower than a multiplication here. Instead
    a's bits are AND-ed with all ones (kept) or all zeros (+0.0), a branch-free integer
    operation: unlike multiplying by a 0/1 mask, it also gives exactly 0 where a holds
    inf or NaN.
    """
    int_type = _SAME_WIDTH_INT.get(a.dtype) if isinstance(a, np.ndarray) else None
    if int_type is None or a.shape != mask.shape:
        return np.where(mask, 0, a)
    keep_bits = np.subtract(mask, 1, dtype=int_type)  # True -> 0, False -> -1 (all ones)
    return (a.view(int_type) & keep_bits).view(a.dtype)


def _row_max(x):
    """x.max(axis=1, keepdims=True) of a 2-D x, the same numbers, faster for few columns.

    NumPy reduces a short last axis one row at a time, paying a call per row: for
    scores of 100 samples by 10 classes that is 6 us, more than the softmax's other
    steps together. The transpose, made contiguous, is reduced along its first axis
    in whole-row passes, 3.5x faster at 100 x 10 and 10x at 10,000 x 10. At 100
    columns the copy already costs more than it saves, hence the switch at 32.
    """
    if x.shape[1] > 32:
        return x.max(axis=1, keepdims=True)
    return np.ascontiguousarray(x.T).max(axis=0)[:, None]


@register_layer
class Relu:
    """y = x if x > 0 else 0.

    dy/dx = 1 where x > 0, 0 elsewhere, so dx = dout where x > 0 and 0 elsewhere.
    """

    text_name = "relu"
    is_activation = True
    keeps_shape = True

    def __init__(self):
        self.mask = None

    def forward(self, x):
        self.mask = x <= 0
        # max(x, 0) is branch-free, unlike np.where(self.mask, 0, x) (see _zero_where),
        # and gives the same numbers, NaN included.
        return np.maximum(x, 0)

    def backward(self, dout):
        # A new array: the seed's `dout[self.mask] = 0` would zero the caller's gradient too.
        return _zero_where(self.mask, dout)


@register_layer
class LeakyRelu:
    """y = x if x > 0 else slope * x.

    dy/dx = 1 where x > 0 and slope elsewhere, so dx = dout where x > 0 and
    slope * dout elsewhere. A small slope (0.01) keeps a gradient flowing through
    units that ReLU would switch off for good.
    """

    text_name = "leakyrelu"
    is_activation = True
    keeps_shape = True

    def __init__(self, slope=0.01):
        slope = float(slope)
        if not (np.isfinite(slope) and 0.0 <= slope < 1.0):
            raise ValueError(f"LeakyRelu: slope must be in [0, 1), got {slope}")
        self.slope = slope
        self.mask = None  # True where x <= 0

    def get_config(self):
        return {"slope": self.slope}

    def forward(self, x):
        self.mask = x <= 0
        return np.where(self.mask, x * x.dtype.type(self.slope), x)

    def backward(self, dout):
        dout = np.asarray(dout)
        return np.where(self.mask, dout * dout.dtype.type(self.slope), dout)


@register_layer
class Sigmoid:
    """y = 1 / (1 + exp(-x)).

    dy/dx = y (1 - y), so dx = dout * y * (1 - y), from the output saved in forward.
    """

    text_name = "sigmoid"
    is_activation = True
    keeps_shape = True

    def __init__(self):
        self.out = None

    def forward(self, x):
        # (1 + tanh(x/2)) / 2 equals the formula above and cannot overflow for x << 0.
        self.out = 0.5 * (1.0 + np.tanh(0.5 * x))
        return self.out

    def backward(self, dout):
        return dout * (1.0 - self.out) * self.out


@register_layer
class Tanh:
    """y = tanh(x).

    dy/dx = 1 - y^2, so dx = dout * (1 - y^2).
    """

    text_name = "tanh"
    is_activation = True
    keeps_shape = True

    def __init__(self):
        self.out = None

    def forward(self, x):
        self.out = np.tanh(x)
        return self.out

    def backward(self, dout):
        return dout * (1.0 - self.out * self.out)


@register_layer
class Affine:
    """y = x . W + b, with x of shape (N, ...) flattened to (N, D), W (D, M), b (M,).

    dx = dout . W^T (reshaped back to x's shape), dW = x^T . dout, db = sum of dout over N.
    """

    parameters = (("W", "dW"), ("b", "db"))
    text_name = "affine"

    @classmethod
    def spec_args(cls, units, init="he"):
        return {"units": positive_int("Dense: units", units), "init": init_config(init)}

    @classmethod
    def build(cls, input_shape, dtype, rng, units, init="he"):
        """W (D, units) from N(0, s^2), s = init_scale(init, D), D the values per
        incoming sample; b zero. Where a sequence (T, D) arrives, the same map at every
        step: a TimeAffine of D inputs."""
        sequence = len(input_shape) == 2
        fan_in = int(input_shape[-1]) if sequence else int(np.prod(input_shape))
        W = (init_scale(init, fan_in) * normal(rng, (fan_in, units))).astype(dtype, copy=False)
        return (TimeAffine if sequence else cls)(W, np.zeros(units, dtype=dtype))

    def text_args(self):
        return {"units": int(self.W.shape[1])}

    def __init__(self, W, b):
        W = np.asarray(W)
        b = np.asarray(b)
        if W.ndim != 2:
            raise ValueError(f"Affine: W must be 2-D (D, M), got shape {W.shape}")
        if b.shape != (W.shape[1],):
            raise ValueError(f"Affine: b has shape {b.shape}, expected ({W.shape[1]},) "
                             f"to match W {W.shape}")
        self.W = W
        self.b = b
        self.x = None
        self.original_x_shape = None
        self.dW = None
        self.db = None

    def get_config(self):
        return {}

    def output_shape(self, input_shape):
        """(M,) for one sample of any shape holding D values; ValueError otherwise."""
        size = int(np.prod(input_shape))
        if size != self.W.shape[0]:
            raise ValueError(f"Affine: the input {tuple(input_shape)} has {size} values per "
                             f"sample but W has shape {self.W.shape} (expects {self.W.shape[0]})")
        return (self.W.shape[1],)

    def forward(self, x):
        x = np.asarray(x)
        self.original_x_shape = x.shape
        if x.ndim == 1:  # one sample
            x = x.reshape(1, -1)
        else:
            x = x.reshape(x.shape[0], -1)
        if x.shape[1] != self.W.shape[0]:
            raise ValueError(
                f"Affine: input of shape {self.original_x_shape} has {x.shape[1]} features "
                f"per sample but W has shape {self.W.shape} (expects {self.W.shape[0]})")
        self.x = x
        out = x @ self.W
        out += self.b
        if len(self.original_x_shape) == 1:
            return out[0]
        return out

    def backward(self, dout, input_grad=True):
        """dL/dx from dL/dy = dout; sets dW and db.

        With input_grad=False the product dout . W^T is skipped and None is returned:
        a network's first layer needs no gradient with respect to its data.
        """
        dout = np.asarray(dout)
        if dout.ndim == 1:
            dout = dout.reshape(1, -1)
        self.dW = self.x.T @ dout
        self.db = dout.sum(axis=0)
        if not input_grad:
            return None
        dx = dout @ self.W.T
        return dx.reshape(self.original_x_shape)


@register_layer
class TimeAffine:
    """out[n, t] = xs[n, t].W + b for every step: (N, T, D) -> (N, T, M).

    One (N*T, D) x (D, M) product for all steps (the sequel's ch 5.4.3). Backward, with
    X and dOut the (N*T, .) matrices: dW = X^T.dOut, db = sum of dOut over all N*T
    rows (W and b serve every step, so their gradients add up over t), dxs = dOut.W^T.
    """

    parameters = (("W", "dW"), ("b", "db"))
    # Written `affine(M)` in the text form: Affine.build makes this layer where a
    # sequence (T, D) arrives.
    text_name = "affine"
    text_alias = True
    name_prefix = "Affine"

    def __init__(self, W, b):
        W, b = np.asarray(W), np.asarray(b)
        if W.ndim != 2:
            raise ValueError(f"TimeAffine: W must be 2-D (D, M), got shape {W.shape}")
        if b.shape != (W.shape[1],):
            raise ValueError(f"TimeAffine: b has shape {b.shape}, expected ({W.shape[1]},)")
        self.W, self.b = W, b
        self.x = None
        self.dW = self.db = None

    def get_config(self):
        return {}

    def output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 2 or input_shape[1] != self.W.shape[0]:
            raise ValueError(f"TimeAffine: needs (T, {self.W.shape[0]}) per sample, "
                             f"got {input_shape}")
        return (input_shape[0], self.W.shape[1])

    def text_args(self):
        return {"units": int(self.W.shape[1])}

    def forward(self, xs):
        xs = np.asarray(xs, dtype=self.W.dtype)
        if xs.ndim != 3 or xs.shape[2] != self.W.shape[0]:
            raise ValueError(f"TimeAffine: xs has shape {xs.shape}; expected (N, T, "
                             f"{self.W.shape[0]})")
        N, T, D = xs.shape
        self.x = xs.reshape(N * T, D)
        out = self.x @ self.W
        out += self.b
        return out.reshape(N, T, -1)

    def backward(self, dout):
        dout = np.asarray(dout)
        N, T, M = dout.shape
        d = dout.reshape(N * T, M)
        self.dW = self.x.T @ d
        self.db = d.sum(axis=0)
        return (d @ self.W.T).reshape(N, T, -1)


class SoftmaxWithLoss:
    """L = mean over the batch of -log softmax(x)[t]: softmax and cross-entropy in one layer.

    dL/dx = (softmax(x) - onehot(t)) / N: the two derivatives together are this simple,
    which is why the book fuses them. t may be one-hot (N, C) or class indices (N,);
    a 1-D x is one sample. Soft targets, rows of t that are distributions over the
    classes, give the full cross-entropy L = -sum(t * log softmax(x)) / N and the same
    dL/dx = (softmax(x) - t) / N.
    """

    def __init__(self):
        self.loss = None
        self.y = None  # softmax output
        self.t = None  # labels as given
        self.t_index = None  # labels as class indices (None for soft targets)
        self.t_soft = None  # soft targets (N, C), when t is given as distributions

    def forward(self, x, t):
        x = np.asarray(x)
        if x.ndim == 1:
            x = x.reshape(1, -1)
        if x.ndim != 2:
            raise ValueError(f"SoftmaxWithLoss: x has shape {x.shape}, expected (N, C) scores")
        n = x.shape[0]
        self.t = t
        labels = targets(t, x.shape[1], batch_size=n)
        if labels.ndim == 2:
            self.t_index, self.t_soft = None, labels
        else:
            self.t_index, self.t_soft = labels, None
        # Softmax with each row's maximum subtracted (so exp never overflows), and the
        # loss from log-softmax, -log y_t = log(sum_j e_j) - shifted_t, which stays
        # finite where a probability underflows to 0. One exp serves both.
        shifted = x - _row_max(x)
        e = np.exp(shifted)
        total = e.sum(axis=1, keepdims=True)
        self.y = e / total
        rows = np.arange(n)
        if self.t_soft is not None:
            # -sum_k t_k log y_k = -sum_k t_k (shifted_k - log sum_j e_j)
            self.loss = (np.dot(self.t_soft.sum(axis=1), np.log(total[:, 0]))
                         - np.sum(self.t_soft * shifted)) / n
        else:
            self.loss = (np.log(total[:, 0]).sum() - shifted[rows, self.t_index].sum()) / n
        return self.loss

    def backward(self, dout=1):
        n = self.y.shape[0]
        if self.t_soft is not None:
            dx = self.y - self.t_soft.astype(self.y.dtype, copy=False)
        else:
            dx = self.y.copy()
            dx[np.arange(n), self.t_index] -= 1
        dx *= dout / n
        return dx


def _generator(rng):
    """A seed (int), a Generator or a RandomState, as something that draws numbers."""
    if isinstance(rng, (np.random.Generator, np.random.RandomState)):
        return rng
    return np.random.default_rng(rng)


def _uniform(rng, shape, dtype):
    """Uniform numbers in [0, 1) of `shape`, in float32 when dtype is float32."""
    if rng is None:
        # NumPy's global generator, looked up at each call, as the book's np.random.rand:
        # a reader's np.random.seed(...) still fixes the masks.
        rng = np.random.mtrand._rand
    if isinstance(rng, np.random.Generator):
        return rng.random(shape, dtype=np.float32 if dtype == np.float32 else np.float64)
    return rng.random_sample(shape)


@register_layer
class Dropout:
    """Inverted dropout: y = x * mask / (1 - p) while training, y = x at inference.

    Each unit is kept with probability 1 - p (p = dropout_ratio) and scaled by 1/(1 - p),
    so the expected output equals x and inference needs no rescaling (the book scales at
    inference instead; the trained networks are the same). dy/dx is the same scaled
    mask, so dx = dout * mask: exactly the mask forward drew.

    rng is a seed, a np.random.Generator, or None for NumPy's global generator; a
    network passes its own generator so that a run is reproducible from its seed.
    """

    has_train_mode = True
    draws_random = True
    keeps_shape = True
    text_name = "dropout"

    @classmethod
    def spec_args(cls, ratio=0.5):
        cls(ratio)  # the constructor's check of the ratio
        return {"ratio": float(ratio)}

    @classmethod
    def build(cls, input_shape, dtype, rng, ratio=0.5):
        return cls(ratio)  # the network gives it its generator

    def text_args(self):
        return {"ratio": self.dropout_ratio}

    def __init__(self, dropout_ratio=0.5, *, rng=None):
        if not 0.0 <= dropout_ratio < 1.0:
            raise ValueError(f"Dropout: dropout_ratio must be in [0, 1), got {dropout_ratio}")
        self.dropout_ratio = float(dropout_ratio)
        self.rng = None if rng is None else _generator(rng)
        self.mask = None  # 0 where a unit was dropped, 1/(1 - p) where it was kept

    def get_config(self):
        return {"dropout_ratio": self.dropout_ratio}

    def forward(self, x, train_flg=True):
        x = np.asarray(x)
        if not train_flg:
            self.mask = None
            return x
        dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
        keep = _uniform(self.rng, x.shape, dtype) >= self.dropout_ratio
        self.mask = keep.astype(dtype)
        self.mask *= dtype.type(1.0 / (1.0 - self.dropout_ratio))
        return x * self.mask

    def backward(self, dout):
        if self.mask is None:  # the last forward pass was at inference: the identity
            return np.array(dout, copy=True)
        return dout * self.mask


@register_layer
class BatchNormalization:
    """Batch normalisation: y = gamma * xhat + beta, xhat = (x - mean) / sqrt(var + eps).

    While training, mean and var are the batch's (the biased variance, as in the book),
    and the running statistics move towards them:
        running = momentum * running + (1 - momentum) * batch statistic.
    At inference (train_flg=False) the running statistics are used instead, so a single
    sample gets the same answer as in any batch. x is (N, D), normalised per feature,
    or (N, C, H, W), normalised per channel over N, H and W (gamma, beta of shape (C,)).

    Backward, with m the number of values per feature and sums over those m:
        dbeta = sum(dout), dgamma = sum(dout * xhat),
        dx = gamma / sqrt(var + eps) * (dout - dbeta / m - xhat * dgamma / m)
    in training mode (the mean and var depend on x too), and
        dx = dout * gamma / sqrt(running_var + eps) at inference.

    running_mean and running_var are updated in place (a network keeps them among its
    buffers, so a checkpoint saves them); they start at zeros and ones. eps = 1e-5 by
    default, small enough to leave the variance of pixel-scale data intact and large
    enough for float32.
    """

    has_train_mode = True
    parameters = (("gamma", "dgamma"), ("beta", "dbeta"))
    buffers = ("running_mean", "running_var")
    text_name = "batchnorm"
    name_prefix = "BatchNorm"
    keeps_shape = True

    @classmethod
    def spec_args(cls, momentum=0.9, eps=1e-5):
        momentum, eps = float(momentum), float(eps)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"BatchNorm: momentum must be in [0, 1], got {momentum}")
        if not eps > 0:
            raise ValueError(f"BatchNorm: eps must be positive, got {eps}")
        return {"momentum": momentum, "eps": eps}

    @classmethod
    def build(cls, input_shape, dtype, rng, momentum=0.9, eps=1e-5):
        """gamma = 1, beta = 0 and running statistics 0 and 1, one per feature of (D,)
        or per channel of (C, H, W)."""
        if len(input_shape) not in (1, 3):
            raise ValueError(f"batch norm needs features (D,) or images (C, H, W), but the "
                             f"input is {tuple(input_shape)}")
        n = input_shape[0]
        return cls(np.ones(n, dtype=dtype), np.zeros(n, dtype=dtype), momentum=momentum,
                   running_mean=np.zeros(n, dtype=dtype),
                   running_var=np.ones(n, dtype=dtype), eps=eps)

    def text_args(self):
        return {"momentum": self.momentum, "eps": self.eps}

    def __init__(self, gamma, beta, momentum=0.9, running_mean=None, running_var=None,
                 eps=1e-5):
        gamma = np.asarray(gamma)
        beta = np.asarray(beta)
        if gamma.ndim != 1 or beta.shape != gamma.shape:
            raise ValueError(f"BatchNormalization: gamma and beta must be 1-D of one shape, "
                             f"got {gamma.shape} and {beta.shape}")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"BatchNormalization: momentum must be in [0, 1], got {momentum}")
        if eps <= 0:
            raise ValueError(f"BatchNormalization: eps must be positive, got {eps}")
        if running_mean is None:
            running_mean = np.zeros(gamma.shape, dtype=gamma.dtype)
        if running_var is None:
            running_var = np.ones(gamma.shape, dtype=gamma.dtype)
        for name, value in (("running_mean", running_mean), ("running_var", running_var)):
            if not isinstance(value, np.ndarray) or value.shape != gamma.shape:
                raise ValueError(f"BatchNormalization: {name} must be an array of shape "
                                 f"{gamma.shape}, like gamma")
        self.gamma = gamma
        self.beta = beta
        self.momentum = float(momentum)
        self.eps = float(eps)
        self.running_mean = running_mean
        self.running_var = running_var

        self.train_flg = None  # the mode of the last forward pass, which backward follows
        self.axes = None  # the axes the statistics are taken over
        self.xhat = None
        self.inv_std = None  # 1 / sqrt(var + eps), shaped to broadcast against x
        self.dgamma = None
        self.dbeta = None

    def get_config(self):
        return {"momentum": self.momentum, "eps": self.eps}

    def output_shape(self, input_shape):
        """The input's shape: (D,) features or (C, H, W) channels, as many as gamma."""
        if len(input_shape) not in (1, 3) or input_shape[0] != self.gamma.shape[0]:
            raise ValueError(f"BatchNormalization: the input {tuple(input_shape)} needs "
                             f"{self.gamma.shape[0]} features (D,) or channels (C, H, W)")
        return tuple(input_shape)

    def _feature_shape(self, x):
        """The axes to average over and the shape that broadcasts a (D,) array over x."""
        if x.ndim == 2:
            axes, shape = (0,), (1, x.shape[1])
        elif x.ndim == 4:
            axes, shape = (0, 2, 3), (1, x.shape[1], 1, 1)
        else:
            raise ValueError(f"BatchNormalization: x has shape {x.shape}; expected (N, D) "
                             f"or (N, C, H, W)")
        if x.shape[1] != self.gamma.shape[0]:
            what = "features" if x.ndim == 2 else "channels"
            raise ValueError(f"BatchNormalization: x has {x.shape[1]} {what} (shape "
                             f"{x.shape}) but gamma has {self.gamma.shape[0]}")
        return axes, shape

    def forward(self, x, train_flg=True):
        x = np.asarray(x)
        axes, shape = self._feature_shape(x)
        dtype = x.dtype.type
        if train_flg:
            mean = x.mean(axis=axes, keepdims=True)
            xc = x - mean
            var = np.mean(xc * xc, axis=axes, keepdims=True)
            inv_std = 1.0 / np.sqrt(var + dtype(self.eps))
            xhat = xc
            xhat *= inv_std
            # In place, so that whoever holds the buffers (a network, a checkpoint) sees it.
            self.running_mean *= self.momentum
            self.running_mean += (1.0 - self.momentum) * mean.reshape(-1)
            self.running_var *= self.momentum
            self.running_var += (1.0 - self.momentum) * var.reshape(-1)
        else:
            inv_std = (1.0 / np.sqrt(self.running_var + self.eps)).astype(x.dtype).reshape(shape)
            xhat = x - self.running_mean.astype(x.dtype).reshape(shape)
            xhat *= inv_std
        self.train_flg = bool(train_flg)
        self.axes = axes
        self.xhat = xhat
        self.inv_std = inv_std
        out = xhat * self.gamma.reshape(shape)
        out += self.beta.reshape(shape)
        return out

    def backward(self, dout):
        shape = self.inv_std.shape
        self.dbeta = dout.sum(axis=self.axes)
        self.dgamma = (dout * self.xhat).sum(axis=self.axes)
        scale = self.gamma.reshape(shape) * self.inv_std
        if not self.train_flg:
            return dout * scale
        m = self.xhat.size // self.gamma.shape[0]
        dx = dout - self.dbeta.reshape(shape) / m
        dx -= self.xhat * (self.dgamma.reshape(shape) / m)
        dx *= scale
        return dx


def _check_int(name, value, minimum):
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# The flat layout computes an output at every cell of its grid, (H + pad) x (W + pad)
# per image, and drops those outside OH x OW. Measured per layer (one thread, float32,
# batch 100), it was faster than unfold and fold for DeepConvNet's convolutions, whose
# grids hold 1.0 to 1.27 times their outputs (Conv2 forward and backward 15 and 35 ms
# -> 11 and 18; Conv6 10 and 23 -> 9 and 16), and slower for SimpleConvNet's 5x5
# 'valid' convolution of 28 x 28 digits, whose grid holds 1.36 times its outputs
# (forward 2.9 -> 4.0 ms, backward without dx 2.3 -> 4.4, and the ReLU after it reading
# the larger grid 1.1 -> 3.5). Beyond this ratio unfold is used.
_FLAT_GRID_LIMIT = 1.3


@register_layer
class Convolution:
    """y[n, f] = sum over c, i, j of W[f, c, i, j] * x_padded[n, c, s*oh + i, s*ow + j] + b[f].

    Every filter-sized patch of the (zero-padded) input becomes one column of a matrix
    `col`, so the whole convolution is a single matrix product: out = W_mat . col + b,
    with W reshaped to W_mat (FN, C*FH*FW). Backward is that product's: with dout as a
    matrix (FN, positions),
        dW = dout . col^T, db = sum of dout over images and positions,
    and dx[c] = sum over f, i, j of W[f, c, i, j] * dout[f] shifted by (i - pad, j - pad):
    the input gradient is a convolution of the zero-padded dout with the flipped filters.

    How col is built. With stride 1 and pad smaller than the filter (every convolution
    of the book), and where little of the layout below is padding (_FLAT_GRID_LIMIT),
    the images are laid out as one long row per channel (`FlatLayout`):
    filter offset (i, j) is then a single contiguous slice of that row, so col is
    FH*FW slice copies, and the input gradient is the same slicing of the upstream
    gradient (`shifted_rows`) followed by one product, W_t . dcol with W_t (C, FN*FH*FW):
    no fold. The outputs at the padding positions of that layout are computed too and
    dropped; dout is zero there, so they add nothing to dW or dx. Other convolutions
    use `unfold` (the transpose of the book's im2col) and its adjoint `fold` for dx,
    as dcol = W_mat^T . dout, dx = fold(dcol). Times per layer: docs/speed.md.

    The bias rides along as one more weight: col gets a last row of ones and W_mat a
    last column b, so the forward product adds b, and the dW product yields db (the sum
    of dout against those ones) as its last column, with no separate pass over dout.

    W is (FN, C, FH, FW), b (FN,); forward takes x (N, C, H, W) and returns
    (N, FN, OH, OW), OH = (H + 2*pad - FH) // stride + 1 (OW alike).

    The result is a transposed view: the product gives the numbers of an
    (FN, N, OH, OW) array, and viewing it as (N, FN, OH, OW) costs no copy. The
    element-wise layers after it keep that memory order, so backward gets dout back in
    it and a next convolution lays it out along contiguous runs.
    """

    parameters = (("W", "dW"), ("b", "db"))
    text_name = "conv"
    name_prefix = "Conv"
    needs_images = True

    @classmethod
    def spec_args(cls, filters, size, stride=1, pad=0, init="he"):
        return {"filters": positive_int("Conv: filters", filters),
                "size": positive_int("Conv: size", size),
                "stride": positive_int("Conv: stride", stride),
                "pad": non_negative_int("Conv: pad", pad), "init": init_config(init)}

    @classmethod
    def build(cls, input_shape, dtype, rng, filters, size, stride=1, pad=0, init="he"):
        """W (filters, C, size, size) from N(0, s^2), s = init_scale(init, C*size*size),
        for C incoming channels; b zero."""
        if len(input_shape) != 3:
            raise ValueError(f"a convolution needs images (C, H, W), but the input is "
                             f"{tuple(input_shape)}")
        C = input_shape[0]
        scale = init_scale(init, C * size * size)
        W = (scale * normal(rng, (filters, C, size, size))).astype(dtype, copy=False)
        return cls(W, np.zeros(filters, dtype=dtype), stride, pad)

    def text_args(self):
        FN, _, FH, FW = self.W.shape
        if FH != FW:
            return None  # the text form has square filters only
        return {"filters": int(FN), "size": int(FH), "stride": self.stride, "pad": self.pad}

    def __init__(self, W, b, stride=1, pad=0):
        W = np.asarray(W)
        b = np.asarray(b)
        if W.ndim != 4:
            raise ValueError(f"Convolution: W must be 4-D (FN, C, FH, FW), got shape {W.shape}")
        if b.shape != (W.shape[0],):
            raise ValueError(f"Convolution: b has shape {b.shape}, expected ({W.shape[0]},) "
                             f"for W of shape {W.shape}")
        self.W = W
        self.b = b
        self.stride = _check_int("Convolution: stride", stride, 1)
        self.pad = _check_int("Convolution: pad", pad, 0)

        self.x_shape = None
        self.col = None  # the input's patches, one per column, and a row of ones: for dW, db
        self.layout = None  # the FlatLayout col was built on, or None (unfold)
        self._work = {}  # name -> (input shape, array): scratch kept from call to call
        self.dW = None
        self.db = None

    # Scratch arrays of tens of megabytes, made anew at every step, cost the kernel a
    # fresh zeroed page for every 4 kB: kept from one call to the next, they do not.
    def _reusable(self, name, input_shape):
        entry = self._work.get(name)
        return entry[1] if entry is not None and entry[0] == input_shape else None

    def _reuse(self, name, input_shape, array):
        self._work[name] = (input_shape, array)
        return array

    def __getstate__(self):
        # A copy of the layer (copy.deepcopy, as the trainer's background evaluation
        # makes) needs no scratch: it makes its own when it runs.
        state = self.__dict__.copy()
        state["_work"] = {}
        return state

    def get_config(self):
        return {"stride": self.stride, "pad": self.pad}

    def output_shape(self, input_shape):
        """(FN, OH, OW) for one (C, H, W) input; ValueError if the filter cannot fit."""
        C, H, W = input_shape
        FN, FC, FH, FW = self.W.shape
        if C != FC:
            raise ValueError(f"Convolution: the input has {C} channels but the filters "
                             f"W {self.W.shape} expect {FC}")
        out_h = _conv_output_size(H, FH, self.stride, self.pad, "Convolution: height")
        out_w = _conv_output_size(W, FW, self.stride, self.pad, "Convolution: width")
        return FN, out_h, out_w

    def forward(self, x):
        x = np.asarray(x)
        if x.ndim != 4:
            raise ValueError(f"Convolution: x has shape {x.shape}; expected (N, C, H, W)")
        FN, out_h, out_w = self.output_shape(x.shape[1:])
        _, _, FH, FW = self.W.shape
        W_b = np.concatenate([self.W.reshape(FN, -1), self.b.reshape(FN, 1)], axis=1)
        layout = None
        if self.stride == 1 and self.pad < min(FH, FW):
            layout = FlatLayout(x.shape, FH, FW, self.pad)
            if layout.length > _FLAT_GRID_LIMIT * x.shape[0] * out_h * out_w:
                layout = None
        if layout is not None:
            rows = self._reuse("x", x.shape, layout.place(
                x, layout.front, layout.reach - layout.front, self._reusable("x", x.shape)))
            col = shifted_rows(rows, layout.offsets, layout.length, ones_row=True,
                               out=self._reusable("col", x.shape))
            self._reuse("col", x.shape, col)
            out = layout.take(W_b @ col, out_h, out_w)
        else:
            col = unfold(x, FH, FW, self.stride, self.pad, ones_row=True)
            out = (W_b @ col).reshape(FN, x.shape[0], out_h, out_w).transpose(1, 0, 2, 3)
        self.x_shape = x.shape
        self.col = col
        self.layout = layout
        return out

    def backward(self, dout, input_grad=True):
        """dL/dx from dL/dy = dout; sets dW and db.

        With input_grad=False dx is not computed and None is returned (a network's
        first layer needs no gradient with respect to its data).
        """
        FN, C, FH, FW = self.W.shape
        dout = np.asarray(dout)
        layout = self.layout
        if layout is None:
            # Free when dout has this layer's own output order (see the class docstring).
            dout_mat = dout.transpose(1, 0, 2, 3).reshape(FN, -1)
        else:
            # dout on the layout's grid, zero at the dropped positions, with `reach`
            # zeros before it and `front` after: every shift dx needs is then a slice.
            grid = self._reuse("d", self.x_shape, layout.place(
                dout, layout.reach, layout.front, self._reusable("d", self.x_shape)))
            dout_mat = grid[:, layout.reach:layout.reach + layout.length]
        dW_b = dout_mat @ self.col.T
        self.dW = np.ascontiguousarray(dW_b[:, :-1]).reshape(self.W.shape)
        self.db = dW_b[:, -1].copy()
        if not input_grad:
            return None
        if layout is None:
            dcol = self.W.reshape(FN, -1).T @ dout_mat
            return fold(dcol, self.x_shape, FH, FW, self.stride, self.pad)
        # Input pixel g receives dout[g - (offset - front)] through every offset.
        starts = [layout.reach + layout.front - offset for offset in layout.offsets]
        dcol = self._reuse("dcol", self.x_shape, shifted_rows(
            grid, starts, layout.length, out=self._reusable("dcol", self.x_shape)))
        W_t = self.W.transpose(1, 0, 2, 3).reshape(C, -1)
        return layout.take(W_t @ dcol, self.x_shape[2], self.x_shape[3])


def _window_offsets(x, pool_h, pool_w, stride, out_h, out_w):
    """For each offset (i, j) of a pool_h x pool_w window, in row-major order, the view of
    x that holds that offset of every window at once: view[n, c, oh, ow] =
    x[n, c, stride*oh + i, stride*ow + j]. A loop over these views runs pool_h * pool_w
    times over whole arrays, never over images or pixels."""
    s = stride
    for k in range(pool_h * pool_w):
        i, j = divmod(k, pool_w)
        yield x[:, :, i:i + s * (out_h - 1) + 1:s, j:j + s * (out_w - 1) + 1:s]


@register_layer
class Pooling:
    """Max pooling: y = the largest x in each pool_h x pool_w window (windows `stride` apart).

    dy/dx is 1 for the element that holds a window's maximum and 0 for the others, so
    backward routes each dout to that one element. When several elements tie for the
    maximum, only the first (in row-major order within the window) gets the gradient:
    giving it to all of them would count it several times.

    With pad, the input is surrounded by -inf, which never wins a max; pad may be at most
    half the window, so every window holds at least one real element. x is
    (N, C, H, W), the output (N, C, OH, OW) with OH = (H + 2*pad - pool_h) // stride + 1.

    Instead of unfolding every window into a row (im2col), the window is visited one
    offset (i, j) at a time: x[:, :, i::stride, j::stride] holds offset (i, j) of every
    window at once, so the loop runs pool_h * pool_w times over whole arrays and never
    over images or pixels, and no unfolded copy of x is made.
    """

    text_name = "pool"
    name_prefix = "Pool"
    needs_images = True

    @classmethod
    def spec_args(cls, size, stride=None, pad=0):
        size = positive_int("pool: size", size)
        stride = size if stride is None else positive_int("pool: stride", stride)
        pad = non_negative_int("pool: pad", pad)
        cls(size, size, stride, pad)  # the constructor's check of pad against the window
        return {"size": size, "stride": stride, "pad": pad}

    @classmethod
    def build(cls, input_shape, dtype, rng, size, stride=None, pad=0):
        """A size x size window, `stride` apart (default: the window, no overlap)."""
        return cls(size, size, size if stride is None else stride, pad)

    def text_args(self):
        if self.pool_h != self.pool_w:
            return None
        return {"size": self.pool_h, "stride": self.stride, "pad": self.pad}

    def __init__(self, pool_h, pool_w, stride=2, pad=0):
        self.pool_h = _check_int("Pooling: pool_h", pool_h, 1)
        self.pool_w = _check_int("Pooling: pool_w", pool_w, 1)
        self.stride = _check_int("Pooling: stride", stride, 1)
        self.pad = _check_int("Pooling: pad", pad, 0)
        if 2 * self.pad > min(self.pool_h, self.pool_w):
            raise ValueError(f"Pooling: pad {self.pad} is more than half the window "
                             f"{self.pool_h}x{self.pool_w}; a window could then hold "
                             f"padding only")
        self.x = None  # the (padded) input, to find where each maximum came from
        self.out = None
        self.x_shape = None

    def get_config(self):
        return {"pool_h": self.pool_h, "pool_w": self.pool_w, "stride": self.stride,
                "pad": self.pad}

    def output_shape(self, input_shape):
        """(C, OH, OW) for one (C, H, W) input; ValueError if the window cannot fit."""
        C, H, W = input_shape
        out_h = _conv_output_size(H, self.pool_h, self.stride, self.pad, "Pooling: height")
        out_w = _conv_output_size(W, self.pool_w, self.stride, self.pad, "Pooling: width")
        return C, out_h, out_w

    def _offsets(self, x, out_h, out_w):
        """(k, view) for each window offset: view[n, c, oh, ow] = offset k of window (oh, ow)."""
        return enumerate(_window_offsets(x, self.pool_h, self.pool_w, self.stride, out_h, out_w))

    def forward(self, x):
        x = np.asarray(x)
        if x.ndim != 4:
            raise ValueError(f"Pooling: x has shape {x.shape}; expected (N, C, H, W)")
        _, out_h, out_w = self.output_shape(x.shape[1:])
        self.x_shape = x.shape
        if self.pad:
            low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
            x = pad_images(x, self.pad, value=low)
        views = [view for _, view in self._offsets(x, out_h, out_w)]
        # empty_like keeps x's memory order (a convolution's output is channel-major,
        # (C, N, H, W) in memory): arrays of one order are walked straight through,
        # arrays of mixed orders are not.
        out = np.empty_like(views[0])
        if len(views) == 1:
            np.copyto(out, views[0])
        else:
            np.maximum(views[0], views[1], out=out)
        for view in views[2:]:
            np.maximum(out, view, out=out)
        self.x = x
        self.out = out
        return out

    def backward(self, dout):
        out_h, out_w = self.out.shape[2:]
        dout = np.asarray(dout)
        # dout in the memory order of x and out (a copy only if it differs), see forward.
        if dout.strides == self.out.strides:
            d = dout
        else:
            d = np.empty_like(self.out, dtype=dout.dtype)
            np.copyto(d, dout)
        overlapping = self.stride < self.pool_h or self.stride < self.pool_w
        H, W = self.x.shape[2:]
        # When the windows tile x exactly, every element of dx is written below (by
        # the multiplication), so dx need not be zeroed first: one pass over x fewer.
        tiled = (self.stride == self.pool_h == self.pool_w and not self.pad
                 and H == out_h * self.stride and W == out_w * self.stride)
        dx = (np.empty_like if tiled else np.zeros_like)(self.x, dtype=d.dtype)
        last = self.pool_h * self.pool_w - 1
        taken = None  # windows whose maximum has been found at an earlier offset
        for (k, view), (_, dx_view) in zip(self._offsets(self.x, out_h, out_w),
                                           self._offsets(dx, out_h, out_w)):
            if taken is None:
                hit = taken = view == self.out  # this offset holds its window's maximum...
            elif k < last:  # ...and no earlier one did: ties go to the first
                # For booleans a > b is a and not b, in one pass and no temporary.
                hit = np.greater(view == self.out, taken)
                taken |= hit
            else:  # the maximum of a window not yet served can only be here
                hit = ~taken
            # Multiplying by the 0/1 hit mask, rather than selecting with it (np.where,
            # boolean indexing), does not branch on every number: several times faster.
            # (An inf or NaN in dout then reaches its whole window; training has
            # diverged by then anyway.)
            if overlapping:  # a pixel may be the maximum of several windows: add
                dx_view += d * hit
            else:
                np.multiply(d, hit, out=dx_view)
        if self.pad:
            p = self.pad
            dx = dx[:, :, p:p + self.x_shape[2], p:p + self.x_shape[3]]
        return dx


@register_layer
class AvgPooling:
    """Average pooling: y = the mean of each pool_h x pool_w window (windows `stride` apart).

    dy/dx = 1 / (pool_h * pool_w) for every element of a window, so backward spreads
    each dout evenly over its window (adding up where windows overlap). x is
    (N, C, H, W), the output (N, C, OH, OW) with OH = (H - pool_h) // stride + 1.
    As in Pooling, the window is visited one offset at a time over whole arrays.
    """

    text_name = "avgpool"
    name_prefix = "AvgPool"
    needs_images = True

    @classmethod
    def spec_args(cls, size, stride=None):
        size = positive_int("avgpool: size", size)
        stride = size if stride is None else positive_int("avgpool: stride", stride)
        return {"size": size, "stride": stride}

    @classmethod
    def build(cls, input_shape, dtype, rng, size, stride=None):
        """A size x size window, `stride` apart (default: the window, no overlap)."""
        return cls(size, size, size if stride is None else stride)

    def text_args(self):
        if self.pool_h != self.pool_w:
            return None
        return {"size": self.pool_h, "stride": self.stride}

    def __init__(self, pool_h, pool_w, stride=2):
        self.pool_h = _check_int("AvgPooling: pool_h", pool_h, 1)
        self.pool_w = _check_int("AvgPooling: pool_w", pool_w, 1)
        self.stride = _check_int("AvgPooling: stride", stride, 1)
        self.x_shape = None

    def get_config(self):
        return {"pool_h": self.pool_h, "pool_w": self.pool_w, "stride": self.stride}

    def output_shape(self, input_shape):
        """(C, OH, OW) for one (C, H, W) input; ValueError if the window cannot fit."""
        C, H, W = input_shape
        out_h = _conv_output_size(H, self.pool_h, self.stride, 0, "AvgPooling: height")
        out_w = _conv_output_size(W, self.pool_w, self.stride, 0, "AvgPooling: width")
        return C, out_h, out_w

    def _views(self, x, out_h, out_w):
        return _window_offsets(x, self.pool_h, self.pool_w, self.stride, out_h, out_w)

    def forward(self, x):
        x = np.asarray(x)
        if x.ndim != 4:
            raise ValueError(f"AvgPooling: x has shape {x.shape}; expected (N, C, H, W)")
        _, out_h, out_w = self.output_shape(x.shape[1:])
        self.x_shape = x.shape
        views = self._views(x, out_h, out_w)
        out = np.array(next(views), copy=True)
        for view in views:
            out += view
        out *= out.dtype.type(1.0 / (self.pool_h * self.pool_w))
        return out

    def backward(self, dout):
        dout = np.asarray(dout)
        out_h, out_w = dout.shape[2:]
        share = dout * dout.dtype.type(1.0 / (self.pool_h * self.pool_w))
        dx = np.zeros(self.x_shape, dtype=share.dtype)
        for dx_view in self._views(dx, out_h, out_w):
            dx_view += share
        return dx
