"""How fast, and how lean, is loading full Fashion-MNIST (60,000 + 10,000 images)?

Measures, with the cache in a fresh temporary directory:

(a) the first load: parsing the four .gz files and writing the .npy cache
    (target < 2 s), and the bare parse alone for comparison;
(b) a load served from the parsed cache (target < 0.2 s);
(c) the peak memory of a load, traced with tracemalloc, against the bytes of the
    arrays returned (target <= ~2x), for normalize=False (uint8 images) and
    normalize=True (float32 images, 4x the bytes).

Memory-mapped cache pages are not Python allocations, so tracemalloc does not
count them: a cached uint8 load allocates almost nothing.

Needs the data: ``apt-get install dataset-fashion-mnist`` (Debian/Ubuntu) or
``--data-dir`` pointing at a folder with the four files.  Run::

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_datasets.py
"""

import argparse
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from chainrule.datasets import find_dataset, load_fashion_mnist, read_image_label_pair

DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")


def returned_bytes(data):
    """Bytes of the four arrays a loader returned."""
    (x_train, t_train), (x_test, t_test) = data
    return sum(array.nbytes for array in (x_train, t_train, x_test, t_test))


def timed(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def traced_peak(function):
    """Peak traced allocation, in bytes, while ``function`` runs; and its result."""
    tracemalloc.start()
    try:
        result = function()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each warm load (median shown)")
    args = parser.parse_args(argv)

    sources = find_dataset("fashion-mnist", data_dir=args.data_dir)
    if sources is None or sources[0].parent != args.data_dir:
        sys.exit(f"no Fashion-MNIST in {args.data_dir}: apt-get install dataset-fashion-mnist, "
                 f"or pass --data-dir")

    def load(cache_dir, normalize):
        return load_fashion_mnist(normalize=normalize, data_dir=args.data_dir,
                                  download=False, cache_dir=cache_dir)

    rows = []  # (what, seconds or None, peak bytes or None, returned bytes or None, target)
    with tempfile.TemporaryDirectory(prefix="chainrule-bench-") as scratch:
        scratch = Path(scratch)

        seconds, _ = timed(lambda: [read_image_label_pair(sources[0], sources[1]),
                                    read_image_label_pair(sources[2], sources[3])])
        rows.append(("parse the 4 .gz files only", seconds, None, None, ""))

        for normalize in (False, True):
            seconds, data = timed(lambda: load(scratch / f"time-{normalize}", normalize))
            rows.append((f"(a) first load, normalize={normalize}", seconds, None,
                         returned_bytes(data), "< 2 s"))
            del data

        for normalize in (False, True):
            cache_dir = scratch / f"time-{normalize}"
            runs = [timed(lambda: load(cache_dir, normalize))[0] for _ in range(args.repeat)]
            rows.append((f"(b) cached load, normalize={normalize}", statistics.median(runs), None,
                         None, "< 0.2 s"))

        for normalize in (False, True):
            cache_dir = scratch / f"memory-{normalize}"
            peak, data = traced_peak(lambda: load(cache_dir, normalize))
            rows.append((f"(c) first load, normalize={normalize}", None, peak,
                         returned_bytes(data), "<= 2x"))
            del data
            peak, data = traced_peak(lambda: load(cache_dir, normalize))
            rows.append((f"(c) cached load, normalize={normalize}", None, peak,
                         returned_bytes(data), "<= 2x"))
            del data

    print(f"Fashion-MNIST from {args.data_dir}, cache in a temporary directory\n")
    print(f"{'measure':<36} {'time':>9} {'peak MB':>9} {'array MB':>9} {'peak/arrays':>12}  target")
    for what, seconds, peak, array_bytes, target in rows:
        time_text = f"{seconds:.3f} s" if seconds is not None else ""
        peak_text = f"{peak / 1e6:.1f}" if peak is not None else ""
        array_text = f"{array_bytes / 1e6:.1f}" if array_bytes is not None else ""
        ratio_text = f"{peak / array_bytes:.2f}x" if peak is not None and array_bytes else ""
        print(f"{what:<36} {time_text:>9} {peak_text:>9} {array_text:>9} {ratio_text:>12}  {target}")


if __name__ == "__main__":
    main()
