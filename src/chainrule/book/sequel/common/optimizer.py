"""The sequel's common/optimizer.py names: chainrule's optimizers over lists.

The sequel's optimizers take `params` and `grads` as lists (the Trainer passes what
remove_duplicate made of the model's lists); chainrule's take dicts. These are
chainrule's, reading a list as a dict keyed by position, so each parameter keeps its
state (momentum, Adam's moments) at its place in the list, and updating the arrays in
place, in blocks that stay in cache for the large ones (chainrule.optimizers).

Two are the sequel's rather than chainrule's, where the formulas differ (docs/book.md):
- Adam adds eps = 1e-7 to sqrt(v), the uncorrected second moment:
      W <- W - lr_t m / (sqrt(v) + 1e-7),  lr_t = lr sqrt(1 - beta2^t) / (1 - beta1^t)
  (chainrule's adds its eps 1e-8 to the bias-corrected root);
- Nesterov is the sequel's update:
      v <- momentum v - lr g;  W <- W + momentum^2 v - (1 + momentum) lr g
SGD, Momentum, AdaGrad and RMSprop are the same formulas in both (eps 1e-7).
"""

import numpy as np  # noqa: F401  (the sequel's module exports np)

from chainrule import optimizers as _optimizers

__all__ = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam", "np"]


class _Lists:
    """update(params, grads) for lists of arrays (or dicts, as chainrule's)."""

    def update(self, params, grads):
        if isinstance(params, dict):
            return super().update(params, grads)
        if len(params) != len(grads):
            raise ValueError(f"{type(self).__name__}: {len(params)} parameters but "
                             f"{len(grads)} gradients")
        keyed = dict(enumerate(params))
        super().update(keyed, dict(enumerate(grads)))
        for i, value in keyed.items():  # plain numbers come back as new floats
            if value is not params[i]:
                params[i] = value
        return None


class SGD(_Lists, _optimizers.SGD):
    """W <- W - lr * g."""


class Momentum(_Lists, _optimizers.Momentum):
    """v <- momentum v - lr g;  W <- W + v."""


class AdaGrad(_Lists, _optimizers.AdaGrad):
    """h <- h + g^2;  W <- W - lr g / (sqrt(h) + 1e-7)."""

    def __init__(self, lr=0.01):
        super().__init__(lr, eps=1e-7)


class RMSprop(_Lists, _optimizers.RMSprop):
    """h <- decay h + (1 - decay) g^2;  W <- W - lr g / (sqrt(h) + 1e-7)."""

    def __init__(self, lr=0.01, decay_rate=0.99):
        super().__init__(lr, decay_rate, eps=1e-7)


class Nesterov(_Lists, _optimizers.Momentum):
    """The sequel's Nesterov: v <- momentum v - lr g;
    W <- W + momentum^2 v - (1 + momentum) lr g."""

    def _step(self, param, grad, v):
        v *= self.momentum
        v -= self.lr * grad
        param += self.momentum * self.momentum * v
        param -= (1 + self.momentum) * self.lr * grad


class Adam(_Lists, _optimizers.Adam):
    """The sequel's Adam: m <- m + (1 - beta1)(g - m); v <- v + (1 - beta2)(g^2 - v);
    W <- W - lr_t m / (sqrt(v) + 1e-7), lr_t = lr sqrt(1 - beta2^t) / (1 - beta1^t)."""

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        super().__init__(lr, beta1, beta2, eps=1e-7)

    def _step(self, param, grad, m, v):
        m += (1 - self.beta1) * (grad - m)
        v += (1 - self.beta2) * (grad * grad - v)
        param -= self._step_size * m / (np.sqrt(v) + self.eps)
