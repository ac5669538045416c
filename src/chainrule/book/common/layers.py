"""The book's common/layers.py names: chainrule's layers, with the book's Dropout.

Relu, Sigmoid, Affine, SoftmaxWithLoss and Pooling are chainrule's own. Three differ,
so that the book's networks and its trained weights give the book's numbers under this
layout:

- Dropout is the book's: it drops units while training *without* rescaling the kept
  ones, and scales everything by 1 - p at inference (chainrule's own Dropout is
  inverted: it rescales while training and is the identity at inference).
- BatchNormalization is chainrule's with the book's constants: eps = 1e-6 (the book's
  10e-7; chainrule's is 1e-5) and the running variance starting at zeros (chainrule's
  at ones). ch06/batch_norm_test.py starts from weights as small as 1e-4, whose
  activations have a variance far below 1e-5: with chainrule's eps the smallest scales
  stop learning, with the book's they learn as in the book's figure.
- Convolution also takes a bias that is a single number (the book's
  ch07/apply_filter.py passes b = 0), used for every filter.

As in the book's module, `from common.layers import *` also brings NumPy (as np), the
functions of common.functions, im2col and col2im.
"""

import numpy as np

from chainrule import layers as _layers
from chainrule.layers import (Affine, Pooling, Relu, Sigmoid, SoftmaxWithLoss,  # noqa: F401
                              Tanh)

from .functions import *  # noqa: F401,F403  (the book's module re-exports them)
from .util import col2im, im2col  # noqa: F401


class Dropout:
    """The book's dropout (not inverted), p = dropout_ratio.

    Training: y = x * mask, mask[i] = 1 with probability 1 - p, else 0 (drawn with
    np.random.rand, NumPy's global generator, as the book does, unless the layer is
    given a generator of its own in `rng`). Inference:
    y = (1 - p) x, the expected value of the training output.
    dy/dx = mask after a training pass, (1 - p) after an inference pass.
    """

    has_train_mode = True
    draws_random = True
    keeps_shape = True

    def __init__(self, dropout_ratio=0.5):
        if not 0.0 <= dropout_ratio < 1.0:
            raise ValueError(f"Dropout: dropout_ratio must be in [0, 1), got {dropout_ratio}")
        self.dropout_ratio = float(dropout_ratio)
        self.rng = None  # None: NumPy's global generator, as the book draws
        self.mask = None  # True where a unit was kept; None after an inference pass

    def forward(self, x, train_flg=True):
        x = np.asarray(x)
        if train_flg:
            uniform = (np.random.rand(*x.shape) if self.rng is None
                       else self.rng.random(x.shape))
            self.mask = uniform > self.dropout_ratio
            return x * self.mask
        self.mask = None
        return x * (1.0 - self.dropout_ratio)

    def backward(self, dout):
        if self.mask is None:
            return dout * (1.0 - self.dropout_ratio)
        return dout * self.mask


#: the book's batch-norm epsilon (written 10e-7 in its code)
BOOK_BN_EPS = 1e-6


class BatchNormalization(_layers.BatchNormalization):
    """chainrule's batch normalisation (see chainrule.layers.BatchNormalization for the
    formulas) with the book's eps = 1e-6 and running statistics starting at zeros."""

    def __init__(self, gamma, beta, momentum=0.9, running_mean=None, running_var=None):
        gamma = np.asarray(gamma)
        if running_var is None and gamma.ndim == 1:
            running_var = np.zeros(gamma.shape, dtype=gamma.dtype)
        super().__init__(gamma, beta, momentum, running_mean, running_var, eps=BOOK_BN_EPS)


class Convolution(_layers.Convolution):
    """chainrule's convolution (see chainrule.layers.Convolution for the formulas),
    with b also accepted as one number for every filter, as the book's allows."""

    def __init__(self, W, b, stride=1, pad=0):
        W = np.asarray(W)
        if np.ndim(b) == 0 and W.ndim == 4:
            b = np.full(W.shape[0], b, dtype=W.dtype if W.dtype.kind == "f" else np.float64)
        super().__init__(W, b, stride, pad)
