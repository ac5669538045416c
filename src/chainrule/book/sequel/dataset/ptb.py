"""The sequel's dataset/ptb.py: the Penn Treebank as word ids, or a stand-in.

load_data('train' | 'val' | 'valid' | 'test') returns (corpus, word_to_id, id_to_word),
corpus a 1-D int array of word ids, `<eos>` at the end of every line; ids in order of
first appearance in the training text.

Where the checkout's dataset/ folder holds the PTB text files (ptb.train.txt,
ptb.valid.txt, ptb.test.txt: the sequel's own loader downloads them there), they are
read the sequel's way. Nothing is downloaded here, and no pickle is read (the sequel's
loader also caches ptb.vocab.pkl and .npy files beside them; the text is the source).
Otherwise the data is a stand-in in the PTB's form, said in one line on stderr: the
words of the tiny Shakespeare bundled with chainrule (chainrule.datasets.load_text,
tokens="words": lower-cased, split on white space, `<eos>` at line ends), the 9,999
most frequent kept and the rest read as `<unk>`; 80% of the stream's lines for training,
10% each for validation and test, where a word the training part lacks is `<unk>` too (as
in the PTB, whose vocabulary is its training text's). `write_ptb_files` writes it as
PTB text files, for the sequel's own loader.
"""

import os
import sys

import numpy as np

from . import data_folder

key_file = {"train": "ptb.train.txt", "test": "ptb.test.txt", "valid": "ptb.valid.txt"}
save_file = {"train": "ptb.train.npy", "test": "ptb.test.npy", "valid": "ptb.valid.npy"}
vocab_file = "ptb.vocab.pkl"

#: the stand-in's vocabulary at most: the most frequent words of the text and <unk>
STAND_IN_WORDS = 10000

_cache = {}
_told = []


def reset():
    """Forget what was read and said (a new run)."""
    _cache.clear()
    _told.clear()


def _ptb_files():
    folder = data_folder()
    paths = {kind: os.path.join(folder, name) for kind, name in key_file.items()}
    return paths if all(os.path.isfile(p) for p in paths.values()) else None


def _ptb_words(path):
    with open(path) as f:
        return f.read().replace("\n", "<eos>").strip().split()


def _numbered(words):
    """word_to_id, id_to_word over the words in order of first appearance."""
    word_to_id = {}
    for word in words:
        if word not in word_to_id:
            word_to_id[word] = len(word_to_id)
    return word_to_id, {i: w for w, i in word_to_id.items()}


def stand_in():
    """The stand-in's words: {"train": [...], "valid": [...], "test": [...]}."""
    from chainrule.datasets import load_text
    data = load_text("shakespeare", tokens="words", vocab_size=STAND_IN_WORDS)
    ids = np.concatenate((data.train, data.validation))
    words = [data.vocab.tokens[i] for i in ids.tolist()]
    ends = np.flatnonzero(ids == data.vocab.tokens.index("<eos>")) + 1
    # cut after a line's <eos>, the first at or past 80% and 90%: whole lines, as PTB's
    a, b = (int(ends[np.searchsorted(ends, len(words) * f)]) for f in (0.8, 0.9))
    words = words[:int(ends[-1])]
    known = set(words[:a])
    unknown = data.vocab.tokens[data.vocab.unknown_id]
    return {"train": words[:a],
            "valid": [w if w in known else unknown for w in words[a:b]],
            "test": [w if w in known else unknown for w in words[b:]]}


def write_ptb_files(folder):
    """Write the stand-in as ptb.train.txt, ptb.valid.txt and ptb.test.txt in folder,
    in the PTB's form (a line per sentence, words between single spaces, a space at
    each end), which the sequel's own loader reads back as the same words."""
    for kind, words in stand_in().items():
        lines, line = [], []
        for word in words:
            if word == "<eos>":
                lines.append(" " + " ".join(line) + " \n")
                line = []
            else:
                line.append(word)
        if line:
            lines.append(" " + " ".join(line) + " \n")
        with open(os.path.join(folder, key_file[kind]), "w") as f:
            f.write("".join(lines))


def _load():
    if _cache:
        return _cache
    paths = _ptb_files()
    streams = ({kind: _ptb_words(path) for kind, path in paths.items()}
               if paths is not None else stand_in())
    # the vocabulary is the training text's, as the sequel's loader makes it
    word_to_id, id_to_word = _numbered(streams["train"])
    if paths is None:
        print(f"dataset.ptb: no Penn Treebank files (ptb.train.txt, ptb.valid.txt, "
              f"ptb.test.txt) in {data_folder()}: using a stand-in, the bundled tiny "
              f"Shakespeare's words in PTB's form ({len(word_to_id):,} words with <unk> "
              f"and <eos>)", file=sys.stderr)
    _cache["vocab"] = (word_to_id, id_to_word)
    for kind, words in streams.items():
        _cache[kind] = words
    return _cache


def load_vocab():
    """(word_to_id, id_to_word)."""
    return _load()["vocab"]


def load_data(data_type="train"):
    """(corpus, word_to_id, id_to_word) of 'train', 'val' / 'valid' or 'test'."""
    if data_type == "val":
        data_type = "valid"
    if data_type not in key_file:
        raise KeyError(data_type)
    cache = _load()
    word_to_id, id_to_word = cache["vocab"]
    key = ("ids", data_type)
    if key not in cache:
        cache[key] = np.array([word_to_id[w] for w in cache[data_type]])
    return cache[key].copy(), word_to_id, id_to_word
