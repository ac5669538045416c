"""The seed's experiment, timed side by side: chainrule, PyTorch CPU eager, book-style NumPy.

    python benchmarks/bench_seed.py                 # everything, writes the table into docs/speed.md
    python benchmarks/bench_seed.py --quick         # one repetition, no busy runs
    python benchmarks/bench_seed.py --only seed     # or: sweep, peak

The experiment: TwoLayerNet 784-50-10, mini-batch SGD, batch 100, lr 0.1, 10,000
iterations, accuracy on the whole training and test sets before training and after every
epoch (600 steps on 60,000 images), on full Fashion-MNIST (`apt-get install
dataset-fashion-mnist`; the bundled mnist-10k digits are used when it is missing).
Each measurement runs in a fresh process with the thread count fixed (threadpoolctl for
NumPy's BLAS, torch.set_num_threads for PyTorch), alternating between implementations
so that drifts in machine speed hit all of them alike; the median of the repetitions is
reported. Timed is the training loop with its evaluations, not start-up or imports.
"Busy" runs have one other CPU-bound process on the machine.

PyTorch is optional (`pip install torch==2.13.0`); without it its columns are skipped.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEED_DOC = ROOT / "docs" / "speed.md"
ITERS, BATCH, HIDDEN, LR = 10000, 100, 50, 0.1


# -- the data --------------------------------------------------------------------------
def load_data(name):
    import numpy as np
    import chainrule
    (x_train, t_train), (x_test, t_test) = chainrule.load_dataset(name)
    return (np.ascontiguousarray(x_train, np.float32), np.asarray(t_train, np.int64),
            np.ascontiguousarray(x_test, np.float32), np.asarray(t_test, np.int64))


def pick_dataset():
    import chainrule.datasets as ds
    return "fashion-mnist" if ds.dataset_available("fashion-mnist") else "mnist-10k"


def flops(n_train, n_test, iters=ITERS, batch=BATCH, hidden=HIDDEN, d=784, k=10, evals=None):
    """Multiply-adds x 2 of the products the run cannot avoid.

    A training step: forward x.W1 and h.W2, backward dW2 = h^T.dy, dh = dy.W2^T and
    dW1 = x^T.dh (the data's own gradient x is never needed). An evaluation: the forward
    products on every training and test image."""
    per_step = 2 * batch * (2 * d * hidden + 3 * hidden * k)
    per_eval = 2 * (n_train + n_test) * (d * hidden + hidden * k)
    return per_step * iters, per_eval * evals


# -- the three implementations (each runs in its own process) --------------------------
def run_chainrule(data, seed, threads):
    """As `chainrule train` runs it: the threading policy decides how the cores are used."""
    import numpy as np
    from chainrule import Trainer, TwoLayerNet
    from chainrule.threads import apply_policy
    x_train, t_train, x_test, t_test = data
    net = TwoLayerNet(784, HIDDEN, 10, dtype=np.float32, rng=seed)
    thread_plan = apply_policy(threads, net, BATCH)
    trainer = Trainer(net, x_train, t_train, x_test, t_test, mini_batch_size=BATCH,
                      optimizer="sgd", optimizer_param={"lr": LR}, iters=ITERS, seed=seed,
                      verbose=False, eval_in_background=thread_plan.eval_in_background)
    start = time.perf_counter()
    trainer.train()
    return time.perf_counter() - start, trainer.test_acc_list[-1], len(trainer.test_acc_list)


def run_book(data, seed, threads, dtype="float64"):
    """The book's loop as readers write it: sampling with replacement, the book's layers
    (re-implemented here, float64 by default), a second forward pass to report the loss."""
    import numpy as np
    rng = np.random.default_rng(seed)
    x_train, t_train, x_test, t_test = data
    x_train = x_train.astype(dtype)
    x_test = x_test.astype(dtype)
    y_train = np.eye(10, dtype=dtype)[t_train]
    W1 = (0.01 * rng.standard_normal((784, HIDDEN))).astype(dtype)
    b1 = np.zeros(HIDDEN, dtype)
    W2 = (0.01 * rng.standard_normal((HIDDEN, 10))).astype(dtype)
    b2 = np.zeros(10, dtype)

    def forward(x):
        h = np.maximum(x @ W1 + b1, 0)
        return h, h @ W2 + b2

    def softmax(a):
        a = a - a.max(axis=1, keepdims=True)
        e = np.exp(a)
        return e / e.sum(axis=1, keepdims=True)

    def accuracy(x, t):
        return float(np.mean(forward(x)[1].argmax(axis=1) == t))

    start = time.perf_counter()
    n = len(x_train)
    iter_per_epoch = max(n // BATCH, 1)
    accs = []
    for i in range(ITERS):
        mask = rng.choice(n, BATCH)
        x, y = x_train[mask], y_train[mask]
        a1 = x @ W1 + b1
        h = np.maximum(a1, 0)
        out = h @ W2 + b2
        dy = (softmax(out) - y) / BATCH
        dW2, db2 = h.T @ dy, dy.sum(axis=0)
        dh = dy @ W2.T
        dh[a1 <= 0] = 0
        dx = dh @ W1.T  # the book's Affine computes it; nothing uses it
        dW1, db1 = x.T @ dh, dh.sum(axis=0)
        del dx
        for p, g in ((W1, dW1), (b1, db1), (W2, dW2), (b2, db2)):
            p -= LR * g
        _, out = forward(x)  # the book's network.loss(): a second forward pass
        -np.sum(y * np.log(softmax(out) + 1e-7)) / BATCH
        if i % iter_per_epoch == 0:
            accuracy(x_train, t_train)
            accs.append(accuracy(x_test, t_test))
    return time.perf_counter() - start, accs[-1], len(accs)


def torch_two_layer(hidden, lr):
    """TwoLayerNet's counterpart in PyTorch eager, with torch.optim.SGD, as every
    benchmark runs it: (model, step), where step(x, t) takes one training step on the
    batch and returns its loss as a number."""
    import torch
    model = torch.nn.Sequential(torch.nn.Linear(784, hidden), torch.nn.ReLU(),
                                torch.nn.Linear(hidden, 10))
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(x, t):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), t)
        loss.backward()
        opt.step()
        return loss.item()
    return model, step


def run_torch(data, seed, threads):
    import numpy as np
    import torch
    torch.manual_seed(seed)
    x_train, t_train, x_test, t_test = (torch.from_numpy(np.ascontiguousarray(a)) for a in data)
    model, step = torch_two_layer(HIDDEN, LR)
    with torch.no_grad():
        for layer in (model[0], model[2]):
            layer.weight.normal_(0, 0.01)
            layer.bias.zero_()
    n = len(x_train)
    steps_per_epoch = -(-n // BATCH)
    gen = torch.Generator().manual_seed(seed)

    def accuracy(x, t):
        with torch.no_grad():
            correct = 0
            for s in range(0, len(x), 1000):
                correct += (model(x[s:s + 1000]).argmax(1) == t[s:s + 1000]).sum().item()
        return correct / len(x)

    start = time.perf_counter()
    accs = []
    accuracy(x_train, t_train)
    accs.append(accuracy(x_test, t_test))
    order = None
    for i in range(ITERS):
        pos = i % steps_per_epoch
        if pos == 0:
            order = torch.randperm(n, generator=gen)
        idx = order[pos * BATCH:(pos + 1) * BATCH]
        step(x_train[idx], t_train[idx])
        if (i + 1) % steps_per_epoch == 0 or i + 1 == ITERS:
            accuracy(x_train, t_train)
            accs.append(accuracy(x_test, t_test))
    return time.perf_counter() - start, accs[-1], len(accs)


IMPLS = {"chainrule": run_chainrule, "torch": run_torch, "book-f64": run_book,
         "book-f32": lambda d, s, n: run_book(d, s, n, "float32")}


def child(impl, threads, dataset, seed):
    """Run one measurement in this process and print it as JSON."""
    from threadpoolctl import threadpool_limits
    threadpool_limits(limits=threads, user_api="blas")
    if impl == "torch":
        import torch
        torch.set_num_threads(threads)
    data = load_data(dataset)
    seconds, acc, evals = IMPLS[impl](data, seed, threads)
    print(json.dumps({"impl": impl, "threads": threads, "seconds": seconds, "test_acc": acc,
                      "evals": evals, "n_train": len(data[0]), "n_test": len(data[2])}))


def measure(impl, threads, dataset, seed, busy):
    env = dict(os.environ)
    # The sandbox may set these for old OpenBLAS builds; they slow a current one.
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    hog = None
    if busy:
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        out = subprocess.run([sys.executable, __file__, "--child", impl, "--threads",
                              str(threads), "--dataset", dataset, "--seed", str(seed)],
                             capture_output=True, text=True, env=env, check=True, timeout=1800)
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    return json.loads(out.stdout.strip().splitlines()[-1])


def have_torch():
    import importlib.util
    return importlib.util.find_spec("torch") is not None


# -- peak GEMM rate --------------------------------------------------------------------
def gemm_rates(threads):
    """float32 GEMM rate at a large size, and the best time of each product of a step."""
    import numpy as np
    from threadpoolctl import threadpool_limits
    rng = np.random.default_rng(0)
    with threadpool_limits(limits=threads, user_api="blas"):
        def best(a, b, reps):
            times = []
            for _ in range(reps):
                t0 = time.perf_counter()
                a @ b
                times.append(time.perf_counter() - t0)
            return min(times)
        n = 2048
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        peak = 2 * n ** 3 / best(a, b, 5)
        shapes = {  # (m, k) @ (k, n) of one training step, and one evaluation chunk
            "x.W1": ((BATCH, 784), (784, HIDDEN)), "h.W2": ((BATCH, HIDDEN), (HIDDEN, 10)),
            "hT.dy": ((HIDDEN, BATCH), (BATCH, 10)), "dy.W2T": ((BATCH, 10), (10, HIDDEN)),
            "xT.dh": ((784, BATCH), (BATCH, HIDDEN)),
            "eval x.W1": ((1000, 784), (784, HIDDEN)), "eval h.W2": ((1000, HIDDEN), (HIDDEN, 10)),
        }
        step = {}
        for name, (sa, sb) in shapes.items():
            x = rng.standard_normal(sa, dtype=np.float32)
            y = rng.standard_normal(sb, dtype=np.float32)
            step[name] = best(x, y, 200)
    return peak, step


def lower_bound(n_train, n_test, evals, threads):
    peak, t = gemm_rates(threads)
    train_flops, eval_flops = flops(n_train, n_test, evals=evals)
    at_peak = (train_flops + eval_flops) / peak
    per_step = t["x.W1"] + t["h.W2"] + t["hT.dy"] + t["dy.W2T"] + t["xT.dh"]
    per_eval = (n_train + n_test) / 1000 * (t["eval x.W1"] + t["eval h.W2"])
    at_shapes = ITERS * per_step + evals * per_eval
    return {"peak_gflops": peak / 1e9, "train_gflop": train_flops / 1e9,
            "eval_gflop": eval_flops / 1e9, "at_peak_s": at_peak, "at_shapes_s": at_shapes}


# -- scaling sweep ---------------------------------------------------------------------
def sweep_child(threads, impl):
    """Seconds per training step at each (hidden, batch), for chainrule or PyTorch."""
    import numpy as np
    from threadpoolctl import threadpool_limits
    threadpool_limits(limits=threads, user_api="blas")
    rng = np.random.default_rng(0)
    x_all = rng.random((4096, 784), dtype=np.float32)
    t_all = rng.integers(0, 10, 4096)
    results = {}
    for hidden in (50, 256, 1024, 2048):
        for batch in (32, 128, 1024):
            steps = max(20, int(2e9 / (6 * batch * 784 * hidden)))
            steps = min(steps, 400)
            if impl == "chainrule":
                from chainrule import SGD, TwoLayerNet
                from chainrule.threads import apply_policy
                net = TwoLayerNet(784, hidden, 10, dtype=np.float32, rng=0)
                apply_policy(threads, net, batch)  # as `chainrule train` would
                opt = SGD(0.01)

                def step(i):
                    s = (i * batch) % (4096 - batch)
                    opt.update(net.params, net.gradient(x_all[s:s + batch], t_all[s:s + batch]))
            else:
                import torch
                torch.set_num_threads(threads)
                _, torch_step = torch_two_layer(hidden, 0.01)
                xt, tt = torch.from_numpy(x_all), torch.from_numpy(t_all)

                def step(i):
                    s = (i * batch) % (4096 - batch)
                    torch_step(xt[s:s + batch], tt[s:s + batch])
            for i in range(5):
                step(i)
            times = []
            for rep in range(3):
                t0 = time.perf_counter()
                for i in range(steps):
                    step(i)
                times.append((time.perf_counter() - t0) / steps)
            results[f"{hidden}x{batch}"] = min(times)
    print(json.dumps(results))


def sweep(threads):
    out = {}
    for impl in ("chainrule", "torch") if have_torch() else ("chainrule",):
        env = dict(os.environ)
        env.pop("OPENBLAS_CORETYPE", None)
        env.pop("OPENBLAS_L2_SIZE", None)
        r = subprocess.run([sys.executable, __file__, "--sweep-child", impl, "--threads",
                            str(threads)], capture_output=True, text=True, env=env, check=True)
        out[impl] = json.loads(r.stdout.strip().splitlines()[-1])
    return out


# -- report ----------------------------------------------------------------------------
def write_doc(section, text):
    """Replace what lies between docs/speed.md's bench:<section> markers."""
    from benchlib import write_bench_section
    return write_bench_section(SPEED_DOC, section, text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--sweep-child", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--dataset", default=None, help="data set (default: fashion-mnist if present)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reps", type=int, default=3, help="repetitions (median reported)")
    ap.add_argument("--quick", action="store_true", help="one repetition, no busy runs")
    ap.add_argument("--only", choices=["seed", "sweep", "peak"], help="one part only")
    ap.add_argument("--no-doc", action="store_true", help="do not update docs/speed.md")
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.threads, args.dataset, args.seed)
    if args.sweep_child:
        return sweep_child(args.threads, args.sweep_child)

    dataset = args.dataset or pick_dataset()
    reps = 1 if args.quick else args.reps
    impls = ["chainrule", "torch", "book-f64", "book-f32"] if have_torch() else \
        ["chainrule", "book-f64", "book-f32"]
    settings = [(1, False), (2, False)] + ([] if args.quick else [(1, True), (2, True)])
    lines = []

    if args.only in (None, "seed"):
        results = {}
        for threads, busy in settings:
            for rep in range(reps):
                for impl in impls:  # alternating
                    if busy and impl.startswith("book") and threads == 2:
                        continue  # minutes of spinning threads: the issue already measured it
                    r = measure(impl, threads, dataset, args.seed, busy)
                    results.setdefault((impl, threads, busy), []).append(r)
                    print(f"  {impl:<10} threads={threads} busy={busy!s:<5} "
                          f"{r['seconds']:7.2f}s  test_acc {r['test_acc']:.4f}", flush=True)
        first = next(iter(results.values()))[0]
        bound = {t: lower_bound(first["n_train"], first["n_test"], first["evals"], t)
                 for t in (1, 2)}
        head = "| implementation | " + " | ".join(
            f"{t} thread{'s' if t > 1 else ''}{', busy' if b else ''}" for t, b in settings) + " |"
        lines.append(f"Seed experiment on {dataset} ({first['n_train']:,} + "
                     f"{first['n_test']:,} images, {ITERS:,} steps, {first['evals']} "
                     f"evaluations), seconds of the training loop with its evaluations, "
                     f"median of {reps}:")
        lines.append("")
        lines.append(head)
        lines.append("|---" * (len(settings) + 1) + "|")
        med = {}
        for impl in impls:
            cells = []
            for t, b in settings:
                runs = results.get((impl, t, b))
                if not runs:
                    cells.append("—")
                    continue
                med[(impl, t, b)] = statistics.median(r["seconds"] for r in runs)
                acc = statistics.median(r["test_acc"] for r in runs)
                cells.append(f"{med[(impl, t, b)]:.2f} s ({acc:.2%})")
            lines.append(f"| {impl} | " + " | ".join(cells) + " |")
        if "torch" in impls:
            ratios = [f"{t} thread{'s' if t > 1 else ''}{', busy' if b else ''}: "
                      f"{med[('chainrule', t, b)] / med[('torch', t, b)]:.2f}x"
                      for t, b in settings if ("torch", t, b) in med]
            lines.append("")
            lines.append("chainrule / PyTorch wall time: " + ", ".join(ratios) + ".")
        quiet = {t: med[("chainrule", t, False)] for t in (1, 2)}
        if not args.quick:
            lines.append("chainrule busy / quiet: " + ", ".join(
                f"{t} thread{'s' if t > 1 else ''}: {med[('chainrule', t, True)] / quiet[t]:.2f}x"
                for t in (1, 2)) + ".")
        b1 = bound[1]
        lines.append("")
        lines.append(f"Lower bound: {b1['train_gflop']:.0f} GFLOP of training products and "
                     f"{b1['eval_gflop']:.0f} GFLOP of evaluation products; at this "
                     f"machine's measured float32 GEMM peak ({b1['peak_gflops']:.0f} GFLOP/s "
                     f"on 1 thread, {bound[2]['peak_gflops']:.0f} on 2) that is "
                     f"{b1['at_peak_s']:.2f} s; at the best times NumPy reaches for exactly "
                     f"these shapes, {b1['at_shapes_s']:.2f} s on 1 thread "
                     f"({bound[2]['at_shapes_s']:.2f} s on 2). chainrule takes "
                     f"{quiet[1] / b1['at_shapes_s']:.2f}x that ({quiet[2] / bound[2]['at_shapes_s']:.2f}x on 2 threads).")
        print("\n".join(lines))

    if args.only in (None, "sweep"):
        sweep_lines = ["### Scaling sweep", ""]
        for threads in (1, 2):
            s = sweep(threads)
            sweep_lines.append(f"Scaling sweep, {threads} thread{'s' if threads > 1 else ''}: "
                               f"chainrule / PyTorch time per training step (below 1: "
                               f"chainrule faster)")
            sweep_lines.append("")
            batches = (32, 128, 1024)
            sweep_lines.append("| hidden \\ batch | " + " | ".join(map(str, batches)) + " |")
            sweep_lines.append("|---" * 4 + "|")
            for hidden in (50, 256, 1024, 2048):
                cells = []
                for batch in batches:
                    key = f"{hidden}x{batch}"
                    c = s["chainrule"][key]
                    if "torch" in s:
                        cells.append(f"{c / s['torch'][key]:.2f} ({c * 1e3:.2f} ms)")
                    else:
                        cells.append(f"{c * 1e3:.2f} ms")
                sweep_lines.append(f"| {hidden} | " + " | ".join(cells) + " |")
            sweep_lines.append("")
        print("\n".join(sweep_lines))
        lines += [""] + sweep_lines

    if args.only == "peak":
        for t in (1, 2):
            peak, step = gemm_rates(t)
            print(f"{t} thread(s): {peak / 1e9:.1f} GFLOP/s; step products (us): " +
                  ", ".join(f"{k} {v * 1e6:.1f}" for k, v in step.items()))
        return 0

    if lines and not args.no_doc and args.only is None and not args.quick:
        if write_doc("seed", "\n".join(lines).strip()):
            print(f"wrote the table into {SPEED_DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
