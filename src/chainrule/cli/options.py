"""The command line's option types (one of each: whole numbers, fractions, ports,
threads, picture sizes) and the options several subcommands share (the network, the
data set, data of one's own)."""

import argparse

import numpy as np

from .common import DATASET_CHOICES
from .presets import PRESETS


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
# A factor that must change what it multiplies and keep it positive (0 stops learning).
shrink_factor = _number_type(float, lambda v: 0.0 < v < 1.0, "in (0, 1)")
rotation_degrees = _number_type(float, lambda v: 0.0 <= v <= 45.0, "between 0 and 45 degrees")

# The largest side --image-size takes: 4096x4096 pixels are 64 MiB per grey picture as
# float32 (10000x10000, asked for once, was 400 MB a picture and killed for memory).
MAX_IMAGE_SIDE = 4096


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


def _count_or_word(word, word_value, convert):
    """An argparse type: `word` (any case) -> word_value, or a whole number of at least
    1 -> convert(number)."""
    def parse(text):
        if text.strip().lower() == word:
            return word_value
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number or '{word}', "
                                             f"got {text!r}") from None
        if n < 1:
            raise argparse.ArgumentTypeError(f"must be at least 1 or '{word}', got {text}")
        return convert(n)
    return parse


# --threads: "auto" or a number, kept as text (CHAINRULE_THREADS's form).
threads_option = _count_or_word("auto", "auto", str)
# gradcheck --elements: a number, or all of them (None).
elements_option = _count_or_word("all", None, int)


def image_size(text):
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
    if max(values) > MAX_IMAGE_SIDE:
        raise argparse.ArgumentTypeError(f"{text}: at most {MAX_IMAGE_SIDE} pixels on a "
                                         f"side (the images are held in memory, each "
                                         f"H x W x channels numbers)")
    return tuple(values)


def add_overwrite_option(p):
    """--overwrite for a subcommand that writes a file (-o): the one rule for every file
    the command writes is that an existing one is replaced only when asked
    (cli.outputs.replacing)."""
    p.add_argument("--overwrite", action="store_true",
                   help="replace the output file if it exists (default: refuse)")


# Options that describe the run itself. --resume continues the saved run as it was set
# up, so these are taken from the checkpoint; a value given on the command line that
# differs from the default is reported as ignored rather than silently dropped.
RUN_OPTIONS = ("model", "layers", "hidden", "activation", "weight_decay", "dropout", "batchnorm",
               "embed", "blocks", "heads", "no_tie", "tokens", "vocab_size", "time_size",
               "sampling", "eval_interval", "eval_iters", "clip_grad", "warmup_iters",
               "min_lr",
               "seed", "optimizer", "lr", "momentum", "beta1", "beta2", "decay_rate",
               "lr_schedule", "batch_size", "epochs", "iters", "dtype", "validation_split",
               "augment", "shift", "rotation", "flip", "early_stopping", "monitor",
               "min_delta", "best_checkpoint", "plateau_factor", "plateau_patience",
               "label_column", "image_size", "color", "test_fraction")
# Except these: with --resume they set a new length for the run (Keras's initial_epoch).
LENGTH_OPTIONS = ("epochs", "iters")


# -- options shared by several subcommands ---------------------------------------------
def add_model_options(p):
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
                        "(100) and deep-conv (50), any number for mlp (default 100 100) and "
                        "char-rnn (LSTM layers; default 256)")
    p.add_argument("--activation", choices=["relu", "sigmoid", "tanh"], default=None,
                   help="hidden activation for mlp (default: relu)")
    p.add_argument("--weight-decay", type=non_negative_float, default=None, metavar="LAMBDA",
                   help="L2 weight decay for mlp (default: 0); gpt: AdamW's decoupled "
                        "weight decay of the weight matrices (default: 0.1)")
    p.add_argument("--dropout", type=fraction, default=None, metavar="RATIO",
                   help="dropout ratio for mlp (default 0: off) and deep-conv (default 0.5)")
    p.add_argument("--batchnorm", action="store_true", default=None,
                   help="batch normalisation for mlp")
    p.add_argument("--embed", type=positive_int, metavar="N",
                   help="language models: the embedding's size (char-rnn: default 64; gpt: "
                        "the model's width, default 128)")
    p.add_argument("--blocks", type=positive_int, metavar="N",
                   help="gpt: transformer blocks (default 4)")
    p.add_argument("--heads", type=positive_int, metavar="N",
                   help="gpt: attention heads per block (default 4)")
    p.add_argument("--no-tie", action="store_true", default=None,
                   help="gpt: an output layer of its own instead of reading the "
                        "embedding's matrix")
    p.add_argument("--seed", type=non_negative_int, default=None,
                   help="random seed: the same seed gives the same weights and metrics "
                        "(default: a new one, printed at the start and saved)")


def add_data_options(p, default="auto"):
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


# How data of one's own is read, and the defaults of the options that say it.
OWN_DATA_DEFAULTS = {"label_column": None, "image_size": None, "color": "auto",
                     "test_fraction": 0.2}


def own_data_options_given(args):
    """The options of how data of one's own is read that were given, as flags."""
    return [f"--{dest.replace('_', '-')}" for dest, default in OWN_DATA_DEFAULTS.items()
            if getattr(args, dest, default) != default]


def add_own_data_options(p):
    g = p.add_argument_group("data of your own (--data)")
    g.add_argument("--label-column", metavar="NAME|INDEX",
                   help="CSV: the label column (default: one headed label, class, target "
                        "or y, else the last)")
    g.add_argument("--image-size", type=image_size, metavar="HxW",
                   help="images: resize every image to HxW (default: all must have one size)")
    g.add_argument("--color", choices=["auto", "gray", "rgb"],
                   default=OWN_DATA_DEFAULTS["color"],
                   help="images: gray (1 channel) or rgb (3); auto: gray unless an image "
                        "has colour (default: %(default)s)")
    g.add_argument("--test-fraction", type=fraction,
                   default=OWN_DATA_DEFAULTS["test_fraction"], metavar="F",
                   help="data without a test split: the stratified fraction held out to "
                        "test on, always the same for the same file (default: %(default)s)")


# -- when an option applies --------------------------------------------------------------
def _table_data(args):
    """Whether --data names a table (a CSV): its features are not pictures."""
    data = getattr(args, "data", None)
    return bool(data) and str(data).lower().endswith((".csv", ".tsv", ".txt"))


def _monitored(args):
    return bool(args.early_stopping or args.best_checkpoint or args.lr_schedule == "plateau")


# One entry per option: (subcommand, option's dest) -> (when it applies, given the parsed
# options; how that is said). An option given a value other than its default where it
# does not apply is refused before anything is loaded (check_applicable, called by
# main), rather than dropped without a word. A new option that only sometimes applies
# adds its line here.
# Options that only a language model's run reads.
LANGUAGE_OPTIONS = ("tokens", "vocab_size", "time_size", "sampling", "eval_interval",
                    "eval_iters", "warmup_iters", "min_lr")


def reads_tokens(a):
    """True for a language model's network (--model char-rnn or gpt, --layers beginning
    with embed), False for another, None when the options name no network."""
    if getattr(a, "layers", None):
        from .. import compose, registry
        try:
            first = compose.parse(a.layers)[0].name
        except (TypeError, ValueError):
            return False  # the run's own check says what is wrong with the text
        return bool(getattr(registry.TEXT_LAYERS[first], "needs_tokens", False))
    if getattr(a, "model", None):
        return PRESETS[a.model].language
    return None


def language_model(a):
    """Whether the options ask for a language model: its network, else a text to train
    on or an option only language models take."""
    network = reads_tokens(a)
    if network is not None:
        return network
    return getattr(a, "dataset", None) == "shakespeare" or any(
        getattr(a, key, None) is not None for key in LANGUAGE_OPTIONS)


def _optimizer(a):
    """The optimizer the run will use: --optimizer, else its model's default."""
    return a.optimizer or {"char-rnn": "adam", "gpt": "adamw"}.get(
        a.model, "adam" if language_model(a) else "sgd")


APPLIES = {
    ("train", "shift"): (lambda a: a.augment, "--augment"),
    ("train", "rotation"): (lambda a: a.augment, "--augment"),
    ("train", "flip"): (lambda a: a.augment, "--augment"),
    ("train", "augment"): (lambda a: not _table_data(a),
                           "pictures (a CSV's features are not an image to shift)"),
    ("train", "momentum"): (lambda a: _optimizer(a) in ("momentum", "nesterov"),
                            "--optimizer momentum or nesterov"),
    ("train", "beta1"): (lambda a: _optimizer(a) in ("adam", "adamw"),
                         "--optimizer adam or adamw"),
    ("train", "beta2"): (lambda a: _optimizer(a) in ("adam", "adamw"),
                         "--optimizer adam or adamw"),
    ("train", "decay_rate"): (lambda a: _optimizer(a) == "rmsprop", "--optimizer rmsprop"),
    ("train", "min_lr"): (lambda a: a.warmup_iters is not None or a.model == "gpt",
                          "--warmup-iters (or --model gpt)"),
    ("train", "plateau_factor"): (lambda a: a.lr_schedule == "plateau", "--lr-schedule plateau"),
    ("train", "plateau_patience"): (lambda a: a.lr_schedule == "plateau",
                                    "--lr-schedule plateau"),
    ("train", "min_delta"): (lambda a: a.early_stopping, "--early-stopping"),
    ("train", "monitor"): (_monitored, "--early-stopping, --best-checkpoint or "
                                       "--lr-schedule plateau"),
    ("train", "host"): (lambda a: a.serve, "--serve"),
    ("train", "port"): (lambda a: a.serve, "--serve"),
    ("graph", "no_loss"): (lambda a: a.what not in ("apple", "apple-orange"),
                           "a network to draw (not apple or apple-orange)"),
    ("graph", "title"): (lambda a: a.what not in ("apple", "apple-orange"),
                         "a network to draw (not apple or apple-orange)"),
}
# A language model's options apply to language models only.
for _dest in ("tokens", "vocab_size", "time_size", "sampling", "eval_interval", "eval_iters",
              "warmup_iters"):
    APPLIES[("train", _dest)] = (language_model, "a language model (--model char-rnn or "
                                                  "gpt, or --layers beginning with embed)")
# Reading data of one's own applies with --data, for train and evaluate alike (with
# --resume, train reads it as the saved run did).
for _command in ("train", "evaluate"):
    for _dest in ("label_column", "image_size", "color", "test_fraction"):
        APPLIES[(_command, _dest)] = (lambda a: a.data, "--data")


def check_applicable(args, defaults):
    """CommandError-worthy text naming the options given where they do not apply, or
    None. `defaults`: each option's default (a value equal to it was not given).
    With train --resume the run's own options are left to the note that says they are
    ignored (the saved run is continued as it was set up)."""
    command = getattr(args, "command", None)
    resuming = command == "train" and getattr(args, "resume", None)
    wrong = []
    for (where, dest), (applies, needs) in APPLIES.items():
        if where != command or not hasattr(args, dest):
            continue
        if resuming and dest in RUN_OPTIONS:
            continue
        value = getattr(args, dest)
        if value != defaults.get(dest) and not applies(args):
            wrong.append(f"--{dest.replace('_', '-')} applies only with {needs}")
    return "; ".join(wrong) or None
