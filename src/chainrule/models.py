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
from .layers import (Affine, BatchNormalization, Convolution, Dropout, Pooling, Relu, Sigmoid,
                     SoftmaxWithLoss, Tanh)

__all__ = ["Network", "TwoLayerNet", "MultiLayerNet", "SimpleConvNet", "DeepConvNet",
           "MODELS", "make_rng", "init_scale"]


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

        return self._collect_grads()

    def numerical_gradient(self, x, t):
        """The same gradients by central differences: slow, for checking `gradient`."""
        def loss_w(_):
            return self.loss(x, t, train_flg=True)
        return {name: _numerical_gradient(loss_w, param) for name, param in self.params.items()}

    def backprop(self, x, t, train_flg=False):
        """One forward and one backward pass on (x, t), keeping what `gradient` throws away.

        Returns a dict: "loss" (float), "scores" (N, classes) before softmax, "grads"
        (name -> array, as gradient returns), "input_grad" (dL/dx, shaped like x as
        given) and "output_grads" (layer name -> dL/d(that layer's output), in forward
        order). train_flg=False (the default) backpropagates through the network as it
        predicts: dropout off, batch norm on its running statistics, which is what a
        user looking at one sample wants to see; nothing in the network is changed.
        """
        x_given = np.asarray(x)
        scores = self.predict(x_given, train_flg)
        loss = float(self.lastLayer.forward(scores, t) + self._weight_decay())
        dout = self.lastLayer.backward(1)
        layers = list(self.layers.items())
        output_grads = {}
        for name, layer in reversed(layers):
            output_grads[name] = dout
            dout = layer.backward(dout)
        grads = self._collect_grads()
        return {"loss": loss, "scores": scores, "grads": grads,
                "input_grad": np.asarray(dout).reshape(x_given.shape),
                "output_grads": dict(reversed(list(output_grads.items())))}

    def _collect_grads(self):
        grads = {}
        for name, (layer_name, attr) in self.grad_map.items():
            grads[name] = getattr(self.layers[layer_name], attr)
        if self.weight_decay_lambda:
            for name in self._decayed_params():
                grads[name] = grads[name] + self.weight_decay_lambda * self.params[name]
        return grads

    # -- helpers ---------------------------------------------------------------------
    @property
    def output_size(self):
        return self.config["output_size"]

    @property
    def input_shape(self):
        """The shape of one sample: (D,) for flat input, (C, H, W) for images."""
        if "input_dim" in self.config:
            return tuple(self.config["input_dim"])
        return (self.config["input_size"],)

    def layer_shapes(self):
        """(layer name, output shape of one sample) for every layer, in forward order."""
        x = np.zeros((1,) + self.input_shape, dtype=self.dtype)
        x = self._cast(x)
        shapes = []
        for name, layer in self.layers.items():
            if getattr(layer, "has_train_mode", False):
                x = layer.forward(x, False)
            else:
                x = layer.forward(x)
            shapes.append((name, tuple(np.shape(x)[1:])))
        return shapes

    def summary(self):
        """The network as a table, one row per layer: name, output shape, parameters.

        Returned as a string (print it to see it). Trainable parameters are counted per
        layer and in total; buffers (batch norm's running statistics) are saved but not
        trained, and are counted apart.
        """
        owner = {}
        for param, (layer_name, _attr) in self.grad_map.items():
            owner.setdefault(layer_name, []).append(param)
        rows = [("layer", "output shape", "parameters")]
        rows.append(("input", _shape_text(self.input_shape), ""))
        for name, shape in self.layer_shapes():
            count = sum(int(self.params[p].size) for p in owner.get(name, []))
            rows.append((f"{name} ({type(self.layers[name]).__name__})",
                         _shape_text(shape), f"{count:,}"))
        total = sum(int(a.size) for a in self.params.values())
        buffers = sum(int(a.size) for a in self.buffers.values())
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        rule = "-" * (sum(widths) + 4)

        def line(row):
            return f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}"
        out = [f"{type(self).__name__} ({self.dtype.name})", rule, line(rows[0]), rule]
        out += [line(row) for row in rows[1:]]
        out += [rule, f"trainable parameters: {total:,}"]
        if buffers:
            out.append(f"buffers (running statistics, not trained): {buffers:,}")
        return "\n".join(out)

    @property
    def has_train_mode(self):
        """Whether predict differs between training and inference (dropout, batch norm)."""
        return any(getattr(layer, "has_train_mode", False) for layer in self.layers.values())

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.items())
        return f"{type(self).__name__}({args})"

    def _repr_html_(self):
        """The summary table Jupyter shows (IPython's display protocol)."""
        from .display import network_html
        return network_html(self)


def _shape_text(shape):
    return str(tuple(int(d) for d in shape))


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


def init_scale(weight_init_std, fan_in):
    """The standard deviation of a layer's initial weights.

    A number is used as it is. "relu" or "he" gives sqrt(2 / fan_in) (He et al.), which
    keeps the spread of activations steady through ReLU layers, which zero half their
    input; "sigmoid" or "xavier" gives sqrt(1 / fan_in) (Glorot and Bengio, in the form
    the book uses), for sigmoid and tanh.
    """
    if isinstance(weight_init_std, str):
        key = weight_init_std.lower()
        if key in ("relu", "he"):
            return float(np.sqrt(2.0 / fan_in))
        if key in ("sigmoid", "xavier"):
            return float(np.sqrt(1.0 / fan_in))
        raise ValueError(f"weight_init_std must be a number, 'relu'/'he' or "
                         f"'sigmoid'/'xavier', got {weight_init_std!r}")
    value = float(weight_init_std)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"weight_init_std must be a non-negative number, "
                         f"got {weight_init_std!r}")
    return value


def _positive_int(name, value):
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _init_std_config(weight_init_std):
    """weight_init_std as a JSON-friendly value for `config` (checked on the way)."""
    init_scale(weight_init_std, 1)
    return weight_init_std.lower() if isinstance(weight_init_std, str) else float(weight_init_std)


ACTIVATIONS = {"relu": Relu, "sigmoid": Sigmoid, "tanh": Tanh}


class MultiLayerNet(Network):
    """A fully connected network with any number of hidden layers (chapter 6 of the book).

    Each hidden layer is Affine -> [BatchNorm] -> activation -> [Dropout]; the last is
    Affine, followed by SoftmaxWithLoss. Layers are named Affine1.., BatchNorm1..,
    Activation1.., Dropout1..; params W1..Wn, b1..bn and, with batch norm, gamma1..,
    beta1.. for each hidden layer, whose running statistics are the buffers
    running_mean1.., running_var1...

    activation is "relu", "sigmoid" or "tanh". weight_init_std is a number, or
    "relu"/"he" or "sigmoid"/"xavier" to scale each layer by its fan-in (see init_scale).
    weight_decay_lambda adds 0.5 * lambda * sum(W^2) over all weights to the loss (and
    lambda * W to their gradients); biases and batch norm's gamma and beta are not
    decayed. `rng` (a seed or a Generator) draws the initial weights and the dropout
    masks, so one seed reproduces a whole run.
    """

    def __init__(self, input_size, hidden_size_list, output_size, activation="relu",
                 weight_init_std="relu", weight_decay_lambda=0, use_dropout=False,
                 dropout_ratio=0.5, use_batchnorm=False, *, dtype=np.float64, rng=None):
        super().__init__(dtype)
        input_size = _positive_int("input_size", input_size)
        output_size = _positive_int("output_size", output_size)
        hidden_size_list = [_positive_int("each hidden size", h) for h in hidden_size_list]
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, "
                             f"got {activation!r}")
        if weight_decay_lambda < 0:
            raise ValueError(f"weight_decay_lambda must be non-negative, "
                             f"got {weight_decay_lambda}")
        if not 0.0 <= dropout_ratio < 1.0:
            raise ValueError(f"dropout_ratio must be in [0, 1), got {dropout_ratio}")
        rng = make_rng(rng)
        self.weight_decay_lambda = float(weight_decay_lambda)
        self.config = {"input_size": input_size, "hidden_size_list": hidden_size_list,
                       "output_size": output_size, "activation": activation,
                       "weight_init_std": _init_std_config(weight_init_std),
                       "weight_decay_lambda": float(weight_decay_lambda),
                       "use_dropout": bool(use_dropout), "dropout_ratio": float(dropout_ratio),
                       "use_batchnorm": bool(use_batchnorm), "dtype": self.dtype.name}

        sizes = [input_size] + hidden_size_list + [output_size]
        n_affine = len(sizes) - 1
        for i in range(1, n_affine + 1):
            fan_in, fan_out = sizes[i - 1], sizes[i]
            scale = init_scale(weight_init_std, fan_in)
            W = scale * _normal(rng, (fan_in, fan_out))
            W = self.params[f"W{i}"] = W.astype(self.dtype, copy=False)
            b = self.params[f"b{i}"] = np.zeros(fan_out, dtype=self.dtype)
            self.layers[f"Affine{i}"] = Affine(W, b)
            self.grad_map[f"W{i}"] = (f"Affine{i}", "dW")
            self.grad_map[f"b{i}"] = (f"Affine{i}", "db")
            if i == n_affine:
                break
            if use_batchnorm:
                gamma = self.params[f"gamma{i}"] = np.ones(fan_out, dtype=self.dtype)
                beta = self.params[f"beta{i}"] = np.zeros(fan_out, dtype=self.dtype)
                mean = self.buffers[f"running_mean{i}"] = np.zeros(fan_out, dtype=self.dtype)
                var = self.buffers[f"running_var{i}"] = np.ones(fan_out, dtype=self.dtype)
                self.layers[f"BatchNorm{i}"] = BatchNormalization(
                    gamma, beta, running_mean=mean, running_var=var)
                self.grad_map[f"gamma{i}"] = (f"BatchNorm{i}", "dgamma")
                self.grad_map[f"beta{i}"] = (f"BatchNorm{i}", "dbeta")
            self.layers[f"Activation{i}"] = ACTIVATIONS[activation]()
            if use_dropout:
                self.layers[f"Dropout{i}"] = Dropout(dropout_ratio, rng=rng)


class _ImageNetwork(Network):
    """A network whose input is images of shape input_dim = (C, H, W).

    Flat rows of C*H*W numbers (how the datasets load by default) are reshaped to
    images here, at the network's boundary; (N, C, H, W) arrays are taken as they are.
    """

    input_dim = None

    def _cast(self, x):
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim == 4 and x.shape[1:] == self.input_dim:
            return x
        if x.ndim == 2 and x.shape[1] == int(np.prod(self.input_dim)):
            return x.reshape((x.shape[0],) + self.input_dim)
        C, H, W = self.input_dim
        raise ValueError(f"{type(self).__name__}: input of shape {x.shape}; expected "
                         f"(N, {C}, {H}, {W}) images or (N, {C * H * W}) flat rows")


def _input_dim(input_dim):
    if len(input_dim) != 3:
        raise ValueError(f"input_dim must be (C, H, W), got {input_dim!r}")
    return tuple(_positive_int("each entry of input_dim", v) for v in input_dim)


_CONV_KEYS = ("filter_num", "filter_size", "pad", "stride")


def _conv_param(conv_param, defaults, name="conv_param"):
    """A complete conv_param dict of ints: missing keys from defaults, unknown keys refused."""
    unknown = set(conv_param) - set(_CONV_KEYS)
    if unknown:
        raise ValueError(f"{name} has unknown keys {sorted(unknown)}; expected {list(_CONV_KEYS)}")
    merged = {**defaults, **conv_param}
    for key in _CONV_KEYS:
        minimum = 0 if key == "pad" else 1
        value = merged[key]
        if isinstance(value, bool) or int(value) != value or value < minimum:
            raise ValueError(f"{name}[{key!r}] must be an integer >= {minimum}, got {value!r}")
    return {key: int(merged[key]) for key in _CONV_KEYS}


class SimpleConvNet(_ImageNetwork):
    """The book's convolutional network (chapter 7.5):

        Conv1 -> Relu1 -> Pool1 (max 2x2, stride 2) -> Affine1 -> Relu2 -> Affine2 -> softmax

    params W1, b1 (the convolution: filter_num filters of filter_size^2 per channel),
    W2, b2 (hidden_size units) and W3, b3 (output_size scores). Inputs are images
    (N, *input_dim) or their flat rows. weight_init_std is a number or "relu"/"he",
    "sigmoid"/"xavier" (scaled by each layer's fan-in).
    """

    def __init__(self, input_dim=(1, 28, 28),
                 conv_param={"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1},
                 hidden_size=100, output_size=10, weight_init_std=0.01, *,
                 dtype=np.float64, rng=None):
        super().__init__(dtype)
        self.input_dim = _input_dim(input_dim)
        conv_param = _conv_param(conv_param, {"filter_num": 30, "filter_size": 5,
                                              "pad": 0, "stride": 1})
        hidden_size = _positive_int("hidden_size", hidden_size)
        output_size = _positive_int("output_size", output_size)
        rng = make_rng(rng)
        self.config = {"input_dim": list(self.input_dim), "conv_param": conv_param,
                       "hidden_size": hidden_size, "output_size": output_size,
                       "weight_init_std": _init_std_config(weight_init_std),
                       "dtype": self.dtype.name}

        C = self.input_dim[0]
        FN, FS = conv_param["filter_num"], conv_param["filter_size"]

        def weights(shape, fan_in):
            scale = init_scale(weight_init_std, fan_in)
            return (scale * _normal(rng, shape)).astype(self.dtype, copy=False)

        p = self.params
        p["W1"] = weights((FN, C, FS, FS), C * FS * FS)
        p["b1"] = np.zeros(FN, dtype=self.dtype)
        conv = Convolution(p["W1"], p["b1"], conv_param["stride"], conv_param["pad"])
        pool = Pooling(pool_h=2, pool_w=2, stride=2)
        # The sizes follow from the layers' own shape rules (ValueError if they cannot fit).
        flat_size = int(np.prod(pool.output_shape(conv.output_shape(self.input_dim))))
        p["W2"] = weights((flat_size, hidden_size), flat_size)
        p["b2"] = np.zeros(hidden_size, dtype=self.dtype)
        p["W3"] = weights((hidden_size, output_size), hidden_size)
        p["b3"] = np.zeros(output_size, dtype=self.dtype)

        self.layers["Conv1"] = conv
        self.layers["Relu1"] = Relu()
        self.layers["Pool1"] = pool
        self.layers["Affine1"] = Affine(p["W2"], p["b2"])
        self.layers["Relu2"] = Relu()
        self.layers["Affine2"] = Affine(p["W3"], p["b3"])
        self.grad_map = {"W1": ("Conv1", "dW"), "b1": ("Conv1", "db"),
                         "W2": ("Affine1", "dW"), "b2": ("Affine1", "db"),
                         "W3": ("Affine2", "dW"), "b3": ("Affine2", "db")}


def _deep_default(filter_num, pad=1):
    return {"filter_num": filter_num, "filter_size": 3, "pad": pad, "stride": 1}


class DeepConvNet(_ImageNetwork):
    """The book's deep network for MNIST (chapter 8.1), about 99.4% accurate there:

        Conv1 - Relu1 - Conv2 - Relu2 - Pool1 -
        Conv3 - Relu3 - Conv4 - Relu4 - Pool2 -
        Conv5 - Relu5 - Conv6 - Relu6 - Pool3 -
        Affine1 - Relu7 - Dropout1 - Affine2 - Dropout2 - softmax

    Six 3x3 convolutions with 16, 16, 32, 32, 64, 64 filters, max pooling 2x2 after every
    second one, a hidden layer of hidden_size units, and dropout (dropout_ratio). As in
    the book, conv_param_4 pads by 2 (the others by 1), so 28x28 digits shrink
    28 -> 14 -> 16 -> 8 -> 4 and the hidden layer sees 64*4*4 features. Weights are
    initialised with He's scale sqrt(2 / fan_in), biases at zero. params W1..W6, b1..b6
    (convolutions), W7, b7 (hidden) and W8, b8 (output).
    """

    def __init__(self, input_dim=(1, 28, 28),
                 conv_param_1={"filter_num": 16, "filter_size": 3, "pad": 1, "stride": 1},
                 conv_param_2={"filter_num": 16, "filter_size": 3, "pad": 1, "stride": 1},
                 conv_param_3={"filter_num": 32, "filter_size": 3, "pad": 1, "stride": 1},
                 conv_param_4={"filter_num": 32, "filter_size": 3, "pad": 2, "stride": 1},
                 conv_param_5={"filter_num": 64, "filter_size": 3, "pad": 1, "stride": 1},
                 conv_param_6={"filter_num": 64, "filter_size": 3, "pad": 1, "stride": 1},
                 hidden_size=50, output_size=10, dropout_ratio=0.5, *,
                 dtype=np.float64, rng=None):
        super().__init__(dtype)
        self.input_dim = _input_dim(input_dim)
        defaults = [_deep_default(16), _deep_default(16), _deep_default(32),
                    _deep_default(32, pad=2), _deep_default(64), _deep_default(64)]
        given = [conv_param_1, conv_param_2, conv_param_3, conv_param_4, conv_param_5,
                 conv_param_6]
        conv_params = [_conv_param(cp, d, f"conv_param_{i}")
                       for i, (cp, d) in enumerate(zip(given, defaults), start=1)]
        hidden_size = _positive_int("hidden_size", hidden_size)
        output_size = _positive_int("output_size", output_size)
        if not 0.0 <= dropout_ratio < 1.0:
            raise ValueError(f"dropout_ratio must be in [0, 1), got {dropout_ratio}")
        rng = make_rng(rng)
        self.config = {"input_dim": list(self.input_dim)}
        self.config.update({f"conv_param_{i}": cp for i, cp in enumerate(conv_params, start=1)})
        self.config.update({"hidden_size": hidden_size, "output_size": output_size,
                            "dropout_ratio": float(dropout_ratio), "dtype": self.dtype.name})

        def weights(shape, fan_in):
            return (init_scale("he", fan_in) * _normal(rng, shape)).astype(self.dtype, copy=False)

        p = self.params
        shape = self.input_dim  # (C, H, W) of the data flowing through, for the next layer
        for i, cp in enumerate(conv_params, start=1):
            FN, FS, C = cp["filter_num"], cp["filter_size"], shape[0]
            p[f"W{i}"] = weights((FN, C, FS, FS), C * FS * FS)
            p[f"b{i}"] = np.zeros(FN, dtype=self.dtype)
            conv = Convolution(p[f"W{i}"], p[f"b{i}"], cp["stride"], cp["pad"])
            shape = conv.output_shape(shape)
            self.layers[f"Conv{i}"] = conv
            self.layers[f"Relu{i}"] = Relu()
            self.grad_map[f"W{i}"] = (f"Conv{i}", "dW")
            self.grad_map[f"b{i}"] = (f"Conv{i}", "db")
            if i % 2 == 0:
                pool = Pooling(pool_h=2, pool_w=2, stride=2)
                shape = pool.output_shape(shape)
                self.layers[f"Pool{i // 2}"] = pool

        flat_size = int(np.prod(shape))
        p["W7"] = weights((flat_size, hidden_size), flat_size)
        p["b7"] = np.zeros(hidden_size, dtype=self.dtype)
        p["W8"] = weights((hidden_size, output_size), hidden_size)
        p["b8"] = np.zeros(output_size, dtype=self.dtype)
        self.layers["Affine1"] = Affine(p["W7"], p["b7"])
        self.layers["Relu7"] = Relu()
        self.layers["Dropout1"] = Dropout(dropout_ratio, rng=rng)
        self.layers["Affine2"] = Affine(p["W8"], p["b8"])
        self.layers["Dropout2"] = Dropout(dropout_ratio, rng=rng)
        self.grad_map.update({"W7": ("Affine1", "dW"), "b7": ("Affine1", "db"),
                              "W8": ("Affine2", "dW"), "b8": ("Affine2", "db")})


# Every model a checkpoint or the command line can name, by class name.
MODELS = {"TwoLayerNet": TwoLayerNet, "MultiLayerNet": MultiLayerNet,
          "SimpleConvNet": SimpleConvNet, "DeepConvNet": DeepConvNet}
