"""Your own data: an .npz of arrays, a CSV table, or a folder of images per class.

    from chainrule.datasets import read_data
    data = read_data("pictures/")          # pictures/cat/*.png, pictures/dog/*.jpg, ...
    (x_train, t_train), (x_test, t_test) = data.train, data.test
    data.class_names, data.input_shape, data.preprocessing

`chainrule.load_dataset(PATH)` returns the book's ((x_train, t_train), (x_test, t_test))
for the same paths (a known data set's name, such as "mnist", wins over a file or
folder of the same spelling).

What is read:

* **.npz** with arrays `x` and `t` (and optionally `x_test`, `t_test`, and
  `class_names`, an array of strings). Samples are rows of `x`: (N, D) features or
  (N, H, W) / (N, C, H, W) images. Integer images (uint8) are scaled by 1/255.
  An uncompressed archive is read through a memory map, so a large file costs one
  working copy (the float32 the network trains on), not two. Arrays of Python objects
  are refused: reading them would mean unpickling.
* **CSV** with one label column and numeric feature columns; a header row is optional
  (it is one when its cells are not all numbers). The label column is the one given
  (`label_column`, a name or a 0-based index; negative counts from the end), else a
  column headed label, class, target or y, else the last one. Features are
  standardised (mean 0, standard deviation 1 per column, measured on the training
  part), and the means and deviations are kept to treat new rows alike.
* **a folder of images** with one subfolder per class (PNG, JPEG, BMP, GIF, WebP,
  read with Pillow), or subfolders train/ and test/ each laid out so. All images must
  have one size, unless `image_size=(H, W)` asks for them to be resized; `color` is
  "gray", "rgb" or "auto" (gray unless an image has colour). Pixels are scaled to
  [0, 1]; samples are (N, C, H, W).

Labels may be numbers or strings: the classes are the distinct labels in sorted order
(numerically for numbers), and `class_names` their text. Data without a test split gets
a stratified fraction (test_fraction, default 0.2) held out with split_seed (default 0),
always the same for the same file, said in `note`.

Bad input raises DatasetError naming the problem: the file and line of a ragged or
non-numeric CSV row, the label outside the classes, the files of mixed sizes, the empty
class folder, the unreadable image, the object array.
"""

from __future__ import annotations

import csv
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..files import read_npy_header
from ..split import split_generator, stratified_split
from .idx import DatasetError, Phrase

__all__ = ["OwnData", "read_data", "IMAGE_EXTENSIONS", "LABEL_COLUMNS",
           "apply_preprocessing", "load_images", "csv_rows", "is_header", "finite_row"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
LABEL_COLUMNS = ("label", "class", "target", "y")
DEFAULT_TEST_FRACTION = 0.2


@dataclass
class OwnData:
    """A data set read from a path: the splits, the classes and how it was prepared."""

    train: tuple
    test: tuple
    class_names: list
    input_shape: tuple
    preprocessing: dict
    source: str
    note: str | None = None
    extra: dict = field(default_factory=dict)

    def as_tuple(self):
        return self.train, self.test

    def describe(self):
        """The JSON a checkpoint keeps to treat new data the same way."""
        return {"path": self.source, "class_names": list(self.class_names),
                "input_shape": list(self.input_shape), "preprocessing": self.preprocessing}


def read_data(path, *, label_column=None, header=None, image_size=None, color="auto",
              test_fraction=DEFAULT_TEST_FRACTION, split_seed=0, dtype=np.float32,
              standardize=True, columns=None, delimiter=None) -> OwnData:
    """Read an .npz, a .csv or a folder of class subfolders (see the module docstring).

    CSV only: `columns`, the feature columns by name, read in that order (a model's:
    a header naming them is then required, unless header=False, when they are taken
    by position); `delimiter`, the separator (default: found from the file)."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"dtype must be a floating type, got {dtype}")
    if path.is_dir():
        data = _read_image_folder(path, image_size, color, dtype)
    elif path.suffix.lower() == ".npz":
        data = _read_npz(path, dtype)
    elif path.suffix.lower() in (".csv", ".tsv", ".txt"):
        data = _read_csv(path, label_column, header, dtype, columns, delimiter)
    else:
        raise DatasetError(f"{path}: not a data file chainrule reads (.npz, .csv, or a "
                           f"folder of images in one subfolder per class)")
    x, t, x_test, t_test, names, prep = data
    convert = prep.pop("_convert", None)
    note = None
    if x_test is None:
        fraction = float(test_fraction)
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"test_fraction must be between 0 and 1, got {fraction}")
        try:
            kept, held = stratified_split(t, fraction, split_generator(split_seed, 2),
                                          "in the training part of the data",
                                          "in the test part of the data")
        except ValueError as exc:
            raise DatasetError(f"{path}: {exc}") from None
        # Indexing the raw (memory-mapped) samples and converting each part once
        # makes the float copy the only one.
        x, t, x_test, t_test = x[kept], t[kept], x[held], t[held]
        prep["test_split"] = {"fraction": fraction, "seed": int(split_seed)}
        note = (f"{path} has no test split: holding out {len(held)} of "
                f"{len(held) + len(kept)} samples ({fraction:g} of each class, seed "
                f"{split_seed}) to test on")
    if convert is not None:
        x, x_test = convert(x, "x"), convert(x_test, "x_test")
    if prep.get("kind") == "csv" and standardize:
        mean = x.mean(axis=0, dtype=np.float64)
        std = x.std(axis=0, dtype=np.float64)
        std[std == 0] = 1.0  # a constant column carries nothing; leave it at zero
        prep["mean"], prep["std"] = mean.tolist(), std.tolist()
        x = ((x - mean) / std).astype(dtype)
        x_test = ((x_test - mean) / std).astype(dtype)
    input_shape = tuple(int(d) for d in x.shape[1:])
    return OwnData((x, t), (x_test, t_test), names, input_shape, prep, os.fspath(path), note)


# -- labels -------------------------------------------------------------------------------
def _classes(labels, given_names=None, where=""):
    """(class indices int64, class names): distinct labels sorted (numbers by value)."""
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] > 1 and labels.dtype.kind in "biuf":
        labels = labels.argmax(axis=1)  # one-hot rows
    labels = labels.reshape(-1) if labels.ndim == 2 and labels.shape[1] == 1 else labels
    if labels.ndim != 1:
        raise DatasetError(f"{where}labels must be one per sample, got shape {labels.shape}")
    if given_names is not None:
        if labels.dtype.kind not in "iu":
            raise DatasetError(f"{where}with class_names given, labels must be class "
                               f"indices")
        bad = labels[(labels < 0) | (labels >= len(given_names))]
        if bad.size:
            raise DatasetError(f"{where}label {bad[0]} is outside the {len(given_names)} "
                               f"classes of class_names")
        return labels.astype(np.int64), [str(n) for n in given_names]
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or not np.all(labels == np.round(labels)):
            raise DatasetError(f"{where}labels must be whole numbers or strings")
        labels = labels.astype(np.int64)
    # The classes are the distinct labels: {1, 2, 3} is three classes, not four with
    # an empty class 0 that would count in every average.
    values, indices = np.unique(labels, return_inverse=True)
    return indices.reshape(-1).astype(np.int64), [str(v) for v in values]


def _test_labels(t_test, names, where):
    """Test labels mapped onto the training classes; a label outside them is an error."""
    t_test = np.asarray(t_test)
    lookup = {name: i for i, name in enumerate(names)}
    raw = t_test.reshape(-1)
    if raw.dtype.kind == "f" and np.all(raw == np.round(raw)):
        raw = raw.astype(np.int64)
    out = np.empty(len(raw), dtype=np.int64)
    for i, value in enumerate(raw.tolist()):
        key = str(value)
        if key not in lookup:
            raise DatasetError(f"{where}test label {value!r} (sample {i}) is not one of the "
                               f"training classes ({', '.join(names)})")
        out[i] = lookup[key]
    return out


# -- .npz ---------------------------------------------------------------------------------
def _npz_member(zf, info, path):
    """One array of the archive: memory-mapped when stored uncompressed, else read."""
    name = info.filename
    with zf.open(info) as f:
        try:
            shape, fortran, dtype = read_npy_header(f)
        except ValueError as exc:
            raise DatasetError(f"{path}: {name} is not a readable array ({exc})") from None
        header_size = f.tell()
    if dtype.hasobject:
        raise DatasetError(f"{path}: {name[:-4]} holds Python objects (dtype {dtype}); "
                           f"chainrule never unpickles data: save plain numeric or string "
                           f"arrays (np.savez(file, x=x.astype(float), ...))")
    if dtype.kind not in "biufU":
        raise DatasetError(f"{path}: {name[:-4]} has dtype {dtype}; numbers or strings only")
    count = int(np.prod(shape, dtype=np.int64))
    if count * dtype.itemsize != info.file_size - header_size:
        raise DatasetError(f"{path}: {name[:-4]} declares shape {shape} but holds "
                           f"{info.file_size - header_size} bytes")
    if info.compress_type == zipfile.ZIP_STORED and dtype.kind != "U" and count:
        # Where the member's bytes start: its local header is 30 bytes plus its name
        # and extra field, whose lengths are in the header itself.
        with open(path, "rb") as raw:
            raw.seek(info.header_offset + 26)
            name_len, extra_len = np.frombuffer(raw.read(4), dtype="<u2")
        offset = info.header_offset + 30 + int(name_len) + int(extra_len) + header_size
        return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape,
                         order="F" if fortran else "C")
    with zf.open(info) as f:
        f.seek(header_size)
        data = f.read()
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def _read_npz(path, dtype):
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetError(f"{path}: not a readable .npz archive ({exc})") from None
    with zf:
        arrays = {}
        for info in zf.infolist():
            if info.filename.endswith(".npy"):
                arrays[info.filename[:-4]] = _npz_member(zf, info, path)
    for key in ("x", "t"):
        if key not in arrays:
            raise DatasetError(f"{path}: no array {key!r} (an .npz of your own needs x, the "
                               f"samples, and t, their labels; found "
                               f"{', '.join(sorted(arrays)) or 'nothing'})")
    if ("x_test" in arrays) != ("t_test" in arrays):
        raise DatasetError(f"{path}: x_test and t_test go together; only one is there")
    names = arrays.get("class_names")
    if names is not None:
        names = [str(n) for n in np.asarray(names).reshape(-1)]
    where = f"{path}: "
    x = arrays["x"]
    if x.dtype.kind == "U":
        raise DatasetError(f"{path}: x holds strings; samples must be numbers")
    if len(x) != len(arrays["t"]):
        raise DatasetError(f"{path}: x has {len(x)} samples but t has {len(arrays['t'])} "
                           f"labels")
    if len(x) == 0:
        raise DatasetError(f"{path}: x holds no samples")
    t_raw = np.asarray(arrays["t"])
    t, names = _classes(t_raw, names, where)
    prep = {"kind": "npz"}
    x = _npz_shape(x, path, "x")
    if x.dtype.kind in "biu":
        prep["scale"] = 1 / 255
    prep["_convert"] = lambda a, name: _npz_samples(a, dtype, path, name)
    x_test = t_test = None
    if "x_test" in arrays:
        x_test = _npz_shape(arrays["x_test"], path, "x_test")
        if x_test.shape[1:] != x.shape[1:]:
            raise DatasetError(f"{path}: x_test samples have shape {x_test.shape[1:]}, x "
                               f"samples {x.shape[1:]}")
        if len(x_test) != len(arrays["t_test"]):
            raise DatasetError(f"{path}: x_test has {len(x_test)} samples but t_test has "
                               f"{len(arrays['t_test'])} labels")
        t_test = (_classes(np.asarray(arrays["t_test"]), names, where)[0]
                  if arrays.get("class_names") is not None
                  else _test_labels(arrays["t_test"], names, where))
    return x, t, x_test, t_test, names, prep


def _npz_shape(x, path, name):
    """Images (N, H, W) given their channel axis; anything but (N, D) or (N, C, H, W)
    refused."""
    if x.dtype.kind == "U":
        raise DatasetError(f"{path}: {name} holds strings; samples must be numbers")
    if x.ndim == 3:
        x = x.reshape(x.shape[0], 1, *x.shape[1:])
    if x.ndim not in (2, 4):
        raise DatasetError(f"{path}: {name} has shape {x.shape}; samples must be rows of "
                           f"features (N, D) or images (N, H, W) / (N, C, H, W)")
    return x


def _npz_samples(x, dtype, path, name):
    """Samples as the network's floats: integers (pixels) scaled by 1/255. One
    conversion: the one working copy."""
    if x.dtype.kind in "biu":
        out = np.multiply(x, np.asarray(1 / 255, dtype=dtype), dtype=dtype)
    else:
        out = np.array(x, dtype=dtype)
        if not np.all(np.isfinite(out)):
            bad = np.argwhere(~np.isfinite(out))[0]
            raise DatasetError(f"{path}: {name} holds a NaN or infinity (sample {bad[0]})")
    return out


# -- CSV ----------------------------------------------------------------------------------
def _number(text):
    try:
        value = float(text)
    except ValueError:
        return None
    return value


def csv_rows(path, delimiter=None):
    """(rows, delimiter) of a CSV file: rows are (line number, stripped cells), blank
    lines left out; the delimiter (comma, semicolon or tab) is found from the file
    unless given."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            if delimiter is None:
                sample = f.read(64 * 1024)
                f.seek(0)
                try:
                    delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
                except csv.Error:
                    delimiter = ","
            rows = [(i, [cell.strip() for cell in row])
                    for i, row in enumerate(csv.reader(f, delimiter=delimiter), start=1)
                    if any(cell.strip() for cell in row)]
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not a text file ({exc})") from None
    except csv.Error as exc:
        raise DatasetError(f"{path}: not a readable CSV file ({exc})") from None
    if not rows:
        raise DatasetError(f"{path}: the file holds no rows")
    return rows, delimiter


def is_header(first, label_column=None):
    """Whether a CSV's first row is a header: it names the label column (label, class,
    target, y or the name given), or none of its cells is a number. Any other first
    row is data, so a cell of it that is not a number is an error, not a header."""
    names = set(LABEL_COLUMNS)
    if isinstance(label_column, str) and not label_column.lstrip("-").isdigit():
        names.add(label_column.lower())
    cells = [c.lower() for c in first]
    return any(c in names for c in cells) or all(_number(c) is None for c in cells)


def finite_row(path, line, row, names):
    """The cells of one row as floats; DatasetError naming the line and column of a
    cell that is not a finite number."""
    values = [_number(c) for c in row]
    for cell, value, name in zip(row, values, names):
        if value is None or not np.isfinite(value):
            raise DatasetError(f"{path}, line {line}: column {name!r} holds {cell!r}, not "
                               f"a finite number")
    return values


def _read_csv(path, label_column, header, dtype, columns=None, delimiter=None):
    rows, delimiter = csv_rows(path, delimiter)
    width = len(rows[0][1])
    if header is None:
        header = is_header(rows[0][1], label_column)
    names = rows[0][1] if header else [f"column {i}" for i in range(width)]
    body = rows[1:] if header else rows
    if not body:
        raise DatasetError(f"{path}: the file holds a header but no data rows")
    if width < 2:
        raise DatasetError(f"{path}: a CSV needs a label column and at least one feature "
                           f"column; line {rows[0][0]} has {width} column(s)")
    label = _label_index(label_column, names, width, header, path)
    picks = _feature_indices(path, names, label, columns, header)
    features = np.empty((len(body), len(picks)), dtype=np.float64)
    labels = []
    for k, (line, row) in enumerate(body):
        if len(row) != width:
            raise DatasetError(f"{path}, line {line}: {len(row)} column(s), but the file "
                               f"has {width}{' (from its header)' if header else ''}")
        labels.append(row[label])
        features[k] = finite_row(path, line, [row[i] for i in picks], [names[i] for i in picks])
    t, class_names = _csv_labels(labels, body, path)
    prep = {"kind": "csv", "label_column": names[label], "label_index": label,
            "header": bool(header), "columns": width, "delimiter": delimiter,
            "feature_columns": [names[i] for i in picks]}
    return features.astype(dtype), t, None, None, class_names, prep


def _feature_indices(path, names, label, columns, header):
    """The indices of the feature columns: all but the label's; with `columns` (a
    model's feature names), those by name, in the model's order, when the file has a
    header, else by position; a file that does not have exactly them is refused."""
    others = [i for i in range(len(names)) if i != label]
    if columns is None:
        return others
    if not header:
        if len(others) != len(columns):
            raise DatasetError(f"{path}: {len(others)} feature column(s) besides the label; "
                               f"the model takes {len(columns)} ({', '.join(columns)})")
        return others
    if len(set(names)) != len(names):
        raise DatasetError(f"{path}: the header names a column twice ({', '.join(names)})")
    missing = [c for c in columns if c not in names or names.index(c) == label]
    extra = [names[i] for i in others if names[i] not in columns]
    if missing or extra:
        said = [f"lacks {', '.join(missing)}" if missing else "",
                f"has {', '.join(extra)}, which the model does not take" if extra else ""]
        raise DatasetError(f"{path}: the file {' and '.join(x for x in said if x)} (the "
                           f"model's features: {', '.join(columns)}; its label: "
                           f"{names[label]})")
    return [names.index(c) for c in columns]


def _csv_labels(labels, body, path):
    """(class indices, class names) of a CSV's label cells: whole numbers as numbers,
    anything else as names; a NaN or infinite label is refused, naming its line."""
    numeric = [_number(v) for v in labels]
    for (line, _), text, value in zip(body, labels, numeric):
        if value is not None and not np.isfinite(value):
            raise DatasetError(f"{path}, line {line}: the label {text!r} is not a class (a "
                               f"label is a whole number or a name)")
    if all(v is not None and v == int(v) for v in numeric):
        return _classes(np.array([int(v) for v in numeric], dtype=np.int64))
    return _classes(np.array(labels))


def _label_index(label_column, names, width, header, path):
    if label_column is None:
        lowered = [n.lower() for n in names] if header else []
        for candidate in LABEL_COLUMNS:
            if candidate in lowered:
                return lowered.index(candidate)
        return width - 1
    if isinstance(label_column, str) and not label_column.lstrip("-").isdigit():
        if not header or label_column not in names:
            raise DatasetError(f"{path}: no column named {label_column!r} "
                               f"({'columns: ' + ', '.join(names) if header else 'the file has no header'})")
        return names.index(label_column)
    index = int(label_column)
    if not -width <= index < width:
        raise DatasetError(f"{path}: label column {index} is outside the file's {width} "
                           f"columns")
    return index % width


def apply_preprocessing(x, preprocessing, dtype=np.float32):
    """New samples prepared as the training data was (scaling, standardisation)."""
    x = np.asarray(x)
    if "mean" in preprocessing:
        x = (x - np.asarray(preprocessing["mean"])) / np.asarray(preprocessing["std"])
    elif "scale" in preprocessing and x.dtype.kind in "biu":
        x = x * preprocessing["scale"]
    return np.asarray(x, dtype=dtype)


# -- folders of images ------------------------------------------------------------------
def _image_files(folder):
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".")
                  and p.suffix.lower() in IMAGE_EXTENSIONS)


def _class_folders(root):
    """The class subfolders in the classes' order: by number when every name is a
    whole number (1, 2, 10, as the same labels in a CSV), else by name."""
    folders = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if not folders:
        raise DatasetError(f"{root}: no class subfolders (a folder of images needs one "
                           f"subfolder per class, e.g. {root}/cat/1.png)")
    loose = _image_files(root)
    if loose:
        raise DatasetError(f"{root}: images beside the class subfolders are not read "
                           f"({', '.join(p.name for p in loose[:3])}"
                           f"{', ...' if len(loose) > 3 else ''}); put each in its "
                           f"class's subfolder")
    if all(p.name.lstrip("-").isdigit() for p in folders):
        return sorted(folders, key=lambda p: (int(p.name), p.name))
    return sorted(folders)


def _read_image_folder(root, image_size, color, dtype):
    color = {"grey": "gray", "grayscale": "gray", "l": "gray", "colour": "rgb"}.get(
        str(color).lower(), str(color).lower())
    if color not in ("auto", "gray", "rgb"):
        raise ValueError(f"color must be auto, gray or rgb, got {color!r}")
    if image_size is not None:
        image_size = tuple(int(v) for v in image_size)
        if len(image_size) != 2 or min(image_size) < 1:
            raise ValueError(f"image_size must be (height, width), got {image_size!r}")
    subfolders = {p.name for p in root.iterdir() if p.is_dir()}
    split = {"train", "test"} <= subfolders
    if split:
        train_files, names = _listing(root / "train")
        test_files, test_names = _listing(root / "test")
        unknown = sorted(set(test_names) - set(names))
        if unknown:
            raise DatasetError(f"{root / 'test'}: class folder(s) {', '.join(unknown)} are "
                               f"not among the training classes ({', '.join(names)})")
    else:
        train_files, names = _listing(root)
        test_files, test_names = None, None
    everything = train_files + (test_files or [])
    if color == "auto":
        color = "rgb" if any(_is_colour(p) for p, _ in everything) else "gray"
    mode = "L" if color == "gray" else "RGB"
    if image_size is not None:  # the whole size is known before any picture is read
        check_image_memory(len(everything), 1 if mode == "L" else 3, image_size, dtype)
    x, size = load_images([p for p, _ in train_files], mode, image_size, dtype)
    t = np.array([c for _, c in train_files], dtype=np.int64)
    x_test = t_test = None
    if test_files is not None:
        x_test, _ = load_images([p for p, _ in test_files], mode, size, dtype,
                                resize=image_size is not None, first=train_files[0][0])
        lookup = {n: i for i, n in enumerate(names)}
        t_test = np.array([lookup[test_names[c]] for _, c in test_files], dtype=np.int64)
    prep = {"kind": "images", "size": list(size), "color": color,
            "resize": image_size is not None, "scale": 1 / 255}
    return x, t, x_test, t_test, names, prep


def _listing(root):
    files, names = [], []
    for index, folder in enumerate(_class_folders(root)):
        images = _image_files(folder)
        nested = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and _image_files(p)]
        if nested:
            raise DatasetError(f"{nested[0]}: images in a folder inside the class folder "
                               f"{folder.name} are not read; move them into {folder}")
        if not images:
            raise DatasetError(f"{folder}: the class folder holds no images "
                               f"({', '.join(IMAGE_EXTENSIONS)})")
        names.append(folder.name)
        files.extend((p, index) for p in images)
    return files, names


def _pillow():
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("reading a folder of images needs Pillow: pip install "
                          "'chainrule[image]'") from None
    return Image


# How far apart (of 255) a pixel's red, green and blue may be for it to count as grey:
# a grey picture saved as an RGB JPEG comes back with channels a level or two apart.
GREY_TOLERANCE = 2


def _is_colour(path):
    """Whether an image has colour: a colour mode with channels that differ (a grey
    picture saved as RGB, as most JPEGs are, is grey)."""
    Image = _pillow()
    try:
        with Image.open(path) as im:
            if im.mode in ("1", "L", "LA", "I", "I;16", "F"):
                return False
            pixels = np.asarray(im.convert("RGB"), dtype=np.int16)
    except Exception as exc:  # Pillow raises many kinds; each means "cannot read this"
        raise DatasetError(f"{path}: not a readable image ({exc})") from None
    spread = pixels.max(axis=-1) - pixels.min(axis=-1)
    return bool(spread.max() > GREY_TOLERANCE)


# The most memory a folder of pictures may take as an array (N x C x H x W numbers):
# past it the reading is refused before it starts, rather than killed for memory half
# way (10000x10000 pictures once took 23 GB). ImageNet-sized folders want a data loader
# that streams, not one array.
MAX_IMAGE_BYTES = 4 * 2**30


def check_image_memory(count, channels, size, dtype):
    """ValueError when `count` pictures of `size` (H, W) in `channels` would take more
    than MAX_IMAGE_BYTES as an array of `dtype`, saying how much and the limit."""
    need = int(count) * int(channels) * int(size[0]) * int(size[1]) * np.dtype(dtype).itemsize
    if need > MAX_IMAGE_BYTES:
        raise DatasetError(f"{count} pictures of {size[0]}x{size[1]} in {channels} "
                           f"channel{'s' if channels != 1 else ''} take "
                           f"{need / 2**30:.1f} GiB as {np.dtype(dtype).name}, more than "
                           f"the {MAX_IMAGE_BYTES / 2**30:g} GiB limit of pictures held "
                           f"in memory (chainrule.datasets.owndata.MAX_IMAGE_BYTES); give "
                           f"a smaller ", Phrase("image_size", "image_size=(H, W)"))


def load_images(paths, mode, size=None, dtype=np.float32, resize=None, first=None):
    """(N, C, H, W) pixels in [0, 1] of the images at `paths` (mode "L" or "RGB").

    With resize (default: when size is given) every image is resized to size (H, W);
    without, all must have one size (size, if given, else the first image's), and an
    error names two that differ. Returns (array, (H, W)).
    """
    Image = _pillow()
    from PIL import ImageOps
    channels = 1 if mode == "L" else 3
    if resize is None:
        resize = size is not None
    out = None
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as im:
                im.load()
                # Photos are often stored sideways, with the turn in their EXIF data.
                im = ImageOps.exif_transpose(im).convert(mode)
                if resize and im.size != (size[1], size[0]):
                    im = im.resize((size[1], size[0]), Image.BILINEAR)
                pixels = np.asarray(im, dtype=np.uint8)
        except Exception as exc:  # Pillow raises many kinds; each means "cannot read this"
            raise DatasetError(f"{path}: not a readable image ({exc})") from None
        if size is None:
            size = pixels.shape[:2]
            first = path
        elif pixels.shape[:2] != tuple(size):
            raise DatasetError(f"{path} is {pixels.shape[1]}x{pixels.shape[0]} but "
                               f"{first or 'the model'} is {size[1]}x{size[0]}: give an "
                               f"image size to resize them all (",
                               Phrase("image_size", "image_size=(H, W)"), ")")
        if out is None:
            check_image_memory(len(paths), channels, size, dtype)
            out = np.empty((len(paths), channels, size[0], size[1]), dtype=dtype)
        pixels = pixels.reshape(size[0], size[1], channels)
        np.multiply(np.moveaxis(pixels, -1, 0), np.asarray(1 / 255, dtype=dtype),
                    out=out[i], dtype=dtype)
    if out is None:
        raise DatasetError("no images to read")
    return out, tuple(int(v) for v in size)
