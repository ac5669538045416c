"""How chainrule uses the machine's cores: the threading policy of `chainrule train`.

Why a policy at all. The networks chainrule teaches multiply small matrices (a batch of
100 by 784 by 50 takes about 0.1 ms). Splitting such a product across BLAS threads gains
little, and on a machine that is busy with anything else the threads spin while they
wait for each other, so the same run becomes several times *slower* (measured here: the
book's float64 loop went from 22 s on one thread to 180 s on two with one other busy
process). Large products (a hidden layer of 1,000 units, a batch of 1,000) are a
different matter: there every thread has real work and two cores are nearly twice as fast.

So, given the number of cores it may use:
  * small steps: BLAS gets one thread, and a second core, if there is one, measures
    each epoch's accuracy on a copy of the network while training goes on
    (Trainer(eval_in_background=True)): the one piece of work that is large, independent
    and can run beside the training steps without any thread waiting for another;
  * large steps (an estimated 100 MFLOP or more per step): BLAS gets every core.
    Measured here on an idle 2-core machine, two BLAS threads against one: 0.77x the
    time at hidden 256, batch 128 (156 MFLOP), 0.57x at hidden 1,024, batch 1,024, but
    1.14x at hidden 256, batch 32 (39 MFLOP) and 1.22x for the seed's shapes at batch 32.

The number of cores: `--threads N` or the environment variable CHAINRULE_THREADS, or by
default ("auto") the cores this process may run on, less the cores that other
processes kept busy over the last minute (the load average), and at least one.

BLAS is reached through threadpoolctl, a dependency of chainrule itself (not an extra),
so that the policy holds on every install: without it, BLAS would keep the thread count
it read when NumPy started (OPENBLAS_NUM_THREADS and friends, or every core), and the
seed's run beside one busy process took 3.04x its quiet time instead of 1.00x.
"""

import math
import os
from dataclasses import dataclass

from threadpoolctl import threadpool_info, threadpool_limits

__all__ = ["ThreadPlan", "plan", "apply_plan", "apply_policy", "resolve", "resolve_capped",
           "available_cores", "usable_cores",
           "step_flops", "describe", "LARGE_STEP_FLOPS"]

#: estimated multiply-add FLOPs per training step from which BLAS threads pay off
LARGE_STEP_FLOPS = 100e6

_limiter = None  # keeps threadpoolctl's limit alive for the life of the process


@dataclass(frozen=True)
class ThreadPlan:
    cores: int  # cores chainrule may use
    blas_threads: int  # threads for each matrix product
    eval_in_background: bool  # measure accuracy in a second thread

    def __str__(self):
        how = "evaluation beside training" if self.eval_in_background else "no background work"
        return (f"{self.cores} core{'s' if self.cores != 1 else ''}: "
                f"{self.blas_threads} BLAS thread{'s' if self.blas_threads != 1 else ''}, {how}")


def usable_cores():
    """Cores this process may run on (its CPU affinity), busy or not."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def available_cores():
    """Cores this process may run on, less those other processes kept busy lately."""
    cores = usable_cores()
    try:
        busy = int(os.getloadavg()[0] + 0.5)
    except (AttributeError, OSError):
        busy = 0
    return max(1, cores - busy)


def resolve(spec=None):
    """The core count a spec means: None/"auto" -> available_cores(), "N" -> N.

    None and "auto" defer to the environment variable CHAINRULE_THREADS; a bad value
    there is reported under its name.
    """
    source = "threads"
    if spec is None or spec == "auto":
        spec = os.environ.get("CHAINRULE_THREADS", "auto").strip() or "auto"
        source = "CHAINRULE_THREADS"
    if spec == "auto":
        return available_cores()
    try:
        n = int(spec)
    except (TypeError, ValueError):
        raise ValueError(f"{source} must be a positive whole number or 'auto', "
                         f"got {spec!r}") from None
    if n < 1:
        raise ValueError(f"{source} must be a positive whole number or 'auto', got {spec!r}")
    return n


def resolve_capped(spec=None):
    """(cores, note): resolve(spec), capped at the cores this process may run on.

    More BLAS threads than cores only makes them wait for each other (measured here,
    a SimpleConvNet step on 2 cores: 40 ms at 2 threads, 571 ms at 8, 1.75 s at 1000).
    note says what was capped, or is None.
    """
    n = resolve(spec)
    cores = usable_cores()
    if n > cores:
        return cores, (f"{n} threads asked for, but this process may use {cores} "
                       f"core{'s' if cores != 1 else ''}: using {cores}")
    return n, None


def step_flops(network, batch_size):
    """A rough count of the FLOPs of one training step: forward and backward each
    multiply every weight once per use (2 FLOPs), three products in all.

    An affine layer uses each weight once per sample; a convolution once per output
    position, so its count follows the layers' output shapes (network.layer_shapes()).
    A network that cannot say counts each weight once."""
    shapes = dict(network.layer_shapes()) if hasattr(network, "layer_shapes") else {}
    uses = 0
    for name, layer in (getattr(network, "layers", None) or {}).items():
        W = getattr(layer, "W", None)
        if getattr(W, "ndim", 0) < 2:
            continue
        shape = shapes.get(name, ())
        # (FN, OH, OW) for a convolution: its filters are used at OH * OW positions.
        positions = math.prod(shape[1:]) if len(shape) == 3 else 1
        uses += W.size * positions
    return 6.0 * batch_size * (uses or sum(getattr(p, "size", 1) for p in network.params.values()))


def plan(spec=None, network=None, batch_size=100):
    """The ThreadPlan for training `network` with mini-batches of `batch_size`."""
    cores = resolve(spec)
    large = network is not None and step_flops(network, batch_size) >= LARGE_STEP_FLOPS
    if large:
        return ThreadPlan(cores, cores, False)
    return ThreadPlan(cores, 1, cores >= 2)


def _limit_blas(n):
    global _limiter
    _limiter = threadpool_limits(limits=n, user_api="blas")
    return n


def apply_plan(thread_plan):
    """Limit BLAS to the plan's threads; returns the plan."""
    _limit_blas(thread_plan.blas_threads)
    return thread_plan


def apply_policy(spec=None, network=None, batch_size=100):
    """plan() and apply_plan() in one call; returns the ThreadPlan."""
    return apply_plan(plan(spec, network, batch_size))


def describe():
    """A one-line account of the BLAS libraries NumPy uses and their thread counts."""
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    if not pools:
        return "no BLAS found"
    return ", ".join(f"{p.get('internal_api')} {p.get('version')}: {p.get('num_threads')} "
                     f"thread(s)" for p in pools)
