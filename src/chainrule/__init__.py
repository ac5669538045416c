"""chainrule: backpropagation from scratch, layer by layer.

The networks of *Deep Learning from Scratch* as a small NumPy library: every layer a
plain class with forward and backward, every gradient checked against a numerical one.

    from chainrule import TwoLayerNet, load_mnist
"""

from .functions import (NonFiniteError, col2im, cross_entropy_error, im2col, relu,
                        sigmoid, softmax)
from .gradient import gradient_check, numerical_gradient
from .graph import AddLayer, MulLayer
from .layers import Affine, Relu, Sigmoid, SoftmaxWithLoss, Tanh
from .models import TwoLayerNet

__version__ = "0.1.0"
