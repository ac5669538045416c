"""chainrule: backpropagation from scratch, layer by layer.

The networks of *Deep Learning from Scratch* as a small NumPy library: every layer a
plain class with forward and backward, every gradient checked against a numerical one.

    import chainrule
    (x_train, t_train), (x_test, t_test) = chainrule.load_dataset("mnist-10k")
    net = chainrule.TwoLayerNet(784, 50, 10)
    chainrule.Trainer(net, x_train, t_train, x_test, t_test, epochs=5,
                      optimizer_param={"lr": 0.1}).train()
    chainrule.save(net, "net.npz"); net = chainrule.load("net.npz")

A network of one's own is a list of layers, or the same as text:

    net = chainrule.Sequential("conv(16,5) relu pool(2) affine(100) relu affine(10)",
                               input_shape=(1, 28, 28))
    print(net.summary())

Importing chainrule needs NumPy alone; plots, images and the web page import their
optional libraries only when used.
"""

__version__ = "0.2.0"

from .checkpoint import CheckpointError, load, save
from .datasets import DatasetError, load_dataset, load_fashion_mnist, load_mnist
from .functions import (NonFiniteError, col2im, cross_entropy_error, im2col, relu,
                        sigmoid, softmax)
from .gradient import gradient_check, numerical_gradient
from .graph import AddLayer, MulLayer
from .layers import (Affine, AvgPooling, BatchNormalization, Convolution, Dropout, LeakyRelu,
                     Pooling, Relu, Sigmoid, SoftmaxWithLoss, Tanh)
from .compose import BatchNorm, Conv, Dense, register_layer
from .models import DeepConvNet, MultiLayerNet, Sequential, SimpleConvNet, TwoLayerNet
from .optimizers import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop
from .trainer import Trainer
