"""Checkpoints: a model survives the round trip exactly, and anything that is not a
sound chainrule checkpoint gives a CheckpointError naming the file, with nothing in
the file ever executed."""

import json
import os
import pickle
import stat
import zipfile

import numpy as np
import pytest

import chainrule
from chainrule import models
from chainrule.checkpoint import CheckpointError, load, load_checkpoint, save
from chainrule.optimizers import Adam


def model_zoo():
    return {
        "two-layer": models.TwoLayerNet(20, 7, 4, rng=0),
        "two-layer-float32": models.TwoLayerNet(20, 7, 4, dtype="float32", rng=0),
        "mlp-batchnorm": models.MultiLayerNet(20, [6, 5], 4, use_batchnorm=True,
                                              activation="tanh", weight_decay_lambda=0.01,
                                              rng=0),
        "simple-conv": models.SimpleConvNet(
            (1, 10, 10), {"filter_num": 3, "filter_size": 3, "pad": 1, "stride": 1},
            hidden_size=5, output_size=4, rng=0),
    }


def perturb(model, seed=1):
    """Give every array values no constructor would produce (biases start at zero,
    batch norm's statistics at 0 and 1), so that a round trip that silently kept the
    fresh model's values would be caught."""
    rng = np.random.default_rng(seed)
    for arrays in (model.params, model.buffers):
        for value in arrays.values():
            value[...] = rng.standard_normal(value.shape) + 1.5


@pytest.mark.parametrize("name", list(model_zoo()))
def test_round_trip(tmp_path, name):
    model = model_zoo()[name]
    perturb(model)
    path = tmp_path / "model.npz"
    assert save(model, path) == os.fspath(path)
    loaded = load(path)
    assert type(loaded) is type(model) and loaded.config == model.config
    for kind in ("params", "buffers"):
        mine, theirs = getattr(model, kind), getattr(loaded, kind)
        assert list(mine) == list(theirs)
        for key in mine:
            assert theirs[key].dtype == mine[key].dtype
            assert np.array_equal(theirs[key], mine[key]), key
    x = np.random.default_rng(2).random((3, 20 if "conv" not in name else 100))
    assert np.array_equal(loaded.predict(x), model.predict(x))


def test_loaded_layers_hold_the_loaded_params(tmp_path):
    """An optimizer updating the loaded params in place must reach the layers."""
    model = models.TwoLayerNet(5, 3, 2, rng=0)
    save(model, tmp_path / "m.npz")
    loaded = load(tmp_path / "m.npz")
    x = np.ones((1, 5))
    before = loaded.predict(x).copy()
    loaded.params["b2"] += 1.0
    assert np.allclose(loaded.predict(x), before + 1.0)


def test_top_level_names_and_plain_npz(tmp_path):
    model = models.TwoLayerNet(5, 3, 2, rng=0)
    chainrule.save(model, tmp_path / "m.npz")
    assert isinstance(chainrule.load(tmp_path / "m.npz"), models.TwoLayerNet)
    # A plain .npz, readable by NumPy without pickle; no compression.
    with np.load(tmp_path / "m.npz", allow_pickle=False) as z:
        assert np.array_equal(z["param/W1"], model.params["W1"])
        meta = json.loads(z["__chainrule__"].tobytes())
    assert meta["model"] == "TwoLayerNet" and meta["config"] == model.config
    with zipfile.ZipFile(tmp_path / "m.npz") as zf:
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())


def test_optimizer_and_training_state_round_trip(tmp_path):
    model = models.TwoLayerNet(5, 3, 2, rng=0)
    opt = Adam(lr=0.01, beta1=0.8)
    rng = np.random.default_rng(0)
    for _ in range(3):
        opt.update(model.params, {k: rng.standard_normal(v.shape) for k, v in model.params.items()})
    training = {"seed": 1, "iteration": 2, "epoch": 1, "max_iter": 5, "batch_size": 2,
                "train_size": 4, "elapsed": 0.5, "train_loss_list": [2.0, 1.5],
                "history": [{"iteration": 0, "train_acc": 0.5, "test_acc": 0.25}],
                "rngs": None, "run": {"dataset": "mnist-10k"}}
    save(model, tmp_path / "c.npz", optimizer=opt, training=training)
    ck = load_checkpoint(tmp_path / "c.npz")
    assert ck.training == training
    rebuilt = ck.make_optimizer()
    assert isinstance(rebuilt, Adam) and rebuilt.hyperparameters() == opt.hyperparameters()
    assert rebuilt.iter == 3
    for key, value in opt.state_dict().items():
        assert np.array_equal(rebuilt.state_dict()[key], value), key
        assert rebuilt.state_dict()[key].shape == value.shape  # the step count stays 0-d


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    good = models.TwoLayerNet(5, 3, 2, rng=0)
    save(good, path)
    original = path.read_bytes()

    def broken_savez(f, **arrays):
        f.write(b"PK\x03\x04 half a file")
        raise KeyboardInterrupt  # Ctrl-C in the middle of writing

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(KeyboardInterrupt):
        save(models.TwoLayerNet(5, 3, 2, rng=1), path)
    assert path.read_bytes() == original
    assert os.listdir(tmp_path) == ["m.npz"]  # no temporary file left behind


def test_saved_file_is_not_private(tmp_path):
    """mkstemp makes files 0600; a saved model gets the usual mode instead."""
    path = tmp_path / "m.npz"
    save(models.TwoLayerNet(5, 3, 2), path)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask


def test_save_into_a_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save(models.TwoLayerNet(5, 3, 2), tmp_path / "nowhere" / "m.npz")


# -- files that are not checkpoints ----------------------------------------------------
def refused(path, *words):
    with pytest.raises(CheckpointError) as info:
        load(path)
    message = str(info.value)
    assert message.startswith(os.fspath(path)), message
    for word in words:
        assert word in message, message
    return message


def test_not_checkpoints(tmp_path):
    refused(tmp_path / "missing.npz", "no such file")
    refused(tmp_path, "directory")
    (tmp_path / "empty.npz").write_bytes(b"")
    refused(tmp_path / "empty.npz", "not a chainrule checkpoint")
    (tmp_path / "text.npz").write_text("W1 = 0.1, 0.2\n")
    refused(tmp_path / "text.npz", "not a chainrule checkpoint")
    np.savez(tmp_path / "random.npz", W1=np.ones((3, 2)), b1=np.zeros(2))
    refused(tmp_path / "random.npz", "no __chainrule__")
    with zipfile.ZipFile(tmp_path / "other.npz", "w") as zf:
        zf.writestr("readme.txt", "hello")
    refused(tmp_path / "other.npz", "unexpected member")


class Marker:
    """Unpickling this creates a file: proof that the loader ran code from the file."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_pickled_objects_are_never_loaded(tmp_path):
    marker = tmp_path / "executed"
    hostile = tmp_path / "hostile.npz"
    good = tmp_path / "good.npz"
    save(models.TwoLayerNet(5, 3, 2, rng=0), good)
    with np.load(good, allow_pickle=False) as z:
        members = {k: z[k] for k in z.files}
    # Sanity check of the trap itself: unpickling does create the marker.
    pickle.loads(pickle.dumps(Marker(str(tmp_path / "trap-works"))))
    assert (tmp_path / "trap-works").exists()

    objects = np.empty(2, dtype=object)
    objects[:] = [Marker(str(marker)), 1]
    for key in ("param/W1", "__chainrule__"):
        np.savez(hostile, **{**members, key: objects})
        refused(hostile, "only numeric arrays")
        assert not marker.exists()


def rewrite(src, dst, change_metadata=None, **arrays):
    """Copy checkpoint src to dst with some arrays replaced (None removes one) and the
    metadata changed by change_metadata(meta); the metadata's array list follows the
    arrays unless change_metadata says otherwise."""
    with np.load(src, allow_pickle=False) as z:
        members = {k: z[k] for k in z.files}
    meta = json.loads(members.pop("__chainrule__").tobytes())
    for key, value in arrays.items():
        key = key.replace("__", "/")
        if value is None:
            members.pop(key)
        else:
            members[key] = value
    meta["arrays"] = {k: {"shape": list(v.shape), "dtype": v.dtype.str}
                      for k, v in members.items()}
    if change_metadata:
        change_metadata(meta)
    np.savez(dst, __chainrule__=np.frombuffer(json.dumps(meta).encode(), np.uint8), **members)
    return dst


@pytest.fixture
def good(tmp_path):
    model = models.TwoLayerNet(6, 4, 3, dtype="float32", rng=0)
    opt = Adam()
    opt.update(model.params, {k: np.ones_like(v) for k, v in model.params.items()})
    path = tmp_path / "good.npz"
    save(model, path, optimizer=opt)
    load(path)  # the starting point itself is sound
    return path


def set_key(path, value):
    def change(meta):
        target = meta
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


def test_different_architecture(good, tmp_path):
    bad = tmp_path / "bad.npz"
    refused(rewrite(good, bad, param__W1=np.zeros((6, 5), np.float32)), "param/W1", "shape")
    refused(rewrite(good, bad, set_key(("config", "hidden_size"), 5)), "shape")
    refused(rewrite(good, bad, param__b1=None), "missing b1")
    refused(rewrite(good, bad, param__W3=np.zeros(2, np.float32)), "unexpected W3")
    refused(rewrite(good, bad, param__W1=np.zeros((6, 4), np.float64)), "dtype")
    refused(rewrite(good, bad, set_key(("config", "dtype"), "float64")), "dtype")
    refused(rewrite(good, bad, set_key(("model",), "SimpleConvNet")), "cannot rebuild")
    refused(rewrite(good, bad, set_key(("model",), "os.system")), "unknown model class")
    refused(rewrite(good, bad, set_key(("config", "hidden_size"), 10**12)), "size")
    refused(rewrite(good, bad, set_key(("config", "colour"), "red")), "cannot rebuild")


def test_metadata_that_does_not_fit(good, tmp_path):
    bad = tmp_path / "bad.npz"
    refused(rewrite(good, bad, set_key(("format",), "something-else")), "format")
    refused(rewrite(good, bad, set_key(("format_version",), 99)), "version 99")
    refused(rewrite(good, bad, set_key(("arrays", "param/W1", "shape"), [4, 6])),
            "metadata says")
    refused(rewrite(good, bad, lambda m: m["arrays"].pop("param/b2")), "list of arrays")
    with np.load(good, allow_pickle=False) as z:
        members = {k: z[k] for k in z.files}
    np.savez(bad, **{**members, "__chainrule__": np.frombuffer(b"{not json", np.uint8)})
    refused(bad, "not valid JSON")


def test_optimizer_state_that_does_not_fit(good, tmp_path):
    bad = tmp_path / "bad.npz"
    refused(rewrite(good, bad, optimizer__m__W1=np.zeros((4, 6), np.float32)), "shape")
    refused(rewrite(good, bad, optimizer__m__W9=np.zeros(3, np.float32)), "does not have")
    refused(rewrite(good, bad, set_key(("optimizer", "class"), "Evil")), "optimizer")
    refused(rewrite(good, bad, set_key(("optimizer", "hyperparameters", "lr"), -1)),
            "lr")
    refused(rewrite(good, bad, optimizer__iter=np.array([1.5])), "step count")


def test_training_state_that_does_not_fit(tmp_path):
    from chainrule.callbacks import EpochCheckpoint
    from chainrule.trainer import Trainer
    rng = np.random.default_rng(0)
    x, t = rng.random((20, 6)), rng.integers(0, 3, 20)
    path = tmp_path / "run.npz"
    Trainer(models.TwoLayerNet(6, 4, 3, rng=0), x, t, x, t, iters=3, mini_batch_size=5,
            seed=0, verbose=False, callbacks=[EpochCheckpoint(path)]).train()
    load_checkpoint(path)
    bad = tmp_path / "bad.npz"
    refused(rewrite(path, bad, set_key(("training", "iteration"), 99)), "past its end")
    refused(rewrite(path, bad, set_key(("training", "train_loss_list"), [1.0])), "losses")
    refused(rewrite(path, bad, set_key(("training", "seed"), -5)), "seed")
    refused(rewrite(path, bad, set_key(("training", "history"), [{"iteration": "x"}])),
            "history")


def test_compressed_members_are_refused(good, tmp_path):
    with np.load(good, allow_pickle=False) as z:
        members = {k: z[k] for k in z.files}
    np.savez_compressed(tmp_path / "zipped.npz", **members)
    refused(tmp_path / "zipped.npz", "compressed")


def _with_header(path, member, header_dict_text):
    """Replace one member's .npy header, keeping its data, and fix up the zip."""
    with zipfile.ZipFile(path) as zf:
        contents = {i.filename: zf.read(i) for i in zf.infolist()}
    raw = contents[member]
    header_len = int.from_bytes(raw[8:10], "little")
    data = raw[10 + header_len:]
    text = header_dict_text.encode("latin1")
    text += b" " * (-(10 + len(text) + 1) % 64) + b"\n"
    contents[member] = raw[:8] + len(text).to_bytes(2, "little") + text + data
    with zipfile.ZipFile(path, "w") as zf:
        for name, value in contents.items():
            zf.writestr(name, value)


def test_lying_array_header_allocates_nothing(good, tmp_path):
    """A header that claims 10^12 elements must be refused before any allocation."""
    bad = tmp_path / "bad.npz"
    bad.write_bytes(good.read_bytes())
    _with_header(bad, "param/W1.npy",
                 "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }")
    refused(bad, "declares shape")


def test_truncated_file(good, tmp_path):
    data = good.read_bytes()
    for cut in (10, len(data) // 3, len(data) // 2, len(data) - 30, len(data) - 1):
        (tmp_path / "cut.npz").write_bytes(data[:cut])
        refused(tmp_path / "cut.npz")


def test_the_record_of_a_models_inputs_travels_with_it(tmp_path):
    net = models.TwoLayerNet(5, 3, 2)
    assert net.inputs is None
    net.inputs = {"vocabulary": {"kind": "chars", "tokens": ["a", "b"]}}
    save(net, tmp_path / "m.npz")
    assert load(tmp_path / "m.npz").inputs == net.inputs
    net.inputs = {"not json": object()}
    with pytest.raises(ValueError, match="not plain JSON"):
        save(net, tmp_path / "bad.npz")
