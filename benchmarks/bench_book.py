"""The book's own chapter 5-8 scripts, run by `chainrule book run` and by the book's own
code, side by side on the same data, timed by wall clock.

    python benchmarks/bench_book.py CHECKOUT                 # every script; writes docs/book.md
    python benchmarks/bench_book.py CHECKOUT --only ch05/gradient_check.py ch07/train_convnet.py
    python benchmarks/bench_book.py CHECKOUT --skip ch08/train_deepnet.py
    python benchmarks/bench_book.py CHECKOUT --weights       # the published weights only

CHECKOUT is a clone of oreilly-japan/deep-learning-from-scratch; it is not changed.
Both sides run on copies of it in a temporary folder (the scripts write figures and
params.pkl next to themselves): the book's own code with its dataset/ given the digits
chainrule uses (the bundled 10,000 MNIST test digits split 8,000 / 2,000, written as the
IDX files its dataset/mnist.py converts, or full MNIST when it is on this machine), and
chainrule's side through `python -m chainrule book run --figures save`. Each script runs
in a fresh process, chainrule's side first, with MPLBACKEND=Agg for both; timed is the
whole process (imports and data loading included), as a reader would see it.

--weights checks the import of ch07/params.pkl and ch08/deep_convnet_params.pkl: the
book's own SimpleConvNet / DeepConvNet classes with their own layers (in a subprocess
on the copy) against the imported chainrule checkpoints, on all 10,000 bundled test
digits: largest relative difference of the scores, identical predictions, accuracies.
"""

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import cpu_model, replace_between, run_timed

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "book.md"
RESULTS = ROOT / "benchmarks" / "results" / "book.json"
START, END = "<!-- bench_book:start -->", "<!-- bench_book:end -->"

# script -> how to read its result from the last lines of its output (a regex whose
# matches are joined), in the order they run (the training scripts last: they overwrite
# the params.pkl files the others read).
SCRIPTS = {
    "ch05/buy_apple.py": r"price: (\S+)",
    "ch05/buy_apple_orange.py": r"price: (\S+)",
    "ch05/gradient_check.py": r"^(b2:\S+)",
    "ch05/train_neuralnet.py": r"^(\S+ \S+)$",
    "ch06/optimizer_compare_naive.py": None,
    "ch06/weight_init_activation_histogram.py": None,
    "ch06/batch_norm_gradient_check.py": r"^(b3:\S+)",
    "ch06/weight_init_compare.py": r"^((?:std=0.01|Xavier|He):\S+)",
    "ch06/optimizer_compare_mnist.py": r"^((?:SGD|Momentum|AdaGrad|Adam):\S+)",
    "ch06/overfit_weight_decay.py": r"(train acc:\S+, test acc:\S+)$",
    "ch06/overfit_dropout.py": r"^test acc:(\S+)",
    "ch06/batch_norm_test.py": r"^(epoch:19 \| .*)$",
    "ch06/hyperparameter_optimization.py": r"^Best-1\(val acc:(\S+)\)",
    "ch07/gradient_check.py": r"^(W1 \S+)",
    "ch07/apply_filter.py": None,
    "ch07/visualize_filter.py": None,
    "ch08/awesome_net.py": None,
    "ch08/half_float_network.py": r"^(0\.\d+)$",
    "ch08/misclassified_mnist.py": r"^test accuracy:(\S+)",
    "ch07/train_convnet.py": r"^test acc:(\S+)",
    "ch08/train_deepnet.py": r"^test acc:(\S+)",
}
BOOK_DATA_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                   "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def copy_checkout(checkout, dest):
    shutil.copytree(checkout, dest, ignore=shutil.ignore_patterns(".git", "mnist.pkl",
                                                                   "*.gz"))
    return dest


def give_book_the_data(copy):
    """The data chainrule's load_mnist would load, as the IDX files the book converts."""
    import numpy as np
    from chainrule.datasets import dataset_available, load_dataset, write_idx
    name = "mnist" if dataset_available("mnist") else "mnist-10k"
    (x_train, t_train), (x_test, t_test) = load_dataset(name, normalize=False)
    # Images as (N, 28, 28): the book's reader skips the 16-byte header of 3-D IDX files.
    arrays = (np.asarray(x_train, np.uint8).reshape(-1, 28, 28), np.asarray(t_train, np.uint8),
              np.asarray(x_test, np.uint8).reshape(-1, 28, 28), np.asarray(t_test, np.uint8))
    for file, array in zip(BOOK_DATA_FILES, arrays):
        write_idx(copy / "dataset" / file, array)
    return name, len(x_train), len(x_test)


def run(command, cwd, timeout):
    done = run_timed(command, cwd, timeout)
    return {"seconds": done["seconds"], "status": done["status"], "load": done["load"],
            "tail": done["out"].strip().splitlines()[-40:],
            "stderr_tail": done["err"].strip().splitlines()[-5:]}


def result_of(pattern, lines):
    if pattern is None:
        return ""
    found = []
    for line in lines:
        m = re.search(pattern, line)
        if m:
            found.append(m.group(1))
    # The last value of each kind (e.g. the losses at the last iteration printed).
    if found and ":" in found[0] and not found[0].startswith(("train acc", "epoch")):
        last = {}
        for item in found:
            last[item.split(":")[0]] = item
        found = list(last.values())
    elif found:
        found = found[-2:] if pattern.startswith(r"^(0\.") else found[-1:]
    return ", ".join(found)


def bench_scripts(checkout, scripts, timeout, workdir):
    ours = copy_checkout(checkout, workdir / "chainrule")
    book = copy_checkout(checkout, workdir / "book")
    data = give_book_the_data(book)
    rows = []
    for script in scripts:
        pattern = SCRIPTS.get(script)
        folder, name = os.path.split(script)
        row = {"script": script}
        row["chainrule"] = run([sys.executable, "-m", "chainrule", "book", "run",
                                "--figures", "save", name], ours / folder, timeout)
        row["book"] = run([sys.executable, name], book / folder, timeout)
        for side in ("chainrule", "book"):
            row[side]["result"] = result_of(pattern, row[side]["tail"])
        rows.append(row)
        print(f"{script}: chainrule {row['chainrule']['seconds']} s "
              f"({row['chainrule']['status']}) {row['chainrule']['result']} | book "
              f"{row['book']['seconds']} s ({row['book']['status']}) {row['book']['result']}",
              flush=True)
    return {"data": {"name": data[0], "train": data[1], "test": data[2]}, "scripts": rows}


BOOK_SCORES = """
import sys, os, json
import numpy as np
sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.path.join(os.getcwd(), {folder!r}))
from {module} import {cls}
net = {cls}()
net.load_params(os.path.join({folder!r}, {pkl!r}))
x = np.load(sys.argv[1])
scores = np.concatenate([net.predict(x[i:i + 100]{extra}) for i in range(0, len(x), 100)])
np.save(sys.argv[2], scores)
"""


def bench_weights(checkout, workdir):
    import numpy as np
    import chainrule
    from chainrule.book import import_weights
    # mnist-10k is the MNIST test set split 8,000 / 2,000: together, all 10,000 digits.
    (x_a, t_a), (x_b, t_b) = chainrule.load_dataset("mnist-10k", flatten=False)
    x_all, t_all = np.concatenate([x_a, x_b]), np.concatenate([t_a, t_b])
    copy = workdir / "weights"
    if not copy.exists():
        copy_checkout(checkout, copy)
    np.save(copy / "x.npy", x_all)
    out = {}
    for model, folder, module, cls, pkl, extra in (
            ("simple-conv", "ch07", "simple_convnet", "SimpleConvNet", "params.pkl", ""),
            ("deep-conv", "ch08", "deep_convnet", "DeepConvNet", "deep_convnet_params.pkl",
             ", train_flg=False")):
        code = BOOK_SCORES.format(folder=folder, module=module, cls=cls, pkl=pkl, extra=extra)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code, str(copy / "x.npy"),
                        str(copy / f"{model}.npy")], cwd=copy, check=True)
        book_seconds = time.perf_counter() - start
        book_scores = np.load(copy / f"{model}.npy")
        net = import_weights(copy / folder / pkl, model, copy / f"{model}.npz")
        start = time.perf_counter()
        net = chainrule.load(copy / f"{model}.npz")
        ours = np.concatenate([net.predict(x_all[i:i + 100]) for i in range(0, len(x_all), 100)])
        our_seconds = time.perf_counter() - start
        rel = float(np.max(np.abs(ours - book_scores) / np.maximum(np.abs(book_scores), 1e-300)))
        out[model] = {
            "max_relative_difference": rel,
            "same_predictions": int(np.sum(ours.argmax(1) == book_scores.argmax(1))),
            "digits": len(x_all),
            "accuracy_book": float(np.mean(book_scores.argmax(1) == t_all)),
            "accuracy_chainrule": float(np.mean(ours.argmax(1) == t_all)),
            "seconds_book": round(book_seconds, 2), "seconds_chainrule": round(our_seconds, 2),
        }
        print(model, json.dumps(out[model]), flush=True)
    return out


def table(results):
    data = results.get("data") or {"name": "mnist-10k", "train": 8000, "test": 2000}
    lines = [f"Measured on {results['cpu']}, {results['date']}, Python "
             f"{results['python']}, NumPy {results['numpy']}; data: {data['name']} "
             f"({data['train']:,} training / {data['test']:,} test "
             f"digits). Wall time of the whole process; results are the scripts' own last "
             f"figures (every run draws new random weights, so they vary from run to run).",
             "", "| script | chainrule | book's code | ratio | chainrule's result | book's result |",
             "| --- | ---: | ---: | ---: | --- | --- |"]
    for row in results["scripts"]:
        ours, book = row["chainrule"], row["book"]

        def cell(side):
            if side["status"] == 0:
                return f"{side['seconds']:.1f} s"
            return f"{side['status']} after {side['seconds']:.0f} s"
        ratio = (f"{book['seconds'] / ours['seconds']:.1f}x"
                 if ours["status"] == 0 and book["status"] == 0 else "")
        results_text = [side["result"].replace("|", "\\|") for side in (ours, book)]
        lines.append(f"| {row['script']} | {cell(ours)} | {cell(book)} | {ratio} | "
                     f"{results_text[0]} | {results_text[1]} |")
    lines.append("")
    lines.append("ratio: the book's time over chainrule's (above 1: chainrule is faster).")
    loads = [v for row in results["scripts"] for side in ("chainrule", "book")
             for v in (row[side].get("load") or []) if v is not None]
    lines.append(f"The machine has {os.cpu_count()} cores"
                 + (f"; its load average during these runs was {min(loads):.0f} to "
                    f"{max(loads):.0f} (other work shares it), so single figures are "
                    f"rough." if loads else "."))
    if results.get("weights"):
        lines += ["", "The published weights on all 10,000 bundled MNIST test digits "
                      "(`--weights`):", "",
                  "| weights | book's accuracy | chainrule's | same predictions | "
                  "largest relative score difference |", "| --- | ---: | ---: | ---: | ---: |"]
        for model, w in results["weights"].items():
            lines.append(f"| {model} | {w['accuracy_book']:.2%} | {w['accuracy_chainrule']:.2%} "
                         f"| {w['same_predictions']:,} / {w['digits']:,} | "
                         f"{w['max_relative_difference']:.1e} |")
    return "\n".join(lines)


def write_doc(results):
    if not replace_between(DOC, START, END, table(results)):
        raise SystemExit(f"{DOC} has no {START} ... {END} section")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path, help="a clone of the book's repository")
    parser.add_argument("--only", nargs="+", metavar="SCRIPT", help="only these scripts")
    parser.add_argument("--skip", nargs="+", default=[], metavar="SCRIPT")
    parser.add_argument("--weights", action="store_true",
                        help="only check the import of the published weights")
    parser.add_argument("--timeout", type=float, default=3600,
                        help="seconds per script and side (default: %(default)s)")
    parser.add_argument("--no-doc", action="store_true", help="do not update docs/book.md")
    args = parser.parse_args()
    checkout = args.checkout.resolve()
    if not (checkout / "common").is_dir() or not (checkout / "ch05").is_dir():
        raise SystemExit(f"{checkout} is not a checkout of the book's repository")
    import numpy as np
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results = {"cpu": cpu_model(), "date": time.strftime("%Y-%m-%d"),
               "python": platform.python_version(), "numpy": np.__version__,
               "data": previous.get("data"), "scripts": previous.get("scripts", []),
               "weights": previous.get("weights", {})}
    with tempfile.TemporaryDirectory(prefix="bench-book-") as tmp:
        workdir = Path(tmp)
        if args.weights:
            results["weights"] = bench_weights(checkout, workdir)
        else:
            scripts = [s for s in (args.only or SCRIPTS) if s not in args.skip]
            unknown = [s for s in scripts if not (checkout / s).is_file()]
            if unknown:
                raise SystemExit(f"not in the checkout: {', '.join(unknown)}")
            fresh = bench_scripts(checkout, scripts, args.timeout, workdir)
            results["data"] = fresh["data"]
            done = {row["script"]: row for row in results["scripts"]}
            done.update({row["script"]: row for row in fresh["scripts"]})
            results["scripts"] = [done[s] for s in SCRIPTS if s in done]
    from chainrule.files import atomic_file
    with atomic_file(RESULTS) as f:
        f.write((json.dumps(results, indent=1) + "\n").encode())
    if not args.no_doc:
        write_doc(results)
    print(table(results))


if __name__ == "__main__":
    main()
