"""Optimizers (chapter 6.1): rules that move every parameter against its gradient.

`update(params, grads)` changes each array in `params` in place (the layers hold the
same arrays, so they see the change at once) and never writes into `grads`. A plain
Python number in `params` (the book's chapter 6 minimises f(x, y) with
`params = {'x': -7.0, 'y': 2.0}`) cannot change in place: it is replaced in the dict
by its updated value, a Python float, as the book's optimizers do. State such
as momentum is kept per parameter *name*, so it survives a checkpoint and cannot be
mixed up between two arrays that happen to share an id.
"""

import math

import numpy as np

from . import checks
from .clipping import clip_grads

__all__ = ["Optimizer", "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam",
           "AdamW", "OPTIMIZERS", "make_optimizer", "LR_SCHEDULES", "lr_schedule",
           "WarmupCosine",
           "clip_grads"]


_positive = checks.positive_number  # a learning rate
# A decay rate: 0 <= value < 1 (1 would never forget, above 1 would blow up).
_fraction = checks.fraction


#: elements per block of an update (128 KiB of float32: well inside a core's L2 cache)
BLOCK = 1 << 15


def _blocks(*arrays):
    """The arrays of one update, whole, or for a large parameter in matching blocks.

    NumPy evaluates `param -= lr * grad` as two passes over memory: lr * grad into a
    temporary, then the subtraction. For a layer of millions of weights the temporary
    no longer fits in cache, so each pass goes out to main memory; block by block it
    stays in cache (measured here: 0.90 -> 0.60 ms for 1.6 M float32 weights, the
    first layer of a 784-2048-10 network). Only C-contiguous arrays are split, so that
    every block is a view and the update lands in the parameter itself.
    """
    size = arrays[0].size
    if size < 2 * BLOCK or not all(a.flags.c_contiguous for a in arrays):
        yield arrays
        return
    flat = [a.reshape(-1) for a in arrays]
    for start in range(0, size, BLOCK):
        yield [a[start:start + BLOCK] for a in flat]


class Optimizer:
    """Base class: holds the hyperparameters and the per-parameter state arrays."""

    #: names of the per-parameter state dicts a subclass keeps (e.g. ("v",))
    slots = ()

    def __init__(self, lr):
        self.lr = _positive("lr (the learning rate)", lr)
        self.iter = 0
        for slot in self.slots:
            setattr(self, slot, {})

    def _slot(self, slot, key, like):
        """State array `slot` for parameter `key`, created as zeros on first use."""
        table = getattr(self, slot)
        if key not in table:
            table[key] = np.zeros_like(like)
        return table[key]

    def update(self, params, grads):
        missing = [key for key in params if key not in grads]
        if missing:
            raise ValueError(f"no gradient for parameter(s) {', '.join(missing)}")
        self.iter += 1
        for key, param in list(params.items()):
            grad = grads[key]
            if not isinstance(param, np.ndarray):
                params[key] = self._scalar_update(key, param, grad)
                continue
            if np.shape(grad) != param.shape:
                raise ValueError(f"gradient of {key} has shape {np.shape(grad)}, "
                                 f"parameter has {param.shape}")
            state = [self._slot(slot, key, param) for slot in self.slots]
            if param.size < 2 * BLOCK:
                self._step(param, grad, *state)
            else:
                for block in _blocks(param, grad, *state):
                    self._step(*block)

    def _scalar_update(self, key, value, grad):
        """The rule on a parameter that is a plain number: its new value, a float.

        The number and its gradient become 0-d float64 arrays for one step of the same
        rule as the arrays get (its state is kept as 0-d arrays too, so it survives a
        checkpoint like any other), and the result goes back as a Python float.
        """
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)) \
                or isinstance(value, (complex, np.complexfloating)):
            raise TypeError(f"parameter {key} is a {type(value).__name__}; parameters must "
                            f"be NumPy arrays or real numbers")
        if np.shape(grad) != ():
            raise ValueError(f"gradient of {key} has shape {np.shape(grad)}, "
                             f"parameter is a single number")
        param = np.array(value, dtype=np.float64)
        grad = np.array(grad, dtype=np.float64)
        state = [self._slot(slot, key, param) for slot in self.slots]
        self._step(param, grad, *state)
        return float(param)

    def _step(self, param, grad, *state):
        """The rule itself, on one parameter (or one block of it), its gradient and its
        state arrays in the order of `slots`; changes param and state in place."""
        raise NotImplementedError

    # -- state for checkpoints --------------------------------------------------------
    def hyperparameters(self):
        """The constructor's arguments, for rebuilding this optimizer."""
        return {"lr": self.lr}

    def state_dict(self):
        """Every state array as a flat dict "slot/param" -> array, plus the step count."""
        state = {"iter": np.array(self.iter)}
        for slot in self.slots:
            for key, value in getattr(self, slot).items():
                state[f"{slot}/{key}"] = value.copy()  # a snapshot, not the live array
        return state

    def load_state_dict(self, state, params=None):
        """Restore what state_dict() returned. With `params`, every state array must
        belong to one of them and have its shape, so that a state saved for another
        network is refused here rather than broadcast silently into this one."""
        tables = {slot: {} for slot in self.slots}
        for name, value in state.items():
            if name == "iter":
                continue
            slot, _, key = name.partition("/")
            if slot not in tables or not key:
                raise ValueError(f"{type(self).__name__} keeps no state {name!r}")
            value = np.array(value)
            if params is not None:
                if key not in params:
                    raise ValueError(f"optimizer state {name!r} is for a parameter this "
                                     f"network does not have")
                target = params[key]
                if not isinstance(target, np.ndarray):  # a plain number: float64 state
                    target = np.array(target, dtype=np.float64)
                if value.shape != target.shape:
                    raise ValueError(f"optimizer state {name!r} has shape {value.shape}, "
                                     f"parameter {key} has {target.shape}")
                value = value.astype(target.dtype, copy=False)
            tables[slot][key] = value
        iteration = np.asarray(state.get("iter", 0))
        if iteration.shape != () or iteration.dtype.kind not in "iu" or iteration < 0:
            raise ValueError(f"optimizer step count must be a non-negative integer, "
                             f"got {state.get('iter')!r}")
        self.iter = int(iteration)
        for slot, table in tables.items():
            setattr(self, slot, table)


class SGD(Optimizer):
    """W <- W - lr * dL/dW."""

    def __init__(self, lr=0.01):
        super().__init__(lr)

    def _step(self, param, grad):
        param -= self.lr * grad


class Momentum(Optimizer):
    """v <- momentum * v - lr * dL/dW;  W <- W + v  (a ball rolling downhill)."""

    slots = ("v",)

    def __init__(self, lr=0.01, momentum=0.9):
        super().__init__(lr)
        self.momentum = _fraction("momentum", momentum)

    def hyperparameters(self):
        return {"lr": self.lr, "momentum": self.momentum}

    def _step(self, param, grad, v):
        v *= self.momentum
        v -= self.lr * grad
        param += v


class Nesterov(Momentum):
    """Nesterov momentum in the form most frameworks use (Sutskever et al. 2013, rewritten
    in terms of the parameters themselves):

        v <- momentum * v - lr * g;   W <- W + momentum * v - lr * g

    i.e. the step looks ahead along the updated velocity. (The book's code adds the
    velocity once more and is not this method.) Same settings and state as Momentum.
    """

    def _step(self, param, grad, v):
        v *= self.momentum
        v -= self.lr * grad
        param += self.momentum * v - self.lr * grad


class AdaGrad(Optimizer):
    """h <- h + g*g;  W <- W - lr * g / (sqrt(h) + eps): each weight's step shrinks with
    the sum of its past squared gradients."""

    slots = ("h",)

    def __init__(self, lr=0.01, eps=1e-7):
        super().__init__(lr)
        self.eps = _positive("eps", eps)

    def hyperparameters(self):
        return {"lr": self.lr, "eps": self.eps}

    def _step(self, param, grad, h):
        h += grad * grad
        param -= self.lr * grad / (np.sqrt(h) + self.eps)


class RMSprop(Optimizer):
    """h <- decay * h + (1 - decay) * g*g;  W <- W - lr * g / (sqrt(h) + eps): AdaGrad
    with old gradients forgotten at rate decay_rate."""

    slots = ("h",)

    def __init__(self, lr=0.01, decay_rate=0.99, eps=1e-7):
        super().__init__(lr)
        self.decay_rate = _fraction("decay_rate", decay_rate)
        self.eps = _positive("eps", eps)

    def hyperparameters(self):
        return {"lr": self.lr, "decay_rate": self.decay_rate, "eps": self.eps}

    def _step(self, param, grad, h):
        h *= self.decay_rate
        h += (1 - self.decay_rate) * grad * grad
        param -= self.lr * grad / (np.sqrt(h) + self.eps)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015):

        m <- beta1 m + (1 - beta1) g;     v <- beta2 v + (1 - beta2) g*g
        W <- W - lr * m_hat / (sqrt(v_hat) + eps),  m_hat = m / (1 - beta1^t), v_hat = v / (1 - beta2^t)
    """

    slots = ("m", "v")

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(lr)
        self.beta1 = _fraction("beta1", beta1)
        self.beta2 = _fraction("beta2", beta2)
        self.eps = _positive("eps", eps)

    def hyperparameters(self):
        return {"lr": self.lr, "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}

    def update(self, params, grads):
        # Python floats, not NumPy float64 scalars, so float32 parameters stay float32.
        # The bias corrections depend on the step count only: compute them once per step.
        t = self.iter + 1
        self._step_size = float(self.lr * np.sqrt(1.0 - self.beta2 ** t) / (1.0 - self.beta1 ** t))
        self._eps_hat = float(self.eps * np.sqrt(1.0 - self.beta2 ** t))
        super().update(params, grads)

    def _step(self, param, grad, m, v):
        m += (1 - self.beta1) * (grad - m)
        v += (1 - self.beta2) * (grad * grad - v)
        # lr * m_hat / (sqrt(v_hat) + eps) rewritten with the corrections folded into
        # one scalar: the same number, two fewer array passes.
        param -= self._step_size * m / (np.sqrt(v) + self._eps_hat)


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


OPTIMIZERS = {cls.__name__.lower(): cls
              for cls in (SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam, AdamW)}


def make_optimizer(name_or_optimizer, **params):
    """An optimizer from its name ("SGD", "adam", ...) and settings, or one passed as is."""
    if isinstance(name_or_optimizer, Optimizer):
        return name_or_optimizer
    key = str(name_or_optimizer).lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name_or_optimizer!r}; choose from "
                         f"{', '.join(cls.__name__ for cls in OPTIMIZERS.values())}")
    return OPTIMIZERS[key](**params)


# -- learning-rate schedules -------------------------------------------------------------
# A schedule scales the optimizer's base learning rate by a factor that depends only on
# how far training has got (0 at the first step, 1 after the last), so a run continued
# from a checkpoint takes exactly the steps the unbroken run would have taken.

def _constant(progress):
    return 1.0


def _cosine(progress):
    """0.5 (1 + cos(pi p)): the full rate at first, falling smoothly to 0 at the end
    (Loshchilov & Hutter 2017, without restarts). Large steps early explore; small steps
    late settle into a minimum instead of bouncing around it."""
    return 0.5 * (1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))


class WarmupCosine:
    """A linear warm-up over the first `warmup` steps, then half a cosine down to
    `floor` times the rate at the last step: GPT-2's and nanoGPT's schedule. The factor
    at step i of M:

        (i + 1) / (warmup + 1)                                      i < warmup
        floor + (1 - floor) * 0.5 * (1 + cos(pi * (i - warmup) / (M - warmup)))

    A fresh network's gradients are large and its Adam moments not yet estimated: small
    first steps keep them from throwing the weights far. Its name,
    "warmup-cosine:WARMUP:FLOOR", is what a checkpoint keeps and `lr_schedule` reads.
    """

    def __init__(self, warmup, floor=0.0):
        from .checks import fraction, non_negative_int
        self.warmup = non_negative_int("warmup", warmup)
        self.floor = fraction("floor", floor)
        self.name = f"warmup-cosine:{self.warmup}:{self.floor:g}"

    def at(self, iteration, max_iter):
        if iteration < self.warmup:
            return (iteration + 1) / (self.warmup + 1)
        span = max(max_iter - self.warmup, 1)
        return self.floor + (1.0 - self.floor) * _cosine((iteration - self.warmup) / span)

    def __call__(self, progress):  # as a function of the progress alone: never used
        raise TypeError("WarmupCosine needs the step and the run's length: use at()")


LR_SCHEDULES = {"constant": _constant, "cosine": _cosine}


def lr_schedule(schedule):
    """(name, factor) for a schedule given by name, None, a WarmupCosine (or its name,
    "warmup-cosine:WARMUP:FLOOR"), or a function of progress in [0, 1] returning the
    factor (its name is then "custom"). A factor with an `at(iteration, max_iter)`
    method is asked by step."""
    if schedule is None:
        schedule = "constant"
    if isinstance(schedule, WarmupCosine):
        return schedule.name, schedule
    if callable(schedule):
        return "custom", schedule
    key = str(schedule).lower()
    if key.startswith("warmup-cosine:"):
        try:
            _, warmup, floor = key.split(":")
            made = WarmupCosine(int(warmup), float(floor))
        except ValueError as exc:
            raise ValueError(f"a warm-up schedule is warmup-cosine:WARMUP:FLOOR, got "
                             f"{schedule!r} ({exc})") from None
        return made.name, made
    if key not in LR_SCHEDULES:
        raise ValueError(f"unknown learning-rate schedule {schedule!r}; choose from "
                         f"{', '.join(LR_SCHEDULES)} or pass a function of the progress")
    return key, LR_SCHEDULES[key]
