"""The GPT of `chainrule train --model gpt`: what it learns and how fast, against PyTorch.

    python benchmarks/bench_gpt.py                          # both, seeds 0 1 2, 2,000 iterations
    python benchmarks/bench_gpt.py --no-learning            # speed only
    python benchmarks/bench_gpt.py --no-speed --seeds 0 --iters 2000 --save

The model is the one `--model gpt` builds with its defaults (cli/language.py
DEFAULTS["gpt"]): embed(128) posembed(64), 4 pre-norm blocks of 4 heads, a last
LayerNorm, the output layer tied to the embedding, float32. Its PyTorch twin is written
here the way nanoGPT writes it (one qkv Linear, an explicit softmax, GELU exact,
lm_head sharing the embedding's weight) and starts from chainrule's initial weights.

(a) Learning. Each seed builds the network as `chainrule train --model gpt --seed S`
does and trains it with chainrule's LanguageModelTrainer, exactly the command's run:
windows of 64 characters at random places of the bundled Shakespeare, 12 a step, AdamW
(lr 1e-3, betas 0.9 and 0.99, weight decay 0.1 on parameters of two or more dimensions),
gradients clipped at global norm 1, WarmupCosine(100, 0.1) (rate factor (i+1)/101 during
the warm-up, then a cosine to 1e-4 at the last step). PyTorch trains the twin on the
same batches (LanguageModelTrainer.batch(i)), with torch.optim.AdamW on two groups (the
2-D parameters decaying), clip_grad_norm_(1.0) and the rate of step i set from the same
WarmupCosine function. Both are measured by chainrule.lm_trainer.window_loss on the
validation text (the last 10%): the same 20 batches of 12 windows (--eval-iters), drawn
from the seed, every 250 steps (--eval-interval). Each framework trains in its own
process on one thread; the two run side by side (--jobs 2).

(b) Speed. One training iteration: forward, backward, clipping and AdamW, at batch 12
by 64 characters. Fresh processes, one per framework and thread count, alternating
(chainrule then PyTorch, then PyTorch then chainrule, ...), --rounds of each; each times
--steps iterations after 5 of warm-up and reports the median. The figure is the median
over the rounds, with wall and CPU time (on a shared machine the wall time includes
waiting for a core), and the ratio chainrule / PyTorch. Then, in one more process on one
thread, chainrule's time by layer type (the median per step of each layer, timed around
its forward and backward by benchmarks/bench_conv.py's layer_times_chainrule, summed
over the layers of a type), the loss and the optimizer (clipping and AdamW).

--save writes benchmarks/results/gpt_learning.json and gpt_speed.json and the tables
into docs/transformer.md (bench:gpt-learning, bench:gpt-speed) and docs/speed.md
(bench:gpt).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchlib import cpu_model, write_bench_section

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DOCS = HERE.parent / "docs"
NANOGPT_PUBLISHED = 1.88  # nanoGPT's README, shakespeare_char with the CPU overrides


# -- the two models ---------------------------------------------------------------------
def chainrule_run(seed, iters, eval_interval, eval_iters):
    """(network, trainer) as `chainrule train --model gpt --seed SEED` makes them."""
    from chainrule.cli.language import DEFAULTS
    from chainrule.cli.presets import PRESETS
    from chainrule.datasets import load_text
    from chainrule.lm_trainer import LanguageModelTrainer
    from chainrule.optimizers import WarmupCosine
    d = DEFAULTS["gpt"]
    text = load_text("shakespeare")
    net = PRESETS["gpt"].build((d["time_size"],), len(text.vocab), dtype="float32",
                               rng=np.random.default_rng(seed))
    trainer = LanguageModelTrainer(
        net, text.train, text.validation, batch_size=d["batch_size"],
        time_size=d["time_size"], sampling=d["sampling"], iters=iters,
        eval_interval=eval_interval, eval_iters=eval_iters, optimizer=d["optimizer"],
        optimizer_param={"lr": d["lr"], "beta2": d["beta2"],
                         "weight_decay": d["weight_decay"]},
        verbose=False, seed=seed, clip_grad=d["clip_grad"],
        lr_schedule=WarmupCosine(d["warmup_iters"], d["min_lr"] / d["lr"]).name)
    return net, trainer


def torch_gpt(net):
    """chainrule's GPT `net` in PyTorch, nanoGPT's way, with net's current weights."""
    import math
    import torch
    from torch import nn
    F = nn.functional
    from chainrule.transformer import MultiHeadAttention
    vocab, width = net.params["W1"].shape
    context = net.params["W2"].shape[0]
    heads = [layer.num_heads for layer in net.layers.values()
             if isinstance(layer, MultiHeadAttention)]

    class CausalSelfAttention(nn.Module):
        def __init__(self, n_head):
            super().__init__()
            self.n_head = n_head
            self.c_attn = nn.Linear(width, 3 * width)
            self.c_proj = nn.Linear(width, width)
            self.register_buffer("bias", torch.tril(torch.ones(context, context, dtype=torch.bool)))

        def forward(self, x):
            B, T, C = x.size()
            q, k, v = self.c_attn(x).split(C, dim=2)
            q, k, v = (a.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
                       for a in (q, k, v))
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
            att = att.masked_fill(~self.bias[:T, :T], float("-inf"))
            y = F.softmax(att, dim=-1) @ v
            return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))

    class Block(nn.Module):
        def __init__(self, n_head):
            super().__init__()
            self.ln_1 = nn.LayerNorm(width)
            self.attn = CausalSelfAttention(n_head)
            self.ln_2 = nn.LayerNorm(width)
            self.c_fc = nn.Linear(width, 4 * width)
            self.c_proj = nn.Linear(4 * width, width)

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.c_proj(F.gelu(self.c_fc(self.ln_2(x))))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(vocab, width)
            self.wpe = nn.Embedding(context, width)
            self.h = nn.ModuleList(Block(h) for h in heads)
            self.ln_f = nn.LayerNorm(width)
            self.lm_head = nn.Linear(width, vocab, bias=False)
            self.lm_head.weight = self.wte.weight

        def forward(self, idx, targets):
            x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
            for block in self.h:
                x = block(x)
            logits = self.lm_head(self.ln_f(x))
            return F.cross_entropy(logits.view(-1, vocab), targets.view(-1))

    model = GPT()
    # The modules are declared in the order of chainrule's layers, so the parameters
    # (the tied matrix once) come in the order of net.params; a Linear's weight is
    # chainrule's W transposed.
    named = list(model.named_parameters())
    assert len(named) == len(net.params)
    with torch.no_grad():
        for (tname, param), array in zip(named, net.params.values()):
            value = torch.from_numpy(np.array(array, dtype=np.float32))
            if tname.endswith("weight") and ".c_" in tname:
                value = value.T
            assert value.shape == param.shape, (tname, value.shape, param.shape)
            param.copy_(value)
    return model


class TorchTraining:
    """The PyTorch side of a run: nanoGPT's optimizer set-up and step, and a `loss`
    that chainrule.lm_trainer.window_loss can call."""

    def __init__(self, net, trainer):
        import torch
        self.torch = torch
        self.model = torch_gpt(net)
        self.trainer = trainer
        opt = trainer.optimizer
        params = list(self.model.parameters())
        self.optimizer = torch.optim.AdamW(
            [{"params": [p for p in params if p.dim() >= 2], "weight_decay": opt.weight_decay},
             {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
            lr=trainer.base_lr, betas=(opt.beta1, opt.beta2), eps=opt.eps)

    def set_lr(self, iteration):
        lr = self.trainer.base_lr * self.trainer.lr_factor.at(iteration, self.trainer.max_iter)
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def step(self, x, t):
        torch = self.torch
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.model(torch.from_numpy(x), torch.from_numpy(t))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.trainer.clip_grad)
        self.optimizer.step()
        return loss.item()

    def loss(self, x, t):
        with self.torch.no_grad():
            return float(self.model(self.torch.from_numpy(x), self.torch.from_numpy(t)))

    def reset_state(self):
        pass


def limit_threads(threads):
    from threadpoolctl import threadpool_limits
    threadpool_limits(limits=threads)
    import torch
    torch.set_num_threads(threads)


# -- (a) learning, one framework and seed per process ------------------------------------
def learn(framework, seed, iters, eval_interval, eval_iters):
    from chainrule.lm_trainer import window_loss
    limit_threads(1)
    net, trainer = chainrule_run(seed, iters, eval_interval, eval_iters)
    start = time.perf_counter()
    if framework == "chainrule":
        trainer.train()
        curve = {int(h["iteration"]): float(h["val_loss"]) for h in trainer.history}
        train_loss = float(np.mean(trainer.train_loss_list[-100:]))
    else:
        tt = TorchTraining(net, trainer)

        def measure():
            return window_loss(tt, trainer.val_ids, trainer.batch_size, trainer.time_size,
                               eval_iters, seed)
        curve, losses = {0: measure()}, []
        for i in range(iters):
            tt.set_lr(i)
            losses.append(tt.step(*trainer.batch(i)))
            if (i + 1) % eval_interval == 0 or i + 1 == iters:
                curve[i + 1] = measure()
        train_loss = float(np.mean(losses[-100:]))
    seconds = time.perf_counter() - start
    return {"framework": framework, "seed": seed, "iters": iters, "val_loss": curve,
            "final_val_loss": curve[iters], "train_loss_last_100": train_loss,
            "seconds": round(seconds, 1)}


# -- (b) speed, one framework and thread count per process ------------------------------
def time_iterations(framework, threads, steps):
    limit_threads(threads)
    net, trainer = chainrule_run(0, 2000, 250, 20)
    trainer.optimizer.lr = trainer.base_lr
    if framework == "chainrule":
        step = trainer.train_step
    else:
        tt = TorchTraining(net, trainer)
        tt.set_lr(100)
        step = tt.step
    batches = [trainer.batch(i) for i in range(steps + 5)]
    wall, cpu = [], []
    for i, (x, t) in enumerate(batches):
        w, c = time.perf_counter(), time.process_time()
        step(x, t)
        if i >= 5:
            wall.append((time.perf_counter() - w) * 1e3)
            cpu.append((time.process_time() - c) * 1e3)
    return {"framework": framework, "threads": threads, "steps": steps,
            "wall_ms": statistics.median(wall), "cpu_ms": statistics.median(cpu)}


LAYER_TYPES = {"TimeEmbedding": "embedding", "PositionalEmbedding": "posembed",
               "LayerNorm": "layernorm", "MultiHeadAttention": "attention",
               "TimeAffine": "affine (TimeAffine)", "GELU": "gelu", "Unembedding": "unembed",
               "ResidualStart": "residual", "ResidualAdd": "residual",
               "TimeSoftmaxWithLoss": "loss"}


def time_layers(steps):
    """Median CPU ms per step of each layer type's forward and backward, and of the
    optimizer (clipping and AdamW), chainrule on one thread."""
    from types import SimpleNamespace
    from bench_conv import layer_times_chainrule
    limit_threads(1)
    net, trainer = chainrule_run(0, 2000, 250, 20)
    trainer.optimizer.lr = trainer.base_lr
    batches = [trainer.batch(i) for i in range(steps)]
    optimizer_ms = []

    class TimedOptimizer:  # what Trainer.train_step does after the gradients
        def update(self, params, grads):
            from chainrule.optimizers import clip_grads
            start = time.process_time()
            clip_grads(grads, trainer.clip_grad)
            trainer.optimizer.update(params, grads)
            optimizer_ms.append((time.process_time() - start) * 1e3)

    layers = dict(net.layers, Loss=net.lastLayer)
    shim = SimpleNamespace(layers=layers, gradient=net.gradient, params=net.params)
    per_layer = layer_times_chainrule(shim, TimedOptimizer(), *zip(*batches))
    table = {}
    for (name, phase), ms in per_layer.items():
        kind = LAYER_TYPES.get(type(layers[name]).__name__, type(layers[name]).__name__)
        row = table.setdefault(kind, {"forward": 0.0, "backward": 0.0, "count": 0})
        row[phase] += ms
        row["count"] += phase == "forward"
    table["optimizer (clip + AdamW)"] = {"forward": 0.0, "backward": 0.0, "count": 1,
                                        "update": statistics.median(optimizer_ms)}
    return {"steps": steps, "layers": table}


def child(argv):
    """Run one measurement in this process, as asked by the parent, and print its JSON."""
    kind, *rest = argv
    if kind == "learn":
        result = learn(rest[0], *map(int, rest[1:]))
        # Kept as soon as measured: a long run stopped half-way keeps what it finished.
        with open(RESULTS / "gpt_learning_runs.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(result) + "\n")
    elif kind == "time":
        result = time_iterations(rest[0], int(rest[1]), int(rest[2]))
    else:
        result = time_layers(int(rest[0]))
    print(json.dumps(result))


def spawn(*args, threads=1):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    return subprocess.Popen([sys.executable, __file__, "--child", *map(str, args)],
                            stdout=subprocess.PIPE, env=env, text=True)


def collect(process):
    out, _ = process.communicate()
    if process.returncode:
        raise SystemExit(f"a measuring process failed ({process.args[3:]})")
    return json.loads(out.strip().splitlines()[-1])


# -- reports ------------------------------------------------------------------------------
def learning_table(runs, eval_iters):
    seeds = sorted({r["seed"] for r in runs})
    by = {(r["framework"], r["seed"]): r for r in runs}
    lines = ["| seed | iterations | chainrule | PyTorch | difference | chainrule s | PyTorch s |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for s in seeds:
        c, p = by.get(("chainrule", s)), by.get(("pytorch", s))
        if not (c and p):
            continue
        lines.append(f"| {s} | {c['iters']} | {c['final_val_loss']:.4f} | "
                     f"{p['final_val_loss']:.4f} | "
                     f"{c['final_val_loss'] - p['final_val_loss']:+.1e} | {c['seconds']:.0f} | "
                     f"{p['seconds']:.0f} |")
    pairs = [(by[("chainrule", s)], by[("pytorch", s)]) for s in seeds
             if ("chainrule", s) in by and ("pytorch", s) in by]
    if len(pairs) > 1:
        c_mean = statistics.mean(c["final_val_loss"] for c, _ in pairs)
        p_mean = statistics.mean(p["final_val_loss"] for _, p in pairs)
        lines.append(f"| mean of {len(pairs)} | | {c_mean:.4f} | {p_mean:.4f} | "
                     f"{c_mean - p_mean:+.1e} | | |")
    curves = ["", "Validation loss along the way (nats per character; chainrule / PyTorch):", "",
              "| seed | " + " | ".join(str(i) for i in sorted(by[next(iter(by))]["val_loss"],
                                                         key=int)) + " |",
              "| --- |" + " --- |" * len(by[next(iter(by))]["val_loss"])]
    for s in seeds:
        c, p = by.get(("chainrule", s)), by.get(("pytorch", s))
        if c and p:
            cells = [f"{c['val_loss'][k]:.3f} / {p['val_loss'][k]:.3f}"
                     for k in sorted(c["val_loss"], key=int) if k in p["val_loss"]]
            curves.append(f"| {s} | " + " | ".join(cells) + " |")
    note = (f"\nValidation loss: chainrule.lm_trainer.window_loss over {eval_iters} batches "
            f"of 12 windows of the validation text, the same windows for both. nanoGPT's "
            f"README reports {NANOGPT_PUBLISHED} for this configuration.")
    return "\n".join(lines + curves) + "\n" + note


def speed_tables(speed, layers):
    lines = ["| threads | chainrule ms | PyTorch ms | chainrule / PyTorch (wall) | "
             "chainrule CPU ms | PyTorch CPU ms | chainrule / PyTorch (CPU) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for threads, row in sorted(speed.items(), key=lambda kv: int(kv[0])):
        c, p = row["chainrule"], row["pytorch"]
        lines.append(f"| {threads} | {c['wall_ms']:.1f} | {p['wall_ms']:.1f} | "
                     f"{c['wall_ms'] / p['wall_ms']:.2f}× | {c['cpu_ms']:.1f} | "
                     f"{p['cpu_ms']:.1f} | {c['cpu_ms'] / p['cpu_ms']:.2f}× |")
    if layers:
        rows = layers["layers"]
        total = sum(r["forward"] + r["backward"] + r.get("update", 0.0) for r in rows.values())
        lines += ["", "chainrule's iteration by layer type, one thread (CPU ms per step, the "
                  "median of each layer summed over the layers of a type):", "",
                  "| layer type | layers | forward | backward | share |",
                  "| --- | --- | --- | --- | --- |"]
        for kind, r in sorted(rows.items(), key=lambda kv: -(kv[1]["forward"] + kv[1]["backward"]
                                                              + kv[1].get("update", 0.0))):
            both = r["forward"] + r["backward"] + r.get("update", 0.0)
            if "update" in r:
                lines.append(f"| {kind} | | {r['update']:.2f} (update) | | {both / total:.0%} |")
            else:
                lines.append(f"| {kind} | {r['count']} | {r['forward']:.2f} | "
                             f"{r['backward']:.2f} | {both / total:.0%} |")
        lines.append(f"| **sum** | | | | {total:.1f} ms |")
    return "\n".join(lines)


def speed_row(rows, head):
    """docs/speed.md's table: the ratio chainrule / PyTorch by thread count, wall and CPU."""
    threads = sorted(rows, key=int)
    cells = []
    for t in threads:
        c, p = rows[t]["chainrule"], rows[t]["pytorch"]
        cells.append(f"{c['wall_ms']:.1f} / {p['wall_ms']:.1f} ms = "
                     f"{c['wall_ms'] / p['wall_ms']:.2f}× (CPU {c['cpu_ms'] / p['cpu_ms']:.2f}×)")
    return ("| model | " + " | ".join(f"{t} thread(s): chainrule / PyTorch" for t in threads)
            + " |\n| --- |" + " --- |" * len(threads) + "\n"
            + "| GPT of `--model gpt` (4 blocks, 128 wide, batch 12 x 64) | "
            + " | ".join(cells) + f" |\n\n{head}")


def header(load):
    import torch
    return (f"{cpu_model()}, {os.cpu_count()} cores, load average {load[0]:.2f} before and "
            f"{load[1]:.2f} after; NumPy {np.__version__}, PyTorch {torch.__version__}.")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    ap.add_argument("--no-learning", action="store_true")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--iters", type=int, default=2000, help="training iterations per seed")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--eval-interval", type=int, default=250)
    ap.add_argument("--eval-iters", type=int, default=20)
    ap.add_argument("--jobs", type=int, default=2, help="learning processes at once")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=30, help="timed iterations per process")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--save", action="store_true")
    ap.add_argument("--from-runs", metavar="JSONL",
                    help="report the learning runs kept in this file (each learning process "
                         "appends to benchmarks/results/gpt_learning_runs.jsonl) instead of "
                         "running them")
    args = ap.parse_args(argv)
    if args.child:
        return child(args.child)
    load_before = os.getloadavg()
    report = {}
    if args.from_runs:
        runs = {}
        for line in Path(args.from_runs).read_text().splitlines():
            r = json.loads(line)
            runs[(r["framework"], r["seed"])] = r  # the last of each
        report["learning"] = {"runs": list(runs.values()), "eval_iters": args.eval_iters,
                              "eval_interval": args.eval_interval}
    elif not args.no_learning:
        queue = [(fw, s) for s in args.seeds for fw in ("chainrule", "pytorch")]
        running, runs = [], []
        while queue or running:
            while queue and len(running) < args.jobs:
                fw, s = queue.pop(0)
                running.append(spawn("learn", fw, s, args.iters, args.eval_interval,
                                     args.eval_iters))
            done = running.pop(0)
            runs.append(collect(done))
            r = runs[-1]
            print(f"{r['framework']:9s} seed {r['seed']}: val_loss {r['final_val_loss']:.4f} "
                  f"after {r['iters']} iterations ({r['seconds']:.0f} s)", flush=True)
        report["learning"] = {"runs": runs, "eval_iters": args.eval_iters,
                              "eval_interval": args.eval_interval}
    if not args.no_speed:
        speed = {}
        for threads in args.threads:
            samples = {"chainrule": [], "pytorch": []}
            for r in range(args.rounds):
                order = ("chainrule", "pytorch") if r % 2 == 0 else ("pytorch", "chainrule")
                for fw in order:
                    samples[fw].append(collect(spawn("time", fw, threads, args.steps,
                                                     threads=threads)))
            speed[str(threads)] = {fw: {k: statistics.median(s[k] for s in runs)
                                        for k in ("wall_ms", "cpu_ms")}
                                   for fw, runs in samples.items()}
            print(f"{threads} thread(s): " + ", ".join(
                f"{fw} {v['wall_ms']:.1f} ms (CPU {v['cpu_ms']:.1f})"
                for fw, v in speed[str(threads)].items()), flush=True)
        layers = collect(spawn("layers", args.steps))
        report["speed"] = {"iterations": speed, "layers": layers, "steps": args.steps,
                           "rounds": args.rounds}
    load = (load_before[0], os.getloadavg()[0])
    report["machine"] = {"cpu": cpu_model(), "cores": os.cpu_count(),
                         "load_average": [round(x, 2) for x in load]}
    head = header(load)
    texts = {}
    if "learning" in report:
        ran = sorted({(r["seed"], r["iters"]) for r in report["learning"]["runs"]})
        where = (f"on {cpu_model()}, reported from {args.from_runs}" if args.from_runs
                 else f"on {head}")
        texts["gpt-learning"] = (f"`python benchmarks/bench_gpt.py --no-speed --seeds "
                                 f"{' '.join(str(s) for s, _ in ran)} --iters "
                                 f"{max(i for _, i in ran)}` {where}\n\n" + learning_table(report["learning"]["runs"],
                                                                args.eval_iters))
    if "speed" in report:
        texts["gpt-speed"] = (f"`python benchmarks/bench_gpt.py --no-learning` on {head} "
                              f"Median of {args.rounds} fresh processes per framework and "
                              f"thread count, each the median of {args.steps} iterations:\n\n"
                              + speed_tables(report["speed"]["iterations"],
                                             report["speed"]["layers"]))
    for text in texts.values():
        print("\n" + text)
    if args.save:
        from chainrule.files import atomic_file
        for key in ("learning", "speed"):
            if key in report:
                with atomic_file(RESULTS / f"gpt_{key}.json") as f:
                    f.write((json.dumps({key: report[key], "machine": report["machine"]},
                                        indent=2) + "\n").encode("utf-8"))
        for section, text in texts.items():
            if not write_bench_section(DOCS / "transformer.md", section, text):
                print(f"docs/transformer.md has no bench:{section} markers", file=sys.stderr)
        if "speed" in report:
            write_bench_section(DOCS / "speed.md", "gpt",
                                speed_row(report["speed"]["iterations"], head))


if __name__ == "__main__":
    main()
