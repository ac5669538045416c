"""The record of how a model's inputs are made from data (`network.inputs`, kept in its
checkpoint), for pictures and tables, and new samples prepared from it.

One record, read by every path that feeds the model (evaluate, predict, the drawing
page, the plots), so that none of them guesses. Its forms (JSON):

    {"kind": "images", "dataset": "fashion-mnist" | "mnist" | "mnist-10k" | None,
     "source": PATH | None, "shape": [C, H, W], "color": "gray" | "rgb",
     "scale": 1/255, "fit": "digit" | "resize" | "exact",
     "class_names": [...], "test_split": {"fraction", "seed"} | None}
    {"kind": "table", "source": PATH, "columns": [feature names, in order],
     "label_column": NAME, "label_index": I, "header": bool, "delimiter": ",",
     "mean": [...], "std": [...], "class_names": [...], "test_split": {...} | None}
    {"kind": "arrays", "source": PATH, "shape": [...], "scale": 1/255 | None,
     "class_names": [...], "test_split": {...} | None}

"fit" says how a picture of another size becomes an input: "digit" as MNIST's digits
were made (grey, a 20x20 box centred by mass: chainrule.images), "resize" stretched to
H x W, "exact" not at all (the training pictures all had one size). A language model's
record, {"kind": "text", ...}, is chainrule.datasets.text's.
"""

import os

import numpy as np

from .idx import DatasetError
from .mnist import CLASS_NAMES
from .owndata import (apply_preprocessing, csv_rows, finite_row, is_header, load_images,
                      read_data)

__all__ = ["named_inputs", "own_inputs", "check_inputs", "read_like", "prepare_file",
           "PICTURE_KINDS"]

PICTURE_KINDS = ("images",)
_DIGIT_SETS = ("mnist", "mnist-10k")


def named_inputs(dataset):
    """The record of a model trained on one of the named data sets (28x28 grey)."""
    return {"kind": "images", "dataset": dataset, "source": None, "shape": [1, 28, 28],
            "color": "gray", "scale": 1 / 255,
            "fit": "digit" if dataset in _DIGIT_SETS else "resize",
            "class_names": list(CLASS_NAMES.get(dataset) or [str(i) for i in range(10)]),
            "test_split": None}


def own_inputs(description):
    """The record of a model trained on data of one's own, from OwnData.describe()
    (with "path"), or from the record 0.2.0 kept in a checkpoint's run information."""
    prep = description.get("preprocessing") or {}
    shape = [int(d) for d in description["input_shape"]]
    common = {"source": os.path.abspath(description["path"]),
              "class_names": [str(n) for n in description["class_names"]],
              "test_split": prep.get("test_split")}
    kind = prep.get("kind")
    if kind == "images":
        return {"kind": "images", "dataset": None, "shape": shape, "color": prep["color"],
                "scale": prep.get("scale", 1 / 255),
                "fit": "resize" if prep.get("resize") else "exact", **common}
    if kind == "csv":
        return {"kind": "table", "columns": list(prep["feature_columns"]),
                "label_column": prep["label_column"], "label_index": prep["label_index"],
                "header": bool(prep["header"]), "delimiter": prep.get("delimiter"),
                "mean": prep["mean"], "std": prep["std"], **common}
    return {"kind": "arrays", "shape": shape, "scale": prep.get("scale"), **common}


def check_inputs(record, where):
    """ValueError unless `record` is a picture, table or array record this module can
    prepare inputs from (it comes from a file that may be damaged)."""
    kind = record.get("kind")
    needs = {"images": ("shape", "color", "fit", "class_names"),
             "table": ("columns", "label_index", "header", "mean", "std", "class_names"),
             "arrays": ("shape", "class_names")}.get(kind)
    if needs is None:
        raise ValueError(f"{where}: the record of the model's inputs is of an unknown "
                         f"kind {kind!r}")
    missing = [key for key in needs if key not in record]
    if missing:
        raise ValueError(f"{where}: the record of the model's inputs lacks "
                         f"{', '.join(missing)}")
    if kind == "table" and not len(record["columns"]) == len(record["mean"]) == len(record["std"]):
        raise ValueError(f"{where}: the record of the model's inputs names "
                         f"{len(record['columns'])} columns but standardises "
                         f"{len(record['mean'])}")


# -- data, read as the model's data was ------------------------------------------------
def read_like(record, path=None, dtype=np.float32):
    """((x_train, t_train), (x_test, t_test)) of data of one's own (`path`, default the
    model's own), read as the model's data was: the same split, the same
    standardisation (not one measured again), a table's columns by name, and labels as
    indices into the model's classes."""
    path = path or record.get("source")
    if not path:
        raise DatasetError(f"the model was trained on {record.get('dataset')}, not on a "
                           f"file: give one")
    split = record.get("test_split") or {}
    options = {"test_fraction": split.get("fraction", 0.2), "split_seed": split.get("seed", 0),
               "standardize": False, "dtype": dtype}
    if record["kind"] == "table":
        same_file = os.path.abspath(path) == record["source"]
        options.update(columns=record["columns"], delimiter=record.get("delimiter"),
                       header=record["header"] if same_file else None,
                       label_column=(record["label_column"] if record["header"]
                                     else record["label_index"]))
    elif record["kind"] == "images":
        options.update(color=record["color"],
                       image_size=record["shape"][1:] if record["fit"] == "resize" else None)
    data = read_data(path, **options)
    (x, t), (x_test, t_test) = data.as_tuple()
    if record["kind"] == "table":
        x, x_test = apply_preprocessing(x, record, dtype), apply_preprocessing(x_test, record, dtype)
    names = data.class_names
    return ((x, _relabel(t, names, record["class_names"], path)),
            (x_test, _relabel(t_test, names, record["class_names"], path)))


def _relabel(t, names_here, names_model, path):
    """Labels of a file read now, as indices into the model's classes."""
    lookup = {name: i for i, name in enumerate(names_model)}
    unknown = sorted(set(names_here) - set(lookup))
    if unknown:
        raise DatasetError(f"{path}: class(es) {', '.join(unknown)} are not among the "
                           f"model's classes ({', '.join(names_model)})")
    return np.array([lookup[name] for name in names_here], dtype=np.int64)[t]


# -- new samples: a file given to predict -----------------------------------------------
def prepare_file(record, path, dtype=np.float32):
    """[(label, x)] of one file given to predict, each x a batch of one prepared as the
    record says: a picture, the rows of a CSV, or the samples x of an .npz."""
    lower = os.fspath(path).lower()
    if lower.endswith(".npz"):
        x = _npz_samples(path, record)
        return [(f"{path}[{i}]", x[i:i + 1]) for i in range(len(x))]
    if record["kind"] == "table":
        x = _table_rows(record, path, dtype)
        return [(f"{path}, row {i + 1}", x[i:i + 1]) for i in range(len(x))]
    if record["kind"] == "images":
        return [(path, _picture(record, path, dtype))]
    raise DatasetError(f"{path}: this model takes arrays: give an .npz with an array x "
                       f"of samples like the training data")


def _picture(record, path, dtype):
    """One picture as a (1, C, H, W) input."""
    channels, height, width = record["shape"]
    if record["fit"] == "digit":
        from ..images import load_digit
        return load_digit(path).reshape(1, 1, 28, 28).astype(dtype)
    mode = "L" if record["color"] == "gray" else "RGB"
    x, _ = load_images([path], mode, (height, width), dtype, resize=True)
    return x


def _npz_samples(path, record):
    """The samples x of an .npz (numbers only; never pickle), scaled as at training."""
    try:
        with np.load(path, allow_pickle=False) as f:
            if "x" not in f:
                raise DatasetError(f"{path}: no array 'x' of samples to predict")
            x = f["x"]
    except ValueError as exc:
        raise DatasetError(f"{path}: {exc}") from None
    except OSError as exc:
        raise DatasetError(f"{path}: not a readable .npz ({exc})") from None
    if x.dtype.kind not in "biuf":
        raise DatasetError(f"{path}: x has dtype {x.dtype}; samples must be numbers")
    if x.ndim == 3:
        x = x.reshape(x.shape[0], 1, *x.shape[1:])
    if record["kind"] == "table":
        return apply_preprocessing(x, record)
    if x.dtype.kind in "biu" and record.get("scale"):
        return np.asarray(x * record["scale"], dtype=np.float32)
    return np.asarray(x, dtype=np.float32)


def _table_rows(record, path, dtype):
    """The rows of a CSV as a table model's features: by name when the file has a
    header (a label column, if there, left out), else by position (the features
    alone, or every column of the training file with its label); standardised."""
    rows, _ = csv_rows(path, record.get("delimiter"))
    columns = record["columns"]
    first = rows[0][1]
    if is_header(first, record["label_column"] if record["header"] else None):
        picks = _by_name(path, first, columns, record)
        names, rows = columns, rows[1:]
    else:
        picks = _by_position(path, len(first), rows[0][0], record)
        names = columns
    out = []
    for line, row in rows:
        if len(row) != len(first):
            raise DatasetError(f"{path}, line {line}: {len(row)} column(s), but the file "
                               f"has {len(first)}")
        out.append(finite_row(path, line, [row[i] for i in picks], names))
    if not out:
        raise DatasetError(f"{path}: no rows to predict")
    return apply_preprocessing(np.array(out, dtype=np.float64), record, dtype)


def _by_name(path, header, columns, record):
    missing = [c for c in columns if c not in header]
    known = set(columns) | {record["label_column"]}
    extra = [c for c in header if c not in known]
    if missing or extra:
        said = [f"lacks {', '.join(missing)}" if missing else "",
                f"has {', '.join(extra)}, which the model does not take" if extra else ""]
        raise DatasetError(f"{path}: the header {' and '.join(x for x in said if x)} (the "
                           f"model's features: {', '.join(columns)})")
    return [header.index(c) for c in columns]


def _by_position(path, width, line, record):
    n = len(record["columns"])
    if width == n:
        return list(range(n))
    if width == n + 1:
        return [i for i in range(width) if i != record["label_index"]]
    raise DatasetError(f"{path}, line {line}: {width} column(s); the model takes {n} "
                       f"features (or {n + 1} columns with the label)")
