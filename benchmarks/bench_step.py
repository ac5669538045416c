"""Where a training step's time goes, piece by piece, against PyTorch in the same process.

    python benchmarks/bench_step.py              # 1 thread; --threads 2 for two
    python benchmarks/bench_step.py --save       # also writes benchmarks/results/step_<n>t.json
                                                 # and, on 1 thread, the tables in docs/speed.md

Two tables:

1. The seed's step (784-50-10, batch 100, SGD lr 0.1, float32) as chainrule runs it
   (gather, network.gradient, optimizer.update), the same arithmetic written as one
   straight run of NumPy calls with no layer objects and in-place operations ("NumPy,
   no layers": about the least this step costs in NumPy), PyTorch eager with autograd and
   torch.optim.SGD, and the parts every implementation shares: the random 100-row
   gather and the two large products.
2. The pieces that decide the scaling sweep of bench_seed.py, at its shapes: the two
   large products x.W1 and x^T.dh and the SGD update of W1 (chainrule's optimizer
   against torch.optim.SGD).

Every figure is the median of windows that alternate between the implementations, so a
drift in the machine's speed hits them alike. Data: full Fashion-MNIST when installed,
else the bundled digits (only the gather depends on the data's size).
"""

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from chainrule.files import atomic_file

RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(Path(__file__).resolve().parent))


def repeat(op):
    """A candidate that calls op() s times, dropping each result before the next is made.

    Keeping them all (a list comprehension) would take fresh memory for every result
    and time the kernel's page faults instead of the operation.
    """
    def run(position, steps):
        for _ in range(steps):
            op()
    return run


def alternate(candidates, windows, steps):
    """Median microseconds per call of each candidate, over interleaved windows."""
    times = {name: [] for name in candidates}
    position = 0
    for _ in range(windows):
        for name, run in candidates.items():
            start = time.perf_counter()
            run(position, steps)
            times[name].append((time.perf_counter() - start) / steps * 1e6)
            position += steps
    return {name: statistics.median(values) for name, values in times.items()}


def seed_step(windows, torch):
    from bench_seed import load_data, pick_dataset, torch_two_layer
    from chainrule import TwoLayerNet
    from chainrule.layers import _row_max
    from chainrule.optimizers import SGD

    x_train, t_train, _, _ = load_data(pick_dataset())
    n = len(x_train)
    batch, lr = 100, 0.1
    order = np.random.default_rng(0).permutation(n // batch * batch)
    per_epoch = n // batch

    def batch_of(i):
        i %= per_epoch
        return order[i * batch:(i + 1) * batch]

    net = TwoLayerNet(784, 50, 10, dtype=np.float32, rng=0)
    opt = SGD(lr)

    def chainrule_step(position, steps):
        for i in range(position, position + steps):
            b = batch_of(i)
            opt.update(net.params, net.gradient(x_train[b], t_train[b]))

    plain = {k: v.copy() for k, v in net.params.items()}
    rows = np.arange(batch)

    def numpy_step(position, steps):
        W1, b1, W2, b2 = plain["W1"], plain["b1"], plain["W2"], plain["b2"]
        for i in range(position, position + steps):
            b = batch_of(i)
            x, t = x_train[b], t_train[b]
            h = x @ W1
            h += b1
            np.maximum(h, 0, out=h)
            a = h @ W2
            a += b2
            a -= _row_max(a)  # the softmax's own fast row maximum, as in chainrule
            e = np.exp(a)
            total = e.sum(axis=1, keepdims=True)
            e /= total
            e[rows, t] -= 1
            e *= 1 / batch
            dW2, db2 = h.T @ e, e.sum(axis=0)
            dh = e @ W2.T
            dh *= h > 0
            dW1, db1 = x.T @ dh, dh.sum(axis=0)
            W1 -= lr * dW1
            b1 -= lr * db1
            W2 -= lr * dW2
            b2 -= lr * db2

    def gather(position, steps):
        for i in range(position, position + steps):
            x_train[batch_of(i)]

    x0 = x_train[batch_of(0)]
    dh0 = np.ones((batch, 50), np.float32)
    W = net.params["W1"]
    candidates = {
        "chainrule step": chainrule_step,
        "NumPy, no layers": numpy_step,
        "gather x[batch]": gather,
        "x.W1": repeat(lambda: x0 @ W),
        "x^T.dh": repeat(lambda: x0.T @ dh0),
    }
    if torch is not None:
        tx, tt = torch.from_numpy(x_train), torch.from_numpy(t_train)
        _, one_step = torch_two_layer(50, lr)
        torch_order = torch.from_numpy(order)

        def torch_step(position, steps):
            for i in range(position, position + steps):
                j = i % per_epoch
                b = torch_order[j * batch:(j + 1) * batch]
                one_step(tx[b], tt[b])
        candidates["PyTorch step"] = torch_step
    for run in candidates.values():
        run(0, 50)  # warm up: first calls allocate and load code
    return alternate(candidates, windows, 200)


def sweep_pieces(windows, torch):
    from chainrule.optimizers import SGD
    rng = np.random.default_rng(0)
    rows = []
    for hidden in (50, 256, 1024, 2048):
        for batch in (32, 128, 1024):
            x = rng.random((batch, 784), dtype=np.float32)
            W = (0.01 * rng.standard_normal((784, hidden))).astype(np.float32)
            dh = rng.standard_normal((batch, hidden)).astype(np.float32)
            g = 1e-3 * rng.standard_normal((784, hidden)).astype(np.float32)
            opt = SGD(1e-3)
            params, grads = {"W1": W}, {"W1": g}
            reps = max(5, int(2e6 / (batch * hidden)))
            cands = {"np x.W1": repeat(lambda: x @ W),
                     "np x^T.dh": repeat(lambda: x.T @ dh),
                     "np update": repeat(lambda: opt.update(params, grads))}
            if torch is not None:
                tx, tW, tdh = torch.from_numpy(x), torch.from_numpy(W.copy()), torch.from_numpy(dh)
                tW.requires_grad_(True)
                tW.grad = torch.from_numpy(g.copy())
                topt = torch.optim.SGD([tW], lr=1e-3)
                cands["torch x.W1"] = repeat(lambda: tx @ tW)
                cands["torch x^T.dh"] = repeat(lambda: tx.T @ tdh)
                cands["torch update"] = repeat(topt.step)
            for run in cands.values():
                run(0, 2)
            # No autograd graph for the bare products: only their arithmetic is timed.
            with torch.no_grad() if torch is not None else contextlib.nullcontext():
                r = alternate(cands, windows, reps)
            rows.append({"hidden": hidden, "batch": batch,
                         **{k: v / 1000 for k, v in r.items()}})  # ms
    return rows


def report(threads, windows, step, rows):
    """The tables and what they say, as Markdown lines."""
    lines = [f"Seed step on {threads} thread{'s' if threads > 1 else ''}, microseconds "
             f"(median of {windows} alternating windows of 200 steps):", "",
             "| part | us | share of chainrule's step |", "|---|---|---|"]
    whole = step["chainrule step"]
    for name, us in step.items():
        lines.append(f"| {name} | {us:.0f} | {us / whole:.2f} |")
    floor = step["NumPy, no layers"]
    shared = step["gather x[batch]"] + step["x.W1"] + step["x^T.dh"]
    lines += ["", f"chainrule's layers (a call each, their input checks, a new array for each "
              f"result) cost {whole - floor:.0f} us per step over the same arithmetic written "
              f"inline ({whole / floor:.2f}x); the gather and the two large "
              f"products, which every implementation pays, are {shared:.0f} us "
              f"({shared / whole:.0%} of chainrule's step)."]
    if "PyTorch step" in step:
        lines[-1] += f" PyTorch's step is {step['PyTorch step'] / whole:.2f}x chainrule's."
    lines += ["", f"Pieces of the sweep on {threads} thread{'s' if threads > 1 else ''}, "
              "milliseconds" + ("; NumPy / PyTorch and their ratio:" if "torch x.W1" in rows[0]
                                else ":"), "",
              "| hidden | batch | x.W1 | x^T.dh | SGD update of W1 |", "|---|---|---|---|---|"]
    for r in rows:
        if "torch x.W1" in r:
            cells = [f"{r['np ' + k]:.3f} / {r['torch ' + k]:.3f} = "
                     f"{r['np ' + k] / r['torch ' + k]:.2f}" for k in ("x.W1", "x^T.dh", "update")]
        else:
            cells = [f"{r['np ' + k]:.3f}" for k in ("x.W1", "x^T.dh", "update")]
        lines.append(f"| {r['hidden']} | {r['batch']} | " + " | ".join(cells) + " |")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--windows", type=int, default=15)
    ap.add_argument("--save", action="store_true",
                    help="write benchmarks/results/step_<n>t.json and, on 1 thread, the table in docs/speed.md")
    args = ap.parse_args()
    from threadpoolctl import threadpool_limits
    threadpool_limits(limits=args.threads, user_api="blas")
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
        print("PyTorch is not installed: its columns are skipped (pip install torch==2.13.0)")

    step = seed_step(args.windows, torch)
    rows = sweep_pieces(max(5, args.windows // 3), torch)
    lines = report(args.threads, args.windows, step, rows)
    print("\n".join(lines))
    if args.save:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"step_{args.threads}t.json"
        figures = {"threads": args.threads, "seed_step_us": step, "sweep_ms": rows}
        with atomic_file(path) as f:
            f.write((json.dumps(figures, indent=1) + "\n").encode("utf-8"))
        print(f"\nwrote {path}")
        if args.threads == 1 and torch is not None:
            from bench_seed import write_doc
            if write_doc("step", "\n".join(lines)):
                print("wrote the tables into docs/speed.md")


if __name__ == "__main__":
    main()
