"""The `chainrule book` subcommands: run a script of the book's repository, import its
published weights. chainrule's main parser calls ``register(subparsers)``; each handler
returns the exit status (the script's own for run; 2 for a problem with what was asked).

    chainrule book run ch05/train_neuralnet.py
    chainrule book run --figures save ch06/weight_init_compare.py
    chainrule book import-weights ch07/params.pkl --model simple-conv -o simple.npz
"""

import argparse
import os
import re

from ..checkpoint import CheckpointError
from .common import CommandError
from .options import add_overwrite_option, fraction
from .outputs import replacing

__all__ = ["register", "cmd_book_run", "cmd_book_import_weights"]


def _saved_figures(args):
    """The figures of an earlier run that saving this run's would replace
    (SCRIPT-N.png beside the script), when this run saves its figures."""
    from ..book.runner import has_display
    if args.figures == "show" or (args.figures == "auto" and has_display()):
        return []
    path = os.path.abspath(args.script)
    stem = re.escape(os.path.splitext(os.path.basename(path))[0])
    folder = os.path.dirname(path)
    try:
        names = os.listdir(folder)
    except OSError:
        return []  # (the script is then not found either, which is said)
    return sorted(os.path.join(folder, n) for n in names if re.fullmatch(stem + r"-\d+\.png", n))


def cmd_book_run(args):
    from ..book.runner import ScriptNotFound, run_script
    earlier = [] if args.overwrite else _saved_figures(args)
    if earlier:
        raise CommandError(f"{earlier[0]} exists (a figure of an earlier run"
                           f"{f', and {len(earlier) - 1} more' if len(earlier) > 1 else ''}) "
                           f"and saving this run's figures would replace it: give "
                           f"--overwrite to replace it, --figures show, or move it away")
    try:
        return run_script(args.script, args.args, figures=args.figures)
    except ScriptNotFound as exc:
        raise CommandError(str(exc)) from None


def cmd_book_import_weights(args):
    from ..book.weights import UnsafePickleError, WeightFileError, import_weights
    try:
        if os.path.abspath(args.output) == os.path.abspath(args.file):
            raise WeightFileError("the output would overwrite the weight file itself")
        problem = replacing(args.output, "-o", args.overwrite)
        if problem:
            raise CommandError(problem)
        net = import_weights(args.file, args.model, args.output,
                             dropout_ratio=args.dropout_ratio)
    except UnsafePickleError as exc:
        raise CommandError(f"refused {exc}") from None
    except (WeightFileError, CheckpointError, ValueError) as exc:
        raise CommandError(f"{args.file}: {exc}" if not str(exc).startswith(args.file)
                           else str(exc)) from None
    except OSError as exc:
        raise CommandError(f"{exc.filename or args.file}: {exc.strerror or exc}") from None
    total = sum(int(a.size) for a in net.params.values())
    print(f"{args.output}: {type(net).__name__} {tuple(net.input_shape)} -> "
          f"{net.output_size} classes, {total:,} parameters from {args.file}")
    return 0


def register(subparsers):
    """Add `book run` and `book import-weights` to an argparse subparsers object."""
    p = subparsers.add_parser(
        "book", help="run the book's own scripts on chainrule, import its weights",
        description="Deep Learning from Scratch's repository (and its sequel's) on "
                    "chainrule: their scripts run unchanged with common.* and dataset.* "
                    "served by chainrule, and the first book's published weight pickles "
                    "become ordinary checkpoints (see docs/book.md).")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    r = actions.add_parser(
        "run", help="run a script of a checkout of the book's repository",
        description="Run SCRIPT (e.g. ch05/train_neuralnet.py of a checkout of the book's "
                    "repository, or ch06/train_rnnlm.py of the sequel's) unchanged, from "
                    "its own folder, with ARGS as its arguments; its exit status is this "
                    "command's. Which book it belongs to is read from its checkout and "
                    "imports. Data: full MNIST where it is on this machine, else the "
                    "bundled 10,000 digits (8,000 / 2,000); the sequel's from the "
                    "checkout's dataset/ folder, the PTB else a stand-in from the bundled "
                    "Shakespeare.")
    r.add_argument("--figures", choices=["auto", "show", "save"], default="auto",
                   help="matplotlib figures: show them in windows, or save each as "
                        "SCRIPT-N.png next to the script; auto saves when there is no "
                        "display (default: %(default)s)")
    r.add_argument("--overwrite", action="store_true",
                   help="let saved figures replace those of an earlier run (default: refuse)")
    r.add_argument("script", metavar="SCRIPT", help="the script to run")
    r.add_argument("args", metavar="ARGS", nargs=argparse.REMAINDER,
                   help="the script's own arguments")
    r.set_defaults(func=cmd_book_run)

    w = actions.add_parser(
        "import-weights", help="convert the book's weight pickle to a chainrule checkpoint",
        description="Read the book's trained weights (ch07/params.pkl for SimpleConvNet, "
                    "ch08/deep_convnet_params.pkl for DeepConvNet) without unpickling "
                    "anything but NumPy arrays, and save them as a chainrule checkpoint "
                    "that predicts what the book's code predicts with them.")
    w.add_argument("file", metavar="FILE", help="the book's .pkl weight file")
    w.add_argument("--model", required=True, choices=["simple-conv", "deep-conv"],
                   help="the network the weights are for")
    w.add_argument("-o", "--output", required=True, metavar="OUT.npz",
                   help="the checkpoint to write")
    w.add_argument("--dropout-ratio", type=fraction, default=0.5,
                   help="deep-conv: the dropout ratio it was trained with (default: "
                        "%(default)s, the book's)")
    add_overwrite_option(w)
    w.set_defaults(func=cmd_book_import_weights)
    return p
