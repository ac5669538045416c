"""How many threads BLAS (the library under NumPy's matrix products) may use.

The policy, and why: the networks chainrule teaches multiply small matrices (a batch of
100 by 784 by 50), where a second BLAS thread gains little, and where two BLAS threads
on a machine that is busy with anything else spin against each other and make the same
run many times slower. So "auto" means one thread unless the user asks for more. A
number (from --threads or the CHAINRULE_THREADS environment variable) is used as given.

Thread control needs threadpoolctl (the `threads` extra); without it the BLAS keeps its
own setting (which OPENBLAS_NUM_THREADS and friends control before Python starts).
"""

import os

__all__ = ["apply_policy", "resolve", "describe"]

_limiter = None  # keeps threadpoolctl's limit alive for the life of the process


def resolve(spec=None):
    """The thread count a spec means: None/"auto" -> the policy's choice, "N" -> N."""
    if spec is None or spec == "auto":
        spec = os.environ.get("CHAINRULE_THREADS", "auto")
    if spec == "auto":
        return 1
    try:
        n = int(spec)
    except (TypeError, ValueError):
        raise ValueError(f"threads must be a positive number or 'auto', got {spec!r}") from None
    if n < 1:
        raise ValueError(f"threads must be a positive number or 'auto', got {spec!r}")
    return n


def apply_policy(spec=None):
    """Limit BLAS to the threads `spec` asks for; returns the count, or None when
    threadpoolctl is not installed."""
    global _limiter
    n = resolve(spec)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    _limiter = threadpool_limits(limits=n, user_api="blas")
    return n


def describe():
    """A one-line account of the BLAS libraries NumPy uses and their thread counts."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (install chainrule[threads] to see and control them)"
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    if not pools:
        return "no BLAS found"
    return ", ".join(f"{p.get('internal_api')} {p.get('version')}: {p.get('num_threads')} "
                     f"thread(s)" for p in pools)
