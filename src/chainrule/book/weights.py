"""The book's published weights (ch07/params.pkl, ch08/deep_convnet_params.pkl), read
without unpickling arbitrary objects, as ordinary chainrule checkpoints.

Those files are pickles of a dict {"W1": array, "b1": array, ...}. pickle runs whatever
callable a file names, so a pickle from anywhere can run any code on loading. Here the
unpickler resolves only the few NumPy names that rebuild an array (NumPy 1 and 2
spell their module differently) and a dtype; any other global, os.system or eval
say, is refused by name before anything is called, and the result must be a plain dict
of numeric arrays.

The book's dropout is not inverted: at inference it scales by 1 - p, and the book's
DeepConvNet has a dropout after its last affine layer too, so its scores are
    (1 - p) * ((1 - p) h . W8 + b8) = h . ((1 - p)^2 W8) + (1 - p) b8,
h the hidden layer's output. chainrule's dropout is the identity at inference, so the
import folds those factors into W8 and b8; with p = 0.5 they are powers of two and the
scores are the book code's to rounding (the layers' sums are ordered differently).
"""

import io
import math
import os
import pickle

import numpy as np

from ..checkpoint import save
from ..models import DeepConvNet, SimpleConvNet

__all__ = ["BOOK_MODELS", "UnsafePickleError", "WeightFileError", "read_weight_pickle",
           "read_array_pickle", "network_from_weights", "import_weights"]

#: the model names of `chainrule book import-weights --model`
BOOK_MODELS = ("simple-conv", "deep-conv")

#: most a weight file may hold (the book's are 1 and 3.5 MB)
MAX_BYTES = 1 << 30


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names something other than NumPy arrays and plain data; it was not run."""


class WeightFileError(ValueError):
    """A weight file that is not the book's weights for the model asked for."""


def _reconstruct(subtype, shape, dtype):
    # numpy's _reconstruct, for ndarray itself only (not some other class it was given).
    if subtype is not np.ndarray:
        raise UnsafePickleError(f"an array of type {subtype!r}; only numpy.ndarray is read")
    return np.ndarray.__new__(np.ndarray, shape, dtype)


def _frombuffer(buffer, dtype, shape, order):
    # NumPy's reduction of an array under protocol 5; the bytes are copied, not shared.
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise UnsafePickleError("an array of Python objects; only numeric arrays are read")
    array = np.frombuffer(bytes(buffer), dtype=dtype)
    return array.reshape(shape, order=order).copy(order="K")


def _scalar(dtype, data=None):
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, bytes):
        raise UnsafePickleError("a NumPy scalar that is not a number")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _latin1(text, encoding="latin1"):
    # Protocol 2 writes bytes as _codecs.encode(text, "latin1").
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError("_codecs.encode used for something other than bytes")
    return text.encode("latin1")


_ALLOWED = {}
for _module in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED[(_module, "_reconstruct")] = _reconstruct
    _ALLOWED[(_module, "scalar")] = _scalar
for _module in ("numpy.core.numeric", "numpy._core.numeric"):
    _ALLOWED[(_module, "_frombuffer")] = _frombuffer
_ALLOWED[("numpy", "ndarray")] = np.ndarray
_ALLOWED[("numpy", "dtype")] = np.dtype
_ALLOWED[("_codecs", "encode")] = _latin1


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"it names {module}.{name}, which is not part of a NumPy array; "
                f"refused without running anything") from None

    def persistent_load(self, pid):
        raise UnsafePickleError("it refers to an external object; refused")


def _check_plain(value, where):
    """Only dicts, lists, tuples, strings, numbers, None and numeric arrays."""
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject or value.dtype.kind not in "biuf":
            raise WeightFileError(f"{where} is an array of {value.dtype}, not numbers")
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise WeightFileError(f"{where} has a key {key!r} that is not a string")
            _check_plain(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
    elif not isinstance(value, (str, bytes, int, float, complex, bool, np.number, type(None))):
        raise WeightFileError(f"{where} is a {type(value).__name__}")


def read_array_pickle(path):
    """What the pickle `path` holds, read safely: NumPy arrays of numbers in plain
    dicts (string keys), lists, tuples, strings and numbers, and nothing else.

    Raises UnsafePickleError (a pickle.UnpicklingError) if the file names anything but
    NumPy's array machinery, WeightFileError if it is damaged or holds anything else,
    and OSError if it cannot be read. The sequel's `load_params` files (a list of
    float16 arrays) are read with this.
    """
    path = os.fspath(path)
    size = os.path.getsize(path)
    if size > MAX_BYTES:
        raise WeightFileError(f"{path} is {size:,} bytes, more than weights of the book's "
                              f"networks take ({MAX_BYTES:,} at most)")
    with open(path, "rb") as f:
        data = f.read()
    try:
        value = _ArraysOnly(io.BytesIO(data)).load()
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"{path}: {exc}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError,
            KeyError, AttributeError, MemoryError, OverflowError) as exc:
        raise WeightFileError(f"{path} is not a readable pickle of NumPy arrays "
                              f"({type(exc).__name__}: {exc})") from None
    _check_plain(value, path)
    return value


def read_weight_pickle(path):
    """The dict of NumPy arrays in the book's weight pickle `path`, read safely.

    As read_array_pickle, and WeightFileError unless the file holds a dict.
    """
    value = read_array_pickle(path)
    if not isinstance(value, dict):
        raise WeightFileError(f"{os.fspath(path)} holds a {type(value).__name__}, not a "
                              f"dict of arrays W1, b1, ...")
    return value


def _expect_keys(weights, count, model):
    expected = [f"{kind}{i}" for i in range(1, count + 1) for kind in "Wb"]
    missing = [k for k in expected if k not in weights]
    extra = sorted(set(weights) - set(expected))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if extra:
            parts.append(f"unexpected {', '.join(extra)}")
        raise WeightFileError(f"not the weights of the book's {model} ({'; '.join(parts)}): "
                              f"{model} has W1..W{count} and b1..b{count}, the file has "
                              f"{_names(weights)}")
    arrays = {}
    for key in expected:
        value = weights[key]
        if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
            raise WeightFileError(f"{key} is not an array of floats")
        if not np.all(np.isfinite(value)):
            raise WeightFileError(f"{key} holds NaN or infinite values")
        arrays[key] = value
    return arrays


def _names(weights):
    """The keys of a weight dict, W1..W3 and b1..b3 ordered by number, then the rest."""
    def order(key):
        text = str(key)
        return (text[:1], int(text[1:])) if text[1:].isdigit() else ("~", text)
    return ", ".join(str(k) for k in sorted(weights, key=order)) or "nothing"


def _shape_error(key, got, expected):
    return WeightFileError(f"{key} has shape {got}, expected {expected} from the other arrays")


def _simple_conv(w, dtype):
    W1 = w["W1"]
    if W1.ndim != 4 or W1.shape[2] != W1.shape[3]:
        raise WeightFileError(f"W1 has shape {W1.shape}, expected (filters, channels, k, k)")
    FN, C, FS, _ = W1.shape
    if w["W2"].ndim != 2 or w["W3"].ndim != 2:
        raise WeightFileError("W2 and W3 must be matrices")
    flat, hidden = w["W2"].shape
    output = w["W3"].shape[1]
    # The book's SimpleConvNet: convolution with stride 1, no padding, then 2x2 pooling:
    # W2 has FN * P * P rows for P x P pooled maps, from H = 2P + FS - 1 square inputs.
    pooled = math.isqrt(flat // FN) if flat % FN == 0 else 0
    if pooled < 1 or FN * pooled * pooled != flat:
        raise WeightFileError(f"W2 has {flat} rows, not {FN} filters times a square map")
    size = 2 * pooled + FS - 1
    net = SimpleConvNet(input_dim=(C, size, size),
                        conv_param={"filter_num": FN, "filter_size": FS, "pad": 0, "stride": 1},
                        hidden_size=hidden, output_size=output, dtype=dtype, rng=0)
    return net, {}


# The book's DeepConvNet: six 3x3 convolutions with these paddings, stride 1.
_DEEP_PADS = (1, 1, 1, 2, 1, 1)


def _deep_conv(w, dtype, dropout_ratio):
    convs = []
    channels = None
    for i, pad in enumerate(_DEEP_PADS, start=1):
        W = w[f"W{i}"]
        if W.ndim != 4 or W.shape[2] != W.shape[3]:
            raise WeightFileError(f"W{i} has shape {W.shape}, expected (filters, channels, k, k)")
        if channels is not None and W.shape[1] != channels:
            raise WeightFileError(f"W{i} takes {W.shape[1]} channels but W{i - 1} makes "
                                  f"{channels}")
        channels = W.shape[0]
        convs.append({"filter_num": W.shape[0], "filter_size": W.shape[2], "pad": pad,
                      "stride": 1})
    if w["W7"].ndim != 2 or w["W8"].ndim != 2:
        raise WeightFileError("W7 and W8 must be matrices")
    hidden = w["W7"].shape[1]
    output = w["W8"].shape[1]
    C = w["W1"].shape[1]
    kwargs = {f"conv_param_{i}": cp for i, cp in enumerate(convs, start=1)}
    # The input's side is what makes W7's rows come out right: 28 (MNIST) first.
    for size in [28] + [s for s in range(1, 257) if s != 28]:
        try:
            net = DeepConvNet(input_dim=(C, size, size), hidden_size=hidden,
                              output_size=output, dropout_ratio=dropout_ratio, dtype=dtype,
                              rng=0, **kwargs)
        except ValueError:
            continue
        if net.params["W7"].shape == w["W7"].shape:
            break
    else:
        raise WeightFileError(f"W7 has {w['W7'].shape[0]} rows, which no square input "
                              f"gives after these convolutions")
    keep = 1.0 - dropout_ratio
    return net, {"W8": keep * keep, "b8": keep}


def network_from_weights(weights, model, *, dropout_ratio=0.5):
    """A chainrule network holding the book's weights (a dict W1, b1, ...) for `model`
    ("simple-conv" or "deep-conv"), its configuration read from the arrays' shapes, and
    predicting at inference the scores the book's class gives with them."""
    if model not in BOOK_MODELS:
        raise ValueError(f"unknown model {model!r}; choose from {', '.join(BOOK_MODELS)}")
    if not 0.0 <= dropout_ratio < 1.0:
        raise ValueError(f"dropout_ratio must be in [0, 1), got {dropout_ratio}")
    count = 3 if model == "simple-conv" else 8
    name = "SimpleConvNet" if model == "simple-conv" else "DeepConvNet"
    w = _expect_keys(weights, count, name)
    dtype = np.result_type(*w.values())
    if model == "simple-conv":
        net, scale = _simple_conv(w, dtype)
    else:
        net, scale = _deep_conv(w, dtype, dropout_ratio)
    for key, value in w.items():
        target = net.params[key]
        if value.shape != target.shape:
            raise _shape_error(key, value.shape, target.shape)
        target[...] = value
        if key in scale:
            target *= scale[key]
    return net


def import_weights(path, model, output, *, dropout_ratio=0.5):
    """Read the book's weight pickle `path` for `model` and save it as the chainrule
    checkpoint `output` (written whole or not at all). Returns the network."""
    net = network_from_weights(read_weight_pickle(path), model, dropout_ratio=dropout_ratio)
    save(net, output)
    return net
