"""The sequel's dataset/sequence.py: the character-level question/answer sets of
chapters 7 and 8 (addition.txt, date.txt in the checkout's dataset/ folder).

Each line is a question, then `_` and the answer (padded with spaces to fixed widths).
The vocabulary is this module's char_to_id and id_to_char, grown by every load in
order of first appearance (questions and answers of each line in turn), as the
sequel's module keeps it; `chainrule book run` starts each run with it empty.
"""

import os

import numpy

from . import data_folder

id_to_char = {}
char_to_id = {}


def reset():
    """Empty the vocabulary (a new run)."""
    id_to_char.clear()
    char_to_id.clear()


def _update_vocab(text):
    for char in text:
        if char not in char_to_id:
            char_id = len(char_to_id)
            char_to_id[char] = char_id
            id_to_char[char_id] = char


def load_data(file_name="addition.txt", seed=1984):
    """((x_train, t_train), (x_test, t_test)) of file_name, characters as ids (int);
    the lines shuffled by NumPy's global generator seeded with `seed` (None: not
    seeded), the last tenth held out. None, after saying so, if there is no such file."""
    file_path = os.path.join(data_folder(), file_name)
    if not os.path.exists(file_path):
        print("No file: %s" % file_name)
        return None
    questions, answers = [], []
    with open(file_path, "r") as f:
        for line in f:
            idx = line.find("_")
            questions.append(line[:idx])
            answers.append(line[idx:-1])
    for q, a in zip(questions, answers):
        _update_vocab(q)
        _update_vocab(a)
    x = numpy.array([[char_to_id[c] for c in q] for q in questions], dtype=int)
    t = numpy.array([[char_to_id[c] for c in a] for a in answers], dtype=int)
    indices = numpy.arange(len(x))
    if seed is not None:
        numpy.random.seed(seed)
    numpy.random.shuffle(indices)
    x, t = x[indices], t[indices]
    split_at = len(x) - len(x) // 10
    return (x[:split_at], t[:split_at]), (x[split_at:], t[split_at:])


def get_vocab():
    """(char_to_id, id_to_char), the module's own dicts."""
    return char_to_id, id_to_char
