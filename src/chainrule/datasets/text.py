"""Text as data for language models: tiny Shakespeare in the package, or any UTF-8 file.

    from chainrule.datasets import load_text
    data = load_text("shakespeare")              # or a path: load_text("novel.txt")
    data.train, data.validation                  # 1-D arrays of token ids
    data.vocab.decode(data.train[:40])           # back to text

A text is one long stream of tokens. Characters by default (every distinct character
is a token, sorted by code point, as char-rnn and nanoGPT number them); with
tokens="words", words as *Deep Learning from Scratch 2* reads the Penn Treebank:
lower-cased, split on white space, `<eos>` at the end of every line, and, where
`vocab_size` cuts the vocabulary, the rarer words as `<unk>`. Word ids follow
frequency (ties by first appearance), so the most frequent words keep their own.

The first 90% of the stream is for training and the last 10% for validation (nanoGPT's
split, so that figures compare). The vocabulary travels with a trained model
(`Vocabulary.describe()` is the JSON a checkpoint keeps).

Bad input raises DatasetError naming the problem: the empty file, the byte that is not
UTF-8 (with its offset), the NUL byte of a binary file, a vocabulary past the limit.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .idx import DatasetError

__all__ = ["Vocabulary", "TextData", "load_text", "read_text", "model_vocabulary",
           "TEXT_DATASETS", "MAX_VOCAB", "VALIDATION_FRACTION"]

BUNDLED_TEXT = Path(__file__).resolve().parent / "data" / "tinyshakespeare.txt.gz"
#: name -> (bundled file, sha256 of its text as UTF-8, characters): data sets shipped
#: with the package; the checksum is of the decompressed text, checked at every load.
TEXT_DATASETS = {
    "shakespeare": (BUNDLED_TEXT,
                    "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
                    1_115_394),
}
#: the most tokens a vocabulary may hold: an embedding of 1,000,000 rows by 64 floats is
#: 256 MB before its gradient and Adam's two moments, more than a text model here needs.
MAX_VOCAB = 1_000_000
VALIDATION_FRACTION = 0.1
UNKNOWN = {"chars": "\ufffd", "words": "<unk>"}
END_OF_LINE = "<eos>"


@dataclass
class Vocabulary:
    """The tokens of a text, in id order, and how the text was cut into them."""

    tokens: list
    kind: str = "chars"  # "chars" or "words"

    def __post_init__(self):
        if self.kind not in UNKNOWN:
            raise ValueError(f"tokens must be 'chars' or 'words', got {self.kind!r}")
        self._ids = {token: i for i, token in enumerate(self.tokens)}
        if len(self._ids) != len(self.tokens):
            raise ValueError("a vocabulary lists a token twice")

    def __len__(self):
        return len(self.tokens)

    @property
    def unknown_id(self):
        """The id of the token that stands for what the vocabulary lacks, or None."""
        return self._ids.get(UNKNOWN[self.kind])

    def split(self, text):
        """The text as tokens (not yet ids)."""
        if self.kind == "chars":
            return list(text)
        return _words(text)

    def encode(self, text, *, unknown="error", what="the text"):
        """The ids of `text`'s tokens. A token the vocabulary lacks is an error naming
        it (unknown="error"), or becomes the unknown token where the vocabulary has one
        (unknown="map")."""
        tokens = self.split(text)
        missing = sorted({t for t in tokens if t not in self._ids})
        if missing:
            if unknown == "map" and self.unknown_id is not None:
                return np.array([self._ids.get(t, self.unknown_id) for t in tokens],
                                dtype=np.int64)
            shown = ", ".join(repr(t) for t in missing[:10])
            more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            raise ValueError(f"{what} has {len(missing)} {self._unit(len(missing))} that "
                             f"the vocabulary lacks: {shown}{more}")
        return np.array([self._ids[t] for t in tokens], dtype=np.int64)

    def _unit(self, n):
        unit = "character" if self.kind == "chars" else "word"
        return unit if n == 1 else unit + "s"

    def decode(self, ids):
        """The text of ids (words joined by spaces, `<eos>` as a line break)."""
        ids = np.asarray(ids).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self.tokens)):
            bad = ids[(ids < 0) | (ids >= len(self.tokens))][0]
            raise ValueError(f"id {int(bad)} is outside the vocabulary of "
                             f"{len(self.tokens)} tokens")
        tokens = [self.tokens[i] for i in ids.tolist()]
        if self.kind == "chars":
            return "".join(tokens)
        out, line = [], []
        for token in tokens:
            if token == END_OF_LINE:
                out.append(" ".join(line) + "\n")
                line = []
            else:
                line.append(token)
        return "".join(out) + " ".join(line)

    def describe(self):
        """The JSON a checkpoint keeps."""
        return {"kind": self.kind, "tokens": list(self.tokens)}

    @classmethod
    def from_description(cls, description):
        """The vocabulary `describe()` wrote; ValueError for anything else."""
        if not isinstance(description, dict):
            raise ValueError("a vocabulary is a JSON object with kind and tokens")
        tokens = description.get("tokens")
        if (not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens)
                or not 0 < len(tokens) <= MAX_VOCAB):
            raise ValueError("a vocabulary's tokens must be a list of 1 to "
                             f"{MAX_VOCAB:,} strings")
        return cls(tokens, description.get("kind", "chars"))


@dataclass
class TextData:
    """A text cut into tokens: the training and validation streams and the vocabulary."""

    train: np.ndarray
    validation: np.ndarray
    vocab: Vocabulary
    source: str
    note: str | None = None

    def describe(self):
        """The record of a language model's inputs (network.inputs, kept in its
        checkpoint): how new text becomes its token ids."""
        return {"kind": "text", "source": os.fspath(self.source),
                "vocabulary": self.vocab.describe()}


def model_vocabulary(network):
    """The Vocabulary a language model reads and writes (from network.inputs), or None
    for a model that was not trained on text."""
    inputs = getattr(network, "inputs", None)
    if not isinstance(inputs, dict) or inputs.get("kind") != "text":
        return None
    return Vocabulary.from_description(inputs.get("vocabulary"))


def _words(text):
    """Lower-cased words, split on white space, `<eos>` at the end of every line."""
    out = []
    for line in text.lower().splitlines():
        words = line.split()
        if words:
            out.extend(words)
            out.append(END_OF_LINE)
    return out


def decode_utf8(data, where):
    """bytes -> str, strictly; DatasetError naming the first bad byte and its offset."""
    nul = data.find(b"\x00")
    if nul >= 0:
        raise DatasetError(f"{where}: not text (a NUL byte at offset {nul}): a binary "
                           f"file?")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{where}: not UTF-8 text: byte 0x{data[exc.start]:02x} at "
                           f"offset {exc.start} ({exc.reason})") from None
    return text[1:] if text.startswith("\ufeff") else text  # a byte-order mark is no text


def _read_file(path):
    path = Path(path)
    if path.is_dir():
        raise DatasetError(f"{path}: a folder, not a text file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot be read ({exc.strerror})") from None
    return decode_utf8(data, path)


def _bundled(name):
    path, sha256, _characters = TEXT_DATASETS[name]
    try:
        data = gzip.decompress(path.read_bytes())
    except (OSError, EOFError) as exc:
        raise DatasetError(f"{path}: the bundled {name} text cannot be read ({exc}); "
                           f"reinstall chainrule") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise DatasetError(f"{path}: the bundled {name} text is damaged (its checksum "
                           f"differs); reinstall chainrule")
    return data.decode("utf-8")


def _vocabulary(tokens, kind, vocab_size):
    """The vocabulary of a list of tokens; with vocab_size, the most frequent ones and
    the unknown token for the rest."""
    if kind == "chars":
        counts = Counter(tokens)
        ordered = sorted(counts)
    else:
        counts = Counter(tokens)
        first = {}
        for i, token in enumerate(tokens):
            first.setdefault(token, i)
        ordered = sorted(counts, key=lambda t: (-counts[t], first[t]))
    if vocab_size is not None and len(ordered) > vocab_size:
        kept = sorted(counts, key=lambda t: -counts[t])[:vocab_size - 1]
        kept_set = set(kept)
        ordered = [t for t in ordered if t in kept_set] + [UNKNOWN[kind]]
    if len(ordered) > MAX_VOCAB:
        hint = " (pass a vocab_size)" if vocab_size is None else ""
        raise DatasetError(f"the text has {len(ordered):,} distinct tokens, more than the "
                           f"{MAX_VOCAB:,} a vocabulary may hold{hint}")
    return Vocabulary(ordered, kind)


def _check_vocab_size(vocab_size):
    if vocab_size is None:
        return None
    if isinstance(vocab_size, bool) or int(vocab_size) != vocab_size \
            or not 2 <= vocab_size <= MAX_VOCAB:
        raise ValueError(f"vocab_size must be a whole number from 2 to {MAX_VOCAB:,}, "
                         f"got {vocab_size!r}")
    return int(vocab_size)


def read_text(text, *, tokens="chars", vocab_size=None, vocab=None, source="text",
              validation_fraction=VALIDATION_FRACTION):
    """TextData of a str: cut into tokens, numbered, split into training and validation.

    vocab: a Vocabulary to number the tokens with (a trained model's); its unknown token
    stands for what it lacks, and without one a token it lacks is an error.
    """
    vocab_size = _check_vocab_size(vocab_size)
    fraction = float(validation_fraction)
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    if vocab is not None:
        tokens = vocab.kind
    if tokens not in UNKNOWN:
        raise ValueError(f"tokens must be 'chars' or 'words', got {tokens!r}")
    if not text.strip():
        raise DatasetError(f"{source}: is empty" if not text else
                           f"{source}: holds only white space")
    pieces = list(text) if tokens == "chars" else _words(text)
    if vocab is None:
        vocab = _vocabulary(pieces, tokens, vocab_size)
    ids = _encode(vocab, pieces, source)
    cut = int(len(ids) * (1.0 - fraction))  # nanoGPT's data[:int(n * 0.9)]
    note = None
    if vocab.unknown_id is not None and vocab_size is not None:
        unknown = int(np.count_nonzero(ids == vocab.unknown_id))
        note = (f"{source}: {unknown:,} of {len(ids):,} tokens are outside the "
                f"{len(vocab):,}-token vocabulary and read as {UNKNOWN[tokens]}")
    return TextData(ids[:cut], ids[cut:], vocab, os.fspath(source), note)


def _encode(vocab, pieces, source):
    lookup = vocab._ids
    unknown = vocab.unknown_id
    if unknown is None:
        missing = sorted({p for p in pieces if p not in lookup})
        if missing:
            shown = ", ".join(repr(t) for t in missing[:10])
            raise DatasetError(f"{source}: {len(missing)} tokens are not in the "
                               f"vocabulary: {shown}")
        return np.fromiter((lookup[p] for p in pieces), dtype=np.int64, count=len(pieces))
    return np.fromiter((lookup.get(p, unknown) for p in pieces), dtype=np.int64,
                       count=len(pieces))


def load_text(name_or_path, *, tokens="chars", vocab_size=None, vocab=None,
              validation_fraction=VALIDATION_FRACTION):
    """TextData of a bundled text ("shakespeare") or of a UTF-8 file (see read_text)."""
    key = str(name_or_path).strip().lower()
    if key in TEXT_DATASETS and not Path(name_or_path).exists():
        return read_text(_bundled(key), tokens=tokens, vocab_size=vocab_size, vocab=vocab,
                         source=key, validation_fraction=validation_fraction)
    return read_text(_read_file(name_or_path), tokens=tokens, vocab_size=vocab_size,
                     vocab=vocab, source=name_or_path,
                     validation_fraction=validation_fraction)
