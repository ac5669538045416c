"""The book's module layout served by chainrule: its scripts run unchanged.

*Deep Learning from Scratch*'s repository has its scripts in ch01/ ... ch08/, which
import `common.layers`, `common.functions`, `common.gradient`, `common.optimizer`,
`common.trainer`, `common.util`, `common.multi_layer_net`,
`common.multi_layer_net_extend` and `dataset.mnist` from the checkout. This package
holds chainrule's versions of those modules (chainrule.book.common.*,
chainrule.book.dataset.mnist), with the book's names and signatures, and:

    chainrule book run ch05/train_neuralnet.py        run a script of a checkout
    chainrule book import-weights ch07/params.pkl --model simple-conv -o simple.npz

In Python, `run_script(path, args)` is the first; `book_modules()` is a context manager
inside which `import common.layers` (and the rest) gives chainrule's modules. Nothing
is ever installed as top-level `common` or `dataset`: outside a run those names mean
what they meant before (a user's own package, or nothing).
"""

from .runner import BOOK_MODULES, ScriptNotFound, book_modules, run_script
from .weights import (BOOK_MODELS, UnsafePickleError, WeightFileError, import_weights,
                      network_from_weights, read_weight_pickle)

__all__ = ["BOOK_MODULES", "ScriptNotFound", "book_modules", "run_script", "BOOK_MODELS",
           "UnsafePickleError", "WeightFileError", "import_weights", "network_from_weights",
           "read_weight_pickle"]
