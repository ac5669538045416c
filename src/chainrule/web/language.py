"""A language model on the web page: the next character's probabilities, and what each
attention head looked at to get them.

A prompt is read as the model reads text when it generates (chainrule.generation): an
attention model sees the last `context` characters (its positional embedding's
length), a recurrent one the whole prompt. One forward pass in inference mode gives the
scores of the next character at the last position, and leaves in each
MultiHeadAttention its weights P (1, heads, T, T) over that window: row t is what
position t took from the positions s <= t (causal), each row summing to 1. A causal
layer's rows are sent without their zeros: row t has t + 1 numbers.

Bounds, because every request costs a forward pass: a prompt holds at most
MAX_PROMPT_FACTOR x context characters (what the page sends after many "sample next"
is cut from the front to that), temperature, top_k and seed are checked, and the
attention maps are rounded to ATTENTION_DIGITS decimals (a 64-character window of a
4-layer, 4-head model is 65,536 numbers).
"""

import numpy as np

from ..datasets import model_vocabulary
from ..functions import softmax
from ..generation import context_size, recurrent_layers, sample_token
from ..transformer import MultiHeadAttention
from .drawing import shown

__all__ = ["LanguageModel", "PromptError", "MAX_PROMPT_FACTOR", "MAX_TEMPERATURE",
           "MAX_SEED", "TOP_CANDIDATES", "ATTENTION_DIGITS"]

#: a prompt may be this many times the model's context long; only the last `context`
#: characters are read
MAX_PROMPT_FACTOR = 2
MAX_TEMPERATURE = 10.0
MAX_SEED = 2 ** 32 - 1
#: how many of the likeliest next characters an answer lists with their text
TOP_CANDIDATES = 20
ATTENTION_DIGITS = 4


class PromptError(ValueError):
    """A prompt or sampling setting the page's model cannot use; the message says why."""


class LanguageModel:
    """A character-level language model as the attention page serves it.

    LanguageModel.of(network) is None for a network that does not read token ids (an
    image model: the drawing page's), and raises ValueError, saying why, for one that
    reads them but cannot be served (no vocabulary, words, scores that are not the next
    token's). The caller holds the network's lock around `read` and `sample`: they
    leave state in its layers.
    """

    def __init__(self, network):
        self.network = network
        name = type(network).__name__
        vocab = model_vocabulary(network)
        if vocab is None:
            raise ValueError(f"this {name} reads token ids but does not say which text's: "
                             f"its inputs record has no vocabulary (a language model "
                             f"records it: network.inputs = text_data.describe())")
        if vocab.kind != "chars":
            raise ValueError(f"the attention page shows characters; this {name} reads "
                             f"{vocab.kind}")
        shapes = network.layer_shapes()
        last = shapes[-1][1]
        if len(last) != 2 or last[1] != len(vocab):
            raise ValueError(f"this {name} ends in {shapes[-1][0]} of shape {last}; a "
                             f"language model scores each of its {len(vocab)} characters "
                             f"at every position, (T, {len(vocab)})")
        self.vocab = vocab
        self.recurrent = bool(recurrent_layers(network))
        self.context = context_size(network)
        self.max_prompt = MAX_PROMPT_FACTOR * self.context
        self.attention = [(layer_name, layer) for layer_name, layer in network.layers.items()
                          if isinstance(layer, MultiHeadAttention)]

    @classmethod
    def of(cls, network):
        if not getattr(network, "takes_tokens", False):
            return None
        return cls(network)

    def describe(self):
        """What the page needs to know before its first request."""
        return {"vocabulary": list(self.vocab.tokens), "context": self.context,
                "max_prompt": self.max_prompt, "recurrent": self.recurrent,
                "attention": [{"layer": name, "heads": layer.num_heads,
                               "causal": layer.causal} for name, layer in self.attention],
                "top_candidates": TOP_CANDIDATES,
                "sampling": {"max_temperature": MAX_TEMPERATURE, "max_seed": MAX_SEED}}

    # -- requests --------------------------------------------------------------------
    def prompt_ids(self, payload):
        """The ids of payload["prompt"]; PromptError for anything but a usable prompt."""
        if not isinstance(payload, dict):
            raise PromptError('the request body must be a JSON object like {"prompt": "..."}')
        prompt = payload.get("prompt")
        if not isinstance(prompt, str):
            raise PromptError(f'"prompt" must be a string of text, got '
                              f"{type(prompt).__name__ if prompt is not None else 'nothing'}")
        if not prompt:
            raise PromptError('"prompt" is empty: the model needs at least one character '
                              'to go on')
        if len(prompt) > self.max_prompt:
            raise PromptError(f'"prompt" has {len(prompt):,} characters; at most '
                              f"{self.max_prompt} are accepted ({MAX_PROMPT_FACTOR} x the "
                              f"model's context of {self.context})")
        try:
            return self.vocab.encode(prompt, what="the prompt")
        except ValueError as exc:
            raise PromptError(str(exc)) from None

    def sampling(self, payload):
        """(temperature, top_k, seed) of a "sample next" request, checked."""
        temperature = payload.get("temperature", 1.0)
        if type(temperature) not in (int, float) or not 0 < temperature <= MAX_TEMPERATURE:
            raise PromptError(f'"temperature" must be a number in (0, {MAX_TEMPERATURE:g}], '
                              f"got {shown(temperature)}")
        top_k = payload.get("top_k")
        if top_k is not None and (type(top_k) is not int or not 1 <= top_k <= len(self.vocab)):
            raise PromptError(f'"top_k" must be a whole number 1..{len(self.vocab)} or null, '
                              f"got {shown(top_k)}")
        seed = payload.get("seed")
        if seed is not None and (type(seed) is not int or not 0 <= seed <= MAX_SEED):
            raise PromptError(f'"seed" must be a whole number 0..{MAX_SEED} or null, got '
                              f"{shown(seed)}")
        return float(temperature), top_k, seed

    # -- the model -------------------------------------------------------------------
    def window(self, ids):
        """The ids the model reads for the next token: all of them for a recurrent
        model, the last `context` for an attention model (as generation reads them)."""
        return ids if self.recurrent else ids[-self.context:]

    def scores(self, ids):
        """The next token's scores (V,) after `ids`, in inference mode, from a zero
        state; the attention layers keep their weights over the window."""
        self.network.reset_state()  # a stateful recurrent layer would go on from the last request
        scores = self.network.predict(self.window(ids)[None, :], train_flg=False)
        return np.asarray(scores[0, -1], dtype=np.float64)

    def read(self, ids):
        """The page's answer for a prompt: the next token's probabilities, the top
        candidates and, per attention layer and head, the weights over the window."""
        probabilities = softmax(self.scores(ids))
        window = self.window(ids)
        top = np.argsort(-probabilities, kind="stable")[:TOP_CANDIDATES]
        return {
            "prompt_tokens": int(len(ids)),
            "window_start": int(len(ids) - len(window)),
            "window": [self.vocab.tokens[i] for i in window.tolist()],
            "probabilities": probabilities.tolist(),
            "top": [{"id": int(i), "token": self.vocab.tokens[i],
                     "p": float(probabilities[i])} for i in top],
            "attention": [{"layer": name, "causal": layer.causal,
                           "heads": _rows(layer.attention_weights[0], layer.causal)}
                          for name, layer in self.attention],
        }

    def sample(self, ids, temperature, top_k, seed):
        """(the id drawn for the next position, its probability as the page's bars show
        it (temperature 1, every token), the prompt's ids with it appended and cut from
        the front to max_prompt)."""
        scores = self.scores(ids)
        token = sample_token(scores, temperature, top_k, np.random.default_rng(seed))
        longer = np.append(ids, token)
        return token, float(softmax(scores)[token]), longer[-self.max_prompt:]


def _rows(P, causal):
    """P (heads, T, T) as lists of rows, rounded; a causal layer's row t stops at
    column t, since every later column is 0 by construction (half the bytes)."""
    P = np.round(np.asarray(P, dtype=np.float64), ATTENTION_DIGITS)
    if not causal:
        return P.tolist()
    return [[row[:t + 1] for t, row in enumerate(head)] for head in P.tolist()]
