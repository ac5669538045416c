"""The sequel's scripts (*Deep Learning from Scratch 2*, ch01-ch08), run by
`chainrule book run` and by the book's own code, side by side on the same data.

    python benchmarks/bench_book2.py CHECKOUT                # every script; writes docs/book.md
    python benchmarks/bench_book2.py CHECKOUT --only ch06/train_rnnlm.py
    python benchmarks/bench_book2.py CHECKOUT --long-seconds 300

CHECKOUT is a clone of oreilly-japan/deep-learning-from-scratch-2; it is not changed.
Both sides run on copies of it in a temporary folder (the scripts write figures and
.pkl files next to themselves), each script in a fresh process, chainrule's side first,
with MPLBACKEND=Agg. The PTB: where CHECKOUT/dataset holds ptb.*.txt they are used by
both sides; otherwise chainrule's stand-in (the bundled Shakespeare's words in PTB's
form) is written into both copies' dataset/ as ptb.*.txt, which the book's loader reads
instead of downloading and chainrule's reads as the PTB files, so both sides see the
same words.

Scripts marked long in SCRIPTS run for --long-seconds on each side and are then
stopped: their time per training step is read from their own printed lines
("| epoch E |  iter I / M | time S[s] | ..."), as the time between the first and the last
line of each fit call over the steps between them, summed over the calls; their
results are compared at the last point both sides reached (the same epoch and step,
or the same number of epochs). VARIANTS are copies of a script with its settings
changed the way the book's text suggests (reversed input, the peeky decoder).

ch08/train.py imports ch07/peeky_seq2seq.py, which imports `seq2seq` by its bare name:
run from ch08/ as the book's README says, the book's own code fails there. Its side is
run a second time with ../ch07 on PYTHONPATH (what the Korean edition's code adds) to
have figures to compare.
"""

import argparse
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchlib import cpu_model, replace_between, run_timed

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "book.md"
RESULTS = ROOT / "benchmarks" / "results" / "book2.json"
START, END = "<!-- bench_book2:start -->", "<!-- bench_book2:end -->"

_LAST = r"^(.*\S)\s*$"  # the last line printed
# script -> (a regex for its results, matched on every line; long: time-limited)
SCRIPTS = {
    "ch01/forward_net.py": (None, False),
    "ch01/show_spiral_dataset.py": (None, False),
    "ch01/train.py": (r"\| loss (\S+)$", False),
    "ch01/train_custom_loop.py": (r"\| loss (\S+)$", False),
    "ch02/similarity.py": (r"^(0\.\d+)$", False),
    "ch02/most_similar.py": (r"^ (\S+: \S+)$", False),
    "ch02/ppmi.py": (None, False),
    "ch02/count_method_small.py": (None, False),
    "ch02/show_ptb.py": (r"^(corpus size: \d+)", False),
    "ch03/cbow_predict.py": (None, False),
    "ch03/train.py": (r"\| loss (\S+)$", False),
    "ch04/eval.py": (r"^ (\S+: \S+)$", False),
    "ch05/train_custom_loop.py": (r"perplexity (\S+)$", False),
    "ch05/train.py": (r"perplexity (\S+)$", False),
    "ch06/clip_grads.py": (None, False),
    "ch06/rnn_gradient_graph.py": (None, False),
    "ch06/eval.py": (r"^test perplexity:\s+(\S+)", False),
    "ch07/show_addition_dataset.py": (None, False),
    "ch07/generate_text.py": (None, False),
    "ch07/generate_better_text.py": (None, False),
    "ch08/visualize_attention.py": (None, False),
    "ch06/train_rnnlm.py": (r"(?:perplexity|test perplexity:)\s+(\S+)$", False),
    "ch07/train_seq2seq.py": (r"^val acc (\S+)%", False),
    "ch07/train_seq2seq.py+reverse": (r"^val acc (\S+)%", True),
    "ch07/train_seq2seq.py+reverse+peeky": (r"^val acc (\S+)%", True),
    "ch08/train.py": (r"^val acc (\S+)%", True),
    "ch04/train.py": (r"\| loss (\S+)$", True),
    "ch06/train_better_rnnlm.py": (r"perplexity (\S+)$", True),
    "ch02/count_method_big.py": (None, True),
}
VARIANTS = {
    "+reverse": [("is_reverse = False", "is_reverse = True")],
    "+peeky": [("model = Seq2seq(vocab_size, wordvec_size, hidden_size)",
                "model = PeekySeq2seq(vocab_size, wordvec_size, hidden_size)")],
}
STEP = re.compile(r"^\| epoch (\d+) \|  iter (\d+) / (\d+) \| time (\d+)\[s\]")


def prepare(checkout, workdir):
    """Copies of the checkout for both sides, with the same PTB files, and the variants."""
    sides = {}
    for side in ("chainrule", "book"):
        copy = workdir / side
        shutil.copytree(checkout, copy, ignore=shutil.ignore_patterns(".git", "*.npy",
                                                                       "ptb.vocab.pkl"))
        sides[side] = copy
    names = ("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt")
    if all((checkout / "dataset" / n).is_file() for n in names):
        data = "the Penn Treebank (the checkout's dataset/ptb.*.txt)"
    else:
        from chainrule.book.sequel.dataset import ptb
        for copy in sides.values():
            ptb.write_ptb_files(copy / "dataset")
        data = ("chainrule's PTB stand-in (the bundled tiny Shakespeare's words), written "
                "as ptb.*.txt for both sides")
    for copy in sides.values():
        for script in SCRIPTS:
            base, _, rest = script.partition("+")
            if not rest:
                continue
            text = (copy / base).read_text()
            for variant in rest.split("+"):
                for old, new in VARIANTS["+" + variant]:
                    if old not in text:
                        raise SystemExit(f"{base}: no {old!r} to change for +{variant}")
                    text = text.replace(old, new)
            (copy / variant_file(script)).write_text(text)
    return sides, data


def variant_file(script):
    base, _, rest = script.partition("+")
    if not rest:
        return base
    return base[:-3] + "__" + rest.replace("+", "_") + ".py"


def run(command, cwd, timeout, env_extra=None):
    done = run_timed(command, cwd, timeout,
                     dict(os.environ, OPENBLAS_NUM_THREADS="1", **(env_extra or {})))
    status = "stopped" if done["status"] == "timeout" else done["status"]
    return {"seconds": done["seconds"], "status": status, "load": done["load"],
            "lines": done["out"].replace("\r", "\n").splitlines(),
            "stderr_tail": done["err"].strip().splitlines()[-3:]}


def step_time(lines):
    """(seconds per training step, steps) from the Trainers' printed lines: within
    each fit call (its time restarts at 0), from its first printed line to its last."""
    spans, current = [], None
    for line in lines:
        m = STEP.match(line)
        if not m:
            continue
        epoch, it, total, sec = (int(g) for g in m.groups())
        step = (epoch - 1) * total + it
        if current is None or sec < current[3] or step <= current[2]:
            if current is not None:
                spans.append(current)
            current = [step, sec, step, sec]
        else:
            current[2], current[3] = step, sec
    if current is not None:
        spans.append(current)
    steps = sum(s[2] - s[0] for s in spans)
    seconds = sum(s[3] - s[1] for s in spans)
    return (seconds / steps if steps else None), steps


def results_of(pattern, lines):
    """Every match of pattern, in order, with the step line before it (for long runs'
    comparison at a common point)."""
    if pattern is None:
        return []
    found, where = [], None
    for line in lines:
        m = STEP.match(line)
        if m:
            where = (int(m.group(1)), int(m.group(2)))
        r = re.search(pattern, line)
        if r:
            found.append([r.group(1), where])
    return found


def compare(row):
    """The two sides' results at the last point both reached."""
    ours, book = row["chainrule"]["results"], row["book"]["results"]
    if not ours or not book:
        return (ours[-1][0] if ours else ""), (book[-1][0] if book else "")
    n = min(len(ours), len(book))
    if row["long"] or row["chainrule"]["status"] != 0 or row["book"]["status"] != 0:
        return f"{ours[n - 1][0]} (#{n})", f"{book[n - 1][0]} (#{n})"
    return ours[-1][0], book[-1][0]


def bench(checkout, scripts, timeout, long_seconds, workdir, record):
    """Run the scripts on both sides; record(data, row) after each (what has run is
    kept if the benchmark is stopped)."""
    sides, data = prepare(checkout, workdir)
    for script in scripts:
        pattern, long_ = SCRIPTS[script]
        folder, name = os.path.split(variant_file(script))
        limit = long_seconds if long_ else timeout
        row = {"script": script, "long": long_, "limit": limit}
        row["chainrule"] = run([sys.executable, "-m", "chainrule", "book", "run", "--figures",
                                "save", name], sides["chainrule"] / folder, limit)
        row["book"] = run([sys.executable, name], sides["book"] / folder, limit)
        if row["book"]["status"] not in (0, "stopped") and script == "ch08/train.py":
            row["book_plain"] = {k: row["book"][k] for k in ("status", "stderr_tail")}
            row["book"] = run([sys.executable, name], sides["book"] / folder, limit,
                              {"PYTHONPATH": str(sides["book"] / "ch07")})
        for side in ("chainrule", "book"):
            row[side]["results"] = results_of(pattern, row[side]["lines"])
            row[side]["step"], row[side]["steps"] = step_time(row[side]["lines"])
            row[side]["lines"] = row[side]["lines"][-12:]
        record(data, row)
        print(json.dumps({k: (v if not isinstance(v, dict) else
                              {a: v[a] for a in ("seconds", "status", "step", "steps")
                               if a in v}) for k, v in row.items()}),
              "|", *compare(row), flush=True)


def _status(side):
    if side["status"] == 0:
        return f"{side['seconds']:.1f} s"
    if side["status"] == "stopped":
        return f"stopped at {side['seconds']:.0f} s"
    return f"failed ({side['status']}) after {side['seconds']:.1f} s"


def table(results):
    limits = sorted({row.get("limit") for row in results["scripts"] if row["long"]} - {None})
    limit = " or ".join(f"{x:.0f}" for x in limits) or f"{results['long_seconds']:.0f}"
    lines = [f"Measured on {results['cpu']}, {results['date']}, Python {results['python']}, "
             f"NumPy {results['numpy']}, one BLAS thread; data: {results['data']}. Wall "
             f"time of the whole process; per step: seconds per training step from the "
             f"scripts' own printed lines (long runs were stopped after "
             f"{limit} s on each side). Results: the scripts' own "
             f"figures; `(#n)` marks the n-th figure of a run that did not reach its end, "
             f"compared at the last one both sides printed.", "",
             "| script | chainrule | book's code | per step: chainrule | book's | ratio | "
             "chainrule's result | book's result |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
    for row in results["scripts"]:
        ours, book = row["chainrule"], row["book"]
        per = [f"{s['step'] * 1000:.0f} ms" if s.get("step") else "" for s in (ours, book)]
        if ours.get("step") and book.get("step"):
            ratio = f"{book['step'] / ours['step']:.1f}x"
        elif ours["status"] == 0 and book["status"] == 0:
            ratio = f"{book['seconds'] / ours['seconds']:.1f}x"
        else:
            ratio = ""
        a, b = (r.replace("|", "\\|") for r in compare(row))
        name = row["script"] + (" (`PYTHONPATH=../ch07` on the book's side)"
                                if "book_plain" in row else "")
        lines.append(f"| {name} | {_status(ours)} | {_status(book)} | {per[0]} | {per[1]} | "
                     f"{ratio} | {a} | {b} |")
    lines += ["", "ratio: the book's time over chainrule's, per training step where the "
                  "scripts print their steps, else for the whole run (above 1: chainrule is "
                  "faster)."]
    loads = [v for row in results["scripts"] for s in ("chainrule", "book")
             for v in row[s].get("load", [])]
    if loads:
        lines.append(f"The machine has {os.cpu_count()} cores; its load average during "
                     f"these runs was {min(loads):.0f} to {max(loads):.0f} (other work "
                     f"shares it), so single figures are rough.")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path, help="a clone of the sequel's repository")
    parser.add_argument("--only", nargs="+", metavar="SCRIPT")
    parser.add_argument("--skip", nargs="+", default=[], metavar="SCRIPT")
    parser.add_argument("--timeout", type=float, default=1200,
                        help="seconds per script and side (default: %(default)s)")
    parser.add_argument("--long-seconds", type=float, default=150,
                        help="seconds each side of a long script runs (default: %(default)s)")
    parser.add_argument("--no-doc", action="store_true", help="do not update docs/book.md")
    args = parser.parse_args()
    checkout = args.checkout.resolve()
    if not (checkout / "common" / "time_layers.py").is_file():
        raise SystemExit(f"{checkout} is not a checkout of the sequel's repository")
    scripts = [s for s in (args.only or SCRIPTS) if s not in args.skip]
    unknown = [s for s in scripts if s not in SCRIPTS]
    if unknown:
        raise SystemExit(f"unknown: {', '.join(unknown)}")
    import numpy as np
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"scripts": []}

    def record(data, row):
        done = {r["script"]: r for r in results["scripts"]}
        done[row["script"]] = row
        results.update({"cpu": cpu_model(), "date": time.strftime("%Y-%m-%d"),
                        "python": platform.python_version(), "numpy": np.__version__,
                        "data": data, "long_seconds": args.long_seconds,
                        "scripts": [done[s] for s in SCRIPTS if s in done]})
        from chainrule.files import atomic_file
        with atomic_file(RESULTS) as f:
            f.write((json.dumps(results, indent=1) + "\n").encode())

    with tempfile.TemporaryDirectory(prefix="bench-book2-") as tmp:
        bench(checkout, scripts, args.timeout, args.long_seconds, Path(tmp), record)
    if not args.no_doc and not replace_between(DOC, START, END, table(results)):
        print(f"{DOC} has no {START} ... {END} section: not written", file=sys.stderr)
    print(table(results))


if __name__ == "__main__":
    main()
