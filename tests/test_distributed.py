"""Data-parallel training over MPI (chainrule.distributed).

Each test starts a real MPI job (`mpiexec -n 2 python tests/mpi_scripts/train.py ...`)
with a timeout, so that a hang fails the test instead of stalling the suite, and with
one BLAS thread per rank. The references are single-process Trainer runs made here.
The tests that start MPI jobs skip when mpi4py or mpiexec is missing
(pip install 'chainrule[mpi]').
"""

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import chainrule
from chainrule.distributed import slice_bounds

SCRIPT = Path(__file__).resolve().parent / "mpi_scripts" / "train.py"

# Two processes reach the weights of one up to the order of floating-point additions.
# Measured after 300 float64 SGD steps of TwoLayerNet with the uneven split 50/49:
# max |difference| / max |weight| = 1e-15 (the last bits). A mistake in the weighting
# (each rank's mean counted equally, 1/2 instead of 50/99 and 49/99) gives 4e-3. The
# tolerance sits between the two, at least five orders of magnitude from each: room for
# rounding to grow over more steps or with another BLAS, none for a wrong sum.
REL_TOL = 1e-10

ITERS = 300
BATCH = 99  # 8,000 digits: 81 steps an epoch, the last of 80; each split 50/49 or 40/40


def _mpiexec():
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


MPIEXEC = _mpiexec()


def mpirun(n, *args, timeout=60, script=SCRIPT):
    """Run `script` as an n-process job; returns (CompletedProcess, seconds)."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               # Open MPI refuses root and more ranks than cores without these; MPICH
               # ignores them.
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    command = [MPIEXEC, "-n", str(n), sys.executable, str(script), *map(str, args)]
    start = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env=env, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{' '.join(command)} did not finish within {timeout} s (a hang?)\n"
                    f"{exc.stderr}")
    return done, time.monotonic() - start


def train_ok(n, out, *args):
    done, _ = mpirun(n, "--out", out, *args)
    assert done.returncode == 0, done.stderr
    return json.loads((Path(out) / "result.json").read_text()), np.load(Path(out) / "weights.npz")


def relative_difference(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


# -- references: one process, made here ----------------------------------------------------
def single_process_trainer(iters=ITERS):
    from chainrule.datasets import load_dataset
    from chainrule.models import TwoLayerNet
    from chainrule.trainer import Trainer
    (x_train, t_train), (x_test, t_test) = load_dataset("mnist-10k", dtype=np.float64)
    network = TwoLayerNet(784, 50, 10, dtype="float64", rng=0)
    return Trainer(network, x_train, t_train, x_test, t_test, mini_batch_size=BATCH,
                   optimizer="SGD", optimizer_param={"lr": 0.1}, iters=iters, seed=0,
                   verbose=False)


@pytest.fixture(scope="module")
def reference():
    trainer = single_process_trainer()
    trainer.train()
    return trainer


@pytest.fixture(scope="module")
def mpi_works():
    """Every test that starts MPI jobs asks for this: it skips them when mpi4py or
    mpiexec is missing. When both are there MPI must also run: a broken installation
    fails here, rather than being skipped."""
    if importlib.util.find_spec("mpi4py") is None:
        pytest.skip("mpi4py is not installed (pip install 'chainrule[mpi]')")
    if MPIEXEC is None:
        pytest.skip("no mpiexec found (pip install 'chainrule[mpi]')")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    # Rank 0 alone prints: the ranks' outputs reach the pipe interleaved.
    code = ("from mpi4py import MPI; c = MPI.COMM_WORLD; c.Barrier(); "
            "print(c.Get_size()) if c.Get_rank() == 0 else None")
    done = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-c", code],
                          capture_output=True, text=True, timeout=30, env=env,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0 and done.stdout.split() == ["2"], done.stderr


# -- splitting the batch ------------------------------------------------------------------
@pytest.mark.parametrize("n", [0, 1, 2, 7, 99, 100])
@pytest.mark.parametrize("size", [1, 2, 3, 8])
def test_slices_cover_the_batch_in_order_and_differ_by_at_most_one(n, size):
    bounds = [slice_bounds(n, rank, size) for rank in range(size)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    sizes = [stop - start for start, stop in bounds]
    assert max(sizes) - min(sizes) <= 1


# -- the same answer as one process -------------------------------------------------------------
def test_one_rank_trains_exactly_as_trainer(tmp_path, mpi_works, reference):
    result, weights = train_ok(1, tmp_path, "--batch", BATCH)
    for name, value in reference.network.params.items():
        np.testing.assert_array_equal(weights[name], value)
    assert result["losses"] == reference.train_loss_list


def test_two_ranks_reach_the_weights_of_one(tmp_path, mpi_works, reference):
    result, weights = train_ok(2, tmp_path, "--batch", BATCH)
    assert result["ranks"] == 2 and result["iteration"] == ITERS
    for name, value in reference.network.params.items():
        assert relative_difference(weights[name], value) < REL_TOL, name
    np.testing.assert_allclose(result["losses"], reference.train_loss_list, rtol=REL_TOL)
    # Accuracy is counted by both ranks on halves of the data: the same counts.
    assert [h["test_acc"] for h in result["history"]] == reference.test_acc_list
    assert [h["train_acc"] for h in result["history"]] == reference.train_acc_list
    # The data came from rank 0 through shared memory, read-only.
    assert result["x_train_writeable"] is False
    # One fused buffer: every gradient, plus the loss, the stop flag, one flag per rank.
    n_params = sum(v.size for v in reference.network.params.values())
    assert result["bytes_per_step"] == (n_params + 2 + 2) * 8


def test_batchnorm_and_dropout_replicas_stay_identical(tmp_path, mpi_works):
    # Per-rank batch statistics and dropout masks differ from one process by design;
    # what must hold is that the ranks keep one model (checked by checksums at every
    # epoch end, which raise on a mismatch) and that it learns.
    result, _ = train_ok(2, tmp_path, "--model", "mlp", "--iters", 200, "--optimizer", "Adam",
                         "--lr", 0.001)
    assert result["status"] == "finished"
    assert result["history"][-1]["test_acc"] > 0.85


CONV_LAYERS = "conv(4,5) relu pool(2) affine(10)"


@pytest.mark.parametrize("user_layer", [False, True], ids=["layers", "with-a-user-layer"])
def test_two_ranks_train_a_network_of_ones_own_as_one_process(tmp_path, mpi_works, user_layer):
    from chainrule import compose
    from chainrule.datasets import load_dataset
    from chainrule.models import Sequential
    from chainrule.trainer import Trainer
    from user_layers import Square  # the same class the MPI script uses
    (x_train, t_train), (x_test, t_test) = load_dataset("mnist-10k", dtype=np.float64)
    items = [CONV_LAYERS]
    if user_layer:
        *body, last = compose.build_items(CONV_LAYERS)
        items = body + [Square(), last]
    network = Sequential(items, input_shape=(1, 28, 28), rng=0)
    one = Trainer(network, x_train, t_train, x_test, t_test, mini_batch_size=BATCH,
                  optimizer="Adam", optimizer_param={"lr": 0.001}, iters=30, seed=0,
                  verbose=False)
    one.train()
    result, weights = train_ok(2, tmp_path, "--layers", CONV_LAYERS, "--batch", BATCH,
                               "--iters", 30, "--optimizer", "Adam", "--lr", 0.001,
                               *(["--square"] if user_layer else []))
    assert result["ranks"] == 2 and result["iteration"] == 30
    for name, value in network.params.items():
        assert relative_difference(weights[name], value) < REL_TOL, name


# -- faults -----------------------------------------------------------------------------
def test_a_rank_that_raises_stops_every_rank_and_is_named(tmp_path, mpi_works):
    done, seconds = mpirun(2, "--out", tmp_path, "--fail", "raise", "--fail-step", 5,
                           timeout=30)
    assert done.returncode != 0
    assert seconds < 30
    assert "rank 1 of 2 failed: RuntimeError: injected failure at step 5" in done.stderr


def test_a_killed_rank_ends_the_job_and_the_last_checkpoint_resumes_on_one_process(
        tmp_path, mpi_works, reference):
    checkpoint = tmp_path / "run.npz"
    # Killed at step 100, after the checkpoint of the first epoch's end (step 81).
    done, seconds = mpirun(2, "--out", tmp_path, "--fail", "kill", "--fail-step", 100,
                           "--checkpoint", checkpoint, "--batch", BATCH, timeout=30)
    assert done.returncode != 0
    assert seconds < 30
    resumed = single_process_trainer()
    resumed.load_state(str(checkpoint))
    assert resumed.current_iter == 81
    resumed.train()
    for name, value in reference.network.params.items():
        assert relative_difference(resumed.network.params[name], value) < REL_TOL, name


def test_a_rank_that_exits_ends_the_job(tmp_path, mpi_works):
    done, seconds = mpirun(2, "--out", tmp_path, "--fail", "exit", timeout=30)
    assert done.returncode != 0
    assert seconds < 30


def test_replicas_that_drift_apart_are_caught_at_the_epoch_end(tmp_path, mpi_works):
    done, _ = mpirun(2, "--out", tmp_path, "--perturb", 30, "--batch", BATCH)
    assert done.returncode != 0
    assert "ReplicaMismatch" in done.stderr
    assert "at iteration 81: param/b1 on rank(s) 1 differ from rank 0" in done.stderr


def test_a_stop_on_one_rank_stops_all_and_resumes_on_one_process(tmp_path, mpi_works,
                                                                 reference):
    checkpoint = tmp_path / "run.npz"
    # Rank 1 asks to stop after step 120; the request reaches rank 0 with step 121's
    # allreduce, and both stop after that step. Rank 0 saves the state.
    result, _ = train_ok(2, tmp_path, "--batch", BATCH, "--stop-at", 120,
                         "--checkpoint", checkpoint)
    assert result["status"].startswith("interrupted") and result["iteration"] == 121
    resumed = single_process_trainer()
    resumed.load_state(str(checkpoint))
    resumed.train()
    assert resumed.current_iter == ITERS
    for name, value in reference.network.params.items():
        assert relative_difference(resumed.network.params[name], value) < REL_TOL, name
    np.testing.assert_allclose(resumed.train_loss_list, reference.train_loss_list,
                               rtol=REL_TOL)


def test_sigusr1_to_mpiexec_stops_every_rank_after_the_same_step_and_saves(tmp_path,
                                                                           mpi_works):
    # MPICH's mpiexec passes SIGUSR1 on to the ranks (a batch system can send it before
    # a job's time runs out); each treats it as a stop request, as Ctrl-C.
    checkpoint = tmp_path / "run.npz"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    command = [MPIEXEC, "-n", "2", sys.executable, str(SCRIPT), "--out", str(tmp_path),
               "--iters", "100000", "--checkpoint", str(checkpoint), "--announce"]
    job = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env=env, stdin=subprocess.DEVNULL)
    guard = threading.Timer(60, job.kill)  # readline() has no timeout of its own
    guard.start()
    try:
        assert job.stdout.readline().strip() == "training"
        job.send_signal(signal.SIGUSR1)
        _, stderr = job.communicate(timeout=30)
    finally:
        guard.cancel()
        if job.poll() is None:
            job.kill()
            job.communicate()
    assert job.returncode == 0, stderr
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"].startswith("interrupted")
    from chainrule.checkpoint import load_checkpoint
    assert load_checkpoint(checkpoint).training["iteration"] == result["iteration"] > 1


def test_a_rank_returning_an_error_alone_ends_the_job_with_its_status(mpi_works):
    # Rank 1 returns 3 while rank 0 waits for it in a barrier: without run_on_all_ranks's
    # deadline rank 1 would wait in MPI_Finalize and rank 0 in the barrier, forever.
    done, seconds = mpirun(2, 3, script=SCRIPT.parent / "command.py", timeout=30)
    assert done.returncode == 3
    assert seconds < 30
    # What rank 1 printed was held back, and shown because it ended the job.
    assert "rank 1: giving up with status 3" in done.stderr
    assert "rank 1 stopped with status 3 while other ranks were still running" in done.stderr


# -- the command line -------------------------------------------------------------------
def test_command_line_train_distributed(tmp_path, mpi_works):
    checkpoint, metrics = tmp_path / "run.npz", tmp_path / "metrics.jsonl"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    command = [MPIEXEC, "-n", "2", sys.executable, "-m", "chainrule", "train",
               "--distributed", "--dataset", "mnist-10k", "--iters", "100", "--seed", "1",
               "--save", str(checkpoint), "--metrics", str(metrics)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    # Rank 0 alone prints the result and writes the files.
    assert done.stdout.count("final:") == 1
    lines = metrics.read_text().splitlines()
    assert [json.loads(line)["iteration"] for line in lines] == [0, 80, 100]
    from chainrule.checkpoint import load_checkpoint
    assert load_checkpoint(checkpoint).training["iteration"] == 100


def test_command_line_callbacks_and_validation_work_distributed(tmp_path, mpi_works):
    """--validation-split, --early-stopping and --best-checkpoint on two ranks: the same
    figures as one process (up to the order of the gradient sums), one best file."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    options = ["--dataset", "mnist-10k", "--epochs", "3", "--batch-size", "400", "--seed", "1",
               "--hidden", "16", "--validation-split", "0.2", "--early-stopping", "1",
               "--monitor", "val_acc", "--augment", "--shift", "1"]
    one = [sys.executable, "-m", "chainrule", "train"] + options + [
        "--save", str(tmp_path / "one.npz"), "--best-checkpoint", str(tmp_path / "best1.npz")]
    two = [MPIEXEC, "-n", "2", sys.executable, "-m", "chainrule", "train", "--distributed"] + \
        options + ["--save", str(tmp_path / "two.npz"),
                   "--best-checkpoint", str(tmp_path / "best2.npz")]
    for command in (one, two):
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env,
                              stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stderr
        assert done.stdout.count("final:") == 1 and "val_acc" in done.stdout
    from chainrule.checkpoint import load_checkpoint
    a, b = load_checkpoint(tmp_path / "one.npz"), load_checkpoint(tmp_path / "two.npz")
    assert [h["epoch"] for h in a.training["history"]] == [h["epoch"] for h in b.training["history"]]
    np.testing.assert_allclose([h["val_acc"] for h in a.training["history"]],
                               [h["val_acc"] for h in b.training["history"]], atol=2e-3)
    for name, value in a.model.params.items():  # float32 here: its rounding, not REL_TOL's
        assert relative_difference(b.model.params[name], value) < 1e-5, name
    assert (tmp_path / "best2.npz").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best1.npz", "best2.npz",
                                                          "one.npz", "two.npz"]


# -- language models ----------------------------------------------------------------------
POEM = ("Shall I compare thee to a summer's day?\n"
        "Thou art more lovely and more temperate:\n") * 40


def _train_text(tmp_path, ranks, save, *extra):
    """`chainrule train` of a small character model on ranks processes (0: no MPI)."""
    text = tmp_path / "poem.txt"
    text.write_text(POEM, encoding="utf-8")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    command = [sys.executable, "-m", "chainrule", "train", "--data", str(text), "--model",
               "char-rnn", "--hidden", "16", "--embed", "8", "--batch-size", "4",
               "--time-size", "8", "--eval-interval", "10", "--seed", "3", "--quiet",
               "--dtype", "float64", "--save", str(tmp_path / save), *map(str, extra)]
    if ranks:
        command = [MPIEXEC, "-n", str(ranks)] + command + ["--distributed"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return chainrule.load(tmp_path / save)


def test_two_ranks_train_a_language_model_as_one_process_and_resume_anywhere(tmp_path,
                                                                              mpi_works):
    one = _train_text(tmp_path, 0, "one.npz", "--iters", 20)
    two = _train_text(tmp_path, 2, "two.npz", "--iters", 20)
    for name in one.params:  # float64: only the order of the sums differs
        assert relative_difference(one.params[name], two.params[name]) < 1e-10, name
    # Half on two ranks, the rest in one process: the streams' states travel whole.
    _train_text(tmp_path, 2, "half.npz", "--iters", 10)
    _train_text(tmp_path, 0, "half.npz", "--resume", tmp_path / "half.npz", "--iters", 20)
    resumed = chainrule.load(tmp_path / "half.npz")
    for name in one.params:
        assert relative_difference(one.params[name], resumed.params[name]) < 1e-10, name
