"""chainrule book import-weights: the book's weight pickles read without running them.

The pickles here are built in the structure of the book's ch07/params.pkl and
ch08/deep_convnet_params.pkl (dicts of float64 arrays W1, b1, ...) at small sizes, and
the book networks' inference is recomputed by a plain reference written below
(loops over filter offsets, the book's non-inverted dropout), not by chainrule's layers.
"""

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import chainrule
from chainrule.book import (UnsafePickleError, WeightFileError, import_weights,
                            network_from_weights, read_weight_pickle)


# -- a reference of the book's inference -------------------------------------------------
def ref_conv(x, W, b, pad):
    N, C, H, Wd = x.shape
    FN, _, FH, FW = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    OH, OW = H + 2 * pad - FH + 1, Wd + 2 * pad - FW + 1
    out = np.zeros((N, FN, OH, OW))
    for i in range(FH):
        for j in range(FW):
            patch = xp[:, :, i:i + OH, j:j + OW]  # (N, C, OH, OW)
            out += np.einsum("nchw,fc->nfhw", patch, W[:, :, i, j])
    return out + b.reshape(1, -1, 1, 1)


def ref_pool(x):
    N, C, H, W = x.shape
    x = x[:, :, :H // 2 * 2, :W // 2 * 2]
    return x.reshape(N, C, H // 2, 2, W // 2, 2).max(axis=(3, 5))


def relu(x):
    return np.maximum(x, 0)


def ref_simple(w, x):
    h = ref_pool(relu(ref_conv(x, w["W1"], w["b1"], 0)))
    h = relu(h.reshape(len(x), -1) @ w["W2"] + w["b2"])
    return h @ w["W3"] + w["b3"]


DEEP_PADS = (1, 1, 1, 2, 1, 1)


def ref_deep(w, x, p=0.5):
    h = x
    for i, pad in enumerate(DEEP_PADS, start=1):
        h = relu(ref_conv(h, w[f"W{i}"], w[f"b{i}"], pad))
        if i % 2 == 0:
            h = ref_pool(h)
    h = relu(h.reshape(len(x), -1) @ w["W7"] + w["b7"]) * (1 - p)  # the book's Dropout
    return (h @ w["W8"] + w["b8"]) * (1 - p)


def simple_weights(rng, C=1, FN=4, FS=3, size=10, hidden=6, out=3):
    pooled = (size - FS + 1) // 2
    return {"W1": 0.3 * rng.standard_normal((FN, C, FS, FS)), "b1": 0.1 * rng.standard_normal(FN),
            "W2": 0.3 * rng.standard_normal((FN * pooled * pooled, hidden)),
            "b2": 0.1 * rng.standard_normal(hidden),
            "W3": 0.3 * rng.standard_normal((hidden, out)), "b3": 0.1 * rng.standard_normal(out)}


def deep_weights(rng, filters=(2, 2, 3, 3, 4, 4), hidden=5, out=10):
    w, channels = {}, 1
    for i, fn in enumerate(filters, start=1):
        w[f"W{i}"] = np.sqrt(2 / (9 * channels)) * rng.standard_normal((fn, channels, 3, 3))
        w[f"b{i}"] = 0.05 * rng.standard_normal(fn)
        channels = fn
    w["W7"] = 0.3 * rng.standard_normal((channels * 4 * 4, hidden))  # 28x28 in, 4x4 left
    w["b7"] = 0.05 * rng.standard_normal(hidden)
    w["W8"] = 0.3 * rng.standard_normal((hidden, out))
    w["b8"] = 0.05 * rng.standard_normal(out)
    return w


def write_pickle(path, obj, protocol):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)
    return path


PROTOCOLS = list(range(2, pickle.HIGHEST_PROTOCOL + 1))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_reads_the_books_structure_in_every_protocol(tmp_path, protocol):
    w = simple_weights(np.random.default_rng(protocol))
    read = read_weight_pickle(write_pickle(tmp_path / "params.pkl", w, protocol))
    assert list(read) == list(w)
    for key in w:
        assert read[key].dtype == np.float64 and read[key].flags.writeable
        np.testing.assert_array_equal(read[key], w[key])


def test_reads_plain_data_and_numpy_scalars(tmp_path):
    obj = {"W1": np.ones((2, 2), dtype=np.float32), "names": ["a", "b"], "n": 3,
           "lr": np.float64(0.5), "shape": (1, 2), "none": None}
    assert read_weight_pickle(write_pickle(tmp_path / "x.pkl", obj, 2))["lr"] == 0.5


def test_simple_conv_scores_are_the_books(tmp_path):
    rng = np.random.default_rng(0)
    w = simple_weights(rng)
    net = import_weights(write_pickle(tmp_path / "params.pkl", w, 4), "simple-conv",
                         tmp_path / "simple.npz")
    assert net.config["input_dim"] == [1, 10, 10]
    x = rng.random((7, 1, 10, 10))
    expected = ref_simple(w, x)
    loaded = chainrule.load(tmp_path / "simple.npz")
    for model in (net, loaded):
        scores = model.predict(x)
        np.testing.assert_allclose(scores, expected, rtol=1e-10, atol=0)
        np.testing.assert_array_equal(scores.argmax(axis=1), expected.argmax(axis=1))


def test_deep_conv_scores_are_the_books_with_its_dropout_folded_in(tmp_path):
    rng = np.random.default_rng(1)
    w = deep_weights(rng)
    net = import_weights(write_pickle(tmp_path / "deep.pkl", w, 2), "deep-conv",
                         tmp_path / "deep.npz")
    assert net.config["input_dim"] == [1, 28, 28]
    assert net.config["conv_param_4"]["pad"] == 2 and net.config["hidden_size"] == 5
    x = rng.random((6, 1, 28, 28))
    expected = ref_deep(w, x)
    loaded = chainrule.load(tmp_path / "deep.npz")
    for model in (net, loaded):
        scores = model.predict(x, train_flg=False)
        np.testing.assert_allclose(scores, expected, rtol=1e-10, atol=0)
        np.testing.assert_array_equal(scores.argmax(axis=1), expected.argmax(axis=1))
    # Without the conversion the scores would be four times the book's (p = 0.5).
    assert not np.allclose(ref_deep(w, x, p=0.0), expected)


def test_other_dropout_ratios_convert_too():
    rng = np.random.default_rng(2)
    w = deep_weights(rng)
    net = network_from_weights(w, "deep-conv", dropout_ratio=0.3)
    x = rng.random((3, 1, 28, 28))
    np.testing.assert_allclose(net.predict(x), ref_deep(w, x, p=0.3), rtol=1e-10)


class Evil:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("func", ["system", "eval", "exec"])
def test_a_hostile_pickle_is_refused_and_nothing_runs(tmp_path, protocol, func):
    marker = tmp_path / "ran"
    evil = {"system": Evil(os.system, f"touch {marker}"),
            "eval": Evil(eval, f"open({str(marker)!r}, 'w').close()"),
            "exec": Evil(exec, f"open({str(marker)!r}, 'w').close()")}[func]
    w = simple_weights(np.random.default_rng(0))
    w["W2"] = evil  # among real arrays, as a trojan would hide
    path = write_pickle(tmp_path / "params.pkl", w, protocol)
    with pytest.raises(UnsafePickleError, match="refused without running anything"):
        read_weight_pickle(path)
    assert not marker.exists()
    # The file really is hostile: an ordinary unpickler runs it.
    with open(path, "rb") as f:
        pickle.load(f)
    assert marker.exists()


def test_command_line_refuses_a_hostile_file_and_writes_nothing(tmp_path):
    marker = tmp_path / "ran"
    path = write_pickle(tmp_path / "params.pkl", {"W1": Evil(os.system, f"touch {marker}")}, 4)
    out = tmp_path / "out.npz"
    run = subprocess.run([sys.executable, "-m", "chainrule", "book", "import-weights",
                          str(path), "--model", "simple-conv", "-o", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and ("posix.system" in lines[0] or "os.system" in lines[0])
    assert lines[0].startswith("chainrule: error: refused ")
    assert not out.exists() and not marker.exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".out.npz")]


def test_command_line_imports_the_weights(tmp_path):
    w = simple_weights(np.random.default_rng(3), size=12)
    path = write_pickle(tmp_path / "params.pkl", w, 4)
    out = tmp_path / "simple.npz"
    run = subprocess.run([sys.executable, "-m", "chainrule", "book", "import-weights",
                          str(path), "--model", "simple-conv", "-o", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "SimpleConvNet (1, 12, 12) -> 3 classes" in run.stdout
    x = np.random.default_rng(4).random((2, 1, 12, 12))
    np.testing.assert_allclose(chainrule.load(out).predict(x), ref_simple(w, x), rtol=1e-10)


def test_object_arrays_and_other_shapes_of_data_are_refused(tmp_path):
    obj_array = np.array([1, "two"], dtype=object)
    with pytest.raises(WeightFileError, match="array of object"):
        read_weight_pickle(write_pickle(tmp_path / "o.pkl", {"W1": obj_array}, 2))
    with pytest.raises(WeightFileError, match="holds a list"):
        read_weight_pickle(write_pickle(tmp_path / "l.pkl", [np.ones(2)], 4))
    (tmp_path / "cut.pkl").write_bytes(pickle.dumps({"W1": np.ones(50)}, protocol=4)[:60])
    with pytest.raises(WeightFileError, match="not a readable pickle"):
        read_weight_pickle(tmp_path / "cut.pkl")


def test_weights_that_do_not_fit_the_model_are_named(tmp_path):
    rng = np.random.default_rng(5)
    w = simple_weights(rng)
    with pytest.raises(WeightFileError, match="missing W4, b4"):
        network_from_weights(w, "deep-conv")
    bad = dict(w, b2=np.zeros(7))
    with pytest.raises(WeightFileError, match=r"b2 has shape \(7,\)"):
        network_from_weights(bad, "simple-conv")
    nan = dict(w, W3=np.full_like(w["W3"], np.nan))
    with pytest.raises(WeightFileError, match="W3 holds NaN"):
        network_from_weights(nan, "simple-conv")
    deep = deep_weights(rng)
    deep["W3"] = deep["W3"][:, :1]
    with pytest.raises(WeightFileError, match="W3 takes 1 channels but W2 makes 2"):
        network_from_weights(deep, "deep-conv")
    out = tmp_path / "never.npz"
    with pytest.raises(WeightFileError):
        import_weights(write_pickle(tmp_path / "w.pkl", bad, 4), "simple-conv", out)
    assert not out.exists()


def test_command_line_names_a_missing_file_in_one_line(tmp_path):
    run = subprocess.run([sys.executable, "-m", "chainrule", "book", "import-weights",
                          str(tmp_path / "none.pkl"), "--model", "deep-conv", "-o",
                          str(tmp_path / "out.npz")], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        f"chainrule: error: {tmp_path / 'none.pkl'}: No such file or directory"]


def test_every_book_option_is_explained():
    import argparse
    from chainrule import cli
    parser = cli.make_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    book = sub.choices["book"]
    actions = next(a for a in book._actions if isinstance(a, argparse._SubParsersAction))
    for name in ("run", "import-weights"):
        for action in actions.choices[name]._actions:
            if action.help == argparse.SUPPRESS:
                continue
            assert action.help and len(action.help) > 10, (name, action.dest)
