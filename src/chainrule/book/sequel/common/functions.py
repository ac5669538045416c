"""The sequel's common/functions.py names, on chainrule's functions.

sigmoid, relu, softmax and cross_entropy_error are chainrule's: overflow-free, and
cross_entropy_error clips a probability of 0 instead of adding 1e-7 to every one (its
losses are smaller by about 1e-7 / y than the sequel's). softmax works along the last
axis of an array of any dimension (the sequel's on 1-D and 2-D arrays only).
"""

import numpy as np  # noqa: F401  (the sequel's module exports np)

from chainrule.functions import cross_entropy_error, relu, sigmoid, softmax  # noqa: F401

GPU = False
