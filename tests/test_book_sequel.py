"""chainrule.book.sequel: the sequel's module layout, its protocol and the runner, on a
stand-in checkout.

CI has no copy of *Deep Learning from Scratch 2*'s repository, so these tests build one
in its layout (chNN/ folders, common/ with time_layers.py, dataset/ with small
addition.txt, date.txt and PTB files) whose common/ and dataset/ modules are decoys: a
script importing them must get chainrule's.
"""

import os
import pickle
import sys
import textwrap

import numpy as np
import pytest
from stand_in import write_scripts

from chainrule.book import UnsafePickleError, run_script
from chainrule.book.runner import book_modules, layout_of
from chainrule.book.sequel.common import layers as L
from chainrule.book.sequel.common import optimizer as O
from chainrule.book.sequel.common import time_layers as TL
from chainrule.book.sequel.common import trainer as TR
from chainrule.book.sequel.common import util as U
from chainrule.book.sequel.common.base_model import BaseModel
from chainrule.gradient import numerical_gradient

DECOY = "raise RuntimeError('the checkout\\'s own {} was imported')\n"
COMMON = ("config", "np", "functions", "layers", "time_layers", "optimizer", "trainer",
          "util", "base_model")
ADDITION = ["16+75  _91  ", "52+607 _659 ", "75+22  _97  ", "63+22  _85  ",
            "795+3  _798 ", "706+796_1502", "8+4    _12  ", "84+317 _401 ",
            "9+3    _12  ", "6+2    _8   ", "18+8   _26  ", "85+52  _137 "]


def make_checkout(root, scripts, ptb=False):
    """A stand-in checkout of the sequel: decoy packages, data files, scripts."""
    for package, modules in (("common", COMMON), ("dataset", ("ptb", "sequence", "spiral"))):
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").write_text(DECOY.format(package))
        for module in modules:
            (root / package / f"{module}.py").write_text(DECOY.format(f"{package}.{module}"))
    (root / "dataset" / "addition.txt").write_text("".join(line + "\n" for line in ADDITION))
    if ptb:
        text = {"train": " the cat sat \n a dog sat on the mat \n",
                "valid": " the dog sat \n", "test": " a cat \n"}
        for kind, body in text.items():
            (root / "dataset" / f"ptb.{kind}.txt").write_text(body)
    return write_scripts(root, scripts)


SEQ_MODEL = """\
    import sys
    sys.path.append('..')
    from common.time_layers import *
    from common.base_model import BaseModel


    class TinySeq(BaseModel):
        def __init__(self, V, D, H):
            rn = np.random.randn
            self.embed = TimeEmbedding((rn(V, D) / 100).astype('f'))
            self.lstm = TimeLSTM((rn(D, 4 * H) / np.sqrt(D)).astype('f'),
                                 (rn(H, 4 * H) / np.sqrt(H)).astype('f'),
                                 np.zeros(4 * H).astype('f'), stateful=True)
            self.affine = TimeAffine((rn(H, V) / np.sqrt(H)).astype('f'),
                                     np.zeros(V).astype('f'))
            self.loss = TimeSoftmaxWithLoss()
            self.params, self.grads = [], []
            for layer in (self.embed, self.lstm, self.affine):
                self.params += layer.params
                self.grads += layer.grads

        def forward(self, xs, ts):
            self.lstm.set_state(np.zeros((xs.shape[0], self.lstm.params[1].shape[0]), 'f'))
            h = self.lstm.forward(self.embed.forward(xs))
            return self.loss.forward(self.affine.forward(h), ts)

        def backward(self, dout=1):
            d = self.affine.backward(self.loss.backward(dout))
            self.embed.backward(self.lstm.backward(d))
"""

TRAIN_ADDITION = """\
    import sys, os
    sys.path.append('..')
    from common import config
    config.GPU = True
    from common.np import *
    from dataset import sequence
    from common.optimizer import Adam
    from common.trainer import Trainer
    from tiny_seq import TinySeq
    (x_train, t_train), (x_test, t_test) = sequence.load_data('addition.txt')
    char_to_id, id_to_char = sequence.get_vocab()
    model = TinySeq(len(char_to_id), 8, 16)
    trainer = Trainer(model, Adam())
    trainer.fit(x_train, x_train, max_epoch=3, batch_size=5, max_grad=5.0,
                eval_interval=1)
    print('GPU', config.GPU, GPU)
    print('layers', type(model.lstm).__module__)
    print('vocab', len(char_to_id), x_train.shape, x_test.shape)
    print('cwd', os.path.basename(os.getcwd()), 'argv', sys.argv[1:])
    model.save_params()
    model.load_params()
    print('losses', len(trainer.loss_list))
"""


@pytest.fixture
def checkout(tmp_path):
    return make_checkout(tmp_path / "deep-learning-from-scratch-2", {
        "ch07/tiny_seq.py": SEQ_MODEL,
        "ch07/train_addition.py": TRAIN_ADDITION,
        # ch08's script imports a ch07 module by its bare name, as ch08/train.py does
        # through ch07/peeky_seq2seq.py: only the chapter folders on the path find it.
        "ch08/uses_ch07.py": """\
            import sys
            sys.path.append('..')
            from ch07.tiny_seq import TinySeq as A
            from tiny_seq import TinySeq as B
            print('both', A.__name__, B.__name__, sys.argv[1:])
        """,
    })


def test_a_sequel_script_runs_on_chainrule_and_everything_is_put_back(checkout, capsys):
    script = checkout["ch07/train_addition.py"]
    cwd, argv, path = os.getcwd(), list(sys.argv), list(sys.path)
    np.random.seed(0)
    assert run_script(script, ["x"]) == 0
    captured = capsys.readouterr()
    out = captured.out.splitlines()
    assert "GPU False False" in out  # config.GPU = True is told, not followed
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("config.GPU = True") and "NumPy" in err[0]
    assert ("CuPy is not installed" in err[0]) == (not _has_cupy())
    assert "layers chainrule.book.sequel.common.time_layers" in out
    # 12 lines of addition.txt: 11 training, 1 held out; characters first seen in order
    assert f"vocab {len(set(''.join(ADDITION)))} (11, 7) (1, 7)" in out
    assert "cwd ch07 argv ['x']" in out
    assert "losses 6" in out  # 11 // 5 = 2 steps an epoch, each printed (eval_interval 1)
    assert sum(line.startswith("| epoch ") for line in out) == 6
    assert (script.parent / "TinySeq.pkl").is_file()
    assert os.getcwd() == cwd and sys.argv == argv and sys.path == path
    assert not any(n in ("common", "dataset", "tiny_seq", "ch07", "ch08")
                   or n.startswith(("common.", "dataset.", "ch07.", "ch08."))
                   for n in sys.modules)


def _has_cupy():
    import importlib.util
    return importlib.util.find_spec("cupy") is not None


def test_the_chapter_folders_are_on_the_path(checkout, capsys):
    assert run_script(checkout["ch08/uses_ch07.py"], ["1"]) == 0
    assert capsys.readouterr().out.splitlines() == ["both TinySeq TinySeq ['1']"]
    assert [n for n in sys.modules if n in ("tiny_seq", "ch07") or n.startswith("ch07.")] == []


def test_the_layout_is_found_per_script(tmp_path, checkout):
    assert layout_of(checkout["ch07/train_addition.py"]) == "sequel"
    lone = tmp_path / "lone"
    lone.mkdir()
    for source, expected in (("from dataset import ptb\n", "sequel"),
                             ("from common.time_layers import TimeLSTM\n", "sequel"),
                             ("from common import config\n", "sequel"),
                             ("from dataset.mnist import load_mnist\n", "book"),
                             ("from common.layers import Affine\n", "book")):
        (lone / "s.py").write_text("import sys\n" + source)
        assert layout_of(lone / "s.py") == expected, source


def test_a_hostile_pickle_is_refused_by_name_and_runs_nothing(tmp_path, checkout, capsys):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))
    pkl = checkout["ch07/tiny_seq.py"].parent / "TinySeq.pkl"
    pkl.write_bytes(pickle.dumps([Evil()]))
    (checkout["ch07/tiny_seq.py"].parent / "load.py").write_text(textwrap.dedent("""\
        import sys
        sys.path.append('..')
        from tiny_seq import TinySeq
        TinySeq(5, 2, 3).load_params()
    """))
    assert run_script(checkout["ch07/tiny_seq.py"].parent / "load.py") == 1
    err = capsys.readouterr().err
    assert "UnsafePickleError" in err and "system" in err and "refused" in err
    assert not marker.exists()
    with book_modules("sequel"):
        with pytest.raises(UnsafePickleError, match="system"):
            model = BaseModel()
            model.params = [np.zeros(3, "f")]
            model.load_params(str(pkl))
    assert not marker.exists()


def test_params_are_saved_as_the_sequels_pickle_and_checked_on_loading(tmp_path):
    model = BaseModel()
    model.params = [np.arange(6, dtype="f").reshape(2, 3), np.ones(3, "f")]
    path = str(tmp_path / "m.pkl")
    model.save_params(path)
    with open(path, "rb") as f:
        saved = pickle.load(f)  # the sequel's own code reads it with pickle
    assert [a.dtype for a in saved] == [np.float16, np.float16]
    np.testing.assert_array_equal(saved[0], model.params[0])
    target = model.params[0]
    model.params[0][...] = 0
    model.load_params(path)
    assert model.params[0] is target  # loaded in place: the layers hold these arrays
    np.testing.assert_array_equal(target, np.arange(6).reshape(2, 3))
    other = BaseModel()
    other.params = [np.zeros((3, 2), "f"), np.zeros(3, "f")]
    with pytest.raises(ValueError, match=r"array 0 has shape \(2, 3\)"):
        other.load_params(path)
    with pytest.raises(IOError, match="No file"):
        other.load_params(str(tmp_path / "none.pkl"))


# -- the protocol: params/grads lists, gradients written in place ---------------------
def _check_grads(layer, forward, loss_of, rtol=1e-5):
    """Every grads array is the one made at construction, and holds the numerical
    gradient of loss_of(forward()) with respect to its parameter."""
    arrays = [id(g) for g in layer.grads]
    out = forward()
    layer.backward(np.ones_like(out) * 0 + _weights(out))
    assert [id(g) for g in layer.grads] == arrays
    for p, g in zip(layer.params, layer.grads):
        expected = numerical_gradient(lambda _: loss_of(forward()), p)
        np.testing.assert_allclose(g, expected, rtol=rtol, atol=1e-7)


_RNG = np.random.default_rng(7)
_W = {}


def _weights(out):
    key = out.shape
    if key not in _W:
        _W[key] = _RNG.standard_normal(out.shape)
    return _W[key]


@pytest.mark.parametrize("kind", ["TimeLSTM", "TimeRNN", "TimeGRU"])
def test_time_recurrent_layers_write_their_gradients_in_place(kind):
    rng = np.random.default_rng(1)
    G = {"TimeLSTM": 4, "TimeRNN": 1, "TimeGRU": 3}[kind]
    D, H = 3, 4
    layer = getattr(TL, kind)(rng.standard_normal((D, G * H)), rng.standard_normal((H, G * H)),
                              rng.standard_normal(G * H), stateful=False)
    xs = rng.standard_normal((2, 5, D))
    _check_grads(layer, lambda: layer.forward(xs), lambda y: float(np.sum(_weights(y) * y)))


def test_embedding_affine_and_matmul_write_their_gradients_in_place():
    rng = np.random.default_rng(2)
    ids = np.array([[0, 3, 3], [1, 0, 3]])
    embed = TL.TimeEmbedding(rng.standard_normal((5, 4)))
    _check_grads(embed, lambda: embed.forward(ids), lambda y: float(np.sum(_weights(y) * y)))
    single = L.Embedding(rng.standard_normal((5, 4)))
    _check_grads(single, lambda: single.forward(ids[0]), lambda y: float(np.sum(_weights(y) * y)))
    xs = rng.standard_normal((2, 3, 4))
    affine = TL.TimeAffine(rng.standard_normal((4, 6)), rng.standard_normal(6))
    _check_grads(affine, lambda: affine.forward(xs), lambda y: float(np.sum(_weights(y) * y)))
    x = rng.standard_normal((3, 4))
    for layer in (L.MatMul(rng.standard_normal((4, 2))),
                  L.Affine(rng.standard_normal((4, 2)), rng.standard_normal(2))):
        _check_grads(layer, lambda: layer.forward(x), lambda y: float(np.sum(_weights(y) * y)))


def test_embedding_gradient_is_np_add_at_bit_for_bit():
    rng = np.random.default_rng(3)
    W = rng.standard_normal((50, 8)).astype("f")
    ids = rng.integers(0, 50, size=(20, 35))
    dout = rng.standard_normal((20, 35, 8)).astype("f")
    layer = TL.TimeEmbedding(W)
    layer.grads[0][...] = 9  # left over from an earlier step: must be zeroed
    layer.forward(ids)
    layer.backward(dout)
    expected = np.zeros_like(W)
    np.add.at(expected, ids.ravel(), dout.reshape(-1, 8))
    np.testing.assert_array_equal(layer.grads[0], expected)


def test_stateful_and_stateless_follow_the_sequel():
    rng = np.random.default_rng(4)
    args = (rng.standard_normal((2, 8)), rng.standard_normal((2, 8)), np.zeros(8))
    xs = rng.standard_normal((1, 3, 2))
    fresh = TL.TimeLSTM(*args, stateful=False).forward(xs)
    stateless = TL.TimeLSTM(*args, stateful=False)
    stateless.set_state(np.ones((1, 2)))  # ignored by a stateless layer, as the sequel's
    np.testing.assert_array_equal(stateless.forward(xs), fresh)
    stateful = TL.TimeLSTM(*args, stateful=True)
    first = stateful.forward(xs)
    np.testing.assert_array_equal(first, fresh)
    assert not np.allclose(stateful.forward(xs), fresh)  # carries on from h, c
    np.testing.assert_array_equal(stateful.h, stateful.layer.h)
    stateful.reset_state()
    np.testing.assert_array_equal(stateful.forward(xs), fresh)


def test_time_dropout_obeys_train_flg():
    layer = TL.TimeDropout(0.5)
    xs = np.ones((2, 3, 4))
    np.random.seed(0)
    ys = layer.forward(xs)
    assert set(np.unique(ys)) <= {0.0, 2.0}
    np.testing.assert_array_equal(layer.backward(np.ones_like(xs)), ys)
    layer.train_flg = False
    np.testing.assert_array_equal(layer.forward(xs), xs)


def test_time_softmax_with_loss_ignores_minus_one():
    rng = np.random.default_rng(5)
    xs = rng.standard_normal((2, 3, 4))
    ts = np.array([[0, 1, -1], [3, -1, 2]])
    layer = TL.TimeSoftmaxWithLoss()
    loss = layer.forward(xs, ts)
    y = np.exp(xs) / np.exp(xs).sum(axis=2, keepdims=True)
    keep = ts != -1
    expected = -np.log(y[keep, ts[keep]]).mean()
    assert loss == pytest.approx(expected, rel=1e-12)
    dx = layer.backward()
    onehot = np.zeros_like(y)
    onehot[keep, ts[keep]] = 1
    np.testing.assert_allclose(dx, (y - onehot) * keep[..., None] / keep.sum(), atol=1e-15)


# -- remove_duplicate and the trainers -------------------------------------------------
def test_remove_duplicate_merges_shared_and_tied_weights():
    W = np.arange(6.0).reshape(2, 3)
    other = np.ones((3, 2))
    params = [W, other, W, W.T, np.zeros(2)]
    grads = [np.full((2, 3), 1.0), np.full((3, 2), 5.0), np.full((2, 3), 2.0),
             np.arange(6.0).reshape(3, 2), np.zeros(2)]
    first = grads[0]
    p, g = TR.remove_duplicate(params, grads)
    assert len(p) == 3 and p[0] is W and p[1] is other
    assert g[0] is first  # added into in place, as the sequel's
    np.testing.assert_array_equal(g[0], 3.0 + np.arange(6.0).reshape(3, 2).T)
    assert len(params) == 5  # the model's own lists are left alone
    # a copy equal to the transpose counts as tied (the sequel's test is by value) ...
    p, g = TR.remove_duplicate([W, W.T.copy()], [np.zeros((2, 3)), np.ones((3, 2))])
    assert len(p) == 1 and g[0].sum() == 6
    # ... and a matrix of the transposed shape with other values does not
    p, g = TR.remove_duplicate([W, W.T + 1], [np.zeros((2, 3)), np.ones((3, 2))])
    assert len(p) == 2


def _dense_embedding_grad(shape, idx, dout):
    """The sequel's Embedding backward, written plainly: a zeroed array, np.add.at."""
    dW = np.zeros(shape)
    np.add.at(dW, idx, dout)
    return dW


def test_shared_embeddings_give_the_dense_gradients_step_after_step():
    # CBOW's way: several Embedding layers over one W, their gradients summed by
    # remove_duplicate. Backward zeroes only the rows it wrote before and the sum adds
    # the rows in use, so a row used at one step and not the next must come back to 0.
    rng = np.random.default_rng(3)
    W = rng.standard_normal((50, 4))
    layers = [L.Embedding(W) for _ in range(3)]
    params = [p for layer in layers for p in layer.params]
    grads = [g for layer in layers for g in layer.grads]
    for step in range(6):
        ids = [rng.integers(0, 50, size=7) for _ in layers]
        douts = [rng.standard_normal((7, 4)) for _ in layers]
        for layer, idx, dout in zip(layers, ids, douts):
            layer.forward(idx)
            layer.backward(dout)
            np.testing.assert_array_equal(layer.grads[0],
                                          _dense_embedding_grad(W.shape, idx, dout))
        p, g = TR.remove_duplicate(params, grads)
        assert len(p) == 1 and p[0] is W
        expected = sum(_dense_embedding_grad(W.shape, i, d) for i, d in zip(ids, douts))
        np.testing.assert_allclose(g[0], expected, rtol=1e-15, atol=1e-15)


def test_a_dense_sum_into_an_embedding_gradient_is_zeroed_whole_next_step():
    # Rnnlm ties its output matrix to the embedding as its transpose: remove_duplicate
    # adds a dense gradient into the embedding's, whose every row must then be cleared
    # by the next backward, not only the rows the embedding wrote.
    rng = np.random.default_rng(4)
    W = rng.standard_normal((6, 3))
    embed = L.Embedding(W)
    embed.forward(np.array([1, 2]))
    embed.backward(np.ones((2, 3)))
    dense = rng.standard_normal((3, 6))
    TR.remove_duplicate([W, W.T], [embed.grads[0], dense])
    np.testing.assert_allclose(embed.grads[0][[0, 3, 4, 5]], dense.T[[0, 3, 4, 5]])
    embed.forward(np.array([5]))
    embed.backward(np.full((1, 3), 2.0))
    np.testing.assert_array_equal(embed.grads[0], _dense_embedding_grad(W.shape, [5],
                                                                        np.full((1, 3), 2.0)))


def test_rnnlm_trainer_reads_evenly_spaced_streams(capsys):
    trainer = TR.RnnlmTrainer(None, None)
    trainer.time_idx = 3
    xs = np.arange(100)
    bx, bt = trainer.get_batch(xs, xs + 1000, batch_size=4, time_size=5)
    expected = np.array([[(i * 25 + 3 + t) % 100 for t in range(5)] for i in range(4)])
    np.testing.assert_array_equal(bx, expected)
    np.testing.assert_array_equal(bt, expected + 1000)
    assert bx.dtype == np.int32 and trainer.time_idx == 8


def test_a_tied_language_model_trains_with_the_rnnlm_trainer(capsys):
    rng = np.random.default_rng(6)
    V, D = 12, 6
    np.random.seed(0)
    embed_W = (np.random.randn(V, D) / 10).astype("f")

    class Tied:
        def __init__(self):
            self.layers = [TL.TimeEmbedding(embed_W),
                           TL.TimeLSTM((np.random.randn(D, 4 * D) / 3).astype("f"),
                                       (np.random.randn(D, 4 * D) / 3).astype("f"),
                                       np.zeros(4 * D, "f"), stateful=True),
                           TL.TimeAffine(embed_W.T, np.zeros(V, "f"))]
            self.loss_layer = TL.TimeSoftmaxWithLoss()
            self.params, self.grads = [], []
            for layer in self.layers:
                self.params += layer.params
                self.grads += layer.grads

        def forward(self, xs, ts):
            for layer in self.layers:
                xs = layer.forward(xs)
            return self.loss_layer.forward(xs, ts)

        def backward(self, dout=1):
            dout = self.loss_layer.backward(dout)
            for layer in reversed(self.layers):
                dout = layer.backward(dout)

    corpus = np.tile(np.arange(V), 30)  # a text that repeats: easy to learn
    model = Tied()
    trainer = TR.RnnlmTrainer(model, O.SGD(1.0))
    trainer.fit(corpus[:-1], corpus[1:], max_epoch=30, batch_size=2, time_size=6,
                max_grad=0.25, eval_interval=10)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| epoch 1 |  iter 1 / 29 | time ")
    assert lines[0].split("perplexity ")[1] == "%.2f" % trainer.ppl_list[0]
    assert trainer.ppl_list[-1] < 2.0 < trainer.ppl_list[0]
    assert model.layers[2].params[0].base is embed_W  # still tied after training


# -- optimizers ------------------------------------------------------------------------
def test_optimizers_update_lists_in_place_with_the_sequels_formulas():
    rng = np.random.default_rng(8)
    p0 = [rng.standard_normal((3, 2)), rng.standard_normal(4)]
    grads = [[rng.standard_normal(p.shape) for p in p0] for _ in range(3)]
    params = [p.copy() for p in p0]
    ids = [id(p) for p in params]
    adam = O.Adam(lr=0.01)
    m = [np.zeros_like(p) for p in p0]
    v = [np.zeros_like(p) for p in p0]
    expected = [p.copy() for p in p0]
    for it, g in enumerate(grads, start=1):
        adam.update(params, g)
        lr_t = 0.01 * np.sqrt(1 - 0.999 ** it) / (1 - 0.9 ** it)
        for k in range(2):
            m[k] = 0.9 * m[k] + 0.1 * g[k]
            v[k] = 0.999 * v[k] + 0.001 * g[k] ** 2
            expected[k] = expected[k] - lr_t * m[k] / (np.sqrt(v[k]) + 1e-7)
    assert [id(p) for p in params] == ids
    for got, want in zip(params, expected):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    nesterov = O.Nesterov(lr=0.1, momentum=0.9)
    params = [p.copy() for p in p0]
    nesterov.update(params, grads[0])
    nesterov.update(params, grads[1])
    v1 = -0.1 * grads[0][0]
    after1 = p0[0] + 0.81 * v1 - 1.9 * 0.1 * grads[0][0]
    v2 = 0.9 * v1 - 0.1 * grads[1][0]
    np.testing.assert_allclose(params[0], after1 + 0.81 * v2 - 1.9 * 0.1 * grads[1][0],
                               rtol=1e-12)


# -- util ------------------------------------------------------------------------------
def test_preprocess_and_the_counts_follow_the_sequels_loops():
    corpus, w2i, i2w = U.preprocess("You say goodbye and I say hello.")
    assert list(corpus) == [0, 1, 2, 3, 4, 1, 5, 6] and i2w[6] == "." and w2i["you"] == 0
    rng = np.random.default_rng(9)
    text = rng.integers(0, 6, size=40)
    for window in (1, 2, 3):
        C = U.create_co_matrix(text, 6, window)
        naive = np.zeros((6, 6), dtype=np.int32)
        for i, w in enumerate(text):
            for k in range(1, window + 1):
                if i - k >= 0:
                    naive[w, text[i - k]] += 1
                if i + k < len(text):
                    naive[w, text[i + k]] += 1
        np.testing.assert_array_equal(C, naive)
        assert C.dtype == np.int32
    C = U.create_co_matrix(text, 6, 2)
    N, S = C.sum(), C.sum(axis=0)
    naive = np.array([[max(0, np.log2(C[i, j] * N / (S[j] * S[i]) + 1e-8)) for j in range(6)]
                      for i in range(6)], dtype=np.float32)
    np.testing.assert_allclose(U.ppmi(C), naive, rtol=1e-6)
    contexts, target = U.create_contexts_target(np.arange(7), window_size=2)
    np.testing.assert_array_equal(contexts, [[0, 1, 3, 4], [1, 2, 4, 5], [2, 3, 5, 6]])
    np.testing.assert_array_equal(target, [2, 3, 4])
    one_hot = U.convert_one_hot(contexts, 7)
    assert one_hot.shape == (3, 4, 7) and one_hot.dtype == np.int32
    np.testing.assert_array_equal(one_hot.argmax(axis=2), contexts)


def test_ppmi_prints_the_sequels_progress(capsys):
    U.ppmi(np.ones((3, 4), dtype=np.int32), verbose=True)
    lines = capsys.readouterr().out.splitlines()
    # 12 cells, a line every 12 // 100 + 1 = 1 cell
    assert lines == ["%.1f%% done" % (100 * c / 12) for c in range(1, 13)]


def test_most_similar_and_analogy_print_the_sequels_lines(capsys):
    w2i = {"a": 0, "b": 1, "c": 2, "d": 3}
    i2w = {v: k for k, v in w2i.items()}
    M = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [-1.0, 0.0]])
    U.most_similar("a", w2i, i2w, M, top=2)
    U.most_similar("zzz", w2i, i2w, M)
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["", "[query] a"]
    assert out[2].startswith(" b: 0.99") and out[3].startswith(" c: 0")
    assert out[4] == "zzz is not found"
    assert U.cos_similarity(M[0], M[2]) == 0.0
    U.analogy("a", "b", "c", w2i, i2w, M.copy(), top=1)
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["", "[analogy] a:b = c:?"] and out[2].startswith(" d: ")


def test_eval_perplexity_and_eval_seq2seq(capsys):
    class Uniform:
        def forward(self, xs, ts, train_flg=True):
            assert not train_flg and xs.shape == (2, 3) and xs.dtype == np.int32
            np.testing.assert_array_equal((xs + 1) % 20, ts)
            return np.log(7.0)
    assert U.eval_perplexity(Uniform(), np.arange(20), batch_size=2, time_size=3) \
        == pytest.approx(7.0)
    assert capsys.readouterr().out.startswith("evaluating perplexity ...\n\r0 / 3")

    class Echo:
        def generate(self, xs, start_id, size):
            return list(xs.flatten()[:size])
    i2c = {0: "_", 1: "1", 2: "2"}
    assert U.eval_seq2seq(Echo(), np.array([[1, 2]]), np.array([[0, 1, 2]]), i2c,
                          verbose=True) == 1
    assert U.eval_seq2seq(Echo(), np.array([[2, 1]]), np.array([[0, 1, 2]]), i2c) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["Q 12", "T 12"] and out[2].endswith(" 12") and out[3] == "---"


# -- data ------------------------------------------------------------------------------
def test_sequence_reads_the_checkouts_file_with_the_sequels_vocabulary_and_split(checkout):
    from chainrule.book.sequel import dataset
    from chainrule.book.sequel.dataset import sequence
    old = dataset.folder
    dataset.folder = str(checkout["ch07/tiny_seq.py"].parent.parent / "dataset")
    sequence.reset()
    try:
        (x_train, t_train), (x_test, t_test) = sequence.load_data("addition.txt", seed=3)
        c2i, i2c = sequence.get_vocab()
        assert list(c2i)[:6] == ["1", "6", "+", "7", "5", " "]
        np.random.seed(3)
        order = np.random.permutation(12)  # the shuffle the seed gives
        rows = ["".join(i2c[int(c)] for c in row) for row in np.concatenate((x_train, x_test))]
        assert rows == [ADDITION[i].split("_")[0] for i in order]
        answers = ["".join(i2c[int(c)] for c in row) for row in t_train]
        assert answers[0] == "_" + ADDITION[order[0]].split("_")[1]
        assert len(x_test) == 1
        assert sequence.load_data("missing.txt") is None
    finally:
        dataset.folder = old
        sequence.reset()


def test_spiral_is_the_sequels_points():
    from chainrule.book.sequel.dataset import spiral
    x, t = spiral.load_data(seed=5)
    assert x.shape == (300, 2) and t.shape == (300, 3) and t.dtype == np.int32
    np.random.seed(5)
    for j in range(3):
        for i in range(100):
            r = i / 100
            theta = j * 4.0 + 4.0 * r + np.random.randn() * 0.2
            np.testing.assert_allclose(x[100 * j + i], [r * np.sin(theta), r * np.cos(theta)],
                                       rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(t.argmax(axis=1), np.repeat(np.arange(3), 100))


def test_ptb_reads_the_checkouts_files_or_says_it_uses_the_stand_in(tmp_path, capsys):
    paths = make_checkout(tmp_path / "with", {"ch02/show.py": """\
        import sys
        sys.path.append('..')
        from dataset import ptb
        corpus, word_to_id, id_to_word = ptb.load_data('train')
        test, _, _ = ptb.load_data('test')
        print(corpus.tolist(), test.tolist(), id_to_word[0], len(word_to_id))
    """}, ptb=True)
    assert run_script(paths["ch02/show.py"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == ["[0, 1, 2, 3, 4, 5, 2, 6, 0, 7, 3] [4, 1, 3] the 8"]
    assert captured.err == ""
    bare = make_checkout(tmp_path / "without", {"ch02/show.py": """\
        import sys
        sys.path.append('..')
        from dataset import ptb
        corpus, word_to_id, id_to_word = ptb.load_data('train')
        valid, _, _ = ptb.load_data('val')
        print(len(word_to_id) <= 10000, id_to_word[int(corpus[2])], valid.max() < len(word_to_id))
    """})
    assert run_script(bare["ch02/show.py"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == ["True <eos> True"]
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "stand-in" in err[0] and "Shakespeare" in err[0]


def test_the_stand_in_written_as_ptb_files_reads_back_the_same(tmp_path):
    from chainrule.book.sequel import dataset
    from chainrule.book.sequel.dataset import ptb
    old = dataset.folder
    try:
        dataset.folder = str(tmp_path / "nothing-here")
        ptb.reset()
        first = [ptb.load_data(kind) for kind in ("train", "valid", "test")]
        ptb.write_ptb_files(tmp_path)
        dataset.folder = str(tmp_path)
        ptb.reset()
        again = [ptb.load_data(kind) for kind in ("train", "valid", "test")]
    finally:
        dataset.folder = old
        ptb.reset()
    for (c1, w1, _), (c2, w2, _) in zip(first, again):
        np.testing.assert_array_equal(c1, c2)
        assert w1 == w2
