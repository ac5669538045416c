"""A network of one's own, LeNet-style, trained with `chainrule train --layers`.

    python benchmarks/bench_own_network.py                 # seeds 0 1 2, writes the doc
    python benchmarks/bench_own_network.py --seeds 0 --no-doc

Each seed runs the command a user would type, as a separate process:

    chainrule train --dataset mnist-10k --optimizer adam --epochs 10 --seed S \
        --layers "conv(16,5) relu pool(2) conv(32,5) relu pool(2) affine(100) relu affine(10)"

and reads the final test accuracy from its --metrics file. Wall time is the whole
process (start-up and data loading included). The CPU model and the machine's load are
recorded with the figures, in benchmarks/results/own_network.json and, between the
markers, in docs/own-network.md.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from benchlib import cpu_model, write_bench_section

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "own-network.md"
RESULTS = ROOT / "benchmarks" / "results" / "own_network.json"
LAYERS = "conv(16,5) relu pool(2) conv(32,5) relu pool(2) affine(100) relu affine(10)"
TARGET = 0.98


def run(seed, epochs, threads):
    with tempfile.TemporaryDirectory() as tmp:
        metrics = Path(tmp) / "metrics.jsonl"
        command = [sys.executable, "-m", "chainrule", "train", "--dataset", "mnist-10k",
                   "--optimizer", "adam", "--epochs", str(epochs), "--seed", str(seed),
                   "--layers", LAYERS, "--metrics", str(metrics), "--quiet",
                   "--threads", str(threads)]
        start = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True)
        seconds = time.monotonic() - start
        if done.returncode != 0:
            raise SystemExit(f"seed {seed} failed:\n{done.stderr}")
        evaluations = [json.loads(line) for line in metrics.read_text().splitlines()
                       if '"test_acc"' in line]
    return {"seed": seed, "test_acc": evaluations[-1]["test_acc"], "seconds": seconds}


def write_doc(text):
    return write_bench_section(DOC, "own-network", text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-doc", action="store_true", help="do not update docs/own-network.md")
    args = ap.parse_args()

    load_before = os.getloadavg()[0]
    runs = []
    for seed in args.seeds:
        result = run(seed, args.epochs, args.threads)
        print(f"seed {seed}: test accuracy {result['test_acc']:.4f}, {result['seconds']:.1f} s",
              flush=True)
        runs.append(result)
    mean = statistics.mean(r["test_acc"] for r in runs)
    figures = {"layers": LAYERS, "epochs": args.epochs, "threads": args.threads,
               "cpu": cpu_model(), "load_average_at_start": round(load_before, 2),
               "runs": runs, "mean_test_acc": mean}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=1) + "\n")
    accs = ", ".join(f"{r['test_acc']:.2%}" for r in runs)
    times = ", ".join(f"{r['seconds']:.0f} s" for r in runs)
    text = (f"Measured by `python benchmarks/bench_own_network.py` on {figures['cpu']}, "
            f"{args.threads} BLAS thread (load average {load_before:.1f} at the start): "
            f"seeds {', '.join(map(str, args.seeds))} reach {accs} test accuracy after "
            f"{args.epochs} epochs, **{mean:.2%} on average** (target {TARGET:.0%}); each run "
            f"took {times} as a whole process.")
    print(text)
    if not args.no_doc and write_doc(text):
        print(f"wrote the figures into {DOC}")
    return 0 if mean >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
