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

Which names the text form knows, and what each takes, is the registry's (registry.py):
a layer class with a `text_name` joins the text form when it is registered, its
arguments those of its `build` (or its constructor). A layer class of one's own plugs
in the same way.
"""

import numpy as np

from .checks import non_negative_int, positive_int
from .initializers import init_config, init_scale, make_rng
from .layers import Affine, BatchNormalization, Convolution
# The modules whose layers the text form knows (each registers its own on import).
from . import registry, residual, time_layers, transformer  # noqa: F401
from .registry import (LAYER_TYPES, TEXT_LAYERS, Spec, from_text, layer_type,  # noqa: F401
                       register_layer, text_signature)

__all__ = ["Spec", "Dense", "Conv", "BatchNorm", "LayerTextError", "parse", "build_items",
           "canonical", "layer_text", "register_layer", "layer_type", "LAYER_TYPES",
           "TEXT_LAYERS", "init_scale", "init_config", "make_rng", "positive_int",
           "non_negative_int", "needs_images"]


# -- specs: layers that are built once the incoming shape is known ----------------------
class Dense(Spec):
    """An affine layer of `units` outputs, built as Affine(W, b) for whatever flows in
    (see Affine.build)."""

    layer_class = Affine

    def __init__(self, units, init="he"):
        super().__init__(Affine, units, init=init)

    def __repr__(self):
        return f"Dense({self.units}, init={self.init!r})"


class Conv(Spec):
    """`filters` convolution filters of size x size, built as Convolution(W, b) for the
    incoming channels (see Convolution.build)."""

    layer_class = Convolution

    def __init__(self, filters, size, stride=1, pad=0, init="he"):
        super().__init__(Convolution, filters, size, stride=stride, pad=pad, init=init)

    def __repr__(self):
        return (f"Conv({self.filters}, {self.size}, stride={self.stride}, pad={self.pad}, "
                f"init={self.init!r})")


class BatchNorm(Spec):
    """Batch normalisation over the incoming features (D,) or channels (C, H, W), built
    as BatchNormalization (see BatchNormalization.build)."""

    layer_class = BatchNormalization

    def __init__(self, momentum=0.9, eps=1e-5):
        super().__init__(BatchNormalization, momentum=momentum, eps=eps)

    def __repr__(self):
        return f"BatchNorm(momentum={self.momentum}, eps={self.eps})"


def is_spec(item):
    return isinstance(item, Spec)


# -- the text form -----------------------------------------------------------------------
class LayerTextError(ValueError):
    """A layer description that cannot be read, with the position of the problem."""

    def __init__(self, text, position, message):
        self.text = text
        self.position = position
        pointer = " " * position + "^"
        super().__init__(f"{message} (at character {position + 1})\n  {text}\n  {pointer}\n"
                         f"known layers: {', '.join(sorted(registry.TEXT_LAYERS))}")


def _value_text(value):
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"  # the words the text form reads
    return value if isinstance(value, str) else repr(value)


def _call_text(name, positional, optional):
    """name(p1,p2,key=value) with only the optional values that differ from the default."""
    parts = [_value_text(v) for v in positional]
    for key, (value, default) in optional.items():
        if value != default:
            parts.append(f"{key}={_value_text(value)}")
    return f"{name}({','.join(parts)})" if parts else name


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


class Item(tuple):
    """One layer of a text: (name, args, kwargs, position), and for a group such as
    residual(...) the items inside it in `children` (None for a plain layer)."""

    children = None

    def __new__(cls, name, args, kwargs, position, children=None):
        item = super().__new__(cls, (name, args, kwargs, position))
        item.children = children
        return item

    name = property(lambda self: self[0])


def parse(text):
    """The layers described by `text` as Items (name, args, kwargs, position), a
    group's layers in its `children`. Raises LayerTextError pointing at the first
    problem."""
    if not isinstance(text, str):
        raise TypeError(f"a layer description is text, got {type(text).__name__}")
    items, i = _parse_items(text, 0, None)
    if not items:
        raise LayerTextError(text, 0, "no layers")
    return items


def flat(items):
    """Every item of a parse, a group's children after the group, in text order."""
    for item in items:
        yield item
        if item.children is not None:
            yield from flat(item.children)


def _parse_items(text, i, group):
    """Items from position i to the end, or, inside the group opened at `group` (a
    position), to its closing ')'. Returns (items, position after them)."""
    items, n = [], len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            if group is not None:
                raise LayerTextError(text, group, f"{text[group:].split('(')[0]}: '(' "
                                                  f"is never closed")
            return items, i
        if text[i] == ")" and group is not None:
            if not items:
                raise LayerTextError(text, i, "an empty group: it needs layers")
            return items, i + 1
        start = i
        while i < n and not text[i].isspace() and text[i] not in "(),=":
            i += 1
        name = text[start:i]
        if not _is_name(name):
            raise LayerTextError(text, start, f"expected a layer name, found "
                                              f"{text[start:i + 1]!r}")
        cls = registry.TEXT_LAYERS.get(name)
        if cls is None:
            raise LayerTextError(text, start, f"unknown layer {name!r}")
        j = i
        while j < n and text[j].isspace():
            j += 1
        if getattr(cls, "text_group", False):
            if j >= n or text[j] != "(":
                raise LayerTextError(text, start, f"{name} needs its layers in "
                                                  f"parentheses: {name}(layer layer ...)")
            children, i = _parse_items(text, j + 1, start)
            items.append(Item(name, [], {}, start, children))
        else:
            args, kwargs = [], {}
            if j < n and text[j] == "(":
                close = text.find(")", j)
                if close < 0:
                    raise LayerTextError(text, j, f"{name}: '(' is never closed")
                _parse_arguments(text, name, j + 1, close, args, kwargs)
                i = close + 1
            _check_signature(text, start, name, args, kwargs)
            items.append(Item(name, args, kwargs, start))
        if i < n and not text[i].isspace() and not (text[i] == ")" and group is not None) \
                and text[i - 1] == ")":
            raise LayerTextError(text, i, f"expected a space after {name}(...)")


def _parse_arguments(text, name, begin, close, args, kwargs):
    """The arguments between the parentheses at begin - 1 and close, into args and kwargs."""
    inner = text[begin:close]
    offset = begin
    if not inner.strip():
        return
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


def _check_signature(text, position, name, args, kwargs):
    positional, optional = text_signature(registry.TEXT_LAYERS[name])
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
    positional, optional = text_signature(registry.TEXT_LAYERS[name])
    parts = positional + [f"{k}={'size' if v is None else v}" for k, v in optional.items()]
    return f"{name}({', '.join(parts)})" if parts else name


def build_items(text):
    """Specs and layers for `text`: what models.Sequential takes as a list (a group
    such as residual(...) as its start, its layers, and its end)."""
    return _build(text, parse(text))


def _build(text, items):
    out = []
    for item in items:
        cls = registry.TEXT_LAYERS[item.name]
        try:
            out.append(from_text(cls, *item[1], **item[2]))
        except (TypeError, ValueError) as exc:
            # The layer's own message names it already when it speaks in text names
            # ("lstm: hidden must be ..."); otherwise the text name says which one.
            message = str(exc)
            if not message.startswith(f"{item.name}: "):
                message = f"{item.name}: {message}"
            raise LayerTextError(text, item[3], message) from None
        if item.children is not None:
            out.extend(_build(text, item.children))
            out.append(cls.group_end())
    return out


def needs_images(text):
    """Whether the layers of `text` take images (C, H, W) before their first affine
    layer: flat rows of data are then read as square one-channel pictures."""
    for item in flat(parse(text)):
        cls = registry.TEXT_LAYERS[item.name]
        if cls is Affine:
            return False
        if getattr(cls, "needs_images", False):
            return True
    return False


def layer_text(item):
    """The text form of one spec or built layer, or None if it has none."""
    if is_spec(item):
        cls, args = item.layer_cls, item.args
    else:
        cls = type(item)
        name = getattr(cls, "text_name", None)
        if name is None or (registry.TEXT_LAYERS.get(name) is not cls
                            and not getattr(cls, "text_alias", False)):
            return None
        text_args = getattr(item, "text_args", None)
        get_config = getattr(item, "get_config", None)
        args = (text_args() if callable(text_args)
                else get_config() if callable(get_config) else {})
        if args is None:
            return None
    positional, optional = text_signature(registry.TEXT_LAYERS[cls.text_name])
    if any(name not in args for name in positional):
        return None
    return _call_text(cls.text_name, [args[name] for name in positional],
                      {key: (args.get(key, default), _default(cls, key, args, default))
                       for key, default in optional.items()})


def _default(cls, key, args, default):
    """A default the text may leave out: a stride of None means "the window's size"."""
    if default is None and key == "stride" and "size" in args:
        return args["size"]
    return default


def canonical(items):
    """One text for a list of specs and layers, or None if one of them has no text form.

    A group's start writes `name(`, its end `)`: residual(layernorm attention(4))."""
    out = []
    for item in items:
        if getattr(type(item), "text_group_end", False):
            out.append(")")
            continue
        text = layer_text(item)
        if text is None:
            return None
        if getattr(type(item), "text_group", False):
            text += "("
        out.append(text)
    joined = " ".join(out)
    return joined.replace("( ", "(").replace(" )", ")")
