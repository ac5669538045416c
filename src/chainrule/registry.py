"""What the library knows about a layer class: one registry, filled by the classes themselves.

A layer describes itself with class attributes (all optional; the defaults suit a layer
of one's own that says nothing) and a few methods:

  parameters      (attribute, gradient attribute) pairs, e.g. (("W", "dW"), ("b", "db")):
                  the arrays it trains and where backward leaves their gradients
  buffers         attributes of arrays saved but not trained (running statistics)
  get_config()    the constructor's other arguments as JSON values, so that
                  type(layer)(**arrays, **layer.get_config()) rebuilds it
  has_train_mode  forward takes train_flg (dropout, batch norm)
  text_name       its name in the text form ("conv", "relu"); None: no text form
  build(input_shape, dtype, rng, **text_args)
                  classmethod: the layer for one sample of input_shape arriving, from
                  the text form's arguments (weights drawn from rng). The text form (and
                  a Spec) then stands for the layer until the network knows that shape.
                  Without build, the text arguments go to the constructor as they are.
  spec_args(**text_args)
                  classmethod, with build: the text arguments checked (ValueError naming
                  the bad one) and normalised, as a dict; called when the text is read,
                  so that a bad value is refused before anything is built
  text_args()     the text form's arguments of a built layer (defaults may be left out),
                  or None where the text form cannot say it
  text_alias      written under another class's text name, whose build makes it
                  (TimeAffine is `affine(M)` where a sequence arrives)
  expands         not a layer but a shorthand of the text form (`block(heads=4)`): its
                  build returns the list of layers it stands for
  name_prefix     the prefix of its name in a network: Conv1, Pool2 (default: class name)
  needs_images    its input must be images (C, H, W)
  needs_tokens    its input is integer token ids, not features (an embedding)
  is_activation   an element-wise nonlinearity (the web page shows what follows one)
  draws_random    forward in training mode draws from self.rng (None: NumPy's global
                  generator); a network gives it its generator, the gradient check
                  and distributed training reseed it
  keeps_shape     its output has the shape of its input
  output_shape(input_shape)
                  the shape of one sample's output; layers that neither keep the shape
                  nor have this are asked with one sample of zeros

`register_layer` puts a class in the registry under a name a checkpoint can store.
Every built-in layer registers itself where it is defined, with the decorator; a layer
of one's own does the same, so that files can name it: loading a file never imports a
module, it only looks the name up here.
"""

import functools
import inspect
from dataclasses import dataclass

import numpy as np

__all__ = ["LayerType", "Spec", "register_layer", "describe", "layer_type", "LAYER_TYPES",
           "TEXT_LAYERS", "text_signature", "from_text", "output_shape", "parameter_arrays"]

#: type name -> layer class: the names a checkpoint may store.
LAYER_TYPES = {}
#: text name -> layer class: the names the text form knows.
TEXT_LAYERS = {}

# The arguments of build() that are the network's, not the text's.
_BUILD_CONTEXT = ("input_shape", "dtype", "rng")


@dataclass(frozen=True)
class LayerType:
    """A layer class's answers to what the rest of the library asks of it."""

    cls: type
    text_name: str
    name_prefix: str
    needs_images: bool
    needs_tokens: bool
    is_activation: bool
    draws_random: bool
    keeps_shape: bool
    has_train_mode: bool
    parameters: tuple
    buffers: tuple


def describe(cls_or_layer):
    """The LayerType of a layer class (or of a layer's class), registered or not."""
    return _describe(cls_or_layer if isinstance(cls_or_layer, type) else type(cls_or_layer))


# A class says what it is once: asked at every step (is the first layer an embedding?),
# reading eleven attributes each time cost 10% of the seed's 0.3 ms training step.
@functools.lru_cache(maxsize=None)
def _describe(cls):
    attr = lambda name, default: getattr(cls, name, default)  # noqa: E731
    return LayerType(
        cls=cls, text_name=attr("text_name", None),
        name_prefix=attr("name_prefix", cls.__name__),
        needs_images=bool(attr("needs_images", False)),
        needs_tokens=bool(attr("needs_tokens", False)),
        is_activation=bool(attr("is_activation", False)),
        draws_random=bool(attr("draws_random", False)),
        keeps_shape=bool(attr("keeps_shape", False)),
        has_train_mode=bool(attr("has_train_mode", False)),
        parameters=tuple(tuple(p) for p in attr("parameters", ())),
        buffers=tuple(attr("buffers", ())))


def register_layer(cls=None, name=None):
    """Put the layer class `cls` in the registry, under `name` (default: its class name).

    Files name a layer by this name: call it in your own code before `chainrule.load`
    reads a file that uses the class, and before `chainrule.save` writes one. A class
    with a `text_name` also joins the text form (`"mylayer(3)"`). Returns cls, so it
    works as a decorator, with or without arguments:

        @register_layer
        class Square: ...
    """
    if cls is None:
        return lambda c: register_layer(c, name)
    if not isinstance(cls, type):
        raise TypeError(f"register_layer takes a layer class, got {cls!r}")
    name = cls.__name__ if name is None else name
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"a layer type's name must be an identifier, got {name!r}")
    known = LAYER_TYPES.get(name)
    if known is not None and known is not cls:
        raise ValueError(f"another layer class is already registered as {name!r}")
    expands = getattr(cls, "expands", False)
    if expands and not callable(getattr(cls, "build", None)):
        raise TypeError(f"{cls.__name__} expands into layers, so it needs a build "
                        f"classmethod that returns them")
    for method in () if expands else ("forward", "backward"):
        if not callable(getattr(cls, method, None)):
            raise TypeError(f"{cls.__name__} has no {method} method; a layer needs "
                            f"forward and backward")
    text_name = getattr(cls, "text_name", None)
    if text_name is not None and not getattr(cls, "text_alias", False):
        if not (isinstance(text_name, str) and text_name.isidentifier()
                and text_name == text_name.lower()):
            raise ValueError(f"{cls.__name__}.text_name must be a lower-case identifier, "
                             f"got {text_name!r}")
        other = TEXT_LAYERS.get(text_name)
        if other is not None and other is not cls:
            raise ValueError(f"the text name {text_name!r} is already {other.__name__}'s")
        text_signature(cls)  # a signature the text form can read, checked now
        TEXT_LAYERS[text_name] = cls
    if not expands:  # a shorthand is never in a file: its layers are
        LAYER_TYPES[name] = cls
    return cls


def layer_type(layer):
    """The name a checkpoint stores for this layer's class, or None if it is not registered."""
    for name, cls in LAYER_TYPES.items():
        if type(layer) is cls:
            return name
    return None


def text_signature(cls):
    """(positional names, {optional name: default}) of the class's text form: the
    arguments of its build() after the network's three, or of its constructor."""
    build = getattr(cls, "build", None)
    function = build if callable(build) else cls.__init__
    positional, optional = [], {}
    parameters = list(inspect.signature(function).parameters.values())
    if function is cls.__init__:
        parameters = parameters[1:]  # self
    for p in parameters:
        if p.name in _BUILD_CONTEXT and function is build:
            continue
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is p.empty:
            positional.append(p.name)
        else:
            optional[p.name] = p.default
    return positional, optional


def parameter_arrays(layer):
    """(attribute, array) of the arrays a layer trains or reads as weights: its
    parameters, and an array it shares with another layer (`ties`)."""
    attrs = [attr for attr, _ in describe(layer).parameters]
    ties = getattr(layer, "ties", None)
    if ties:
        attrs.append(ties[0])
    return [(attr, getattr(layer, attr)) for attr in attrs
            if isinstance(getattr(layer, attr, None), np.ndarray)]


def output_shape(layer, input_shape, dtype=np.float64):
    """The shape of one sample's output of `layer` for one sample of `input_shape`.

    Raises ValueError where the layer cannot take that input (an image layer given
    features, an affine of the wrong size)."""
    info = describe(layer)
    input_shape = tuple(int(d) for d in input_shape)
    if info.needs_images and len(input_shape) != 3:
        raise ValueError("it needs images (C, H, W)")
    if info.keeps_shape:
        return input_shape
    if callable(getattr(layer, "output_shape", None)):
        return tuple(int(d) for d in layer.output_shape(input_shape))
    # A layer of one's own that does not say: ask it, with one sample of zeros.
    probe = np.zeros((1,) + input_shape, dtype=np.intp if info.needs_tokens else dtype)
    out = layer.forward(probe, False) if info.has_train_mode else layer.forward(probe)
    return tuple(int(d) for d in np.shape(out)[1:])


class Spec:
    """A layer to be built once the shape that reaches it is known:
    `Spec(Affine, units=100)` stands for `Affine.build(input_shape, dtype, rng, units=100)`.

    The arguments are those of the class's text form (text_signature), checked when the
    spec is made (the class's spec_args). models.Sequential builds it.
    """

    def __init__(self, layer_cls, *args, **kwargs):
        if not callable(getattr(layer_cls, "build", None)):
            raise TypeError(f"{layer_cls.__name__} has no build classmethod; give the "
                            f"layer itself")
        self.layer_cls = layer_cls
        bound = _bind(layer_cls, args, kwargs)
        check = getattr(layer_cls, "spec_args", None)
        self.args = dict(check(**bound)) if callable(check) else bound

    def build(self, input_shape, dtype, rng):
        return self.layer_cls.build(tuple(input_shape), dtype, rng, **self.args)

    def __getattr__(self, name):
        args = self.__dict__.get("args")
        if args is not None and name in args:
            return args[name]
        raise AttributeError(name)

    def __repr__(self):
        parts = ", ".join(f"{k}={v!r}" for k, v in self.args.items())
        return f"Spec({self.layer_cls.__name__}, {parts})"


def _bind(cls, args, kwargs):
    """The text arguments by name, defaults filled in; TypeError for a mismatch."""
    positional, optional = text_signature(cls)
    names = positional + list(optional)
    if len(args) > len(names):
        raise TypeError(f"takes at most {len(names)} arguments, got {len(args)}")
    bound = dict(zip(names, args))
    for key, value in kwargs.items():
        if key not in names:
            raise TypeError(f"has no argument {key!r}")
        if key in bound:
            raise TypeError(f"{key} given twice")
        bound[key] = value
    missing = [p for p in positional if p not in bound]
    if missing:
        raise TypeError(f"needs {', '.join(missing)}")
    return {name: bound.get(name, optional.get(name)) for name in names}


def from_text(cls, *args, **kwargs):
    """What the text form's arguments make of the class: a Spec where the class builds
    itself for the incoming shape, otherwise the layer itself."""
    if callable(getattr(cls, "build", None)):
        # The named spec where there is one (Dense for Affine, ...): it reads better.
        for named in Spec.__subclasses__():
            if getattr(named, "layer_class", None) is cls:
                return named(*args, **kwargs)
        return Spec(cls, *args, **kwargs)
    return cls(**_bind(cls, args, kwargs))
