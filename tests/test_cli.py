"""The `chainrule` command: train (reproducible, interruptible, resumable), evaluate,
predict and gradcheck, run in-process where possible and as `python -m chainrule` where
the process itself matters (signals, exit codes)."""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

from chainrule import cli, load_dataset, models
from chainrule.checkpoint import load_checkpoint, save
from chainrule.callbacks import EpochCheckpoint
from chainrule.trainer import Trainer
from stopping import stopped_run

ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1", PYTHONUNBUFFERED="1")


def chainrule_process(*args, cwd, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "chainrule", *args], cwd=cwd, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **kwargs)


def run_chainrule(*args, cwd, timeout=120):
    proc = chainrule_process(*args, cwd=cwd)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def npz_arrays(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files if k != "__chainrule__"}


def without_elapsed(records):
    return [{k: v for k, v in r.items() if k != "elapsed"} for r in records]


def assert_same_checkpoint(a, b):
    arrays_a, arrays_b = npz_arrays(a), npz_arrays(b)
    assert sorted(arrays_a) == sorted(arrays_b)
    for key in arrays_a:
        assert arrays_a[key].dtype == arrays_b[key].dtype
        assert np.array_equal(arrays_a[key], arrays_b[key]), f"{key} differs"
    ta, tb = load_checkpoint(a).training, load_checkpoint(b).training
    assert ta["train_loss_list"] == tb["train_loss_list"]
    assert without_elapsed(ta["history"]) == without_elapsed(tb["history"])


def metrics_lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def digits():
    return load_dataset("mnist-10k")


@pytest.fixture(scope="module")
def trained(digits, tmp_path_factory):
    """A TwoLayerNet trained for 600 steps on the bundled digits, saved as the command
    line would (with the data set recorded)."""
    (x, t), (xt, tt) = digits
    net = models.TwoLayerNet(784, 50, 10, dtype="float32", rng=0)
    path = tmp_path_factory.mktemp("model") / "digits.npz"
    trainer = Trainer(net, x, t, xt, tt, iters=600, optimizer_param={"lr": 0.1}, seed=0,
                      verbose=False, callbacks=[EpochCheckpoint(path)])
    trainer.run_info = {"dataset": "mnist-10k"}
    trainer.train()
    return net, path


# -- help and entry points -------------------------------------------------------------
def _subparser(name):
    parser = cli.make_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


@pytest.mark.parametrize("command", ["train", "evaluate", "predict", "gradcheck"])
def test_every_option_is_explained(command):
    for action in _subparser(command)._actions:
        if action.help == argparse.SUPPRESS:
            continue
        assert action.help and len(action.help) > 10, action.option_strings or action.dest


def test_train_has_the_promised_flags():
    flags = {s for a in _subparser("train")._actions for s in a.option_strings}
    for flag in ("--model", "--hidden", "--dataset", "--optimizer", "--lr", "--momentum",
                 "--beta1", "--beta2", "--decay-rate", "--batch-size", "--epochs", "--iters",
                 "--seed", "--dtype", "--save", "--metrics", "--plot", "--resume", "--quiet"):
        assert flag in flags


def test_python_dash_m_is_the_command(tmp_path):
    code, out, _ = run_chainrule("train", "--help", cwd=tmp_path)
    assert code == 0 and "--resume FILE" in out and "--metrics FILE" in out
    script = shutil.which("chainrule")
    if script:
        direct = subprocess.run([script, "train", "--help"], capture_output=True, text=True,
                                env=ENV)
        assert direct.returncode == 0 and direct.stdout == out


# -- train -----------------------------------------------------------------------------
def test_same_seed_gives_the_same_run(tmp_path):
    common = ["train", "--iters", "160", "--seed", "5", "--dataset", "mnist-10k", "--quiet"]
    runs = [chainrule_process(*common, "--save", f"{name}.npz", "--metrics", f"{name}.jsonl",
                              cwd=tmp_path) for name in ("a", "b")]
    other = chainrule_process(*common[:4], "6", *common[5:], "--save", "c.npz", cwd=tmp_path)
    for proc in runs + [other]:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert_same_checkpoint(tmp_path / "a.npz", tmp_path / "b.npz")
    lines_a, lines_b = metrics_lines(tmp_path / "a.jsonl"), metrics_lines(tmp_path / "b.jsonl")
    assert len(lines_a) == 3  # before training and after each of 2 epochs of 80 steps
    assert without_elapsed(lines_a) == without_elapsed(lines_b)
    assert not np.array_equal(npz_arrays(tmp_path / "a.npz")["param/W1"],
                              npz_arrays(tmp_path / "c.npz")["param/W1"])


def test_train_writes_everything_it_says(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    plot = ["--plot", "curves.png"]
    code = cli.main(["train", "--iters", "100", "--seed", "1", "--dataset", "mnist-10k",
                     "--optimizer", "adam", "--lr", "0.002", "--batch-size", "50",
                     "--hidden", "20", "--dtype", "float64", "--save", "m.npz",
                     "--metrics", "m.jsonl", *plot])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "saved the model and training state to m.npz" in err
    assert "wrote metrics to m.jsonl" in err
    lines = metrics_lines("m.jsonl")
    assert [r["iteration"] for r in lines] == [0, 100]  # 160 steps per epoch: one partial
    assert re.search(r"final: train_acc [\d.]+  test_acc " + f"{lines[-1]['test_acc']:.4f}", out)
    ck = load_checkpoint("m.npz")
    assert ck.model.params["W1"].shape == (784, 20)
    assert ck.model.params["W1"].dtype == np.float64
    assert type(ck.make_optimizer()).__name__ == "Adam" and ck.make_optimizer().lr == 0.002
    assert ck.training["batch_size"] == 50 and ck.training["seed"] == 1
    assert ck.training["run"] == {"dataset": "mnist-10k"}
    assert "plotted the training curves to curves.png" in err
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_ctrl_c_saves_and_resume_ends_like_an_unbroken_run(tmp_path):
    # 300 hidden units make each epoch last long enough (about half a second) for
    # the signal to arrive well before the end of the run.
    common = ["train", "--iters", "400", "--seed", "3", "--hidden", "300",
              "--dataset", "mnist-10k"]
    unbroken = chainrule_process(*common, "--save", "full.npz", "--metrics", "full.jsonl",
                                 "--quiet", cwd=tmp_path)
    proc = chainrule_process(*common, "--save", "stopped.npz", "--metrics", "stopped.jsonl",
                             cwd=tmp_path)
    printed = []
    for line in proc.stdout:
        printed.append(line)
        if line.startswith("epoch   1"):
            proc.send_signal(signal.SIGINT)
            break
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (printed, out, err)
    match = re.search(r"interrupted at iteration (\d+) of 400; state saved to stopped.npz", err)
    assert match, err
    assert "--resume stopped.npz" in err
    stopped_at = int(match.group(1))
    assert 80 <= stopped_at < 400
    assert load_checkpoint(tmp_path / "stopped.npz").training["iteration"] == stopped_at

    code, out, err = run_chainrule("train", "--resume", "stopped.npz", "--metrics",
                                   "stopped.jsonl", cwd=tmp_path)
    assert code == 0, err
    assert f"resuming stopped.npz at iteration {stopped_at} of 400" in err
    assert unbroken.wait(timeout=120) == 0, unbroken.stderr.read()
    assert_same_checkpoint(tmp_path / "full.npz", tmp_path / "stopped.npz")
    assert without_elapsed(metrics_lines(tmp_path / "full.jsonl")) == \
        without_elapsed(metrics_lines(tmp_path / "stopped.jsonl"))


def test_resume_keeps_the_saved_set_up(digits, tmp_path, monkeypatch, capsys):
    from chainrule.trainer import TrainingInterrupted
    monkeypatch.chdir(tmp_path)
    (x, t), (xt, tt) = digits
    trainer = Trainer(models.TwoLayerNet(784, 50, 10, dtype="float32", rng=0), x, t, xt, tt,
                      iters=30, mini_batch_size=40, optimizer="Momentum",
                      optimizer_param={"lr": 0.01}, seed=2, verbose=False,
                      callbacks=[EpochCheckpoint("run.npz")])
    trainer.run_info = {"dataset": "mnist-10k"}

    class StopAt15:
        def on_iteration_end(self, iteration, loss):
            if iteration == 15:
                trainer.request_stop()

    trainer.callbacks.append(StopAt15())
    with pytest.raises(TrainingInterrupted):
        trainer.train()
    code = cli.main(["train", "--resume", "run.npz", "--lr", "0.5", "--batch-size", "10",
                     "--optimizer", "adam"])
    err = capsys.readouterr().err
    assert code == 0, err
    # (--epochs and --iters are not ignored: they continue the run to a new total,
    # tested in test_callbacks.py)
    assert "ignoring --optimizer adam --lr 0.5 --batch-size 10" in err
    assert "resuming run.npz at iteration 15 of 30" in err
    ck = load_checkpoint("run.npz")  # --resume keeps saving to the file it came from
    assert ck.training["iteration"] == 30
    assert ck.training["batch_size"] == 40 and ck.training["max_iter"] == 30
    optimizer = ck.make_optimizer()
    assert type(optimizer).__name__ == "Momentum" and optimizer.lr == 0.01


def test_cosine_schedule_from_the_command_line_resumes_exactly(tmp_path, monkeypatch,
                                                               capsys):
    """--lr-schedule is part of the saved run: --resume continues it without being told,
    and the resumed run ends with the unbroken run's weights."""
    monkeypatch.chdir(tmp_path)
    common = ["train", "--dataset", "mnist-10k", "--iters", "40", "--seed", "3",
              "--hidden", "20", "--lr-schedule", "cosine", "--quiet"]
    assert cli.main(common + ["--save", "full.npz"]) == 0
    full = load_checkpoint("full.npz")
    assert full.training["lr_schedule"] == "cosine" and full.training["base_lr"] == 0.1
    assert full.make_optimizer().lr < 0.001  # the last step's rate, near the end of the cosine

    assert stopped_run(common + ["--save", "part.npz"], 25) == 130
    assert load_checkpoint("part.npz").training["iteration"] == 25
    assert cli.main(["train", "--resume", "part.npz", "--quiet"]) == 0
    assert_same_checkpoint("full.npz", "part.npz")
    capsys.readouterr()


def test_divergence_exit_code_and_message(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = cli.main(["train", "--iters", "200", "--lr", "1e6", "--seed", "0",
                     "--dataset", "mnist-10k", "--save", "d.npz", "--quiet"])
    err = capsys.readouterr().err
    assert code == 3
    assert re.search(r"diverged at iteration \d+: .*Try a smaller learning rate", err), err
    if os.path.exists("d.npz"):  # only if an epoch ended before: then it must be sound
        assert all(np.isfinite(v).all() for v in load_checkpoint("d.npz").model.params.values())


@pytest.mark.parametrize("argv,message", [
    (["--batch-size", "0"], "must be at least 1"),
    (["--epochs", "-2"], "must be at least 1"),
    (["--lr", "-0.1"], "positive"),
    (["--momentum", "1.5"], "[0, 1)"),
    (["--seed", "-1"], "negative"),
    (["--epochs", "2", "--iters", "5"], "not allowed with"),
])
def test_bad_train_options_are_refused_by_the_parser(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["train", *argv])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_problems_found_before_training(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", "--save", "no/such/dir/m.npz", "--dataset", "mnist-10k"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["train", "--resume", "missing.npz"]) == 2
    assert "missing.npz: no such file" in capsys.readouterr().err
    save(models.TwoLayerNet(784, 5, 10), "model-only.npz")
    assert cli.main(["train", "--resume", "model-only.npz"]) == 2
    assert "no training state" in capsys.readouterr().err
    assert cli.main(["train", "--hidden", "5", "6", "--dataset", "mnist-10k"]) == 2
    assert "--model two-layer takes one --hidden size, got 2" in capsys.readouterr().err


# -- evaluate --------------------------------------------------------------------------
def test_evaluate_figures_are_right(trained, digits, capsys):
    net, path = trained
    (_, _), (xt, tt) = digits
    assert cli.main(["evaluate", str(path), "--dataset", "mnist-10k", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    predicted = net.predict(xt).argmax(axis=1)
    assert report["samples"] == len(tt) == 2000
    assert report["accuracy"] == pytest.approx(np.mean(predicted == tt))
    expected = np.zeros((10, 10), int)
    for true, guess in zip(tt, predicted):
        expected[true, guess] += 1
    assert report["confusion_matrix"] == expected.tolist()
    for c in range(10):
        assert report["per_class_accuracy"][c] == pytest.approx(np.mean(predicted[tt == c] == c))

    assert cli.main(["evaluate", str(path)]) == 0  # the data set saved with the model
    out = capsys.readouterr().out
    assert f"accuracy {np.mean(predicted == tt):.4f} on the 2000 test samples of mnist-10k" in out
    assert "confusion matrix" in out
    assert re.search(r"^  7 +" + f"{np.mean(predicted[tt == 7] == 7):.4f}", out, re.M)


def test_evaluate_names_fashion_classes(tmp_path, monkeypatch, capsys):
    from chainrule.datasets import write_idx
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    data = tmp_path / "fashion"
    data.mkdir()
    for split, n in (("train", 30), ("t10k", 20)):
        write_idx(data / f"{split}-images-idx3-ubyte.gz",
                  rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(data / f"{split}-labels-idx1-ubyte.gz", np.arange(n, dtype=np.uint8) % 10)
    save(models.TwoLayerNet(784, 5, 10, rng=0), tmp_path / "m.npz")
    code = cli.main(["evaluate", str(tmp_path / "m.npz"), "--dataset", "fashion-mnist",
                     "--data-dir", str(data)])
    out = capsys.readouterr().out
    assert code == 0
    assert "Ankle boot" in out and "T-shirt/top" in out and "on the 20 test samples" in out


def test_evaluate_refuses_bad_files(tmp_path, capsys):
    (tmp_path / "x.npz").write_text("not a model")
    assert cli.main(["evaluate", str(tmp_path / "x.npz"), "--dataset", "mnist-10k"]) == 2
    assert "x.npz" in capsys.readouterr().err
    save(models.TwoLayerNet(100, 5, 10), tmp_path / "small.npz")
    assert cli.main(["evaluate", str(tmp_path / "small.npz"), "--dataset", "mnist-10k"]) == 2
    assert "inputs of 100 values" in capsys.readouterr().err


# -- predict ---------------------------------------------------------------------------
def write_digit_images(xt, indices, folder):
    """Test digits as a user would have them: larger, often dark on light, some JPEG."""
    from PIL import Image
    paths = []
    for k, i in enumerate(indices):
        grey = (xt[i].reshape(28, 28) * 255).round().astype(np.uint8)
        kind = k % 3
        if kind == 0:  # white on black, scaled up
            img, name = Image.fromarray(grey).resize((140, 140), Image.BICUBIC), f"{k}.png"
        elif kind == 1:  # black on white, scaled up
            img, name = Image.fromarray(255 - grey).resize((140, 140), Image.BICUBIC), f"{k}.png"
        else:  # black on white, another size and shape, JPEG
            img, name = (Image.fromarray(255 - grey).resize((100, 130), Image.BILINEAR),
                         f"{k}.jpg")
        img.save(folder / name)
        paths.append(str(folder / name))
    return paths


def test_predict_reads_digits_like_mnist(trained, digits, tmp_path, capsys):
    pytest.importorskip("PIL")
    net, model_path = trained
    (_, _), (xt, tt) = digits
    indices = np.arange(20) * 97  # spread over the test split
    paths = write_digit_images(xt, indices, tmp_path)
    assert cli.main(["predict", str(model_path), *paths]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 20
    correct = 0
    for line, path, i in zip(lines, paths, indices):
        match = re.fullmatch(re.escape(path) + r": (\d)   \((.*)\)", line)
        assert match, line
        top = [(int(c), float(p)) for c, p in re.findall(r"(\d): ([\d.]+)", match.group(2))]
        assert len(top) == 3 and top[0][0] == int(match.group(1))
        probabilities = [p for _, p in top]
        assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1.001
        correct += int(match.group(1)) == tt[i]
    on_originals = int(np.sum(net.predict(xt[indices]).argmax(axis=1) == tt[indices]))
    assert correct >= 17, (correct, on_originals)
    assert correct >= on_originals - 2


def test_predict_bad_images(trained, tmp_path, capsys):
    pytest.importorskip("PIL")
    from PIL import Image
    _, model_path = trained
    (tmp_path / "notes.png").write_text("this is not a picture")
    Image.new("L", (50, 50), 255).save(tmp_path / "blank.png")
    good = tmp_path / "one.png"
    img = np.zeros((40, 40), np.uint8)
    img[8:32, 18:22] = 255
    Image.fromarray(img).save(good)
    code = cli.main(["predict", str(model_path), str(tmp_path / "notes.png"), str(good),
                     str(tmp_path / "blank.png"), str(tmp_path / "missing.png")])
    captured = capsys.readouterr()
    assert code != 0
    assert f"{tmp_path / 'notes.png'}: not an image" in captured.err
    assert f"{tmp_path / 'blank.png'}: no digit found" in captured.err
    assert f"{tmp_path / 'missing.png'}: no such file" in captured.err
    assert captured.out.startswith(f"{good}: ")  # the good file is still classified


# -- gradcheck -------------------------------------------------------------------------
def test_gradcheck_passes(capsys):
    assert cli.main(["gradcheck"]) == 0
    out = capsys.readouterr().out
    assert "passed" in out and "FAIL" not in out
    assert all(name in out for name in ("W1", "b1", "W2", "b2"))


def test_gradcheck_catches_a_broken_gradient(monkeypatch, capsys):
    from chainrule import layers
    original = layers.Affine.backward

    def slightly_wrong(self, dout, *args, **kwargs):
        dx = original(self, dout, *args, **kwargs)
        self.db = self.db * 1.01
        return dx

    monkeypatch.setattr(layers.Affine, "backward", slightly_wrong)
    assert cli.main(["gradcheck"]) == 1
    out = capsys.readouterr().out
    assert re.search(r"^b1 .*FAIL$", out, re.M) and re.search(r"^b2 .*FAIL$", out, re.M)
    assert re.search(r"^W1 .*ok$", out, re.M)


def test_the_command_line_is_a_package_of_short_functions():
    """Each module of chainrule/cli holds one family of subcommands or what they share;
    no function is longer than a screen, and the library below it imports none of it."""
    import ast
    import pathlib
    import chainrule
    root = pathlib.Path(chainrule.__file__).parent
    for path in (root / "cli").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                assert length <= 50, f"{path.name}: {node.name} is {length} lines"
    # That nothing below the command line imports it: tests/test_imports.py.
