"""`chainrule evaluate` and `chainrule predict`: a saved model measured on a test set,
or asked about images and samples of one's own."""

import argparse
import json
import os

import numpy as np

from ..evaluation import (confusion_matrix, per_class_scores, predict_probabilities,
                          top_k_accuracy)
from ..functions import NonFiniteError
from .common import (CommandError, checkpoint_class_names, dataset_message, error,
                     inputs_of, load_model_file, note, saved_dataset)
from .data import load_like, load_named, load_own_data
from .options import (add_data_options, add_own_data_options, own_data_options_given,
                      positive_int)
from .text import evaluate_language_model


# -- evaluate --------------------------------------------------------------------------
def _test_set(args, checkpoint):
    """(x_test, t_test, name) to measure the model on: --data, else the model's own
    data, else --dataset (auto: the data set the model was trained on), read as the
    model's record of its inputs says."""
    record = inputs_of(checkpoint, args.model)
    own = record is not None and record.get("source") and args.dataset == "auto"
    if args.data or own:
        path = args.data or record["source"]
        given = own_data_options_given(args) if record is not None else []
        if given:
            raise CommandError(f"{' and '.join(given)}: {args.model} records how its data "
                               f"was read (its test split, columns, picture size and "
                               f"colour), and --data is read that way, so that no sample "
                               f"it was trained on is measured; leave "
                               f"{'them' if len(given) > 1 else 'it'} out")
        try:
            if record is not None:
                _, (x_test, t_test) = load_like(record, path)
            else:
                note(f"{args.model} does not record how its data was read; reading {path} "
                     f"with the options given")
                (_, (x_test, t_test)), _ = load_own_data(path, args, quiet=True)
        except (ValueError, ImportError) as exc:  # own data that cannot be read as needed
            raise CommandError(dataset_message(exc)) from None
        return x_test, t_test, os.path.basename(os.path.normpath(path))
    dataset = args.dataset
    if dataset == "auto" and record is not None:  # the data the model was trained on
        dataset = record.get("dataset") or "auto"
    ((_, _), (x_test, t_test)), dataset = load_named(dataset, args.data_dir, args.quiet)
    return x_test, t_test, dataset


def _check_fits(args, model, x_test, t, dataset):
    """CommandError unless the model takes these samples and knows these labels."""
    n_features = int(np.prod(x_test.shape[1:]))
    expected = int(np.prod(model.input_shape))
    if expected != n_features:
        raise CommandError(f"{args.model} takes inputs of {expected} values; the {dataset} "
                           f"samples have {n_features}")
    if t.max() >= model.output_size:
        raise CommandError(f"{args.model} knows {model.output_size} classes; the {dataset} "
                           f"labels go up to {t.max()}")


def _probabilities(model, x, path, **kwargs):
    try:
        return predict_probabilities(model, x, **kwargs)
    except NonFiniteError as exc:
        raise CommandError(f"{path}: {exc}") from None


def cmd_evaluate(args):
    if args.data and args.dataset != "auto":
        raise CommandError("give --data PATH or --dataset NAME, not both")
    checkpoint = load_model_file(args.model)
    model = checkpoint.model
    from ..datasets import model_vocabulary
    vocab = model_vocabulary(model)
    if vocab is not None:
        return evaluate_language_model(args, checkpoint, vocab)
    x_test, t_test, dataset = _test_set(args, checkpoint)
    # The default (1 and 3) is cut to the classes there are; K asked for is refused.
    top_k = args.top_k or [k for k in (1, 3) if k <= model.output_size]
    beyond = sorted({k for k in top_k if k > model.output_size})
    if beyond:
        raise CommandError(f"--top-k {' '.join(map(str, beyond))}: {args.model} knows "
                           f"{model.output_size} classes")
    t = np.asarray(t_test).astype(int)
    _check_fits(args, model, x_test, t, dataset)
    if len(model.input_shape) == 1:
        x_test = x_test.reshape(len(x_test), -1)
    n_classes = model.output_size
    probs = _probabilities(model, x_test, args.model, batch_size=1000)
    pred = probs.argmax(axis=1)
    cm = confusion_matrix(t, pred, n_classes)
    figures = {"dataset": dataset, "names": checkpoint_class_names(checkpoint, dataset,
                                                                    n_classes),
               "cm": cm, "accuracy": float(np.mean(pred == t)), "samples": len(t),
               "per_class": cm.diagonal() / np.maximum(cm.sum(axis=1), 1),
               "scores": per_class_scores(cm),
               "top_k": {str(k): top_k_accuracy(probs, t, k)
                         for k in sorted(set(top_k))}}
    if args.json:
        print(_as_json(figures))
    else:
        _print_figures(args.model, figures)
    return 0


def _as_json(f):
    scores = f["scores"]
    return json.dumps({"dataset": f["dataset"], "accuracy": f["accuracy"],
                       "per_class_accuracy": f["per_class"].tolist(),
                       "class_names": f["names"], "confusion_matrix": f["cm"].tolist(),
                       "samples": int(f["samples"]),
                       "precision": scores["precision"].tolist(),
                       "recall": scores["recall"].tolist(),
                       "f1": scores["f1"].tolist(),
                       "support": scores["support"].tolist(),
                       "macro_avg": scores["macro"], "weighted_avg": scores["weighted"],
                       "top_k_accuracy": f["top_k"]})


def _print_figures(path, f):
    names, cm, scores, n = f["names"], f["cm"], f["scores"], f["samples"]
    print(f"{path}: accuracy {f['accuracy']:.4f} on the {n} test samples of {f['dataset']}")
    print("top-k accuracy: " + "  ".join(f"top-{k} {v:.4f}" for k, v in f["top_k"].items()))
    print("per-class accuracy:")
    labels = [f"{i} {names[i]}" if names[i] != str(i) else str(i) for i in range(len(cm))]
    for i, acc in enumerate(f["per_class"]):
        print(f"  {labels[i]:<16} {acc:.4f}  ({cm[i].sum()} samples)")
    print("per-class precision, recall and F1:")
    width = max(16, max(len(label) for label in labels) + 2)
    print(f"  {'class':<{width}} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>9}")
    for i, label in enumerate(labels):
        print(f"  {label:<{width}} {scores['precision'][i]:>9.4f} {scores['recall'][i]:>9.4f} "
              f"{scores['f1'][i]:>9.4f} {scores['support'][i]:>9d}")
    for kind in ("macro", "weighted"):
        avg = scores[kind]
        print(f"  {kind + ' avg':<{width}} {avg['precision']:>9.4f} {avg['recall']:>9.4f} "
              f"{avg['f1']:>9.4f} {n:>9d}")
    print("confusion matrix (rows: true class, columns: predicted):")
    width = max(5, len(str(cm.max())) + 1)
    print("    " + "".join(f"{j:>{width}}" for j in range(cm.shape[1])))
    for i, row in enumerate(cm):
        print(f"{i:>3} " + "".join(f"{v:>{width}}" for v in row))


# -- predict ---------------------------------------------------------------------------
def _samples(path, record):
    """[(label, x)] of one file given to predict, prepared as the model's record says
    (a picture of a digit as MNIST's were made, without one), or None after saying
    why not."""
    from ..datasets.inputs import prepare_file
    from ..images import load_digit
    try:
        if record is None:
            return [(path, load_digit(path)[None, :])]
        return prepare_file(record, path)
    except (ValueError, ImportError, OSError) as exc:  # DatasetError is a ValueError
        error(dataset_message(exc))
        return None


def _predict_one(args, model, where, x, names):
    """Print the classes of one sample; False (after saying why) if it does not fit."""
    expected = int(np.prod(model.input_shape))
    if int(np.prod(x.shape[1:])) != expected:
        error(f"{where}: {int(np.prod(x.shape[1:]))} values; {args.model} takes {expected}")
        return False
    if len(model.input_shape) == 1:
        x = x.reshape(len(x), -1)
    probs = _probabilities(model, x, args.model)[0]
    top = np.argsort(probs, kind="stable")[::-1][:args.top]

    def label(k):
        return str(k) if names[k] == str(k) else f"{k} {names[k]}"
    ranked = "  ".join(f"{label(k)}: {probs[k]:.3f}" for k in top)
    print(f"{where}: {label(top[0])}   ({ranked})")
    return True


def cmd_predict(args):
    checkpoint = load_model_file(args.model)
    model = checkpoint.model
    record = inputs_of(checkpoint, args.model)
    expected = int(np.prod(model.input_shape))
    if record is None and expected != 784:
        raise CommandError(f"{args.model} takes inputs of {expected} values, not 28x28 images")
    names = checkpoint_class_names(checkpoint, saved_dataset(checkpoint) or "mnist",
                                   model.output_size)
    status = 0
    for path in args.images:
        samples = _samples(path, record)
        if samples is None:
            status = 2
            continue
        for where, x in samples:
            if not _predict_one(args, model, where, x, names):
                status = 2
    return status


# -- the parsers -----------------------------------------------------------------------
def register(sub):
    """Add `evaluate` and `predict` to an argparse subparsers object."""
    p = sub.add_parser("evaluate", help="accuracy, per-class accuracy and confusion matrix",
                       description="Evaluate a saved model on a data set's test split.")
    p.add_argument("model", metavar="MODEL", help="checkpoint file (.npz)")
    add_data_options(p)
    add_own_data_options(p)
    p.add_argument("--top-k", type=positive_int, nargs="+", default=None, metavar="K",
                   help="report top-K accuracy for each K (default: 1 3)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--quiet", "-q", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="classify images of digits, or samples of your own",
                       description="Classify PNG/JPEG images of digits (any size, either "
                                   "polarity): each is converted as MNIST digits were made "
                                   "(grey, 20x20 box centred by mass in 28x28, white on black). "
                                   "A model takes what its data was, as its checkpoint "
                                   "records: a Fashion-MNIST model's pictures are resized to "
                                   "28x28 as they are; a model trained with --data takes "
                                   "images (resized and coloured as at training), CSV files "
                                   "of rows (columns matched by name when there is a "
                                   "header), or .npz files with an array x.")
    p.add_argument("model", metavar="MODEL", help="checkpoint file (.npz)")
    p.add_argument("images", metavar="IMAGE", nargs="+", help="image files")
    p.add_argument("--top", type=positive_int, default=3,
                   help="how many classes to show (default: 3)")
    p.set_defaults(func=cmd_predict)
