"""Residual groups, y = x + f(x), in a network that stays a list of layers."""

import numpy as np
import pytest

import chainrule
from chainrule import compose
from chainrule.compose import Dense, LayerTextError
from chainrule.layers import Tanh
from chainrule.models import Sequential
from chainrule.residual import ResidualAdd, ResidualStart
from conftest import max_relative_error

# tanh, not relu: a ReLU sitting exactly at its kink (a zero bias meeting a zero input)
# makes the central difference measure half a slope, which is the check's error.
RESNET = ("affine(6) tanh residual(affine(6) tanh affine(6)) "
          "residual(batchnorm tanh affine(6) residual(tanh)) affine(3)")


def network(text=RESNET, **kwargs):
    return Sequential(text, input_shape=5, rng=0, **kwargs)


def test_backprop_through_residual_groups_matches_the_numerical_gradient(rng):
    net = network()
    x, t = rng.standard_normal((4, 5)), np.array([0, 1, 2, 1])
    analytic, numeric = net.gradient(x, t), net.numerical_gradient(x, t)
    for key in net.params:
        assert max_relative_error(analytic[key], numeric[key]) < 1e-6, key


def test_the_add_passes_dout_to_both_branches_and_writes_into_nothing(rng):
    start, add = ResidualStart(), ResidualAdd()
    add.start = start
    x = rng.standard_normal((3, 4))
    h = start.forward(x) * 2.0  # f(x) = 2x
    y = add.forward(h)
    np.testing.assert_array_equal(y, 3.0 * x)
    dout = rng.standard_normal((3, 4))
    dout.setflags(write=False)
    dh = add.backward(dout)
    np.testing.assert_array_equal(dh, dout)
    dx = start.backward(2.0 * dh)  # f's backward
    np.testing.assert_allclose(dx, 3.0 * dout, rtol=1e-15)  # dy/dx = 1 + 2


def test_the_text_form_reads_and_writes_groups():
    net = network()
    assert net.config["layers"] == RESNET
    names = list(net.layers)
    assert names[2:7] == ["Residual1", "Affine2", "Tanh2", "Affine3", "Add1"]
    # nested: the inner group (opened third) closes first, as parentheses do
    assert net.layers["Add2"].start is net.layers["Residual3"]
    assert net.layers["Add3"].start is net.layers["Residual2"]


def test_groups_from_python_and_saved_and_loaded(rng, tmp_path):
    net = Sequential([Dense(6), ResidualStart(), Dense(6), Tanh(), ResidualAdd(), Dense(3)],
                     input_shape=5, rng=0)
    assert net.config["layers"] == "affine(6) residual(affine(6) tanh) affine(3)"
    chainrule.save(net, tmp_path / "res.npz")
    loaded = chainrule.load(tmp_path / "res.npz")
    x = rng.standard_normal((4, 5))
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))
    assert loaded.layers["Add1"].start is loaded.layers["Residual1"]


@pytest.mark.parametrize("text,position,match", [
    ("affine(4) residual relu", 10, r"residual needs its layers in parentheses"),
    ("affine(4) residual(relu", 10, r"residual: '\(' is never closed"),
    ("affine(4) residual() relu", 19, "an empty group"),
    ("affine(4) relu) relu", 14, "expected a layer name, found '\\)'"),
    ("affine(4) residual(relu)relu", 24, r"expected a space after residual\(...\)"),
])
def test_malformed_groups_point_at_the_problem(text, position, match):
    with pytest.raises(LayerTextError, match=match) as info:
        compose.build_items(text)
    assert info.value.position == position


def test_a_group_that_changes_the_shape_or_is_unbalanced_is_refused():
    with pytest.raises(ValueError, match=r"residual group Residual1 turns \(6,\) into "
                                         r"\(4,\)"):
        network("affine(6) residual(affine(4)) affine(3)")
    with pytest.raises(ValueError, match="closes no residual group"):
        Sequential([Dense(4), ResidualAdd(), Dense(3)], input_shape=5)
    with pytest.raises(ValueError, match="opens a residual group that no ResidualAdd closes"):
        Sequential([Dense(4), ResidualStart(), Dense(3)], input_shape=5)


def test_gradcheck_and_summary_work_on_residual_networks(rng):
    net = network()
    x, t = rng.standard_normal((3, 5)), np.array([0, 2, 1])
    result = chainrule.gradient.gradient_check(net, x, t, detailed=True)
    assert max(r["max_rel_error"] for r in result.values()) < 1e-6
    summary = net.summary()
    assert "Residual1 (ResidualStart)" in summary and "Add1 (ResidualAdd)" in summary


def test_a_recorded_graph_draws_the_skip_connection(rng):
    from chainrule.trace import record
    net = network("affine(6) residual(tanh affine(6)) affine(3)")
    x, t = rng.standard_normal((2, 5)), np.array([0, 2])
    with record() as graph:
        net.gradient(x, t)
    graph.name_layers(net.layers)
    add = next(node for node in graph.nodes if node.name == "Add1")
    sources = [edge.source.name for edge in add.inputs]
    assert sources == ["Affine2", "Residual1"]  # the group's output, and its input
    skip = add.inputs[1]
    np.testing.assert_array_equal(skip.grad, add.dout)  # the add passes dout on unchanged
