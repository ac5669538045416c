"""The book's common/multi_layer_net_extend.py: MultiLayerNetExtend on chainrule's
MultiLayerNet, with the book's keyword `dropout_ration` and the book's Dropout."""

from collections import OrderedDict  # noqa: F401

import numpy as np  # noqa: F401

from chainrule.models import MultiLayerNet

from .gradient import numerical_gradient  # noqa: F401
from .layers import *  # noqa: F401,F403
from .layers import BOOK_BN_EPS, Dropout


class MultiLayerNetExtend(MultiLayerNet):
    """A fully connected network with weight decay, dropout and batch normalisation.

    The book's signature, `dropout_ration` (sic) included; everything else is
    chainrule's MultiLayerNet (see its docstring), except that the dropout layers are
    the book's (common.layers.Dropout: scaled by 1 - p at inference) and batch
    normalisation has the book's constants (eps 1e-6, running variance from zeros), so
    that the book's experiments and weights trained by the book's class give the book's
    numbers here.
    """

    def __init__(self, input_size, hidden_size_list, output_size, activation="relu",
                 weight_init_std="relu", weight_decay_lambda=0, use_dropout=False,
                 dropout_ration=0.5, use_batchnorm=False, **options):
        super().__init__(input_size, hidden_size_list, output_size, activation=activation,
                         weight_init_std=weight_init_std,
                         weight_decay_lambda=weight_decay_lambda, use_dropout=use_dropout,
                         dropout_ratio=dropout_ration, use_batchnorm=use_batchnorm,
                         **options)
        for name, layer in list(self.layers.items()):
            if name.startswith("Dropout"):
                self.layers[name] = Dropout(dropout_ration)
            elif name.startswith("BatchNorm"):
                # In place: the network's buffers are these very arrays.
                layer.eps = BOOK_BN_EPS
                layer.running_var[...] = 0.0
