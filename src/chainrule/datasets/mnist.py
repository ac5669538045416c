"""MNIST, Fashion-MNIST and the bundled mnist-10k, loaded the way the book does.

``load_mnist(normalize=True, flatten=True, one_hot_label=False)`` returns
``((x_train, t_train), (x_test, t_test))`` exactly like the book's loader, but
finds its files offline first and never unpickles anything.

A folder named with ``data_dir`` is authoritative: the files are read from it (the
folder itself, or its subfolder ``<name>/``) and from nowhere else. If it lacks a file,
the error says which; a folder holding none of them yet is where ``download=True``
puts them. Without ``data_dir`` the files are looked for in this order (the first place
holding all four files wins; each file may be gzip-compressed ``<name>.gz`` or raw
``<name>``):

1. ``$CHAINRULE_DATA/<name>/``, e.g. ``$CHAINRULE_DATA/mnist/`` and
   ``$CHAINRULE_DATA/fashion-mnist/`` (subfolders, because the files of the two
   data sets have the same names);
3. the user cache ``$XDG_CACHE_HOME/chainrule/<name>/`` (``~/.cache/...``),
   which is also where downloads go;
4. copies the system already has (:data:`SYSTEM_DIRS`; Debian's
   ``dataset-fashion-mnist`` package installs /usr/share/datasets/fashion-mnist);
5. if ``download=True``, a download from the mirrors into the user cache,
   every file verified against its published MD5.

Files found on disk are checked by parsing them (Debian re-compressed its copy,
so its MD5s differ from the published ones); downloads are checked by MD5.

``mnist-10k`` is the real MNIST test set shipped inside the package (10,000
digits), split into 8,000 training images (the first of the file) and 2,000 test images
(the last); it needs no files and
no network, which makes it the fallback of choice for demos and tests.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import cache, download
from .idx import DatasetError, Phrase, read_image_label_pair

__all__ = [
    "DATASETS",
    "CLASS_NAMES",
    "DATA_ENV",
    "SYSTEM_DIRS",
    "BUNDLED_DIR",
    "DatasetChoice",
    "load_mnist",
    "load_fashion_mnist",
    "load_dataset",
    "find_dataset",
    "dataset_available",
    "resolve_dataset",
    "mnist10k_split",
]

DATASETS = ("mnist", "fashion-mnist", "mnist-10k")

CLASS_NAMES = {
    "mnist": [str(digit) for digit in range(10)],
    "mnist-10k": [str(digit) for digit in range(10)],
    "fashion-mnist": [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ],
}

# The environment variable naming a folder with one subfolder per data set.
DATA_ENV = "CHAINRULE_DATA"

# Copies installed by the operating system's package manager.
SYSTEM_DIRS = {
    "mnist": (),
    "fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"),),
}

# The real MNIST test set, shipped with the package.
BUNDLED_DIR = Path(__file__).resolve().parent / "data"

# The source files of each split, without the .gz suffix.
_FILE_STEMS = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_BUNDLED_FILES = (
    BUNDLED_DIR / "t10k-images-idx3-ubyte.gz",
    BUNDLED_DIR / "t10k-labels-idx1-ubyte.gz",
)

MNIST10K_TEST_SIZE = 2000
# Part of the parsed-array cache key: change it whenever the split changes.
_MNIST10K_TAG = f"mnist-10k head-tail-split v2 test={MNIST10K_TEST_SIZE}"

_TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "mnist-10k": "mnist-10k"}


class DatasetChoice(NamedTuple):
    """Which data set :func:`resolve_dataset` settled on, and why.

    ``message`` is None when the requested data set is available, otherwise one
    line telling the user that the bundled mnist-10k is used instead.
    """

    name: str
    message: str | None


# ---------------------------------------------------------------------------
# Public loaders
# ---------------------------------------------------------------------------


def load_mnist(
    normalize=True,
    flatten=True,
    one_hot_label=False,
    *,
    data_dir=None,
    download=True,
    dtype=None,
    mirrors=None,
    progress=True,
    cache_dir=None,
):
    """Load MNIST: 60,000 training and 10,000 test images of handwritten digits.

    The book's loader, with the same arguments and return value.  See
    :func:`load_dataset` for every parameter and the module docstring for where
    the files are looked for.

    Returns
    -------
    ((x_train, t_train), (x_test, t_test))
    """
    return load_dataset(
        "mnist", normalize, flatten, one_hot_label,
        data_dir=data_dir, download=download, dtype=dtype, mirrors=mirrors,
        progress=progress, cache_dir=cache_dir,
    )


def load_fashion_mnist(
    normalize=True,
    flatten=True,
    one_hot_label=False,
    *,
    data_dir=None,
    download=True,
    dtype=None,
    mirrors=None,
    progress=True,
    cache_dir=None,
):
    """Load Fashion-MNIST: 60,000 + 10,000 images of clothes in 10 classes.

    Same arguments and return value as :func:`load_mnist`; the class names are
    ``CLASS_NAMES["fashion-mnist"]``.  On Debian or Ubuntu,
    ``apt-get install dataset-fashion-mnist`` provides the files offline.
    """
    return load_dataset(
        "fashion-mnist", normalize, flatten, one_hot_label,
        data_dir=data_dir, download=download, dtype=dtype, mirrors=mirrors,
        progress=progress, cache_dir=cache_dir,
    )


def load_dataset(
    name,
    normalize=True,
    flatten=True,
    one_hot_label=False,
    *,
    data_dir=None,
    download=True,
    dtype=None,
    mirrors=None,
    progress=True,
    cache_dir=None,
    fallback_to_bundled=False,
):
    """Load one of :data:`DATASETS` as ``((x_train, t_train), (x_test, t_test))``.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist", "mnist-10k"}
        The data set (case and ``_`` versus ``-`` do not matter).
    normalize : bool
        True: pixel values scaled to [0, 1] as floats.  False: the raw 0..255.
    flatten : bool
        True: images of shape (N, 784).  False: (N, 1, 28, 28), for convolutions.
    one_hot_label : bool
        True: labels of shape (N, 10), one-hot, in the images' dtype.
        False: integer class labels of shape (N,) and dtype int64.
    data_dir : str or os.PathLike, optional
        A folder holding the four files (directly or in ``<name>/``); looked at first.
    download : bool
        Download from the mirrors if no copy is found on disk.
    dtype : numpy dtype, optional
        The images' dtype.  Default float32 when normalizing, else uint8.
        Normalizing needs a floating dtype.
    mirrors : list of str, optional
        Base URLs to download from, replacing the built-in mirror list.
    progress : bool
        Show a download progress bar when tqdm is installed.
    cache_dir : str or os.PathLike, optional
        The cache root, instead of ``$XDG_CACHE_HOME/chainrule``.
    fallback_to_bundled : bool
        If ``name`` is "mnist" and full MNIST cannot be found or downloaded, load
        mnist-10k instead and say so in a UserWarning.  (Use
        :func:`resolve_dataset` to learn the choice and print the message yourself.)

    Returns
    -------
    ((x_train, t_train), (x_test, t_test))
        NumPy arrays.  With ``normalize=False`` and the default dtype the images
        are read-only views of the memory-mapped cache: copy them
        (``x.copy()``) before writing into them.

    Raises
    ------
    DatasetError
        If the files cannot be found or downloaded (the message lists every place
        looked and how to fix it), or if a file is corrupt.
    """
    name = _canonical_name(name)
    image_dtype = _image_dtype(normalize, dtype)
    cache_root = Path(cache_dir) if cache_dir is not None else cache.user_cache_dir()
    if fallback_to_bundled:
        choice = resolve_dataset(
            name, fallback_to_bundled=True, data_dir=data_dir, download=download,
            mirrors=mirrors, progress=progress, cache_dir=cache_dir,
        )
        if choice.message:
            warnings.warn(choice.message, UserWarning, stacklevel=2)
        name = choice.name
    sources = _locate(name, data_dir, download, mirrors, progress, cache_root)
    arrays = _load_uint8(name, sources, cache_root)
    return _present(arrays, normalize, flatten, one_hot_label, image_dtype)


def find_dataset(name, *, data_dir=None, cache_dir=None) -> list[Path] | None:
    """The source files of data set ``name`` found on disk, or None; never downloads.

    Returns the paths (train images, train labels, test images, test labels; for
    mnist-10k the two bundled files) from the first place that holds them all.
    """
    name = _canonical_name(name)
    if name == "mnist-10k":
        return list(_BUNDLED_FILES)
    cache_root = Path(cache_dir) if cache_dir is not None else cache.user_cache_dir()
    if data_dir is not None:
        try:
            return _locate_in(name, Path(data_dir), False, None, False)
        except DatasetError:
            return None
    for _place, directory in _places(name, data_dir, cache_root):
        if directory is not None:
            found, _missing = _files_in(directory)
            if found is not None:
                return found
    return None


def dataset_available(name, *, data_dir=None, cache_dir=None) -> bool:
    """Whether data set ``name`` can be loaded without downloading anything."""
    return find_dataset(name, data_dir=data_dir, cache_dir=cache_dir) is not None


def resolve_dataset(
    name="mnist",
    *,
    fallback_to_bundled=True,
    data_dir=None,
    download=True,
    mirrors=None,
    progress=True,
    cache_dir=None,
) -> DatasetChoice:
    """Make sure data set ``name`` is on disk (downloading it if allowed) and say which one to use.

    For "mnist" with ``fallback_to_bundled``, a full MNIST that cannot be found or
    downloaded gives ``DatasetChoice("mnist-10k", message)``, ``message`` being one
    line for the user.  Otherwise the result is ``DatasetChoice(name, None)`` or a
    :class:`DatasetError`.  The bundled set holds digits, so only "mnist" falls
    back; a missing Fashion-MNIST is always an error.

    A command-line tool would do::

        choice = resolve_dataset("mnist", download=not offline)
        if choice.message:
            print(choice.message)
        (x_train, t_train), (x_test, t_test) = load_dataset(choice.name)
    """
    name = _canonical_name(name)
    cache_root = Path(cache_dir) if cache_dir is not None else cache.user_cache_dir()
    try:
        _locate(name, data_dir, download, mirrors, progress, cache_root)
    except DatasetError:
        if not (fallback_to_bundled and name == "mnist"):
            raise
        how = "the download failed" if download else "download=False"
        message = (
            f"full MNIST not found on disk and {how}; using the bundled mnist-10k "
            f"(8,000 train / 2,000 test digits) instead (set {DATA_ENV} or pass data_dir "
            f"to use full MNIST)"
        )
        return DatasetChoice("mnist-10k", message)
    return DatasetChoice(name, None)


# ---------------------------------------------------------------------------
# Finding and downloading the files
# ---------------------------------------------------------------------------


def _canonical_name(name) -> str:
    """Normalise a data set name ("Fashion_MNIST" -> "fashion-mnist"); unknown names raise ValueError."""
    key = str(name).strip().lower().replace("_", "-")
    if key not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    return key


def _places(name, data_dir, cache_root):
    """The places to look for ``name``'s files, in order, as (description, folder or None)."""
    places = []
    if data_dir is None:
        places.append(("data_dir argument: not given", None))
    else:
        places.append(("data_dir argument", Path(data_dir)))
        places.append(("data_dir argument", Path(data_dir) / name))
    env_value = os.environ.get(DATA_ENV, "")
    if env_value:
        places.append((f"${DATA_ENV}/{name}", Path(env_value) / name))
    else:
        places.append((f"${DATA_ENV}: not set", None))
    places.append(("user cache", cache_root / name))
    for directory in SYSTEM_DIRS.get(name, ()):
        places.append(("system copy", Path(directory)))
    return places


def _files_in(directory: Path):
    """The four source files in ``directory`` (``.gz`` preferred), or None and what is missing."""
    found, missing = [], []
    for stem in _FILE_STEMS:
        compressed, raw = directory / f"{stem}.gz", directory / stem
        if compressed.is_file():
            found.append(compressed)
        elif raw.is_file():
            found.append(raw)
        else:
            missing.append(compressed.name)
    return (found if not missing else None), missing


def _locate(name, data_dir, allow_download, mirrors, progress, cache_root) -> list[Path]:
    """The source files of ``name``, found on disk or downloaded; else a DatasetError.

    The error lists every place looked and what to do about it.
    """
    if name == "mnist-10k":
        return list(_BUNDLED_FILES)
    if data_dir is not None:
        return _locate_in(name, Path(data_dir), allow_download, mirrors, progress)
    report = []
    for place, directory in _places(name, data_dir, cache_root):
        if directory is None:
            report.append(place)
            continue
        if not directory.is_dir():
            report.append(f"{place}: {directory} (no such folder)")
            continue
        found, missing = _files_in(directory)
        if found is not None:
            return found
        report.append(f"{place}: {directory} (missing {', '.join(missing)})")

    if allow_download:
        try:
            target = download.download_files(
                name, cache_root / name, filenames=download.FILES,
                mirrors=mirrors, progress=progress,
            )
            return [target / filename for filename in download.FILES]
        except DatasetError as error:
            report.append("download: " + str(error).replace("\n", "\n    "))
    else:
        report.append(("download: ", Phrase("not_attempted", "not attempted (download=False)")))

    title = _TITLES[name]
    fixes = [
        Phrase("give_data_dir", "pass data_dir=<folder holding the four .gz files>"),
        f"set {DATA_ENV}=<folder> with the files in its subfolder {name}/",
        Phrase("download", "connect to the internet and load with download=True"),
    ]
    if name == "fashion-mnist":
        fixes.append("on Debian/Ubuntu: apt-get install dataset-fashion-mnist")
    parts = [f"{title} not found. Looked in:"]
    for line in report:
        parts += ["\n  - ", *(line if isinstance(line, tuple) else (line,))]
    parts.append("\nTo fix it, any of:")
    for fix in fixes:
        parts += ["\n  - ", fix]
    raise DatasetError(*parts)


def _locate_in(name, data_dir, allow_download, mirrors, progress) -> list[Path]:
    """The source files of ``name`` in the folder the user named, and only there.

    The folder itself holds the files, or its subfolder ``<name>/`` does (the first
    that holds any of them is the one meant). A folder with some of the files but
    not all is an error naming the missing ones: completing it from another copy, or
    from a download, would mix the user's files with others. A folder holding none
    of them is where ``allow_download`` puts them.
    """
    title = _TITLES[name]
    candidates = [data_dir, data_dir / name]
    for directory in candidates:
        if not directory.is_dir():
            continue
        found, missing = _files_in(directory)
        if found is not None:
            return found
        if len(missing) < len(_FILE_STEMS):
            raise DatasetError(
                f"{title}: ", Phrase("the_folder", "the folder data_dir="),
                f"{directory} lacks {', '.join(missing)}; a folder you name is the only one "
                f"read, so nothing was loaded. Put the missing file(s) there, or ",
                Phrase("leave_out", "leave data_dir out"), " to use another copy.")
    if not data_dir.is_dir():
        raise DatasetError(f"{title}: ", Phrase("the_folder", "the folder data_dir="),
                           f"{data_dir} is not a folder")
    if allow_download:
        target = download.download_files(name, data_dir, filenames=download.FILES,
                                         mirrors=mirrors, progress=progress)
        return [target / filename for filename in download.FILES]
    raise DatasetError(
        f"{title}: ", Phrase("the_folder", "the folder data_dir="),
        f"{data_dir} holds none of its files "
        f"({', '.join(stem + '.gz' for stem in _FILE_STEMS)}, in the folder or its "
        f"subfolder {name}/)", Phrase("no_download", " and download=False"),
        "; nothing was loaded from anywhere else.")


# ---------------------------------------------------------------------------
# Parsing, the mnist-10k split and the cache
# ---------------------------------------------------------------------------


def _load_uint8(name, sources, cache_root):
    """The four uint8 arrays (train images, labels, test images, labels) of ``name``.

    Served from the parsed-array cache when it matches the sources; otherwise the
    sources are parsed, the cache (re)written, and the arrays served from it.
    """
    tag = _MNIST10K_TAG if name == "mnist-10k" else name
    directory = cache_root / name
    stamp = cache.source_stamp(sources)
    arrays = cache.load_cached(directory, stamp, tag=tag)
    if arrays is not None:
        return arrays
    arrays = _parse(name, sources)
    if cache.save_cached(directory, stamp, arrays, tag=tag):
        # Serve what was saved, so every load returns the same kind of array,
        # and the freshly parsed copy can be freed.
        from_cache = cache.load_cached(directory, stamp, tag=tag)
        if from_cache is not None:
            return from_cache
    return arrays


def _parse(name, sources):
    """Read and check the source files; split mnist-10k."""
    if name == "mnist-10k":
        images, labels = read_image_label_pair(*sources)
        train, test = mnist10k_split(labels)
        return images[train], labels[train], images[test], labels[test]
    train_images, train_labels = read_image_label_pair(sources[0], sources[1])
    test_images, test_labels = read_image_label_pair(sources[2], sources[3])
    return train_images, train_labels, test_images, test_labels


def mnist10k_split(labels, test_size=MNIST10K_TEST_SIZE):
    """Indices of the fixed train/test split of the bundled 10,000 digits.

    The first ``len(labels) - test_size`` digits of the file train, the last
    ``test_size`` test: the simplest split to state and to reproduce anywhere, and
    the one the reference figures for the seed's experiment on these digits were
    measured on (a book-style NumPy run reaches 95.1-95.3% test accuracy with it).
    Every class is in both parts (169 to 230 test digits per class).

    Returns ``(train_indices, test_indices)``, together a partition of
    ``range(len(labels))``.
    """
    total = np.asarray(labels).size
    if not 0 < test_size < total:
        raise ValueError(f"test_size must be between 1 and {total - 1}, got {test_size}")
    return np.arange(total - test_size), np.arange(total - test_size, total)


# ---------------------------------------------------------------------------
# Shaping the arrays as the caller asked
# ---------------------------------------------------------------------------


def _image_dtype(normalize, dtype) -> np.dtype:
    if dtype is None:
        return np.dtype(np.float32 if normalize else np.uint8)
    dtype = np.dtype(dtype)
    if normalize and dtype.kind != "f":
        raise ValueError(f"normalize=True needs a floating dtype, got {dtype}")
    return dtype


def _present(arrays, normalize, flatten, one_hot_label, image_dtype):
    """Turn the cached uint8 arrays into the book's ((x_train, t_train), (x_test, t_test))."""
    train_images, train_labels, test_images, test_labels = arrays
    return (
        (
            _images(train_images, normalize, flatten, image_dtype),
            _labels(train_labels, one_hot_label, image_dtype),
        ),
        (
            _images(test_images, normalize, flatten, image_dtype),
            _labels(test_labels, one_hot_label, image_dtype),
        ),
    )


def _images(images, normalize, flatten, dtype):
    count = len(images)
    # A plain ndarray view: no copy, and no np.memmap subclass leaking to users.
    x = np.asarray(images)
    x = x.reshape(count, -1) if flatten else x.reshape(count, 1, *x.shape[1:])
    if normalize:
        # One pass that casts and scales together: no uint8-sized temporary.
        x = np.divide(x, 255, dtype=dtype)
    elif x.dtype != dtype:
        x = x.astype(dtype)
    return x


def _labels(labels, one_hot_label, dtype):
    if not one_hot_label:
        return np.asarray(labels, dtype=np.int64)
    one_hot = np.zeros((len(labels), 10), dtype=dtype)
    one_hot[np.arange(len(labels)), labels] = 1
    return one_hot
