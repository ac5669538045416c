"""benchmarks/bench_char_rnn.py: its copy of chainrule's weights into PyTorch computes the
same model, and a tiny run writes its record."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = pytest.importorskip("torch.nn.functional")

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_char_rnn.py"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH.parent))  # for its `benchlib`
    spec = importlib.util.spec_from_file_location("bench_char_rnn", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def text(bench):
    return bench.load_shakespeare()


def _torch_step(model, x, t, state):
    scores, state = model(torch.from_numpy(x), state)
    loss = F.cross_entropy(scores.reshape(-1, scores.shape[-1]),
                           torch.from_numpy(t).reshape(-1))
    model.zero_grad()
    loss.backward()
    return loss.item(), tuple(a.detach() for a in state)


def test_the_copied_weights_give_the_same_loss_state_and_gradients_in_float64(bench, text):
    network = bench.chainrule_network(len(text.vocab), seed=3, dtype="float64")
    trainer = bench._trainer(network, text, steps=2)
    model = bench.torch_model(network)
    assert model.lstm.weight_ih_l0.dtype == torch.float64
    lstm = network.layers["LSTM1"]
    cols = bench._gate_columns(lstm.H)
    state = None
    for step in range(2):  # the second step starts from the state the first left
        x, t = trainer.batch(step)
        start = None if lstm.h is None else (lstm.h, lstm.c)
        loss = float(network.loss(x, t))
        h, c = lstm.h, lstm.c
        if start is None:
            lstm.reset_state()
        else:
            lstm.set_state(*start)
        grads = network.gradient(x, t)
        torch_loss, state = _torch_step(model, x, t, state)
        # float64 sums of up to 2048 x 256 terms in different orders round at about
        # 1e-16 of the terms' size; 1e-11 of the largest entry is ample for that and
        # far below what a gate out of place or a transposed matrix gives (order 1)
        assert loss == pytest.approx(torch_loss, rel=1e-12)
        np.testing.assert_allclose(h, state[0][0].numpy(), rtol=0, atol=1e-12)
        np.testing.assert_allclose(c, state[1][0].numpy(), rtol=0, atol=1e-12)
        theirs = {"W1": model.embed.weight.grad, "Wx1": model.lstm.weight_ih_l0.grad.T,
                  "Wh1": model.lstm.weight_hh_l0.grad.T, "b1": model.lstm.bias_ih_l0.grad,
                  "W2": model.out.weight.grad.T, "b2": model.out.bias.grad}
        for name, grad in theirs.items():
            ours = grads[name][..., cols] if name in ("Wx1", "Wh1", "b1") else grads[name]
            np.testing.assert_allclose(ours, grad.numpy(), rtol=0,
                                       atol=1e-11 * np.abs(ours).max(), err_msg=name)


def test_a_few_training_steps_leave_the_same_weights_in_float64(bench, text):
    """The optimizer, clipping and carried state match too: after 3 steps each side's
    weights, brought back into a chainrule network, are chainrule's."""
    network = bench.chainrule_network(len(text.vocab), seed=1, dtype="float64")
    trainer = bench._trainer(network, text, steps=3)
    model = bench.torch_model(network)
    bench.train_chainrule(network, trainer, 3)
    bench.train_torch(model, trainer, 3)
    back = bench.chainrule_network(len(text.vocab), seed=2, dtype="float64")
    bench.copy_back(model, back)
    for name, ours in network.params.items():
        # Adam moves every weight by about lr = 2e-3 a step; rounding differs by 1e-15
        np.testing.assert_allclose(back.params[name], ours, rtol=0, atol=1e-12,
                                   err_msg=name)


def test_a_tiny_run_writes_its_record_and_the_docs(bench, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for page in ("sequences.md", "speed.md"):
        (docs / page).write_text(f"# {page}\n<!-- bench:char-rnn -->\nold\n"
                                 f"<!-- /bench:char-rnn -->\nafter\n")
    bench.main(["--steps", "2", "--repeats", "1", "--threads", "1", "--learn-steps", "2",
                "--seeds", "0", "--skip", "profile", "--save", "--results", str(tmp_path / "results"),
                "--docs", str(docs)])
    record = json.loads((tmp_path / "results" / "char_rnn.json").read_text())
    speed = record["speed"]["1"]
    assert set(speed) == {"chainrule", "torch"}
    assert all(r["steps"] == 2 and r["seconds"] > 0 for rs in speed.values() for r in rs)
    learned = record["learning"]["0"]
    assert set(learned) == {"chainrule", "torch"}
    for side in learned.values():  # 2 steps from near-uniform scores: about ln 65 = 4.17
        assert 3.0 < side["val_loss"] < 4.5
    sequences = (docs / "sequences.md").read_text()
    assert "old" not in sequences and "| chainrule | torch |" in sequences
    assert sequences.endswith("<!-- /bench:char-rnn -->\nafter\n")
    assert "char-rnn" in (docs / "speed.md").read_text().split("<!-- bench:char-rnn -->")[1]
