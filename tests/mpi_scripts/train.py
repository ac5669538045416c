"""Train on the bundled digits with DistributedTrainer; launched by tests/test_distributed.py.

    mpiexec -n 2 python tests/mpi_scripts/train.py --out DIR [options]

Rank 0 writes DIR/weights.npz (the parameters, plain arrays) and DIR/result.json (the
loss per step, the history, the timings). Options inject the faults the tests need:
--fail raise|kill|exit on rank --fail-rank at step --fail-step; --stop-at N makes
rank --fail-rank request a stop after step N (the others must stop with it);
--perturb N makes rank --fail-rank change its own weights after step N (the replica
check must catch it); --announce prints "training" once training is under way.
"""

import argparse
import json
import os
import signal
import sys

import numpy as np

from chainrule import distributed
from chainrule import compose, register_layer
from chainrule.models import MultiLayerNet, Sequential, TwoLayerNet
from chainrule.trainer import TrainingInterrupted
from chainrule.callbacks import EpochCheckpoint

# The tests' own layer lives beside the tests, one folder up from this script.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from user_layers import Square  # noqa: E402


def inject_failure(network, rank, step, how):
    """Make network.gradient fail on one rank at one step, as a bug or a crash would.

    The instance's method is wrapped (not the class subclassed), so the network is
    still a TwoLayerNet that checkpoints can save."""
    gradient = network.gradient
    calls = [0]

    def failing_gradient(x, t):
        calls[0] += 1
        if distributed.world().Get_rank() == rank and calls[0] == step:
            if how == "raise":
                raise RuntimeError(f"injected failure at step {step}")
            if how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            if how == "exit":
                os._exit(7)
        return gradient(x, t)

    network.gradient = failing_gradient


class OnRank:
    """A callback that does `action(trainer)` on one rank after one step."""

    def __init__(self, rank, step, action):
        self.rank, self.step, self.action = rank, step, action
        self.trainer = None

    def on_iteration_end(self, iteration, loss):
        if iteration == self.step and distributed.world().Get_rank() == self.rank:
            self.action(self.trainer)


def perturb(trainer):
    trainer.network.params["b1"][0] += 1e-3


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--model", choices=["two-layer", "mlp"], default="two-layer")
    p.add_argument("--layers", help="a Sequential network's text instead of --model")
    p.add_argument("--square", action="store_true",
                   help="with --layers: a user layer (y = x^2, registered) before the last")
    p.add_argument("--dtype", default="float64")
    p.add_argument("--iters", type=int, default=300)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--optimizer", default="SGD")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint")
    p.add_argument("--resume")
    p.add_argument("--fail", choices=["raise", "kill", "exit"])
    p.add_argument("--fail-rank", type=int, default=1)
    p.add_argument("--fail-step", type=int, default=5)
    p.add_argument("--stop-at", type=int)
    p.add_argument("--perturb", type=int)
    p.add_argument("--announce", action="store_true",
                   help="rank 0 prints 'training' after the first step (signal handlers "
                        "are installed by then on every rank)")
    args = p.parse_args()

    comm = distributed.world()
    (x_train, t_train), (x_test, t_test) = distributed.load_dataset("mnist-10k", dtype=args.dtype)
    if args.layers:
        items = [args.layers]
        if args.square:
            *body, last = compose.build_items(args.layers)
            items = body + [register_layer(Square)(), last]
        network = Sequential(items, input_shape=(1, 28, 28), dtype=args.dtype, rng=args.seed)
    elif args.model == "mlp":
        network = MultiLayerNet(784, [64, 64], 10, use_batchnorm=True, use_dropout=True,
                                dropout_ratio=0.2, weight_decay_lambda=1e-4,
                                dtype=args.dtype, rng=args.seed)
    else:
        network = TwoLayerNet(784, 50, 10, dtype=args.dtype, rng=args.seed)
    if args.fail:
        inject_failure(network, args.fail_rank, args.fail_step, args.fail)

    callbacks = []
    if args.stop_at is not None:
        callbacks.append(OnRank(args.fail_rank, args.stop_at, lambda tr: tr.request_stop()))
    if args.perturb is not None:
        callbacks.append(OnRank(args.fail_rank, args.perturb, perturb))
    if args.announce:
        callbacks.append(OnRank(0, 1, lambda tr: print("training", flush=True)))
    trainer = distributed.DistributedTrainer(
        network, x_train, t_train, x_test, t_test, mini_batch_size=args.batch,
        optimizer=args.optimizer, optimizer_param={"lr": args.lr}, iters=args.iters,
        seed=args.seed, verbose=False,
        callbacks=callbacks + ([EpochCheckpoint(args.checkpoint)] if args.checkpoint else []))
    for callback in callbacks:
        callback.trainer = trainer
    if args.resume:
        trainer.load_state(args.resume)

    status = "finished"
    try:
        trainer.train()
    except TrainingInterrupted as exc:
        status = f"interrupted: {exc}"

    if comm.Get_rank() == 0:
        np.savez(os.path.join(args.out, "weights.npz"), **network.params,
                 **getattr(network, "buffers", {}))
        result = {"status": status, "ranks": comm.Get_size(),
                  "iteration": trainer.current_iter, "losses": trainer.train_loss_list,
                  "history": trainer.history, "step_seconds": trainer.step_seconds,
                  "bytes_per_step": trainer.bytes_per_step,
                  "x_train_writeable": bool(x_train.flags.writeable)}
        with open(os.path.join(args.out, "result.json"), "w", encoding="utf-8") as f:
            json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
