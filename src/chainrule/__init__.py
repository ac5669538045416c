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

__version__ = "0.3.0.dev0"

import importlib

# The names of the package's top level and the module each lives in. They are imported
# when first used (PEP 562), not all at `import chainrule`: the command starts at once
# (so Ctrl-C in its first moments is a clean stop, not a traceback from inside an
# import), and a script that needs one layer does not import the web page's code.
_EXPORTS = {
    "checkpoint": ("CheckpointError", "load", "save"),
    "datasets": ("DatasetError", "load_dataset", "load_fashion_mnist", "load_mnist",
                 "load_text"),
    "functions": ("NonFiniteError", "col2im", "cross_entropy_error", "im2col", "relu",
                  "sigmoid", "softmax"),
    "gradient": ("gradient_check", "numerical_gradient"),
    "graph": ("AddLayer", "MulLayer"),
    "layers": ("Affine", "AvgPooling", "BatchNormalization", "Convolution", "Dropout",
               "LeakyRelu", "Pooling", "Relu", "Sigmoid", "SoftmaxWithLoss", "Tanh"),
    "compose": ("BatchNorm", "Conv", "Dense", "register_layer"),
    "models": ("DeepConvNet", "MultiLayerNet", "Sequential", "SimpleConvNet", "TwoLayerNet"),
    "optimizers": ("SGD", "AdaGrad", "Adam", "AdamW", "Momentum", "Nesterov", "RMSprop",
                   "clip_grads"),
    "time_layers": ("Embedding", "GRU", "LSTM", "RNN", "SigmoidWithLoss", "TimeAffine",
                    "TimeAttention", "TimeBiLSTM", "TimeDropout", "TimeEmbedding", "TimeGRU",
                    "TimeLSTM", "TimeRNN", "TimeSoftmaxWithLoss"),
    "residual": ("ResidualAdd", "ResidualStart"),
    "transformer": ("GELU", "LayerNorm", "MultiHeadAttention", "PositionalEmbedding",
                    "Unembedding"),
    "trainer": ("Trainer",),
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_HOME)


def __getattr__(name):
    """A top-level name (`chainrule.Affine`) or a module (`chainrule.models`), imported
    on first use and kept."""
    module = _HOME.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
    else:
        try:
            value = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_HOME))
