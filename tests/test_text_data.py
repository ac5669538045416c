"""Text as data: the bundled Shakespeare, a user's UTF-8 file, characters and words."""

import gzip
import hashlib

import numpy as np
import pytest

import chainrule
from chainrule.datasets import DatasetError, TextData, Vocabulary, load_text
from chainrule.datasets import text as text_module

SHARED = text_module.BUNDLED_TEXT


def test_shakespeare_ships_with_the_package_and_splits_as_nanogpt():
    data = chainrule.load_dataset("shakespeare")
    assert isinstance(data, TextData)
    n = len(data.train) + len(data.validation)
    assert n == 1_115_394  # the characters of input.txt
    assert len(data.train) == 1_003_854  # nanoGPT's int(n * 0.9)
    assert len(data.vocab) == 65 and data.vocab.kind == "chars"
    assert data.vocab.tokens == sorted(data.vocab.tokens)  # numbered by code point
    assert data.train.dtype == np.int64
    assert data.vocab.decode(data.train[:14]) == "First Citizen:"
    raw = gzip.decompress(SHARED.read_bytes())
    assert data.vocab.decode(data.validation) == raw.decode()[len(data.train):]
    assert hashlib.sha256(raw).hexdigest() == text_module.TEXT_DATASETS["shakespeare"][1]


def test_a_damaged_bundled_text_is_refused(tmp_path, monkeypatch):
    damaged = tmp_path / "tiny.txt.gz"
    damaged.write_bytes(gzip.compress("First Citizen: changed".encode()))
    name, (path, sha, n) = "shakespeare", text_module.TEXT_DATASETS["shakespeare"]
    monkeypatch.setitem(text_module.TEXT_DATASETS, name, (damaged, sha, n))
    with pytest.raises(DatasetError, match="damaged .*reinstall"):
        load_text("shakespeare")


def test_a_users_text_in_characters(tmp_path):
    path = tmp_path / "poem.txt"
    path.write_text("abcabcabca\n", encoding="utf-8")
    data = load_text(path)
    assert data.vocab.tokens == ["\n", "a", "b", "c"]
    assert data.train.tolist() == [1, 2, 3, 1, 2, 3, 1, 2, 3]  # int(11 * 0.9) tokens
    assert data.validation.tolist() == [1, 0]
    assert data.vocab.decode(data.train) == "abcabcabc"


def test_words_the_sequels_way(tmp_path):
    path = tmp_path / "ptb.txt"
    path.write_text("The cat sat\n\nthe dog SAT down\n", encoding="utf-8")
    data = load_text(path, tokens="words", validation_fraction=0)
    # by frequency, ties by first appearance; <eos> closes every non-empty line
    assert data.vocab.tokens == ["the", "sat", "<eos>", "cat", "dog", "down"]
    assert data.vocab.decode(data.train) == "the cat sat\nthe dog sat down\n"
    assert len(data.validation) == 0


def test_a_vocabulary_size_keeps_the_most_frequent_and_says_so(tmp_path):
    path = tmp_path / "w.txt"
    path.write_text("a a a b b c d\n", encoding="utf-8")
    data = load_text(path, tokens="words", vocab_size=3, validation_fraction=0)
    assert data.vocab.tokens == ["a", "b", "<unk>"]
    assert data.vocab.decode(data.train) == "a a a b b <unk> <unk> <unk>"  # <eos> too
    assert "3 of 8 tokens are outside the 3-token vocabulary" in data.note
    with pytest.raises(ValueError, match="vocab_size must be a whole number from 2"):
        load_text(path, tokens="words", vocab_size=1)


def test_encode_names_what_the_vocabulary_lacks():
    vocab = Vocabulary(list("abc"))
    np.testing.assert_array_equal(vocab.encode("cab"), [2, 0, 1])
    with pytest.raises(ValueError, match=r"2 characters that the vocabulary lacks: 'x', 'z'"):
        vocab.encode("axzb", what="the prompt")
    with pytest.raises(ValueError, match="id 3 is outside the vocabulary of 3 tokens"):
        vocab.decode([0, 3])
    words = Vocabulary(["a", "<unk>"], "words")
    np.testing.assert_array_equal(words.encode("a b", unknown="map"), [0, 1, 1])


def test_a_vocabulary_travels_as_json_and_is_checked_on_the_way_back():
    vocab = Vocabulary(["x", "y"], "words")
    assert Vocabulary.from_description(vocab.describe()) == vocab
    for bad in (None, {"tokens": []}, {"tokens": ["a", 3]}, {"tokens": ["a", "a"]},
                {"tokens": ["a"], "kind": "bytes"}):
        with pytest.raises(ValueError):
            Vocabulary.from_description(bad)


@pytest.mark.parametrize("content,match", [
    (b"", "is empty"),
    (b"  \n\t\n", "holds only white space"),
    (b"caf\xc3\xa9 ok \xff\xfe more", r"not UTF-8 text: byte 0xff at offset 9"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", r"not text \(a NUL byte at offset 8\)"),
])
def test_bad_text_files_are_named(tmp_path, content, match):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=match) as info:
        load_text(path)
    assert str(path) in str(info.value)


def test_missing_and_folder_paths(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        load_text(tmp_path / "none.txt")
    with pytest.raises(DatasetError, match="a folder, not a text file"):
        load_text(tmp_path)


def test_a_byte_order_mark_is_not_text(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeffhi".encode("utf-8"))
    assert load_text(path, validation_fraction=0).vocab.tokens == ["h", "i"]


def test_a_vocabulary_past_the_limit_is_refused(monkeypatch, tmp_path):
    monkeypatch.setattr(text_module, "MAX_VOCAB", 5)
    path = tmp_path / "many.txt"
    path.write_text("abcdefgh", encoding="utf-8")
    with pytest.raises(DatasetError, match="8 distinct tokens, more than the 5 a "
                                           r"vocabulary may hold \(pass a vocab_size\)"):
        load_text(path)


def test_a_language_models_vocabulary_is_its_inputs_record(tmp_path):
    from chainrule.datasets import model_vocabulary
    from chainrule.models import Sequential
    data = load_text("shakespeare")
    net = Sequential("embed(8,vocab=65) lstm(8) affine(65)", input_shape=16, rng=0)
    assert model_vocabulary(net) is None
    net.inputs = data.describe()
    assert net.inputs["kind"] == "text" and net.inputs["source"] == "shakespeare"
    chainrule.save(net, tmp_path / "lm.npz")
    assert model_vocabulary(chainrule.load(tmp_path / "lm.npz")) == data.vocab
