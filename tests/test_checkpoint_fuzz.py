"""Fuzzing the checkpoint loader: a damaged file loads correctly or not at all.

Every mutated file must give one of two outcomes: a checkpoint whose arrays equal the
original's, or a CheckpointError. Any other exception, a hang, a huge allocation, or a
load that returns *different* arrays is a bug.
"""

import json
import os
import tempfile

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from chainrule import models  # noqa: E402
from chainrule.checkpoint import CheckpointError, load_checkpoint  # noqa: E402
from chainrule.trainer import Trainer  # noqa: E402
from chainrule.callbacks import EpochCheckpoint  # noqa: E402

WORKDIR = tempfile.mkdtemp(prefix="chainrule-fuzz-")


def _make_original():
    """A small checkpoint with every section: params, batch-norm buffers, Adam's state,
    the training state with its history and a dropout generator's state."""
    rng = np.random.default_rng(0)
    x = rng.random((30, 12)).astype(np.float32)
    t = rng.integers(0, 3, 30)
    net = models.MultiLayerNet(12, [5], 3, use_batchnorm=True, use_dropout=True,
                               dtype="float32", rng=1)
    path = os.path.join(WORKDIR, "original.npz")
    trainer = Trainer(net, x, t, x, t, iters=4, mini_batch_size=10, optimizer="Adam",
                      seed=2, verbose=False, callbacks=[EpochCheckpoint(path)])
    trainer.train()
    with open(path, "rb") as f:
        return f.read(), load_checkpoint(path)


ORIGINAL, REFERENCE = _make_original()


def assert_loads_correctly_or_refuses(data, name):
    path = os.path.join(WORKDIR, name)
    with open(path, "wb") as f:
        f.write(data)
    try:
        loaded = load_checkpoint(path)
    except CheckpointError as exc:
        assert str(exc).startswith(path)  # the message names the file
        return "refused"
    for kind in ("params", "buffers"):
        mine, theirs = getattr(loaded.model, kind), getattr(REFERENCE.model, kind)
        assert list(mine) == list(theirs)
        for key in theirs:
            assert mine[key].dtype == theirs[key].dtype
            assert np.array_equal(mine[key], theirs[key]), key
    assert set(loaded.optimizer_state) == set(REFERENCE.optimizer_state)
    for key, value in REFERENCE.optimizer_state.items():
        assert np.array_equal(loaded.optimizer_state[key], value), key
    return "loaded"


def test_the_original_loads():
    assert assert_loads_correctly_or_refuses(ORIGINAL, "same.npz") == "loaded"


MUTATION = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 2**20), st.integers(0, 7)),
    st.tuples(st.just("truncate"), st.integers(0, 2**20)),
    st.tuples(st.just("insert"), st.integers(0, 2**20), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("overwrite"), st.integers(0, 2**20), st.binary(min_size=1, max_size=8)),
)


def mutate(data, mutations):
    data = bytearray(data)
    for mutation in mutations:
        kind, position = mutation[0], mutation[1] % (len(data) + 1)
        if kind == "flip" and position < len(data):
            data[position] ^= 1 << mutation[2]
        elif kind == "truncate":
            del data[position:]
        elif kind == "insert":
            data[position:position] = mutation[2]
        elif kind == "overwrite":
            data[position:position + len(mutation[2])] = mutation[2]
    return bytes(data)


@settings(derandomize=True, deadline=None, max_examples=500)
@given(st.lists(MUTATION, min_size=1, max_size=4))
def test_damaged_bytes(mutations):
    assert_loads_correctly_or_refuses(mutate(ORIGINAL, mutations), "bytes.npz")


# -- damage that a CRC cannot catch: a well-formed archive with altered metadata -------
def _members():
    with np.load(os.path.join(WORKDIR, "original.npz"), allow_pickle=False) as z:
        return {key: z[key] for key in z.files}


MEMBERS = _members()
METADATA = json.loads(MEMBERS["__chainrule__"].tobytes().decode("utf-8"))


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value[:3]):
            yield from _paths(item, prefix + (i,))


PATHS = [p for p in _paths(METADATA) if p]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=10)
    | st.sampled_from(["float16", "float64", "object", "W1", "PCG64", "MT19937",
                       "TwoLayerNet", "Adam", "relu"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=4),
    max_leaves=8)


@settings(derandomize=True, deadline=None, max_examples=300)
@given(st.lists(st.tuples(st.sampled_from(PATHS), st.booleans(), JSON_VALUES),
                min_size=1, max_size=3))
def test_altered_metadata(changes):
    metadata = json.loads(json.dumps(METADATA))
    for path, delete, value in changes:
        target = metadata
        try:
            for key in path[:-1]:
                target = target[key]
            if delete and isinstance(target, dict):
                target.pop(path[-1], None)
            else:
                target[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            pass  # an earlier change removed or replaced this path's parent
    members = dict(MEMBERS)
    members["__chainrule__"] = np.frombuffer(json.dumps(metadata).encode("utf-8"), np.uint8)
    path = os.path.join(WORKDIR, "meta.npz")
    np.savez(path, **members)
    with open(path, "rb") as f:
        outcome = assert_loads_correctly_or_refuses(f.read(), "meta-copy.npz")
    if outcome == "loaded" and metadata.get("training") is not None:
        # Whatever the loader accepts, resuming must accept too, or refuse clearly.
        loaded = load_checkpoint(path)
        rng = np.random.default_rng(0)
        x = rng.random((30, 12)).astype(np.float32)
        net = models.MultiLayerNet(12, [5], 3, use_batchnorm=True, use_dropout=True,
                                   dtype="float32", rng=1)
        trainer = Trainer(net, x, rng.integers(0, 3, 30), x, rng.integers(0, 3, 30),
                          iters=8, mini_batch_size=10, optimizer="Adam", verbose=False)
        try:
            trainer.load_state(loaded)
        except ValueError:
            pass
