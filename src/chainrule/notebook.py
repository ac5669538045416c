"""Training in a Jupyter cell: a progress bar, and loss and accuracy curves redrawn in place.

Both are Trainer callbacks (see chainrule.trainer for the protocol)::

    from chainrule.notebook import LiveCurves
    Trainer(net, x_train, t_train, x_test, t_test, epochs=5,
            callbacks=[LiveCurves()], verbose=False).train()

LiveCurves shows one figure under the cell and replaces it after every evaluation (and
every few seconds in between): the cell keeps one picture, not one per epoch, because
the figure is updated through IPython's display handle. It also shows a progress bar,
ProgressBar below, which is tqdm.auto's: a widget in Jupyter, text in a terminal.

Outside a Jupyter kernel (a script, the command line) LiveCurves draws nothing; the
Trainer's own lines say how training goes there. IPython, matplotlib and tqdm are the
``notebook`` extra (``pip install 'chainrule[notebook]'``), imported only when used.
"""

import io
import time

from .plot import MissingDependencyError, _draw_curves, _figure, _history_from_records

__all__ = ["LiveCurves", "ProgressBar", "in_notebook"]


def in_notebook():
    """Whether this code runs in a Jupyter kernel (IPython with a kernel attached)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _display_handle():
    """A display handle for one output of the current cell: display() then update()."""
    from IPython.display import display
    return display(display_id=True)


def _png_image(data):
    from IPython.display import Image
    return Image(data=data, format="png")


def _tqdm_class():
    """tqdm.auto's bar; the text bar, without tqdm.auto's warning, where Jupyter lacks
    ipywidgets (the widget's library, in the notebook extra)."""
    import importlib.util
    try:
        if in_notebook() and importlib.util.find_spec("ipywidgets") is None:
            from tqdm.std import tqdm
        else:
            from tqdm.auto import tqdm
    except ImportError:
        raise MissingDependencyError(
            "a progress bar needs tqdm: pip install 'chainrule[notebook]'") from None
    return tqdm


class ProgressBar:
    """A callback showing training progress with tqdm.auto: a widget in Jupyter (with
    ipywidgets installed), a text bar in a terminal or in Jupyter without ipywidgets.

    total  the number of steps; by default the steps left in the run of the trainer
           that hands itself over (set_trainer), else counted without a total.
    """

    def __init__(self, total=None, desc="training"):
        self.total = total
        self.desc = desc
        self.bar = None
        self.trainer = None

    def set_trainer(self, trainer):
        self.trainer = trainer

    def on_train_begin(self, run_info=None):
        tqdm = _tqdm_class()
        total = self.total
        if total is None and self.trainer is not None:
            total = self.trainer.max_iter - self.trainer.current_iter
        self.bar = tqdm(total=total, desc=self.desc, unit="step")

    def on_iteration_end(self, iteration, loss):
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

    def on_epoch_end(self, metrics):
        if self.bar is not None:
            self.bar.set_description(f"{self.desc}, epoch {metrics.get('epoch')}",
                                     refresh=False)

    def on_train_end(self, *args):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class LiveCurves:
    """A callback that draws loss and accuracy in the cell's output while training runs,
    one figure updated in place. For a language model's run (LanguageModelTrainer),
    which measures no accuracy, the validation loss beside the training loss and the
    validation perplexity exp(val_loss).

    every     also redraw during an epoch when this many seconds have passed since the
              last drawing (None: only after evaluations); a drawing takes 0.1 to 0.5 s,
              so the default of 10 s costs a few percent of a long epoch;
    progress  also show a ProgressBar (tqdm.auto);
    title     a title above the curves.
    After training, `history()` gives the curves as a chainrule.plot.History.
    """

    def __init__(self, every=10.0, progress=True, title=None, dpi=80):
        self.every = every
        self.title = title
        self.dpi = dpi
        self.progress = ProgressBar() if progress else None
        self.trainer = None
        self.records = []     # the trainer's per-evaluation metrics
        self.losses = []      # (iteration, loss) of every step
        self.handle = None
        self.draws = 0        # how many times the figure was drawn
        self._figure = None
        self._last_draw = 0.0

    def set_trainer(self, trainer):
        self.trainer = trainer
        if self.progress is not None:
            self.progress.set_trainer(trainer)

    # -- the callback protocol ---------------------------------------------------------
    def on_train_begin(self, run_info=None):
        if self.trainer is not None:   # continuing a run: start from what it has
            self.records = [dict(m) for m in self.trainer.history]
            self.losses = list(enumerate(self.trainer.train_loss_list, 1))
        if not in_notebook():
            self.handle = None
            return
        # Fails here, before training, without matplotlib. Fixed margins instead of the
        # constrained layout: that halves the time of a drawing (0.5 s against 1.3 s
        # for 600 losses, measured on a busy 2-core machine).
        self._figure = _figure(10, 4, layout=None)
        self.handle = _display_handle()
        if self.progress is not None:
            self.progress.on_train_begin(run_info)

    def on_iteration_end(self, iteration, loss):
        self.losses.append((iteration, float(loss)))
        if self.progress is not None and self.handle is not None:
            self.progress.on_iteration_end(iteration, loss)
        if (self.every is not None and self.handle is not None
                and time.perf_counter() - self._last_draw >= self.every):
            self.redraw()

    def on_epoch_end(self, metrics):
        self.records.append(dict(metrics))
        if self.handle is not None:
            if self.progress is not None:
                self.progress.on_epoch_end(metrics)
            self.redraw()

    def on_train_end(self, *args):
        if self.handle is not None:
            self.redraw()
            if self.progress is not None:
                self.progress.on_train_end()

    # -- drawing -------------------------------------------------------------------------
    def data(self):
        """The curves so far, as chainrule.plot.load_history returns them."""
        data = _history_from_records(self.records)
        data["loss"] = [loss for _, loss in self.losses]
        data["loss_iteration"] = [i for i, _ in self.losses]
        data["loss_per"] = "iteration"
        return data

    def history(self):
        """The curves so far as a chainrule.plot.History (which shows in a notebook)."""
        from .plot import History
        return History(self.data(), title=self.title)

    def redraw(self):
        """Draw the curves again and replace the cell's figure with them."""
        self._last_draw = time.perf_counter()
        data = self.data()
        if not data["loss"] and not self.records:
            return
        fig = self._figure
        fig.clear()
        _draw_curves(fig, data, self.title)
        fig.subplots_adjust(left=0.07, right=0.98, bottom=0.13,
                            top=0.86 if self.title else 0.91, wspace=0.22)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=self.dpi)
        self.handle.update(_png_image(buffer.getvalue()))
        self.draws += 1
