"""The `chainrule` command: train, evaluate, predict, gradcheck, info (and graph, plot, serve).

Run `chainrule COMMAND --help` for each command's options. `python -m chainrule` is the
same command.
"""

import argparse
import json
import os
import sys

import numpy as np

from .evaluation import confusion_matrix, predict_probabilities
from .functions import NonFiniteError
from .optimizers import LR_SCHEDULES

DATASET_CHOICES = ("auto", "mnist", "fashion-mnist", "mnist-10k")
# The learning rate each optimizer gets when --lr is not given: the seed's 0.1 for SGD,
# the usual starting points for the others.
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.01,
              "rmsprop": 0.001, "adam": 0.001}


def _err(message):
    print(f"chainrule: error: {message}", file=sys.stderr)


def _number_type(convert, valid, requirement):
    """An argparse type: text -> convert(text), which must satisfy valid(value).

    Bad numbers are refused before anything runs: 0 epochs or a batch of 0 is a mistake,
    not a run."""
    noun = "a whole number" if convert is int else "a number"

    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None
        if not valid(value):
            raise argparse.ArgumentTypeError(f"must be {requirement}, got {text}")
        return value
    return parse


positive_int = _number_type(int, lambda v: v >= 1, "at least 1")
non_negative_int = _number_type(int, lambda v: v >= 0, "non-negative")
positive_float = _number_type(float, lambda v: v > 0 and np.isfinite(v), "a positive number")
fraction = _number_type(float, lambda v: 0.0 <= v < 1.0, "in [0, 1)")
non_negative_float = _number_type(float, lambda v: v >= 0 and np.isfinite(v),
                                  "a non-negative number")


def port_number(text):
    """An argparse type for a TCP port: 0..65535 (0: any free port), the same check for
    `train --serve` and `serve`."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0..65535, got {port}")
    return port


def threads_option(text):
    """An argparse type for --threads: "auto" or a whole number of at least 1."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or 'auto', "
                                         f"got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 or 'auto', got {text}")
    return str(n)


def resolve_threads(spec):
    """The thread count for --threads spec (and CHAINRULE_THREADS), capped at the cores
    this process may use, saying so when capped; ValueError for a bad setting."""
    from . import threads
    n, note = threads.resolve_capped(spec)
    if note:
        print(f"chainrule: note: {note}", file=sys.stderr)
    return n


def listen_error(host, port, exc):
    """Why a server could not listen on host:port, in words."""
    import errno
    reason = exc.strerror or str(exc)
    if exc.errno == errno.EADDRNOTAVAIL:
        reason += (f": {host} is not an address of this machine (use 127.0.0.1 for this "
                   f"machine only, 0.0.0.0 for every interface)")
    elif exc.errno == errno.EADDRINUSE:
        reason += f": another program uses port {port} (try --port 0 for any free port)"
    elif exc.errno == errno.EACCES:
        reason += " (ports below 1024 need administrator rights)"
    elif isinstance(exc, __import__("socket").gaierror):
        reason = f"{host} is not a known host name or address ({reason})"
    return f"cannot listen on {host}:{port}: {reason}"


def check_listen(host, port):
    """Why a server cannot listen on host:port, found by binding a socket there first
    (werkzeug, on failing, prints the bare OS message and exits), or None."""
    import socket
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        return listen_error(host, port, exc)
    return None


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


def dataset_message(exc):
    """A DatasetError's text with the library's keyword arguments said as options."""
    return (str(exc)
            .replace("pass data_dir=<folder", "give --data-dir <folder")
            .replace("the folder data_dir=", "the folder given by --data-dir, ")
            .replace("data_dir=", "--data-dir ")
            .replace("leave data_dir out", "leave --data-dir out")
            .replace(" and download=False;", ";")
            .replace("connect to the internet and load with download=True",
                     "connect to the internet (chainrule then downloads it)")
            .replace("not attempted (download=False)", "not attempted"))


# -- data ------------------------------------------------------------------------------
def load_data(name, data_dir=None, quiet=False, download=True):
    """((x_train, t_train), (x_test, t_test)) and the name of the set actually loaded.

    "auto" is full MNIST if it is on this machine already, else the bundled 8,000/2,000
    digits, saying so in one line.
    """
    from . import datasets
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


def _image_size(text):
    """--image-size HxW (or one number for a square)."""
    parts = text.lower().replace("*", "x").split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW such as 28x28, got {text!r}") from None
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected HxW such as 28x28, got {text!r}")
    return tuple(values)


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
    from .datasets import read_data
    from .datasets.owndata import apply_preprocessing
    options = _read_options(args, saved)
    prep = (saved or {}).get("preprocessing") or {}
    standardize = not saved
    data = read_data(path, standardize=standardize, **options)
    if data.note and not quiet and not saved:
        print(f"chainrule: note: {data.note}", file=sys.stderr)
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
    from .datasets import DatasetError
    lookup = {name: i for i, name in enumerate(names_model)}
    unknown = sorted(set(names_here) - set(lookup))
    if unknown:
        raise DatasetError(f"{path}: class(es) {', '.join(unknown)} are not among the "
                           f"model's classes ({', '.join(names_model)})")
    mapping = np.array([lookup[name] for name in names_here], dtype=np.int64)
    return mapping[t]


def _own_data_record(checkpoint):
    return ((checkpoint.training or {}).get("run") or {}).get("data")


# -- models ----------------------------------------------------------------------------
# Options that describe a preset's network; --layers describes the network itself.
MODEL_OPTIONS = ("model", "hidden", "activation", "weight_decay", "dropout", "batchnorm")


def input_shape_for(args, x):
    """The shape of one sample for the network asked for: (D,), or (C, H, W) images.

    Data loaded as flat rows are taken as square one-channel pictures where the network
    begins with convolutions or pooling (as the book's conv networks take MNIST)."""
    if x.ndim == 4:
        return tuple(x.shape[1:])
    features = int(x.shape[1])
    text = getattr(args, "layers", None)
    if text:
        from .compose import parse
        names = [name for name, *_ in parse(text)]
        first_affine = names.index("affine") if "affine" in names else len(names)
        if any(n in ("conv", "pool", "avgpool") for n in names[:first_affine]):
            side = int(round(np.sqrt(features)))
            if side * side != features:
                raise ValueError(f"--layers begins with image layers, but the data's "
                                 f"{features} features are not a square picture")
            return (1, side, side)
    return (features,)


def check_model_options(args):
    """ValueError for a network request that cannot work, before any data is loaded:
    a malformed --layers text, or options that the chosen network does not take."""
    from . import compose, models
    options = {key: getattr(args, key, None) for key in MODEL_OPTIONS[1:]}
    if getattr(args, "layers", None):
        given = [f"--{key.replace('_', '-')}" for key in MODEL_OPTIONS
                 if getattr(args, key, None) not in (None, False)]
        if given:
            raise ValueError(f"--layers describes the whole network; it cannot be combined "
                             f"with {', '.join(given)}")
        compose.build_items(args.layers)
    else:
        models.PRESETS[args.model or "two-layer"].check(**options)


def build_model(args, input_shape, output_size, rng=None):
    """The network the options ask for: --layers TEXT, or a preset (--model NAME)."""
    from . import models
    rng = np.random.default_rng(args.seed) if rng is None else rng
    options = {key: getattr(args, key, None) for key in MODEL_OPTIONS[1:]}
    check_model_options(args)
    if getattr(args, "layers", None):
        network = models.Sequential(args.layers, input_shape, dtype=args.dtype, rng=rng)
        if network.output_size != output_size:
            raise ValueError(f"the last layer gives {network.output_size} scores, but the "
                             f"data has {output_size} classes: end --layers with "
                             f"affine({output_size})")
        return network
    preset = models.PRESETS[args.model or "two-layer"]
    return preset.build(input_shape, output_size, dtype=args.dtype, rng=rng, **options)


def model_options_problem(args):
    """Why the network asked for cannot be built (naming the model and options), or None."""
    try:
        check_model_options(args)
    except ValueError as exc:
        return str(exc)
    return None


def _optimizer_settings(args):
    name = args.optimizer.lower()
    settings = {"lr": args.lr if args.lr is not None else DEFAULT_LR[name]}
    if name in ("momentum", "nesterov"):
        settings["momentum"] = args.momentum
    if name == "adam":
        settings["beta1"], settings["beta2"] = args.beta1, args.beta2
    if name == "rmsprop":
        settings["decay_rate"] = args.decay_rate
    return name, settings


# -- train -----------------------------------------------------------------------------
# Options that describe the run itself. --resume continues the saved run as it was set
# up, so these are taken from the checkpoint; a value given on the command line that
# differs from the default is reported as ignored rather than silently dropped.
RUN_OPTIONS = ("model", "layers", "hidden", "activation", "weight_decay", "dropout", "batchnorm",
               "seed", "optimizer", "lr", "momentum", "beta1", "beta2", "decay_rate",
               "lr_schedule", "batch_size", "epochs", "iters", "dtype", "validation_split",
               "augment", "shift", "rotation", "flip", "early_stopping", "monitor",
               "min_delta", "best_checkpoint", "plateau_factor", "plateau_patience",
               "label_column", "image_size", "color", "test_fraction")
# Except these: with --resume they set a new length for the run (Keras's initial_epoch).
LENGTH_OPTIONS = ("epochs", "iters")


def _callback_spec(args):
    """The callbacks the command line asked for, as JSON (kept in the checkpoint, so
    that --resume rebuilds them)."""
    monitor = args.monitor or ("val_loss" if args.validation_split else "loss")
    spec = {}
    if args.early_stopping:
        spec["early_stopping"] = {"monitor": monitor, "patience": args.early_stopping,
                                  "min_delta": args.min_delta,
                                  "restore_best_weights": True}
    if args.best_checkpoint:
        spec["best_checkpoint"] = {"path": os.path.abspath(args.best_checkpoint),
                                   "monitor": monitor}
    if args.lr_schedule == "plateau":
        spec["plateau"] = {"monitor": monitor, "factor": args.plateau_factor,
                           "patience": args.plateau_patience}
    return spec


def _make_callbacks(spec):
    from .callbacks import BestCheckpoint, EarlyStopping, ReduceLROnPlateau
    callbacks = []
    if "plateau" in spec:
        callbacks.append(ReduceLROnPlateau(**spec["plateau"]))
    if "early_stopping" in spec:
        callbacks.append(EarlyStopping(**spec["early_stopping"]))
    if "best_checkpoint" in spec:
        callbacks.append(BestCheckpoint(**spec["best_checkpoint"]))
    return callbacks


def _make_augment(config):
    if not config:
        return None
    from .augmentation import Augment
    return Augment(**config)


def _check_output(path, what):
    """An output file must be writable: better said now than after an hour of training.

    The folder must exist and take a new file (tried with a temporary one: permissions,
    a read-only disk or /proc say no only when asked), and the file, if it exists, must
    be writable. A symbolic link is checked where it points, where it will be written.
    """
    if os.path.islink(path):
        path = os.path.realpath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        return f"{what} {path} is a directory"
    if not os.path.isdir(folder):
        return f"cannot write {what} {path}: the folder {folder} does not exist"
    if os.path.exists(path) and not os.access(path, os.W_OK):
        return f"cannot write {what} {path}: the file is not writable"
    problem = _folder_problem(folder)
    if problem:
        return f"cannot write {what} {path}: {problem}"
    return None


def _folder_problem(folder):
    """Why a new file cannot be made in `folder`, or None."""
    import tempfile
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".chainrule-check-"):
            pass
    except OSError as exc:
        return f"cannot create files in {folder} ({exc.strerror or exc})"
    return None


def _same_file(a, b):
    return os.path.realpath(os.path.abspath(a)) == os.path.realpath(os.path.abspath(b))


def _check_outputs(args):
    """Every output of `train` writable and each on a path of its own; a message if not."""
    outputs = [(args.save, "--save", "checkpoint"), (args.metrics, "--metrics", "metrics file"),
               (args.plot, "--plot", "plot"),
               (getattr(args, "best_checkpoint", None), "--best-checkpoint", "best checkpoint")]
    outputs = [(path, flag, what) for path, flag, what in outputs if path]
    for i, (path, flag, what) in enumerate(outputs):
        for other, other_flag, _ in outputs[:i]:
            if _same_file(path, other):
                return (f"{other_flag} {other} and {flag} {path} are the same file: one "
                        f"would overwrite the other; give each its own name")
    for path, flag, what in outputs:
        problem = _check_output(path, what)
        if problem:
            return problem
    if args.plot:
        from .plot import picture_format
        try:
            picture_format(args.plot)
        except ValueError as exc:
            return f"--plot {exc}"
    if args.save and not args.resume and not args.overwrite and os.path.exists(args.save):
        return (f"{args.save} exists{_describe_checkpoint(args.save)}; a new run would "
                f"replace it: continue it with --resume {args.save}, or give --overwrite "
                f"to replace it, or another --save name")
    return None


def _describe_checkpoint(path):
    """ " (a checkpoint at iteration 600 of 600, test accuracy 0.9490)", or "" """
    from .checkpoint import CheckpointError, load_checkpoint
    try:
        training = load_checkpoint(path).training
    except (CheckpointError, OSError):
        return ""
    if not training:
        return " (a saved model)"
    text = f" (a checkpoint at iteration {training['iteration']} of {training['max_iter']}"
    if training.get("history"):
        last = training["history"][-1]
        kind = "test" if "test_acc" in last else "validation"
        text += f", {kind} accuracy {last.get('test_acc', last.get('val_acc')):.4f}"
    return text + ")"


def _interrupt_path(args):
    """Where Ctrl-C saves the state: --save, else chainrule-interrupted.npz here, or in
    the temporary folder when this folder takes no files."""
    if args.save:
        return args.save
    name = "chainrule-interrupted.npz"
    if _folder_problem(os.getcwd()) is None:
        return name
    import tempfile
    return os.path.join(tempfile.gettempdir(), name)


def _rescue_state(trainer, exc, path):
    """After a failed write during training: save the state somewhere, say where."""
    import tempfile
    failed = getattr(exc, "filename", None) or path
    message = f"could not write {failed} ({exc.strerror or exc})"
    for folder in (os.getcwd(), tempfile.gettempdir()):
        rescue = os.path.join(folder, f"chainrule-rescued-{os.getpid()}.npz")
        try:
            trainer.save(rescue)
        except (OSError, ValueError):
            continue
        return (f"{message}; the state at iteration {trainer.current_iter} is saved to "
                f"{rescue} (continue with: chainrule train --resume {rescue})")
    return f"{message}; the state could not be saved anywhere"


def _ignored_with_resume(args, parser_defaults):
    given = []
    for dest in RUN_OPTIONS:
        if dest in LENGTH_OPTIONS:
            continue
        value = getattr(args, dest, None)
        if value is not None and value != parser_defaults.get(dest):
            flag = "--" + dest.replace("_", "-")
            if isinstance(value, list):
                value = " ".join(map(str, value))
            given.append(flag if value is True else f"{flag} {value}")
    return given


def cmd_train(args):
    if args.distributed:
        from .distributed import run_command
        return run_command(_train, args)
    return _train(args)


def _train(args, comm=None):
    """The train command; comm is the MPI communicator with --distributed, else None."""
    from .checkpoint import CheckpointError, load_checkpoint
    from .datasets import DatasetError
    from .trainer import Trainer, TrainingDiverged, TrainingInterrupted
    from . import threads

    if getattr(args, "data", None) and args.dataset != "auto":
        _err("give --data PATH or --dataset NAME, not both")
        return 2
    if args.resume and not args.save:
        args.save = args.resume  # keep saving where the run was saved before
    problem = _check_outputs(args)
    if problem is None and not args.resume:
        problem = model_options_problem(args)
    if problem is None and args.serve:
        problem = check_listen(args.host, args.port)
    if problem:
        _err(problem)
        return 2
    if args.plot:
        import importlib.util
        if importlib.util.find_spec("matplotlib") is None:
            _err("--plot needs matplotlib: pip install 'chainrule[plot]' (checked before "
                 "training, so that no run is lost to it)")
            return 2
    try:
        # A bad --threads or CHAINRULE_THREADS is reported before the data loads.
        args.threads = resolve_threads(args.threads)
    except ValueError as exc:
        _err(str(exc))
        return 2

    resumed = None
    if args.resume:
        try:
            resumed = load_checkpoint(args.resume)
        except CheckpointError as exc:
            _err(str(exc))
            return 2
        if not resumed.training:
            _err(f"{args.resume} holds a model but no training state to resume")
            return 2
        ignored = _ignored_with_resume(args, args.parser_defaults)
        if ignored:
            print(f"chainrule: note: resuming continues the saved run as it was set up; "
                  f"ignoring {' '.join(ignored)}", file=sys.stderr)
        saved_record = _own_data_record(resumed)
        if saved_record and not args.data:
            args.data = saved_record["path"]
        if args.dataset == "auto" and not saved_record:
            args.dataset = (resumed.training.get("run") or {}).get("dataset", "auto")
            if args.dataset not in DATASET_CHOICES:
                args.dataset = "auto"
    saved_record = _own_data_record(resumed) if resumed is not None else None
    record = None

    def load():
        if args.data:
            data, own = load_own_data(args.data, args, saved_record, args.quiet)
            # as JSON text: the distributed loader shares arrays, text and numbers
            return (data, json.dumps(own)), os.path.basename(os.path.normpath(args.data))
        data, name = load_data(args.dataset, args.data_dir, args.quiet)
        return (data, None), name

    try:
        if comm is None:
            (data, record), dataset = load()
        else:  # rank 0 loads, every rank shares its arrays
            from .distributed import load_on_root
            (data, record), dataset = load_on_root(load, comm)
        (x_train, t_train), (x_test, t_test) = data
        record = json.loads(record) if record else None
    except DatasetError as exc:
        _err(dataset_message(exc))
        return 2
    except ValueError as exc:
        _err(str(exc))
        return 2
    n_classes = len(record["class_names"]) if record else int(t_train.max()) + 1
    if resumed is not None:
        flat = len(resumed.model.input_shape) == 1
    else:
        flat = not getattr(args, "layers", None) and args.model in ("two-layer", "mlp", None)
    if flat and x_train.ndim > 2:
        # Fully connected networks take rows: images become rows of pixels.
        x_train = x_train.reshape(len(x_train), -1)
        x_test = x_test.reshape(len(x_test), -1)

    try:
        if resumed is not None:
            network = resumed.model
            optimizer = resumed.make_optimizer()
            if optimizer is None:
                raise ValueError(f"{args.resume} holds no optimizer state to resume with")
            optimizer_param = optimizer.hyperparameters()
            seed = resumed.training["seed"]
            batch_size = resumed.training["batch_size"]
            epochs, iters = None, resumed.training["max_iter"]
            lr_schedule = resumed.training.get("lr_schedule", "constant")
            if lr_schedule == "custom":
                raise ValueError(f"{args.resume} was trained with a learning-rate schedule "
                                 f"of its own (a Python function); continue it in Python")
            size = int(np.prod(network.input_shape))
            if size != int(np.prod(x_train.shape[1:])):
                raise ValueError(f"{args.resume} was trained on inputs of size {size}, the "
                                 f"{dataset} data has {int(np.prod(x_train.shape[1:]))}")
            run = resumed.training.get("run") or {}
            callback_spec = run.get("callbacks") or {}
            validation_split = float(resumed.training.get("validation_split", 0.0))
            augment = _make_augment(resumed.training.get("augment"))
            iters = _new_length(args, resumed, len(x_train), validation_split)
        else:
            if args.seed is None:
                args.seed = int(np.random.SeedSequence().entropy % 2**32)
            network = build_model(args, input_shape_for(args, x_train), n_classes)
            optimizer, optimizer_param = _optimizer_settings(args)
            seed = args.seed
            batch_size = args.batch_size
            epochs, iters = args.epochs, args.iters
            lr_schedule = "constant" if args.lr_schedule == "plateau" else args.lr_schedule
            if epochs is None and iters is None:
                iters = 10000  # the seed's experiment
            callback_spec = _callback_spec(args)
            validation_split = args.validation_split
            augment = (_make_augment({"shift": args.shift, "rotation": args.rotation,
                                      "flip": args.flip}) if args.augment else None)
        if comm is not None:
            # One process per core already: each gets one BLAS thread and no helpers.
            from .distributed import DistributedTrainer
            threads.apply_policy(1)
            trainer_class, extra = DistributedTrainer, {"comm": comm}
        else:
            thread_plan = threads.apply_policy(args.threads, network, batch_size)
            trainer_class = Trainer
            extra = {"eval_in_background": thread_plan.eval_in_background}
        run_info = {"dataset": dataset}
        if record:
            run_info["data"] = record
        if callback_spec:
            run_info["callbacks"] = callback_spec
        trainer = trainer_class(network, x_train, t_train, x_test, t_test, **extra,
                          epochs=epochs or 1, mini_batch_size=batch_size, optimizer=optimizer,
                          optimizer_param=optimizer_param, verbose=not args.quiet,
                          iters=iters, seed=seed, eval_batch_size=1000,
                          checkpoint=args.save,
                          interrupt_path=_interrupt_path(args),
                          metrics_file=args.metrics, run_info=run_info,
                          lr_schedule=lr_schedule, validation_split=validation_split,
                          augment=augment, callbacks=_make_callbacks(callback_spec))
        if resumed is not None:
            old_total = resumed.training["max_iter"]
            trainer.load_state(resumed)
            trainer.run_info = run_info
            if trainer.max_iter != old_total and not args.quiet:
                print(f"chainrule: note: {_length_note(trainer, old_total)}", file=sys.stderr)
    except ValueError as exc:
        _err(str(exc))
        return 2
    except MemoryError as exc:
        _err(f"not enough memory to build this network ({exc}); choose smaller sizes")
        return 2

    server = None
    if args.serve:
        from .web import LiveMetrics, start_server_in_thread
        live = LiveMetrics(model=network, info={"model": repr(network), "dataset": dataset})
        try:
            server = start_server_in_thread(live, args.host, args.port)
        except OSError as exc:
            _err(listen_error(args.host, args.port, exc))
            return 2
        print(f"live training curves at {server.url}train", file=sys.stderr)
        trainer.callbacks.append(live)

    if args.metrics and resumed is None and os.path.exists(args.metrics):
        os.remove(args.metrics)  # a fresh run starts a fresh log; a resumed one appends
    if resumed is not None:
        if not args.quiet:
            print(f"resuming {args.resume} at iteration {trainer.current_iter} of "
                  f"{trainer.max_iter}: {type(trainer.optimizer).__name__} "
                  f"{trainer.optimizer.hyperparameters()}, batch {trainer.batch_size}, "
                  f"seed {trainer.seed}, {dataset}", file=sys.stderr)
    elif not args.quiet:
        schedule = "" if trainer.lr_schedule == "constant" else f", {trainer.lr_schedule} lr"
        print(f"{network!r}: {optimizer} {optimizer_param}{schedule}, "
              f"batch {trainer.batch_size}, "
              f"{trainer.max_iter} iterations ({trainer.iter_per_epoch} per epoch), "
              f"seed {seed}, {dataset}", file=sys.stderr)
    try:
        # The trainer detects divergence itself and says so; NumPy's overflow warnings
        # on the way there would only come first and say less.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            trainer.train()
    except TrainingInterrupted as exc:
        print(f"chainrule: {exc}", file=sys.stderr)
        return 130
    except TrainingDiverged as exc:
        _err(str(exc))
        return 3
    except OSError as exc:  # a checkpoint or the metrics could not be written after all
        _err(_rescue_state(trainer, exc, args.save))
        return 130 if getattr(trainer, "_stop_requested", False) else 1
    final = trainer.history[-1]
    if trainer.test_result is not None:
        # With a validation split the test set was measured once, at the end.
        print(f"final: train_acc {final['train_acc']:.4f}  val_acc {final['val_acc']:.4f}  "
              f"test_acc {trainer.test_result['test_acc']:.4f}  ({trainer.elapsed:.1f}s)")
    else:
        print(f"final: train_acc {final['train_acc']:.4f}  test_acc {final['test_acc']:.4f}  "
              f"({trainer.elapsed:.1f}s)")
    # The trainer saved the checkpoint after the last step and wrote the metrics.
    if not args.quiet:
        if args.save:
            print(f"saved the model and training state to {args.save}", file=sys.stderr)
        if args.metrics:
            print(f"wrote metrics to {args.metrics}", file=sys.stderr)
    if args.plot:
        from .plot import plot_curves
        try:
            plot_curves(trainer, args.plot)
        except OSError as exc:
            _err(f"could not write the plot {args.plot} ({exc.strerror or exc}); the "
                 f"training itself is finished"
                 f"{' and saved in ' + args.save if args.save else ''}")
            return 1
        if not args.quiet:
            print(f"plotted the training curves to {args.plot}", file=sys.stderr)
    if server is not None:
        print(f"training finished; the page stays at {server.url}train until Ctrl-C",
              file=sys.stderr)
        try:
            server.thread.join()
        except KeyboardInterrupt:
            pass
        finally:
            server.shutdown()
    return 0


def _new_length(args, resumed, n_data, validation_split):
    """The total number of steps of a resumed run: the saved one, or the one --epochs
    or --iters now asks for (continuing a finished run to a new total)."""
    training = resumed.training
    if args.iters:
        total = args.iters
    elif args.epochs:
        per_epoch = -(-training["train_size"] // training["batch_size"])
        total = args.epochs * per_epoch
    else:
        return training["max_iter"]
    if total < training["iteration"]:
        raise ValueError(f"{args.resume} is at iteration {training['iteration']} "
                         f"(epoch {training['epoch']}); a total of {total} steps is behind it")
    return total


def _length_note(trainer, old_total):
    """One line on how a resumed run's new length changes its schedule."""
    per_epoch = trainer.iter_per_epoch
    text = (f"continuing to {trainer.max_iter} steps ({trainer.max_iter / per_epoch:g} "
            f"epochs) instead of {old_total}")
    if trainer.lr_schedule == "cosine":
        now = trainer.base_lr * trainer.lr_factor(trainer.current_iter / trainer.max_iter)
        text += (f"; the cosine schedule is stretched over the new total, so the learning "
                 f"rate goes from its value at step {trainer.current_iter} of {old_total} "
                 f"to {now:.3g} and falls to 0 at step {trainer.max_iter}")
    return text


# -- evaluate --------------------------------------------------------------------------
def _saved_dataset(checkpoint):
    """The data set a checkpoint's run was trained on, if the command line recorded it."""
    name = ((checkpoint.training or {}).get("run") or {}).get("dataset")
    return name if name in DATASET_CHOICES else None


def _class_names(dataset, n_classes):
    from .datasets import CLASS_NAMES
    names = CLASS_NAMES.get(dataset, [])
    if len(names) != n_classes:
        names = [str(i) for i in range(n_classes)]
    return names


def _checkpoint_class_names(checkpoint, dataset, n_classes):
    record = _own_data_record(checkpoint)
    if record and len(record.get("class_names") or []) == n_classes:
        return [str(n) for n in record["class_names"]]
    return _class_names(dataset, n_classes)


def cmd_evaluate(args):
    from .checkpoint import CheckpointError, load_checkpoint
    from .datasets import DatasetError
    from .evaluation import per_class_scores, top_k_accuracy
    if args.data and args.dataset != "auto":
        _err("give --data PATH or --dataset NAME, not both")
        return 2
    try:
        checkpoint = load_checkpoint(args.model)
        model = checkpoint.model
        broken = broken_model(model, args.model)
        if broken:
            _err(broken)
            return 2
        record = _own_data_record(checkpoint)
        if args.data or (record and args.dataset == "auto"):
            path = args.data or record["path"]
            ((_, _), (x_test, t_test)), _ = load_own_data(path, args, record or None,
                                                         quiet=True)
            if not record:
                print(f"chainrule: note: {args.model} does not record how its data was "
                      f"read; reading {path} with the options given", file=sys.stderr)
            dataset = os.path.basename(os.path.normpath(path))
        else:
            dataset = args.dataset
            if dataset == "auto":  # the data the model was trained on, if known
                dataset = _saved_dataset(checkpoint) or "auto"
            data, dataset = load_data(dataset, args.data_dir, args.quiet)
            (_, _), (x_test, t_test) = data
    except CheckpointError as exc:
        _err(str(exc))
        return 2
    except DatasetError as exc:
        _err(dataset_message(exc))
        return 2
    except ValueError as exc:  # own data that cannot be read as the model needs
        _err(str(exc))
        return 2
    n_features = int(np.prod(x_test.shape[1:]))
    expected = int(np.prod(model.input_shape))
    n_classes = model.output_size
    t = np.asarray(t_test).astype(int)
    if expected != n_features:
        _err(f"{args.model} takes inputs of {expected} values; the {dataset} samples have "
             f"{n_features}")
        return 2
    if t.max() >= n_classes:
        _err(f"{args.model} knows {n_classes} classes; the {dataset} labels go up to {t.max()}")
        return 2
    if len(model.input_shape) == 1:
        x_test = x_test.reshape(len(x_test), -1)
    names = _checkpoint_class_names(checkpoint, dataset, n_classes)
    try:
        probs = predict_probabilities(model, x_test, batch_size=1000)
    except NonFiniteError as exc:
        _err(f"{args.model}: {exc}")
        return 2
    pred = probs.argmax(axis=1)
    cm = confusion_matrix(t, pred, n_classes)
    accuracy = float(np.mean(pred == t))
    per_class = cm.diagonal() / np.maximum(cm.sum(axis=1), 1)
    scores = per_class_scores(cm)
    ks = sorted({k for k in args.top_k if k <= n_classes}) or [1]
    top_k = {str(k): top_k_accuracy(probs, t, k) for k in ks}
    if args.json:
        print(json.dumps({"dataset": dataset, "accuracy": accuracy,
                          "per_class_accuracy": per_class.tolist(), "class_names": names,
                          "confusion_matrix": cm.tolist(), "samples": int(len(t)),
                          "precision": scores["precision"].tolist(),
                          "recall": scores["recall"].tolist(),
                          "f1": scores["f1"].tolist(),
                          "support": scores["support"].tolist(),
                          "macro_avg": scores["macro"], "weighted_avg": scores["weighted"],
                          "top_k_accuracy": top_k}))
        return 0
    print(f"{args.model}: accuracy {accuracy:.4f} on the {len(t)} test samples of {dataset}")
    print("top-k accuracy: " + "  ".join(f"top-{k} {v:.4f}" for k, v in top_k.items()))
    print("per-class accuracy:")
    for i, acc in enumerate(per_class):
        label = f"{i} {names[i]}" if names[i] != str(i) else str(i)
        print(f"  {label:<16} {acc:.4f}  ({cm[i].sum()} samples)")
    print("per-class precision, recall and F1:")
    labels = [f"{i} {names[i]}" if names[i] != str(i) else str(i) for i in range(n_classes)]
    width = max(16, max(len(label) for label in labels) + 2)
    print(f"  {'class':<{width}} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>9}")
    for i, label in enumerate(labels):
        print(f"  {label:<{width}} {scores['precision'][i]:>9.4f} {scores['recall'][i]:>9.4f} "
              f"{scores['f1'][i]:>9.4f} {scores['support'][i]:>9d}")
    for kind in ("macro", "weighted"):
        avg = scores[kind]
        print(f"  {kind + ' avg':<{width}} {avg['precision']:>9.4f} {avg['recall']:>9.4f} "
              f"{avg['f1']:>9.4f} {len(t):>9d}")
    print("confusion matrix (rows: true class, columns: predicted):")
    width = max(5, len(str(cm.max())) + 1)
    print("    " + "".join(f"{j:>{width}}" for j in range(cm.shape[1])))
    for i, row in enumerate(cm):
        print(f"{i:>3} " + "".join(f"{v:>{width}}" for v in row))
    return 0


# -- predict ---------------------------------------------------------------------------
def _own_samples(path, record, model):
    """[(label, x)] for a file given to predict a model trained on data of one's own:
    an image (read as the training images were), a CSV of rows or an .npz with x."""
    from .datasets.owndata import apply_preprocessing, csv_features, load_images
    from .datasets import DatasetError
    prep = record.get("preprocessing") or {}
    kind = prep.get("kind")
    lower = str(path).lower()
    if kind == "images":
        mode = "L" if prep.get("color") == "gray" else "RGB"
        x, _ = load_images([path], mode, tuple(prep["size"]), resize=True)
        return [(path, x)]
    if lower.endswith(".npz"):
        arrays = _read_npz_x(path)
        x = apply_preprocessing(arrays, prep)
        return [(f"{path}[{i}]", x[i:i + 1]) for i in range(len(x))]
    if kind == "csv":
        x = csv_features(path, prep)
        return [(f"{path}, row {i + 1}", x[i:i + 1]) for i in range(len(x))]
    raise DatasetError(f"{path}: give {'an .npz with an array x' if kind == 'npz' else 'a file'} "
                       f"of samples like the training data")


def _read_npz_x(path):
    """The samples x of an .npz (numbers only; never pickle)."""
    from .datasets import DatasetError
    try:
        with np.load(path, allow_pickle=False) as f:
            if "x" not in f:
                raise DatasetError(f"{path}: no array 'x' of samples to predict")
            x = f["x"]
    except ValueError as exc:
        raise DatasetError(f"{path}: {exc}") from None
    except OSError as exc:
        raise DatasetError(f"{path}: not a readable .npz ({exc})") from None
    if x.ndim == 3:
        x = x.reshape(x.shape[0], 1, *x.shape[1:])
    return x


def cmd_predict(args):
    from .checkpoint import CheckpointError, load_checkpoint
    from .datasets import DatasetError
    from .images import load_digit
    try:
        checkpoint = load_checkpoint(args.model)
    except CheckpointError as exc:
        _err(str(exc))
        return 2
    model = checkpoint.model
    broken = broken_model(model, args.model)
    if broken:
        _err(broken)
        return 2
    record = _own_data_record(checkpoint)
    expected = int(np.prod(model.input_shape))
    if record is None and expected != 784:
        _err(f"{args.model} takes inputs of {expected} values, not 28x28 images")
        return 2
    names = _checkpoint_class_names(checkpoint, _saved_dataset(checkpoint) or "mnist",
                                    model.output_size)
    status = 0
    for path in args.images:
        try:
            if record is None:
                samples = [(path, load_digit(path)[None, :])]
            else:
                samples = _own_samples(path, record, model)
        except (ValueError, ImportError, OSError) as exc:  # DatasetError is a ValueError
            _err(str(exc))
            status = 2
            continue
        for where, x in samples:
            if int(np.prod(x.shape[1:])) != expected:
                _err(f"{where}: {int(np.prod(x.shape[1:]))} values; {args.model} takes "
                     f"{expected}")
                status = 2
                continue
            if len(model.input_shape) == 1:
                x = x.reshape(len(x), -1)
            try:
                probs = predict_probabilities(model, x)[0]
            except NonFiniteError as exc:
                _err(f"{args.model}: {exc}")
                return 2
            top = np.argsort(probs, kind="stable")[::-1][:args.top]

            def label(k):
                return str(k) if names[k] == str(k) else f"{k} {names[k]}"
            ranked = "  ".join(f"{label(k)}: {probs[k]:.3f}" for k in top)
            print(f"{where}: {label(top[0])}   ({ranked})")
    return status


# -- gradcheck -------------------------------------------------------------------------
# The bundled digits' training split has 8,000; a batch of 100 already takes minutes.
GRADCHECK_MAX_SAMPLES = 1000


def cmd_gradcheck(args):
    from .gradient import REFINE_STEPS, gradient_check
    from . import models
    problem = model_options_problem(args)
    if problem:
        _err(problem)
        return 2
    rng = np.random.default_rng(args.seed)
    if args.samples > GRADCHECK_MAX_SAMPLES:
        _err(f"--samples {args.samples} is more than a gradient check needs or can do in "
             f"reasonable time (two forward passes per weight per sample); use at most "
             f"{GRADCHECK_MAX_SAMPLES}")
        return 2
    if args.synthetic:
        x = rng.random((args.samples, 784))
        t = rng.integers(0, 10, args.samples)
        source = "synthetic"
    else:
        from .datasets import DatasetError
        try:
            (x_train, t_train), _ = load_data("mnist-10k", quiet=True)[0]
        except DatasetError as exc:
            _err(str(exc))
            return 2
        pick = rng.choice(len(x_train), args.samples, replace=False)
        x, t = x_train[pick], t_train[pick]
        source = "bundled mnist-10k digits"
    args.dtype = "float64"  # central differences need float64's digits
    try:
        if (args.model or "two-layer") == "two-layer" and not args.layers:
            # The options were checked above: one hidden size at most.
            network = models.TwoLayerNet(x.shape[1], (args.hidden or [10])[0], 10, rng=rng,
                                         weight_init_std=0.1)
        else:
            network = build_model(args, input_shape_for(args, x), 10, rng=rng)
    except ValueError as exc:
        _err(str(exc))
        return 2
    print(f"gradient check: {type(network).__name__} on {args.samples} {source} samples, "
          f"float64")
    result = gradient_check(network, x, t, detailed=True)
    print(f"{'param':<8} {'mean abs diff':>14} {'max rel error':>14}  status")
    refined = {name: f["refined"] for name, f in result.items() if f.get("refined")}
    failed = []
    for name, figures in result.items():
        ok = figures["mean_abs_diff"] <= args.max_abs and figures["max_rel_error"] <= args.max_rel
        if not ok:
            failed.append(name)
        print(f"{name:<8} {figures['mean_abs_diff']:>14.3e} {figures['max_rel_error']:>14.3e}"
              f"  {'ok' if ok else 'FAIL'}")
    if refined:
        steps = " and ".join(f"{h:g}" for h in REFINE_STEPS)
        print(f"re-measured with h = {steps} where h = 1e-4 disagreed (a ReLU kink or "
              f"batch norm's curvature): "
              + ", ".join(f"{name} {n} element{'s' if n != 1 else ''}"
                          for name, n in refined.items()))
    if failed:
        print(f"FAILED: {', '.join(failed)} exceed the thresholds (mean abs diff "
              f"{args.max_abs:g}, max rel error {args.max_rel:g})")
        return 1
    print("passed")
    return 0


# -- info ------------------------------------------------------------------------------
def cmd_info(args):
    import importlib.util
    from . import __version__, datasets, threads
    print(f"chainrule {__version__}, NumPy {np.__version__}, Python {sys.version.split()[0]}")
    for extra, module in (("progress", "tqdm"),
                          ("plot", "matplotlib"), ("image", "PIL"), ("web", "flask"),
                          ("mpi", "mpi4py")):
        found = importlib.util.find_spec(module) is not None
        print(f"  extra {extra:<9} ({module}): {'installed' if found else 'not installed'}")
    for name in ("mnist", "fashion-mnist", "mnist-10k"):
        print(f"  data set {name:<14} {'available' if datasets.dataset_available(name) else 'not found'}")
    print(f"  BLAS threads: {threads.describe()}")
    return 0


# -- the parser ------------------------------------------------------------------------
def _add_model_options(p):
    from .models import PRESETS
    p.add_argument("--model", choices=list(PRESETS), default=None,
                   help="a network of the book: " + "; ".join(
                       f"{name} ({preset.description})" for name, preset in PRESETS.items())
                   + "; default: two-layer")
    p.add_argument("--layers", metavar="TEXT",
                   help="a network of your own, layer by layer, e.g. \"conv(16,3,pad=1) relu "
                        "pool(2) affine(100) relu affine(10)\"; layers: conv(filters, size, "
                        "stride=1, pad=0, init=he), pool(size, stride=size, pad=0), "
                        "avgpool(size, stride=size), affine(units, init=he), relu, "
                        "leakyrelu(slope=0.01), sigmoid, tanh, dropout(ratio=0.5), batchnorm; "
                        "init is he, xavier or a number; the softmax loss follows the last "
                        "layer (instead of --model and its options)")
    p.add_argument("--hidden", type=positive_int, nargs="+", metavar="N",
                   help="hidden layer size(s): one for two-layer (default 50), simple-conv "
                        "(100) and deep-conv (50), any number for mlp (default 100 100)")
    p.add_argument("--activation", choices=["relu", "sigmoid", "tanh"], default=None,
                   help="hidden activation for mlp (default: relu)")
    p.add_argument("--weight-decay", type=non_negative_float, default=None, metavar="LAMBDA",
                   help="L2 weight decay for mlp (default: 0)")
    p.add_argument("--dropout", type=fraction, default=None, metavar="RATIO",
                   help="dropout ratio for mlp (default 0: off) and deep-conv (default 0.5)")
    p.add_argument("--batchnorm", action="store_true", default=None,
                   help="batch normalisation for mlp")
    p.add_argument("--seed", type=non_negative_int, default=None,
                   help="random seed: the same seed gives the same weights and metrics "
                        "(default: a new one, printed at the start and saved)")


def _add_data_options(p, default="auto"):
    p.add_argument("--dataset", choices=DATASET_CHOICES, default=default,
                   help="auto: full MNIST if on this machine, else the bundled mnist-10k; "
                        "mnist and fashion-mnist are found on disk or downloaded "
                        "(default: %(default)s)")
    p.add_argument("--data-dir", metavar="DIR",
                   help="directory holding the data set's four IDX .gz files (the only "
                        "place then looked at)")
    p.add_argument("--data", metavar="PATH",
                   help="data of your own instead of --dataset: an .npz (x, t, optionally "
                        "x_test, t_test), a CSV (a label column and numeric features) or a "
                        "folder of images in one subfolder per class (see docs/own-data.md)")


def _add_own_data_options(p):
    g = p.add_argument_group("data of your own (--data)")
    g.add_argument("--label-column", metavar="NAME|INDEX",
                   help="CSV: the label column (default: one headed label, class, target "
                        "or y, else the last)")
    g.add_argument("--image-size", type=_image_size, metavar="HxW",
                   help="images: resize every image to HxW (default: all must have one size)")
    g.add_argument("--color", choices=["auto", "gray", "rgb"], default="auto",
                   help="images: gray (1 channel) or rgb (3); auto: gray unless an image "
                        "has colour (default: %(default)s)")
    g.add_argument("--test-fraction", type=fraction, default=0.2, metavar="F",
                   help="data without a test split: the stratified fraction held out to "
                        "test on, always the same for the same file (default: %(default)s)")


def make_parser():
    parser = argparse.ArgumentParser(
        prog="chainrule",
        description="Backpropagation from scratch: train, check and inspect the networks "
                    "of Deep Learning from Scratch.")
    from . import __version__
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("train", help="train a network (with no options: the seed's experiment)",
                       description="Train a network. With no options this is the seed's "
                                   "experiment: TwoLayerNet 784-50-10, SGD, lr 0.1, batch 100, "
                                   "10,000 iterations, accuracy after every epoch.")
    _add_model_options(p)
    _add_data_options(p)
    _add_own_data_options(p)
    p.add_argument("--optimizer", choices=["sgd", "momentum", "nesterov", "adagrad",
                                           "rmsprop", "adam"], default="sgd", type=str.lower,
                   help="update rule (default: %(default)s)")
    p.add_argument("--lr", type=positive_float, help="learning rate (default: 0.1 for sgd, 0.01 for "
                                            "momentum/nesterov/adagrad, 0.001 for rmsprop/adam)")
    p.add_argument("--momentum", type=fraction, default=0.9,
                   help="momentum and nesterov: how much of the last step is kept "
                        "(default: %(default)s)")
    p.add_argument("--beta1", type=fraction, default=0.9,
                   help="adam: decay of the mean of the gradients (default: %(default)s)")
    p.add_argument("--beta2", type=fraction, default=0.999,
                   help="adam: decay of the mean of the squared gradients "
                        "(default: %(default)s)")
    p.add_argument("--decay-rate", type=fraction, default=0.99,
                   help="rmsprop: decay of the mean of the squared gradients "
                        "(default: %(default)s)")
    p.add_argument("--lr-schedule", choices=list(LR_SCHEDULES) + ["plateau"],
                   default="constant", type=str.lower,
                   help="constant: the same rate throughout; cosine: from --lr down to 0 "
                        "along half a cosine over the run; plateau: times --plateau-factor "
                        "whenever --monitor has not improved for --plateau-patience epochs "
                        "(default: %(default)s)")
    p.add_argument("--plateau-factor", type=fraction, default=0.1, metavar="F",
                   help="plateau schedule: the factor (default: %(default)s)")
    p.add_argument("--plateau-patience", type=positive_int, default=3, metavar="N",
                   help="plateau schedule: epochs without improvement before the rate is "
                        "cut (default: %(default)s)")
    v = p.add_argument_group("validation and stopping")
    v.add_argument("--validation-split", type=fraction, default=0.0, metavar="F",
                   help="hold out this stratified fraction of the training data (seeded "
                        "by --seed) to watch, schedule and stop on; the test set is then "
                        "measured once, at the end (default: 0, the test set every epoch, "
                        "as the book does)")
    v.add_argument("--monitor", choices=["val_loss", "val_acc", "loss", "train_acc",
                                         "test_acc"],
                   help="what --early-stopping, --best-checkpoint and the plateau schedule "
                        "watch (default: val_loss with a validation split, else loss)")
    v.add_argument("--early-stopping", type=positive_int, metavar="PATIENCE",
                   help="stop when --monitor has not improved for PATIENCE epochs, and "
                        "end on the weights of the best epoch")
    v.add_argument("--min-delta", type=float, default=0.0, metavar="D",
                   help="early stopping: the least change that counts as an improvement "
                        "(default: 0)")
    v.add_argument("--best-checkpoint", metavar="FILE",
                   help="save the run to FILE each time --monitor improves")
    a = p.add_argument_group("augmentation (images; off by default)")
    a.add_argument("--augment", action="store_true",
                   help="shift (and rotate, mirror if asked) every training batch at random, "
                        "seeded by --seed")
    a.add_argument("--shift", type=non_negative_int, default=2, metavar="PIXELS",
                   help="the largest shift (default: %(default)s)")
    a.add_argument("--rotation", type=float, default=0.0, metavar="DEGREES",
                   help="the largest rotation, up to 45 (default: %(default)s)")
    a.add_argument("--flip", action="store_true", help="mirror half the images left-right")
    p.add_argument("--batch-size", type=positive_int, default=100,
                   help="samples per mini-batch step (default: %(default)s)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=positive_int,
                        help="train for this many passes over the training data (with "
                             "--resume: continue the run to this many in all)")
    length.add_argument("--iters", type=positive_int,
                        help="train for this many mini-batch steps (default: 10000, the "
                             "seed's; with --resume: the new total)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                   help="floating-point type of weights and data (default: %(default)s; "
                        "float64 is the book's and about twice as slow)")
    p.add_argument("--threads", type=threads_option, default="auto", metavar="N|auto",
                   help="BLAS threads: a number (at most the cores this process may use), "
                        "or auto (see docs/threads.md); the environment variable "
                        "CHAINRULE_THREADS sets the same")
    p.add_argument("--save", metavar="FILE",
                   help="checkpoint file (.npz: weights, optimizer and training state), "
                        "written after every epoch, at the end and on Ctrl-C (without "
                        "--save, Ctrl-C saves to chainrule-interrupted.npz)")
    p.add_argument("--overwrite", action="store_true",
                   help="let a new run replace an existing --save file")
    p.add_argument("--metrics", metavar="FILE",
                   help="write one JSON line per epoch (epoch, iteration, loss, train_acc, "
                        "test_acc, elapsed); a resumed run appends")
    p.add_argument("--plot", metavar="FILE",
                   help="draw the loss and accuracy curves to FILE (.png, .svg or .pdf) "
                        "at the end (needs matplotlib)")
    p.add_argument("--resume", metavar="FILE",
                   help="continue the run saved in FILE with its own model, optimizer, "
                        "batch size, length, seed, data, validation split, augmentation "
                        "and callbacks (--epochs/--iters: to a new total); it keeps "
                        "saving to FILE unless --save says otherwise")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="print only the final line (for scripts)")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel training over MPI: start N processes with "
                        "mpiexec -n N chainrule train --distributed ...; each trains on its "
                        "share of every batch (needs the mpi extra; see "
                        "docs/distributed.md)")
    p.add_argument("--serve", action="store_true",
                   help="show live loss and accuracy curves on a local web page")
    p.add_argument("--host", default="127.0.0.1", help="address for --serve (default: %(default)s)")
    p.add_argument("--port", type=port_number, default=8000,
                   help="port for --serve (default: %(default)s; 0: any free port)")
    p.set_defaults(func=cmd_train,
                   parser_defaults={dest: p.get_default(dest) for dest in RUN_OPTIONS})

    p = sub.add_parser("evaluate", help="accuracy, per-class accuracy and confusion matrix",
                       description="Evaluate a saved model on a data set's test split.")
    p.add_argument("model", metavar="MODEL", help="checkpoint file (.npz)")
    _add_data_options(p)
    _add_own_data_options(p)
    p.add_argument("--top-k", type=positive_int, nargs="+", default=[1, 3], metavar="K",
                   help="report top-K accuracy for each K (default: 1 3)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--quiet", "-q", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="classify images of digits, or samples of your own",
                       description="Classify PNG/JPEG images of digits (any size, either "
                                   "polarity): each is converted as MNIST digits were made "
                                   "(grey, 20x20 box centred by mass in 28x28, white on black). "
                                   "A model trained with --data takes what its data was: "
                                   "images (resized and coloured as at training), CSV files "
                                   "of rows, or .npz files with an array x.")
    p.add_argument("model", metavar="MODEL", help="checkpoint file (.npz)")
    p.add_argument("images", metavar="IMAGE", nargs="+", help="image files")
    p.add_argument("--top", type=positive_int, default=3,
                   help="how many classes to show (default: 3)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("gradcheck", help="check backprop against numerical gradients",
                       description="Compare every parameter's backprop gradient with the "
                                   "numerical one (float64) and exit non-zero when a figure "
                                   "exceeds its threshold.")
    _add_model_options(p)
    p.add_argument("--samples", type=positive_int, default=3,
                   help="batch size (default: 3, as the seed)")
    p.add_argument("--synthetic", action="store_true",
                   help="random inputs instead of the bundled digits")
    p.add_argument("--max-abs", type=float, default=1e-6,
                   help="threshold for the mean absolute difference (default: %(default)g)")
    p.add_argument("--max-rel", type=float, default=1e-4,
                   help="threshold for the largest relative error (default: %(default)g)")
    p.set_defaults(func=cmd_gradcheck, seed=0)

    p = sub.add_parser("info", help="versions, extras, data sets, threads")
    p.set_defaults(func=cmd_info)

    try:
        from .viz_cli import register
    except ImportError:
        pass
    else:
        register(sub)
    from .book.cli import register as register_book
    register_book(sub)
    return parser


def main(argv=None):
    try:
        parser = make_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return args.func(args)
    except KeyboardInterrupt:
        print("chainrule: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`chainrule evaluate m.npz | head`): stop quietly, and
        # point stdout at nothing so that Python's own flush at exit cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except ImportError as exc:
        _err(str(exc))
        return 2


if __name__ == "__main__":
    sys.exit(main())
