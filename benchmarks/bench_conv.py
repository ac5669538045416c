"""Convolutional networks: chainrule against PyTorch CPU, and what they reach when trained.

    python benchmarks/bench_conv.py                    # timing, 1 and 2 threads
    python benchmarks/bench_conv.py --train-epochs 5   # and train SimpleConvNet on mnist-10k
    python benchmarks/bench_conv.py --no-timing --train-epochs 3 --model deep \\
        --dataset fashion-mnist --save                 # DeepConvNet on Fashion-MNIST

(a) Timing. One training iteration of the book's SimpleConvNet (conv 30x5x5 - ReLU -
max pool 2x2 - affine 100 - ReLU - affine 10, softmax cross-entropy), batch 100, Adam,
float32: a forward pass, backpropagation and the Adam update. The same network in
PyTorch starts from the same weights and sees the same batches; the first step's losses
are compared to show that the two compute the same thing. Both run with the same thread
count (threadpoolctl for NumPy's BLAS, torch.set_num_threads for PyTorch), and their
timed runs alternate, so that a drift in the machine's speed (other processes) hits both
alike. Reported: the median over the runs of the time per iteration, and the ratio
chainrule / PyTorch (below 1: chainrule is faster).

(b) Training (--train-epochs N). SimpleConvNet or DeepConvNet, float32, Adam lr=0.001,
batch 100, a fresh shuffle every epoch, on the bundled mnist-10k digits (8,000 to train,
2,000 held out) or full Fashion-MNIST (`apt-get install dataset-fashion-mnist`);
held-out accuracy after every epoch.

PyTorch is optional (`pip install torch==2.13.0`); without it only chainrule is timed.
--save writes the figures to benchmarks/results/conv_timing.json / conv_training_*.json
and rewrites benchmarks/results/conv_summary.md from all of them.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import chainrule
from chainrule.files import atomic_file
from chainrule.models import DeepConvNet, SimpleConvNet

RESULTS = Path(__file__).resolve().parent / "results"
BATCH = 100


# -- data ---------------------------------------------------------------------------------
def load_data(name):
    """((x_train, t_train), (x_test, t_test)), images flat float32 in [0, 1]."""
    from chainrule.datasets import load_dataset
    kwargs = {}
    if name == "fashion-mnist":
        debian = Path("/usr/share/datasets/fashion-mnist")
        if debian.is_dir():
            kwargs["data_dir"] = debian
        kwargs["download"] = False
    (x_train, t_train), (x_test, t_test) = load_dataset(name, **kwargs)
    return ((np.ascontiguousarray(x_train, np.float32), np.asarray(t_train, np.int64)),
            (np.ascontiguousarray(x_test, np.float32), np.asarray(t_test, np.int64)))


def make_optimizer():
    """chainrule's Adam; the same update written out if the module is missing."""
    try:
        from chainrule.optimizers import Adam
        return Adam(lr=0.001)
    except ImportError:
        return _InlineAdam()


class _InlineAdam:
    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.t, self.m, self.v = 0, {}, {}

    def update(self, params, grads):
        self.t += 1
        step = self.lr * np.sqrt(1 - self.beta2 ** self.t) / (1 - self.beta1 ** self.t)
        for key, p in params.items():
            g = grads[key]
            m = self.m.setdefault(key, np.zeros_like(p))
            v = self.v.setdefault(key, np.zeros_like(p))
            m += (1 - self.beta1) * (g - m)
            v += (1 - self.beta2) * (g * g - v)
            p -= step * m / (np.sqrt(v) + self.eps)


# -- (a) timing ---------------------------------------------------------------------------
def torch_twin(net):
    """SimpleConvNet in PyTorch with net's current weights (PyTorch's Linear is x W^T)."""
    import torch
    from torch import nn
    conv = net.layers["Conv1"]
    fn, c, fh, _ = conv.W.shape
    hidden = net.params["W2"].shape[1]
    model = nn.Sequential(
        nn.Conv2d(c, fn, fh, stride=conv.stride, padding=conv.pad), nn.ReLU(),
        nn.MaxPool2d(2, 2), nn.Flatten(),
        nn.Linear(net.params["W2"].shape[0], hidden), nn.ReLU(),
        nn.Linear(hidden, net.output_size))
    with torch.no_grad():
        model[0].weight.copy_(torch.from_numpy(net.params["W1"]))
        model[0].bias.copy_(torch.from_numpy(net.params["b1"]))
        model[4].weight.copy_(torch.from_numpy(net.params["W2"].T.copy()))
        model[4].bias.copy_(torch.from_numpy(net.params["b2"]))
        model[6].weight.copy_(torch.from_numpy(net.params["W3"].T.copy()))
        model[6].bias.copy_(torch.from_numpy(net.params["b3"]))
    return model


def time_iterations(threads, x_train, t_train, runs, iters, seed):
    """Median ms per training iteration for chainrule and PyTorch at a thread count."""
    from threadpoolctl import threadpool_limits
    try:
        import torch
    except ImportError:
        torch = None

    rng = np.random.default_rng(seed)
    batches = [rng.choice(x_train.shape[0], BATCH, replace=False) for _ in range(iters)]
    xs = [x_train[b].reshape(BATCH, 1, 28, 28) for b in batches]
    ts = [t_train[b] for b in batches]

    net = SimpleConvNet(dtype=np.float32, rng=seed)
    optimizer = make_optimizer()

    def chainrule_run():
        for x, t in zip(xs, ts):
            optimizer.update(net.params, net.gradient(x, t))

    result = {"threads": threads}
    with threadpool_limits(limits=threads):
        contenders = {"chainrule": chainrule_run}
        if torch is not None:
            torch.set_num_threads(threads)
            model = torch_twin(net)
            torch_opt = torch.optim.Adam(model.parameters(), lr=0.001)
            loss_fn = torch.nn.CrossEntropyLoss()
            txs = [torch.from_numpy(x) for x in xs]
            tts = [torch.from_numpy(t) for t in ts]

            # The same weights and batch give the same loss: the same network.
            with torch.no_grad():
                torch_loss = float(loss_fn(model(txs[0]), tts[0]))
            result["first_loss"] = {"chainrule": float(net.loss(xs[0], ts[0])),
                                    "pytorch": torch_loss}

            def torch_run():
                for x, t in zip(txs, tts):
                    torch_opt.zero_grad()
                    loss_fn(model(x), t).backward()
                    torch_opt.step()
            contenders["pytorch"] = torch_run

        for run in contenders.values():  # warm up caches, allocators, thread pools
            run()
        times = {name: [] for name in contenders}
        order = list(contenders)
        for r in range(runs):
            for name in (order if r % 2 == 0 else order[::-1]):
                start = time.perf_counter()
                contenders[name]()
                times[name].append((time.perf_counter() - start) / iters * 1e3)

    for name, values in times.items():
        result[f"{name}_ms"] = round(statistics.median(values), 2)
        result[f"{name}_ms_min"] = round(min(values), 2)
        result[f"{name}_ms_runs"] = [round(v, 2) for v in values]
    if "pytorch_ms" in result:
        result["ratio"] = round(result["chainrule_ms"] / result["pytorch_ms"], 3)
    return result


# -- (b) training -------------------------------------------------------------------------
def train(model_name, dataset, epochs, threads, seed, train_size=None, init_std=None,
          lr_schedule="constant"):
    from threadpoolctl import threadpool_limits
    (x_train, t_train), (x_test, t_test) = load_data(dataset)
    if train_size:
        x_train, t_train = x_train[:train_size], t_train[:train_size]
    cls = {"simple": SimpleConvNet, "deep": DeepConvNet}[model_name]
    kwargs = {} if init_std is None else {"weight_init_std": init_std}
    net = cls(dtype=np.float32, rng=seed, **kwargs)
    optimizer = make_optimizer()
    base_lr = optimizer.lr
    _, lr_factor = chainrule.optimizers.lr_schedule(lr_schedule)
    rng = np.random.default_rng(seed)
    n = x_train.shape[0]
    total_steps = epochs * -(-n // BATCH)
    step = 0
    history = []
    print(f"training {cls.__name__} on {dataset} ({n} train / {x_test.shape[0]} test), "
          f"{threads} thread(s)")
    with threadpool_limits(limits=threads):
        start = time.perf_counter()
        for epoch in range(1, epochs + 1):
            order = rng.permutation(n)
            losses = []
            for i in range(0, n, BATCH):
                batch = order[i:i + BATCH]
                optimizer.lr = base_lr * lr_factor(step / total_steps)  # as Trainer does
                step += 1
                grads = net.gradient(x_train[batch], t_train[batch])
                optimizer.update(net.params, grads)
                losses.append(net.last_loss)
            test_acc = net.accuracy(x_test, t_test)
            elapsed = time.perf_counter() - start
            history.append({"epoch": epoch, "loss": round(float(np.mean(losses)), 4),
                            "test_accuracy": test_acc, "seconds": round(elapsed, 1)})
            print(f"  epoch {epoch:2d}  loss {np.mean(losses):.4f}  "
                  f"held-out accuracy {test_acc:.4f}  ({elapsed:.0f} s)", flush=True)
    return {"model": cls.__name__, "config": net.config, "dataset": dataset,
            "train_size": n, "test_size": int(x_test.shape[0]), "threads": threads,
            "optimizer": "Adam(lr=0.001)", "lr_schedule": lr_schedule, "batch": BATCH,
            "seed": seed, "history": history}


# -- the summary page ------------------------------------------------------------------------
def write_summary():
    """benchmarks/results/conv_summary.md: a table of every saved conv_*.json."""
    lines = ["# Convolutional networks: speed and accuracy", "",
             "Written by `benchmarks/bench_conv.py --save` from the JSON files beside it.", ""]
    timing = RESULTS / "conv_timing.json"
    if timing.exists():
        t = json.loads(timing.read_text())
        lines += [f"## {t['benchmark']}", "",
                  f"`{t['command']}`: median of {t['runs']} runs x {t['iters']} iterations, "
                  f"runs of the two alternating; "
                  + ", ".join(f"{k} {v}" for k, v in t["environment"].items())
                  + f"; load average {t.get('load_average', '?')} (1 minute, before and "
                  f"after; the machine has {t.get('cpus', '?')} CPUs).", "",
                  "| threads | chainrule ms/iter | PyTorch ms/iter | ratio |",
                  "| --- | --- | --- | --- |"]
        for r in t["results"]:
            lines.append(f"| {r['threads']} | {r['chainrule_ms']} | {r.get('pytorch_ms', '-')} "
                         f"| {r.get('ratio', '-')} |")
        lines.append("")
    runs = sorted(RESULTS.glob("conv_training_*.json"))
    if runs:
        lines += ["## Training (float32, Adam lr=0.001, batch 100, shuffled each epoch)", "",
                  "| model | data (train / held out) | epochs | lr schedule | held-out accuracy, "
                  "last | best | seconds | command |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for path in runs:
            r = json.loads(path.read_text())
            accs = [h["test_accuracy"] for h in r["history"]]
            lines.append(f"| {r['model']} | {r['dataset']} ({r['train_size']} / "
                         f"{r['test_size']}) | {len(accs)} | {r.get('lr_schedule', 'constant')} "
                         f"| {accs[-1]:.4f} | {max(accs):.4f} "
                         f"| {r['history'][-1]['seconds']} | `{r['command']}` |")
        lines.append("")
    with atomic_file(RESULTS / "conv_summary.md") as f:
        f.write("\n".join(lines).encode("utf-8"))


# -- main -----------------------------------------------------------------------------------
def environment():
    info = {"python": platform.python_version(), "numpy": np.__version__,
            "chainrule": chainrule.__version__, "machine": platform.machine()}
    try:
        import torch
        info["torch"] = torch.__version__
    except ImportError:
        pass
    return info


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per contender")
    parser.add_argument("--iters", type=int, default=10, help="iterations per timed run")
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument("--train-epochs", type=int, default=0)
    parser.add_argument("--model", choices=["simple", "deep"], default="simple")
    parser.add_argument("--dataset", default="mnist-10k",
                        choices=["mnist-10k", "fashion-mnist", "mnist"])
    parser.add_argument("--train-threads", type=int, default=2)
    parser.add_argument("--train-size", type=int, default=None,
                        help="use only the first N training images")
    parser.add_argument("--init-std", default=None,
                        help="SimpleConvNet's weight_init_std: a number or he/xavier "
                             "(default: the book's 0.01)")
    parser.add_argument("--lr-schedule", choices=list(chainrule.optimizers.LR_SCHEDULES),
                        default="constant",
                        help="learning-rate schedule of the training run (default: constant)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", action="store_true", help="write benchmarks/results/conv_*.json")
    args = parser.parse_args(argv)

    try:
        import torch
        torch.set_num_interop_threads(1)  # only settable before any parallel work
    except ImportError:
        print("PyTorch not installed: timing chainrule alone", file=sys.stderr)

    if not args.no_timing:
        (x_train, t_train), _ = load_data("mnist-10k")
        timings = []
        load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        print(f"SimpleConvNet, one training iteration (batch {BATCH}, Adam, float32), "
              f"median of {args.runs} runs x {args.iters} iterations")
        for threads in args.threads:
            r = time_iterations(threads, x_train, t_train, args.runs, args.iters, args.seed)
            timings.append(r)
            line = f"  {threads} thread(s): chainrule {r['chainrule_ms']:7.1f} ms/iter"
            if "pytorch_ms" in r:
                line += (f"   PyTorch {r['pytorch_ms']:7.1f} ms/iter   ratio {r['ratio']:.2f}"
                         f"   (first loss {r['first_loss']['chainrule']:.6f} vs "
                         f"{r['first_loss']['pytorch']:.6f})")
            print(line, flush=True)
        if args.save:
            RESULTS.mkdir(exist_ok=True)
            out = {"benchmark": "SimpleConvNet training iteration, batch 100, Adam, float32",
                   "command": "python benchmarks/bench_conv.py " + " ".join(argv or sys.argv[1:]),
                   "environment": environment(), "runs": args.runs, "iters": args.iters,
                   "cpus": os.cpu_count(), "results": timings}
            if load_before is not None:
                out["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
            with atomic_file(RESULTS / "conv_timing.json") as f:
                f.write((json.dumps(out, indent=2) + "\n").encode("utf-8"))

    if args.train_epochs:
        init_std = args.init_std
        if init_std is not None:
            if args.model != "simple":
                parser.error("--init-std applies to SimpleConvNet (DeepConvNet uses He's)")
            try:
                init_std = float(init_std)
            except ValueError:
                pass
        result = train(args.model, args.dataset, args.train_epochs, args.train_threads,
                       args.seed, args.train_size, init_std, args.lr_schedule)
        if args.save:
            RESULTS.mkdir(exist_ok=True)
            result["command"] = "python benchmarks/bench_conv.py " + " ".join(argv or sys.argv[1:])
            result["environment"] = environment()
            suffix = "" if args.lr_schedule == "constant" else f"_{args.lr_schedule}"
            path = RESULTS / f"conv_training_{args.model}_{args.dataset}{suffix}.json"
            with atomic_file(path) as f:
                f.write((json.dumps(result, indent=2) + "\n").encode("utf-8"))
    if args.save:
        write_summary()


if __name__ == "__main__":
    main()
