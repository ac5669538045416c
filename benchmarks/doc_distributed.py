"""Write the measured figures of docs/distributed.md from benchmarks/results/distributed.json.

    python benchmarks/doc_distributed.py            # rewrite the marked sections
    python benchmarks/doc_distributed.py --check    # exit 1 if the page is out of date

The page's "Speed" table and its cluster projection are generated between the markers
<!-- results:distributed-speed --> ... <!-- /results:distributed-speed --> and
<!-- results:distributed-cluster --> ... <!-- /results:distributed-cluster -->, so that
no figure there is copied by hand (run it after `bench_distributed.py --save`).
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "distributed.json"
DOC = ROOT / "docs" / "distributed.md"
BUDGET = 0.10  # the share of a step the communication may take
LATENCIES = ((2e-6, "α = 2 µs (InfiniBand-class)"), (50e-6, "α = 50 µs (TCP over Ethernet)"))
NODES = (8, 64)


def _ms(seconds, digits=1):
    return f"{seconds * 1e3:.{digits}f} ms"


def speed_section(results):
    one, two = results["throughput"]["1"], results["throughput"]["2"]
    speedup = two["images_per_second"] / one["images_per_second"]
    projected = results["throughput"].get("projected", {}).get("speedup")
    lines = [
        f"SimpleConvNet ({one['parameters']:,} parameters), float32, Adam, global batch "
        f"100, one BLAS thread per process, on this {results['machine']['cpus']}-core "
        f"machine (`python benchmarks/bench_distributed.py --runs 3`; median of "
        f"{len(results['jobs']['1'])} alternating 1- and 2-process jobs; results in "
        f"`benchmarks/results/distributed.json`):",
        "",
        "| processes | images per second | step | allreduce in the step | allreduce alone |",
        "| --- | --- | --- | --- | --- |",
        f"| 1 | {one['images_per_second']:,.0f} | {_ms(one['step_seconds'])} | "
        f"{_ms(one['allreduce_seconds'], 2)} ({one['allreduce_share']:.1%}) | — |",
        f"| 2 | {two['images_per_second']:,.0f} (×{speedup:.2f}) | "
        f"{_ms(two['step_seconds'])} | {_ms(two['allreduce_seconds'], 1)} "
        f"({two['allreduce_share']:.0%}) | {_ms(two['allreduce_alone_seconds'], 2)} "
        f"({two['allreduce_alone_seconds'] / two['step_seconds']:.0%}) |",
        "",
        f"The allreduce itself is cheap: moving the {two['bytes_per_step'] / 1e6:.1f} MB "
        f"buffer through shared memory takes {_ms(two['allreduce_alone_seconds'], 2)} "
        f"when both ranks arrive together (measured after a barrier). The rest of the "
        f"time \"in the step\" is one rank waiting for the other: on a virtual machine "
        f"with two cores the two ranks do not run at exactly the same speed (the Python "
        f"interpreter, the operating system and the benchmark's own timing share those "
        f"cores).",
    ]
    if projected and one.get("half_batch_step_seconds"):
        lines[-1] += (
            f" Measured the other way, the 1-process jobs interleave half-batch steps (what "
            f"each of two ranks computes, {_ms(one['half_batch_step_seconds'])}) with "
            f"whole ones ({_ms(one['step_seconds'])}): with the "
            f"{_ms(two['allreduce_alone_seconds'], 2)} allreduce that predicts "
            f"×{projected:.2f} for two processes that never wait for each other. Half a "
            f"batch takes more than half the time because the per-call costs of the layers "
            f"do not halve.")
    return "\n".join(lines)


def cluster_rows(nbytes, step_seconds):
    """Per node count: bytes each node sends in a ring allreduce, its 2(N-1) messages,
    and the bandwidth that keeps the whole exchange under BUDGET of a step for each
    latency (None where the latency alone exceeds the budget)."""
    rows = []
    allowed = BUDGET * step_seconds
    for n in NODES:
        sent = 2 * (n - 1) / n * nbytes
        messages = 2 * (n - 1)
        needs = []
        for alpha, _ in LATENCIES:
            left = allowed - messages * alpha
            needs.append((messages * alpha, sent * 8 / left / 1e9 if left > 0 else None))
        rows.append((n, sent, messages, needs))
    return rows


def cluster_section(results):
    one, two = results["throughput"]["1"], results["throughput"]["2"]
    nbytes, step = two["bytes_per_step"], one["step_seconds"]
    params = two["parameters"]
    lines = [
        f"Each step allreduces {nbytes:,} bytes ({params:,} float32 gradients, plus the "
        f"loss and flags; measured with 2 processes). A ring allreduce, the usual "
        f"algorithm for large buffers, has each of N nodes send (and receive) 2(N−1)/N of "
        f"the buffer, in 2(N−1) messages that each pay the network's latency α. On a "
        f"cluster each node would compute a whole batch of 100 per step (the global batch "
        f"growing with the nodes), which takes {_ms(step)} here (the 1-process step). For "
        f"the communication to stay under {BUDGET:.0%} of that step "
        f"({_ms(BUDGET * step, 2)}), each node needs:",
        "",
        "| nodes | sent per node per step | latency term, 2(N−1) × α | bandwidth per node, "
        + " | ".join(name for _, name in LATENCIES) + " |",
        "| --- | --- | --- | --- | --- |",
    ]
    for n, sent, messages, needs in cluster_rows(nbytes, step):
        latency = " or ".join(f"{lat * 1e3:.2g} ms" for lat, _ in needs)
        cells = [f"{gbit:.1f} Gbit/s" if gbit is not None
                 else f"impossible: the latency alone is {lat * 1e3:.2g} ms"
                 for lat, gbit in needs]
        lines.append(f"| {n} | {sent / 1e6:.2f} MB | {messages} × α: {latency} | "
                     + " | ".join(cells) + " |")
    lines += ["", "The bandwidth is what the bytes need in the time the latency leaves: "
                  "sent × 8 / (budget − 2(N−1) α)."]
    n, _, messages, needs = cluster_rows(nbytes, step)[-1]
    tcp_latency = needs[-1][0]
    worst = max(g for row in cluster_rows(nbytes, step) for _, g in row[3] if g is not None)
    lines += ["", f"So even this small network needs about {worst:.0f} Gbit/s per node, and "
                  f"at {n} nodes a low-latency interconnect: over TCP the ring's {messages} "
                  f"messages alone take {tcp_latency / (BUDGET * step):.1f} times the "
                  f"budget."]
    return "\n".join(lines)


def render(doc, sections):
    for name, text in sections.items():
        start, end = f"<!-- results:{name} -->", f"<!-- /results:{name} -->"
        if start not in doc or end not in doc:
            raise SystemExit(f"{DOC}: the markers {start} ... {end} are missing")
        head, rest = doc.split(start, 1)
        _, tail = rest.split(end, 1)
        doc = head + start + "\n" + text + "\n" + end + tail
    return doc


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="only compare: exit 1 if the page differs from the results")
    args = ap.parse_args(argv)
    results = json.loads(RESULTS.read_text(encoding="utf-8"))
    doc = DOC.read_text(encoding="utf-8")
    new = render(doc, {"distributed-speed": speed_section(results),
                       "distributed-cluster": cluster_section(results)})
    if args.check:
        if new != doc:
            print(f"{DOC} is out of date: run python benchmarks/doc_distributed.py",
                  file=sys.stderr)
            return 1
        return 0
    if new != doc:
        sys.path.insert(0, str(ROOT / "src"))
        from chainrule.files import atomic_file
        with atomic_file(DOC) as f:
            f.write(new.encode("utf-8"))
        print(f"wrote the figures into {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
