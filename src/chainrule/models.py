"""Networks built from layers: the book's TwoLayerNet (chapter 5.7) and its relatives.

A network is an ordered dict of layers ending in a loss layer, plus `params`, the dict of
parameter arrays the layers hold by reference. Its four methods are the book's:
predict, loss, accuracy and gradient (backpropagation), plus numerical_gradient to check
the last one. Everything that differs between networks is how the layers are built;
the rest lives in `Network` below, written once.
"""

import numpy as np

from .functions import class_indices
from .gradient import numerical_gradient as _numerical_gradient
from .layers import Affine, Relu, SoftmaxWithLoss

__all__ = ["Network", "TwoLayerNet", "MODELS", "make_rng"]


def make_rng(rng):
    """A random generator from a seed, a Generator, or None.

    None keeps the book's behaviour: weights drawn from NumPy's global generator, so
    `np.random.seed(...)` in a reader's script still fixes them.
    """
    if rng is None:
        return np.random.mtrand._rand
    if isinstance(rng, (np.random.Generator, np.random.RandomState)):
        return rng
    return np.random.default_rng(rng)


def _normal(rng, shape):
    if isinstance(rng, np.random.Generator):
        return rng.standard_normal(shape)
    return rng.randn(*shape)


class Network:
    """What every chainrule network shares.

    Subclasses fill in, in __init__:
      params     name -> parameter array (W1, b1, ...), the arrays the layers hold;
      layers     name -> layer, in forward order (a dict keeps insertion order);
      lastLayer  the loss layer (SoftmaxWithLoss);
      grad_map   parameter name -> (layer name, gradient attribute), e.g. "W1": ("Affine1", "dW");
      config     the constructor's arguments, as JSON-friendly values, so that a
                 checkpoint can rebuild the same network;
      dtype      the dtype of params and of the inputs they are fed.
    Optional: buffers, name -> array of state that is saved but not trained
    (batch norm's running statistics); weight_decay_lambda for L2 weight decay.
    """

    weight_decay_lambda = 0.0

    def __init__(self, dtype=np.float64):
        self.dtype = np.dtype(dtype)
        if self.dtype.kind != "f":
            raise ValueError(f"dtype must be a floating-point type, got {self.dtype}")
        self.params = {}
        self.layers = {}
        self.lastLayer = SoftmaxWithLoss()
        self.grad_map = {}
        self.buffers = {}
        self.config = {}
        self.last_loss = None

    # -- forward ---------------------------------------------------------------------
    def _cast(self, x):
        """x in the network's dtype: float32 data never meets float64 weights (13x slower)."""
        return np.asarray(x, dtype=self.dtype)

    def predict(self, x, train_flg=False):
        """Scores (N, classes) before softmax; train_flg switches dropout and batch norm."""
        x = self._cast(x)
        for layer in self.layers.values():
            if getattr(layer, "has_train_mode", False):
                x = layer.forward(x, train_flg)
            else:
                x = layer.forward(x)
        return x

    def _weight_decay(self):
        if not self.weight_decay_lambda:
            return 0.0
        return 0.5 * self.weight_decay_lambda * sum(
            float(np.sum(self.params[name] ** 2)) for name in self._decayed_params())

    def _decayed_params(self):
        return [name for name in self.params if name.startswith("W")]

    def loss(self, x, t, train_flg=False):
        """Cross-entropy loss on (x, t), plus 0.5 * lambda * sum(W^2) with weight decay."""
        y = self.predict(x, train_flg)
        return self.lastLayer.forward(y, t) + self._weight_decay()

    def accuracy(self, x, t, batch_size=100):
        """Fraction of samples whose highest score is the label, evaluated in chunks.

        Chunks bound the memory of the forward pass; the last, shorter chunk is included.
        """
        x = np.asarray(x)
        n = x.shape[0]
        if n == 0:
            raise ValueError("accuracy of an empty data set")
        t = class_indices(t, self.output_size, batch_size=n)
        correct = 0
        for start in range(0, n, batch_size):
            y = self.predict(x[start:start + batch_size], train_flg=False)
            correct += int(np.count_nonzero(y.argmax(axis=1) == t[start:start + batch_size]))
        return correct / n

    # -- backward --------------------------------------------------------------------
    def gradient(self, x, t):
        """Gradients of the loss by backpropagation: name -> array, like params.

        One forward pass (in training mode) and one backward pass. The loss of that
        forward pass is kept in `last_loss`, so a training loop need not run a second
        forward pass to report it.
        """
        self.last_loss = self.loss(x, t, train_flg=True)
        dout = self.lastLayer.backward(1)
        layers = list(self.layers.values())
        for layer in reversed(layers[1:]):
            dout = layer.backward(dout)
        # Nothing uses the gradient with respect to the data: skip that product.
        layers[0].backward(dout, input_grad=False)

        grads = {}
        for name, (layer_name, attr) in self.grad_map.items():
            grads[name] = getattr(self.layers[layer_name], attr)
        if self.weight_decay_lambda:
            for name in self._decayed_params():
                grads[name] = grads[name] + self.weight_decay_lambda * self.params[name]
        return grads

    def numerical_gradient(self, x, t):
        """The same gradients by central differences: slow, for checking `gradient`."""
        def loss_w(_):
            return self.loss(x, t, train_flg=True)
        return {name: _numerical_gradient(loss_w, param) for name, param in self.params.items()}

    # -- helpers ---------------------------------------------------------------------
    @property
    def output_size(self):
        return self.config["output_size"]

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.items())
        return f"{type(self).__name__}({args})"


class TwoLayerNet(Network):
    """The seed's network: Affine1 -> Relu1 -> Affine2 -> SoftmaxWithLoss.

    Weights are drawn from N(0, weight_init_std^2), biases start at zero. `rng` may be a
    seed or a np.random.Generator; by default NumPy's global generator is used, as in
    the book.
    """

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01, *,
                 dtype=np.float64, rng=None):
        super().__init__(dtype)
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size),
                            ("output_size", output_size)):
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        rng = make_rng(rng)
        self.config = {"input_size": int(input_size), "hidden_size": int(hidden_size),
                       "output_size": int(output_size),
                       "weight_init_std": float(weight_init_std),
                       "dtype": self.dtype.name}
        self.params["W1"] = (weight_init_std * _normal(rng, (input_size, hidden_size))).astype(self.dtype, copy=False)
        self.params["b1"] = np.zeros(hidden_size, dtype=self.dtype)
        self.params["W2"] = (weight_init_std * _normal(rng, (hidden_size, output_size))).astype(self.dtype, copy=False)
        self.params["b2"] = np.zeros(output_size, dtype=self.dtype)

        self.layers["Affine1"] = Affine(self.params["W1"], self.params["b1"])
        self.layers["Relu1"] = Relu()
        self.layers["Affine2"] = Affine(self.params["W2"], self.params["b2"])
        self.grad_map = {"W1": ("Affine1", "dW"), "b1": ("Affine1", "db"),
                         "W2": ("Affine2", "dW"), "b2": ("Affine2", "db")}


# Every model a checkpoint or the command line can name, by class name.
MODELS = {"TwoLayerNet": TwoLayerNet}
