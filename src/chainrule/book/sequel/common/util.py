"""The sequel's common/util.py names: word counts, similarities, batches, evaluation.

The same arguments, results and printed lines as the sequel's; the loops over words,
cells of the co-occurrence matrix and batch positions are array operations here
(ppmi on a 10,000-word vocabulary is 10^8 cells: hours as a Python loop, seconds as
arrays). Differences, on purpose:
- clip_grads is chainrule's (chainrule.clipping): the norm summed in float64, nothing
  scaled when it is not finite, and it returns the norm;
- to_gpu and to_cpu leave NumPy arrays as they are: chainrule computes on the CPU
  (see common.config);
- most_similar and analogy compute every similarity at once; their last digits can
  differ from the sequel's word-by-word float32 products.
"""

import inspect
import os
import sys

import numpy as np

from chainrule.clipping import clip_grads  # noqa: F401

__all__ = ["preprocess", "cos_similarity", "most_similar", "convert_one_hot",
           "create_co_matrix", "ppmi", "create_contexts_target", "to_cpu", "to_gpu",
           "clip_grads", "eval_perplexity", "eval_seq2seq", "analogy", "normalize", "np",
           "GPU"]

GPU = False


def preprocess(text):
    """(corpus, word_to_id, id_to_word) of a sentence: lower-cased, '.' split off as a
    word, split on single spaces; ids in order of first appearance."""
    words = text.lower().replace(".", " .").split(" ")
    word_to_id = {}
    for word in words:
        word_to_id.setdefault(word, len(word_to_id))
    id_to_word = {i: word for word, i in word_to_id.items()}
    corpus = np.array([word_to_id[w] for w in words])
    return corpus, word_to_id, id_to_word


def cos_similarity(x, y, eps=1e-8):
    """x . y / (|x| |y|), each length plus eps (no division by zero)."""
    nx = x / (np.sqrt(np.sum(x ** 2)) + eps)
    ny = y / (np.sqrt(np.sum(y ** 2)) + eps)
    return np.dot(nx, ny)


def _row_similarities(word_matrix, query_vec, eps=1e-8):
    """cos_similarity of every row of word_matrix with query_vec, as float64."""
    W = np.asarray(word_matrix, dtype=np.float64)
    q = np.asarray(query_vec, dtype=np.float64)
    rows = W / (np.sqrt(np.sum(W ** 2, axis=1, keepdims=True)) + eps)
    return rows @ (q / (np.sqrt(np.sum(q ** 2)) + eps))


def most_similar(query, word_to_id, id_to_word, word_matrix, top=5):
    """Print the `top` words whose rows are most similar to query's (cosine)."""
    if query not in word_to_id:
        print("%s is not found" % query)
        return
    print("\n[query] " + query)
    similarity = _row_similarities(word_matrix[:len(id_to_word)], word_matrix[word_to_id[query]])
    count = 0
    for i in (-1 * similarity).argsort():
        if id_to_word[i] == query:
            continue
        print(" %s: %s" % (id_to_word[i], similarity[i]))
        count += 1
        if count >= top:
            return


def convert_one_hot(corpus, vocab_size):
    """Word ids (N,) or (N, C) as one-hot rows (N, V) or (N, C, V) of int32."""
    corpus = np.asarray(corpus)
    one_hot = np.zeros(corpus.shape + (vocab_size,), dtype=np.int32)
    np.put_along_axis(one_hot, corpus[..., None], 1, axis=-1)
    return one_hot


def create_co_matrix(corpus, vocab_size, window_size=1):
    """C[w, c] = how often word c occurs within window_size words of word w (int32)."""
    corpus = np.asarray(corpus)
    co_matrix = np.zeros((vocab_size, vocab_size), dtype=np.int32)
    for i in range(1, window_size + 1):
        if i >= len(corpus):
            break
        left, right = corpus[:-i], corpus[i:]
        # each pair (w, c) at distance i counts for w (c on its right) and for c
        np.add.at(co_matrix, (left, right), 1)
        np.add.at(co_matrix, (right, left), 1)
    return co_matrix


def ppmi(C, verbose=False, eps=1e-8):
    """M[i, j] = max(0, log2(C[i, j] N / (S[i] S[j]) + eps)), float32, with N the sum of
    C and S its column sums; verbose prints the sequel's progress lines (every 1% of
    the cells), here as each block of rows is done."""
    C = np.asarray(C)
    M = np.zeros(C.shape, dtype=np.float32)
    N = np.sum(C)
    S = np.sum(C, axis=0)
    rows, cols = C.shape
    total = rows * cols
    step = total // 100 + 1
    printed = 0
    block = max(1, (1 << 20) // max(cols, 1))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for start in range(0, rows, block):
            stop = min(rows, start + block)
            pmi = np.log2(C[start:stop] * N / (S[None, :] * S[start:stop, None]) + eps)
            M[start:stop] = np.where(pmi > 0, pmi, 0)
            if verbose:
                for cnt in range((printed + 1) * step, stop * cols + 1, step):
                    print("%.1f%% done" % (100 * cnt / total))
                    printed += 1
    return M


def create_contexts_target(corpus, window_size=1):
    """(contexts, target): for every word with window_size words on each side, those
    2 * window_size words (left to right) and the word itself."""
    corpus = np.asarray(corpus)
    n = len(corpus) - 2 * window_size
    target = np.array(corpus[window_size:-window_size])
    offsets = [t for t in range(-window_size, window_size + 1) if t != 0]
    contexts = np.stack([corpus[window_size + t:window_size + t + n] for t in offsets],
                        axis=1) if n > 0 else np.zeros((0, len(offsets)), corpus.dtype)
    return contexts, target


def to_cpu(x):
    """x as a NumPy array (a CuPy array is copied to the CPU)."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "get"):  # a CuPy array
        return x.get()
    return np.asarray(x)


def to_gpu(x):
    """x itself: chainrule computes with NumPy (see common.config)."""
    return x


def _accepts_train_flg(forward):
    try:
        return "train_flg" in inspect.signature(forward).parameters
    except (TypeError, ValueError):
        return False


def eval_perplexity(model, corpus, batch_size=10, time_size=35):
    """exp(mean loss) of a language model over `corpus`, read as batch_size streams
    of time_size steps, printing the sequel's progress."""
    print("evaluating perplexity ...")
    corpus = np.asarray(corpus)
    corpus_size = len(corpus)
    total_loss = 0
    max_iters = (corpus_size - 1) // (batch_size * time_size)
    jump = (corpus_size - 1) // batch_size
    streams = np.arange(batch_size) * jump
    steps = np.arange(time_size)
    train_flg = _accepts_train_flg(model.forward)
    for iters in range(max_iters):
        positions = streams[:, None] + (iters * time_size + steps)[None, :]
        xs = corpus[positions % corpus_size].astype(np.int32)
        ts = corpus[(positions + 1) % corpus_size].astype(np.int32)
        loss = model.forward(xs, ts, train_flg=False) if train_flg else model.forward(xs, ts)
        total_loss += loss
        sys.stdout.write("\r%d / %d" % (iters, max_iters))
        sys.stdout.flush()
    print("")
    return np.exp(total_loss / max_iters)


def eval_seq2seq(model, question, correct, id_to_char, verbose=False, is_reverse=False):
    """1 if model.generate answers `question` with `correct` (after its first
    character, the start mark), else 0; verbose prints Q, T and the answer, marked."""
    correct = correct.flatten()
    start_id = correct[0]
    correct = correct[1:]
    guess = model.generate(question, start_id, len(correct))
    question = "".join([id_to_char[int(c)] for c in question.flatten()])
    correct = "".join([id_to_char[int(c)] for c in correct])
    guess = "".join([id_to_char[int(c)] for c in guess])
    if verbose:
        if is_reverse:
            question = question[::-1]
        print("Q", question)
        print("T", correct)
        windows = os.name == "nt"
        if correct == guess:
            mark = "O" if windows else "\033[92m" + "\u2611" + "\033[0m"
        else:
            mark = "X" if windows else "\033[91m" + "\u2612" + "\033[0m"
        print(mark + " " + guess)
        print("---")
    return 1 if guess == correct else 0


def analogy(a, b, c, word_to_id, id_to_word, word_matrix, top=5, answer=None):
    """Print the `top` words nearest to b - a + c (normalised), a:b = c:?."""
    for word in (a, b, c):
        if word not in word_to_id:
            print("%s is not found" % word)
            return
    print("\n[analogy] " + a + ":" + b + " = " + c + ":?")
    a_vec, b_vec, c_vec = (word_matrix[word_to_id[w]] for w in (a, b, c))
    query_vec = normalize(b_vec - a_vec + c_vec)
    similarity = np.dot(word_matrix, query_vec)
    if answer is not None:
        print("==>" + answer + ":" + str(np.dot(word_matrix[word_to_id[answer]], query_vec)))
    count = 0
    for i in (-1 * similarity).argsort():
        if np.isnan(similarity[i]) or id_to_word[i] in (a, b, c):
            continue
        print(" {0}: {1}".format(id_to_word[i], similarity[i]))
        count += 1
        if count >= top:
            return


def normalize(x):
    """x divided by its length (each row, for a matrix), in place; returns x."""
    if x.ndim == 2:
        x /= np.sqrt((x * x).sum(1)).reshape(-1, 1)
    elif x.ndim == 1:
        x /= np.sqrt((x * x).sum())
    return x
