"""`chainrule gradcheck`: every parameter's backprop gradient against the numerical
one, in float64."""

import sys

import numpy as np

from .. import compose, models
from ..gradient import REFINE_STEPS, gradient_check
from .common import CommandError
from .data import load_named
from .options import (add_model_options, elements_option, language_model, positive_float,
                      positive_int)
from .presets import build_model, input_shape_for, model_options_problem

# The bundled digits' training split has 8,000; a batch of 100 already takes minutes.
GRADCHECK_MAX_SAMPLES = 1000
# Elements checked per parameter by default: two losses each, so SimpleConvNet's
# 433,000 weights (2,212 s on 3 samples, measured on a loaded 2-core Xeon) become 440
# elements (2.5 s, 1.3 s of CPU time; see docs/command.md).
DEFAULT_ELEMENTS = 100


def _progress(name, done, total):
    """One line on standard error, rewritten as the elements are measured."""
    end = "\n" if done == total else ""
    print(f"\rmeasuring numerical gradients: {done:,} of {total:,} elements ({name})",
          end=end, file=sys.stderr, flush=True)


def _samples(args, rng):
    """(x, t, where they come from): random inputs, or bundled digits."""
    if args.synthetic:
        x = rng.random((args.samples, 784))
        t = rng.integers(0, 10, args.samples)
        return x, t, "synthetic"
    (x_train, t_train), _ = load_named("mnist-10k", quiet=True)[0]
    pick = rng.choice(len(x_train), args.samples, replace=False)
    return x_train[pick], t_train[pick], "bundled mnist-10k digits"


def _network(args, x, rng):
    """The network to check, in float64: central differences need its digits."""
    try:
        if (args.model or "two-layer") == "two-layer" and not args.layers:
            # The options were checked: one hidden size at most.
            return models.TwoLayerNet(x.shape[1], (args.hidden or [10])[0], 10, rng=rng,
                                      weight_init_std=0.1)
        return build_model(args, input_shape_for(args, x), 10, rng=rng, dtype="float64")
    except ValueError as exc:
        raise CommandError(str(exc)) from None


# A language model is checked on short pieces of the bundled Shakespeare.
TEXT_TIME_SIZE = 8


def _language_check(args, rng):
    """(x, t, source, network) for a language model: token ids of Shakespeare, the
    network built for its characters in float64."""
    from ..datasets import load_text
    from .language import _with_vocabulary
    text = load_text("shakespeare")
    vocab, T = len(text.vocab), TEXT_TIME_SIZE
    starts = rng.integers(0, len(text.train) - T - 1, args.samples)
    where = starts[:, None] + np.arange(T)
    x, t = text.train[where], text.train[where + 1]
    try:
        if args.layers:
            items = [_with_vocabulary(item, vocab)
                     for item in compose.build_items(args.layers)]
            network = models.Sequential(items, T, rng=rng)
        else:
            network = build_model(args, (T,), vocab, rng=rng, dtype="float64")
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    return x, t, f"pieces of {T} characters of Shakespeare", network


def cmd_gradcheck(args):
    problem = model_options_problem(args)
    if problem:
        raise CommandError(problem)
    rng = np.random.default_rng(args.seed)
    if args.samples > GRADCHECK_MAX_SAMPLES:
        raise CommandError(f"--samples {args.samples} is more than a gradient check needs or "
                           f"can do in reasonable time (two forward passes per weight per "
                           f"sample); use at most {GRADCHECK_MAX_SAMPLES}")
    if language_model(args):
        x, t, source, network = _language_check(args, rng)
    else:
        x, t, source = _samples(args, rng)
        network = _network(args, x, rng)
    sampled = ("every element" if args.elements is None else
               f"up to {args.elements} elements of each parameter drawn with seed {args.seed}")
    print(f"gradient check: {type(network).__name__} on {args.samples} {source} samples, "
          f"float64, {sampled}")
    result = gradient_check(network, x, t, detailed=True, elements=args.elements,
                            rng=np.random.default_rng([args.seed, 1]),
                            progress=None if args.elements is None else _progress)
    return _report(args, result)


def _report(args, result):
    print(f"{'param':<8} {'checked':>17} {'mean abs diff':>14} {'max rel error':>14}  status")
    refined = {name: f["refined"] for name, f in result.items() if f.get("refined")}
    failed = []
    for name, figures in result.items():
        ok = figures["mean_abs_diff"] <= args.max_abs and figures["max_rel_error"] <= args.max_rel
        if not ok:
            failed.append(name)
        checked = f"{figures['checked']:,} of {figures['size']:,}"
        print(f"{name:<8} {checked:>17} {figures['mean_abs_diff']:>14.3e} "
              f"{figures['max_rel_error']:>14.3e}  {'ok' if ok else 'FAIL'}")
    if refined:
        steps = " and ".join(f"{h:g}" for h in REFINE_STEPS)
        print(f"re-measured with h = {steps} where h = 1e-4 disagreed (a ReLU kink or "
              f"batch norm's curvature): "
              + ", ".join(f"{name} {n} element{'s' if n != 1 else ''}"
                          for name, n in refined.items()))
    if failed:
        print(f"FAILED: {', '.join(failed)} exceed the thresholds (mean abs diff "
              f"{args.max_abs:g}, max rel error {args.max_rel:g})")
        return 1
    print("passed")
    return 0


def register(sub):
    """Add `gradcheck` to an argparse subparsers object."""
    p = sub.add_parser("gradcheck", help="check backprop against numerical gradients",
                       description="Compare every parameter's backprop gradient with the "
                                   "numerical one (float64) and exit non-zero when a figure "
                                   "exceeds its threshold.")
    add_model_options(p)
    p.add_argument("--samples", type=positive_int, default=3,
                   help="batch size (default: 3, as the seed)")
    p.add_argument("--elements", type=elements_option, default=DEFAULT_ELEMENTS,
                   metavar="N|all",
                   help="elements of each parameter to check, drawn at random (seeded by "
                        "--seed): two losses each (default: %(default)s; all: every "
                        "element, minutes for the conv networks)")
    p.add_argument("--synthetic", action="store_true",
                   help="random inputs instead of the bundled digits")
    p.add_argument("--max-abs", type=positive_float, default=1e-6,
                   help="threshold for the mean absolute difference (default: %(default)g)")
    p.add_argument("--max-rel", type=positive_float, default=1e-4,
                   help="threshold for the largest relative error (default: %(default)g)")
    p.set_defaults(func=cmd_gradcheck, seed=0)
