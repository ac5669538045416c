"""Measuring a trained network: class probabilities in chunks, and the confusion matrix.

Used by `chainrule evaluate` and `predict`, the pictures of plot.py and the web page.
"""

import numpy as np

from .functions import NonFiniteError, softmax

__all__ = ["predict_probabilities", "confusion_matrix", "labels_as_indices",
           "per_class_scores", "top_k_accuracy"]


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


def per_class_scores(counts):
    """Per-class precision, recall, F1 and support from a confusion matrix.

    precision_c = counts[c, c] / (column c's sum): of the samples called c, the share
    that are c; recall_c = counts[c, c] / (row c's sum): of the samples of c, the share
    found; F1 = 2 p r / (p + r), their harmonic mean. A ratio with nothing to count
    (no sample called c, no sample of c) is 0, as scikit-learn reports it.
    Returns a dict of arrays (precision, recall, f1, support) and the macro averages
    (the mean over the classes, each class counting once) and weighted averages
    (weighted by support).
    """
    counts = np.asarray(counts, dtype=np.float64)
    correct = counts.diagonal()
    called, actual = counts.sum(axis=0), counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(called > 0, correct / called, 0.0)
        recall = np.where(actual > 0, correct / actual, 0.0)
        f1 = np.where(precision + recall > 0,
                      2 * precision * recall / (precision + recall), 0.0)
    support = actual.astype(np.int64)
    weights = actual / max(actual.sum(), 1)
    return {
        "precision": precision, "recall": recall, "f1": f1, "support": support,
        "macro": {"precision": float(precision.mean()), "recall": float(recall.mean()),
                  "f1": float(f1.mean())},
        "weighted": {"precision": float(weights @ precision),
                     "recall": float(weights @ recall), "f1": float(weights @ f1)},
    }


def top_k_accuracy(probabilities, t, k):
    """The share of samples whose label is among the k highest scores (k=1: accuracy).

    Ties at the k-th place count as found only if the label's score is strictly above
    the (k+1)-th: a label tied with classes left out is not credited.
    """
    probabilities = np.asarray(probabilities)
    t = labels_as_indices(t)
    n, classes = probabilities.shape
    if not 1 <= k:
        raise ValueError(f"k must be at least 1, got {k}")
    if k >= classes:
        return 1.0
    own = probabilities[np.arange(n), t]
    # The label is in the top k when fewer than k classes score higher.
    higher = np.count_nonzero(probabilities > own[:, None], axis=1)
    tied = np.count_nonzero(probabilities == own[:, None], axis=1) - 1
    return float(np.mean(higher + tied < k))
