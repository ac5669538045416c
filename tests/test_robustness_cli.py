"""The command line of issue 18: every mistake a message and a non-zero status, never a
traceback, and no silent wrong answer. In-process (cli.main) where the process does not
matter, `python -m chainrule` where it does (signals, FIFOs, exit codes)."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import chainrule
from chainrule import cli, models, threads
from chainrule.checkpoint import load_checkpoint, save
from chainrule.trainer import Trainer
from chainrule.callbacks import EpochCheckpoint

ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1", PYTHONUNBUFFERED="1")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args, cwd, timeout=120, env=None):
    proc = subprocess.run([sys.executable, "-m", "chainrule", *args], cwd=cwd,
                          env=env or ENV, capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


def refused(argv, capsys, message, code=2):
    """cli.main(argv) fails with `code` and `message`, without a traceback."""
    try:
        status = cli.main(argv)
    except SystemExit as exc:  # argparse's own errors
        status = exc.code
    err = capsys.readouterr().err
    assert status == code, err
    assert message in err, err
    assert "Traceback" not in err
    return err


@pytest.fixture(scope="module")
def small_digits():
    (x, t), (xt, tt) = chainrule.load_dataset("mnist-10k")
    return (x[:500], t[:500]), (xt[:200], tt[:200])


def trained_checkpoint(path, small_digits, dataset="mnist-10k", iters=30):
    (x, t), (xt, tt) = small_digits
    net = models.TwoLayerNet(784, 10, 10, dtype="float32", rng=0)
    trainer = Trainer(net, x, t, xt, tt, iters=iters, optimizer_param={"lr": 0.1}, seed=0,
                      verbose=False, callbacks=[EpochCheckpoint(path)])
    trainer.run_info = {"dataset": dataset}
    trainer.train()
    return net


# -- 3. plot confusion / mistakes use the checkpoint's data set -----------------------
@pytest.mark.parametrize("kind", ["confusion", "mistakes"])
def test_plots_use_the_data_set_the_model_was_trained_on(kind, tmp_path, small_digits,
                                                         monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / "fashion.npz"
    trained_checkpoint(path, small_digits, dataset="fashion-mnist")
    asked = []
    import chainrule.datasets as datasets

    def fake_load(name, **kwargs):
        asked.append(name)
        (x, t), (xt, tt) = small_digits
        return (x, t), (xt, tt)
    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    out = tmp_path / f"{kind}.png"
    assert cli.main(["plot", kind, str(path), "-o", str(out)]) == 0
    assert asked == ["fashion-mnist"]
    assert "using the fashion-mnist test set" in capsys.readouterr().err
    # --dataset still chooses
    assert cli.main(["plot", kind, str(path), "--dataset", "mnist-10k", "-o", str(out),
                     "--overwrite"]) == 0
    assert asked[-1] == "mnist-10k"


# -- 4. broken models -------------------------------------------------------------------
@pytest.fixture
def broken_models(tmp_path):
    nan = models.TwoLayerNet(784, 10, 10, dtype="float32", rng=0)
    nan.params["W1"][3, 4] = np.nan
    save(nan, tmp_path / "nan.npz")
    big = models.TwoLayerNet(784, 50, 10, dtype="float32", rng=0)
    big.params["W1"][...] = 0.1
    big.params["W2"][...] = 1e38  # finite weights whose scores overflow float32
    save(big, tmp_path / "big.npz")
    from PIL import Image
    rng = np.random.default_rng(0)
    img = np.zeros((28, 28), np.uint8)
    img[6:22, 12:16] = 255
    Image.fromarray(img).save(tmp_path / "one.png")
    return tmp_path


def test_evaluate_and_predict_refuse_a_model_with_nan_weights(broken_models, capsys):
    pytest.importorskip("PIL")
    nan = str(broken_models / "nan.npz")
    refused(["evaluate", nan, "--dataset", "mnist-10k"], capsys, "the model is broken: W1")
    refused(["predict", nan, str(broken_models / "one.png")], capsys,
            "the model is broken: W1")


def test_evaluate_refuses_scores_that_overflow(broken_models, capsys):
    err = refused(["evaluate", str(broken_models / "big.npz"), "--dataset", "mnist-10k"],
                  capsys, "scores are NaN or infinite")
    assert "broken" in err


def test_predict_refuses_scores_that_overflow(broken_models, capsys):
    pytest.importorskip("PIL")
    from chainrule.images import load_digit
    net = chainrule.load(broken_models / "big.npz")
    x = load_digit(broken_models / "one.png")
    with np.errstate(all="ignore"):
        assert not np.isfinite(net.predict(x[None])).all()  # the premise of the test
    refused(["predict", str(broken_models / "big.npz"), str(broken_models / "one.png")],
            capsys, "scores are NaN or infinite")


def test_broken_model_in_a_subprocess_has_no_traceback(broken_models):
    code, out, err = run("evaluate", "nan.npz", "--dataset", "mnist-10k", cwd=broken_models)
    assert code == 2 and "broken" in err and "Traceback" not in err and out == ""


# -- 5. options that do not apply ---------------------------------------------------------
@pytest.mark.parametrize("argv, message", [
    (["--model", "two-layer", "--dropout", "0.3"], "--model two-layer has no --dropout"),
    (["--model", "two-layer", "--batchnorm"], "--model two-layer has no --batchnorm"),
    (["--model", "two-layer", "--activation", "tanh"], "--model two-layer has no --activation"),
    (["--model", "two-layer", "--weight-decay", "0.1"], "--model two-layer has no --weight-decay"),
    (["--model", "simple-conv", "--hidden", "7", "9"], "--model simple-conv takes one --hidden"),
    (["--model", "deep-conv", "--batchnorm"], "--model deep-conv has no --batchnorm"),
])
def test_train_refuses_options_the_model_does_not_take(argv, message, capsys, monkeypatch):
    import chainrule.datasets as datasets
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("data loaded"))
    refused(["train", *argv, "--dataset", "mnist-10k"], capsys, message)


def test_gradcheck_refuses_two_hidden_sizes_for_two_layer(capsys):
    refused(["gradcheck", "--hidden", "5", "6"], capsys, "takes one --hidden size")


def test_deep_conv_applies_hidden_and_dropout():
    args = cli.make_parser().parse_args(
        ["train", "--model", "deep-conv", "--hidden", "7", "--dropout", "0.3"])
    args.dtype, args.seed = "float32", 0
    net = cli.build_model(args, 784, 10)
    assert net.config["hidden_size"] == 7
    assert net.config["dropout_ratio"] == pytest.approx(0.3)
    args = cli.make_parser().parse_args(["train", "--model", "simple-conv", "--hidden", "7"])
    args.dtype, args.seed = "float32", 0
    assert cli.build_model(args, 784, 10).config["hidden_size"] == 7


def test_mlp_still_takes_every_option():
    args = cli.make_parser().parse_args(
        ["train", "--model", "mlp", "--hidden", "8", "9", "--dropout", "0.2", "--batchnorm",
         "--activation", "tanh", "--weight-decay", "0.01"])
    args.dtype, args.seed = "float32", 0
    net = cli.build_model(args, 784, 10)
    assert net.config["hidden_size_list"] == [8, 9]
    assert net.config["use_dropout"] and net.config["use_batchnorm"]
    assert net.config["activation"] == "tanh"


# -- 6. gradcheck on correct networks -------------------------------------------------------
@pytest.mark.parametrize("extra", [["--batchnorm"], ["--dropout", "0.5"]])
def test_gradcheck_passes_correct_networks(extra, capsys):
    # Before: --batchnorm failed W1 at seed 0 (max rel error 1.4e-3), --dropout 0.5
    # failed every parameter at ~2e+03.
    status = cli.main(["gradcheck", "--model", "mlp", "--hidden", "5", *extra])
    out = capsys.readouterr().out
    assert status == 0, out
    assert out.rstrip().endswith("passed")


# -- 7. two outputs on one path ---------------------------------------------------------------
@pytest.mark.parametrize("argv", [
    ["--save", "same.npz", "--plot", "same.npz"],
    ["--save", "m.npz", "--metrics", "./m.npz"],
    ["--metrics", "log.jsonl", "--plot", "sub/../log.jsonl"],
])
def test_two_outputs_on_one_path_are_refused(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    refused(["train", *argv, "--iters", "1", "--dataset", "mnist-10k"], capsys,
            "are the same file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub"]


# -- 9. outputs that cannot be written ----------------------------------------------------------
@pytest.mark.parametrize("flag, path", [("--save", "/proc/x.npz"), ("--metrics", "/proc/x.jsonl"),
                                        ("--plot", "/proc/x.png")])
def test_unwritable_outputs_are_refused_before_training(flag, path, capsys, monkeypatch):
    import chainrule.datasets as datasets
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("data loaded"))
    refused(["train", flag, path, "--iters", "1"], capsys, f"cannot write")


def test_a_save_that_fails_later_keeps_the_state(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    import chainrule.checkpoint as checkpoint
    real_save = checkpoint.save
    target = str(tmp_path / "run.npz")

    def failing_save(model, path, **kwargs):
        if os.fspath(path) == target:
            raise OSError(28, "No space left on device", target)
        return real_save(model, path, **kwargs)
    monkeypatch.setattr(checkpoint, "save", failing_save)
    err = refused(["train", "--iters", "3", "--save", target, "--dataset", "mnist-10k", "-q",
                   "--seed", "0"], capsys, "No space left on device", code=1)
    rescued = [p for p in tmp_path.iterdir() if p.name.startswith("chainrule-rescued-")]
    assert len(rescued) == 1 and str(rescued[0].name) in err
    assert load_checkpoint(rescued[0]).training["iteration"] == 3


def test_ctrl_c_in_an_unwritable_folder_saves_to_the_temporary_folder(tmp_path):
    env = dict(ENV, TMPDIR=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "chainrule", "train", "--iters", "100000",
                             "--dataset", "mnist-10k", "--seed", "0"], cwd="/proc", env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        while "epoch   0" not in line:  # training has started
            line = proc.stdout.readline()
            assert line or proc.poll() is None, proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    saved = tmp_path / "chainrule-interrupted.npz"
    assert str(saved) in err and "Traceback" not in err
    assert load_checkpoint(saved).training["iteration"] > 0


# -- 10. bad numbers ----------------------------------------------------------------------------
@pytest.mark.parametrize("argv, message", [
    (["serve", "--threads", "abc"], "argument --threads"),
    (["serve", "--threads", "0"], "argument --threads"),
    (["train", "--threads", "abc"], "argument --threads"),
    (["gradcheck", "--samples", "9000"], "--samples 9000"),
    (["train", "--serve", "--port", "-5"], "port must be 0..65535"),
    (["train", "--serve", "--port", "99999"], "port must be 0..65535"),
    (["serve", "--port", "99999"], "port must be 0..65535"),
])
def test_bad_numbers_are_messages(argv, message, capsys):
    refused(argv, capsys, message)


def test_bad_chainrule_threads_is_named(capsys, monkeypatch):
    monkeypatch.setenv("CHAINRULE_THREADS", "abc")
    refused(["train", "--iters", "1", "--dataset", "mnist-10k"], capsys, "CHAINRULE_THREADS")
    pytest.importorskip("flask")
    refused(["serve"], capsys, "CHAINRULE_THREADS")


def test_a_network_too_large_for_memory_is_a_message(capsys):
    refused(["train", "--hidden", "100000000", "--iters", "1", "--dataset", "mnist-10k"],
            capsys, "not enough memory")


# -- 11. files that are not regular files --------------------------------------------------------
def test_evaluate_dev_zero_and_predict_a_fifo(tmp_path, small_digits):
    code, _, err = run("evaluate", "/dev/zero", cwd=tmp_path, timeout=30)
    assert code == 2 and "not a regular file" in err and "Traceback" not in err
    trained_checkpoint(tmp_path / "m.npz", small_digits)
    os.mkfifo(tmp_path / "digit.png")
    code, _, err = run("predict", "m.npz", "digit.png", cwd=tmp_path, timeout=30)
    assert code == 2 and "not a regular file" in err
    os.mkfifo(tmp_path / "model.npz")
    code, _, err = run("evaluate", "model.npz", cwd=tmp_path, timeout=30)
    assert code == 2 and "not a regular file" in err


# -- 13. threads capped at the cores ---------------------------------------------------------------
def test_threads_above_the_cores_are_capped_and_said(monkeypatch, capsys):
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    assert threads.resolve_capped("1000") == (2, "1000 threads asked for, but this process "
                                                  "may use 2 cores: using 2")
    assert threads.resolve_capped("2") == (2, None)
    seen = []
    monkeypatch.setattr(threads, "apply_policy",
                        lambda spec=None, *a, **k: seen.append(spec) or threads.plan(spec, *a, **k))
    assert cli.main(["train", "--threads", "1000", "--iters", "1", "--dataset", "mnist-10k",
                     "-q"]) == 0
    assert "using 2" in capsys.readouterr().err
    assert seen == [2]


# -- smaller ----------------------------------------------------------------------------------------
def test_dataset_messages_speak_options(tmp_path):
    from chainrule.datasets import DatasetError, load_dataset
    try:
        load_dataset("mnist", data_dir=tmp_path, download=False)
    except DatasetError as exc:
        error = exc
    else:
        pytest.skip("full MNIST is on this machine")
    assert "data_dir=" in str(error)  # the library speaks Python, as it should
    from chainrule.cli.common import dataset_message
    text = dataset_message(error)
    assert "data_dir=" not in text and "download=" not in text
    assert "--data-dir" in text


def test_plot_curves_messages(tmp_path, small_digits, capsys):
    pytest.importorskip("matplotlib")
    (tmp_path / "adir").mkdir()
    refused(["plot", "curves", str(tmp_path / "adir"), "-o", str(tmp_path / "c.png")], capsys,
            "is a directory")
    trained_checkpoint(tmp_path / "net.npz", small_digits)
    err = refused(["plot", "curves", str(tmp_path / "net.npz"), "-o", str(tmp_path / "c.png")],
                  capsys, "net.npz")
    assert "not a metrics file" in err
    refused(["plot", "activations", "--seed", "-1", "-o", str(tmp_path / "a.png")], capsys,
            "argument --seed")


def test_pictures_in_formats_that_are_not_written_are_refused(tmp_path, small_digits, capsys,
                                                              monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    refused(["train", "--plot", "c.jpg", "--iters", "1", "--dataset", "mnist-10k"], capsys,
            "not .jpg")
    trained_checkpoint(tmp_path / "net.npz", small_digits)
    refused(["plot", "weights", "net.npz", "-o", "w.jpg"], capsys, "not .jpg")
    assert not (tmp_path / "w.jpg").exists() and not (tmp_path / "c.jpg").exists()


@pytest.mark.parametrize("command", [["serve"], ["train", "--serve", "--iters", "1"]])
def test_an_address_that_is_not_this_machine(command, capsys):
    pytest.importorskip("flask")
    refused([*command, "--host", "192.0.2.1", "--dataset", "mnist-10k"]
            if command[0] == "train" else [*command, "--host", "192.0.2.1"],
            capsys, "is not an address of this machine")


def test_divergence_is_one_message_without_warnings(tmp_path):
    code, _, err = run("train", "--lr", "1e36", "--iters", "50", "--dataset", "mnist-10k",
                       "-q", "--seed", "0", cwd=tmp_path)
    assert code == 3 and "training diverged" in err
    assert "RuntimeWarning" not in err


def test_save_onto_an_existing_checkpoint_needs_overwrite(tmp_path, small_digits, monkeypatch,
                                                         capsys):
    monkeypatch.chdir(tmp_path)
    trained_checkpoint(tmp_path / "good.npz", small_digits)
    before = (tmp_path / "good.npz").read_bytes()
    err = refused(["train", "--save", "good.npz", "--iters", "1", "--dataset", "mnist-10k"],
                  capsys, "good.npz exists (a checkpoint at iteration 30 of 30, test accuracy")
    assert "--overwrite" in err and "--resume good.npz" in err
    assert (tmp_path / "good.npz").read_bytes() == before
    assert cli.main(["train", "--save", "good.npz", "--overwrite", "--iters", "2",
                     "--dataset", "mnist-10k", "-q"]) == 0
    assert load_checkpoint("good.npz").training["iteration"] == 2


def test_save_through_a_symlink_keeps_the_link(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    os.symlink("runs/real.npz", "link.npz")  # dangling until the first save
    assert cli.main(["train", "--save", "link.npz", "--iters", "2", "--dataset", "mnist-10k",
                     "-q"]) == 0
    assert os.path.islink("link.npz")
    assert load_checkpoint("runs/real.npz").training["iteration"] == 2


def test_docs_figures_match_the_result_file():
    code = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "doc_distributed.py"),
                           "--check"], capture_output=True, text=True)
    assert code.returncode == 0, code.stderr
    text = open(os.path.join(ROOT, "docs", "distributed.md"), encoding="utf-8").read()
    results = json.load(open(os.path.join(ROOT, "benchmarks", "results", "distributed.json")))
    assert f"{results['throughput']['2']['bytes_per_step']:,} bytes" in text
    assert f"{results['throughput']['1']['step_seconds'] * 1e3:.1f} ms here" in text
    assert "27.3 ms" not in text
    assert "27.3 ms" not in text


def test_plot_confusion_refuses_a_model_of_another_input_size(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    save(models.TwoLayerNet(4, 3, 10, rng=0), tmp_path / "small.npz")
    refused(["plot", "confusion", str(tmp_path / "small.npz"), "-o", str(tmp_path / "c.png")],
            capsys, "takes inputs of 4 values")
    assert not (tmp_path / "c.png").exists()


# -- Ctrl-C while the command starts ----------------------------------------------------------
STARTUP_INTERRUPT = """
import builtins, sys
real_import = builtins.__import__

def interrupted_import(name, *args, **kwargs):
    # Ctrl-C arriving while NumPy loads, the slow part of the command's start.
    if name == "numpy":
        raise KeyboardInterrupt
    return real_import(name, *args, **kwargs)

builtins.__import__ = interrupted_import
import chainrule                      # the package itself loads nothing heavy
assert "chainrule.models" not in sys.modules
from chainrule.__main__ import main   # what both `chainrule` and `python -m chainrule` run
sys.exit(main(["train", "--dataset", "mnist-10k"]))
"""


def test_ctrl_c_while_the_command_starts_is_a_quiet_stop():
    done = subprocess.run([sys.executable, "-c", STARTUP_INTERRUPT], capture_output=True,
                          text=True, timeout=120, env=ENV)
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr and "KeyboardInterrupt" not in done.stderr


def test_the_console_script_is_the_quiet_entry_point():
    from importlib.metadata import entry_points
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "chainrule"]
    assert script.value == "chainrule.__main__:main"


def test_a_validation_monitor_without_a_validation_split_is_refused_before_training(
        capsys, monkeypatch):
    from chainrule import datasets
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("data loaded"))
    refused(["train", "--monitor", "val_acc", "--early-stopping", "2", "--dataset",
             "mnist-10k"], capsys, "--monitor val_acc needs a validation split: give "
                                   "--validation-split F")
