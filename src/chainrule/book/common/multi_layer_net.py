"""The book's common/multi_layer_net.py: chainrule's MultiLayerNet, which takes the
book's arguments (input_size, hidden_size_list, output_size, activation,
weight_init_std, weight_decay_lambda) and has its params, loss, accuracy, gradient and
numerical_gradient."""

from collections import OrderedDict  # noqa: F401  (the book's module exports it)

import numpy as np  # noqa: F401

from chainrule.models import MultiLayerNet  # noqa: F401

from .gradient import numerical_gradient  # noqa: F401
from .layers import *  # noqa: F401,F403
