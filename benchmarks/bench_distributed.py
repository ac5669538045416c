"""Data-parallel training over MPI: throughput with 1 and 2 processes, and data memory.

    python benchmarks/bench_distributed.py                  # throughput, 1 vs 2 processes
    python benchmarks/bench_distributed.py --memory         # memory of the shared data
    python benchmarks/bench_distributed.py --runs 7 --steps 60 --save

Needs the `mpi` extra (mpi4py and an MPI whose mpiexec is on PATH or beside Python).

(a) Throughput. SimpleConvNet (the book's: conv 30x5x5 - ReLU - pool 2x2 - affine
100 - ReLU - affine 10), float32, Adam, global batch 100 on the bundled mnist-10k
digits, one BLAS thread per process. Each measurement is a fresh `mpiexec -n N` job
that runs `--warmup` steps, then times `--steps` steps of DistributedTrainer.train_step
(the code `train()` runs, without the evaluations between epochs). Reported per job:
the median step time, images per second (batch / step time), and the share of the
step spent in the allreduce (including any wait for the slower rank). After the steps,
the job also times the allreduce alone, 50 times after a barrier, which gives the
cost of moving the bytes without the waiting. Jobs with 1 and 2 processes alternate,
`--runs` times, and the medians over the jobs are reported, because the machine may
be busy with other work: alternating makes a slow spell hit both alike.

(b) Memory (--memory). How much memory N ranks holding a data set cost, measured as
the sum over the ranks of the growth of their PSS (proportional set size: memory
shared by k processes counts 1/k in each, so the sum is what the machine spends),
when every rank loads the data set itself, and when rank 0 loads it and the ranks
share it through an MPI shared-memory window (`chainrule.distributed.load_dataset`).
Uses Fashion-MNIST (60,000 images) where it is on disk, else mnist-10k.

--save writes the figures to benchmarks/results/distributed.json.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
RESULTS = HERE.parent / "results"
BATCH = 100


def mpiexec():
    """The mpiexec beside this Python (the MPICH wheel puts it there), else on PATH."""
    beside = Path(sys.executable).parent / "mpiexec"
    if beside.exists():
        return str(beside)
    found = shutil.which("mpiexec")
    if not found:
        raise SystemExit("no mpiexec found: pip install 'chainrule[mpi]'")
    return found


def launch(n, worker_args, timeout=600):
    """Run this file as an N-process MPI job; returns what rank 0 printed, parsed."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    command = [mpiexec(), "-n", str(n), sys.executable, str(HERE), "--worker", *worker_args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the workers (one MPI job each) ---------------------------------------------------------
def worker_throughput(args):
    from chainrule import distributed
    from chainrule.models import MODELS

    comm = distributed.world()
    (x_train, t_train), (x_test, t_test) = distributed.load_dataset("mnist-10k",
                                                                    dtype=np.float32)
    model = MODELS[args.model]
    if args.model == "TwoLayerNet":
        network = model(784, 1000, 10, dtype=np.float32, rng=0)
    elif args.model == "MultiLayerNet":
        network = model(784, [1000, 1000], 10, dtype=np.float32, rng=0)
    else:
        network = model(dtype=np.float32, rng=0)
    trainer = distributed.DistributedTrainer(
        network, x_train, t_train, x_test, t_test, mini_batch_size=BATCH,
        optimizer="Adam", optimizer_param={"lr": 0.001}, seed=0, verbose=False,
        iters=args.warmup + args.steps)
    trainer.synchronize()
    order = np.random.default_rng([0, 0]).permutation(len(x_train))

    step_times, allreduce_times, half_times = [], [], []
    one = comm.Get_size() == 1
    for i in range(args.warmup + args.steps):
        batch = order[i * BATCH:(i + 1) * BATCH]
        before = trainer.step_seconds["allreduce"]
        comm.Barrier()  # every rank starts each step together: measure steps, not drift
        start = time.perf_counter()
        trainer.train_step(trainer.x_train[batch], trainer.t_train[batch])
        elapsed = time.perf_counter() - start
        if i >= args.warmup:
            step_times.append(elapsed)
            allreduce_times.append(trainer.step_seconds["allreduce"] - before)
        if one:
            # Half a batch, interleaved with the whole ones so that both meet the same
            # machine: what each of two ranks computes in a step.
            half = batch[:BATCH // 2]
            start = time.perf_counter()
            trainer.train_step(trainer.x_train[half], trainer.t_train[half])
            if i >= args.warmup:
                half_times.append(time.perf_counter() - start)

    # The allreduce alone: all ranks enter together, so no waiting is measured.
    from mpi4py import MPI
    buffer = np.zeros(trainer.bytes_per_step // 4, dtype=np.float32)
    pure = []
    for _ in range(50):
        comm.Barrier()
        start = time.perf_counter()
        comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
        pure.append(time.perf_counter() - start)

    # Every rank's step time counts: the job goes at the pace of its slowest rank.
    mine = np.array([statistics.median(step_times), statistics.median(allreduce_times),
                     statistics.median(pure), statistics.median(half_times) if one else 0.0])
    slowest = np.empty_like(mine)
    comm.Allreduce(mine, slowest, op=MPI.MAX)
    if comm.Get_rank() == 0:
        step, allreduce, alone, half = (float(v) for v in slowest)
        print(json.dumps({
            "ranks": comm.Get_size(), "model": args.model,
            "parameters": int(sum(p.size for p in network.params.values())),
            "bytes_per_step": int(trainer.bytes_per_step),
            "step_seconds": step, "images_per_second": BATCH / step,
            "allreduce_seconds": allreduce, "allreduce_alone_seconds": alone,
            "allreduce_share": allreduce / step, "half_batch_step_seconds": half}))


def pss_kib():
    """This process's proportional set size in KiB (Linux)."""
    with open("/proc/self/smaps_rollup", encoding="ascii") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    raise RuntimeError("no Pss line in /proc/self/smaps_rollup")


def worker_memory(args):
    from chainrule import datasets, distributed

    comm = distributed.world()
    name, kwargs = args.dataset, {}
    if name == "fashion-mnist" and Path("/usr/share/datasets/fashion-mnist").is_dir():
        kwargs["data_dir"] = "/usr/share/datasets/fashion-mnist"
    kwargs["download"] = False
    # Parse once up front, so that both ways read the same parsed-array cache.
    if comm.Get_rank() == 0:
        datasets.load_dataset(name, **kwargs)
    comm.Barrier()

    before = pss_kib()
    if args.way == "each":
        data = datasets.load_dataset(name, dtype=np.float32, **kwargs)
    else:
        data = distributed.load_dataset(name, dtype=np.float32, **kwargs)
    (x_train, _), (x_test, _) = data
    # Touch every page, as training does over an epoch.
    total = float(x_train.sum(dtype=np.float64) + x_test.sum(dtype=np.float64))
    comm.Barrier()
    growth = np.array([pss_kib() - before], dtype=np.int64)
    every = np.empty(comm.Get_size(), dtype=np.int64)
    comm.Allgather(growth, every)
    if comm.Get_rank() == 0:
        print(json.dumps({"ranks": comm.Get_size(), "way": args.way, "dataset": name,
                          "data_mib": (x_train.nbytes + x_test.nbytes) / 2**20,
                          "pss_growth_mib_per_rank": (every / 1024).round(1).tolist(),
                          "pss_growth_mib_total": float(every.sum() / 1024),
                          "checksum": total}))


# -- the driver -------------------------------------------------------------------------
def run_throughput(args):
    worker_args = ["--model", args.model, "--steps", str(args.steps),
                   "--warmup", str(args.warmup)]
    jobs = {n: [] for n in args.procs}
    for run in range(args.runs):
        for n in args.procs:  # alternating: drift in the machine's speed hits both
            job = launch(n, worker_args)
            jobs[n].append(job)
            print(f"run {run + 1}/{args.runs}  {n} process(es): "
                  f"{job['images_per_second']:7.0f} images/s, step "
                  f"{job['step_seconds'] * 1e3:6.1f} ms, allreduce "
                  f"{job['allreduce_seconds'] * 1e3:5.2f} ms "
                  f"({100 * job['allreduce_share']:.1f}%), alone "
                  f"{job['allreduce_alone_seconds'] * 1e3:5.2f} ms", flush=True)
    summary = {}
    for n, runs in jobs.items():
        summary[n] = {key: statistics.median(job[key] for job in runs)
                      for key in ("images_per_second", "step_seconds", "allreduce_seconds",
                                  "allreduce_alone_seconds", "allreduce_share")}
        summary[n].update(parameters=runs[0]["parameters"],
                          bytes_per_step=runs[0]["bytes_per_step"])
    print(f"\n{args.model}, float32, Adam, batch {BATCH}, one BLAS thread per process; "
          f"median of {args.runs} jobs each:")
    base = summary[args.procs[0]]["images_per_second"]
    for n, s in summary.items():
        print(f"  {n} process(es): {s['images_per_second']:7.0f} images/s "
              f"(x{s['images_per_second'] / base:.2f}), step {s['step_seconds'] * 1e3:.1f} ms, "
              f"allreduce {s['allreduce_seconds'] * 1e3:.2f} ms = "
              f"{100 * s['allreduce_share']:.1f}% of the step (alone: "
              f"{s['allreduce_alone_seconds'] * 1e3:.2f} ms)")
    if 1 in jobs and len(args.procs) > 1:
        # On free cores, N ranks each compute a 1/N slice and then allreduce: the step of
        # N ranks is about one half-batch step (N = 2) plus the allreduce alone.
        half = statistics.median(job["half_batch_step_seconds"] for job in jobs[1])
        n = args.procs[-1]
        alone = summary[n]["allreduce_alone_seconds"]
        projected = summary[1]["step_seconds"] / (half + alone)
        summary[1]["half_batch_step_seconds"] = half
        summary["projected"] = {"ranks": 2, "speedup": projected}
        print(f"  on two free cores (estimate): 1 process takes "
              f"{summary[1]['step_seconds'] * 1e3:.1f} ms a step, half a batch "
              f"{half * 1e3:.1f} ms, the allreduce alone "
              f"{alone * 1e3:.2f} ms: 2 processes would run x{projected:.2f}")
    first = summary[args.procs[0]]
    print(f"  {first['parameters']:,} parameters: {first['bytes_per_step']:,} bytes "
          f"allreduced per step")
    # On a cluster each node would compute a whole batch of 100 per step (the global
    # batch growing with the nodes): its step time is the one-process step time.
    projection = cluster_projection(first["bytes_per_step"], first["step_seconds"])
    for row in projection:
        print(f"  ring allreduce on {row['nodes']} nodes: each sends "
              f"{row['bytes_sent_per_node'] / 1e6:.2f} MB per step; to stay under 10% of a "
              f"{row['step_ms']:.0f} ms step it needs {row['gbit_per_s']:.2f} Gbit/s per node, "
              f"and {row['messages']} messages x latency (at 2 us: "
              f"{row['latency_ms_at_2us']:.2f} ms, at 50 us: {row['latency_ms_at_50us']:.1f} ms)")
    return {"throughput": {str(n): s for n, s in summary.items()},
            "jobs": {str(n): runs for n, runs in jobs.items()},
            "cluster_projection": projection}


def cluster_projection(nbytes, step_seconds, nodes=(8, 64), budget=0.10):
    """What a ring allreduce of `nbytes` per step needs so that it takes at most
    `budget` of a step: each node sends (and receives) 2 (N - 1) / N * nbytes, in
    2 (N - 1) messages, each paying the network's latency once."""
    rows = []
    for n in nodes:
        sent = 2 * (n - 1) / n * nbytes
        allowed = budget * step_seconds
        rows.append({"nodes": n, "bytes_sent_per_node": sent, "step_ms": step_seconds * 1e3,
                     "gbit_per_s": sent * 8 / allowed / 1e9, "messages": 2 * (n - 1),
                     "latency_ms_at_2us": 2 * (n - 1) * 2e-6 * 1e3,
                     "latency_ms_at_50us": 2 * (n - 1) * 50e-6 * 1e3})
    return rows


def run_memory(args):
    from chainrule.datasets import dataset_available
    dataset = "fashion-mnist" if dataset_available("fashion-mnist", data_dir=(
        "/usr/share/datasets/fashion-mnist")) else "mnist-10k"
    results = []
    for n in args.procs:
        for way in ("each", "shared"):
            job = launch(n, ["--memory", "--way", way, "--dataset", dataset])
            results.append(job)
            print(f"{n} process(es), {way:>6}: data {job['data_mib']:.0f} MiB, PSS growth "
                  f"{job['pss_growth_mib_total']:.0f} MiB in all "
                  f"(per rank {job['pss_growth_mib_per_rank']})", flush=True)
    return {"memory": results}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--way", choices=["each", "shared"], help=argparse.SUPPRESS)
    p.add_argument("--dataset", default="mnist-10k", help=argparse.SUPPRESS)
    p.add_argument("--memory", action="store_true", help="measure the data's memory instead")
    p.add_argument("--model", default="SimpleConvNet",
                   choices=["SimpleConvNet", "MultiLayerNet", "TwoLayerNet"])
    p.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    p.add_argument("--runs", type=int, default=5, help="jobs per process count")
    p.add_argument("--steps", type=int, default=40, help="timed steps per job")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--save", action="store_true")
    args = p.parse_args()

    if args.worker:
        (worker_memory if args.memory else worker_throughput)(args)
        return 0
    figures = run_memory(args) if args.memory else run_throughput(args)
    if args.save:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / ("distributed_memory.json" if args.memory else "distributed.json")
        figures["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                              "numpy": np.__version__, "platform": platform.platform()}
        from chainrule.files import atomic_file
        with atomic_file(path) as f:
            f.write((json.dumps(figures, indent=1) + "\n").encode("utf-8"))
        print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
