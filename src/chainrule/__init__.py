"""chainrule: backpropagation from scratch, layer by layer.

The networks of *Deep Learning from Scratch* as a small NumPy library: every layer a
plain class with forward and backward, every gradient checked against a numerical one.

    import chainrule
    (x_train, t_train), (x_test, t_test) = chainrule.load_dataset("mnist-10k")
    net = chainrule.TwoLayerNet(784, 50, 10)
    chainrule.Trainer(net, x_train, t_train, x_test, t_test, epochs=5,
                      optimizer_param={"lr": 0.1}).train()
    chainrule.save(net, "net.npz"); net = chainrule.load("net.npz")

Importing chainrule needs NumPy alone; plots, images and the web page import their
optional libraries only when used.
"""

__version__ = "0.1.0"

from .checkpoint import CheckpointError, load, save
from .datasets import DatasetError, load_dataset, load_fashion_mnist, load_mnist
from .functions import (NonFiniteError, col2im, cross_entropy_error, im2col, relu,
                        sigmoid, softmax)
from .gradient import gradient_check, numerical_gradient
from .graph import AddLayer, MulLayer
from .layers import (Affine, BatchNormalization, Convolution, Dropout, Pooling, Relu, Sigmoid,
                     SoftmaxWithLoss, Tanh)
from .models import DeepConvNet, MultiLayerNet, SimpleConvNet, TwoLayerNet
from .optimizers import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop
from .trainer import Trainer
