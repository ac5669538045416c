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
               "lr_schedule", "batch_size", "epochs", "iters", "dtype")


def _check_output(path, what):
    """An output file's folder must exist: better said now than after an hour of training."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        return f"{what} {path} is a directory"
    if not os.path.isdir(folder):
        return f"cannot write {what} {path}: the folder {folder} does not exist"
    return None


def _ignored_with_resume(args, parser_defaults):
    given = []
    for dest in RUN_OPTIONS:
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

    if args.resume and not args.save:
        args.save = args.resume  # keep saving where the run was saved before
    for path, what in ((args.save, "checkpoint"), (args.metrics, "metrics file"),
                       (args.plot, "plot")):
        problem = path and _check_output(path, what)
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
        threads.resolve(args.threads)  # a bad --threads is reported before the data loads
        if not args.resume:
            check_model_options(args)  # and so is a network that cannot be built
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
        if args.dataset == "auto":
            args.dataset = (resumed.training.get("run") or {}).get("dataset", "auto")
            if args.dataset not in DATASET_CHOICES:
                args.dataset = "auto"

    try:
        if comm is None:
            data, dataset = load_data(args.dataset, args.data_dir, args.quiet)
        else:  # rank 0 loads, every rank shares its arrays
            from .distributed import load_on_root
            data, dataset = load_on_root(
                lambda: load_data(args.dataset, args.data_dir, args.quiet), comm)
        (x_train, t_train), (x_test, t_test) = data
    except DatasetError as exc:
        _err(str(exc))
        return 2

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
        else:
            if args.seed is None:
                args.seed = int(np.random.SeedSequence().entropy % 2**32)
            network = build_model(args, input_shape_for(args, x_train),
                                  int(t_train.max()) + 1)
            optimizer, optimizer_param = _optimizer_settings(args)
            seed = args.seed
            batch_size = args.batch_size
            epochs, iters = args.epochs, args.iters
            lr_schedule = args.lr_schedule
            if epochs is None and iters is None:
                iters = 10000  # the seed's experiment
        if comm is not None:
            # One process per core already: each gets one BLAS thread and no helpers.
            from .distributed import DistributedTrainer
            threads.apply_policy(1)
            trainer_class, extra = DistributedTrainer, {"comm": comm}
        else:
            thread_plan = threads.apply_policy(args.threads, network, batch_size)
            trainer_class = Trainer
            extra = {"eval_in_background": thread_plan.eval_in_background}
        trainer = trainer_class(network, x_train, t_train, x_test, t_test, **extra,
                          epochs=epochs or 1, mini_batch_size=batch_size, optimizer=optimizer,
                          optimizer_param=optimizer_param, verbose=not args.quiet,
                          iters=iters, seed=seed, eval_batch_size=1000,
                          checkpoint=args.save,
                          interrupt_path=args.save or "chainrule-interrupted.npz",
                          metrics_file=args.metrics, run_info={"dataset": dataset},
                          lr_schedule=lr_schedule)
        if resumed is not None:
            trainer.load_state(resumed)
    except ValueError as exc:
        _err(str(exc))
        return 2

    server = None
    if args.serve:
        from .web import LiveMetrics, start_server_in_thread
        live = LiveMetrics(model=network, info={"model": repr(network), "dataset": dataset})
        try:
            server = start_server_in_thread(live, args.host, args.port)
        except OSError as exc:
            _err(f"cannot serve on {args.host}:{args.port} ({exc})")
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
        trainer.train()
    except TrainingInterrupted as exc:
        print(f"chainrule: {exc}", file=sys.stderr)
        return 130
    except TrainingDiverged as exc:
        _err(str(exc))
        return 3
    final = trainer.history[-1]
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
        plot_curves(trainer, args.plot)
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


def cmd_evaluate(args):
    from .checkpoint import CheckpointError, load_checkpoint
    from .datasets import DatasetError
    try:
        checkpoint = load_checkpoint(args.model)
        model = checkpoint.model
        dataset = args.dataset
        if dataset == "auto":  # the data the model was trained on, if known
            dataset = _saved_dataset(checkpoint) or "auto"
        data, dataset = load_data(dataset, args.data_dir, args.quiet)
        (_, _), (x_test, t_test) = data
    except (CheckpointError, DatasetError) as exc:
        _err(str(exc))
        return 2
    n_features = int(np.prod(x_test.shape[1:]))
    expected = int(np.prod(model.input_shape))
    n_classes = model.output_size
    t = np.asarray(t_test).astype(int)
    if expected != n_features:
        _err(f"{args.model} takes inputs of {expected} values; the {dataset} images have "
             f"{n_features}")
        return 2
    if t.max() >= n_classes:
        _err(f"{args.model} knows {n_classes} classes; the {dataset} labels go up to {t.max()}")
        return 2
    names = _class_names(dataset, n_classes)
    probs = predict_probabilities(model, x_test, batch_size=1000)
    pred = probs.argmax(axis=1)
    cm = confusion_matrix(t, pred, n_classes)
    accuracy = float(np.mean(pred == t))
    per_class = cm.diagonal() / np.maximum(cm.sum(axis=1), 1)
    if args.json:
        print(json.dumps({"dataset": dataset, "accuracy": accuracy,
                          "per_class_accuracy": per_class.tolist(), "class_names": names,
                          "confusion_matrix": cm.tolist(), "samples": int(len(t))}))
        return 0
    print(f"{args.model}: accuracy {accuracy:.4f} on the {len(t)} test samples of {dataset}")
    print("per-class accuracy:")
    for i, acc in enumerate(per_class):
        label = f"{i} {names[i]}" if names[i] != str(i) else str(i)
        print(f"  {label:<16} {acc:.4f}  ({cm[i].sum()} samples)")
    print("confusion matrix (rows: true class, columns: predicted):")
    width = max(5, len(str(cm.max())) + 1)
    print("    " + "".join(f"{j:>{width}}" for j in range(cm.shape[1])))
    for i, row in enumerate(cm):
        print(f"{i:>3} " + "".join(f"{v:>{width}}" for v in row))
    return 0


# -- predict ---------------------------------------------------------------------------
def cmd_predict(args):
    from .checkpoint import CheckpointError, load_checkpoint
    from .images import load_digit
    try:
        checkpoint = load_checkpoint(args.model)
    except CheckpointError as exc:
        _err(str(exc))
        return 2
    model = checkpoint.model
    expected = int(np.prod(model.input_shape))
    if expected != 784:
        _err(f"{args.model} takes inputs of {expected} values, not 28x28 images")
        return 2
    names = _class_names(_saved_dataset(checkpoint) or "mnist", model.output_size)
    status = 0
    for path in args.images:
        try:
            x = load_digit(path)
        except (ValueError, ImportError) as exc:
            _err(str(exc))
            status = 2
            continue
        probs = predict_probabilities(model, x[None, :])[0]
        top = np.argsort(probs, kind="stable")[::-1][:args.top]

        def label(k):
            return str(k) if names[k] == str(k) else f"{k} {names[k]}"
        ranked = "  ".join(f"{label(k)}: {probs[k]:.3f}" for k in top)
        print(f"{path}: {label(top[0])}   ({ranked})")
    return status


# -- gradcheck -------------------------------------------------------------------------
def cmd_gradcheck(args):
    from .gradient import gradient_check
    from . import models
    rng = np.random.default_rng(args.seed)
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
            hidden = args.hidden or [10]
            if len(hidden) != 1:
                raise ValueError(f"two-layer takes one --hidden size, got {len(hidden)}")
            others = [f"--{k.replace('_', '-')}" for k in MODEL_OPTIONS[2:]
                      if getattr(args, k, None) not in (None, False)]
            if others:
                raise ValueError(f"TwoLayerNet does not take {', '.join(others)} "
                                 f"(its options: --hidden)")
            network = models.TwoLayerNet(x.shape[1], hidden[0], 10, rng=rng,
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
    failed = []
    for name, figures in result.items():
        ok = figures["mean_abs_diff"] <= args.max_abs and figures["max_rel_error"] <= args.max_rel
        if not ok:
            failed.append(name)
        print(f"{name:<8} {figures['mean_abs_diff']:>14.3e} {figures['max_rel_error']:>14.3e}"
              f"  {'ok' if ok else 'FAIL'}")
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
    for extra, module in (("progress", "tqdm"), ("threads", "threadpoolctl"),
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
    p.add_argument("--weight-decay", type=float, default=None, metavar="LAMBDA",
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
                   help="directory holding the data set's four IDX .gz files")


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
    p.add_argument("--lr-schedule", choices=list(LR_SCHEDULES), default="constant",
                   type=str.lower,
                   help="constant: the same rate throughout; cosine: from --lr down to 0 "
                        "along half a cosine over the run (default: %(default)s)")
    p.add_argument("--batch-size", type=positive_int, default=100,
                   help="samples per mini-batch step (default: %(default)s)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=positive_int,
                        help="train for this many passes over the training data")
    length.add_argument("--iters", type=positive_int,
                        help="train for this many mini-batch steps (default: 10000, the seed's)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                   help="floating-point type of weights and data (default: %(default)s; "
                        "float64 is the book's and about twice as slow)")
    p.add_argument("--threads", default="auto", metavar="N|auto",
                   help="BLAS threads: a number, or auto (see docs/threads.md); the "
                        "environment variable CHAINRULE_THREADS sets the same")
    p.add_argument("--save", metavar="FILE",
                   help="checkpoint file (.npz: weights, optimizer and training state), "
                        "written after every epoch, at the end and on Ctrl-C (without "
                        "--save, Ctrl-C saves to chainrule-interrupted.npz)")
    p.add_argument("--metrics", metavar="FILE",
                   help="write one JSON line per epoch (epoch, iteration, loss, train_acc, "
                        "test_acc, elapsed); a resumed run appends")
    p.add_argument("--plot", metavar="FILE",
                   help="draw the loss and accuracy curves to FILE (.png) at the end "
                        "(needs matplotlib)")
    p.add_argument("--resume", metavar="FILE",
                   help="continue the run saved in FILE with its own model, optimizer, "
                        "batch size, length, seed and data set; it keeps saving to FILE "
                        "unless --save says otherwise")
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
    p.add_argument("--port", type=int, default=8000, help="port for --serve (default: %(default)s)")
    p.set_defaults(func=cmd_train,
                   parser_defaults={dest: p.get_default(dest) for dest in RUN_OPTIONS})

    p = sub.add_parser("evaluate", help="accuracy, per-class accuracy and confusion matrix",
                       description="Evaluate a saved model on a data set's test split.")
    p.add_argument("model", metavar="MODEL", help="checkpoint file (.npz)")
    _add_data_options(p)
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--quiet", "-q", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="classify images of digits",
                       description="Classify PNG/JPEG images of digits (any size, either "
                                   "polarity): each is converted as MNIST digits were made "
                                   "(grey, 20x20 box centred by mass in 28x28, white on black).")
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
    return parser


def main(argv=None):
    parser = make_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
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
