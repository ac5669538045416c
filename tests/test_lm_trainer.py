"""Training language models: streams (the sequel's RnnlmTrainer) and random windows
(nanoGPT), measured on held-out text, resumed exactly."""

import math

import numpy as np
import pytest

import chainrule
from chainrule.callbacks import EarlyStopping, EpochCheckpoint
from chainrule.checkpoint import load_checkpoint
from chainrule.lm_trainer import LanguageModelTrainer
from chainrule.models import Sequential
from chainrule.trainer import TrainingInterrupted
from stopping import StopAfter

V = 12


@pytest.fixture(scope="module")
def text_ids():
    # A text with structure to learn: a repeated phrase with some noise.
    rng = np.random.default_rng(0)
    base = np.tile(np.arange(V), 200)
    noise = rng.integers(0, V, base.size)
    ids = np.where(rng.random(base.size) < 0.1, noise, base)
    return ids[:2000], ids[2000:]


def lstm(stateful=False):
    return Sequential(f"embed(8,vocab={V}) lstm(16,stateful={str(stateful).lower()}) "
                      f"affine({V})", input_shape=8, rng=0)


def gpt():
    return Sequential(f"embed(16,vocab={V}) posembed(8) block(2) layernorm unembed",
                      input_shape=8, rng=0)


def trainer(network, data, **kwargs):
    settings = dict(batch_size=4, time_size=8, iters=60, eval_interval=20,
                    optimizer="adam", optimizer_param={"lr": 0.01}, seed=3, verbose=False)
    settings.update(kwargs)
    return LanguageModelTrainer(network, *data, **settings)


def test_streams_are_read_as_the_sequel_reads_them(text_ids):
    tr = trainer(lstm(), text_ids)
    x, t = tr.batch(0)
    n = len(text_ids[0]) - 1
    assert x.shape == t.shape == (4, 8)
    np.testing.assert_array_equal(x[1], text_ids[0][n // 4: n // 4 + 8])
    np.testing.assert_array_equal(t[1], text_ids[0][n // 4 + 1: n // 4 + 9])
    x2, _ = tr.batch(1)  # the next 8 tokens of each stream
    np.testing.assert_array_equal(x2[1], text_ids[0][n // 4 + 8: n // 4 + 16])
    assert tr.iter_per_epoch == n // 32


@pytest.mark.parametrize("make,sampling", [(lstm, "streams"), (gpt, "windows"),
                                           (lstm, "windows")])
def test_a_language_model_learns_and_reports_perplexity(make, sampling, text_ids):
    tr = trainer(make(), text_ids, sampling=sampling)
    tr.train()
    first, last = tr.history[0], tr.history[-1]
    assert [h["iteration"] for h in tr.history] == [0, 20, 40, 60]
    assert last["val_loss"] < first["val_loss"] - 0.5
    assert last["val_perplexity"] == pytest.approx(math.exp(last["val_loss"]), rel=1e-12)
    assert "train_acc" not in last and tr.val_loss_list[-1] == last["val_loss"]


def test_streams_make_recurrent_layers_stateful_only_while_training(text_ids):
    net = lstm(stateful=False)
    seen = []

    class Spy(StopAfter):
        def on_iteration_end(self, iteration, loss):
            seen.append(net.layers["LSTM1"].stateful)

    trainer(net, text_ids, iters=3, callbacks=[Spy(99)]).train()
    assert seen == [True, True, True] and net.layers["LSTM1"].stateful is False


@pytest.mark.parametrize("stateful", [False, True])
def test_a_network_used_before_trains_from_a_fresh_state(stateful, text_ids):
    """A prediction on a batch of another size leaves a state in the LSTM; a new run's
    streams start from zeros all the same, as on a network never used."""
    used = lstm(stateful=stateful)
    used.predict(text_ids[0][:16].reshape(2, 8))   # 2 streams, the run reads 4
    fresh = trainer(lstm(stateful=stateful), text_ids, iters=25).train()
    again = trainer(used, text_ids, iters=25).train()
    assert [dict(h, elapsed=None) for h in again] == [dict(h, elapsed=None) for h in fresh]


@pytest.mark.parametrize("make,sampling", [(lstm, "streams"), (gpt, "windows")])
def test_ctrl_c_and_resume_continue_exactly(make, sampling, text_ids, tmp_path):
    unbroken = trainer(make(), text_ids, sampling=sampling)
    unbroken.train()
    path = tmp_path / "lm.npz"
    first = trainer(make(), text_ids, sampling=sampling,
                    callbacks=[EpochCheckpoint(path, every_epoch=False), StopAfter(27)])
    with pytest.raises(TrainingInterrupted):
        first.train()
    checkpoint = load_checkpoint(path)
    if sampling == "streams":  # the state in the middle of the streams travels along
        assert "state/LSTM1/h" in checkpoint.training_arrays
    second = trainer(make(), text_ids, sampling=sampling)
    second.load_state(checkpoint)
    second.train()
    for name, value in unbroken.network.params.items():
        np.testing.assert_array_equal(second.network.params[name], value, err_msg=name)
    assert second.train_loss_list == unbroken.train_loss_list
    assert second.history == [dict(h, elapsed=s["elapsed"]) for h, s in
                              zip(unbroken.history, second.history)]


def test_a_resume_with_other_batches_is_refused(text_ids, tmp_path):
    path = tmp_path / "lm.npz"
    tr = trainer(lstm(), text_ids, iters=5)
    tr.train()
    tr.save(path)
    other = trainer(lstm(), text_ids, sampling="windows", iters=10)
    with pytest.raises(ValueError, match="sampling 'streams', this trainer 'windows'"):
        other.load_state(load_checkpoint(path))


def test_early_stopping_and_clipping_work_on_language_models(text_ids):
    tr = trainer(gpt(), text_ids, sampling="windows", iters=200, eval_interval=10,
                 optimizer_param={"lr": 0.5}, clip_grad=0.01,
                 callbacks=[EarlyStopping(monitor="val_loss", patience=1)])
    tr.train()
    assert tr.stop_reason in ("early stop", "finished")
    assert tr.clip_grad == 0.01


@pytest.mark.parametrize("kwargs,match", [
    ({"time_size": 600}, "fewer than one step of 4 x 600 tokens"),
    ({"sampling": "random"}, "sampling must be one of streams, windows"),
    ({"time_size": 0}, "time_size must be a positive integer"),
    ({"clip_grad": -1}, "clip_grad must be a positive number"),
])
def test_bad_settings_are_named(kwargs, match, text_ids):
    with pytest.raises(ValueError, match=match):
        trainer(lstm(), text_ids, **kwargs)


def test_ids_must_be_integers(text_ids):
    with pytest.raises(ValueError, match="train_ids must be a 1-D array of integer"):
        LanguageModelTrainer(lstm(), text_ids[0].astype(float), text_ids[1])
