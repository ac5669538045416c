"""The book's common/optimizer.py names: chainrule's optimizers.

Each takes the book's arguments and updates `params` in place; plain numbers in
`params` are replaced by their updated values, as the book's do. Two differ from the
book's code by design (chainrule.optimizers says how): Nesterov is the standard
Nesterov momentum, and Adam adds its eps (1e-8) to the bias-corrected root.
"""

import numpy as np  # noqa: F401  (the book's scripts use np from `from common.optimizer import *`)

from chainrule.optimizers import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop  # noqa: F401
