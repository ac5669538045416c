"""The networks of the book by name (--model), the options that describe them
(--hidden, --activation, ...), and the network the options ask for: a preset, or
--layers text."""

import numpy as np

from .. import compose
from ..models import DeepConvNet, MultiLayerNet, Sequential, SimpleConvNet, TwoLayerNet

# Options that describe a preset's network; --layers describes the network itself.
MODEL_OPTIONS = ("model", "hidden", "activation", "weight_decay", "dropout", "batchnorm",
                 "embed", "blocks", "heads", "no_tie")


def _shape(input_shape):
    """(D,) for a number of features, else the tuple given."""
    if isinstance(input_shape, (int, np.integer)) and not isinstance(input_shape, bool):
        return (int(input_shape),)
    return tuple(input_shape)


class Preset:
    """A network the command line offers by name, and which of its options apply.

    build(input_shape, classes, **options) makes it; options are those of `chainrule
    train` (hidden, activation, weight_decay, dropout, batchnorm), None when not given.
    An option given that the preset does not use is refused, naming the preset.
    """

    def __init__(self, name, cls, description, options, make, language=False):
        self.name = name
        self.cls = cls
        self.description = description
        self.options = options
        self._make = make
        self.language = language  # a language model: token ids in, the next token's scores

    def check(self, **options):
        """ValueError naming the options given (not None) that this preset does not use."""
        unused = [key for key, value in options.items()
                  if value is not None and key not in self.options]
        if unused:
            flags = ", ".join("--" + key.replace("_", "-") for key in unused)
            takes = ", ".join("--" + key.replace("_", "-") for key in self.options) or "none"
            raise ValueError(f"--model {self.name} has no {flags} ({self.cls.__name__} "
                             f"takes {takes})")
        hidden = options.get("hidden")
        if hidden is not None and "hidden" in self.options and self.cls is not MultiLayerNet \
                and not self.language and len(hidden) != 1:
            raise ValueError(f"--model {self.name} takes one --hidden size, got {len(hidden)}")

    def build(self, input_shape, classes, *, dtype="float64", rng=None, **options):
        self.check(**options)
        given = {key: value for key, value in options.items() if value is not None}
        return self._make(_shape(input_shape), int(classes), given,
                          {"dtype": dtype, "rng": rng})


def _one_hidden(options, default):
    return (options.get("hidden") or [default])[0]  # Preset.check allows one at most


def _image_shape(input_shape, name):
    if len(input_shape) == 3:
        return input_shape
    side = int(round(np.sqrt(input_shape[0])))
    if side * side != input_shape[0]:
        raise ValueError(f"{name} needs images; the data's {input_shape[0]} features are "
                         f"not a square picture")
    return (1, side, side)


def _make_two_layer(shape, classes, o, common):
    return TwoLayerNet(int(np.prod(shape)), _one_hidden(o, 50), classes, **common)


def _make_mlp(shape, classes, o, common):
    dropout = o.get("dropout", 0.0)
    return MultiLayerNet(int(np.prod(shape)), o.get("hidden") or [100, 100], classes,
                         activation=o.get("activation", "relu"),
                         weight_decay_lambda=o.get("weight_decay", 0.0),
                         use_dropout=dropout > 0, dropout_ratio=dropout or 0.5,
                         use_batchnorm=bool(o.get("batchnorm", False)), **common)


def _make_simple_conv(shape, classes, o, common):
    return SimpleConvNet(_image_shape(shape, "simple-conv"),
                         hidden_size=_one_hidden(o, 100),
                         output_size=classes, **common)


def _make_deep_conv(shape, classes, o, common):
    return DeepConvNet(_image_shape(shape, "deep-conv"),
                       hidden_size=_one_hidden(o, 50), output_size=classes,
                       dropout_ratio=o.get("dropout", 0.5), **common)


def _make_char_rnn(shape, vocab, o, common):
    """embed(E) lstm(H) [dropout] lstm(H) ... affine(V): a character-level LSTM."""
    dropout = o.get("dropout", 0.0)
    text = [f"embed({o.get('embed', 64)},vocab={vocab})"]
    for i, hidden in enumerate(o.get("hidden") or [256]):
        if i and dropout:
            text.append(f"dropout({dropout})")
        text.append(f"lstm({hidden})")
    if dropout:
        text.append(f"dropout({dropout})")
    text.append(f"affine({vocab})")
    return Sequential(" ".join(text), shape, **common)


def _make_gpt(shape, vocab, o, common):
    """embed(C) posembed(T) block(heads) x blocks layernorm unembed: a GPT whose output
    layer reads the embedding's matrix (affine(V) with no_tie)."""
    width, heads = o.get("embed", 128), o.get("heads", 4)
    if width % heads:
        raise ValueError(f"--model gpt: --heads {heads} does not divide --embed {width}")
    dropout = o.get("dropout", 0.0)
    block = f"block({heads},dropout={dropout})" if dropout else f"block({heads})"
    text = ([f"embed({width},vocab={vocab},init=0.02)", f"posembed({shape[0]})"]
            + [block] * o.get("blocks", 4)
            + ["layernorm", f"affine({vocab},init=0.02)" if o.get("no_tie") else "unembed"])
    return Sequential(" ".join(text), shape, **common)


PRESETS = {
    "two-layer": Preset("two-layer", TwoLayerNet, "the seed's TwoLayerNet: affine, relu, affine",
                        ("hidden",), _make_two_layer),
    "mlp": Preset("mlp", MultiLayerNet, "MultiLayerNet: any number of hidden layers",
                  ("hidden", "activation", "weight_decay", "dropout", "batchnorm"), _make_mlp),
    "simple-conv": Preset("simple-conv", SimpleConvNet, "SimpleConvNet: conv, relu, pool, affine, relu, affine",
                          ("hidden",), _make_simple_conv),
    "deep-conv": Preset("deep-conv", DeepConvNet, "DeepConvNet: six 3x3 convolutions (chapter 8)",
                        ("hidden", "dropout"), _make_deep_conv),
    "char-rnn": Preset("char-rnn", Sequential, "a language model: embedding, LSTM, affine "
                       "(the sequel's chapter 6)", ("hidden", "embed", "dropout"),
                       _make_char_rnn, language=True),
    "gpt": Preset("gpt", Sequential, "a language model: a small GPT with blocks of "
                  "attention", ("embed", "blocks", "heads", "dropout", "no_tie",
                                "weight_decay"), _make_gpt,
                  language=True),
}


def input_shape_for(args, x):
    """The shape of one sample for the network asked for: (D,), or (C, H, W) images.

    Data loaded as flat rows are taken as square one-channel pictures where the network
    begins with convolutions or pooling (as the book's conv networks take MNIST)."""
    if x.ndim == 4:
        return tuple(x.shape[1:])
    features = int(x.shape[1])
    text = getattr(args, "layers", None)
    if text and compose.needs_images(text):
        side = int(round(np.sqrt(features)))
        if side * side != features:
            raise ValueError(f"--layers begins with image layers, but the data's "
                             f"{features} features are not a square picture")
        return (1, side, side)
    return (features,)


def check_model_options(args):
    """ValueError for a network request that cannot work, before any data is loaded:
    a malformed --layers text, or options that the chosen network does not take."""
    options = {key: getattr(args, key, None) for key in MODEL_OPTIONS[1:]}
    layers = getattr(args, "layers", None)
    if layers is not None and not layers.strip():
        raise ValueError("--layers is empty: give the network's layers, e.g. "
                         "\"affine(100) relu affine(10)\", or leave --layers out")
    if layers:
        given = [f"--{key.replace('_', '-')}" for key in MODEL_OPTIONS
                 if getattr(args, key, None) not in (None, False)]
        if given:
            raise ValueError(f"--layers describes the whole network; it cannot be combined "
                             f"with {', '.join(given)}")
        compose.build_items(args.layers)
    else:
        PRESETS[args.model or "two-layer"].check(**options)


def build_model(args, input_shape, output_size, rng=None, dtype=None):
    """The network the options ask for: --layers TEXT, or a preset (--model NAME), in
    `dtype` (default: --dtype)."""
    rng = np.random.default_rng(args.seed) if rng is None else rng
    dtype = dtype or args.dtype
    options = {key: getattr(args, key, None) for key in MODEL_OPTIONS[1:]}
    check_model_options(args)
    if getattr(args, "layers", None):
        network = Sequential(args.layers, input_shape, dtype=dtype, rng=rng)
        if network.output_size != output_size:
            raise ValueError(f"the last layer gives {network.output_size} scores, but the "
                             f"data has {output_size} classes: end --layers with "
                             f"affine({output_size})")
        return network
    preset = PRESETS[args.model or "two-layer"]
    return preset.build(input_shape, output_size, dtype=dtype, rng=rng, **options)


def model_options_problem(args):
    """Why the network asked for cannot be built (naming the model and options), or None."""
    try:
        check_model_options(args)
    except ValueError as exc:
        return str(exc)
    return None
