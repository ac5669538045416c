"""The layer protocol, checked over the whole registry: every registered layer class
answers what the library asks of it, and a new layer is one class and one registration.

The checks run over registry.TEXT_LAYERS as it is, so a layer added later is checked
without anyone adding it here.
"""

import numpy as np
import pytest

import chainrule
from chainrule import compose, registry
from chainrule.models import Sequential

# Values for the text form's required arguments, by name.
EXAMPLE_ARGS = {"units": 3, "filters": 2, "size": 2, "hidden": 3, "dim": 4, "heads": 2,
                "max_len": 8}
# Optional arguments a layer cannot do without in a test of its own (an embedding's
# vocabulary comes from the data in a network).
EXAMPLE_OPTIONS = {"vocab": 7}
# Shapes of one sample tried in turn; the first a layer takes is used.
SHAPES = [(4,), (3, 4), (2, 6, 6)]


def example(name, rng):
    """(layer, input shape of one sample) for the layer named `name` in the text form."""
    cls = registry.TEXT_LAYERS[name]
    positional, optional = registry.text_signature(cls)
    given = {key: EXAMPLE_OPTIONS[key] for key in optional if key in EXAMPLE_OPTIONS}
    item = registry.from_text(cls, *[EXAMPLE_ARGS[p] for p in positional], **given)
    if getattr(cls, "needs_tokens", False):
        shapes = [(5,)]
    else:
        shapes = SHAPES
    for shape in shapes:
        try:
            layer = item.build(shape, np.float64, rng) if compose.is_spec(item) else item
            tie(layer, shape, rng)
            registry.output_shape(layer, shape)
        except ValueError:
            continue
        return layer, shape
    raise AssertionError(f"{name}: takes none of the shapes {shapes}")


def tie(layer, shape, rng):
    """A layer that reads another layer's array (`ties`: the output layer reading the
    embedding's matrix) is given one, as a network gives it the embedding's."""
    ties = getattr(layer, "ties", None)
    if ties:
        setattr(layer, ties[0], rng.standard_normal((7, shape[-1])))


def sample(layer, shape, rng, n=2):
    if getattr(type(layer), "needs_tokens", False):
        vocab = getattr(layer, "W").shape[0]
        return rng.integers(0, vocab, (n,) + shape)
    return rng.standard_normal((n,) + shape)


def forward(layer, x, train_flg=False):
    if registry.describe(layer).has_train_mode:
        return layer.forward(x, train_flg)
    return layer.forward(x)


TEXT_NAMES = sorted(name for name, cls in registry.TEXT_LAYERS.items()
                    if not getattr(cls, "expands", False))
SHORTHANDS = sorted(name for name, cls in registry.TEXT_LAYERS.items()
                    if getattr(cls, "expands", False))


@pytest.mark.parametrize("name", SHORTHANDS)
def test_a_shorthand_expands_into_registered_layers_with_text(name, rng):
    cls = registry.TEXT_LAYERS[name]
    assert cls.__name__ not in registry.LAYER_TYPES  # never named in a file
    positional, _ = registry.text_signature(cls)
    spec = registry.from_text(cls, *[EXAMPLE_ARGS[p] for p in positional])
    for shape in SHAPES:
        try:
            layers = spec.build(shape, np.float64, rng)
            break
        except ValueError:
            continue
    assert isinstance(layers, list) and layers
    for layer in layers:
        assert registry.layer_type(layer) is not None, type(layer)
    text = compose.canonical(layers)
    assert text is not None
    assert compose.canonical(compose.build_items(text)) is not None


@pytest.mark.parametrize("name", TEXT_NAMES)
def test_a_layer_is_registered_under_its_name(name):
    cls = registry.TEXT_LAYERS[name]
    assert registry.LAYER_TYPES[cls.__name__] is cls
    assert registry.describe(cls).text_name == name


@pytest.mark.parametrize("name", TEXT_NAMES)
def test_gradient_attributes_exist_before_the_first_backward(name, rng):
    layer, _ = example(name, rng)
    for attr, grad_attr in registry.describe(layer).parameters:
        assert isinstance(getattr(layer, attr), np.ndarray), (name, attr)
        assert hasattr(layer, grad_attr), (name, grad_attr)


@pytest.mark.parametrize("name", TEXT_NAMES)
def test_output_shape_is_that_of_a_real_forward(name, rng):
    layer, shape = example(name, rng)
    out = forward(layer, sample(layer, shape, rng))
    assert out.shape[1:] == registry.output_shape(layer, shape)


@pytest.mark.parametrize("name", TEXT_NAMES)
def test_the_text_of_a_built_layer_reads_back_to_the_same_text(name, rng):
    layer, shape = example(name, rng)
    if registry.describe(layer).cls.__dict__.get("text_group"):
        # A group holds layers: residual(relu) is its smallest text.
        text = compose.canonical([layer, chainrule.Relu(), layer.group_end()])
        assert text == f"{name}(relu)"
        assert compose.canonical(compose.build_items(text)) == text
        return
    text = compose.layer_text(layer)
    assert text is not None and text.split("(")[0] == name
    (again,) = compose.build_items(text)
    rebuilt = again.build(shape, np.float64, rng) if compose.is_spec(again) else again
    assert compose.layer_text(rebuilt) == text


@pytest.mark.parametrize("name", TEXT_NAMES)
def test_arrays_and_config_rebuild_the_layer(name, rng):
    layer, shape = example(name, rng)
    info = registry.describe(layer)
    arrays = {attr: getattr(layer, attr) for attr, _ in info.parameters}
    arrays.update({attr: getattr(layer, attr) for attr in info.buffers})
    get_config = getattr(layer, "get_config", None)
    config = get_config() if callable(get_config) else {}
    twin = type(layer)(**arrays, **config)
    if getattr(layer, "ties", None):
        setattr(twin, layer.ties[0], getattr(layer, layer.ties[0]))
    x = sample(layer, shape, rng)
    np.testing.assert_array_equal(forward(twin, x), forward(layer, x))


def test_a_new_layer_is_one_class_and_one_registration(monkeypatch, rng, tmp_path):
    monkeypatch.setattr(registry, "LAYER_TYPES", dict(registry.LAYER_TYPES))
    monkeypatch.setattr(registry, "TEXT_LAYERS", dict(registry.TEXT_LAYERS))

    @chainrule.register_layer
    class Cube:
        """y = x^3; dy/dx = 3x^2."""
        text_name = "cube"
        is_activation = True
        keeps_shape = True

        def forward(self, x):
            self.x = x
            return x ** 3

        def backward(self, dout):
            return dout * 3 * self.x ** 2

    net = Sequential("affine(5) cube affine(3)", input_shape=4, rng=0)
    assert list(net.layers) == ["Affine1", "Cube1", "Affine2"]
    assert net.config["layers"] == "affine(5) cube affine(3)"
    x, t = rng.standard_normal((3, 4)), np.array([0, 1, 2])
    analytic, numeric = net.gradient(x, t), net.numerical_gradient(x, t)
    for key in net.params:
        np.testing.assert_allclose(analytic[key], numeric[key], rtol=1e-5, atol=1e-8)
    chainrule.save(net, tmp_path / "cube.npz")
    np.testing.assert_array_equal(chainrule.load(tmp_path / "cube.npz").predict(x),
                                  net.predict(x))


def test_register_layer_refuses_a_text_name_taken_or_malformed(monkeypatch):
    monkeypatch.setattr(registry, "LAYER_TYPES", dict(registry.LAYER_TYPES))
    monkeypatch.setattr(registry, "TEXT_LAYERS", dict(registry.TEXT_LAYERS))
    methods = {"forward": lambda self, x: x, "backward": lambda self, d: d}
    with pytest.raises(ValueError, match="the text name 'relu' is already Relu's"):
        registry.register_layer(type("MyRelu", (), {**methods, "text_name": "relu"}))
    with pytest.raises(ValueError, match="must be a lower-case identifier"):
        registry.register_layer(type("Odd", (), {**methods, "text_name": "Odd Name"}))


def test_load_leaves_numpys_random_state_alone(tmp_path):
    for network in (chainrule.TwoLayerNet(6, 4, 3), chainrule.models.DeepConvNet(rng=0),
                    Sequential("affine(4) dropout affine(3)", input_shape=6)):
        path = tmp_path / f"{type(network).__name__}.npz"
        chainrule.save(network, path)
        np.random.seed(1)
        expected = np.random.rand(3)
        np.random.seed(1)
        chainrule.load(path)
        np.testing.assert_array_equal(np.random.rand(3), expected)


def test_the_gradient_check_fixes_the_draws_of_every_random_layer(rng):
    """The book layout's Dropout draws from NumPy's global generator; it says so
    (draws_random) and the check holds its masks fixed like chainrule's own."""
    from chainrule.book.common.multi_layer_net_extend import MultiLayerNetExtend
    from chainrule.gradient import gradient_check
    net = MultiLayerNetExtend(6, [5, 5], 3, use_dropout=True, dropout_ration=0.3, rng=0)
    x, t = rng.standard_normal((4, 6)), np.array([0, 1, 2, 1])
    result = gradient_check(net, x, t, detailed=True)
    assert max(r["max_rel_error"] for r in result.values()) < 1e-6, result
