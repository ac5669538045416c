"""AdamW: Adam with decoupled weight decay (Loshchilov & Hutter 2019), as a GPT is trained."""

import numpy as np

from .optimizers import Adam

__all__ = ["AdamW"]


def _decays_matrices(name, param):
    """nanoGPT's rule: weight matrices and embeddings decay, biases and gains do not."""
    return np.ndim(param) >= 2


class AdamW(Adam):
    """Adam whose weight decay shrinks the parameters directly instead of being added to
    the gradient (where Adam's per-weight scaling would weaken it for weights with large
    gradients). Each step, for a parameter p with gradient g:

        m <- beta1 m + (1 - beta1) g;     v <- beta2 v + (1 - beta2) g*g
        p <- p - lr * (m_hat / (sqrt(v_hat) + eps) + weight_decay * p)

    with m_hat = m / (1 - beta1^t), v_hat = v / (1 - beta2^t) and p on the right the
    parameter before the step. That is PyTorch's AdamW, and it is computed in PyTorch's
    order: first p <- p * (1 - lr * weight_decay), then the Adam step of
    chainrule.optimizers.Adam. The two are the same arithmetic (the Adam step does not
    depend on p); in this order the rounding is PyTorch's too, up to Adam's own step,
    which folds the bias corrections into two scalars.

    `decay` says which parameters decay: None (the default) decays every parameter whose
    array has two or more dimensions, the weight matrices and embeddings, and not the
    biases nor LayerNorm's gamma and beta, as nanoGPT does; or a collection of parameter
    names; or a function (name, array) -> bool. Parameters that do not decay get the
    plain Adam step. `lr` may be changed between steps (a learning-rate schedule): the
    decay uses the current lr, as PyTorch's does.

    hyperparameters() (what a checkpoint keeps) holds `decay` only when it is a
    collection of names; a function cannot be saved, so pass it again when rebuilding.
    """

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, weight_decay=0.01, eps=1e-8,
                 decay=None):
        super().__init__(lr, beta1, beta2, eps)
        weight_decay = float(weight_decay)
        if not (np.isfinite(weight_decay) and weight_decay >= 0):
            raise ValueError(f"weight_decay must be a non-negative number, got {weight_decay}")
        self.weight_decay = weight_decay
        if decay is None:
            self._decays = _decays_matrices
            self.decay = None
        elif callable(decay):
            self._decays = decay
            self.decay = decay
        elif isinstance(decay, str):
            raise TypeError("decay must be a collection of parameter names or a function "
                            "(name, array) -> bool, not one string")
        else:
            names = frozenset(decay)
            if not all(isinstance(n, str) for n in names):
                raise TypeError(f"decay must hold parameter names (strings), got {decay!r}")
            self._decays = lambda name, param: name in names
            self.decay = names

    def hyperparameters(self):
        settings = super().hyperparameters()
        settings["weight_decay"] = self.weight_decay
        if isinstance(self.decay, frozenset):
            settings["decay"] = sorted(self.decay)
        return settings

    def update(self, params, grads):
        missing = [key for key in params if key not in grads]
        if missing:
            raise ValueError(f"no gradient for parameter(s) {', '.join(missing)}")
        # Every shape is checked before any parameter is touched, so that a call refused
        # leaves the network as it was, decayed or not.
        for key, param in params.items():
            if isinstance(param, np.ndarray) and np.shape(grads[key]) != param.shape:
                raise ValueError(f"gradient of {key} has shape {np.shape(grads[key])}, "
                                 f"parameter has {param.shape}")
        if self.weight_decay:
            shrink = 1.0 - self.lr * self.weight_decay  # a Python float: float32 stays float32
            for key, param in params.items():
                if not self._decays(key, param):
                    continue
                if isinstance(param, np.ndarray):
                    param *= shrink
                elif not isinstance(param, (bool, np.bool_)) and isinstance(
                        param, (int, float, np.number)):
                    params[key] = float(param) * shrink
        super().update(params, grads)
