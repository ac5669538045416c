"""One rule for every file the command writes: an existing file is replaced only with
--overwrite (cli.outputs.replacing). Each refusal is checked as a user meets it: the
command run in a subprocess, status 2, the message, no traceback, the file unchanged."""

import pickle

import numpy as np
import pytest
from no_traceback import run

from chainrule import models
from chainrule.checkpoint import load_checkpoint, save


@pytest.fixture
def folder(tmp_path):
    """A folder holding a trained model (m.npz) and a file of text (old.txt)."""
    save(models.TwoLayerNet(784, 5, 10, rng=0), tmp_path / "m.npz")
    return tmp_path


def refused(folder, name, message, *argv):
    """The command refuses with status 2 and `message`; the file `name` is unchanged."""
    before = (folder / name).read_bytes()
    code, out, err = run(*argv, cwd=folder)
    assert code == 2, err
    assert message in err, err
    assert "--overwrite" in err, err
    assert (folder / name).read_bytes() == before
    return err


TRAIN = ("train", "--iters", "2", "--dataset", "mnist-10k", "-q", "--seed", "0")


def test_best_checkpoint_onto_an_existing_model_is_refused(folder):
    refused(folder, "m.npz", "--best-checkpoint m.npz exists (a saved model) and would be "
            "replaced", *TRAIN, "--best-checkpoint", "m.npz")


def test_a_new_run_does_not_truncate_an_existing_metrics_file(folder):
    (folder / "log.jsonl").write_text('{"epoch": 1}\n')
    refused(folder, "log.jsonl", "--metrics log.jsonl exists and would be replaced",
            *TRAIN, "--metrics", "log.jsonl")
    code, _, err = run(*TRAIN, "--metrics", "log.jsonl", "--overwrite", cwd=folder)
    assert code == 0, err
    assert '"epoch": 1}' not in (folder / "log.jsonl").read_text()


def test_a_new_run_does_not_replace_an_existing_plot(folder):
    pytest.importorskip("matplotlib")
    (folder / "c.png").write_bytes(b"an old picture")
    refused(folder, "c.png", "--plot c.png exists", *TRAIN, "--plot", "c.png")


def test_a_second_run_without_save_keeps_the_file_the_first_ctrl_c_saved(folder):
    (folder / "chainrule-interrupted.npz").write_bytes((folder / "m.npz").read_bytes())
    err = refused(folder, "chainrule-interrupted.npz",
                  "chainrule-interrupted.npz exists (a saved model) and a new run's Ctrl-C "
                  "would replace it", *TRAIN)
    assert "--resume chainrule-interrupted.npz" in err and "--save FILE" in err
    code, _, err = run(*TRAIN, "--save", "new.npz", cwd=folder)  # a file of its own: fine
    assert code == 0, err


def test_a_resumed_run_saving_elsewhere_does_not_replace_that_file(folder):
    code, _, err = run(*TRAIN, "--save", "run.npz", cwd=folder)
    assert code == 0, err
    refused(folder, "m.npz", "--save m.npz exists (a saved model)", "train", "--resume",
            "run.npz", "--save", "m.npz", "--iters", "4", "-q")
    # Continuing a run in its own file is what --resume is for.
    code, _, err = run("train", "--resume", "run.npz", "--iters", "4", "-q", cwd=folder)
    assert code == 0, err
    assert load_checkpoint(folder / "run.npz").training["iteration"] == 4


def test_plot_output_is_not_replaced(folder):
    pytest.importorskip("matplotlib")
    (folder / "w.png").write_bytes(b"an old picture")
    refused(folder, "w.png", "-o w.png exists and would be replaced", "plot", "weights",
            "m.npz", "-o", "w.png")
    code, _, err = run("plot", "weights", "m.npz", "-o", "w.png", "--overwrite", cwd=folder)
    assert code == 0, err
    assert (folder / "w.png").read_bytes()[:4] == b"\x89PNG"


def test_graph_output_is_not_replaced(folder):
    (folder / "g.dot").write_text("an old graph")
    refused(folder, "g.dot", "-o g.dot exists and would be replaced", "graph", "apple",
            "-o", "g.dot")
    code, _, err = run("graph", "apple", "-o", "g.dot", "--overwrite", cwd=folder)
    assert code == 0, err
    assert "digraph" in (folder / "g.dot").read_text()


def test_import_weights_does_not_replace_an_existing_model(folder):
    rng = np.random.default_rng(0)
    weights = {"W1": rng.standard_normal((30, 1, 5, 5)), "b1": np.zeros(30),
               "W2": rng.standard_normal((30 * 12 * 12, 100)), "b2": np.zeros(100),
               "W3": rng.standard_normal((100, 10)), "b3": np.zeros(10)}
    with open(folder / "params.pkl", "wb") as f:
        pickle.dump(weights, f, protocol=4)
    argv = ("book", "import-weights", "params.pkl", "--model", "simple-conv", "-o", "m.npz")
    refused(folder, "m.npz", "-o m.npz exists (a saved model) and would be replaced", *argv)
    code, _, err = run(*argv, "--overwrite", cwd=folder)
    assert code == 0, err
    assert load_checkpoint(folder / "m.npz").model.params["W1"].shape == (30, 1, 5, 5)


def test_book_run_does_not_replace_the_figures_of_an_earlier_run(folder):
    pytest.importorskip("matplotlib")
    (folder / "ch06").mkdir()
    (folder / "ch06" / "draw.py").write_text(
        "import matplotlib.pyplot as plt\nplt.plot([0, 1])\nplt.show()\n")
    (folder / "ch06" / "draw-1.png").write_bytes(b"an old figure")
    refused(folder, "ch06/draw-1.png", "draw-1.png exists (a figure of an earlier run)",
            "book", "run", "--figures", "save", "ch06/draw.py")
    code, _, err = run("book", "run", "--figures", "save", "--overwrite", "ch06/draw.py",
                       cwd=folder)
    assert code == 0, err
    assert (folder / "ch06" / "draw-1.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv", [("plot", "weights", "m.npz", "-o", "."),
                                  ("graph", "apple", "-o", ".")])
def test_a_folder_as_output_is_named_a_folder(folder, argv):
    code, _, err = run(*argv, cwd=folder)
    assert code == 2 and "-o . is a folder, not a file" in err, err
    assert "no extension" not in err
