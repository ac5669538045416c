"""The threading policy, and evaluation in the background giving the same figures."""

import numpy as np
import pytest

from chainrule import Trainer, TwoLayerNet
from chainrule.callbacks import EpochCheckpoint
from chainrule import threads


def test_resolve_numbers_auto_and_environment(monkeypatch):
    assert threads.resolve("3") == 3
    assert threads.resolve(2) == 2
    monkeypatch.setenv("CHAINRULE_THREADS", "5")
    assert threads.resolve("auto") == 5
    monkeypatch.delenv("CHAINRULE_THREADS")
    assert 1 <= threads.resolve("auto") <= (threads.os.cpu_count() or 1)
    for bad in ("0", "-1", "many"):
        with pytest.raises(ValueError, match="threads"):
            threads.resolve(bad)


def test_auto_leaves_cores_that_others_keep_busy(monkeypatch):
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (1.2, 0.0, 0.0))
    assert threads.available_cores() == 3
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (9.0, 0.0, 0.0))
    assert threads.available_cores() == 1


def test_small_steps_get_one_blas_thread_and_background_evaluation():
    seed_net = TwoLayerNet(784, 50, 10, dtype=np.float32, rng=0)
    p = threads.plan(2, seed_net, 100)
    assert (p.blas_threads, p.eval_in_background) == (1, True)
    p = threads.plan(1, seed_net, 100)
    assert (p.blas_threads, p.eval_in_background) == (1, False)


def test_large_steps_get_every_core_for_blas():
    big = TwoLayerNet(784, 2048, 10, dtype=np.float32, rng=0)
    assert threads.step_flops(big, 128) > threads.LARGE_STEP_FLOPS
    p = threads.plan(2, big, 128)
    assert (p.blas_threads, p.eval_in_background) == (2, False)


@pytest.mark.parametrize("hidden,batch,blas_threads", [
    (50, 100, 1),  # the seed: 24 MFLOP per step
    (256, 32, 1),  # 39 MFLOP: a second thread made it slower here
    (256, 128, 2),  # 156 MFLOP: a second thread made it faster here
    (1024, 32, 2),
])
def test_where_the_policy_draws_the_line(hidden, batch, blas_threads):
    net = TwoLayerNet(784, hidden, 10, dtype=np.float32, rng=0)
    assert threads.plan(2, net, batch).blas_threads == blas_threads
    assert threads.plan(1, net, batch).blas_threads == 1


def _run(x, t, background, **kwargs):
    net = TwoLayerNet(20, 8, 3, rng=1)
    trainer = Trainer(net, x[:150], t[:150], x[150:], t[150:], epochs=4, mini_batch_size=25,
                      optimizer_param={"lr": 0.3}, seed=2, verbose=False,
                      eval_in_background=background, **kwargs)
    trainer.train()
    return trainer, net


def test_background_evaluation_gives_the_same_history_and_weights():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 20))
    t = (x[:, 0] > 0).astype(int) + (x[:, 1] > 1)
    plain, net_a = _run(x, t, False)
    background, net_b = _run(x, t, True)
    assert background.eval_in_background
    strip = [{k: v for k, v in h.items() if k != "elapsed"} for h in plain.history]
    assert [{k: v for k, v in h.items() if k != "elapsed"} for h in background.history] == strip
    assert len(strip) == 5 and strip[-1]["test_acc"] > 0.5
    for key in net_a.params:
        np.testing.assert_array_equal(net_a.params[key], net_b.params[key])


def test_background_evaluation_is_off_when_every_epoch_is_saved(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 20))
    t = rng.integers(0, 3, 200)
    trainer, _ = _run(x, t, True, callbacks=[EpochCheckpoint(tmp_path / "run.npz")])
    assert not trainer.eval_in_background
    assert len(trainer.history) == 5


def test_step_flops_counts_a_convolution_once_per_output_position():
    from chainrule.models import DeepConvNet, SimpleConvNet
    simple = SimpleConvNet(dtype=np.float32, rng=0)
    # conv 30x1x5x5 over 24x24 output positions, pooled to 30x12x12 = 4320, then
    # affine 4320x100 and 100x10: multiply-adds per sample, times 2 FLOPs, times 3 products.
    per_sample = 30 * 25 * 24 * 24 + 4320 * 100 + 100 * 10
    assert threads.step_flops(simple, 100) == 6.0 * 100 * per_sample
    # The book's DeepConvNet: some 5 GFLOP per step of 100 images, far past the line,
    # though it has only some 120,000 weights.
    deep = DeepConvNet(dtype=np.float32, rng=0)
    assert sum(p.size for p in deep.params.values()) < 200_000
    assert threads.step_flops(deep, 100) > 4e9
    assert threads.plan(2, deep, 100).blas_threads == 2


def test_threadpoolctl_is_a_dependency_of_chainrule_itself():
    # The policy must hold on a plain `pip install chainrule`: threadpoolctl is required
    # without any extra (a requirement with an `extra == ...` marker would not do).
    from importlib.metadata import requires
    plain = [r for r in requires("chainrule") if "extra ==" not in r]
    assert any(r.replace(" ", "").startswith("threadpoolctl") for r in plain), plain
