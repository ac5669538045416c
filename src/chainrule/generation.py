"""Writing with a language model: sample the next token, feed it back, repeat.

A language model scores every token of the vocabulary for the next position. Sampling:

    p = softmax(scores / temperature)     over the top_k highest scores (the rest 0)
    next token ~ p

A temperature below 1 sharpens p towards the most likely tokens, above 1 flattens it;
top_k keeps the model from ever picking one of its long tail of unlikely tokens.

How the model reads what came before depends on what it is made of:
  * a recurrent network (RNN, LSTM, GRU) carries a state: the prompt is read once,
    then each new token is one step, its layers made stateful for the while;
  * anything else (attention) reads a window of the last `context` tokens at every
    step, the longest its positional embedding knows, sliding along a long output.
"""

import numpy as np

from .functions import softmax

__all__ = ["sample_token", "generate", "context_size", "recurrent_layers"]


def sample_token(scores, temperature=1.0, top_k=None, rng=None):
    """One token id drawn from the scores (V,) of the next position."""
    temperature = float(temperature)
    if not (np.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a positive number, got {temperature}")
    scores = np.asarray(scores, dtype=np.float64) / temperature
    if top_k is not None:
        top_k = int(top_k)
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        if top_k < scores.size:
            # Everything below the k-th highest score gets probability 0.
            kth = np.partition(scores, -top_k)[-top_k]
            scores = np.where(scores < kth, -np.inf, scores)
    p = softmax(scores)
    rng = np.random.default_rng(rng)  # a Generator comes back as it is
    return int(rng.choice(p.size, p=p))


def recurrent_layers(network):
    """{name: layer} of the layers that carry a state from one call to the next (RNN,
    LSTM, GRU): those with a `stateful` setting and a `reset_state`."""
    return {name: layer for name, layer in network.layers.items()
            if hasattr(layer, "stateful") and hasattr(layer, "reset_state")}


def context_size(network):
    """How many tokens a non-recurrent network reads at once: its positional
    embedding's length, else the sequence length it was built for."""
    for layer in network.layers.values():
        W = getattr(layer, "W", None)
        if type(layer).__name__ == "PositionalEmbedding" and W is not None:
            return int(W.shape[0])
    return int(network.input_shape[0])


def generate(network, prompt, length, *, temperature=1.0, top_k=None, rng=None):
    """Yield `length` token ids sampled one after another, continuing `prompt` (ids).

    The network is left in inference mode throughout; recurrent layers get their
    stateful setting and state back afterwards.
    """
    prompt = [int(i) for i in np.asarray(prompt).reshape(-1)]
    if not prompt:
        raise ValueError("generation needs a prompt of at least one token")
    length = int(length)
    if length < 0:
        raise ValueError(f"length must be non-negative, got {length}")
    rng = np.random.default_rng(rng)
    recurrent = list(recurrent_layers(network).values())
    if recurrent:
        yield from _generate_recurrent(network, recurrent, prompt, length, temperature,
                                       top_k, rng)
        return
    window = context_size(network)
    tokens = list(prompt)
    for _ in range(length):
        scores = network.predict(np.array([tokens[-window:]]), train_flg=False)
        token = sample_token(scores[0, -1], temperature, top_k, rng)
        tokens.append(token)
        yield token


def _generate_recurrent(network, recurrent, prompt, length, temperature, top_k, rng):
    saved = [(layer, layer.stateful) for layer in recurrent]
    try:
        for layer in recurrent:
            layer.stateful = True
        network.reset_state()
        scores = network.predict(np.array([prompt]), train_flg=False)
        for _ in range(length):
            token = sample_token(scores[0, -1], temperature, top_k, rng)
            yield token
            scores = network.predict(np.array([[token]]), train_flg=False)
    finally:
        for layer, stateful in saved:
            layer.stateful = stateful
        network.reset_state()
