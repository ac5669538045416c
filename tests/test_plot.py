"""Pictures (chainrule.plot): the numbers behind each figure, and that each figure is saved.

The computations (history reading, weight tiles, activations, confusion matrix, worst
mistakes) are checked by value; the drawings are checked for being real PNG files
written whole, since a picture's look is checked by eye, not by a test.
"""

import contextlib
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from chainrule import plot
from chainrule.models import TwoLayerNet

PNG = b"\x89PNG\r\n\x1a\n"

try:
    import matplotlib  # noqa: F401
    HAVE_MATPLOTLIB = True
except ImportError:
    HAVE_MATPLOTLIB = False
needs_matplotlib = pytest.mark.skipif(not HAVE_MATPLOTLIB,
                                      reason="matplotlib is not installed (chainrule[plot])")


def is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == PNG


def no_temporaries(directory):
    return [n for n in os.listdir(directory) if n.endswith(".tmp")]


# -- history ----------------------------------------------------------------------------
def test_history_from_a_dict_and_from_a_trainer():
    h = plot.load_history({"loss": [2.3, 1.0, 0.5], "train_acc": [0.5, 0.8],
                           "test_acc": [0.4, 0.7]})
    assert h["loss"] == [2.3, 1.0, 0.5] and h["loss_iteration"] == [1, 2, 3]
    assert h["epoch"] == [1, 2] and h["test_acc"] == [0.4, 0.7]
    assert h["loss_per"] == "iteration"

    class FakeTrainer:
        train_loss_list = [1.0, 0.9]
        train_acc_list = [0.6]
        test_acc_list = [0.55]

    h = plot.load_history(FakeTrainer())
    assert h["loss"] == [1.0, 0.9] and h["train_acc"] == [0.6] and h["test_acc"] == [0.55]


def write_metrics(path, records):
    with open(path, "w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec) + "\n")
        f.write("\n")  # a trailing blank line is fine
    return path


RECORDS = [
    {"epoch": 1, "iteration": 60, "loss": 0.9, "train_acc": 0.81, "test_acc": 0.8, "elapsed": 1.0},
    {"epoch": 2, "iteration": 120, "loss": 0.4, "train_acc": 0.9, "test_acc": 0.88, "elapsed": 2.0},
    {"epoch": 3, "iteration": 180, "loss": None, "train_acc": 0.93, "test_acc": 0.9, "elapsed": 3.1},
]


def test_history_from_metrics_jsonl(tmp_path):
    h = plot.load_history(write_metrics(tmp_path / "m.jsonl", RECORDS))
    assert h["epoch"] == [1, 2, 3] and h["train_acc"] == [0.81, 0.9, 0.93]
    assert h["loss"] == [0.9, 0.4] and h["loss_iteration"] == [60, 120]  # None skipped
    assert h["loss_per"] == "epoch"


def test_bad_metrics_lines_are_reported_with_their_number(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"epoch": 1, "loss": 1.0}\n{oops\n', encoding="utf-8")
    with pytest.raises(ValueError, match="line 2"):
        plot.load_history(str(path))
    path.write_text("[1, 2]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="JSON object"):
        plot.load_history(str(path))
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no metrics"):
        plot.load_history(str(path))


# -- weights ----------------------------------------------------------------------------
def test_weight_tiles_of_an_affine_layer_are_its_columns():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((784, 5))
    tiles = plot.weight_tiles(W)
    assert tiles.shape == (5, 28, 28)
    column = W[:, 3].reshape(28, 28)
    expected = (column - column.min()) / (column.max() - column.min())
    np.testing.assert_allclose(tiles[3], expected)
    assert tiles.min() == 0.0 and tiles.max() == 1.0


def test_weight_tiles_of_conv_filters_and_bad_shapes():
    rng = np.random.default_rng(0)
    assert plot.weight_tiles(rng.standard_normal((6, 1, 5, 5))).shape == (6, 5, 5)
    assert plot.weight_tiles(rng.standard_normal((4, 3, 5, 5))).shape == (4, 5, 5, 3)
    constant = plot.weight_tiles(np.ones((2, 1, 3, 3)))
    assert np.all(constant == 0.5)   # no pattern: mid-grey, not a division by zero
    with pytest.raises(ValueError, match="image_shape"):
        plot.weight_tiles(rng.standard_normal((100, 3))[:99])
    assert plot.weight_tiles(rng.standard_normal((12, 2)), image_shape=(3, 4)).shape == (2, 3, 4)
    net = TwoLayerNet(784, 7, 10, rng=0)
    assert plot.weight_tiles(net).shape == (7, 28, 28)


# -- activations (chapter 6) ------------------------------------------------------------
def saturated(a):
    return float(np.mean((a < 0.1) | (a > 0.9)))


def test_init_activations_show_the_books_findings():
    big = plot.init_activations("sigmoid", 1.0, rng=0)
    assert len(big) == 5 and big[0].shape == (1000, 100)
    assert saturated(big[4]) > 0.5              # std 1: sigmoid outputs pile at 0 and 1
    tiny = plot.init_activations("sigmoid", 0.01, rng=0)
    assert np.all(np.abs(tiny[4] - 0.5) < 0.05)  # std 0.01: every unit says 0.5
    xavier = plot.init_activations("sigmoid", "xavier", rng=0)
    assert saturated(xavier[4]) < 0.1 and xavier[4].std() > 0.05
    he = plot.init_activations("relu", "he", rng=0)
    ratio = he[4].std() / he[0].std()
    assert 0.5 < ratio < 2.0                    # He keeps ReLU activations' scale
    relu_xavier = plot.init_activations("relu", "xavier", rng=0)
    assert relu_xavier[4].std() / relu_xavier[0].std() < 0.5  # Xavier shrinks them
    with pytest.raises(ValueError):
        plot.init_activations("softplus", 1.0)
    with pytest.raises(ValueError):
        plot.init_activations("relu", "lecun")


# -- confusion and mistakes -------------------------------------------------------------
def test_confusion_matrix_counts():
    m = plot.confusion_matrix([0, 1, 2, 2, 1], [0, 2, 2, 2, 1], 3)
    np.testing.assert_array_equal(m, [[1, 0, 0], [0, 1, 1], [0, 0, 2]])
    one_hot = np.eye(3)[[0, 1, 2, 2, 1]]
    np.testing.assert_array_equal(plot.confusion_matrix(one_hot, [0, 2, 2, 2, 1]), m)
    with pytest.raises(ValueError):
        plot.confusion_matrix([0, 1], [0, 1, 1])


def test_most_confident_mistakes_surest_first():
    p = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4], [0.05, 0.95]])
    t = np.array([0, 0, 0, 1, 1])
    mistakes = plot.most_confident_mistakes(p, t, k=2)
    assert [m["index"] for m in mistakes] == [1, 2]
    assert mistakes[0] == {"index": 1, "true": 0, "predicted": 1, "confidence": 0.8}
    assert [m["index"] for m in plot.most_confident_mistakes(p, t)] == [1, 2, 3]
    assert plot.most_confident_mistakes(p, [0, 1, 1, 0, 1]) == []


def test_predict_probabilities_rows_sum_to_one():
    net = TwoLayerNet(16, 8, 3, rng=0)
    x = np.random.default_rng(1).standard_normal((1201, 16))
    p = plot.predict_probabilities(net, x, batch_size=500)
    assert p.shape == (1201, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)


# -- the pictures -----------------------------------------------------------------------
@needs_matplotlib
def test_every_picture_is_a_png_written_whole(tmp_path):
    rng = np.random.default_rng(0)
    net = TwoLayerNet(784, 6, 10, rng=0, weight_init_std=1.0)
    x = rng.random((40, 784))
    t = rng.integers(0, 10, 40)
    paths = [
        plot.plot_curves({"loss": list(np.linspace(2, 0.1, 120)), "train_acc": [0.5, 0.9],
                          "test_acc": [0.4, 0.8]}, tmp_path / "curves.png", title="run"),
        plot.plot_weights(net, tmp_path / "weights.png"),
        plot.plot_activations(tmp_path / "act.png", configs=[("relu", "he")], num_layers=2),
        plot.plot_confusion(net, x, t, tmp_path / "confusion.png"),
        plot.plot_mistakes(net, x, t, tmp_path / "mistakes.png", k=5),
    ]
    for name, path in zip(["curves", "weights", "act", "confusion", "mistakes"], paths):
        assert path == str(tmp_path / (name + ".png"))
        assert is_png(path) and os.path.getsize(path) > 2000
    assert not no_temporaries(tmp_path)


@needs_matplotlib
def test_svg_by_file_name_and_no_pyplot_state(tmp_path):
    # A fresh interpreter: the figures never go through pyplot, so a user's interactive
    # session (its backend, its open figures) is left alone.
    script = ("import sys; from chainrule import plot; "
              f"p = plot.plot_curves({{'loss': [1.0, 0.5]}}, {str(tmp_path / 'c.svg')!r}); "
              "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert "<svg" in (tmp_path / "c.svg").read_text(encoding="utf-8")


@needs_matplotlib
def test_empty_history_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no loss"):
        plot.plot_curves({"loss": []}, tmp_path / "c.png")
    assert not os.listdir(tmp_path)


def test_missing_matplotlib_says_what_to_install(tmp_path, monkeypatch):
    # None in sys.modules makes `import` fail as if the package were not installed.
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.raises(plot.MissingDependencyError, match=r"pip install 'chainrule\[plot\]'"):
        plot.plot_curves({"loss": [1.0]}, tmp_path / "c.png")
    assert isinstance(plot.MissingDependencyError("x"), ImportError)
    # The computations need no matplotlib.
    assert plot.confusion_matrix([0, 1], [1, 1]).sum() == 2


# -- the command line --------------------------------------------------------------------
def run_cli(*argv):
    from chainrule import cli
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    return code, out.getvalue(), err.getvalue()


@needs_matplotlib
def test_cli_plot_curves_and_activations(tmp_path):
    metrics = write_metrics(tmp_path / "m.jsonl", RECORDS)
    code, _, err = run_cli("plot", "curves", str(metrics), "-o", str(tmp_path / "c.png"))
    assert code == 0 and is_png(tmp_path / "c.png") and "wrote" in err
    code, _, err = run_cli("plot", "curves", str(tmp_path / "none.jsonl"), "-o",
                           str(tmp_path / "x.png"))
    assert code == 2 and "no such file" in err and not (tmp_path / "x.png").exists()


@needs_matplotlib
def test_cli_plot_from_a_checkpoint(tmp_path):
    from chainrule import checkpoint
    from chainrule import datasets
    model = tmp_path / "m.npz"
    checkpoint.save(TwoLayerNet(784, 9, 10, rng=0), model)
    code, _, _ = run_cli("plot", "weights", str(model), "-o", str(tmp_path / "w.png"))
    assert code == 0 and is_png(tmp_path / "w.png")
    if not hasattr(datasets, "load_dataset"):
        pytest.skip("no load_dataset in this version")
    for kind in ("confusion", "mistakes"):
        code, _, err = run_cli("plot", kind, str(model), "--limit", "100", "-o",
                               str(tmp_path / f"{kind}.png"))
        assert code == 0, err
        assert is_png(tmp_path / f"{kind}.png")
    code, _, err = run_cli("plot", "confusion", str(tmp_path / "missing.npz"), "-o",
                           str(tmp_path / "z.png"))
    assert code == 2 and "missing.npz" in err
