"""Layers of a network (chapter 5 of the book): each a small class with forward and backward.

forward(x) computes the layer's output and keeps what backward will need; backward(dout)
takes dL/d(output) and returns dL/d(input), the chain rule applied one layer at a time.
Layers with parameters hold the very arrays they were given (an optimizer that updates
them in place is seen at once) and leave their gradients in attributes (dW, db, ...).

No backward writes into the array it was given: the upstream gradient may be shared by
another layer or be read-only.
"""

import numpy as np

from .functions import check_finite, class_indices, log_softmax

__all__ = ["Relu", "Sigmoid", "Tanh", "Affine", "SoftmaxWithLoss"]


class Relu:
    """y = x if x > 0 else 0.

    dy/dx = 1 where x > 0, 0 elsewhere, so dx = dout where x > 0 and 0 elsewhere.
    """

    def __init__(self):
        self.mask = None

    def forward(self, x):
        self.mask = x <= 0
        return np.where(self.mask, 0, x)

    def backward(self, dout):
        # np.where builds a new array: the seed's `dout[self.mask] = 0` would zero the
        # caller's gradient too.
        return np.where(self.mask, 0, dout)


class Sigmoid:
    """y = 1 / (1 + exp(-x)).

    dy/dx = y (1 - y), so dx = dout * y * (1 - y), from the output saved in forward.
    """

    def __init__(self):
        self.out = None

    def forward(self, x):
        # (1 + tanh(x/2)) / 2 equals the formula above and cannot overflow for x << 0.
        self.out = 0.5 * (1.0 + np.tanh(0.5 * x))
        return self.out

    def backward(self, dout):
        return dout * (1.0 - self.out) * self.out


class Tanh:
    """y = tanh(x).

    dy/dx = 1 - y^2, so dx = dout * (1 - y^2).
    """

    def __init__(self):
        self.out = None

    def forward(self, x):
        self.out = np.tanh(x)
        return self.out

    def backward(self, dout):
        return dout * (1.0 - self.out * self.out)


class Affine:
    """y = x . W + b, with x of shape (N, ...) flattened to (N, D), W (D, M), b (M,).

    dx = dout . W^T (reshaped back to x's shape), dW = x^T . dout, db = sum of dout over N.
    """

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
        if not np.isfinite(out.sum()) and np.isnan(x).any():
            # Only the data is blamed: NaN weights are a diverged training run, which
            # the trainer reports from the loss.
            check_finite(x, "Affine: the input")
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


class SoftmaxWithLoss:
    """L = mean over the batch of -log softmax(x)[t]: softmax and cross-entropy in one layer.

    dL/dx = (softmax(x) - onehot(t)) / N: the two derivatives together are this simple,
    which is why the book fuses them. t may be one-hot (N, C) or class indices (N,);
    a 1-D x is one sample.
    """

    def __init__(self):
        self.loss = None
        self.y = None  # softmax output
        self.t = None  # labels as given
        self.t_index = None  # labels as class indices

    def forward(self, x, t):
        x = np.asarray(x)
        if x.ndim == 1:
            x = x.reshape(1, -1)
        if x.ndim != 2:
            raise ValueError(f"SoftmaxWithLoss: x has shape {x.shape}, expected (N, C) scores")
        n = x.shape[0]
        self.t = t
        self.t_index = class_indices(t, x.shape[1], batch_size=n)
        # Cross-entropy from log-softmax: finite even where a probability underflows to 0.
        log_y = log_softmax(x)
        self.y = np.exp(log_y)
        self.loss = -log_y[np.arange(n), self.t_index].sum() / n
        if not np.isfinite(self.loss):
            check_finite(x, "SoftmaxWithLoss: the scores x")
        return self.loss

    def backward(self, dout=1):
        n = self.y.shape[0]
        dx = self.y.copy()
        dx[np.arange(n), self.t_index] -= 1
        dx *= dout / n
        return dx

