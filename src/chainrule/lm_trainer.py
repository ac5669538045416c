"""Training a language model on a stream of tokens: the sequel's RnnlmTrainer, and
nanoGPT's random windows, as a Trainer.

A text is one long stream of token ids; the model learns to predict each next token:
x = ids[i : i + T], t = ids[i + 1 : i + T + 1]. Two ways to cut it into batches:

  streams  (*Deep Learning from Scratch 2*, ch 5) the text is read as `batch_size`
           parallel streams, stream b starting at b * (n // batch_size); each step reads
           the next `time_size` tokens of every stream. Recurrent layers are made
           stateful while training: the state at the end of one step is where the next
           step starts, and backpropagation stops at the step's first token (truncated
           backprop through time). An epoch is n // (batch_size * time_size) steps.
  windows  (nanoGPT) each step takes `batch_size` windows of `time_size` tokens at
           random places in the text, drawn from (seed, step), every window read from
           a fresh state. An epoch is as many steps as see n tokens.

Every `eval_interval` steps (default: each epoch) the model is measured on the
validation text: the mean loss per token (nats) and the perplexity exp(loss), the
number of tokens it is as unsure between as a uniform guess (bits per character are
loss / ln 2). With streams the whole validation text is read as streams; with windows,
`eval_iters` batches of windows drawn from the seed, the same ones at every evaluation
so that the figures compare.

A resumed run continues exactly: the batches are functions of (seed, step), and the
recurrent layers' state is saved with the checkpoint.
"""

import math

import numpy as np

from . import checks
from .generation import recurrent_layers
from .trainer import Trainer

__all__ = ["LanguageModelTrainer", "SAMPLINGS", "stream_loss", "window_loss"]

SAMPLINGS = ("streams", "windows")


def _state_of(layer):
    """The layer's current state arrays, by attribute (h, and c for an LSTM)."""
    return {attr: getattr(layer, attr) for attr in ("h", "c")
            if getattr(layer, attr, None) is not None}


def stream_loss(network, ids, batch_size, time_size):
    """The mean loss per token of `network` predicting every next token of `ids`, the
    text read as up to batch_size streams of time_size steps, its recurrent layers
    stateful across the steps (their setting is the caller's to restore)."""
    T = time_size
    N = max(1, min(batch_size, (len(ids) - 1) // T))
    length = (len(ids) - 1) // N
    for layer in recurrent_layers(network).values():
        layer.stateful = True
    network.reset_state()
    total, count = 0.0, 0
    for start in range(0, length, T):
        width = min(T, length - start)
        where = np.arange(N)[:, None] * length + start + np.arange(width)
        total += float(network.loss(ids[where], ids[where + 1])) * where.size
        count += where.size
    return total / count


def _random_windows(ids, rng, batch_size, time_size):
    """(x, t): batch_size windows of time_size tokens at places drawn from rng, and the
    tokens one ahead of them."""
    where = rng.integers(0, len(ids) - time_size, batch_size)[:, None] + np.arange(time_size)
    return ids[where], ids[where + 1]


def window_loss(network, ids, batch_size, time_size, iters, seed):
    """The mean loss over `iters` batches of windows of `ids` drawn from `seed` (the
    same windows for the same seed), each read from a fresh state."""
    rng = np.random.default_rng([seed, 11])
    total = 0.0
    for _ in range(iters):
        network.reset_state()
        total += float(network.loss(*_random_windows(ids, rng, batch_size, time_size)))
    return total / iters


class LanguageModelTrainer(Trainer):
    """Trains `network` (token ids (N, T) in, a score per token and step out) on the
    token ids `train_ids`, measuring it on `val_ids`.

    batch_size streams or windows of time_size tokens per step; sampling "streams" or
    "windows" (see the module docstring); eval_interval steps between measurements
    (default: an epoch); eval_iters batches of validation windows (windows only). The
    rest is the Trainer's: epochs or iters, optimizer and optimizer_param, seed,
    callbacks, lr_schedule, clip_grad, max_loss.
    """

    def __init__(self, network, train_ids, val_ids, *, batch_size=32, time_size=64,
                 sampling="streams", epochs=1, iters=None, eval_interval=None,
                 eval_iters=20, optimizer="Adam", optimizer_param=None, verbose=True,
                 seed=None, callbacks=(), lr_schedule=None, clip_grad=None, max_loss=None):
        if sampling not in SAMPLINGS:
            raise ValueError(f"sampling must be one of {', '.join(SAMPLINGS)}, got "
                             f"{sampling!r}")
        self.sampling = sampling
        self.time_size = checks.positive_int("time_size", time_size)
        self.eval_iters = checks.positive_int("eval_iters", eval_iters)
        self._eval_interval_given = (None if eval_interval is None
                                     else checks.positive_int("eval_interval", eval_interval))
        super().__init__(network, train_ids, None, val_ids, None, epochs=epochs,
                         mini_batch_size=batch_size, optimizer=optimizer,
                         optimizer_param=optimizer_param, verbose=verbose, iters=iters,
                         seed=seed, callbacks=callbacks, lr_schedule=lr_schedule,
                         max_loss=max_loss, clip_grad=clip_grad)

    # -- the data -----------------------------------------------------------------------
    def _set_data(self, train_ids, _t_train, val_ids, _t_test):
        self.train_ids = self._ids("train_ids", train_ids)
        self.val_ids = self._ids("val_ids", val_ids)
        self.x_test = self.val_ids  # what a trainer's set-up description counts
        self.n_classes = int(getattr(self.network, "output_size", 0) or 0) or \
            int(max(self.train_ids.max(), self.val_ids.max())) + 1
        self._all_train = (self.train_ids, None)

    def _ids(self, what, ids):
        ids = np.asarray(ids)
        if ids.ndim != 1 or ids.dtype.kind not in "iu":
            raise ValueError(f"{what} must be a 1-D array of integer token ids, got "
                             f"{ids.dtype} of shape {ids.shape}")
        return ids.astype(np.int64, copy=False)

    def _split(self, seed):
        self.x_train, self.t_train = self.train_ids, None
        self.x_val = self.t_val = None  # measured on val_ids, by _measure below

    def _set_length(self, epochs, batch_size, iters):
        n = len(self.train_ids)
        self.batch_size = checks.positive_int("batch_size", batch_size)
        T = self.time_size
        if n < self.batch_size * T + 1:
            raise ValueError(f"the training text has {n} tokens, fewer than one step of "
                             f"{self.batch_size} x {T} tokens and the one after: make "
                             f"batch_size or time_size smaller")
        if len(self.val_ids) < T + 1:
            raise ValueError(f"the validation text has {len(self.val_ids)} tokens, fewer "
                             f"than time_size + 1 = {T + 1}")
        self.iter_per_epoch = (n - 1) // (self.batch_size * T)
        epochs = checks.positive_int("epochs", epochs)
        if iters is not None:
            self.max_iter = checks.positive_int("iters", iters)
            self.epochs = math.ceil(self.max_iter / self.iter_per_epoch)
        else:
            self.epochs = epochs
            self.max_iter = epochs * self.iter_per_epoch
        self.eval_interval = self._eval_interval_given or self.iter_per_epoch

    def batch(self, iteration):
        """(x, t), each (batch_size, time_size): the streams' next tokens, or windows."""
        ids, N, T = self.train_ids, self.batch_size, self.time_size
        if self.sampling == "streams":
            n = len(ids) - 1
            starts = np.arange(N) * (n // N) + iteration * T
            where = (starts[:, None] + np.arange(T)) % n
            return ids[where], ids[where + 1]
        self.network.reset_state()  # every window from a fresh state
        return _random_windows(ids, np.random.default_rng([self.seed, iteration, 7]), N, T)

    # -- the loop -------------------------------------------------------------------------
    def train(self):
        """Run (or continue) training with the recurrent layers stateful while reading
        streams; their own setting is given back afterwards. A run from its first step
        starts from zeros: a state the network kept from earlier use (a prediction on
        another batch) is not where the streams begin."""
        layers = recurrent_layers(self.network) if self.sampling == "streams" else {}
        saved = {name: layer.stateful for name, layer in layers.items()}
        if self.current_iter == 0:
            self.network.reset_state()
        try:
            for layer in layers.values():
                layer.stateful = True
            return super().train()
        finally:
            for name, stateful in saved.items():
                layers[name].stateful = stateful

    # -- measuring ------------------------------------------------------------------------
    def _measure(self, network=None):
        """(None, {"val_loss", "val_perplexity"}): the validation text's mean loss per
        token, in inference mode, the training state of recurrent layers put back."""
        network = self.network if network is None else network
        layers = recurrent_layers(network)
        kept = {name: (_state_of(layer), layer.stateful) for name, layer in layers.items()}
        try:
            if self.sampling == "streams":
                loss = stream_loss(network, self.val_ids, self.batch_size, self.time_size)
            else:
                loss = window_loss(network, self.val_ids, self.batch_size, self.time_size,
                                   self.eval_iters, self.seed)
        finally:
            for name, (state, stateful) in kept.items():
                layer = layers[name]
                layer.reset_state()
                layer.stateful = stateful
                for attr, value in state.items():
                    setattr(layer, attr, value)
        return None, {"val_loss": loss, "val_perplexity": float(math.exp(min(loss, 700.0)))}

    def _final_test(self):
        return None

    # -- checkpoints ----------------------------------------------------------------------
    def state(self):
        state = super().state()
        state.update({"sampling": self.sampling, "time_size": self.time_size,
                      "eval_interval": self.eval_interval, "eval_iters": self.eval_iters})
        return state

    def state_arrays(self):
        """The callbacks' arrays and the recurrent layers' state (streams carry it from
        one step to the next: a resumed run must start where the unbroken one was)."""
        arrays = super().state_arrays()
        for name, layer in recurrent_layers(self.network).items():
            for attr, value in _state_of(layer).items():
                arrays[f"state/{name}/{attr}"] = value
        return arrays

    def _restore(self, checkpoint, rngs):
        training = checkpoint.training
        for key, expected in (("sampling", self.sampling), ("time_size", self.time_size)):
            if training.get(key) != expected:
                raise ValueError(f"the checkpoint's run had {key} {training.get(key)!r}, "
                                 f"this trainer {expected!r}; the batches would differ")
        super()._restore(checkpoint, rngs)
        layers = recurrent_layers(self.network)
        for layer in layers.values():
            layer.reset_state()
        for key, value in (getattr(checkpoint, "training_arrays", None) or {}).items():
            parts = key.split("/")
            if parts[0] == "state" and len(parts) == 3 and parts[1] in layers:
                setattr(layers[parts[1]], parts[2], np.array(value))
