"""What the subcommands share: the one error and how messages are said, loading a
saved model (and refusing a broken one), the data sets' names and words, threads and
listening sockets."""

import errno
import socket
import sys

import numpy as np

from ..checkpoint import CheckpointError, load_checkpoint

DATASET_CHOICES = ("auto", "mnist", "fashion-mnist", "mnist-10k", "shakespeare")

# How the command line says what a DatasetError's phrases say in the library's words
# (see chainrule.datasets.DatasetError.worded).
DATASET_WORDS = {
    "give_data_dir": "give --data-dir <folder holding the four .gz files>",
    "the_folder": "the folder given by --data-dir, ",
    "leave_out": "leave --data-dir out",
    "no_download": "",
    "download": "connect to the internet (chainrule then downloads it)",
    "not_attempted": "not attempted",
    "image_size": "--image-size HxW",
}


class CommandError(Exception):
    """What the command was asked cannot be done: `main` prints the message as
    `chainrule: error: ...` and ends with `status` (2: a problem with what was asked;
    1: a failure while working; 3: training diverged)."""

    def __init__(self, message, status=2):
        super().__init__(message)
        self.status = status


def error(message):
    """Say an error on standard error, as argparse says its own."""
    print(f"chainrule: error: {message}", file=sys.stderr)


def note(message):
    print(f"chainrule: note: {message}", file=sys.stderr)


def dataset_message(exc, **words):
    """A data set error's text with the library's keyword arguments said as options
    (`words` overrides how a phrase is said, by its key)."""
    worded = getattr(exc, "worded", None)
    return worded({**DATASET_WORDS, **words}) if worded else str(exc)


# -- saved models ----------------------------------------------------------------------
def broken_model(model, path):
    """A message if `model` holds NaN or infinite weights (a broken model), else None."""
    arrays = dict(getattr(model, "params", {}))
    arrays.update({f"{k} (buffer)": v for k, v in (getattr(model, "buffers", None) or {}).items()})
    bad = [name for name, value in arrays.items()
           if np.asarray(value).dtype.kind == "f" and not np.isfinite(value).all()]
    if bad:
        return (f"{path}: the model is broken: {', '.join(bad)} hold NaN or infinite "
                f"values, so every prediction would be meaningless")
    return None


def load_model_file(path, refuse_broken=True):
    """The checkpoint in `path` (model and training state); CommandError if it cannot
    be read, or (refuse_broken) if its model's weights are not all finite."""
    try:
        checkpoint = load_checkpoint(path)
    except (CheckpointError, OSError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    broken = broken_model(checkpoint.model, path) if refuse_broken else None
    if broken:
        raise CommandError(broken)
    return checkpoint


def own_data_record(checkpoint):
    """What chainrule 0.2.0's `train --data` recorded of the data of one's own (in the
    run information), or None."""
    return ((checkpoint.training or {}).get("run") or {}).get("data")


def inputs_of(checkpoint, path="the model"):
    """The record of how the model's inputs are made from data (chainrule.datasets.
    inputs): network.inputs, else, for a model trained by 0.2.0, what its run recorded
    (the data of one's own, or the data set's name); None when nothing says (a model
    made in Python) or the model reads text. CommandError for a damaged record."""
    from ..datasets.inputs import check_inputs, named_inputs, own_inputs
    record = getattr(checkpoint.model, "inputs", None)
    if isinstance(record, dict) and record.get("kind") == "text":
        return None
    try:
        if record is None and own_data_record(checkpoint):
            record = own_inputs(own_data_record(checkpoint))
        elif record is None and saved_dataset(checkpoint) not in (None, "auto"):
            record = named_inputs(saved_dataset(checkpoint))
        if record is not None:
            check_inputs(record, path)
    except (KeyError, TypeError, ValueError) as exc:
        raise CommandError(f"{path}: the record of how its inputs are made is damaged "
                           f"({exc})") from None
    return record


def saved_dataset(checkpoint):
    """The data set a checkpoint's run was trained on, if the command line recorded it."""
    name = ((checkpoint.training or {}).get("run") or {}).get("dataset")
    return name if name in DATASET_CHOICES else None


def class_names(dataset, n_classes):
    from ..datasets import CLASS_NAMES
    names = CLASS_NAMES.get(dataset, [])
    if len(names) != n_classes:
        names = [str(i) for i in range(n_classes)]
    return names


def checkpoint_class_names(checkpoint, dataset, n_classes):
    """The names of a model's classes: its record's, else those of `dataset`."""
    record = inputs_of(checkpoint)
    if record and len(record.get("class_names") or []) == n_classes:
        return [str(n) for n in record["class_names"]]
    return class_names(dataset, n_classes)


# -- threads and sockets ---------------------------------------------------------------
def resolve_threads(spec):
    """The thread count for --threads spec (and CHAINRULE_THREADS), capped at the cores
    this process may use, saying so when capped; CommandError for a bad setting."""
    from .. import threads
    try:
        n, capped = threads.resolve_capped(spec)
    except ValueError as exc:  # CHAINRULE_THREADS=abc
        raise CommandError(str(exc)) from None
    if capped:
        note(capped)
    return n


def listen_error(host, port, exc):
    """Why a server could not listen on host:port, in words."""
    reason = exc.strerror or str(exc)
    if exc.errno == errno.EADDRNOTAVAIL:
        reason += (f": {host} is not an address of this machine (use 127.0.0.1 for this "
                   f"machine only, 0.0.0.0 for every interface)")
    elif exc.errno == errno.EADDRINUSE:
        reason += f": another program uses port {port} (try --port 0 for any free port)"
    elif exc.errno == errno.EACCES:
        reason += " (ports below 1024 need administrator rights)"
    elif isinstance(exc, socket.gaierror):
        reason = f"{host} is not a known host name or address ({reason})"
    return f"cannot listen on {host}:{port}: {reason}"


def check_listen(host, port):
    """CommandError saying why a server cannot listen on host:port, found by binding a
    socket there first (werkzeug, on failing, prints the bare OS message and exits)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        raise CommandError(listen_error(host, port, exc)) from None
