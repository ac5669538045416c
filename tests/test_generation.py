"""Sampling text from a language model."""

import numpy as np
import pytest

from chainrule.generation import context_size, generate, sample_token
from chainrule.models import Sequential

V, T = 11, 6


def test_sampling_follows_the_softmax_and_its_settings():
    rng = np.random.default_rng(0)
    scores = np.log(np.array([0.5, 0.3, 0.2]))
    draws = np.bincount([sample_token(scores, rng=rng) for _ in range(20000)], minlength=3)
    np.testing.assert_allclose(draws / 20000, [0.5, 0.3, 0.2], atol=0.015)
    only_top = {sample_token(scores, top_k=1, rng=rng) for _ in range(50)}
    assert only_top == {0}
    cold = np.bincount([sample_token(scores, temperature=0.1, rng=rng) for _ in range(2000)],
                       minlength=3)
    assert cold[0] > 1960  # p = 0.994: the best token nearly always
    with pytest.raises(ValueError, match="temperature must be a positive number"):
        sample_token(scores, temperature=0)
    with pytest.raises(ValueError, match="top_k must be at least 1"):
        sample_token(scores, top_k=0)


@pytest.mark.parametrize("text", ["embed(6,vocab=11) lstm(8) affine(11)",
                                  "embed(8,vocab=11) posembed(6) block(2) layernorm unembed"])
def test_generation_is_seeded_and_leaves_the_network_as_it_was(text):
    net = Sequential(text, input_shape=T, rng=0)
    x = np.array([[1, 2, 3]])
    before = net.predict(x)
    first = list(generate(net, [1, 2, 3], 20, rng=5))
    assert len(first) == 20 and all(0 <= t < V for t in first)
    assert list(generate(net, [1, 2, 3], 20, rng=5)) == first
    np.testing.assert_array_equal(net.predict(x), before)


def test_a_recurrent_model_reads_its_prompt_once_and_steps_after():
    """Stepping one token at a time with the state carried gives the same scores as
    reading the whole sequence: the sample drawn at each step is the same."""
    net = Sequential("embed(6,vocab=11) gru(8) affine(11)", input_shape=T, rng=0)
    tokens = list(generate(net, [4, 1], 8, top_k=1, rng=0))  # greedy
    whole = [4, 1]
    for token in tokens:
        assert net.predict(np.array([whole]))[0, -1].argmax() == token
        whole.append(token)


def test_an_attention_model_slides_its_window():
    net = Sequential("embed(8,vocab=11) posembed(6) block(2) layernorm unembed",
                     input_shape=T, rng=0)
    assert context_size(net) == 6
    out = list(generate(net, [1, 2, 3, 4, 5], 30, rng=1))  # far past the 6 positions
    assert len(out) == 30


def test_bad_requests():
    net = Sequential("embed(6,vocab=11) lstm(8) affine(11)", input_shape=T, rng=0)
    with pytest.raises(ValueError, match="needs a prompt"):
        list(generate(net, [], 5))
    with pytest.raises(ValueError, match="length must be non-negative"):
        list(generate(net, [1], -1))


def test_the_network_method_returns_the_ids():
    net = Sequential("embed(6,vocab=11) lstm(8) affine(11)", input_shape=T, rng=0)
    out = net.generate([1, 2], 7, top_k=3, rng=2)
    assert out.dtype == np.int64 and out.tolist() == list(generate(net, [1, 2], 7, top_k=3,
                                                                   rng=2))
