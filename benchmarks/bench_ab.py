"""Before and after: training steps of the book's networks, this tree against a git revision.

    python benchmarks/bench_ab.py --base f0b08c9          # 0.1.0, or any commit
    python benchmarks/bench_ab.py --base HEAD~3 --models seed simple-conv --reps 9
    python benchmarks/bench_ab.py --base f0b08c9 --head 1a2b3c4   # two revisions

For "nothing got slower": the same steps (the seed's TwoLayerNet 784-50-10 with SGD,
SimpleConvNet and DeepConvNet with Adam, float32, batch 100, on the bundled digits) are
timed with the code of a git revision (exported into a temporary folder) and with this
tree's code, each in a fresh process with one BLAS thread, alternating between the two so
that drifts in machine speed hit both alike. Reported: the median time per step of each
and their ratio (below 1: this tree is faster), with the CPU and the machine's load.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from benchlib import cpu_model

ROOT = Path(__file__).resolve().parent.parent
MODELS = {"seed": (30, 300), "simple-conv": (3, 20), "deep-conv": (2, 6)}  # (warm-up, timed)


def child(model, src):
    sys.path.insert(0, src)
    import numpy as np
    import chainrule
    from chainrule.optimizers import make_optimizer
    from threadpoolctl import threadpool_limits
    assert chainrule.__file__.startswith(src), chainrule.__file__
    threadpool_limits(1, user_api="blas")
    (x, t), _ = chainrule.load_dataset("mnist-10k", dtype=np.float32)
    if model == "seed":
        net = chainrule.TwoLayerNet(784, 50, 10, dtype="float32", rng=0)
        opt = make_optimizer("sgd", lr=0.1)
    elif model == "simple-conv":
        net = chainrule.SimpleConvNet(dtype="float32", rng=0)
        opt = make_optimizer("adam", lr=0.001)
    else:
        net = chainrule.DeepConvNet(dtype="float32", rng=0)
        opt = make_optimizer("adam", lr=0.001)
    warm, timed = MODELS[model]
    rng = np.random.default_rng(0)
    batches = [rng.choice(len(x), 100, replace=False) for _ in range(warm + timed)]
    for i, idx in enumerate(batches):
        if i == warm:
            start = time.perf_counter()
        opt.update(net.params, net.gradient(x[idx], t[idx]))
    print(json.dumps({"seconds_per_step": (time.perf_counter() - start) / timed}))


def export(revision, folder):
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "src"],
                             capture_output=True, check=True).stdout
    Path(folder).mkdir(parents=True, exist_ok=True)
    path = Path(folder) / "src.tar"
    path.write_bytes(archive)
    with tarfile.open(path) as tar:
        tar.extractall(folder, filter="data")
    return str(Path(folder) / "src")


def measure(model, src):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, __file__, "--child", model, "--src", src],
                          capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])["seconds_per_step"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", required=False, help="git revision to compare with")
    ap.add_argument("--head", help="git revision to measure instead of this tree")
    ap.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    ap.add_argument("--reps", type=int, default=7, help="processes per side (median reported)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--src", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.src)
    if not args.base:
        ap.error("--base REVISION is required")
    print(f"CPU: {cpu_model()}; load average {os.getloadavg()[0]:.1f} at the start")
    with tempfile.TemporaryDirectory() as tmp:
        base_src = export(args.base, os.path.join(tmp, "base"))
        here_src = export(args.head, os.path.join(tmp, "head")) if args.head else str(ROOT / "src")
        here_name = args.head or "this tree"
        for model in args.models:
            base, here = [], []
            for _ in range(args.reps):
                base.append(measure(model, base_src))
                here.append(measure(model, here_src))
            b, h = statistics.median(base), statistics.median(here)
            print(f"{model:<12} {args.base}: {b * 1e3:8.3f} ms/step   {here_name}: "
                  f"{h * 1e3:8.3f} ms/step   ratio {h / b:.3f}   "
                  f"(spread {min(here) / max(base):.2f}..{max(here) / min(base):.2f})",
                  flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
