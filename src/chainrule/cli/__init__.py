"""The `chainrule` command: train, evaluate, predict, gradcheck, info, graph, plot,
serve and book.

Run `chainrule COMMAND --help` for each command's options. `python -m chainrule` is the
same command. A module per family of subcommands (train, with its run in training;
evaluate; gradcheck; info; visual: graph, plot and serve; book), each with a
`register(sub)` that adds its parsers; what they share is in common, options, data,
presets and outputs. A handler returns the exit status, or raises CommandError, which `main`
prints as `chainrule: error: ...` (status 2 unless it says otherwise).
"""

import argparse
import os
import sys

from . import book, evaluate, gradcheck, info, text, train, visual
from .common import CommandError, error
from .data import load_data
from .options import check_applicable
from .presets import build_model

__all__ = ["main", "make_parser", "CommandError", "build_model", "load_data"]


def make_parser():
    from .. import __version__
    parser = argparse.ArgumentParser(
        prog="chainrule",
        description="Backpropagation from scratch: train, check and inspect the networks "
                    "of Deep Learning from Scratch.")
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for family in (train, evaluate, text, gradcheck, info, visual, book):
        family.register(sub)
    return parser


def _defaults(parser, args):
    """The defaults of the options of the subcommand `args` was parsed for."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {a.dest: a.default for a in sub.choices[args.command]._actions}


def main(argv=None):
    try:
        parser = make_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        problem = check_applicable(args, _defaults(parser, args))
        if problem:
            raise CommandError(problem)
        return args.func(args)
    except CommandError as exc:
        error(str(exc))
        return exc.status
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
        error(str(exc))
        return 2
