"""What the benchmarks share: the CPU they ran on, and writing figures into a docs page.

The scripts in this folder import it by name (`from benchlib import cpu_model`): Python
puts a script's own folder first on its path.
"""

import os
import platform
import subprocess
import time
from pathlib import Path

__all__ = ["cpu_model", "load_images", "replace_between", "write_bench_section",
           "run_timed"]


def cpu_model():
    """The CPU's model name as the operating system reports it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def load_images(name):
    """((x_train, t_train), (x_test, t_test)) of a known data set, found on this machine
    (never downloaded): flat float32 rows in [0, 1] and int64 labels."""
    import numpy as np
    from chainrule.datasets import load_dataset
    (x_train, t_train), (x_test, t_test) = load_dataset(name, download=False)
    return ((np.ascontiguousarray(x_train, np.float32), np.asarray(t_train, np.int64)),
            (np.ascontiguousarray(x_test, np.float32), np.asarray(t_test, np.int64)))


def replace_between(path, start, end, text):
    """Put `text` between the lines `start` and `end` of the file at `path`, written whole
    (chainrule.files.atomic_file). False, and nothing written, if the markers are missing."""
    from chainrule.files import atomic_file
    path = Path(path)
    doc = path.read_text()
    if start not in doc or end not in doc:
        return False
    head, rest = doc.split(start, 1)
    _, tail = rest.split(end, 1)
    with atomic_file(path) as f:
        f.write((head + start + "\n" + text + "\n" + end + tail).encode("utf-8"))
    return True


def write_bench_section(path, section, text):
    """replace_between with the markers <!-- bench:SECTION --> and <!-- /bench:SECTION -->."""
    return replace_between(path, f"<!-- bench:{section} -->", f"<!-- /bench:{section} -->",
                           text)


def run_timed(command, cwd, timeout, env=None):
    """Run command in cwd with env (MPLBACKEND=Agg added), stopped after timeout seconds.

    Returns a dict: seconds (wall clock), status (the exit status, or "timeout"), out and
    err (what it printed, also when stopped) and load (the 1-minute load average before
    and after: other work on a shared machine slows both sides, not always alike).
    """
    env = dict(os.environ if env is None else env, MPLBACKEND="Agg")
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    start = time.perf_counter()
    try:
        proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout)
        status, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        status = "timeout"
        out, err = (s.decode(errors="replace") if isinstance(s, bytes) else (s or "")
                    for s in (exc.stdout, exc.stderr))
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"seconds": round(time.perf_counter() - start, 2), "status": status,
            "out": out, "err": err, "load": [load_before, load_after]}
