"""Data-parallel training over MPI: many processes, one model, the same answer.

When one process is too slow, N processes can share each mini-batch: every process
(a *rank*, in MPI's words) holds a whole copy of the network, computes the gradients of
its own slice of the batch, and before every update the ranks add their gradients up
with one collective call, an *allreduce*. Every rank then holds the same summed
gradient, applies the same update, and so keeps the same weights. This is what
ChainerMN, Horovod and PyTorch's DistributedDataParallel do; here it takes one class,
`DistributedTrainer`, on top of `chainrule.trainer.Trainer`, and MPI through mpi4py.

Run a script or the command line under an MPI launcher::

    mpiexec -n 2 python my_script.py
    mpiexec -n 2 chainrule train --distributed --model simple-conv --epochs 5

Why the answer is the single-process answer. The loss of a batch of B samples is the
mean of the samples' losses, so its gradient is the mean of theirs. Rank r takes a
contiguous slice of b_r samples (sum b_r = B) of the *same* shuffled batch and computes
the mean gradient g_r over its slice; then

    (1/B) * sum over all B samples  =  sum over ranks of (b_r / B) * g_r,

so each rank scales its gradient by b_r / B before the sum. The result is the gradient
of the whole batch exactly, up to the order in which floating-point numbers are added
(which changes their last bits, nothing more). Weight decay's lambda * W term is the same
on every rank and the weights b_r / B add up to 1, so it comes out once, as it should.

What is not the single-process answer, by design (PyTorch's DDP behaves the same way):
batch normalisation normalises each rank's slice with that slice's own mean and
variance, and dropout draws each rank's masks from that rank's own random generator.

One process talks for all: rank 0 alone prints, writes metrics and saves checkpoints.
A rank that fails stops every rank (`abort`), so a job never hangs waiting for it.
"""

import contextlib
import io
import json
import math
import os
import signal
import sys
import threading
import time
import traceback
import zlib

import numpy as np

from .datasets import DatasetError
from .functions import NonFiniteError
from .generation import recurrent_layers
from .registry import describe
from .lm_trainer import LanguageModelTrainer
from .trainer import Trainer, TrainingDiverged, TrainingInterrupted

__all__ = ["DistributedTrainer", "DistributedLanguageModelTrainer", "ReplicaMismatch", "SetupMismatch", "RootFailed",
           "RootDatasetError", "world", "slice_bounds", "share", "load_on_root",
           "load_dataset", "abort", "abort_on_error", "run_on_all_ranks", "replica_checksums"]

_INSTALL_HINT = ("distributed training needs mpi4py and an MPI library: "
                 "pip install 'chainrule[mpi]' (mpi4py with the MPICH wheel from PyPI), "
                 "then start the processes with mpiexec -n N")


def _mpi():
    """mpi4py's MPI module, imported on first use: chainrule itself needs NumPy alone."""
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError(f"{_INSTALL_HINT} ({exc})") from exc
    return MPI


def world():
    """MPI.COMM_WORLD: every process that mpiexec started (importing mpi4py starts MPI)."""
    return _mpi().COMM_WORLD


class ReplicaMismatch(RuntimeError):
    """The ranks' copies of the model are no longer identical (raised on every rank)."""


class SetupMismatch(ValueError):
    """The ranks did not set up the same run (raised on every rank)."""


class RootFailed(RuntimeError):
    """Rank 0 failed to produce what the other ranks were waiting for (raised there)."""


class RootDatasetError(RootFailed, DatasetError):
    """RootFailed where rank 0 raised a DatasetError: caught by `except DatasetError`."""


# -- splitting work between ranks -------------------------------------------------------
def slice_bounds(n, rank, size):
    """(start, stop) of rank's contiguous share of n items split among `size` ranks.

    The first n % size ranks get one item more than the others, so the shares differ by
    at most one and cover range(n) in order: rank 0 takes the first items, and so on.
    """
    base, extra = divmod(int(n), int(size))
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


# -- failing loudly ---------------------------------------------------------------------
def abort(comm=None, exc=None, message=None, code=1):
    """Report on stderr which rank failed and why, then end every rank of the job.

    Why not just raise: the other ranks are waiting for this one inside a collective call
    (an allreduce) and would wait forever; and a Python process that exits normally runs
    MPI_Finalize, which waits for them in turn. MPI_Abort is the one call that ends
    the whole job from any rank; mpiexec then exits with a non-zero status.
    """
    comm = comm if comm is not None else world()
    rank, size = comm.Get_rank(), comm.Get_size()
    if message is None:
        message = f"{type(exc).__name__}: {exc}" if exc is not None else "aborted"
    lines = [_held_stderr.getvalue()] if _held_stderr is not None else []
    if exc is not None and not isinstance(exc, KeyboardInterrupt):
        lines.append("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    lines.append(f"chainrule: rank {rank} of {size} failed: {message}; stopping all "
                 f"{size} ranks\n")
    _write_stderr("".join(lines))
    comm.Abort(code)


_held_stderr = None  # what run_on_all_ranks kept back from a rank other than 0's stderr


def _write_stderr(text):
    """Write straight to file descriptor 2: Abort ends the process before any buffer
    would be flushed, and the message is the one thing that must get out."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed or broken stream must not hide the message
            pass
    data = text.encode("utf-8", "replace")
    while data:
        try:
            written = os.write(2, data)
        except OSError:
            return
        data = data[written:]


@contextlib.contextmanager
def abort_on_error(comm=None, passthrough=()):
    """Run a block so that an exception on any one rank ends the whole job at once.

        with abort_on_error():
            main()

    Exceptions of the types in `passthrough` are re-raised instead: use it for errors
    that every rank raises at the same point (so none is left waiting).
    """
    try:
        yield
    except passthrough:
        raise
    except SystemExit as exc:
        if exc.code not in (None, 0):
            abort(comm, message=f"exited with status {exc.code}",
                  code=exc.code if isinstance(exc.code, int) else 1)
        raise
    except BaseException as exc:  # KeyboardInterrupt too: the others would still wait
        abort(comm, exc)


def run_on_all_ranks(func, comm=None, grace=10.0):
    """Run `func(comm)`, a command that returns an exit status, on every rank; returns
    the status.

    Used by `chainrule train --distributed`. What ranks other than 0 print is dropped
    (stdout: rank 0 prints the results) or held back (stderr: shown only if this rank
    ends the job on its own, since otherwise rank 0 has said the same), so that N ranks
    do not print every message N times.

    How it ends. An exception on any rank ends the job at once (see `abort`). A status
    is returned normally once every rank has returned one, so that no rank's exit cuts
    short rank 0's last words (mpiexec ends the others when one exits with an error).
    A rank that returns a non-zero status while the others have not returned within
    `grace` seconds ends its process with that status without MPI_Finalize: the others
    are then stuck in a collective call, Finalize would wait for them forever, and a
    process that exits makes mpiexec stop them.
    """
    global _held_stderr
    comm = comm if comm is not None else world()
    if comm.Get_rank() != 0:
        sys.stdout = open(os.devnull, "w", encoding="utf-8")
        sys.stderr = _held_stderr = io.StringIO()
    # A communicator of its own for the final handshake, so that it cannot be mistaken
    # for a collective call that another rank is still making on `comm`.
    finish = comm.Dup()
    with abort_on_error(comm):
        status = func(comm)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    if not _everyone_arrives(finish, None if not status else grace):
        held = _held_stderr.getvalue() if _held_stderr is not None else ""
        _write_stderr(f"{held}chainrule: rank {comm.Get_rank()} stopped with status "
                      f"{status} while other ranks were still running; ending the job\n")
        os._exit(int(status))
    finish.Free()
    return status


def _everyone_arrives(comm, timeout):
    """Whether every rank of comm reaches this call within `timeout` seconds (None:
    wait as long as it takes). A non-blocking barrier, polled, since MPI's blocking
    calls have no time limit."""
    request = comm.Ibarrier()
    if timeout is None:
        request.Wait()
        return True
    deadline = time.monotonic() + timeout
    while not request.Test():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


# -- sharing data that rank 0 loaded -----------------------------------------------------
_KEEP_ALIVE = []  # shared-memory windows (and their communicators) backing shared arrays
_NUMERIC_KINDS = "biuf"
_ALIGN = 64  # bytes: each shared array starts on a cache line


def _encode(tree, arrays):
    """A JSON-friendly description of a nested structure of arrays, strings and numbers;
    the arrays themselves are appended to `arrays` and sent as raw bytes."""
    if isinstance(tree, (tuple, list)):
        return {"seq": [_encode(item, arrays) for item in tree],
                "tuple": isinstance(tree, tuple)}
    if isinstance(tree, str):
        return {"text": tree}
    if tree is None or isinstance(tree, (bool, int, float)):
        return {"value": tree}
    array = np.asarray(tree)
    if array.dtype.kind not in _NUMERIC_KINDS:
        raise TypeError(f"only numeric arrays can be shared, not {array.dtype}")
    arrays.append(array)
    return {"array": len(arrays) - 1, "dtype": array.dtype.str, "shape": list(array.shape)}


def _decode(node, arrays):
    if "seq" in node:
        items = [_decode(item, arrays) for item in node["seq"]]
        return tuple(items) if node["tuple"] else items
    if "text" in node:
        return node["text"]
    if "value" in node:
        return node["value"]
    return arrays[node["array"]]


def _array_specs(node, specs):
    """The (dtype, shape) of every array in a description, in order."""
    if "seq" in node:
        for item in node["seq"]:
            _array_specs(item, specs)
    elif "array" in node:
        dtype = np.dtype(node["dtype"])
        if dtype.kind not in _NUMERIC_KINDS:
            raise ValueError(f"refusing to share arrays of dtype {dtype}")
        specs.append((dtype, tuple(int(n) for n in node["shape"])))
    return specs


def _bcast_bytes(comm, data, root=0):
    """Broadcast a bytes object from root with two buffer broadcasts (length, then
    bytes): plain numbers, never pickle."""
    length = np.array([len(data) if comm.Get_rank() == root else 0], dtype=np.int64)
    comm.Bcast(length, root=root)
    buffer = np.empty(int(length[0]), dtype=np.uint8)
    if comm.Get_rank() == root:
        buffer[:] = np.frombuffer(data, dtype=np.uint8)
    comm.Bcast(buffer, root=root)
    return buffer.tobytes()


def _bcast_large(comm, buffer, root=0, chunk=1 << 30):
    """Bcast a flat uint8 array in chunks of at most 1 GiB (MPI counts are C ints)."""
    for start in range(0, buffer.size, chunk):
        comm.Bcast(buffer[start:start + chunk], root=root)


def share(tree=None, comm=None, *, shared_memory=True):
    """Give every rank the arrays that rank 0 holds, with one copy per machine.

    `tree` is, on rank 0, an array or a nested tuple/list of arrays (strings and plain
    numbers may ride along, e.g. the name of the data set); other ranks pass nothing.
    Every rank gets the same structure back. The arrays are read-only.

    How: the ranks on one machine (MPI.COMM_TYPE_SHARED) share one MPI shared-memory
    window, allocated by the lowest rank of each machine; rank 0 fills its machine's
    window and broadcasts the bytes to the first rank of every other machine, which
    fills its own. So a data set costs its size once per machine, not once per rank.
    Where the MPI library has no shared windows (or shared_memory=False) every rank
    receives a private copy by broadcast instead.
    """
    return load_on_root(lambda: tree, comm, shared_memory=shared_memory)


def _receive(comm, description, arrays, shared_memory):
    """Every rank's copy of the arrays that `description` announces (rank 0 holds
    them in `arrays`), in shared memory where possible; see share()."""
    MPI = _mpi()
    specs = _array_specs(description["tree"], [])
    offsets, total = [], 0
    for dtype, shape in specs:
        total = -(-total // _ALIGN) * _ALIGN
        offsets.append(total)
        total += dtype.itemsize * math.prod(shape)

    shared = _shared_region(comm, total) if shared_memory and total else None
    if shared is not None:
        region, window, node = shared
        if comm.Get_rank() == 0:
            _fill(region, arrays, offsets)
        # One rank per machine (the lowest, which allocated the window) receives the
        # bytes; rank 0 is the lowest of all, so it is the one that sends them.
        leaders = comm.Split(0 if node.Get_rank() == 0 else MPI.UNDEFINED, comm.Get_rank())
        if leaders != MPI.COMM_NULL:
            _bcast_large(leaders, region)
            leaders.Free()
        # A fence on the window: the other ranks of the machine wait here until the
        # bytes are written, and then see them.
        window.Fence()
    else:  # every rank its own copy, by broadcast
        region = np.empty(total, dtype=np.uint8)
        if comm.Get_rank() == 0:
            _fill(region, arrays, offsets)
        _bcast_large(comm, region)
    received = [_view(region, offset, dtype, shape)
                for offset, (dtype, shape) in zip(offsets, specs)]
    for array in received:
        array.setflags(write=False)
    return _decode(description["tree"], received)


def _shared_region(comm, total):
    """(uint8 array of `total` bytes, window, machine communicator): memory shared by
    the ranks of this machine, allocated by its lowest rank; None if the MPI library
    cannot allocate shared windows. Kept alive for the life of the process, since the
    arrays handed out point into it."""
    MPI = _mpi()
    node = comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.Get_rank())
    try:
        window = MPI.Win.Allocate_shared(total if node.Get_rank() == 0 else 0, 1, comm=node)
    except (NotImplementedError, MPI.Exception):
        node.Free()
        return None
    memory, _unit = window.Shared_query(0)
    region = np.frombuffer(memory, dtype=np.uint8, count=total)
    _KEEP_ALIVE.append((window, node))
    return region, window, node


def _fill(region, arrays, offsets):
    for array, offset in zip(arrays, offsets):
        flat = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
        region[offset:offset + flat.size] = flat


def _view(region, offset, dtype, shape):
    count = math.prod(shape)
    if count == 0:
        return np.empty(shape, dtype=dtype)
    return region[offset:offset + count * dtype.itemsize].view(dtype).reshape(shape)


def load_on_root(load, comm=None, *, shared_memory=True):
    """Call `load()` on rank 0 only and give its result to every rank (see `share`).

    Rank 0 alone reads, downloads and parses, then the others receive the arrays: no N
    downloads at once, no N parsed copies. If `load` raises on rank 0, rank 0 raises
    that exception and every other rank raises RootFailed (a DatasetError there when
    rank 0's was one, so that a command line catching DatasetError catches both).
    """
    MPI = _mpi()
    comm = comm if comm is not None else MPI.COMM_WORLD
    rank = comm.Get_rank()
    arrays, failure, header = [], None, b""
    if rank == 0:
        try:
            result = load()
            header = json.dumps({"ok": True, "tree": _encode(result, arrays)})
        except Exception as exc:
            failure = exc
            header = json.dumps({"ok": False, "type": type(exc).__name__})
        header = header.encode("utf-8")
    description = json.loads(_bcast_bytes(comm, header).decode("utf-8"))
    if not description["ok"]:
        if failure is not None:
            raise failure
        message = (f"rank 0 could not load the data ({description['type']}; rank 0's "
                   f"message says why)")
        if description["type"] == "DatasetError":
            raise RootDatasetError(message)
        raise RootFailed(message)
    return _receive(comm, description, arrays, shared_memory)


def load_dataset(name, comm=None, *, dtype=np.float32, shared_memory=True, **kwargs):
    """`chainrule.datasets.load_dataset` for N ranks: rank 0 loads, every rank shares.

    Returns ((x_train, t_train), (x_test, t_test)) as read-only arrays, the images in
    `dtype`. Pass the network's dtype: the trainer then uses the shared arrays as they
    are, where another dtype would make each rank convert its own private copy.
    Other keyword arguments go to load_dataset (normalize, flatten, data_dir, ...).
    """
    from .datasets import load_dataset as _load

    return load_on_root(lambda: _load(name, dtype=dtype, **kwargs), comm,
                        shared_memory=shared_memory)


# -- arrays packed into one contiguous buffer ----------------------------------------------
class _Layout:
    """Where each named array lives in one flat buffer: arrays laid end to end.

    Communicating one buffer with one MPI call, rather than each array with its own,
    pays the call's latency once (microseconds within a machine, tens of them across
    a network) instead of once per array.
    """

    def __init__(self, arrays):
        self.slices = {}
        self.size = 0
        for name, array in arrays.items():
            self.slices[name] = (self.size, self.size + array.size, array.shape)
            self.size += array.size

    def views(self, buffer, offset=0):
        """name -> the array's place in `buffer` (a view: writing it writes the buffer)."""
        return {name: buffer[offset + a:offset + b].reshape(shape)
                for name, (a, b, shape) in self.slices.items()}


def _common_dtype(arrays):
    """The arrays' dtype if they share one (the usual case), else float64."""
    dtypes = {a.dtype for a in arrays}
    return dtypes.pop() if len(dtypes) == 1 else np.dtype(np.float64)


# -- the trainer -------------------------------------------------------------------------
class DistributedTrainer(Trainer):
    """`Trainer` on N MPI processes, each computing the gradients of its slice of every batch.

    Arguments are Trainer's, plus `comm` (default MPI.COMM_WORLD) and `root_callbacks`.
    Every rank builds the same trainer with the same arguments; `mini_batch_size` is the
    global batch, split among the ranks. Then:

      * at the start of train() the ranks check that they were set up alike (network,
        optimizer and trainer settings) and take rank 0's weights, buffers and
        optimizer state, so they start identical even if they were built differently;
      * each step, rank r computes the gradients of its slice of the batch, scales
        them by slice / batch and adds them to the other ranks' with one allreduce
        over one contiguous buffer; every rank applies the same update;
      * batch norm's running statistics ride along in the same buffer, weighted the
        same way, so the ranks keep one set (see the module docstring);
      * at every epoch end the ranks compare checksums of their weights, buffers and
        optimizer state and raise ReplicaMismatch, naming the arrays and ranks, if
        any differ;
      * accuracy is measured by all ranks together, each on its slice of the data;
      * rank 0 alone prints, writes the metrics file and saves checkpoints (which hold
        the whole, global state: a run saved by N ranks resumes on any number);
      * `callbacks` run on every rank (they see the same global losses and metrics, so
        decisions they make, like stopping early, agree); `root_callbacks` run on
        rank 0 only, for those that write or show something;
      * a stop request (Ctrl-C, request_stop) on any rank stops all ranks after the
        same step;
      * an exception on one rank ends the job with a message naming the rank (see
        `abort`); errors every rank meets together (divergence, interruption,
        mismatch) are raised on every rank as with Trainer.

    After each step `step_seconds` holds {"compute", "allreduce", "steps"}, totals on
    this rank: the time spent in the network and the optimizer, and in the allreduce
    (which includes waiting for slower ranks).
    """

    def __init__(self, network, x_train, t_train, x_test, t_test, *args, comm=None,
                 root_callbacks=(), **kwargs):
        self._join(comm)
        super().__init__(network, x_train, t_train, x_test, t_test, *args, **kwargs)
        self._distribute(root_callbacks, kwargs.get("seed") is not None)

    def _join(self, comm):
        self.comm = comm if comm is not None else world()
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self.is_root = self.rank == 0

    def _distribute(self, root_callbacks, seed_given):
        """What a trainer built on every rank needs to train as one: rank 0's seed, the
        callbacks of rank 0 alone, and the buffer every step sends."""
        network = self.network
        if not seed_given:
            # Each rank drew its own random seed: they must all use rank 0's, or they
            # would shuffle differently and train on mismatched batches.
            seed = np.array([self.seed], dtype=np.int64)
            self.comm.Bcast(seed, root=0)
            self.seed = int(seed[0])
        if self.is_root:
            self.callbacks = list(self.callbacks) + list(root_callbacks)
        else:
            self.verbose = False

        params = network.params
        buffers = getattr(network, "buffers", {}) or {}
        # The one buffer each step sends: every gradient, then batch norm's running
        # statistics, then scalars: the weighted loss, the stop flag, and one flag per
        # rank for "my pass produced a NaN or an infinity".
        grads, stats = _Layout(params), _Layout(buffers)
        tail = grads.size + stats.size
        self._fused = np.zeros(tail + 2 + self.size,
                               dtype=_common_dtype(list(params.values()) + list(buffers.values())))
        self._grad_views = grads.views(self._fused)
        self._stat_views = stats.views(self._fused, grads.size)
        self._loss_slot = tail
        self._stop_slot = tail + 1
        self._nonfinite_slots = slice(tail + 2, tail + 2 + self.size)

        self.step_seconds = {"compute": 0.0, "allreduce": 0.0, "steps": 0}
        self.bytes_per_step = self._fused.nbytes
        self._synced = False
        self._agreed_stop = False
        self._allreduce_seconds = 0.0

    # -- stopping together ------------------------------------------------------------
    def stop_agreed(self):
        """Whether any rank asked to stop (Ctrl-C, SIGUSR1, request_stop) by the step
        just made: a rank's request (stop_requested) travels in that step's allreduce,
        so every rank sees the same answer and all stop after the same step."""
        return self._agreed_stop

    # -- the step -----------------------------------------------------------------------
    def train_step(self, x_batch, t_batch):
        """One step of the global batch: this rank's slice, one allreduce, one update.

        Returns the loss of the whole batch (the same on every rank). Divergence is
        judged on that loss, so every rank stops at the same step.
        """
        started = time.perf_counter()
        if not self._synced:
            self.synchronize()
        self._allreduce_seconds = 0.0
        loss = super().train_step(x_batch, t_batch)
        seconds = self.step_seconds
        seconds["allreduce"] += self._allreduce_seconds
        seconds["compute"] += time.perf_counter() - started - self._allreduce_seconds
        seconds["steps"] += 1
        return loss

    def step_gradients(self, x_batch, t_batch):
        """(gradients, loss) of the global batch: this rank's slice, scaled by its share,
        added to the other ranks' in one allreduce (with batch norm's statistics and
        the stop flag). A NaN or infinity in any rank's pass is divergence on all."""
        n = len(x_batch)
        lo, hi = slice_bounds(n, self.rank, self.size)
        weight = (hi - lo) / n
        fused = self._fused
        fused[self._nonfinite_slots] = 0
        failure = None
        if hi > lo:
            try:
                grads = self.network.gradient(x_batch[lo:hi], t_batch[lo:hi])
                for name, view in self._grad_views.items():
                    np.multiply(grads[name], weight, out=view)
                for name, view in self._stat_views.items():
                    np.multiply(self.network.buffers[name], weight, out=view)
                fused[self._loss_slot] = weight * float(self.network.last_loss)
            except NonFiniteError as exc:
                failure = exc
        if hi <= lo or failure is not None:
            # No samples here (more ranks than samples), or a pass that overflowed:
            # contribute nothing, and say which.
            fused[:self._loss_slot + 1] = 0
            if failure is not None:
                fused[self._nonfinite_slots.start + self.rank] = 1
        fused[self._stop_slot] = 1 if self.stop_requested else 0
        reduced_at = time.perf_counter()
        self.comm.Allreduce(_mpi().IN_PLACE, fused, op=_mpi().SUM)
        self._allreduce_seconds += time.perf_counter() - reduced_at

        self._agreed_stop = bool(fused[self._stop_slot] > 0)
        bad_ranks = np.flatnonzero(fused[self._nonfinite_slots]).tolist()
        if bad_ranks:
            where = f"; on this rank: {failure}" if failure is not None else ""
            self.diverged(f"a NaN or infinity appeared in the pass on rank(s) "
                           f"{', '.join(map(str, bad_ranks))}{where}")
        for name, view in self._stat_views.items():
            self.network.buffers[name][...] = view
        return self._grad_views, float(fused[self._loss_slot])

    # -- measuring ----------------------------------------------------------------------
    def measure_accuracy(self, x, t, network=None):
        """Accuracy measured by all ranks together: each counts the correct answers on
        its contiguous slice, and one allreduce adds the counts. (Every rank measures
        the network it trains: `network` is for Trainer's evaluation in a second
        thread, which a distributed run does not use.)"""
        if self.evaluate_sample_num_per_epoch:
            x = x[:self.evaluate_sample_num_per_epoch]
            t = t[:self.evaluate_sample_num_per_epoch]
        lo, hi = slice_bounds(len(x), self.rank, self.size)
        counts = np.array([0], dtype=np.int64)
        for start in range(lo, hi, self.eval_batch_size):
            stop = min(start + self.eval_batch_size, hi)
            y = self.network.predict(x[start:stop], train_flg=False)
            counts[0] += np.count_nonzero(y.argmax(axis=1) == t[start:stop])
        self.comm.Allreduce(_mpi().IN_PLACE, counts, op=_mpi().SUM)
        return int(counts[0]) / len(x)

    # -- keeping the replicas identical -------------------------------------------------
    def _state_arrays(self):
        """Every array the ranks must agree on, by name: weights, buffers, optimizer."""
        arrays = {f"param/{k}": v for k, v in self.network.params.items()}
        arrays.update({f"buffer/{k}": v for k, v in
                       (getattr(self.network, "buffers", {}) or {}).items()})
        for slot in self.optimizer.slots:
            for key, value in getattr(self.optimizer, slot).items():
                arrays[f"optimizer/{slot}/{key}"] = value
        return arrays

    def _setup_description(self):
        """What must be the same on every rank, in four parts, as JSON text."""
        net = self.network
        opt = self.optimizer
        shapes = {name: [a.dtype.str, list(a.shape)] for name, a in self._state_arrays().items()}
        return {
            "network": json.dumps([type(net).__name__, net.config], sort_keys=True, default=str),
            "arrays": json.dumps(shapes, sort_keys=True),
            "optimizer": json.dumps([type(opt).__name__, opt.hyperparameters(), opt.iter],
                                    sort_keys=True, default=str),
            "trainer": json.dumps([self.seed, self.batch_size, len(self.x_train),
                                   len(self.x_test), self.max_iter, self.current_iter,
                                   self.evaluate_sample_num_per_epoch], default=str),
        }

    def synchronize(self):
        """Check that every rank set up the same run, then copy rank 0's weights,
        buffers and optimizer state to all ranks (one broadcast of one buffer).

        train() calls it first (and train_step, if called without train()); call it
        yourself after changing the weights of some ranks only. Raises SetupMismatch
        (a ValueError) on every rank if the set-ups differ, naming what differs.
        """
        description = self._setup_description()
        hashes = np.array([zlib.crc32(text.encode("utf-8")) for text in description.values()],
                          dtype=np.int64)
        every = np.empty((self.size, hashes.size), dtype=np.int64)
        self.comm.Allgather(hashes, every)
        differ = every != every[0]
        if differ.any():
            parts = [part for part, bad in zip(description, differ.any(axis=0)) if bad]
            ranks = np.flatnonzero(differ.any(axis=1)).tolist()
            raise SetupMismatch(f"rank(s) {', '.join(map(str, ranks))} set up a different run "
                             f"than rank 0: the {', '.join(parts)} differ(s). Every rank must "
                             f"build the same network, optimizer and trainer.")
        arrays = self._state_arrays()
        layout = _Layout(arrays)
        buffer = np.empty(layout.size, dtype=_common_dtype(arrays.values()))
        views = layout.views(buffer)
        if self.is_root:
            for name, view in views.items():
                view[...] = arrays[name]
        self.comm.Bcast(buffer, root=0)
        for name, view in views.items():
            arrays[name][...] = view
        self._reseed_layer_generators()
        self._synced = True

    def _reseed_layer_generators(self):
        """Give each rank other than 0 its own dropout generator, from (seed, rank, step).

        Rank 0 keeps the network's generator, so one rank trains exactly as Trainer does
        and a checkpoint saves the stream it was drawing. Identical masks on every rank
        would drop the same units for the k-th sample of every slice: not wrong, but
        not the independent masks a single process draws for a whole batch either.
        """
        if self.rank == 0:
            return
        replaced = {}
        for layer in getattr(self.network, "layers", {}).values():
            if describe(layer).draws_random:
                key = id(layer.rng)
                if key not in replaced:
                    replaced[key] = np.random.default_rng(
                        [self.seed, self.rank, self.current_iter])
                layer.rng = replaced[key]

    def verify_replicas(self):
        """Raise ReplicaMismatch on every rank unless all ranks hold bit-identical
        weights, buffers and optimizer state. Costs one CRC-32 pass over the state
        (about a millisecond per few megabytes) and one small allgather."""
        names, sums = replica_checksums(self._state_arrays())
        every = np.empty((self.size, sums.size), dtype=np.int64)
        self.comm.Allgather(sums, every)
        differ = every != every[0]
        if differ.any():
            arrays = [name for name, bad in zip(names, differ.any(axis=0)) if bad]
            ranks = np.flatnonzero(differ.any(axis=1)).tolist()
            raise ReplicaMismatch(
                f"the ranks' copies of the model differ at iteration {self.current_iter}: "
                f"{', '.join(arrays)} on rank(s) {', '.join(map(str, ranks))} differ from "
                f"rank 0. Every rank must apply the same updates; something changed the "
                f"weights of some ranks only.")

    def check_weights(self):
        """Trainer's check (finite weights), then that the ranks' copies agree: it runs
        at every epoch end and before a checkpoint on Ctrl-C, which holds rank 0's copy
        alone."""
        super().check_weights()
        self.verify_replicas()

    # -- one voice ----------------------------------------------------------------------
    def save(self, path, best=False):
        """Rank 0 saves (atomically, see Trainer.save); the others note the path and
        wait until the file is written, so that none runs ahead (and, say, ends the
        job) while rank 0 is still writing."""
        if self.is_root:
            path = super().save(path, best=best)
        else:
            path = os.fspath(path)
            if not best:
                self.last_saved = (path, self.current_iter)
        self.comm.Barrier()
        return path

    def train(self):
        """Run (or continue) training on all ranks; returns `history` (the same on each).

        An unexpected exception on any rank ends the job (see `abort`); divergence,
        interruption, ReplicaMismatch and SetupMismatch, which every rank meets at the
        same step, are raised as usual.

        SIGUSR1 asks for a stop, as Ctrl-C does: MPICH's mpiexec passes SIGUSR1 on to
        every rank and goes on waiting, whereas it answers Ctrl-C by ending them, so
        `kill -USR1 <pid of mpiexec>` is the way to stop a job and keep its state.
        """
        together = (TrainingDiverged, TrainingInterrupted, ReplicaMismatch, SetupMismatch)
        previous = None
        if (threading.current_thread() is threading.main_thread()
                and hasattr(signal, "SIGUSR1")):
            previous = signal.signal(signal.SIGUSR1, self._on_stop_signal)
        try:
            self._agreed_stop = False
            with abort_on_error(self.comm, passthrough=together):
                # Before the first evaluation, so that it measures rank 0's weights too.
                self.synchronize()
                return super().train()
        finally:
            if previous is not None:
                signal.signal(signal.SIGUSR1, previous)

    def _on_stop_signal(self, signum, frame):
        self.request_stop()


class DistributedLanguageModelTrainer(DistributedTrainer, LanguageModelTrainer):
    """LanguageModelTrainer on N MPI processes: each step's batch of streams (or
    windows) is split among the ranks as DistributedTrainer splits samples, and
    everything else is as there.

    With streams, rank r reads the same rows of every batch, so the state its recurrent
    layers carry is that of its own streams. A checkpoint holds every stream's state
    (rank 0 gathers them, in stream order), and a resumed run gives each rank its rows,
    on any number of ranks.
    """

    def __init__(self, network, train_ids, val_ids, *, comm=None, root_callbacks=(),
                 **kwargs):
        self._join(comm)
        LanguageModelTrainer.__init__(self, network, train_ids, val_ids, **kwargs)
        self._distribute(root_callbacks, kwargs.get("seed") is not None)

    def _rows(self):
        return slice(*slice_bounds(self.batch_size, self.rank, self.size))

    def save(self, path, best=False):
        """Every rank's recurrent state, gathered to rank 0, goes in the file."""
        self._gathered = self._gather_states()
        try:
            return super().save(path, best=best)
        finally:
            self._gathered = None

    def _gather_states(self):
        """{layer/attr: the whole (batch_size, H) state} on rank 0 (None elsewhere)."""
        gathered = {}
        for key, value in sorted(LanguageModelTrainer.state_arrays(self).items()):
            if not key.startswith("state/"):
                continue
            parts = self.comm.gather(np.ascontiguousarray(value), root=0)
            gathered[key] = np.concatenate(parts) if self.is_root else None
        return gathered

    def state_arrays(self):
        arrays = LanguageModelTrainer.state_arrays(self)
        gathered = getattr(self, "_gathered", None)
        if gathered:
            arrays.update(gathered)
        return arrays

    def _restore(self, checkpoint, rngs):
        """The checkpoint as LanguageModelTrainer restores it, each rank then keeping
        the rows of its own streams."""
        LanguageModelTrainer._restore(self, checkpoint, rngs)
        rows = self._rows()
        for layer in recurrent_layers(self.network).values():
            for attr in ("h", "c"):
                state = getattr(layer, attr, None)
                if state is not None and len(state) == self.batch_size:
                    setattr(layer, attr, np.array(state[rows]))


def replica_checksums(arrays):
    """(names, CRC-32 of each array's bytes as int64): equal bits, equal checksums."""
    names = list(arrays)
    sums = np.array([zlib.crc32(np.ascontiguousarray(arrays[k]).view(np.uint8).reshape(-1))
                     for k in names], dtype=np.int64)
    return names, sums
