"""`chainrule info`: versions, extras, data sets and threads."""

import importlib.util
import sys

import numpy as np


def cmd_info(args):
    from .. import __version__, datasets, threads
    print(f"chainrule {__version__}, NumPy {np.__version__}, Python {sys.version.split()[0]}")
    for extra, module in (("progress", "tqdm"),
                          ("plot", "matplotlib"), ("image", "PIL"), ("web", "flask"),
                          ("mpi", "mpi4py")):
        found = importlib.util.find_spec(module) is not None
        print(f"  extra {extra:<9} ({module}): {'installed' if found else 'not installed'}")
    for name in ("mnist", "fashion-mnist", "mnist-10k"):
        print(f"  data set {name:<14} {'available' if datasets.dataset_available(name) else 'not found'}")
    for name, (path, _sha256, characters) in datasets.TEXT_DATASETS.items():
        where = "available" if path.is_file() else "missing from the package"
        print(f"  text     {name:<14} {where} ({characters:,} characters)")
    print(f"  BLAS threads: {threads.describe()}")
    return 0


def register(sub):
    """Add `info` to an argparse subparsers object."""
    p = sub.add_parser("info", help="versions, extras, data sets, threads")
    p.set_defaults(func=cmd_info)
