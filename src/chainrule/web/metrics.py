"""Training progress shared between a training loop and the web page that shows it.

The trainer calls a LiveMetrics object after every step and every epoch (it is one of
the Trainer's callbacks); the web server, in another thread, reads it when the page
asks ``GET /api/metrics``. A lock keeps the two from seeing each other half-way.

Nothing here needs Flask: LiveMetrics is a plain callback and can be used on its own.
"""

import copy
import math
import threading
import time

__all__ = ["LiveMetrics"]


def _finite_or_none(value):
    """JSON has no NaN or infinity: a diverged loss is sent as null."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


class LiveMetrics:
    """A Trainer callback that keeps the losses and per-epoch metrics for the web page.

    Callback methods (called by the training loop, in its own thread):
      on_train_begin(info=None)          optional; info: a dict shown on the page;
      on_iteration_end(iteration, loss)  after every optimisation step;
      on_epoch_end(metrics)              after every epoch, metrics a dict with keys
                                         epoch, iteration, loss, train_acc, test_acc,
                                         elapsed;
      on_train_end()                     optional; marks the run as finished.

    model: the network being trained, optional. If given, a private copy of it is taken
    now and after every epoch, in the training thread between two steps, so the web
    page can predict with it without ever touching the layers that training is using
    (layers keep per-call state; two threads in one layer would corrupt each other).
    """

    def __init__(self, model=None, info=None):
        self._lock = threading.Lock()
        self._iterations = []
        self._losses = []
        self._epochs = []
        self._info = dict(info or {})
        self._status = "waiting"
        self._started = None
        self._finished = None
        self._model = model
        self._snapshot = copy.deepcopy(model) if model is not None else None
        self._snapshot_epoch = 0

    # -- callbacks ---------------------------------------------------------------------
    def on_train_begin(self, info=None):
        with self._lock:
            self._status = "training"
            self._started = time.time()
            if info:
                self._info.update(info)

    def on_iteration_end(self, iteration, loss):
        with self._lock:
            if self._status == "waiting":
                self._status = "training"
                self._started = time.time()
            self._iterations.append(int(iteration))
            self._losses.append(_finite_or_none(loss))

    def on_epoch_end(self, metrics):
        record = {key: metrics.get(key) for key in
                  ("epoch", "iteration", "loss", "train_acc", "test_acc", "elapsed")}
        for key in ("loss", "train_acc", "test_acc", "elapsed"):
            record[key] = _finite_or_none(record[key])
        snapshot = copy.deepcopy(self._model) if self._model is not None else None
        with self._lock:
            self._epochs.append(record)
            if snapshot is not None:
                self._snapshot = snapshot
                self._snapshot_epoch = record.get("epoch")

    def on_train_end(self, *args, **kwargs):
        with self._lock:
            self._status = "done"
            self._finished = time.time()

    # -- readers -----------------------------------------------------------------------
    def model_snapshot(self):
        """The latest private copy of the model (None without a model)."""
        with self._lock:
            return self._snapshot

    def snapshot(self, since=0):
        """Everything the page needs, as JSON-ready values.

        since: how many loss values the page already has; only newer ones are sent, so
        polling stays cheap however long training runs. The per-epoch records are few
        and always sent whole.
        """
        since = max(0, int(since))
        with self._lock:
            return {
                "status": self._status,
                "info": dict(self._info),
                "since": since,
                "count": len(self._losses),
                "iterations": self._iterations[since:],
                "loss": self._losses[since:],
                "epochs": [dict(e) for e in self._epochs],
                "running_for": ((self._finished or time.time()) - self._started)
                               if self._started else 0.0,
            }
