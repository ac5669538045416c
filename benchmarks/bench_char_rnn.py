"""The character LSTM language model (the char-rnn preset) against PyTorch: speed and
learning, side by side in one run (issue 24's figures).

    python benchmarks/bench_char_rnn.py                       # speed and learning
    python benchmarks/bench_char_rnn.py --sequel /tmp/dlfs2   # and the sequel's own code
    python benchmarks/bench_char_rnn.py --save                # writes docs and results

The model: embed(64) lstm(256) affine(65) on Shakespeare's characters, float32, 32
streams of 64 steps (LanguageModelTrainer's streams, truncated backprop at the step,
the LSTM's state carried from step to step), Adam lr 2e-3 (betas 0.9, 0.999, eps 1e-8),
gradients clipped at a global norm of 5. Three implementations of it:

  chainrule  the char-rnn preset's network, trained by LanguageModelTrainer.train_step;
  torch      nn.Embedding, nn.LSTM, nn.Linear with chainrule's initial weights copied in
             (torch_model), torch.optim.Adam, clip_grad_norm_, the state detached at
             every step; the same batches (LanguageModelTrainer.batch);
  sequel     *Deep Learning from Scratch 2*'s own TimeEmbedding, TimeLSTM, TimeAffine,
             TimeSoftmaxWithLoss, Adam and clip_grads (its Rnnlm's layers, with the same
             weights), imported from the folder given as --sequel (the folder that holds
             its `common/`); left out without it.

Speed: `--steps` training steps (300), each measurement a fresh process (the time of the
steps, and of the whole process), the implementations alternating, `--repeats` times
(median), at each thread count of `--threads` (1 and 2: OpenBLAS through
threadpoolctl, torch.set_num_threads).

Profile: where chainrule's step goes, by cProfile over 40 steps in a process of its own,
and in that process, alternating: chainrule's step, the step's matrix products alone in
NumPy, and PyTorch's step.

Learning: `--learn-steps` steps (1000) for each seed of `--seeds` (0 1 2), chainrule and
torch from the same initial weights; then the validation loss (nats per character) on
Shakespeare's last 10%, by LanguageModelTrainer's stream_loss for both (torch's weights
are copied back into a chainrule network to be measured by the same code).

--save writes benchmarks/results/char_rnn.json and the tables between the markers
<!-- bench:char-rnn --> in docs/sequences.md and docs/speed.md.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DOCS = HERE.parent / "docs"
SIDES = ("chainrule", "torch", "sequel")
N, T, EMBED, HIDDEN = 32, 64, 64, 256
LR, BETAS, EPS, CLIP = 2e-3, (0.9, 0.999), 1e-8, 5.0
# chainrule packs the LSTM's gates f, g, i, o; torch i, f, g, o: torch's k-th block is
# chainrule's block TORCH_GATES[k]
TORCH_GATES = (2, 0, 1, 3)
PROFILE_STEPS = 40


# -- the model on each side ----------------------------------------------------------------
def load_shakespeare():
    from chainrule.datasets.text import load_text
    return load_text("shakespeare")


def chainrule_network(vocab, seed, dtype="float32"):
    """The char-rnn preset's network (cli.presets), its LSTM stateful as in training."""
    import numpy as np
    from chainrule.cli.presets import PRESETS
    network = PRESETS["char-rnn"].build((T,), vocab, dtype=dtype,
                                        rng=np.random.default_rng(seed))
    for layer in network.layers.values():
        if hasattr(layer, "stateful"):
            layer.stateful = True
    return network


def _gate_columns(H):
    import numpy as np
    return np.concatenate([np.arange(k * H, (k + 1) * H) for k in TORCH_GATES])


def torch_model(network):
    """An nn.Module (embedding, LSTM, linear) holding copies of `network`'s weights, in
    their dtype: forward(x, state) -> (scores (N, T, V), (h, c))."""
    import torch
    from torch import nn
    W, Wx, Wh, b = (network.params[k] for k in ("W1", "Wx1", "Wh1", "b1"))
    V, D = W.shape
    H = Wh.shape[0]
    dtype = getattr(torch, W.dtype.name)

    class CharLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(V, D)
            self.lstm = nn.LSTM(D, H, batch_first=True)
            self.out = nn.Linear(H, V)

        def forward(self, x, state=None):
            hs, state = self.lstm(self.embed(x), state)
            return self.out(hs), state

    model = CharLSTM().to(dtype)
    cols = _gate_columns(H)
    with torch.no_grad():
        model.embed.weight.copy_(torch.from_numpy(W))
        model.lstm.weight_ih_l0.copy_(torch.from_numpy(Wx[:, cols].T.copy()))
        model.lstm.weight_hh_l0.copy_(torch.from_numpy(Wh[:, cols].T.copy()))
        model.lstm.bias_ih_l0.copy_(torch.from_numpy(b[cols]))
        # chainrule's LSTM has one bias: b_ih holds it, b_hh stays zero and is not
        # trained (trained too, Adam would move the sum b_ih + b_hh by twice the step)
        model.lstm.bias_hh_l0.zero_()
        model.out.weight.copy_(torch.from_numpy(network.params["W2"].T.copy()))
        model.out.bias.copy_(torch.from_numpy(network.params["b2"]))
    model.lstm.bias_hh_l0.requires_grad_(False)
    return model


def copy_back(model, network):
    """Put the torch model's weights into `network` (in place), the inverse of torch_model."""
    lstm = model.lstm
    H = lstm.hidden_size
    cols = _gate_columns(H)
    p = network.params
    p["W1"][...] = model.embed.weight.detach().numpy()
    p["Wx1"][:, cols] = lstm.weight_ih_l0.detach().numpy().T
    p["Wh1"][:, cols] = lstm.weight_hh_l0.detach().numpy().T
    p["b1"][cols] = (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach().numpy()
    p["W2"][...] = model.out.weight.detach().numpy().T
    p["b2"][...] = model.out.bias.detach().numpy()


def _trainer(network, text, steps):
    from chainrule.lm_trainer import LanguageModelTrainer
    return LanguageModelTrainer(network, text.train, text.validation, batch_size=N,
                                time_size=T, iters=steps, optimizer="adam",
                                optimizer_param={"lr": LR, "beta1": BETAS[0],
                                                 "beta2": BETAS[1], "eps": EPS},
                                clip_grad=CLIP, verbose=False)


def train_chainrule(network, trainer, steps):
    """`steps` of LanguageModelTrainer.train_step on its batches; the last loss."""
    loss = None
    for i in range(steps):
        x, t = trainer.batch(i)
        loss = trainer.train_step(x, t)
    return float(loss)


def train_torch(model, trainer, steps):
    """The same steps in PyTorch: Adam, clip_grad_norm_ (max_norm / (norm + 1e-6), as
    chainrule's clip_grads), the LSTM's state detached between steps."""
    import torch
    import torch.nn.functional as F
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=LR, betas=BETAS, eps=EPS)
    state, loss = None, None
    for i in range(steps):
        x, t = trainer.batch(i)
        scores, (h, c) = model(torch.from_numpy(x), state)
        state = (h.detach(), c.detach())
        loss = F.cross_entropy(scores.reshape(-1, scores.shape[-1]),
                               torch.from_numpy(t).reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, CLIP)
        optimizer.step()
    return loss.item()


def train_sequel(network, trainer, steps, sequel_dir):
    """The same steps with the sequel's own layers, Adam and clip_grads (its Rnnlm's
    forward and backward, written out), on copies of `network`'s weights."""
    sys.path.insert(0, str(sequel_dir))
    from common.optimizer import Adam
    from common.time_layers import TimeAffine, TimeEmbedding, TimeLSTM, TimeSoftmaxWithLoss
    from common.util import clip_grads
    p = {k: v.copy() for k, v in network.params.items()}
    layers = [TimeEmbedding(p["W1"]), TimeLSTM(p["Wx1"], p["Wh1"], p["b1"], stateful=True),
              TimeAffine(p["W2"], p["b2"])]
    loss_layer = TimeSoftmaxWithLoss()
    params = [a for layer in layers for a in layer.params]
    grads = [g for layer in layers for g in layer.grads]
    optimizer = Adam(lr=LR, beta1=BETAS[0], beta2=BETAS[1])  # its eps is 1e-7, fixed
    loss = None
    for i in range(steps):
        x, t = trainer.batch(i)
        for layer in layers:
            x = layer.forward(x)
        loss = loss_layer.forward(x, t)
        d = loss_layer.backward()
        for layer in reversed(layers):
            d = layer.backward(d)
        clip_grads(grads, CLIP)
        optimizer.update(params, grads)
    return float(loss)


def validation_loss(network, text):
    """Mean loss per character of the validation text, read as 32 streams of 64 steps."""
    from chainrule.lm_trainer import stream_loss
    return stream_loss(network, text.validation, N, T)


# -- one measurement, in this process ------------------------------------------------------
def run(side, steps, seed, validate=False, sequel_dir=None):
    """Train `side` for `steps` from the char-rnn preset's weights of `seed`: a record
    of the seconds the steps took, the last training loss and (validate) the
    validation loss."""
    text = load_shakespeare()
    network = chainrule_network(len(text.vocab), seed)
    trainer = _trainer(network, text, steps)
    model = torch_model(network) if side == "torch" else None
    start = time.perf_counter()
    if side == "chainrule":
        loss = train_chainrule(network, trainer, steps)
    elif side == "torch":
        loss = train_torch(model, trainer, steps)
    else:
        loss = train_sequel(network, trainer, steps, sequel_dir)
    seconds = time.perf_counter() - start
    record = {"side": side, "steps": steps, "seed": seed, "seconds": seconds,
              "train_loss": loss}
    if validate:
        if side == "torch":
            copy_back(model, network)
        start = time.perf_counter()
        record["val_loss"] = validation_loss(network, text)
        record["val_seconds"] = time.perf_counter() - start
    return record


def profile(steps=40, top=8):
    """Where chainrule's step goes: (function, share of the steps' time) by cProfile's
    own time per function, the largest `top`, after `steps` steps."""
    import cProfile
    import pstats
    text = load_shakespeare()
    network = chainrule_network(len(text.vocab), 0)
    trainer = _trainer(network, text, steps)
    profiler = cProfile.Profile()
    profiler.runcall(train_chainrule, network, trainer, steps)
    stats = pstats.Stats(profiler).stats
    total = sum(row[2] for row in stats.values())
    rows = sorted(((row[2], f"{Path(file).name}:{line} {name}") for (file, line, name), row
                   in stats.items()), reverse=True)[:top]
    return [(where, seconds / total) for seconds, where in rows]


def products_floor(windows=7, steps=5):
    """Milliseconds per step (median of alternating windows, one process, one thread) of
    chainrule's whole step, of the step's matrix products alone in NumPy (the ones that
    cannot be avoided: x.Wx, 64 h.Wh, 64 dA.Wh^T, dWx, dWh, dx, and the affine's three),
    and of PyTorch's whole step: what is left to gain outside the products."""
    import numpy as np
    text = load_shakespeare()
    network = chainrule_network(len(text.vocab), 0)
    trainer = _trainer(network, text, 10 ** 6)
    model = torch_model(network)
    rng = np.random.default_rng(0)
    D, H, V = EMBED, HIDDEN, len(text.vocab)

    def rand(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    X, Wx, Hs, Wh, WhT = rand(T * N, D), rand(D, 4 * H), rand(T + 1, N, H), rand(H, 4 * H), \
        rand(4 * H, H)
    dA, W2, dY = rand(T * N, 4 * H), rand(H, V), rand(T * N, V)
    rec, dh = np.empty((N, 4 * H), np.float32), np.empty((N, H), np.float32)

    def products(_):
        X @ Wx
        for t in range(T):
            np.matmul(Hs[t], Wh, out=rec)
        for t in range(T):
            np.matmul(dA[t * N:(t + 1) * N], WhT, out=dh)
        X.T @ dA
        Hs[:-1].reshape(T * N, H).T @ dA
        dA @ Wx.T
        hs = Hs[1:].reshape(T * N, H)
        hs @ W2
        hs.T @ dY
        dY @ W2.T

    sides = {"chainrule step": lambda n: train_chainrule(network, trainer, n),
             "NumPy products of a step": lambda n: [products(i) for i in range(n)],
             "PyTorch step": lambda n: train_torch(model, trainer, n)}
    times = {name: [] for name in sides}
    for name, fn in sides.items():  # warm up
        fn(1)
    for _ in range(windows):
        for name, fn in sides.items():
            start = time.perf_counter()
            fn(steps)
            times[name].append((time.perf_counter() - start) / steps * 1e3)
    return {name: statistics.median(t) for name, t in times.items()}


def child(args):
    from threadpoolctl import threadpool_info, threadpool_limits
    threadpool_limits(limits=args.threads, user_api="blas")
    if args.side == "torch":
        import torch
        torch.set_num_threads(args.threads)
    if args.profile:
        print(json.dumps({"profile": profile(args.child_steps), "floor": products_floor()}))
        return
    record = run(args.side, args.child_steps, args.seed, args.validate, args.sequel)
    record["threads"] = args.threads
    record["blas"] = sorted({f"{i['internal_api']} {i['version']} ({i.get('architecture')}, "
                             f"{i['num_threads']} threads)" for i in threadpool_info()
                             if i["user_api"] == "blas"})
    print(json.dumps(record))


def measure(side, steps, seed, threads, validate=False, sequel_dir=None, extra=()):
    """One measurement in a fresh process; its record, with the process's wall time."""
    env = dict(os.environ)
    # The sandbox may set these for old OpenBLAS builds; they slow a current one.
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    command = [sys.executable, str(Path(__file__).resolve()), "--child", side,
               "--child-steps", str(steps), "--seed", str(seed), "--threads", str(threads)]
    if validate:
        command.append("--validate")
    if sequel_dir:
        command += ["--sequel", str(sequel_dir)]
    command += list(extra)
    start = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=7200)
    wall = time.perf_counter() - start
    if out.returncode:
        raise RuntimeError(f"{side} failed:\n{out.stderr}")
    record = json.loads(out.stdout.strip().splitlines()[-1])
    if "profile" not in record:
        record["process_seconds"] = wall
    return record


def load_average():
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


# -- the runs ------------------------------------------------------------------------------
def speed(steps, repeats, thread_counts, sides, sequel_dir, log=print):
    """{threads: {side: [records]}}, the sides alternating (their order turned each round)."""
    results = {}
    for threads in thread_counts:
        results[threads] = {side: [] for side in sides}
        for r in range(repeats):
            order = sides[r % len(sides):] + sides[:r % len(sides)]
            for side in order:
                record = measure(side, steps, 0, threads, sequel_dir=sequel_dir)
                results[threads][side].append(record)
                log(f"  speed {threads}t {side:9} {record['seconds']:7.2f} s "
                    f"(process {record['process_seconds']:.2f} s)")
    return results


def learning(steps, seeds, log=print):
    """{seed: {side: record}} after `steps`, one thread each."""
    results = {}
    for seed in seeds:
        results[seed] = {}
        for side in ("chainrule", "torch"):
            record = measure(side, steps, seed, 1, validate=True)
            results[seed][side] = record
            log(f"  learning seed {seed} {side:9} val_loss {record['val_loss']:.4f} "
                f"in {record['seconds']:.1f} s")
    return results


def _median(records, key):
    return statistics.median(r[key] for r in records)


def speed_table(results, steps):
    sides = list(next(iter(results.values())))
    lines = [f"{steps} training steps, median of {len(next(iter(results.values()))[sides[0]])} "
             f"fresh processes per cell, the sides alternating: seconds of the steps "
             f"(of the whole process, imports and data included)", "",
             "| threads | " + " | ".join(sides) + " | chainrule / torch |",
             "|---" * (len(sides) + 2) + "|"]
    for threads, by_side in results.items():
        cells = [f"{_median(by_side[s], 'seconds'):.1f} s "
                 f"({_median(by_side[s], 'process_seconds'):.1f} s)" for s in sides]
        ratio = _median(by_side["chainrule"], "seconds") / _median(by_side["torch"], "seconds")
        lines.append(f"| {threads} | " + " | ".join(cells) + f" | {ratio:.2f}x |")
    return "\n".join(lines)


def learning_table(results, steps):
    import math
    lines = [f"Validation loss (nats per character) after {steps} steps, one thread; "
             f"training time of the steps:", "",
             "| seed | chainrule | torch | difference | chainrule time | torch time |",
             "|---|---|---|---|---|---|"]
    diffs = []
    for seed, by_side in results.items():
        c, t = by_side["chainrule"], by_side["torch"]
        diffs.append(c["val_loss"] - t["val_loss"])
        lines.append(f"| {seed} | {c['val_loss']:.4f} | {t['val_loss']:.4f} | "
                     f"{diffs[-1]:+.4f} | {c['seconds']:.0f} s | {t['seconds']:.0f} s |")
    mean_c = statistics.mean(r["chainrule"]["val_loss"] for r in results.values())
    mean_t = statistics.mean(r["torch"]["val_loss"] for r in results.values())
    lines += ["", f"Mean: chainrule {mean_c:.4f} ({mean_c / math.log(2):.3f} bits per "
              f"character), torch {mean_t:.4f}; largest difference "
              f"{max(diffs, key=abs):+.4f} nats per character."]
    return "\n".join(lines)


def profile_table(rows, steps):
    lines = [f"Where chainrule's step goes (cProfile, {steps} steps, one thread, each "
             f"function's own time):", "", "| function | share |", "|---|---|"]
    lines += [f"| `{where}` | {share:.0%} |" for where, share in rows]
    return "\n".join(lines)


def report(record):
    head = (f"`python benchmarks/bench_char_rnn.py {record['command']}` on {record['cpu']}, "
            f"NumPy {record['numpy']} ({'; '.join(record['blas'])}), PyTorch "
            f"{record['torch']}; load average {record['load_before']:.2f} before, "
            f"{record['load_after']:.2f} after.")
    parts = [head]
    for part, run in (record.get("kept") or {}).items():
        parts.append(f"The {part} figures are those of an earlier run, `python "
                     f"benchmarks/bench_char_rnn.py {run['command']}`, load average "
                     f"{run['load_before']:.2f} before, {run['load_after']:.2f} after.")
    if record.get("speed"):
        parts.append(speed_table(record["speed"], record["steps"]))
    if record.get("learning"):
        parts.append(learning_table(record["learning"], record["learn_steps"]))
    if record.get("profile"):
        parts.append(profile_table(record["profile"], PROFILE_STEPS))
    if record.get("floor"):
        parts.append("Milliseconds per step in one process, one thread (median of "
                     "alternating windows): " + ", ".join(
                         f"{name} {ms:.1f}" for name, ms in record["floor"].items()) + ".")
    return "\n\n".join(parts)


def speed_row(record):
    """docs/speed.md's table: the ratios at each thread count."""
    ratios = ", ".join(
        f"{threads} thread{'s' * (int(threads) > 1)}: "
        f"{_median(s['chainrule'], 'seconds') / _median(s['torch'], 'seconds'):.2f}x"
        for threads, s in record["speed"].items())
    return ("| model | chainrule / PyTorch |\n|---|---|\n"
            f"| char-rnn (embed 64, LSTM 256, 32 x 64 characters), {record['steps']} steps "
            f"| {ratios} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps timed")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--learn-steps", type=int, default=1000)
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--sequel", help="the folder holding the sequel's common/ "
                                         "(its TimeLSTM is then timed too)")
    parser.add_argument("--skip", choices=("speed", "profile", "learning"), action="append",
                        default=[])
    parser.add_argument("--save", action="store_true")
    parser.add_argument("--keep", action="store_true",
                        help="with --save and --skip: keep the skipped parts' figures "
                             "from the results file (saying which run made them)")
    parser.add_argument("--results", default=str(RESULTS))
    parser.add_argument("--docs", default=str(DOCS))
    # one measurement in this process (what the runs above start)
    parser.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--child-steps", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--validate", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        args.side = args.child
        args.threads = args.threads[0]
        return child(args)

    import numpy as np
    import torch
    sys.path.insert(0, str(HERE))
    from benchlib import cpu_model, write_bench_section
    from chainrule.files import atomic_file
    sides = [s for s in SIDES if s != "sequel" or args.sequel]
    record = {"command": " ".join(sys.argv[1:] if argv is None else argv), "cpu": cpu_model(),
              "numpy": np.__version__, "torch": torch.__version__, "steps": args.steps,
              "learn_steps": args.learn_steps, "load_before": load_average()}
    print(f"CPU: {record['cpu']}, load {record['load_before']:.2f}")
    if "speed" not in args.skip:
        record["speed"] = speed(args.steps, args.repeats, args.threads, sides, args.sequel)
    if "profile" not in args.skip:
        measured = measure("chainrule", PROFILE_STEPS, 0, 1, extra=["--profile"])
        record["profile"], record["floor"] = measured["profile"], measured["floor"]
    if "learning" not in args.skip and args.seeds:
        record["learning"] = learning(args.learn_steps, args.seeds)
    record["load_after"] = load_average()
    any_run = next((r for by in (record.get("speed") or {}).values() for rs in by.values()
                    for r in rs), None) or next(
        (r for by in (record.get("learning") or {}).values() for r in by.values()), None)
    record["blas"] = any_run["blas"] if any_run else []
    if args.keep and (Path(args.results) / "char_rnn.json").exists():
        earlier = json.loads((Path(args.results) / "char_rnn.json").read_text())
        for part in args.skip:
            for key in {"speed": ("speed", "steps"), "profile": ("profile", "floor"),
                        "learning": ("learning", "learn_steps")}[part]:
                if key in earlier:
                    record[key] = earlier[key]
            if part in earlier:
                record.setdefault("kept", {})[part] = {
                    key: earlier.get(key) for key in ("command", "load_before", "load_after")}
    text = report(record)
    print(text)
    if args.save:
        results = Path(args.results)
        results.mkdir(parents=True, exist_ok=True)
        with atomic_file(results / "char_rnn.json") as f:
            f.write(json.dumps(record, indent=1).encode("utf-8"))
        docs = Path(args.docs)
        if not write_bench_section(docs / "sequences.md", "char-rnn", text):
            print("docs/sequences.md has no <!-- bench:char-rnn --> markers", file=sys.stderr)
        if record.get("speed") and not write_bench_section(
                docs / "speed.md", "char-rnn", speed_row(record)):
            print("docs/speed.md has no <!-- bench:char-rnn --> markers", file=sys.stderr)
    return record


if __name__ == "__main__":
    main()
