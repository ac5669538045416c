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


def load_dataset(name, *args, **kwargs):
    """``((x_train, t_train), (x_test, t_test))`` of a known data set (see
    :func:`.mnist.load_dataset` for its arguments) or of a path to data of your own
    (keyword arguments as :func:`read_data`); for a text ("shakespeare"), the
    :class:`TextData` of :func:`load_text`. A known name wins over a path of the
    same spelling; anything else that is not an existing path is an error naming both
    possibilities."""
    key = str(name).strip().lower().replace("_", "-")
    if key in DATASETS:
        return _mnist.load_dataset(name, *args, **kwargs)
    if key in TEXT_DATASETS:
        return load_text(key, *args, **kwargs)
    import os
    if not os.path.exists(os.fspath(name)):
        known = ", ".join([*DATASETS, *TEXT_DATASETS])
        raise ValueError(f"unknown data set {name!r}: not one of {known}, "
                         f"and no such file or folder")
    if args:
        raise TypeError("data of your own takes keyword arguments only (see read_data)")
    return read_data(name, **kwargs).as_tuple()
