"""Saving and loading networks: one .npz file per model, never pickle.

A checkpoint is an uncompressed NumPy .npz archive holding
  __chainrule__       the metadata as UTF-8 JSON bytes: format version, model class,
                      its constructor arguments (config), the shape and dtype of every
                      array, and optionally the training state (optimizer, epoch, history);
  param/<name>        every parameter (W1, b1, ...);
  buffer/<name>       saved state that is not trained (batch norm's running statistics);
  optimizer/<name>    the optimizer's state arrays (momentum, Adam's moments), if given;
  training/<name>     arrays of the training state (an early stop's best weights).

Loading reads only plain numeric arrays and JSON: nothing in the file is executed. Every
array's header is checked against the bytes actually stored before anything is
allocated, so a damaged or hostile file gives a CheckpointError, not a huge allocation.
"""

import json
import os
import struct
import zipfile

import numpy as np

from . import models as _models
from .files import atomic_file, not_a_regular_file, read_npy_header
from .initializers import make_rng
from .registry import describe
from .training_state import check_training_state

__all__ = ["save", "load", "load_checkpoint", "Checkpoint", "CheckpointError", "FORMAT"]

FORMAT = "chainrule-checkpoint"
FORMAT_VERSION = 1
_META = "__chainrule__"
_MAX_META_BYTES = 64 * 1024 * 1024


class CheckpointError(ValueError):
    """A file that is not a readable chainrule checkpoint, with the reason."""


class Checkpoint:
    """What a checkpoint holds: the model, and the training state if one was saved."""

    def __init__(self, model, metadata, optimizer_state, training, training_arrays=None):
        self.model = model
        self.metadata = metadata
        self.optimizer_state = optimizer_state
        self.training = training
        self.training_arrays = training_arrays or {}

    def make_optimizer(self):
        """The saved optimizer, rebuilt with its settings and state; None if none was saved."""
        from .optimizers import make_optimizer
        saved = self.metadata.get("optimizer")
        if not saved:
            return None
        optimizer = make_optimizer(saved["class"], **saved["hyperparameters"])
        optimizer.load_state_dict(self.optimizer_state, self.model.params)
        return optimizer


def save(model, path, *, optimizer=None, training=None, training_arrays=None):
    """Save `model` (and optionally an optimizer's state, a JSON-friendly `training`
    dict and the arrays that go with it) to `path` as a chainrule .npz checkpoint,
    atomically.

    Any chainrule network can be saved: its architecture (each layer's type and
    settings) is stored as JSON beside the arrays, and so is `model.inputs`, the record
    of how its inputs are made from data (a language model's vocabulary, ...). A network of one of the classes in
    chainrule.models.MODELS loads back as that class; any other (a Sequential, or a
    class of one's own built on it) loads back as a Sequential with the same layers.
    """
    architecture_of = getattr(model, "architecture", None)
    if not callable(architecture_of):
        raise ValueError(f"cannot save a {type(model).__name__}: it is not a chainrule "
                         f"network (chainrule.models.Sequential or one built on it)")
    architecture = architecture_of()  # ValueError for a layer class nobody registered
    cls = type(model).__name__
    if _models.MODELS.get(cls) is not type(model):
        cls = "Sequential"
    if training is not None:
        # `training` is what load_checkpoint hands back to Trainer.load_state, and load
        # refuses a state it cannot resume: refuse it here, before a file load would
        # reject is written.
        try:
            check_training_state(training)
        except ValueError as exc:
            raise ValueError(f"cannot save: `training` must be a trainer's state "
                             f"(Trainer.state()), and {exc}") from None
    # np.asarray(order="C"), not np.ascontiguousarray: the latter turns a 0-d array
    # (Adam's step count) into shape (1,).
    arrays = {}
    for name, value in model.params.items():
        arrays[f"param/{name}"] = np.asarray(value, order="C")
    for name, value in getattr(model, "buffers", {}).items():
        arrays[f"buffer/{name}"] = np.asarray(value, order="C")
    optimizer_meta = None
    if optimizer is not None:
        for name, value in optimizer.state_dict().items():
            arrays[f"optimizer/{name}"] = np.asarray(value, order="C")
        optimizer_meta = {"class": type(optimizer).__name__,
                          "hyperparameters": optimizer.hyperparameters()}
    for name, value in (training_arrays or {}).items():
        arrays[f"training/{name}"] = np.asarray(value, order="C")
    from . import __version__
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "chainrule_version": __version__,
        "model": cls,
        "config": model.config,
        "architecture": architecture,
        "arrays": {key: {"shape": list(a.shape), "dtype": a.dtype.str}
                   for key, a in arrays.items()},
        "optimizer": optimizer_meta,
        "training": training,
        "inputs": getattr(model, "inputs", None),
    }
    try:
        text = json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cannot save: the metadata is not plain JSON ({exc})") from None
    meta_bytes = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    with atomic_file(path, sync=True) as f:
        np.savez(f, **{_META: meta_bytes}, **arrays)
    return os.fspath(path)


def _read_member(zf, name, info, path):
    """One .npy member of the archive, with its header checked before any allocation."""
    if info.compress_type != zipfile.ZIP_STORED:
        raise CheckpointError(f"{path}: member {name} is compressed; chainrule writes "
                              f"uncompressed archives")
    with zf.open(info) as f:
        try:
            shape, fortran, dtype = read_npy_header(f)
        except ValueError as exc:
            raise CheckpointError(f"{path}: member {name} has a bad array header ({exc})") from None
        if dtype.hasobject or dtype.kind not in "fiub":
            raise CheckpointError(f"{path}: member {name} has dtype {dtype}; only numeric "
                                  f"arrays are read (never pickled objects)")
        count = 1
        for dim in shape:
            count *= int(dim)
        nbytes = count * dtype.itemsize
        stored = info.file_size - f.tell()
        if nbytes != stored:
            raise CheckpointError(f"{path}: member {name} declares shape {shape} "
                                  f"({nbytes} bytes) but holds {stored} bytes")
        data = f.read(nbytes)
        f.read(1)  # reach the end, where zipfile verifies the CRC
    array = np.frombuffer(data, dtype=dtype)
    order = "F" if fortran else "C"
    return array.reshape(shape, order=order).copy(order="C")


def _check_config_size(config, limit, path):
    """No dimension in the config may exceed the number of stored parameter values.

    Every size in a network's config multiplies into some weight's shape, so a larger
    one can only come from a damaged or hostile file, and building that network would
    allocate memory the file never paid for.
    """
    stack = [config]
    while stack:
        value = stack.pop()
        if isinstance(value, (dict, list)) and len(value) > limit:
            # e.g. a list of a million hidden sizes: each layer holds at least one value.
            raise CheckpointError(f"{path}: the model config holds a list of {len(value)} "
                                  f"entries, more than the {limit} parameter values stored")
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, int) and not isinstance(value, bool) and value > limit:
            raise CheckpointError(f"{path}: the model config asks for a size of {value}, "
                                  f"more than the {limit} parameter values stored")


def load_checkpoint(path):
    """Read a checkpoint in full: the model, the optimizer state and the training state."""
    path = os.fspath(path)
    problem = not_a_regular_file(path, "checkpoint file")
    if problem:
        raise CheckpointError(problem)
    try:
        size_on_disk = os.path.getsize(path)
        zf = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path}: is a directory, not a checkpoint file") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError,
            struct.error, RuntimeError, NotImplementedError) as exc:
        raise CheckpointError(f"{path}: not a chainrule checkpoint (not a readable .npz "
                              f"archive: {exc})") from None
    try:
        with zf:
            return _load_from_zip(zf, path, size_on_disk)
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError, TypeError,
            OverflowError, UnicodeDecodeError, RecursionError, struct.error,
            RuntimeError, NotImplementedError) as exc:
        # zipfile reports a damaged member (bad CRC, cut short) in any of these ways;
        # RuntimeError is its "encrypted member" (a flipped flag bit), NotImplementedError
        # an unknown compression method.
        raise CheckpointError(f"{path}: damaged checkpoint ({type(exc).__name__}: {exc})") from None


def _load_from_zip(zf, path, size_on_disk):
    infos = {}
    total = 0
    for info in zf.infolist():
        if not info.filename.endswith(".npy"):
            raise CheckpointError(f"{path}: unexpected member {info.filename!r}")
        total += info.file_size
        infos[info.filename[:-4]] = info
    if _META not in infos:
        raise CheckpointError(f"{path}: not a chainrule checkpoint (no {_META} metadata)")
    if total > size_on_disk:
        raise CheckpointError(f"{path}: members claim {total} bytes but the file has "
                              f"{size_on_disk}; the archive is damaged")
    meta_info = infos.pop(_META)
    if meta_info.file_size > _MAX_META_BYTES:
        raise CheckpointError(f"{path}: metadata of {meta_info.file_size} bytes is too large")
    raw = _read_member(zf, _META, meta_info, path)
    try:
        metadata = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: metadata is not valid JSON ({exc})") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a chainrule checkpoint (format tag missing)")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format version "
                              f"{metadata.get('format_version')!r}; this chainrule reads "
                              f"version {FORMAT_VERSION}")
    model_name = metadata.get("model")
    config = metadata.get("config")
    if not isinstance(model_name, str) or model_name not in _models.MODELS:
        raise CheckpointError(f"{path}: unknown model class {model_name!r}; known: "
                              f"{', '.join(_models.MODELS)}")
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: model config missing or not an object")
    architecture = metadata.get("architecture")
    if model_name == "Sequential":
        _check_architecture(architecture, path)

    arrays = {key: _read_member(zf, key, info, path) for key, info in infos.items()}
    declared = metadata.get("arrays")
    if not isinstance(declared, dict) or set(declared) != set(arrays):
        raise CheckpointError(f"{path}: the metadata's list of arrays does not match the "
                              f"archive's members")
    for key, array in arrays.items():
        entry = declared[key]
        if (not isinstance(entry, dict) or entry.get("shape") != list(array.shape)
                or entry.get("dtype") != array.dtype.str):
            raise CheckpointError(f"{path}: {key} is {array.dtype.str}{list(array.shape)} "
                                  f"but the metadata says {entry!r}")
    for key in arrays:
        if not key.startswith(("param/", "buffer/", "optimizer/", "training/")):
            raise CheckpointError(f"{path}: unexpected array {key!r}")
    if model_name == "Sequential":
        model = _rebuild_sequential(architecture, arrays, path)
    else:
        model = _rebuild_preset(model_name, config, arrays, path)
    optimizer_state = {key[len("optimizer/"):]: a for key, a in arrays.items()
                       if key.startswith("optimizer/")}
    training_arrays = {key[len("training/"):]: a for key, a in arrays.items()
                       if key.startswith("training/")}
    inputs = metadata.get("inputs")
    if inputs is not None and not isinstance(inputs, dict):
        raise CheckpointError(f"{path}: the record of the model's inputs is not an object")
    model.inputs = inputs
    checkpoint = Checkpoint(model, metadata, optimizer_state, metadata.get("training"),
                            training_arrays)
    _check_optimizer(checkpoint, path)
    if checkpoint.training is not None:
        try:
            check_training_state(checkpoint.training)
        except ValueError as exc:
            raise CheckpointError(f"{path}: {exc}") from None
    return checkpoint


# A network of more layers than this comes from a damaged or hostile file.
_MAX_LAYERS = 4096


def _check_architecture(architecture, path):
    if not isinstance(architecture, dict) or not isinstance(architecture.get("layers"), list):
        raise CheckpointError(f"{path}: a Sequential checkpoint without its architecture "
                              f"(the list of layers)")
    if len(architecture["layers"]) > _MAX_LAYERS:
        raise CheckpointError(f"{path}: the architecture lists {len(architecture['layers'])} "
                              f"layers, more than the {_MAX_LAYERS} a network may have")
    for key in ("input_shape", "dtype"):
        if key not in architecture:
            raise CheckpointError(f"{path}: the architecture has no {key}")
    dtype = architecture["dtype"]
    if not isinstance(dtype, str) or dtype not in ("float16", "float32", "float64"):
        raise CheckpointError(f"{path}: the architecture's dtype {dtype!r} is not a "
                              f"floating-point type")


def _rebuild_sequential(architecture, arrays, path):
    """A Sequential from its architecture, its layers holding the stored arrays.

    Nothing is allocated beyond the arrays already read (whose sizes the file paid for),
    so a layer claiming 10^12 weights can only fail to find them.
    """
    named = {}
    for key, array in arrays.items():
        if key.startswith(("param/", "buffer/")):
            name = key.split("/", 1)[1]
            if name in named:
                raise CheckpointError(f"{path}: {name} is stored both as a parameter and a buffer")
            named[name] = array
    try:
        model = _models.Sequential.from_architecture(architecture, named)
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError,
            ZeroDivisionError) as exc:
        raise CheckpointError(f"{path}: cannot rebuild the network from its architecture: "
                              f"{exc}") from None
    # The arrays must also be where the network's names put them (param or buffer).
    for prefix, targets in (("param/", model.params), ("buffer/", model.buffers)):
        for name in targets:
            if prefix + name not in arrays:
                raise CheckpointError(f"{path}: {name} is stored under the wrong kind "
                                      f"(parameter or buffer)")
    return model


def _rebuild_preset(model_name, config, arrays, path):
    """One of the book's networks from its constructor's arguments, then its arrays.

    The constructor draws initial weights, which the arrays then replace, from a
    generator of its own: loading changes no draw of NumPy's global generator, which
    a script may have seeded (a Sequential is rebuilt from its architecture and draws
    nothing). Layers that draw while training (dropout) are given the global
    generator afterwards, as the constructor would have without `rng`.
    """
    n_values = sum(a.size for key, a in arrays.items() if key.startswith("param/"))
    _check_config_size(config, max(n_values, 1), path)
    if "rng" in config:
        raise CheckpointError(f"{path}: the model config holds a random generator setting")
    try:
        model = _models.MODELS[model_name](**config, rng=np.random.default_rng(0))
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError,
            ZeroDivisionError) as exc:
        raise CheckpointError(f"{path}: cannot rebuild {model_name} from its config "
                              f"({type(exc).__name__}: {exc})") from None
    for layer in model.layers.values():
        if describe(layer).draws_random:
            layer.rng = make_rng(None)
    _copy_into(model.params, arrays, "param/", model_name, path)
    _copy_into(getattr(model, "buffers", {}), arrays, "buffer/", model_name, path)
    return model


def _check_optimizer(checkpoint, path):
    """The saved optimizer must be one chainrule knows, with settings it accepts and
    state arrays that fit the model's parameters one for one."""
    saved = checkpoint.metadata.get("optimizer")
    if saved is None:
        if checkpoint.optimizer_state:
            raise CheckpointError(f"{path}: optimizer state without an optimizer")
        return
    from .optimizers import OPTIMIZERS
    if (not isinstance(saved, dict) or not isinstance(saved.get("class"), str)
            or saved["class"].lower() not in OPTIMIZERS
            or OPTIMIZERS[saved["class"].lower()].__name__ != saved["class"]
            or not isinstance(saved.get("hyperparameters"), dict)
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                       for v in saved["hyperparameters"].values())):
        raise CheckpointError(f"{path}: the saved optimizer {saved!r} is not one "
                              f"chainrule can rebuild")
    try:
        checkpoint.make_optimizer()
    except (TypeError, ValueError, OverflowError) as exc:
        raise CheckpointError(f"{path}: the saved optimizer cannot be rebuilt "
                              f"({type(exc).__name__}: {exc})") from None


def _copy_into(targets, arrays, prefix, model_name, path):
    """Copy stored arrays into the model's own arrays, strictly by name and shape.

    Copying in place (rather than replacing the arrays) keeps the layers' references
    to the parameters valid.
    """
    stored = {key[len(prefix):]: a for key, a in arrays.items() if key.startswith(prefix)}
    missing = sorted(set(targets) - set(stored))
    extra = sorted(set(stored) - set(targets))
    if missing or extra:
        raise CheckpointError(f"{path}: the stored {prefix.rstrip('/')}s do not fit {model_name}"
                              f"{': missing ' + ', '.join(missing) if missing else ''}"
                              f"{': unexpected ' + ', '.join(extra) if extra else ''}")
    for name, target in targets.items():
        value = stored[name]
        if value.shape != target.shape:
            raise CheckpointError(f"{path}: {prefix}{name} has shape {value.shape}, but "
                                  f"{model_name} with this config needs {target.shape}")
        if value.dtype != target.dtype:
            raise CheckpointError(f"{path}: {prefix}{name} has dtype {value.dtype}, but "
                                  f"{model_name} with this config holds {target.dtype}")
        target[...] = value


def load(path):
    """The model stored in a checkpoint file: `chainrule.load("model.npz")`."""
    return load_checkpoint(path).model
