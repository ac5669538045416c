"""Describing a network layer by layer: specs that build themselves, and the text form.

A layer with weights needs the size of what flows into it, and nobody should have to
work out a flattened size by hand. So a network may be described by *specs*: Dense(100)
is "an affine layer of 100 units", Conv(16, 3, pad=1) "16 filters of 3x3"; each is built
into a real layer (Affine, Convolution) once models.Sequential knows the shape that
reaches it. Layers without weights (Relu(), Pooling(2, 2, 2), ...) are given as they
are, and so is an already built Affine(W, b).

The same description as text, for the command line and for scripts:

    conv(16,5) relu pool(2) conv(32,5) relu pool(2) affine(100) relu affine(10)

Layers are separated by spaces; each is a lower-case name with optional arguments in
parentheses, positional first, then key=value; values are numbers or words. `parse`
reads it (an error points at the position), `canonical` writes it back in one form.

A layer class of one's own plugs in through the protocol described in layers.py
(`parameters`, `buffers`, `get_config`) and `register_layer`, which is what lets a
checkpoint name it: loading a file never imports a module, it only looks the name up
among the classes registered here.
"""

import numpy as np

from .layers import (Affine, AvgPooling, BatchNormalization, Convolution, Dropout, LeakyRelu,
                     Pooling, Relu, Sigmoid, Tanh)

__all__ = ["Dense", "Conv", "BatchNorm", "LayerTextError", "parse", "build_items",
           "canonical", "layer_text", "register_layer", "layer_type", "LAYER_TYPES",
           "TEXT_LAYERS", "init_scale", "init_config", "make_rng", "positive_int",
           "non_negative_int"]


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
    if isinstance(weight_init_std, bool):
        raise ValueError(f"weight_init_std must be a number, got {weight_init_std!r}")
    value = float(weight_init_std)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"weight_init_std must be a non-negative number, "
                         f"got {weight_init_std!r}")
    return value


def init_config(init):
    """init as a JSON value (checked on the way): a lower-case word or a float."""
    init_scale(init, 1)
    return init.lower() if isinstance(init, str) else float(init)


def positive_int(what, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, float)) \
            or int(value) != value or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def non_negative_int(what, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, float)) \
            or int(value) != value or value < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {value!r}")
    return int(value)


# -- specs: layers that are built once the incoming shape is known ----------------------
class Dense:
    """An affine layer of `units` outputs, built as Affine(W, b) for whatever flows in.

    W is (D, units) with D the number of values per incoming sample, drawn from
    N(0, s^2) with s = init_scale(init, D); b starts at zero.
    """

    def __init__(self, units, init="he"):
        self.units = positive_int("Dense: units", units)
        self.init = init_config(init)

    def build(self, input_shape, dtype, rng):
        fan_in = int(np.prod(input_shape))
        scale = init_scale(self.init, fan_in)
        W = (scale * _normal(rng, (fan_in, self.units))).astype(dtype, copy=False)
        return Affine(W, np.zeros(self.units, dtype=dtype))

    def text(self):
        return _call_text("affine", [self.units], {"init": (self.init, "he")})

    def __repr__(self):
        return f"Dense({self.units}, init={self.init!r})"


class Conv:
    """`filters` convolution filters of size x size, built as Convolution(W, b).

    W is (filters, C, size, size) for C incoming channels, drawn from N(0, s^2) with
    s = init_scale(init, C * size * size); b starts at zero.
    """

    def __init__(self, filters, size, stride=1, pad=0, init="he"):
        self.filters = positive_int("Conv: filters", filters)
        self.size = positive_int("Conv: size", size)
        self.stride = positive_int("Conv: stride", stride)
        self.pad = non_negative_int("Conv: pad", pad)
        self.init = init_config(init)

    def build(self, input_shape, dtype, rng):
        if len(input_shape) != 3:
            raise ValueError(f"a convolution needs images (C, H, W), but the input is "
                             f"{tuple(input_shape)}")
        C = input_shape[0]
        fan_in = C * self.size * self.size
        scale = init_scale(self.init, fan_in)
        W = (scale * _normal(rng, (self.filters, C, self.size, self.size))).astype(dtype, copy=False)
        return Convolution(W, np.zeros(self.filters, dtype=dtype), self.stride, self.pad)

    def text(self):
        return _call_text("conv", [self.filters, self.size],
                          {"stride": (self.stride, 1), "pad": (self.pad, 0),
                           "init": (self.init, "he")})

    def __repr__(self):
        return (f"Conv({self.filters}, {self.size}, stride={self.stride}, pad={self.pad}, "
                f"init={self.init!r})")


class BatchNorm:
    """Batch normalisation over the incoming features (D,) or channels (C, H, W),
    built as BatchNormalization with gamma = 1, beta = 0 and running statistics 0 and 1."""

    def __init__(self, momentum=0.9, eps=1e-5):
        self.momentum = float(momentum)
        self.eps = float(eps)
        if not 0.0 <= self.momentum <= 1.0:
            raise ValueError(f"BatchNorm: momentum must be in [0, 1], got {momentum}")
        if not self.eps > 0:
            raise ValueError(f"BatchNorm: eps must be positive, got {eps}")

    def build(self, input_shape, dtype, rng):
        if len(input_shape) not in (1, 3):
            raise ValueError(f"batch norm needs features (D,) or images (C, H, W), but the "
                             f"input is {tuple(input_shape)}")
        n = input_shape[0]
        return BatchNormalization(np.ones(n, dtype=dtype), np.zeros(n, dtype=dtype),
                                  momentum=self.momentum,
                                  running_mean=np.zeros(n, dtype=dtype),
                                  running_var=np.ones(n, dtype=dtype), eps=self.eps)

    def text(self):
        return _call_text("batchnorm", [], {"momentum": (self.momentum, 0.9),
                                            "eps": (self.eps, 1e-5)})

    def __repr__(self):
        return f"BatchNorm(momentum={self.momentum}, eps={self.eps})"


SPECS = (Dense, Conv, BatchNorm)


def is_spec(item):
    return isinstance(item, SPECS)


# -- the text form -----------------------------------------------------------------------
class LayerTextError(ValueError):
    """A layer description that cannot be read, with the position of the problem."""

    def __init__(self, text, position, message):
        self.text = text
        self.position = position
        pointer = " " * position + "^"
        super().__init__(f"{message} (at character {position + 1})\n  {text}\n  {pointer}\n"
                         f"known layers: {', '.join(sorted(TEXT_LAYERS))}")


def _value_text(value):
    return value if isinstance(value, str) else repr(value)


def _call_text(name, positional, optional):
    """name(p1,p2,key=value) with only the optional values that differ from the default."""
    parts = [_value_text(v) for v in positional]
    for key, (value, default) in optional.items():
        if value != default:
            parts.append(f"{key}={_value_text(value)}")
    return f"{name}({','.join(parts)})" if parts else name


def _pool_args(kind, size, stride=None, pad=0):
    size = positive_int(f"{kind}: size", size)
    stride = size if stride is None else positive_int(f"{kind}: stride", stride)
    return size, stride, non_negative_int(f"{kind}: pad", pad)


def _make_pool(size, stride=None, pad=0):
    size, stride, pad = _pool_args("pool", size, stride, pad)
    return Pooling(size, size, stride, pad)


def _make_avgpool(size, stride=None):
    size, stride, _ = _pool_args("avgpool", size, stride)
    return AvgPooling(size, size, stride)


def _make_dropout(ratio=0.5):
    return Dropout(float(ratio))


# name -> (factory, [positional parameter names], {optional name: default}).
TEXT_LAYERS = {
    "conv": (Conv, ["filters", "size"], {"stride": 1, "pad": 0, "init": "he"}),
    "affine": (Dense, ["units"], {"init": "he"}),
    "batchnorm": (BatchNorm, [], {"momentum": 0.9, "eps": 1e-5}),
    "pool": (_make_pool, ["size"], {"stride": None, "pad": 0}),
    "avgpool": (_make_avgpool, ["size"], {"stride": None}),
    "relu": (Relu, [], {}),
    "leakyrelu": (LeakyRelu, [], {"slope": 0.01}),
    "sigmoid": (Sigmoid, [], {}),
    "tanh": (Tanh, [], {}),
    "dropout": (_make_dropout, [], {"ratio": 0.5}),
}


def _read_value(word):
    try:
        return int(word)
    except ValueError:
        pass
    try:
        value = float(word)
    except ValueError:
        return word
    return value


def _is_name(word):
    return word != "" and word[0].isalpha() and all(c.isalnum() or c == "_" for c in word)


def parse(text):
    """The layers described by `text` as (name, args, kwargs, position) tuples.

    Raises LayerTextError pointing at the first problem.
    """
    if not isinstance(text, str):
        raise TypeError(f"a layer description is text, got {type(text).__name__}")
    items = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        start = i
        while i < n and not text[i].isspace() and text[i] not in "(),=":
            i += 1
        name = text[start:i]
        if not _is_name(name):
            raise LayerTextError(text, start, f"expected a layer name, found "
                                              f"{text[start:i + 1]!r}")
        if name not in TEXT_LAYERS:
            raise LayerTextError(text, start, f"unknown layer {name!r}")
        args, kwargs = [], {}
        j = i
        while j < n and text[j].isspace():
            j += 1
        if j < n and text[j] == "(":
            close = text.find(")", j)
            if close < 0:
                raise LayerTextError(text, j, f"{name}: '(' is never closed")
            inner = text[j + 1:close]
            offset = j + 1
            if inner.strip():
                for piece in inner.split(","):
                    where = offset + (len(piece) - len(piece.lstrip()))
                    offset += len(piece) + 1
                    piece = piece.strip()
                    if piece == "":
                        raise LayerTextError(text, where, f"{name}: an empty argument")
                    if "=" in piece:
                        key, _, value = piece.partition("=")
                        key, value = key.strip(), value.strip()
                        if not _is_name(key) or value == "":
                            raise LayerTextError(text, where, f"{name}: expected key=value, "
                                                              f"found {piece!r}")
                        if key in kwargs:
                            raise LayerTextError(text, where, f"{name}: {key} given twice")
                        kwargs[key] = _read_value(value)
                    else:
                        if kwargs:
                            raise LayerTextError(text, where, f"{name}: a positional argument "
                                                              f"after key=value")
                        args.append(_read_value(piece))
            i = close + 1
            if i < n and not text[i].isspace():
                raise LayerTextError(text, i, f"expected a space after {name}(...)")
        _check_signature(text, start, name, args, kwargs)
        items.append((name, args, kwargs, start))
    if not items:
        raise LayerTextError(text, 0, "no layers")
    return items


def _check_signature(text, position, name, args, kwargs):
    _, positional, optional = TEXT_LAYERS[name]
    usage = _usage(name)
    allowed = positional + list(optional)
    if len(args) > len(allowed):
        raise LayerTextError(text, position, f"{name} takes at most {len(allowed)} "
                                             f"arguments: {usage}")
    taken = allowed[:len(args)]
    for key in kwargs:
        if key not in allowed:
            raise LayerTextError(text, position, f"{name} has no argument {key!r}: {usage}")
        if key in taken:
            raise LayerTextError(text, position, f"{name}: {key} given twice: {usage}")
    missing = [p for p in positional[len(args):] if p not in kwargs]
    if missing:
        raise LayerTextError(text, position, f"{name} needs {', '.join(missing)}: {usage}")


def _usage(name):
    _, positional, optional = TEXT_LAYERS[name]
    parts = positional + [f"{k}={'size' if v is None else v}" for k, v in optional.items()]
    return f"{name}({', '.join(parts)})" if parts else name


def build_items(text):
    """Specs and layers for `text`: what models.Sequential takes as a list."""
    out = []
    for name, args, kwargs, position in parse(text):
        factory, positional, optional = TEXT_LAYERS[name]
        values = dict(zip(positional + list(optional), args))
        values.update(kwargs)
        try:
            out.append(factory(**values))
        except (TypeError, ValueError) as exc:
            raise LayerTextError(text, position, f"{name}: {exc}") from None
    return out


def layer_text(item):
    """The text form of one spec or built layer, or None if it has none."""
    if is_spec(item):
        return item.text()
    kind = type(item)
    if kind is Affine:
        return _call_text("affine", [int(item.W.shape[1])], {})
    if kind is Convolution:
        FN, _, FH, FW = item.W.shape
        if FH == FW:
            return _call_text("conv", [int(FN), int(FH)],
                              {"stride": (item.stride, 1), "pad": (item.pad, 0)})
        return None
    if kind is BatchNormalization:
        return _call_text("batchnorm", [], {"momentum": (item.momentum, 0.9),
                                            "eps": (item.eps, 1e-5)})
    if kind is Pooling and item.pool_h == item.pool_w:
        return _call_text("pool", [item.pool_h], {"stride": (item.stride, item.pool_h),
                                                  "pad": (item.pad, 0)})
    if kind is AvgPooling and item.pool_h == item.pool_w:
        return _call_text("avgpool", [item.pool_h], {"stride": (item.stride, item.pool_h)})
    if kind is LeakyRelu:
        return _call_text("leakyrelu", [], {"slope": (item.slope, 0.01)})
    if kind is Dropout:
        return _call_text("dropout", [], {"ratio": (item.dropout_ratio, 0.5)})
    simple = {Relu: "relu", Sigmoid: "sigmoid", Tanh: "tanh"}
    return simple.get(kind)


def canonical(items):
    """One text for a list of specs and layers, or None if one of them has no text form."""
    texts = [layer_text(item) for item in items]
    return None if any(t is None for t in texts) else " ".join(texts)


# -- layer classes a checkpoint may name ----------------------------------------------
LAYER_TYPES = {cls.__name__: cls for cls in (Affine, Convolution, BatchNormalization, Pooling,
                                             AvgPooling, Relu, LeakyRelu, Sigmoid, Tanh,
                                             Dropout)}


def register_layer(cls, name=None):
    """Let checkpoints name the layer class `cls` (by `name`, default its class name).

    A layer of one's own follows the protocol in layers.py: forward/backward, and for
    parameters the `parameters` (and `buffers`) class attributes and `get_config()`.
    Call this in your own code before `chainrule.load` reads a file that uses the class,
    and before `chainrule.save` writes one. Returns cls, so it works as a decorator.
    """
    name = cls.__name__ if name is None else name
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"a layer type's name must be an identifier, got {name!r}")
    known = LAYER_TYPES.get(name)
    if known is not None and known is not cls:
        raise ValueError(f"another layer class is already registered as {name!r}")
    for method in ("forward", "backward"):
        if not callable(getattr(cls, method, None)):
            raise TypeError(f"{cls.__name__} has no {method} method; a layer needs "
                            f"forward and backward")
    LAYER_TYPES[name] = cls
    return cls


def layer_type(layer):
    """The name a checkpoint stores for this layer's class, or None if it is not registered."""
    for name, cls in LAYER_TYPES.items():
        if type(layer) is cls:
            return name
    return None
