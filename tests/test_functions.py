"""Activation and loss functions, and the one place labels are interpreted."""

import numpy as np
import pytest

from chainrule.functions import (class_indices, cross_entropy_error, log_softmax, one_hot,
                                 relu, sigmoid, softmax)


def test_softmax_is_finite_for_huge_logits():
    y = softmax(np.array([1000.0, -1000.0, 0.0]))
    np.testing.assert_array_equal(y, [1.0, 0.0, 0.0])
    y = softmax(np.array([[-1000.0, -1000.0]]))
    np.testing.assert_allclose(y, [[0.5, 0.5]])


def test_softmax_rows_sum_to_one_and_match_definition(rng):
    x = rng.standard_normal((5, 7))
    y = softmax(x)
    np.testing.assert_allclose(y.sum(axis=1), 1.0)
    np.testing.assert_allclose(y, np.exp(x) / np.exp(x).sum(axis=1, keepdims=True))


def test_log_softmax_finite_where_softmax_underflows():
    x = np.array([0.0, -2000.0])
    assert log_softmax(x)[1] == pytest.approx(-2000.0)


def test_sigmoid_matches_definition_and_never_overflows(rng):
    x = rng.standard_normal(50) * 5
    np.testing.assert_allclose(sigmoid(x), 1 / (1 + np.exp(-x)), rtol=1e-12)
    with np.errstate(over="raise"):
        assert sigmoid(np.array([-1000.0]))[0] == 0.0
        assert sigmoid(np.array([1000.0]))[0] == 1.0


def test_relu():
    np.testing.assert_array_equal(relu(np.array([-1.0, 0.0, 2.5])), [0.0, 0.0, 2.5])


def test_cross_entropy_one_hot_and_indices_agree(rng):
    y = softmax(rng.standard_normal((4, 3)))
    t = np.array([2, 0, 1, 1])
    expected = -np.mean(np.log(y[np.arange(4), t]))
    assert cross_entropy_error(y, t) == pytest.approx(expected, rel=1e-12)
    assert cross_entropy_error(y, np.eye(3)[t]) == pytest.approx(expected, rel=1e-12)


def test_cross_entropy_one_sample():
    y = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
    t = np.zeros(10)
    t[2] = 1
    # the book's example (4.2.2): -log 0.6 = 0.5108...
    assert cross_entropy_error(y, t) == pytest.approx(-np.log(0.6))
    assert cross_entropy_error(y, 2) == pytest.approx(-np.log(0.6))


def test_cross_entropy_zero_probability_is_finite():
    assert np.isfinite(cross_entropy_error(np.array([[0.0, 1.0]]), [0]))


def test_class_indices_validation():
    np.testing.assert_array_equal(class_indices(np.eye(3)[[2, 0]], 3), [2, 0])
    np.testing.assert_array_equal(class_indices([1.0, 2.0], 3), [1, 2])
    with pytest.raises(ValueError, match="non-integer"):
        class_indices([0.5, 1.0], 3)
    with pytest.raises(ValueError, match="label 5"):
        class_indices([5], 3)
    with pytest.raises(ValueError, match="2 labels but the batch has 3"):
        class_indices([0, 1], 3, batch_size=3)
    with pytest.raises(ValueError, match="shape"):
        class_indices(np.zeros((2, 2, 2)), 3)


def test_one_hot_round_trip():
    t = np.array([3, 0, 9])
    oh = one_hot(t, 10)
    assert oh.shape == (3, 10) and oh.sum() == 3
    np.testing.assert_array_equal(class_indices(oh, 10), t)
