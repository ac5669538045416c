"""The data a command works on: a named data set, or data of one's own read as the
command line asks, or as a checkpoint records it was read at training time."""

import os
import sys

from .common import CommandError, dataset_message, note

# chainrule.datasets is imported by the functions that read data, not here: --help
# needs none of it.


def load_data(name, data_dir=None, quiet=False, download=True):
    """((x_train, t_train), (x_test, t_test)) and the name of the set actually loaded.

    "auto" is full MNIST if it is on this machine already, else the bundled 8,000/2,000
    digits, saying so in one line.
    """
    from .. import datasets
    if name == "auto" and data_dir is not None:
        name = dataset_in(data_dir)
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


def dataset_in(data_dir):
    """The named data set whose published files the folder holds (directly or in a
    subfolder of its name), told by its labels file's MD5: MNIST's and Fashion-MNIST's
    files have the same names, so the names cannot say. DatasetError for a folder
    that holds neither (missing, empty, partial, or files of one's own)."""
    import hashlib
    from ..datasets import MD5, DatasetError
    folder = os.fspath(data_dir)
    if not os.path.isdir(folder):
        raise DatasetError(f"--data-dir {folder}: no such folder")
    for name, sums in MD5.items():
        for place in (folder, os.path.join(folder, name)):
            path = os.path.join(place, "train-labels-idx1-ubyte.gz")
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    if hashlib.md5(f.read()).hexdigest() == sums["train-labels-idx1-ubyte.gz"]:
                        return name
    raise DatasetError(f"--data-dir {folder} holds neither MNIST's nor Fashion-MNIST's "
                       f"published files, so --dataset auto cannot tell which data set it "
                       f"is: give --dataset mnist or --dataset fashion-mnist to read its "
                       f"four IDX files as that one")


def _read_options(args):
    """read_data's keyword arguments from the command line (a new run's data)."""
    return {"label_column": getattr(args, "label_column", None),
            "image_size": getattr(args, "image_size", None),
            "color": getattr(args, "color", "auto"),
            "test_fraction": getattr(args, "test_fraction", 0.2)}


def load_own_data(path, args, quiet=False):
    """Data of one's own read as the options say, for a new run: ((x_train, t_train),
    (x_test, t_test)) and the record of how a model's inputs are made from it
    (network.inputs, see chainrule.datasets.inputs)."""
    from ..datasets import read_data
    from ..datasets.inputs import own_inputs
    data = read_data(path, **_read_options(args))
    if data.note and not quiet:
        note(data.note)
    description = data.describe()
    description["path"] = os.path.abspath(os.fspath(path))
    return data.as_tuple(), own_inputs(description)


def load_like(record, path=None):
    """Data of one's own (`path`, default the model's own) read as a model's record
    says its data was read (chainrule.datasets.inputs.read_like)."""
    from ..datasets.inputs import read_like
    return read_like(record, path)


def load_named(name, data_dir=None, quiet=False, download=True, words=None):
    """load_data, with a data set's error as a CommandError in the command's words
    (`words`: how some of its phrases are said instead, see common.DATASET_WORDS)."""
    from ..datasets import DatasetError
    try:
        return load_data(name, data_dir, quiet, download)
    except DatasetError as exc:
        raise CommandError(dataset_message(exc, **(words or {}))) from None
