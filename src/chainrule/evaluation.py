"""Measuring a trained network: class probabilities in chunks, and the confusion matrix.

Used by `chainrule evaluate` and `predict`, the pictures of plot.py and the web page.
"""

import numpy as np

from .functions import NonFiniteError, softmax

__all__ = ["predict_probabilities", "confusion_matrix", "labels_as_indices"]


def labels_as_indices(t):
    """Labels, (N,) class indices or (N, C) one-hot, as (N,) indices; the number of
    classes is not needed (nor checked) here, unlike functions.class_indices."""
    t = np.asarray(t)
    if t.ndim == 2:
        return t.argmax(axis=1)
    if t.ndim != 1:
        raise ValueError(f"labels must be (N,) class indices or (N, C) one-hot, got {t.shape}")
    return t.astype(np.int64)


def predict_probabilities(network, x, batch_size=500):
    """softmax(network.predict(x)) in chunks of batch_size, in inference mode: (N, C).

    Raises NonFiniteError when a score is NaN or infinite: the model is broken (its
    weights overflow the dtype or hold NaN), and the argmax of such scores, or the
    softmax's NaN, would be reported as if it were an answer.
    """
    x = np.asarray(x)
    chunks = []
    for i in range(0, len(x), batch_size):
        with np.errstate(over="ignore", invalid="ignore"):  # checked just below
            scores = np.asarray(network.predict(x[i:i + batch_size]), dtype=np.float64)
        if not np.isfinite(scores).all():
            bad = int(np.count_nonzero(~np.isfinite(scores).all(axis=1)))
            raise NonFiniteError(
                f"the model's scores are NaN or infinite for {bad} of the samples "
                f"{i} to {i + len(scores) - 1}: the model is broken (its weights "
                f"overflow or hold NaN); retrain it, e.g. with a smaller learning rate")
        chunks.append(softmax(scores))
    if not chunks:
        raise ValueError("no samples to predict")
    return np.concatenate(chunks)


def confusion_matrix(t_true, t_pred, num_classes=None):
    """counts[i, j] = how many samples of class i were predicted as class j."""
    t_true = labels_as_indices(t_true)
    t_pred = labels_as_indices(t_pred)
    if t_true.shape != t_pred.shape:
        raise ValueError(f"{t_true.shape[0]} labels but {t_pred.shape[0]} predictions")
    if num_classes is None:
        num_classes = int(max(t_true.max(initial=0), t_pred.max(initial=0))) + 1
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (t_true, t_pred), 1)
    return counts
