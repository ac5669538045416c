"""Pictures of training and of trained networks, drawn with matplotlib.

Every function here computes what it shows with NumPy (those parts are plain functions
you can call and test on their own), draws one figure, saves it and returns the path:

  plot_curves        loss per iteration and accuracy per epoch (a language model's
                     run: validation loss and perplexity), from a Trainer, a
                     history dict or a metrics JSON-lines file;
  History            the same curves as an object that shows them in a notebook;
  plot_weights       the first layer's weights as a grid of little images;
  plot_activations   histograms of each layer's activations for several weight
                     initialisations (the book's chapter 6 comparison);
  plot_confusion     which digits are taken for which;
  plot_mistakes      the test images the network got wrong most confidently.

matplotlib is optional (``pip install 'chainrule[plot]'``) and imported only when a
picture is drawn. The figures are drawn by the Agg renderer straight to a file: no
window, no display, and no change to pyplot's global state, so this works on a server
and leaves a user's interactive matplotlib session alone.
"""

import json
import math
import os

import numpy as np

from .evaluation import confusion_matrix, labels_as_indices, predict_probabilities
from .files import atomic_file

__all__ = [
    "MissingDependencyError",
    "load_history",
    "plot_curves",
    "History",
    "history",
    "plot_weights",
    "weight_tiles",
    "init_activations",
    "plot_activations",
    "INIT_COMPARISON",
    "predict_probabilities",
    "confusion_matrix",
    "plot_confusion",
    "plot_confusion_matrix",
    "most_confident_mistakes",
    "plot_mistakes",
]


class MissingDependencyError(ImportError):
    """An optional package that this feature needs is not installed."""


def _figure(width, height, layout="constrained"):
    """A matplotlib Figure attached to the Agg (file-only) renderer.

    Grids of many small panels pass layout=None and place them with subplots_adjust:
    the constrained layout engine takes seconds to arrange thirty axes.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependencyError(
            "drawing pictures needs matplotlib: pip install 'chainrule[plot]'") from None
    fig = Figure(figsize=(width, height), dpi=100, layout=layout)
    FigureCanvasAgg(fig)
    return fig


PICTURE_FORMATS = ("png", "svg", "pdf")


def picture_format(path):
    """The format a picture's file name asks for; ValueError for one that is not drawn."""
    if os.path.isdir(path):
        raise ValueError(f"{os.fspath(path)} is a folder: give a picture's file name "
                         f"(.png, .svg or .pdf) in it")
    fmt = os.path.splitext(os.fspath(path))[1].lstrip(".").lower()
    if fmt not in PICTURE_FORMATS:
        shown = f".{fmt}" if fmt else "no extension"
        raise ValueError(f"{os.fspath(path)}: pictures are written as "
                         f"{', '.join('.' + f for f in PICTURE_FORMATS)}, not {shown}")
    return fmt


def _save(fig, path, dpi=100):
    """Save the figure to `path` whole or not at all (temporary file, then rename).

    The format follows the file name: .png, .svg or .pdf; any other ending is refused
    (PNG bytes under a .jpg name would mislead every program that opens it).
    """
    path = os.fspath(path)
    fmt = picture_format(path)
    with atomic_file(path) as f:
        fig.savefig(f, format=fmt, dpi=dpi)
    return path


# -- training curves -------------------------------------------------------------------
def _number_or_none(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


#: what an evaluation may measure, kept per evaluation (None where it did not): the
#: accuracies of an image run, and the validation loss and perplexity (a language
#: model's run measures those alone)
MEASURED = ("train_acc", "test_acc", "val_acc", "val_loss", "val_perplexity")


def _history_from_records(records):
    """Per-epoch records (dicts with epoch, iteration, loss, train_acc, test_acc;
    val_loss and val_acc in a run with a validation split; val_loss and val_perplexity,
    without accuracies, in a language model's run)."""
    history = {"epoch": [], "iteration": [], "loss": [], "loss_iteration": []}
    history.update({key: [] for key in MEASURED})
    for k, rec in enumerate(records):
        epoch = rec.get("epoch", k + 1)
        history["epoch"].append(epoch if isinstance(epoch, (int, float)) else k + 1)
        history["iteration"].append(rec.get("iteration"))
        for key in MEASURED:
            history[key].append(_number_or_none(rec.get(key)))
        loss = _number_or_none(rec.get("loss"))
        iteration = rec.get("iteration")
        if loss is not None and isinstance(iteration, (int, float)):
            history["loss"].append(loss)
            history["loss_iteration"].append(iteration)
    history["loss_per"] = "epoch"
    return history


def _read_jsonl(path):
    records = []
    if os.path.isdir(path):
        raise ValueError(f"{path}: is a directory, not a metrics file")
    with open(path, encoding="utf-8", errors="strict") as f:
        try:
            lines = f.readlines()
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path}: not a metrics file (JSON lines): byte "
                             f"{exc.start} is not UTF-8 text") from None
        for number, line in enumerate(lines, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}, line {number}: not JSON ({exc.msg})") from None
            if not isinstance(rec, dict):
                raise ValueError(f"{path}, line {number}: expected a JSON object per line")
            records.append(rec)
    if not records:
        raise ValueError(f"{path}: no metrics in the file")
    return records


def load_history(source):
    """Training history in one shape, from whatever the caller has.

    source may be
      a path to a metrics JSON-lines file (one object per epoch with keys epoch,
          iteration, loss, train_acc, test_acc, elapsed, as ``chainrule train`` writes);
      a list of such dicts (a Trainer's ``history``);
      a history dict {"loss": [per iteration], "train_acc": [per epoch], "test_acc": [...]};
      a Trainer (its per-step losses and per-evaluation history), or anything with
          train_loss_list / train_acc_list / test_acc_list.
    Returns {"loss", "loss_iteration", "epoch", "train_acc", "test_acc", "loss_per"},
    where loss_per says whether the losses are per "iteration" or per "epoch"; from
    records and Trainers also "iteration" and the MEASURED figures per evaluation
    (val_acc, val_loss, val_perplexity).
    """
    if _is_trainer(source):
        return _history_from_trainer(source)
    if isinstance(source, (str, os.PathLike)):
        return _history_from_records(_read_jsonl(source))
    if isinstance(source, (list, tuple)):
        if not all(isinstance(rec, dict) for rec in source):
            raise TypeError("a history list must hold one dict per epoch")
        return _history_from_records(source)
    if isinstance(source, dict):
        get = source.get
    elif hasattr(source, "train_loss_list"):
        def get(key, default=None):
            return getattr(source, {"loss": "train_loss_list", "train_acc": "train_acc_list",
                                    "test_acc": "test_acc_list"}.get(key, key), default)
    else:
        raise TypeError(f"cannot read a training history from {type(source).__name__}")
    loss = [float(v) for v in (get("loss") or get("train_loss_list") or [])]
    train_acc = [_number_or_none(v) for v in (get("train_acc") or get("train_acc_list") or [])]
    test_acc = [_number_or_none(v) for v in (get("test_acc") or get("test_acc_list") or [])]
    epochs = max(len(train_acc), len(test_acc))
    return {"loss": loss, "loss_iteration": list(range(1, len(loss) + 1)),
            "epoch": list(range(1, epochs + 1)), "iteration": [None] * epochs,
            "train_acc": train_acc + [None] * (epochs - len(train_acc)),
            "test_acc": test_acc + [None] * (epochs - len(test_acc)),
            "loss_per": "iteration"}


def _moving_average(values, window):
    values = np.asarray(values, dtype=float)
    if window <= 1 or values.size < window:
        return values
    kernel = np.ones(window) / window
    # 'valid' keeps only full windows, so the curve does not dip at the ends.
    return np.convolve(values, kernel, mode="valid")


def plot_curves(history, path, title=None):
    """Loss (left) and accuracy (right) over training, saved to `path`; returns the path.

    Per-iteration losses are noisy, so a moving average is drawn over them.
    """
    h = load_history(history)
    fig = _figure(10, 4)
    _draw_curves(fig, h, title)
    return _save(fig, path)


def _has_curves(h):
    measured = [v for key in MEASURED for v in h.get(key, [])]
    return bool(h["loss"]) or any(v is not None for v in measured)


def _at_iterations(h, key):
    """(iterations, values) of the evaluations that measured `key` at a known step."""
    pairs = [(i, v) for i, v in zip(h.get("iteration", []), h.get(key, []))
             if v is not None and isinstance(i, (int, float))]
    return [i for i, _ in pairs], [v for _, v in pairs]


def _history_from_trainer(trainer):
    """A Trainer's curves: the loss of every step, and each evaluation's figures at the
    epoch and step it was made (epoch 0 is the measurement before training)."""
    data = _history_from_records(trainer.history)
    data["loss"] = [float(v) for v in trainer.train_loss_list]
    data["loss_iteration"] = list(range(1, len(data["loss"]) + 1))
    data["loss_per"] = "iteration"
    return data


def _is_trainer(source):
    return (hasattr(source, "train_loss_list")
            and isinstance(getattr(source, "history", None), list) and source.history)


def _draw_curves(fig, h, title=None):
    """Draw the curves of `h` (as load_history returns it) on an empty figure."""
    if not _has_curves(h):
        raise ValueError("the history holds no loss, accuracy or perplexity to draw")
    ax_loss, ax_acc = fig.subplots(1, 2)

    if h["loss"]:
        x = np.asarray(h["loss_iteration"], dtype=float)
        y = np.asarray(h["loss"], dtype=float)
        if h["loss_per"] == "iteration" and y.size > 50:
            window = max(2, y.size // 50)
            ax_loss.plot(x, y, color="#9ecae1", linewidth=0.6, label="per iteration")
            smooth = _moving_average(y, window)
            ax_loss.plot(x[window - 1:], smooth, color="#08519c", linewidth=1.6,
                         label=f"mean of {window}")
        else:
            ax_loss.plot(x, y, marker="o", color="#08519c", label="training")
        ax_loss.set_xlabel("iteration")
    # The validation loss at the steps it was measured: the curve a language model's
    # run (which measures no accuracy) is judged by, and an image run's overfitting.
    steps, val_loss = _at_iterations(h, "val_loss")
    if val_loss:
        ax_loss.plot(steps, val_loss, marker="o", markersize=3, color="#756bb1",
                     label="validation")
        ax_loss.set_xlabel("iteration")
    if len(ax_loss.lines) > 1:
        ax_loss.legend(loc="upper right")
    ax_loss.set_ylabel("loss")
    ax_loss.set_title("loss")
    ax_loss.grid(alpha=0.3)

    accuracies = [v for key in ("train_acc", "test_acc", "val_acc") for v in h.get(key, [])]
    steps, perplexity = _at_iterations(h, "val_perplexity")
    if perplexity and all(v is None for v in accuracies):
        _draw_perplexity(ax_acc, steps, perplexity)
    else:
        _draw_accuracy(ax_acc, h)
    if title:
        fig.suptitle(title)


def _draw_perplexity(ax, steps, perplexity):
    """A language model's right panel: the validation perplexity exp(loss), on a log
    scale (from the vocabulary's size at the start down to a few)."""
    ax.plot(steps, perplexity, marker="o", markersize=3, color="#756bb1",
            label="validation")
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    ax.set_yscale("log")
    # Plain numbers at 1, 2, 5, 10, 20, 50 ... instead of powers of ten.
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("iteration")
    ax.set_ylabel("perplexity")
    ax.set_title("perplexity = exp(validation loss)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="upper right")


def _draw_accuracy(ax_acc, h):
    epochs = np.asarray(h["epoch"], dtype=float)
    for key, colour, label in (("train_acc", "#e6550d", "train"),
                               ("test_acc", "#31a354", "test"),
                               ("val_acc", "#756bb1", "validation")):
        values = np.array([np.nan if v is None else v for v in h.get(key, [])], dtype=float)
        if values.size and not np.all(np.isnan(values)):
            ax_acc.plot(epochs, values, marker="o", markersize=3, color=colour, label=label)
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_ylim(0, 1.0)
    ax_acc.xaxis.get_major_locator().set_params(integer=True)
    ax_acc.set_title("accuracy")
    ax_acc.grid(alpha=0.3)
    if ax_acc.lines:
        ax_acc.legend(loc="lower right")


class History:
    """A training history that shows its curves: in Jupyter the loss and accuracy
    figure (IPython's display protocol, `_repr_png_`), elsewhere one line of text.

    source is anything load_history reads (a metrics file, a Trainer's `history` list,
    a dict of lists); from a Trainer the loss is kept per step and the accuracies per
    evaluation at their own epochs (epoch 0 is the measurement before training).
    `data` is the history as load_history returns it.
    """

    def __init__(self, source, title=None):
        self.title = title
        if _is_trainer(source):
            data = _history_from_trainer(source)
        elif isinstance(source, dict) and "loss_per" in source:
            data = dict(source)   # already in load_history's shape
        else:
            data = load_history(source)
        self.data = data

    def figure(self):
        """A new matplotlib Figure (Agg, not pyplot's) with the curves drawn."""
        fig = _figure(10, 4)
        _draw_curves(fig, self.data, self.title)
        return fig

    def image(self, fmt="png", dpi=80):
        """The figure as bytes of a PNG (or SVG text for fmt="svg")."""
        import io
        buffer = io.BytesIO()
        self.figure().savefig(buffer, format=fmt, dpi=dpi)
        data = buffer.getvalue()
        return data.decode("utf-8") if fmt == "svg" else data

    def save(self, path):
        """Save the figure to `path` (.png, .svg, .pdf), whole or not at all."""
        return _save(self.figure(), path)

    def _repr_png_(self):
        if not _has_curves(self.data):
            return None  # nothing to draw yet: the text repr says so
        return self.image("png")

    def __repr__(self):
        h = self.data
        last = {key: next((v for v in reversed(h.get(key, [])) if v is not None), None)
                for key in ("train_acc", "val_acc", "test_acc", "val_loss",
                            "val_perplexity")}
        n_eval, n_loss = len(h["epoch"]), len(h["loss"])
        parts = [f"{n_eval} evaluation{'' if n_eval == 1 else 's'}",
                 f"{n_loss} loss{'' if n_loss == 1 else 'es'}"]
        parts += [f"{key} {value:.4f}" for key, value in last.items() if value is not None]
        return f"History({', '.join(parts)})"


def history(source, title=None):
    """`History(source)`: a Trainer's (or a metrics file's) curves, shown in a notebook."""
    return History(source, title)


# -- first-layer weights ---------------------------------------------------------------
def _first_weights(weights):
    if isinstance(weights, np.ndarray):
        return weights
    params = getattr(weights, "params", None)
    if isinstance(params, dict) and "W1" in params:
        return np.asarray(params["W1"])
    raise TypeError("expected a weight array or a network with params['W1']")


def weight_tiles(weights, image_shape=None):
    """The first layer's weights as a stack of images, each scaled to 0..1.

    weights      W1 of an affine layer, shape (D, H): one image per hidden unit, the
                 column reshaped to image_shape, (H, W) or (C, H, W) (default: square,
                 784 -> 28x28), in colour when C == 3, otherwise channel 0;
                 or convolution filters (FN, C, FH, FW): one image per filter, in
                 colour when C == 3, otherwise channel 0;
    Returns an array (n, h, w) or (n, h, w, 3). Each tile is stretched to its own
    minimum and maximum: what matters in a filter is its pattern, not its scale.
    """
    W = np.asarray(_first_weights(weights), dtype=np.float64)
    if W.ndim == 2:
        D, H = W.shape
        if image_shape is None:
            side = math.isqrt(D)
            if side * side != D:
                raise ValueError(f"W1 has {D} inputs, not a square grey picture: give "
                                 f"image_shape=(H, W) or (C, H, W)")
            image_shape = (side, side)
        if int(np.prod(image_shape)) != D:
            raise ValueError(f"image_shape {tuple(image_shape)} does not hold {D} inputs")
        tiles = W.T.reshape((H,) + tuple(image_shape))
        if tiles.ndim == 4:  # (units, C, H, W): colour pictures as (H, W, 3)
            tiles = tiles.transpose(0, 2, 3, 1) if tiles.shape[1] == 3 else tiles[:, 0]
    elif W.ndim == 4:
        tiles = W.transpose(0, 2, 3, 1) if W.shape[1] == 3 else W[:, 0]
    else:
        raise ValueError(f"expected W1 of shape (D, H) or (FN, C, FH, FW), got {W.shape}")
    axes = tuple(range(1, tiles.ndim))
    low = tiles.min(axis=axes, keepdims=True)
    span = tiles.max(axis=axes, keepdims=True) - low
    return np.where(span > 0, (tiles - low) / np.where(span > 0, span, 1), 0.5)


def plot_weights(weights, path, image_shape=None, max_tiles=100, title=None):
    """The first layer's weights as a grid of images (light = large), saved to `path`.

    weights is W1 or a network; see weight_tiles for the shapes. At most max_tiles
    images are shown. Returns the path.
    """
    tiles = weight_tiles(weights, image_shape)
    shown = tiles[:max_tiles]
    n = len(shown)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    fig = _figure(max(3, cols * 0.9), max(3, rows * 0.9 + 0.5), layout=None)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=1 - 0.45 / fig.get_figheight(),
                        wspace=0.08, hspace=0.08)
    for ax in axes:
        ax.set_axis_off()
    for k, tile in enumerate(shown):
        axes[k].imshow(tile, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    if title is None:
        what = "filters" if np.ndim(_first_weights(weights)) == 4 else "units"
        title = f"first-layer weights: {n} of {len(tiles)} {what}"
    fig.suptitle(title)
    return _save(fig, path)


# -- activation histograms (chapter 6) -------------------------------------------------
INIT_COMPARISON = (
    ("sigmoid", 1.0), ("sigmoid", 0.01), ("sigmoid", "xavier"),
    ("relu", 0.01), ("relu", "xavier"), ("relu", "he"),
)


def _init_std(weight_init, fan_in):
    if isinstance(weight_init, str):
        key = weight_init.lower()
        if key in ("xavier", "sigmoid"):
            return 1.0 / math.sqrt(fan_in)   # Xavier: keeps the variance through tanh/sigmoid
        if key in ("he", "relu"):
            return math.sqrt(2.0 / fan_in)   # He: twice that, as ReLU zeroes half the inputs
        raise ValueError(f"unknown weight initialisation {weight_init!r}")
    return float(weight_init)


def init_activations(activation="sigmoid", weight_init=1.0, *, num_samples=1000,
                     units=100, num_layers=5, rng=None):
    """The activations of a deep stack of layers at initialisation, the book's experiment.

    num_samples random inputs (standard normal, units wide) go through num_layers
    Affine layers (no bias) each followed by the activation; weights are normal with
    standard deviation weight_init (a number, "xavier" or "he"). Returns a list of
    (num_samples, units) arrays, one per layer. With std 1 sigmoid activations pile up
    at 0 and 1 (vanishing gradients), with 0.01 at 0.5 (every unit alike); Xavier and He
    keep them spread.
    """
    from .layers import Affine, Relu, Sigmoid, Tanh
    kinds = {"sigmoid": Sigmoid, "relu": Relu, "tanh": Tanh}
    if activation not in kinds:
        raise ValueError(f"activation must be one of {sorted(kinds)}, got {activation!r}")
    rng = np.random.default_rng(rng)
    x = rng.standard_normal((num_samples, units))
    activations = []
    for _ in range(num_layers):
        std = _init_std(weight_init, x.shape[1])
        W = rng.standard_normal((x.shape[1], units)) * std
        x = kinds[activation]().forward(Affine(W, np.zeros(units)).forward(x))
        activations.append(x)
    return activations


def _init_label(activation, weight_init):
    if isinstance(weight_init, str):
        return f"{activation}, {weight_init}"
    return f"{activation}, std={weight_init:g}"


def plot_activations(path, configs=INIT_COMPARISON, *, num_layers=5, seed=0, bins=30):
    """Histograms of activations, one row per (activation, weight init) pair and one
    column per layer, saved to `path`; returns the path.

    Values are binned over 0..1 as in the book. ReLU outputs are exactly 0 for about
    half the units; that spike is left out of the y-scale (and its share written in the
    panel) so the rest of the distribution stays visible.
    """
    configs = list(configs)
    height = 1.7 * len(configs) + 0.6
    fig = _figure(2.2 * num_layers + 0.4, height, layout=None)
    axes = np.array(fig.subplots(len(configs), num_layers, squeeze=False))
    fig.subplots_adjust(left=0.6 / (2.2 * num_layers + 0.4), right=0.98, bottom=0.3 / height,
                        top=1 - 0.6 / height, wspace=0.12, hspace=0.3)
    for row, (activation, weight_init) in enumerate(configs):
        acts = init_activations(activation, weight_init, num_layers=num_layers, rng=seed)
        counts = [np.histogram(a.ravel(), bins=bins, range=(0, 1))[0] for a in acts]
        skip_zero_bin = activation == "relu"
        top = max(int(c[1:].max() if skip_zero_bin else c.max()) for c in counts) or 1
        for col, (a, c) in enumerate(zip(acts, counts)):
            ax = axes[row, col]
            edges = np.linspace(0, 1, bins + 1)
            ax.bar(edges[:-1], c, width=edges[1] - edges[0], align="edge", color="#3182bd")
            ax.set_xlim(0, 1)
            ax.set_ylim(0, top * 1.15)
            ax.tick_params(labelsize=7)
            if skip_zero_bin:
                zeros = float(np.mean(a == 0))
                ax.text(0.97, 0.9, f"zeros {zeros:.0%}", transform=ax.transAxes,
                        ha="right", va="top", fontsize=7)
            if row == 0:
                ax.set_title(f"layer {col + 1}", fontsize=9)
            if col == 0:
                ax.set_ylabel(_init_label(activation, weight_init), fontsize=8)
            else:
                ax.set_yticklabels([])
    fig.suptitle("activations at initialisation (1000 samples, 100 units per layer)")
    return _save(fig, path)


# -- evaluating a network on labelled images -------------------------------------------
def plot_confusion_matrix(matrix, path, class_names=None, title=None):
    """A confusion matrix as a picture: rows the true class, columns the prediction,
    each cell's count written in it, the colour its share of the row. Returns the path."""
    matrix = np.asarray(matrix)
    n = matrix.shape[0]
    names = list(class_names) if class_names is not None else [str(k) for k in range(n)]
    rows = matrix.sum(axis=1, keepdims=True)
    share = matrix / np.where(rows > 0, rows, 1)
    fig = _figure(1.0 + 0.55 * n, 0.8 + 0.5 * n)
    ax = fig.subplots()
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            if matrix[i, j]:
                ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=8,
                        color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(n), names, rotation=45 if max(map(len, names)) > 2 else 0)
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = np.trace(matrix) / max(1, matrix.sum())
    ax.set_title(title or f"confusion matrix (accuracy {accuracy:.2%}, {matrix.sum()} samples)")
    return _save(fig, path)


def plot_confusion(network, x, t, path, class_names=None, title=None):
    """Predict x with the network and draw the confusion matrix against t."""
    probabilities = predict_probabilities(network, x)
    matrix = confusion_matrix(t, probabilities.argmax(axis=1), probabilities.shape[1])
    return plot_confusion_matrix(matrix, path, class_names, title)


def most_confident_mistakes(probabilities, t, k=16):
    """The k misclassified samples the network was surest about, surest first.

    Returns a list of dicts {index, true, predicted, confidence}: confidence is the
    probability given to the wrong class.
    """
    probabilities = np.asarray(probabilities)
    t = labels_as_indices(t)
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != t)
    confidence = probabilities[wrong, predicted[wrong]]
    # A stable sort keeps equally confident mistakes in data order: repeatable pictures.
    order = wrong[np.argsort(-confidence, kind="stable")][:k]
    return [{"index": int(i), "true": int(t[i]), "predicted": int(predicted[i]),
             "confidence": float(probabilities[i, predicted[i]])} for i in order]


def _image(sample, image_shape):
    sample = np.asarray(sample, dtype=np.float64)
    if image_shape is not None:
        return sample.reshape(image_shape)
    if sample.ndim == 3 and sample.shape[0] == 1:
        return sample[0]
    if sample.ndim == 3 and sample.shape[0] == 3:
        return sample.transpose(1, 2, 0)
    if sample.ndim == 1:
        side = math.isqrt(sample.size)
        if side * side == sample.size:
            return sample.reshape(side, side)
        raise ValueError(f"a sample of {sample.size} values is not a square image; "
                         f"pass image_shape")
    return sample


def plot_mistakes(network, x, t, path, k=16, image_shape=None, class_names=None):
    """The k test images the network got wrong most confidently, each titled
    "true -> predicted (confidence)", saved to `path`. Returns the path."""
    probabilities = predict_probabilities(network, x)
    mistakes = most_confident_mistakes(probabilities, t, k)
    names = list(class_names) if class_names is not None else None
    label = (lambda c: names[c]) if names else str
    n = max(1, len(mistakes))
    cols = min(n, 8)
    rows = math.ceil(n / cols)
    height = 1.75 * rows + 0.6
    fig = _figure(1.5 * cols + 0.3, height, layout=None)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=1 - 0.55 / height,
                        wspace=0.1, hspace=0.3)
    for ax in axes:
        ax.set_axis_off()
    for ax, m in zip(axes, mistakes):
        image = _image(x[m["index"]], image_shape)
        ax.imshow(image, cmap="gray", interpolation="nearest")
        ax.set_title(f"{label(m['true'])} \u2192 {label(m['predicted'])} ({m['confidence']:.0%})",
                     fontsize=8, color="#b2182b")
    if mistakes:
        fig.suptitle(f"most confident mistakes: true \u2192 predicted (confidence), "
                     f"{len(mistakes)} of {int(np.sum(probabilities.argmax(1) != labels_as_indices(t)))} wrong")
    else:
        fig.suptitle("no mistakes")
    return _save(fig, path)
