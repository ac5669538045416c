"""The seed's experiment run through chainrule's Trainer: accuracy and wall time.

    python benchmarks/bench_training.py                    # both data sets, seeds 0 1 2
    python benchmarks/bench_training.py --datasets mnist-10k --seeds 0
    python benchmarks/bench_training.py --json results.json

The experiment is the seed notebook's last cell: TwoLayerNet 784-50-10, plain SGD with
lr 0.1, mini-batches of 100, 10,000 steps, accuracy on the whole training and test sets
before training and after every epoch. Here it runs in float32 with every parameter
updated once per step (the seed never trained b1 and moved b2 twice) and each epoch
visiting every sample once in a fresh order (the seed samples with replacement).

Data sets: the bundled mnist-10k digits (the split the datasets module defines, printed
below), and full Fashion-MNIST when it is installed (`apt-get install
dataset-fashion-mnist`), which is skipped otherwise. BLAS runs on one thread.

For each data set and seed it prints the final test accuracy, the best epoch's test
accuracy (and which epoch that was), and the wall time of `Trainer.train()`, evaluations
included; then the mean and spread over the seeds.
"""

import argparse
import json
import statistics
import sys
import time

import numpy as np

import chainrule
from chainrule import threads
from chainrule.datasets import dataset_available, load_dataset
from chainrule.files import atomic_file
from chainrule.trainer import Trainer

ITERS, BATCH, HIDDEN, LR = 10000, 100, 50, 0.1
TARGETS = {"mnist-10k": 0.95, "fashion-mnist": 0.867}


def describe_split(name, data):
    (x_train, _), (x_test, _) = data
    if name == "mnist-10k":
        from chainrule.datasets import mnist10k_split
        from chainrule.datasets.mnist import MNIST10K_TEST_SIZE
        _, test_idx = mnist10k_split(np.zeros(len(x_train) + len(x_test), dtype=np.int64),
                                     MNIST10K_TEST_SIZE)
        first, last = int(test_idx.min()), int(test_idx.max())
        contiguous = last - first + 1 == len(test_idx)
        where = (f"test = digits {first}..{last} of the MNIST test file" if contiguous
                 else "test = a fixed, spread-out subset of the MNIST test file")
        return f"{len(x_train)} train / {len(x_test)} test ({where})"
    return f"{len(x_train)} train / {len(x_test)} test (the data set's own split)"


def run(data, seed):
    (x_train, t_train), (x_test, t_test) = data
    network = chainrule.TwoLayerNet(784, HIDDEN, 10, dtype="float32", rng=seed)
    trainer = Trainer(network, x_train, t_train, x_test, t_test, iters=ITERS,
                      mini_batch_size=BATCH, optimizer="SGD", optimizer_param={"lr": LR},
                      seed=seed, verbose=False)
    start = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - start
    best = int(np.argmax(trainer.test_acc_list))
    return {"seed": seed, "final_test_acc": trainer.test_acc_list[-1],
            "final_train_acc": trainer.train_acc_list[-1],
            "best_test_acc": trainer.test_acc_list[best],
            "best_epoch": trainer.history[best]["epoch"],
            "epochs": trainer.history[-1]["epoch"], "wall_s": wall}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["mnist-10k", "fashion-mnist"],
                        choices=["mnist-10k", "fashion-mnist", "mnist"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)

    threads.apply_policy("1")
    print(f"chainrule {chainrule.__version__}, NumPy {np.__version__}; BLAS: "
          f"{threads.describe()}")
    print(f"TwoLayerNet 784-{HIDDEN}-10, float32, SGD lr {LR}, batch {BATCH}, "
          f"{ITERS} iterations\n")
    results = {}
    for name in args.datasets:
        if name != "mnist-10k" and not dataset_available(name):
            print(f"{name}: not installed, skipped\n")
            continue
        data = load_dataset(name)
        print(f"{name}: {describe_split(name, data)}")
        rows = []
        for seed in args.seeds:
            r = run(data, seed)
            rows.append(r)
            print(f"  seed {seed}: final test {r['final_test_acc']:.4f}  "
                  f"(train {r['final_train_acc']:.4f})  best test {r['best_test_acc']:.4f} "
                  f"at epoch {r['best_epoch']}/{r['epochs']}  {r['wall_s']:6.1f} s",
                  flush=True)
        finals = [r["final_test_acc"] for r in rows]
        bests = [r["best_test_acc"] for r in rows]
        walls = [r["wall_s"] for r in rows]
        spread = statistics.stdev(finals) if len(finals) > 1 else 0.0
        target = TARGETS.get(name)
        verdict = ""
        if target is not None:
            verdict = (f"; target {target:.1%}: "
                       f"{'met' if min(finals) >= target else 'NOT met by every seed'}")
        print(f"  mean final test {statistics.mean(finals):.4f} (sd {spread:.4f}, min "
              f"{min(finals):.4f}), mean best {statistics.mean(bests):.4f}, mean wall "
              f"{statistics.mean(walls):.1f} s{verdict}\n")
        results[name] = rows
    if args.json:
        with atomic_file(args.json) as f:
            f.write(json.dumps(results, indent=1).encode("utf-8"))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
