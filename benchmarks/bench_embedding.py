"""Embedding's backward: np.add.at against chainrule's scatter_add_rows and the other
ways of adding rows by id, at 65 rows (characters) and 10,000 rows (words).

    python benchmarks/bench_embedding.py            # print the table
    python benchmarks/bench_embedding.py --save     # and write it into docs/sequences.md

32 x 64 ids (32 streams of 64 steps), dim 64, float32 and float64, one thread. Ids are
uniform over 65 characters; over 10,000 words both uniform and Zipf-distributed (as
words are: a few very frequent ones). Each figure is the median over alternating
windows; "= add.at" says whether the result is bit for bit np.add.at's, "max err" is
the largest difference from the float64 sum.
"""

import os
import sys
import time

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import cpu_model, write_bench_section  # noqa: E402
from chainrule.time_layers import scatter_add_rows  # noqa: E402


def add_at(idx, rows, V):
    dW = np.zeros((V, rows.shape[1]), rows.dtype)
    np.add.at(dW, idx, rows)
    return dW


def bincount_flat(idx, rows, V):
    """One bincount over (id, column) pairs; sums in float64."""
    D = rows.shape[1]
    flat = (idx[:, None] * D + np.arange(D)).ravel()
    return np.bincount(flat, rows.ravel(), minlength=V * D).reshape(V, D).astype(rows.dtype)


def sort_reduceat(idx, rows, V):
    order = np.argsort(idx.astype(np.uint16), kind="stable")
    s = idx[order]
    starts = np.flatnonzero(np.concatenate(([True], s[1:] != s[:-1])))
    dW = np.zeros((V, rows.shape[1]), rows.dtype)
    dW[s[starts]] = np.add.reduceat(rows[order], starts, axis=0)
    return dW


def one_hot_matmul(idx, rows, V):
    return (np.arange(V)[:, None] == idx).astype(rows.dtype) @ rows


METHODS = {"np.add.at": add_at, "scatter_add_rows": scatter_add_rows,
           "sort+reduceat": sort_reduceat, "bincount": bincount_flat,
           "one-hot matmul": one_hot_matmul}


def median_us(candidates, args, windows=15, calls=20):
    """Median microseconds per call of each candidate, their windows alternating, so
    that a change in the machine's speed (other processes) hits them alike."""
    times = {name: [] for name in candidates}
    for _ in range(windows):
        for name, fn in candidates.items():
            start = time.perf_counter()
            for _ in range(calls):
                fn(*args)
            times[name].append((time.perf_counter() - start) / calls * 1e6)
    return {name: float(np.median(t)) for name, t in times.items()}


def table(rng):
    """The lines of the comparison, as printed."""
    M, D = 32 * 64, 64
    lines = [f"Embedding backward, {M} ids (32x64), dim {D}, one thread, NumPy "
             f"{np.__version__}, CPU: {cpu_model()}, load average "
             f"{os.getloadavg()[0]:.2f}",
             f"{'rows':>6} {'ids':8} {'dtype':8} {'method':17} {'time':>10} {'vs add.at':>9} "
             f"{'= add.at':>8} {'max err':>9}"]
    print("\n".join(lines), flush=True)
    for V, dist in ((65, "uniform"), (10000, "uniform"), (10000, "zipf")):
        idx = (rng.integers(0, V, M) if dist == "uniform"
               else np.minimum(rng.zipf(1.2, M) - 1, V - 1))
        for dtype in (np.float32, np.float64):
            rows = rng.standard_normal((M, D)).astype(dtype)
            reference = add_at(idx, rows, V)
            exact = add_at(idx, rows.astype(np.float64), V)
            candidates = {name: fn for name, fn in METHODS.items()
                          if not (name == "one-hot matmul" and V > 1000)}
            times = median_us(candidates, (idx, rows, V))
            base = times["np.add.at"]
            for name, fn in candidates.items():
                result = fn(idx, rows, V)
                t = times[name]
                lines.append(f"{V:>6} {dist:8} {np.dtype(dtype).name:8} {name:17} {t:8.0f} us "
                             f"{base / t:8.1f}x {str(np.array_equal(result, reference)):>8} "
                             f"{np.abs(result - exact).max():9.1e}")
                print(lines[-1], flush=True)
    return lines


def main():
    save = "--save" in sys.argv[1:]
    lines = table(np.random.default_rng(0))
    if save:
        docs = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs",
                            "sequences.md")
        text = "`python benchmarks/bench_embedding.py --save`:\n\n```\n" + "\n".join(lines) + "\n```"
        if not write_bench_section(docs, "embedding", text):
            raise SystemExit("docs/sequences.md has no bench:embedding markers")


if __name__ == "__main__":
    main()
