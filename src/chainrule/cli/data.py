"""The data a command works on: a named data set, or data of one's own read as the
command line asks, or as a checkpoint records it was read at training time."""

import os
import sys

import numpy as np

from .common import CommandError, dataset_message, note

# chainrule.datasets is imported by the functions that read data, not here: --help
# needs none of it.


def load_data(name, data_dir=None, quiet=False, download=True):
    """((x_train, t_train), (x_test, t_test)) and the name of the set actually loaded.

    "auto" is full MNIST if it is on this machine already, else the bundled 8,000/2,000
    digits, saying so in one line.
    """
    from .. import datasets
    if name == "auto":
        if datasets.dataset_available("mnist", data_dir=data_dir):
            name = "mnist"
        else:
            if not quiet:
                print("full MNIST is not on this machine (use --dataset mnist to download it); "
                      "using the bundled mnist-10k digits (8,000 train / 2,000 test)",
                      file=sys.stderr)
            name = "mnist-10k"
    data = datasets.load_dataset(name, normalize=True, flatten=True, one_hot_label=False,
                                 data_dir=data_dir, download=download)
    return data, name


def _read_options(args, saved=None):
    """read_data's keyword arguments from the command line, or from a checkpoint's
    record of how the data was read (saved), which then wins: a model must see its
    data as it was trained on."""
    if saved:
        prep = saved.get("preprocessing") or {}
        split = prep.get("test_split") or {}
        options = {"test_fraction": split.get("fraction", 0.2), "split_seed": split.get("seed", 0)}
        if prep.get("kind") == "csv":
            options["label_column"] = prep.get("label_column")
            options["header"] = prep.get("header")
        if prep.get("kind") == "images":
            options["color"] = prep.get("color", "auto")
            options["image_size"] = prep.get("size") if prep.get("resize") else None
        return options
    return {"label_column": getattr(args, "label_column", None),
            "image_size": getattr(args, "image_size", None),
            "color": getattr(args, "color", "auto"),
            "test_fraction": getattr(args, "test_fraction", 0.2)}


def load_own_data(path, args, saved=None, quiet=False):
    """Data of one's own for train/evaluate: ((x_train, t_train), (x_test, t_test)) and
    the JSON record a checkpoint keeps (path, classes, input shape, preprocessing).

    With `saved` (a checkpoint's record) the file is read as at training time and the
    saved standardisation is applied, not one measured again on this file.
    """
    from ..datasets import read_data
    from ..datasets.owndata import apply_preprocessing
    options = _read_options(args, saved)
    prep = (saved or {}).get("preprocessing") or {}
    standardize = not saved
    data = read_data(path, standardize=standardize, **options)
    if data.note and not quiet and not saved:
        note(data.note)
    (x_train, t_train), (x_test, t_test) = data.as_tuple()
    if saved:
        if "mean" in prep:
            x_train = apply_preprocessing(x_train, prep)
            x_test = apply_preprocessing(x_test, prep)
        names = list(saved.get("class_names") or [])
        if data.class_names != names:
            t_train = _relabel(t_train, data.class_names, names, path)
            t_test = _relabel(t_test, data.class_names, names, path)
    record = data.describe()
    record["path"] = os.path.abspath(os.fspath(path))
    record["read"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in options.items()}
    return ((x_train, t_train), (x_test, t_test)), record


def _relabel(t, names_here, names_model, path):
    """Labels of a file re-read now, as indices into the model's classes."""
    from ..datasets import DatasetError
    lookup = {name: i for i, name in enumerate(names_model)}
    unknown = sorted(set(names_here) - set(lookup))
    if unknown:
        raise DatasetError(f"{path}: class(es) {', '.join(unknown)} are not among the "
                           f"model's classes ({', '.join(names_model)})")
    mapping = np.array([lookup[name] for name in names_here], dtype=np.int64)
    return mapping[t]


def load_named(name, data_dir=None, quiet=False, download=True, words=None):
    """load_data, with a data set's error as a CommandError in the command's words
    (`words`: how some of its phrases are said instead, see common.DATASET_WORDS)."""
    from ..datasets import DatasetError
    try:
        return load_data(name, data_dir, quiet, download)
    except DatasetError as exc:
        raise CommandError(dataset_message(exc, **(words or {}))) from None
