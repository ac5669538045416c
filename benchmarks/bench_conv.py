"""Convolutional networks: chainrule against PyTorch CPU, and what they reach when trained.

    python benchmarks/bench_conv.py                    # timing, 1 and 2 threads
    python benchmarks/bench_conv.py --save             # ... into docs/speed.md and results/
    python benchmarks/bench_conv.py --no-timing --train-epochs 3 --model deep \\
        --dataset fashion-mnist --save                 # DeepConvNet on Fashion-MNIST

(a) Timing. One training step of the book's SimpleConvNet (conv 30x5x5 - ReLU - max
pool 2x2 - affine 100 - ReLU - affine 10) and of its DeepConvNet (six 3x3 convolutions,
16 to 64 filters, three max pools, affine 50 with dropout, affine 10), softmax
cross-entropy, batch 100, Adam, float32: a forward pass, backpropagation and the Adam
update. The same network in PyTorch (eager, built layer for layer from chainrule's
network by `torch_twin`) starts from the same weights and sees the same batches; the
losses of the first batch at inference are compared to show that the two compute the
same thing. Both run in this one process with the same thread count (threadpoolctl for
NumPy's BLAS, torch.set_num_threads for PyTorch), and their timed windows alternate, so
that a drift in the machine's speed (other processes) hits both alike. Reported: the
median over the windows of the time per step, and the ratio chainrule / PyTorch (below
1: chainrule is faster); the CPU model and the load average are recorded with them.
The CPU time of the process is recorded beside the wall time: on a shared machine the
wall time is partly time spent waiting for a core. Then, per layer, the median forward
and backward CPU time of each layer in both (timed around each layer's calls in
chainrule, with module hooks in PyTorch, in separate steps so that the timers do not
touch the figures above).

(b) Training (--train-epochs N). SimpleConvNet or DeepConvNet, float32, Adam lr=0.001,
batch 100, a fresh shuffle every epoch, on the bundled mnist-10k digits (8,000 to train,
2,000 held out) or full Fashion-MNIST (`apt-get install dataset-fashion-mnist`);
held-out accuracy after every epoch.

PyTorch is optional (`pip install torch==2.13.0`); without it only chainrule is timed.
--save writes the figures to benchmarks/results/conv_timing.json / conv_training_*.json,
rewrites benchmarks/results/conv_summary.md from all of them, and writes the timing
tables into docs/speed.md between its bench:conv markers.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

# Variables some sandboxes set for old OpenBLAS builds: OPENBLAS_CORETYPE=Haswell keeps a
# current OpenBLAS on its AVX2 kernels on a CPU with AVX-512 (measured here: 84 against
# 123 GFLOP/s for a 64 x 577 by 577 x 8,100 float32 product on one thread), which would
# time NumPy with one hand tied. They are read when NumPy loads, so the script starts
# itself again without them (as bench_seed.py does for its measuring processes).
_SANDBOX_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
if __name__ == "__main__" and any(v in os.environ for v in _SANDBOX_VARIABLES):
    _removed = {v: os.environ.pop(v) for v in _SANDBOX_VARIABLES if v in os.environ}
    os.environ["BENCH_CONV_REMOVED"] = json.dumps(_removed)
    os.execv(sys.executable, [sys.executable] + sys.argv)

import numpy as np

import chainrule
from chainrule.files import atomic_file
from chainrule.models import DeepConvNet, SimpleConvNet

from benchlib import cpu_model, load_images as load_data, write_bench_section

RESULTS = Path(__file__).resolve().parent / "results"
BATCH = 100


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
NETWORKS = {"simple": SimpleConvNet, "deep": DeepConvNet}


def torch_twin(net):
    """net's layers in PyTorch, in the same order and with net's current weights.

    Convolution -> Conv2d, Pooling -> MaxPool2d, Relu -> ReLU, Dropout -> Dropout, and
    Affine -> Linear (after one Flatten; PyTorch's Linear computes x W^T). Returns the
    model and the chainrule layer name of each of its modules.
    """
    import torch
    from torch import nn
    from chainrule.layers import Affine, Convolution, Dropout, Pooling, Relu
    modules, names, flat = [], [], False
    for name, layer in net.layers.items():
        if isinstance(layer, Convolution):
            fn, c, fh, fw = layer.W.shape
            m = nn.Conv2d(c, fn, (fh, fw), stride=layer.stride, padding=layer.pad)
            weights = (layer.W, layer.b)
        elif isinstance(layer, Affine):
            if not flat:
                modules.append(nn.Flatten())
                names.append("Flatten")
                flat = True
            m = nn.Linear(*layer.W.shape)
            weights = (layer.W.T.copy(), layer.b)
        elif isinstance(layer, Pooling):
            m = nn.MaxPool2d((layer.pool_h, layer.pool_w), stride=layer.stride,
                             padding=layer.pad)
            weights = None
        elif isinstance(layer, Relu):
            m, weights = nn.ReLU(), None
        elif isinstance(layer, Dropout):
            m, weights = nn.Dropout(layer.dropout_ratio), None
        else:
            raise TypeError(f"no PyTorch counterpart for {name} ({type(layer).__name__})")
        if weights is not None:
            with torch.no_grad():
                m.weight.copy_(torch.from_numpy(np.ascontiguousarray(weights[0])))
                m.bias.copy_(torch.from_numpy(weights[1]))
        modules.append(m)
        names.append(name)
    return nn.Sequential(*modules), names


def layer_times_chainrule(net, optimizer, xs, ts):
    """Median CPU ms of each layer's forward and backward over the steps of xs, ts.

    CPU time of the process, not wall time: on a shared machine the wall time of a
    call of a few milliseconds is mostly the time the process waited for a core."""
    times = {}
    originals = {}
    for name, layer in net.layers.items():
        originals[name] = (layer.forward, layer.backward)

        def timed(fn, key):
            def call(*args, **kwargs):
                start = time.process_time()
                result = fn(*args, **kwargs)
                times.setdefault(key, []).append((time.process_time() - start) * 1e3)
                return result
            return call
        layer.forward = timed(layer.forward, (name, "forward"))
        layer.backward = timed(layer.backward, (name, "backward"))
    try:
        for x, t in zip(xs, ts):
            optimizer.update(net.params, net.gradient(x, t))
    finally:
        for name, layer in net.layers.items():
            del layer.forward, layer.backward  # the instance attributes set above
    return {key: statistics.median(values) for key, values in times.items()}


def layer_times_torch(model, names, optimizer, loss_fn, xs, ts):
    """Median CPU ms of each module's forward and backward (module hooks) over xs, ts.

    The first module's input needs no gradient, so PyTorch calls its backward hook as
    soon as its output's gradient is there; its backward is timed from then to the end
    of loss.backward() instead (nothing else is left to run by that point).
    """
    import warnings
    times, started, handles = {}, {}, []
    for module, name in zip(model, names):
        def pre(key):
            def hook(*_):
                started[key] = time.process_time()
            return hook

        def post(key):
            def hook(*_):
                times.setdefault(key, []).append((time.process_time() - started[key]) * 1e3)
            return hook
        handles += [module.register_forward_pre_hook(pre((name, "forward"))),
                    module.register_forward_hook(post((name, "forward"))),
                    module.register_full_backward_pre_hook(pre((name, "backward")))]
        if module is not model[0]:
            handles.append(module.register_full_backward_hook(post((name, "backward"))))
    first = (names[0], "backward")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for x, t in zip(xs, ts):
                optimizer.zero_grad()
                loss_fn(model(x), t).backward()
                times.setdefault(first, []).append((time.process_time() - started[first]) * 1e3)
                optimizer.step()
    finally:
        for handle in handles:
            handle.remove()
    return {key: statistics.median(values) for key, values in times.items()}


def time_steps(model_name, threads, x_train, t_train, runs, iters, seed):
    """Median ms per training step of chainrule and PyTorch at a thread count, and the
    time of each layer."""
    from threadpoolctl import threadpool_limits
    try:
        import torch
    except ImportError:
        torch = None

    rng = np.random.default_rng(seed)
    batches = [rng.choice(x_train.shape[0], BATCH, replace=False) for _ in range(iters)]
    xs = [x_train[b].reshape(BATCH, 1, 28, 28) for b in batches]
    ts = [t_train[b] for b in batches]

    net = NETWORKS[model_name](dtype=np.float32, rng=seed)
    optimizer = make_optimizer()

    def chainrule_step(x, t):
        optimizer.update(net.params, net.gradient(x, t))

    def chainrule_run():
        for x, t in zip(xs, ts):
            chainrule_step(x, t)

    result = {"model": type(net).__name__, "threads": threads}
    with threadpool_limits(limits=threads):
        contenders = {"chainrule": chainrule_run}
        if torch is not None:
            torch.set_num_threads(threads)
            model, names = torch_twin(net)
            torch_opt = torch.optim.Adam(model.parameters(), lr=0.001)
            loss_fn = torch.nn.CrossEntropyLoss()
            txs = [torch.from_numpy(x) for x in xs]
            tts = [torch.from_numpy(t) for t in ts]

            # The same weights and batch give the same loss: the same network.
            model.eval()
            with torch.no_grad():
                torch_loss = float(loss_fn(model(txs[0]), tts[0]))
            model.train()
            result["first_loss"] = {"chainrule": float(net.loss(xs[0], ts[0])),
                                    "pytorch": torch_loss}

            def torch_step(x, t):
                torch_opt.zero_grad()
                loss_fn(model(x), t).backward()
                torch_opt.step()

            def torch_run():
                for x, t in zip(txs, tts):
                    torch_step(x, t)
            contenders["pytorch"] = torch_run

        for run in contenders.values():  # warm up caches, allocators, thread pools
            run()
        times = {name: [] for name in contenders}
        cpu = {name: [] for name in contenders}
        order = list(contenders)
        for r in range(runs):
            for name in (order if r % 2 == 0 else order[::-1]):
                start, start_cpu = time.perf_counter(), time.process_time()
                contenders[name]()
                times[name].append((time.perf_counter() - start) / iters * 1e3)
                cpu[name].append((time.process_time() - start_cpu) / iters * 1e3)

        layers = {"chainrule": layer_times_chainrule(net, optimizer, xs, ts)}
        if torch is not None:
            layers["pytorch"] = layer_times_torch(model, names, torch_opt, loss_fn, txs, tts)

    for name, values in times.items():
        result[f"{name}_ms"] = round(statistics.median(values), 2)
        result[f"{name}_ms_min"] = round(min(values), 2)
        result[f"{name}_ms_runs"] = [round(v, 2) for v in values]
        result[f"{name}_cpu_ms"] = round(statistics.median(cpu[name]), 2)
    if "pytorch_ms" in result:
        result["ratio"] = round(result["chainrule_ms"] / result["pytorch_ms"], 3)
        result["cpu_ratio"] = round(result["chainrule_cpu_ms"] / result["pytorch_cpu_ms"], 3)
    result["layers"] = [
        {"layer": name,
         **{f"{who}_{phase}_ms": round(layers[who][(name, phase)], 2)
            for who in layers for phase in ("forward", "backward")
            if (name, phase) in layers[who]}}
        for name in net.layers]
    return result


def timing_tables(t):
    """Markdown tables of a conv_timing result: the steps, then the layers."""
    env = t["environment"]
    lines = [f"`{t['command']}` on {t['cpu']} ({t['cpus']} CPUs), NumPy {env['numpy']}"
             + (f" with {env['blas']}" if "blas" in env else "")
             + (f", PyTorch {env['torch']}" if "torch" in env else "")
             + f"; median of {t['runs']} alternating windows of {t['iters']} steps; "
             f"load average {t['load_average'][0]} before, {t['load_average'][1]} after.",
             "", "Wall time per step, and the CPU time of the process per step (with 2 threads "
             "it adds both threads' time, waiting included):", "",
             "| network | threads | chainrule ms/step | PyTorch ms/step | ratio "
             "| chainrule CPU ms | PyTorch CPU ms | CPU ratio |",
             "|---|---|---|---|---|---|---|---|"]
    for r in t["results"]:
        nan = float("nan")
        lines.append(f"| {r['model']} | {r['threads']} | {r['chainrule_ms']:.1f} | "
                     f"{r.get('pytorch_ms', nan):.1f} | {r.get('ratio', '-')} | "
                     f"{r.get('chainrule_cpu_ms', nan):.1f} | {r.get('pytorch_cpu_ms', nan):.1f} "
                     f"| {r.get('cpu_ratio', '-')} |")
    for r in t["results"]:
        if r["threads"] != min(x["threads"] for x in t["results"]):
            continue
        lines += ["", f"{r['model']}, {r['threads']} thread(s), CPU ms per step of each layer "
                  "(median), chainrule / PyTorch:", "",
                  "| layer | forward | backward |", "|---|---|---|"]
        for row in r["layers"]:
            cells = []
            for phase in ("forward", "backward"):
                mine, theirs = row.get(f"chainrule_{phase}_ms"), row.get(f"pytorch_{phase}_ms")
                cells.append("-" if mine is None else f"{mine:.2f} / {theirs:.2f}"
                             if theirs is not None else f"{mine:.2f}")
            lines.append(f"| {row['layer']} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


SPEED_DOC = Path(__file__).resolve().parent.parent / "docs" / "speed.md"


def write_doc(section, text):
    """Replace what lies between docs/speed.md's bench:<section> markers."""
    return write_bench_section(SPEED_DOC, section, text)


# -- (b) training -------------------------------------------------------------------------
def train(model_name, dataset, epochs, threads, seed, train_size=None, init_std=None,
          lr_schedule="constant"):
    from threadpoolctl import threadpool_limits
    (x_train, t_train), (x_test, t_test) = load_data(dataset)
    if train_size:
        x_train, t_train = x_train[:train_size], t_train[:train_size]
    cls = NETWORKS[model_name]
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
        lines += [f"## {t['benchmark']}", "", timing_tables(t), ""]
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
        from threadpoolctl import threadpool_info
        info["blas"] = ", ".join(f"{p.get('internal_api')} {p.get('version')} "
                                 f"({p.get('architecture')} kernels)"
                                 for p in threadpool_info() if p.get("user_api") == "blas")
    except ImportError:
        pass
    if os.environ.get("BENCH_CONV_REMOVED"):
        info["unset"] = os.environ["BENCH_CONV_REMOVED"]
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
    parser.add_argument("--runs", type=int, default=7, help="timed windows per contender")
    parser.add_argument("--iters", type=int, default=5, help="steps per timed window")
    parser.add_argument("--models", nargs="+", choices=list(NETWORKS), default=["simple", "deep"],
                        help="networks to time (default: both)")
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
        print(f"one training step (batch {BATCH}, Adam, float32), median of {args.runs} "
              f"windows x {args.iters} steps; {cpu_model()}")
        for model_name in args.models:
            for threads in args.threads:
                r = time_steps(model_name, threads, x_train, t_train, args.runs, args.iters,
                               args.seed)
                timings.append(r)
                line = (f"  {r['model']:13s} {threads} thread(s): chainrule "
                        f"{r['chainrule_ms']:7.1f} ms/step")
                if "pytorch_ms" in r:
                    line += (f"   PyTorch {r['pytorch_ms']:7.1f} ms/step   ratio {r['ratio']:.2f}"
                             f"   (first loss {r['first_loss']['chainrule']:.6f} vs "
                             f"{r['first_loss']['pytorch']:.6f})")
                print(line, flush=True)
        out = {"benchmark": "Training step, batch 100, Adam, float32",
               "command": "python benchmarks/bench_conv.py " + " ".join(
                   sys.argv[1:] if argv is None else argv),
               "environment": environment(), "cpu": cpu_model(), "runs": args.runs,
               "iters": args.iters, "cpus": os.cpu_count(), "results": timings}
        if load_before is not None:
            out["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        else:
            out["load_average"] = ["?", "?"]
        print(timing_tables(out))
        if args.save:
            RESULTS.mkdir(exist_ok=True)
            with atomic_file(RESULTS / "conv_timing.json") as f:
                f.write((json.dumps(out, indent=2) + "\n").encode("utf-8"))
            write_doc("conv", timing_tables(out))

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
