"""Data sets for chainrule: MNIST, Fashion-MNIST and the bundled mnist-10k.

The book's loader::

    from chainrule.datasets import load_mnist
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, one_hot_label=True)

works offline first: it looks for the files in ``data_dir``, ``$CHAINRULE_DATA``,
the user cache and system copies before downloading (see :mod:`.mnist`), checks
every file it reads (:mod:`.idx`), verifies every download by MD5
(:mod:`.download`) and keeps parsed arrays as memory-mapped ``.npy`` files in the
user cache (:mod:`.cache`).  Nothing is ever pickled.

``load_dataset("mnist-10k")`` needs no files at all: it splits the real MNIST test
set shipped with the package into 8,000 training and 2,000 test digits.

``load_dataset("shakespeare")`` is tiny Shakespeare, shipped with the package, as a
stream of characters for language models (:mod:`.text`; ``load_text(PATH)`` reads any
UTF-8 text the same way).

``load_dataset(PATH)`` reads data of your own: an .npz, a CSV or a folder of images in
one subfolder per class (:mod:`.owndata`; ``read_data(PATH)`` also gives the class
names and the preprocessing). A known data set's name wins over a path spelt the same.
"""

import os

import numpy as np

from .cache import user_cache_dir
from .download import MD5, MIRRORS, download_file, download_files, get_mirrors
from .idx import (
    DatasetError,
    read_idx,
    read_image_label_pair,
    read_images,
    read_labels,
    write_idx,
)
from .mnist import (
    BUNDLED_DIR,
    CLASS_NAMES,
    DATA_ENV,
    DATASETS,
    SYSTEM_DIRS,
    DatasetChoice,
    dataset_available,
    find_dataset,
    load_fashion_mnist,
    load_mnist,
    mnist10k_split,
    resolve_dataset,
)

__all__ = [
    "BUNDLED_DIR",
    "CLASS_NAMES",
    "DATA_ENV",
    "DATASETS",
    "MD5",
    "MIRRORS",
    "SYSTEM_DIRS",
    "DatasetChoice",
    "DatasetError",
    "dataset_available",
    "download_file",
    "download_files",
    "find_dataset",
    "get_mirrors",
    "load_dataset",
    "load_fashion_mnist",
    "load_mnist",
    "load_text",
    "model_vocabulary",
    "mnist10k_split",
    "read_idx",
    "read_image_label_pair",
    "read_images",
    "read_labels",
    "read_data",
    "OwnData",
    "TEXT_DATASETS",
    "TextData",
    "Vocabulary",
    "resolve_dataset",
    "user_cache_dir",
    "write_idx",
]

from . import mnist as _mnist
from .owndata import OwnData, read_data
from .text import TEXT_DATASETS, TextData, Vocabulary, load_text, model_vocabulary


# The book's load_mnist(normalize, flatten, one_hot_label), which data of your own
# takes too, positionally or by name.
BOOK_ARGUMENTS = ("normalize", "flatten", "one_hot_label")


def load_dataset(name, *args, **kwargs):
    """``((x_train, t_train), (x_test, t_test))`` of a known data set (see
    :func:`.mnist.load_dataset` for its arguments) or of a path to data of your own;
    for a text ("shakespeare"), the :class:`TextData` of :func:`load_text`. A known
    name wins over a path of the same spelling; anything else that is not an existing
    path is an error naming both possibilities.

    Data of your own takes the book's ``normalize``, ``flatten`` and ``one_hot_label``
    (positionally too, as ``load_mnist``) besides :func:`read_data`'s keywords. Its
    samples come as they are read (pictures (N, C, H, W), tables and .npz as stored)
    unless ``flatten`` says: True gives rows (N, features), False keeps pictures as
    pictures. ``normalize`` must be True: pictures are scaled to [0, 1] and tables
    standardised, as a model trained on them reads them."""
    key = str(name).strip().lower().replace("_", "-")
    if key in DATASETS:
        return _mnist.load_dataset(name, *args, **kwargs)
    if key in TEXT_DATASETS:
        return load_text(key, *args, **kwargs)
    if not os.path.exists(os.fspath(name)):
        known = ", ".join([*DATASETS, *TEXT_DATASETS])
        raise ValueError(f"unknown data set {name!r}: not one of {known}, "
                         f"and no such file or folder")
    return _own_data(name, args, kwargs)


def _own_data(path, args, kwargs):
    """load_dataset for data of your own: read_data, then the book's arguments."""
    import inspect
    if len(args) > len(BOOK_ARGUMENTS):
        raise TypeError(f"load_dataset({os.fspath(path)!r}) takes at most "
                        f"{len(BOOK_ARGUMENTS)} arguments after the path "
                        f"({', '.join(BOOK_ARGUMENTS)}), got {len(args)}")
    book = dict(zip(BOOK_ARGUMENTS, args))
    twice = sorted(set(book) & set(kwargs))
    if twice:
        raise TypeError(f"load_dataset got {', '.join(twice)} both by position and by name")
    book.update({k: kwargs.pop(k) for k in BOOK_ARGUMENTS if k in kwargs})
    allowed = [p for p in inspect.signature(read_data).parameters if p != "path"]
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise TypeError(f"load_dataset({os.fspath(path)!r}): unknown argument(s) "
                        f"{', '.join(unknown)}; data of your own takes "
                        f"{', '.join(BOOK_ARGUMENTS + tuple(allowed))}")
    if not book.get("normalize", True):
        raise ValueError("normalize=False: data of your own comes as a model reads it "
                         "(pictures scaled to [0, 1], tables standardised); leave "
                         "normalize out")
    data = read_data(path, **kwargs)
    flatten, one_hot = book.get("flatten"), book.get("one_hot_label", False)
    parts = []
    for x, t in data.as_tuple():
        if flatten:
            x = x.reshape(len(x), -1)
        elif flatten is not None and x.ndim == 2:
            raise ValueError(f"flatten=False: the samples of {os.fspath(path)} are rows "
                             f"of {x.shape[1]} features, not pictures to keep whole")
        if one_hot:
            rows = np.zeros((len(t), len(data.class_names)), dtype=x.dtype)
            rows[np.arange(len(t)), t] = 1
            t = rows
        parts.append((x, t))
    return tuple(parts)
