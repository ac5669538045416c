"""Networks built from layers: Sequential, and the book's networks defined on it.

A network is an ordered dict of layers ending in a loss layer, plus `params`, the dict of
parameter arrays the layers hold by reference. Its four methods are the book's:
predict, loss, accuracy and gradient (backpropagation), plus numerical_gradient to check
the last one. `Sequential` builds such a network from a list of layers (or their text
form, see compose.py); TwoLayerNet (chapter 5.7), MultiLayerNet (6), SimpleConvNet (7)
and DeepConvNet (8) are short definitions on it. (The networks the command line offers
by name are chainrule.cli.presets.)
"""

import inspect

import numpy as np

from . import compose, generation, registry, residual
from .checks import positive_int
from .compose import BatchNorm, Conv, Dense
from .functions import check_finite, class_indices
from .gradient import numerical_gradient as _numerical_gradient
from .initializers import init_config, init_scale, make_rng
from .layers import Dropout, Pooling, Relu, Sigmoid, SoftmaxWithLoss, Tanh
from .time_layers import TimeSoftmaxWithLoss

__all__ = ["Network", "Sequential", "TwoLayerNet", "MultiLayerNet", "SimpleConvNet",
           "DeepConvNet", "MODELS", "make_rng", "init_scale"]


class Network:
    """What every chainrule network shares.

    A network has, once built:
      params     name -> parameter array (W1, b1, ...), the arrays the layers hold;
      layers     name -> layer, in forward order (a dict keeps insertion order);
      lastLayer  the loss layer (SoftmaxWithLoss);
      grad_map   parameter name -> (layer name, gradient attribute), e.g. "W1": ("Affine1", "dW");
      tied_grads parameter name -> more (layer name, gradient attribute) pairs, for a
                 parameter that a second layer reads too (GPT's output layer reading the
                 embedding's matrix): its gradient is the sum;
      buffers    name -> array of state that is saved but not trained (batch norm's
                 running statistics);
      config     the constructor's arguments, as JSON-friendly values;
      dtype      the dtype of params and of the inputs they are fed;
      input_shape  the shape of one sample, (D,) or (C, H, W);
      inputs     None, or a JSON dict of how inputs are made from data (a language
                 model's {"vocabulary": ...}): saved with the network, so that whatever
                 loads it prepares new inputs the same way;
    and weight_decay_lambda for L2 weight decay.
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
        self.tied_grads = {}  # parameter name -> [(layer name, gradient attribute)] also
        self.buffers = {}
        self.config = {}
        self.input_shape = None
        self.inputs = None  # how inputs are made from data (JSON, kept in a checkpoint)
        self._shapes = {}
        self.last_loss = None

    # -- forward ---------------------------------------------------------------------
    def _cast(self, x):
        """x in the network's dtype, as a batch of samples of input_shape.

        float32 data never meets float64 weights (13x slower). Flat rows of C*H*W
        numbers (how the datasets load by default) are reshaped to images here, at the
        network's boundary; one sample without its batch axis is taken as it is.
        """
        if self.takes_tokens:
            return self._token_ids(x)
        x = np.asarray(x, dtype=self.dtype)
        shape = self.input_shape
        size = int(np.prod(shape))
        if x.shape[1:] == shape or (len(shape) == 1 and x.shape == shape):
            return x
        if len(shape) > 1 and x.ndim == 2 and x.shape[1] == size:
            return x.reshape((x.shape[0],) + shape)
        if len(shape) == 1:
            raise ValueError(f"{type(self).__name__}: input of shape {x.shape}; expected "
                             f"(N, {size}): {size} features per sample")
        raise ValueError(f"{type(self).__name__}: input of shape {x.shape}; expected "
                         f"(N, {', '.join(map(str, shape))}) images or (N, {size}) flat rows")

    @property
    def takes_tokens(self):
        """Whether the network reads integer token ids (N, T) (it begins with an embedding)."""
        first = next(iter(self.layers.values()), None)
        return first is not None and registry.describe(first).needs_tokens

    @property
    def is_sequence_model(self):
        """Whether the network scores every step of a sequence: (N, T, classes)."""
        return bool(self.layers) and len(self.layer_shapes()[-1][1]) == 2

    def _token_ids(self, x):
        """x as (N, T) integer ids; one sequence (T,) is taken as a batch of one. Any T
        is accepted: a recurrent network reads sequences of any length."""
        x = np.asarray(x)
        if x.dtype.kind == "f":
            if not np.all(np.isfinite(x)) or not np.all(x == np.round(x)):
                raise ValueError(f"{type(self).__name__}: token ids must be whole numbers")
            x = x.astype(np.int64)
        elif x.dtype.kind not in "iu":
            raise ValueError(f"{type(self).__name__}: token ids must be integers, got "
                             f"{x.dtype}")
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] == 0:
            raise ValueError(f"{type(self).__name__}: token ids of shape {x.shape}; "
                             f"expected (N, T)")
        return x

    def generate(self, prompt, length, *, temperature=1.0, top_k=None, rng=None):
        """`length` token ids sampled after the ids of `prompt`, one at a time (a
        language model's; see chainrule.generation for how and for a streaming form)."""
        return np.array(list(generation.generate(self, prompt, length, temperature=temperature,
                                                 top_k=top_k, rng=rng)), dtype=np.int64)

    def reset_state(self):
        """Start every stateful layer (a recurrent one) from zeros again."""
        for layer in self.layers.values():
            reset = getattr(layer, "reset_state", None)
            if callable(reset):
                reset()

    def _forward(self, x, train_flg):
        for layer in self.layers.values():
            if getattr(layer, "has_train_mode", False):
                x = layer.forward(x, train_flg)
            else:
                x = layer.forward(x)
        return x

    def predict(self, x, train_flg=False):
        """Scores (N, classes) before softmax; train_flg switches dropout and batch norm."""
        x = self._cast(x)
        if x.ndim > len(self.input_shape) and x.shape[0] == 0:
            return np.zeros((0,) + self.layer_shapes()[-1][1], dtype=self.dtype)
        return self._forward(x, train_flg)

    def _weight_decay(self):
        if not self.weight_decay_lambda:
            return 0.0
        return 0.5 * self.weight_decay_lambda * sum(
            float(np.sum(self.params[name] ** 2)) for name in self._decayed_params())

    def _decayed_params(self):
        return [name for name in self.params if name.startswith("W")]

    def loss(self, x, t, train_flg=False):
        """Cross-entropy loss on (x, t), plus 0.5 * lambda * sum(W^2) with weight decay.

        Bad data is named here, where it enters: a NaN or infinity in x raises
        NonFiniteError. A loss that is not finite for finite data is the network's own
        doing (a diverged run) and is returned as it is, for the trainer to report.
        """
        x = self._cast(x)
        if x.ndim > len(self.input_shape) and x.shape[0] == 0:
            raise ValueError(f"{type(self).__name__}: the loss of an empty batch (x has "
                             f"shape {x.shape}) is undefined")
        loss = self.lastLayer.forward(self._forward(x, train_flg), t) + self._weight_decay()
        if not np.isfinite(loss):
            check_finite(x, f"{type(self).__name__}: the input x")
        return loss

    def accuracy(self, x, t, batch_size=100):
        """Fraction of samples whose highest score is the label, evaluated in chunks.

        Chunks bound the memory of the forward pass; the last, shorter chunk is included.
        """
        x = np.asarray(x)
        if not self.takes_tokens and x.shape == tuple(self.input_shape or (None,)):
            # One sample without its batch axis, as predict takes it: its label is a
            # class index, or a one-hot row.
            x, t = x[None], np.asarray(t)
            t = t.reshape(1) if t.ndim == 0 else (t[None] if t.ndim == 1 and len(t) > 1 else t)
        n = x.shape[0]
        if n == 0:
            raise ValueError("accuracy of an empty data set")
        if self.is_sequence_model:
            return self._step_accuracy(x, t, batch_size)
        t = class_indices(t, self.output_size, batch_size=n)
        correct = 0
        for start in range(0, n, batch_size):
            y = self.predict(x[start:start + batch_size], train_flg=False)
            correct += int(np.count_nonzero(y.argmax(axis=1) == t[start:start + batch_size]))
        return correct / n

    def _step_accuracy(self, x, t, batch_size):
        """The fraction of steps (N, T) whose highest score is the label, positions
        labelled with the loss's ignore_label left out."""
        t = np.asarray(t)
        ignore = getattr(self.lastLayer, "ignore_label", -1)
        correct = counted = 0
        for start in range(0, len(x), batch_size):
            y = self.predict(x[start:start + batch_size], train_flg=False)
            labels = t[start:start + batch_size]
            if labels.shape != y.shape[:2]:
                raise ValueError(f"labels of shape {t.shape} for scores of "
                                 f"{(len(x),) + y.shape[1:]}: expected {(len(x),) + y.shape[1:2]}")
            keep = labels != ignore
            correct += int(np.count_nonzero((y.argmax(axis=-1) == labels) & keep))
            counted += int(np.count_nonzero(keep))
        if counted == 0:
            raise ValueError("accuracy of no labelled step (every label is ignore_label)")
        return correct / counted

    # -- backward --------------------------------------------------------------------
    def gradient(self, x, t):
        """Gradients of the loss by backpropagation: name -> array, like params.

        One forward pass (in training mode) and one backward pass. The loss of that
        forward pass is kept in `last_loss`, so a training loop need not run a second
        forward pass to report it. Nothing uses the gradient with respect to the data,
        so backward stops at the first layer with parameters, and skips its dx product
        where the layer offers that (backward(dout, input_grad=False)).
        """
        self.last_loss = self.loss(x, t, train_flg=True)
        dout = self.lastLayer.backward(1)
        layers = list(self.layers.values())
        first, skips_dx = self._backward_stop
        for layer in reversed(layers[first + 1:]):
            dout = layer.backward(dout)
        if first >= 0:
            if skips_dx:
                layers[first].backward(dout, input_grad=False)
            else:
                layers[first].backward(dout)
        return self._collect_grads()

    @property
    def _backward_stop(self):
        """(position of the first layer with parameters or -1, whether its backward
        takes input_grad), worked out once: a user layer's backward need not know it."""
        cached = self.__dict__.get("_stop")
        if cached is None or cached[0] != len(self.layers):
            owners = {layer_name for layer_name, _ in self.grad_map.values()}
            first = next((i for i, name in enumerate(self.layers) if name in owners), -1)
            skips = False
            if first >= 0:
                backward = list(self.layers.values())[first].backward
                try:
                    skips = "input_grad" in inspect.signature(backward).parameters
                except (TypeError, ValueError):
                    skips = False
            cached = self._stop = (len(self.layers), first, skips)
        return cached[1], cached[2]

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
        output_grads = {}
        for name, layer in reversed(list(self.layers.items())):
            output_grads[name] = dout
            dout = layer.backward(dout)
        return {"loss": loss, "scores": scores, "grads": self._collect_grads(),
                "input_grad": (None if self.takes_tokens
                               else np.asarray(dout).reshape(x_given.shape)),
                "output_grads": dict(reversed(list(output_grads.items())))}

    def _collect_grads(self):
        grads = {}
        for name, (layer_name, attr) in self.grad_map.items():
            grads[name] = getattr(self.layers[layer_name], attr)
        for name, sources in self.tied_grads.items():
            # Two layers use the array: the loss depends on it along both paths.
            grads[name] = grads[name] + sum(getattr(self.layers[layer], attr)
                                            for layer, attr in sources)
        if self.weight_decay_lambda:
            for name in self._decayed_params():
                grads[name] = grads[name] + self.weight_decay_lambda * self.params[name]
        return grads

    # -- helpers ---------------------------------------------------------------------
    @property
    def output_size(self):
        return int(self.layer_shapes()[-1][1][-1]) if self.layers else None

    @property
    def has_train_mode(self):
        """Whether predict differs between training and inference (dropout, batch norm)."""
        return any(getattr(layer, "has_train_mode", False) for layer in self.layers.values())

    def layer_shapes(self):
        """(layer name, output shape of one sample) for every layer, in forward order."""
        return list(self._shapes.items())

    def summary(self):
        """The network as a table, one row per layer: name, output shape, parameters.

        Returned as a string (print it to see it). Trainable parameters are counted per
        layer and in total; buffers (batch norm's running statistics) are saved but not
        trained, and are counted apart.
        """
        rows = [("layer", "output shape", "parameters")]
        for name, shape, count in self.summary_rows():
            rows.append((name, _shape_text(shape, self.takes_tokens),
                         "" if count is None else f"{count:,}"))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        rule = "-" * (sum(widths) + 4)

        def line(row):
            return f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}".rstrip()
        out = [f"{type(self).__name__} ({self.dtype.name})", rule, line(rows[0]), rule]
        out += [line(row) for row in rows[1:]]
        trainable, buffers = self.parameter_counts()
        out += [rule, f"trainable parameters: {trainable:,}"]
        if buffers:
            out.append(f"buffers (running statistics, not trained): {buffers:,}")
        return "\n".join(out)

    def summary_rows(self):
        """(layer, output shape, parameter count) rows of summary(), the input first."""
        owner = {}
        for param, (layer_name, _attr) in self.grad_map.items():
            owner.setdefault(layer_name, []).append(param)
        rows = [("input", self.input_shape, None)]
        for name, shape in self.layer_shapes():
            count = sum(int(self.params[p].size) for p in owner.get(name, []))
            rows.append((f"{name} ({type(self.layers[name]).__name__})", shape, count))
        return rows

    def parameter_counts(self):
        """(trainable parameters, buffer values)."""
        return (sum(int(np.size(a)) for a in self.params.values()),
                sum(int(np.size(a)) for a in self.buffers.values()))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.items())
        return f"{type(self).__name__}({args})"

    def _repr_html_(self):
        """The summary table Jupyter shows (IPython's display protocol)."""
        from .display import network_html
        return network_html(self)


def _shape_text(shape, batch=False):
    """(64, 256), or (N, 64, 256) for a network of sequences, where one sample's time
    axis would otherwise read as a batch."""
    dims = tuple(int(d) for d in shape)
    return "(" + ", ".join(["N"] + [str(d) for d in dims]) + ")" if batch else str(dims)


def _numbered(counts, group, attr):
    """The book's name for the next array of this attribute in a network: W1, W2, ...
    for the first, second layer holding a W; gamma1, running_mean1, ... likewise."""
    key = f"{group}:{attr}"
    counts[key] = counts.get(key, 0) + 1
    return f"{attr}{counts[key]}"


# Output shapes a network may compute, so that a hostile checkpoint or a typo cannot
# make it allocate a huge probe array.
_MAX_SAMPLE_VALUES = 1 << 22


def _input_shape(input_shape):
    if isinstance(input_shape, (int, np.integer)) and not isinstance(input_shape, bool):
        input_shape = (input_shape,)
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise ValueError(f"input_shape must be a number of features or a (C, H, W) tuple, "
                         f"got {input_shape!r}") from None
    if len(shape) not in (1, 3):
        raise ValueError(f"input_shape must be (D,) or (C, H, W), got {input_shape!r}")
    shape = tuple(positive_int("each entry of input_shape", d) for d in shape)
    if int(np.prod(shape)) > _MAX_SAMPLE_VALUES:
        raise ValueError(f"input_shape {shape} holds more than {_MAX_SAMPLE_VALUES} values "
                         f"per sample")
    return shape


class Sequential(Network):
    """A network from a list of layers, in order: `Sequential(layers, input_shape)`.

    `layers` holds, in forward order, any of:
      - specs that build themselves for the shape that reaches them: Dense(units),
        Conv(filters, size, stride, pad), BatchNorm() (see compose.py);
      - built layers: Relu(), Pooling(2, 2, 2), Dropout(0.3), Affine(W, b), or a
        layer class of one's own (forward/backward; see layers.py for its protocol);
      - text: "conv(16,3,pad=1) relu pool(2) affine(10)", alone or as items;
      - (name, item) pairs, to name a layer (by default Affine1, Relu1, Conv1, ...).
    input_shape is the shape of one sample: a number of features, or (C, H, W).
    The softmax loss follows the last layer, whose output is the class scores.

    Parameters are named as in the book: the first layer's weights W1, b1, the next
    W2, b2, ...; batch norm's gamma1, beta1, ... and its buffers running_mean1,
    running_var1, .... `rng` (a seed or a Generator) draws the initial weights and the
    dropout masks, so one seed reproduces a whole run; weight_decay_lambda adds
    0.5 * lambda * sum(W^2) over all weights W to the loss.

    A shape that cannot fit raises ValueError at construction, naming the layer's
    position and class, the shape that arrives and what the layer needs.
    """

    def __init__(self, layers, input_shape, *, dtype=np.float64, rng=None,
                 weight_decay_lambda=0.0):
        super().__init__(dtype)
        self.input_shape = _input_shape(input_shape)
        weight_decay_lambda = float(weight_decay_lambda)
        if not (np.isfinite(weight_decay_lambda) and weight_decay_lambda >= 0):
            raise ValueError(f"weight_decay_lambda must be non-negative, "
                             f"got {weight_decay_lambda}")
        self.weight_decay_lambda = weight_decay_lambda
        rng = make_rng(rng)
        items = _expand(layers)
        if not items:
            raise ValueError("Sequential: no layers")
        counts = {}
        shape = self.input_shape
        for position, (name, item) in enumerate(items, start=1):
            built = self._build(position, item, shape, rng)
            for layer in built:
                if name is None or len(built) > 1:  # a shorthand's layers are named apart
                    name = _numbered(counts, "layer", registry.describe(layer).name_prefix)
                if name in self.layers:
                    raise ValueError(f"Sequential: two layers are named {name!r}")
                self._tie(position, name, layer)
                shape = self._output_shape(position, layer, shape)
                self.layers[name] = layer
                self._shapes[name] = shape
                self._adopt(name, layer, counts)
        self._link_residuals()
        if len(shape) == 2:  # a score for every step of a sequence
            self.lastLayer = TimeSoftmaxWithLoss()
        elif len(shape) != 1:
            raise ValueError(f"Sequential: the last layer gives {shape} per sample; the "
                             f"softmax loss needs class scores: end with affine(classes)")
        # The text form, where every layer has one: what `chainrule train --layers` takes.
        self.layer_text = compose.canonical([item for _, item in items])
        self.config = {"layers": self.layer_text,
                       "input_shape": list(self.input_shape), "dtype": self.dtype.name}
        if weight_decay_lambda:
            self.config["weight_decay_lambda"] = weight_decay_lambda

    def _tie(self, position, name, layer):
        """A layer that reads the token embedding's matrix (`ties`, e.g. ("W", "dW")) is
        given that very array, and its gradient is added to the embedding's."""
        ties = getattr(layer, "ties", None)
        if not ties:
            return
        attr, grad_attr = ties
        embedding = next((n for n, l in self.layers.items()
                          if registry.describe(l).needs_tokens), None)
        if embedding is None:
            raise ValueError(f"Sequential: layer {position} ({type(layer).__name__}) reads "
                             f"the token embedding's matrix, but no embedding comes before it")
        param = next(p for p, (owner, _) in self.grad_map.items() if owner == embedding)
        setattr(layer, attr, self.params[param])
        self.tied_grads.setdefault(param, []).append((name, grad_attr))

    def _link_residuals(self):
        """Pair each residual group's end with its start; its layers must keep the shape."""
        names = list(self.layers)
        try:
            pairs = residual.link(list(self.layers.values()))
        except ValueError as exc:
            raise ValueError(f"Sequential: {exc}") from None
        for start, end in pairs:
            before, after = self._shapes[names[start]], self._shapes[names[end - 1]]
            if before != after:
                raise ValueError(f"Sequential: the residual group {names[start]} turns "
                                 f"{before} into {after}; its layers must keep the shape "
                                 f"to be added back")

    def _build(self, position, item, shape, rng):
        """The layers `item` stands for: itself, what a spec builds, or the several
        layers a shorthand (block) expands to."""
        if compose.is_spec(item):
            try:
                built = item.build(shape, self.dtype, rng)
            except ValueError as exc:
                raise ValueError(f"Sequential: layer {position} ({item!r}) does not fit the "
                                 f"input {shape}: {exc}") from None
            built = built if isinstance(built, list) else [built]
            return [self._check_layer(position, layer, rng) for layer in built]
        return [self._check_layer(position, item, rng)]

    def _check_layer(self, position, item, rng):
        where = f"layer {position}"
        if isinstance(item, type):
            raise TypeError(f"Sequential: {where} is the class {item.__name__}; give a "
                            f"layer (e.g. {item.__name__}()) or a spec")
        if not (callable(getattr(item, "forward", None))
                and callable(getattr(item, "backward", None))):
            raise TypeError(f"Sequential: {where} is {item!r}, which is not a layer "
                            f"(no forward and backward) nor a spec")
        if registry.describe(item).draws_random and getattr(item, "rng", None) is None:
            item.rng = rng  # the network's seed fixes the masks too
        for attr, _grad in getattr(item, "parameters", ()):
            value = getattr(item, attr, None)
            if not isinstance(value, np.ndarray) or value.dtype != self.dtype:
                got = getattr(value, "dtype", type(value).__name__)
                raise ValueError(f"Sequential: {where} ({type(item).__name__}) holds {attr} "
                                 f"of {got}, but the network computes in {self.dtype}")
        return item

    def _output_shape(self, position, layer, shape):
        kind = type(layer).__name__
        try:
            out = registry.output_shape(layer, shape, self.dtype)
        except (ValueError, TypeError, IndexError) as exc:
            raise ValueError(f"Sequential: layer {position} ({kind}) does not fit the input "
                             f"{shape}: {exc}") from None
        if not out or int(np.prod(out)) > _MAX_SAMPLE_VALUES or min(out) < 1:
            raise ValueError(f"Sequential: layer {position} ({kind}) turns {shape} into {out}")
        return out

    def _adopt(self, layer_name, layer, counts):
        """Take the layer's parameters and buffers into params and buffers, by the book's names."""
        info = registry.describe(layer)
        for attr, grad_attr in info.parameters:
            name = _numbered(counts, "param", attr)
            self.params[name] = getattr(layer, attr)
            self.grad_map[name] = (layer_name, grad_attr)
        for attr in info.buffers:
            self.buffers[_numbered(counts, "buffer", attr)] = getattr(layer, attr)

    def architecture(self):
        """The layers as JSON: type, name and constructor settings of each, in order.

        With the parameter arrays (named as in params) this rebuilds the network: see
        `from_architecture`. Raises ValueError for a layer class that is not registered
        (compose.register_layer), since a file naming it could not be loaded.
        """
        entries = []
        for name, layer in self.layers.items():
            kind = registry.layer_type(layer)
            if kind is None:
                raise ValueError(f"layer {name} is a {type(layer).__name__}, which is not "
                                 f"registered: call chainrule.register_layer("
                                 f"{type(layer).__name__}) so that a file can name it")
            get_config = getattr(layer, "get_config", None)
            config = get_config() if callable(get_config) else {}
            entries.append({"name": name, "type": kind, "config": config})
        return {"input_shape": list(self.input_shape), "dtype": self.dtype.name,
                "weight_decay_lambda": self.weight_decay_lambda, "layers": entries}

    @classmethod
    def from_architecture(cls, architecture, arrays):
        """The network that `architecture()` describes, its parameters and buffers taken
        from `arrays` (name -> array, as params and buffers name them).

        The arrays are used as they are (not copied). Raises ValueError naming what does
        not fit: an unknown layer type, a bad setting, a missing or extra array, a shape
        that disagrees with the layers.
        """
        if not isinstance(architecture, dict) or not isinstance(architecture.get("layers"), list):
            raise ValueError("the architecture has no list of layers")
        dtype = np.dtype(architecture.get("dtype", "float64"))
        counts, items, used = {}, [], set()
        for position, entry in enumerate(architecture["layers"], start=1):
            if not isinstance(entry, dict) or not isinstance(entry.get("config", {}), dict):
                raise ValueError(f"layer {position} of the architecture is not an object")
            kind = entry.get("type")
            layer_cls = registry.LAYER_TYPES.get(kind) if isinstance(kind, str) else None
            if layer_cls is None:
                raise ValueError(f"layer {position} has type {kind!r}, which is neither "
                                 f"chainrule's nor registered by your code (chainrule."
                                 f"register_layer); chainrule never imports a module "
                                 f"named in a file")
            kwargs = dict(entry.get("config", {}))
            info = registry.describe(layer_cls)
            for group, attrs in (("param", [a for a, _ in info.parameters]),
                                 ("buffer", list(info.buffers))):
                for attr in attrs:
                    name = _numbered(counts, group, attr)
                    if name not in arrays:
                        raise ValueError(f"layer {position} ({kind}) needs {name}, which "
                                         f"the file does not hold")
                    kwargs[attr] = arrays[name]
                    used.add(name)
            try:
                layer = layer_cls(**kwargs)
            except (TypeError, ValueError, KeyError, OverflowError) as exc:
                raise ValueError(f"layer {position} ({kind}) cannot be rebuilt from its "
                                 f"settings: {exc}") from None
            name = entry.get("name")
            items.append((name if isinstance(name, str) else None, layer))
        extra = sorted(set(arrays) - used)
        if extra:
            raise ValueError(f"the file holds arrays no layer uses: {', '.join(extra)}")
        return cls(items, architecture.get("input_shape"), dtype=dtype,
                   weight_decay_lambda=architecture.get("weight_decay_lambda", 0.0))

    def __repr__(self):
        if type(self) is not Sequential:
            return super().__repr__()
        if self.config.get("layers"):
            return (f"Sequential({self.config['layers']!r}, "
                    f"input_shape={self.input_shape})")
        names = " ".join(type(layer).__name__ for layer in self.layers.values())
        return f"Sequential(<{names}>, input_shape={self.input_shape})"


def _expand(layers):
    """(name or None, spec or layer) pairs from what Sequential was given."""
    if isinstance(layers, str):
        return [(None, item) for item in compose.build_items(layers)]
    if isinstance(layers, dict):
        layers = list(layers.items())
    out = []
    for item in layers:
        if isinstance(item, str):
            out.extend((None, built) for built in compose.build_items(item))
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            out.append(item)
        else:
            out.append((None, item))
    return out


# -- the book's networks ----------------------------------------------------------------
class TwoLayerNet(Sequential):
    """The seed's network: Affine1 -> Relu1 -> Affine2 -> SoftmaxWithLoss.

    Weights are drawn from N(0, weight_init_std^2), biases start at zero. `rng` may be a
    seed or a np.random.Generator; by default NumPy's global generator is used, as in
    the book.
    """

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01, *,
                 dtype=np.float64, rng=None):
        input_size, hidden_size, output_size = (
            positive_int(name, value) for name, value in (
                ("input_size", input_size), ("hidden_size", hidden_size),
                ("output_size", output_size)))
        init = float(weight_init_std)
        super().__init__([Dense(hidden_size, init=init), Relu(), Dense(output_size, init=init)],
                         input_size, dtype=dtype, rng=rng)
        self.config = {"input_size": input_size, "hidden_size": hidden_size,
                       "output_size": output_size, "weight_init_std": init,
                       "dtype": self.dtype.name}


ACTIVATIONS = {"relu": Relu, "sigmoid": Sigmoid, "tanh": Tanh}


class MultiLayerNet(Sequential):
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
        input_size = positive_int("input_size", input_size)
        output_size = positive_int("output_size", output_size)
        hidden_size_list = [positive_int("each hidden size", h) for h in hidden_size_list]
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, "
                             f"got {activation!r}")
        if weight_decay_lambda < 0:
            raise ValueError(f"weight_decay_lambda must be non-negative, "
                             f"got {weight_decay_lambda}")
        if not 0.0 <= dropout_ratio < 1.0:
            raise ValueError(f"dropout_ratio must be in [0, 1), got {dropout_ratio}")
        init = init_config(weight_init_std)
        layers = []
        for i, size in enumerate(hidden_size_list, start=1):
            layers.append((f"Affine{i}", Dense(size, init=init)))
            if use_batchnorm:
                layers.append((f"BatchNorm{i}", BatchNorm()))
            layers.append((f"Activation{i}", ACTIVATIONS[activation]()))
            if use_dropout:
                layers.append((f"Dropout{i}", Dropout(dropout_ratio)))
        layers.append((f"Affine{len(hidden_size_list) + 1}", Dense(output_size, init=init)))
        super().__init__(layers, input_size, dtype=dtype, rng=rng,
                         weight_decay_lambda=weight_decay_lambda)
        self.config = {"input_size": input_size, "hidden_size_list": hidden_size_list,
                       "output_size": output_size, "activation": activation,
                       "weight_init_std": init,
                       "weight_decay_lambda": float(weight_decay_lambda),
                       "use_dropout": bool(use_dropout), "dropout_ratio": float(dropout_ratio),
                       "use_batchnorm": bool(use_batchnorm), "dtype": self.dtype.name}


def _input_dim(input_dim):
    if len(input_dim) != 3:
        raise ValueError(f"input_dim must be (C, H, W), got {input_dim!r}")
    return tuple(positive_int("each entry of input_dim", v) for v in input_dim)


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


def _conv(cp, init):
    return Conv(cp["filter_num"], cp["filter_size"], cp["stride"], cp["pad"], init=init)


class SimpleConvNet(Sequential):
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
        input_dim = _input_dim(input_dim)
        conv_param = _conv_param(conv_param, {"filter_num": 30, "filter_size": 5,
                                              "pad": 0, "stride": 1})
        hidden_size = positive_int("hidden_size", hidden_size)
        output_size = positive_int("output_size", output_size)
        init = init_config(weight_init_std)
        super().__init__([_conv(conv_param, init), Relu(), Pooling(2, 2, stride=2),
                          Dense(hidden_size, init=init), Relu(),
                          Dense(output_size, init=init)],
                         input_dim, dtype=dtype, rng=rng)
        self.config = {"input_dim": list(input_dim), "conv_param": conv_param,
                       "hidden_size": hidden_size, "output_size": output_size,
                       "weight_init_std": init, "dtype": self.dtype.name}


def _deep_default(filter_num, pad=1):
    return {"filter_num": filter_num, "filter_size": 3, "pad": pad, "stride": 1}


class DeepConvNet(Sequential):
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
        input_dim = _input_dim(input_dim)
        defaults = [_deep_default(16), _deep_default(16), _deep_default(32),
                    _deep_default(32, pad=2), _deep_default(64), _deep_default(64)]
        given = [conv_param_1, conv_param_2, conv_param_3, conv_param_4, conv_param_5,
                 conv_param_6]
        conv_params = [_conv_param(cp, d, f"conv_param_{i}")
                       for i, (cp, d) in enumerate(zip(given, defaults), start=1)]
        hidden_size = positive_int("hidden_size", hidden_size)
        output_size = positive_int("output_size", output_size)
        if not 0.0 <= dropout_ratio < 1.0:
            raise ValueError(f"dropout_ratio must be in [0, 1), got {dropout_ratio}")
        layers = []
        for i, cp in enumerate(conv_params, start=1):
            layers += [_conv(cp, "he"), Relu()]
            if i % 2 == 0:
                layers.append(Pooling(2, 2, stride=2))
        layers += [Dense(hidden_size, init="he"), Relu(), Dropout(dropout_ratio),
                   Dense(output_size, init="he"), Dropout(dropout_ratio)]
        super().__init__(layers, input_dim, dtype=dtype, rng=rng)
        self.config = {"input_dim": list(input_dim)}
        self.config.update({f"conv_param_{i}": cp for i, cp in enumerate(conv_params, start=1)})
        self.config.update({"hidden_size": hidden_size, "output_size": output_size,
                            "dropout_ratio": float(dropout_ratio), "dtype": self.dtype.name})


# Every network class a checkpoint can name, by class name.
MODELS = {"TwoLayerNet": TwoLayerNet, "MultiLayerNet": MultiLayerNet,
          "SimpleConvNet": SimpleConvNet, "DeepConvNet": DeepConvNet,
          "Sequential": Sequential}
