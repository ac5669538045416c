"""The command line's visual subcommands: graph, plot and serve.

    chainrule graph apple                     the seed's apple example as DOT text
    chainrule graph apple-orange -o g.svg     ... drawn by Graphviz
    chainrule graph two-layer -o net.png      a network's layers with tensor shapes
    chainrule graph model MODEL.npz           the same for a saved model
    chainrule plot curves METRICS.jsonl -o curves.png
    chainrule plot weights MODEL.npz -o weights.png
    chainrule plot activations -o activations.png
    chainrule plot confusion MODEL.npz [--dataset mnist-10k] -o confusion.png
    chainrule plot mistakes MODEL.npz -o mistakes.png
    chainrule serve [MODEL.npz] [--port 8000] [--host 127.0.0.1]

Each handler returns the exit code (0 success, 1 failure while working) or raises
CommandError (2: a problem with what was asked: a missing file, a bad option, a missing
extra).
"""

import ipaddress
import os
import sys

import numpy as np

from .. import models
from ..files import not_a_regular_file
from .common import (CommandError, check_listen, checkpoint_class_names, dataset_message,
                     inputs_of, listen_error, load_model_file, resolve_threads)
from .data import load_like, load_named, load_own_data
from .options import (add_overwrite_option, non_negative_int, port_number, positive_int,
                      threads_option)
from .outputs import replacing

__all__ = ["register", "cmd_graph", "cmd_plot", "cmd_serve", "NETWORK_GRAPHS"]

# Built-in networks `chainrule graph` can draw without a file: the CLI's model names.
NETWORK_GRAPHS = {
    "two-layer": lambda: models.TwoLayerNet(784, 50, 10),
    "mlp": lambda: models.MultiLayerNet(784, [100, 100], 10),
    "simple-conv": lambda: models.SimpleConvNet(),
    "deep-conv": lambda: models.DeepConvNet(),
}
_SCALAR_GRAPHS = ("apple", "apple-orange")


# -- graph ----------------------------------------------------------------------------
def _graph_of(args):
    """(graph, title) of what `graph` was asked to draw."""
    from .. import trace
    if args.what in _SCALAR_GRAPHS:
        if args.checkpoint is not None:
            raise CommandError(f"graph {args.what} takes no file")
        graph = trace.apple_example() if args.what == "apple" else trace.apple_orange_example()
        return graph, None
    if args.what == "model":
        if args.checkpoint is None:
            raise CommandError("graph model needs a model file: chainrule graph model "
                               "MODEL.npz")
        model = load_model_file(args.checkpoint, refuse_broken=False).model
    else:
        if args.checkpoint is not None:
            raise CommandError(f"graph {args.what} takes no file (use: graph model FILE)")
        model = NETWORK_GRAPHS[args.what]()
    try:
        graph = trace.layer_graph(model, with_loss=not args.no_loss)
    except ValueError as exc:
        raise CommandError(f"cannot run this model on a dummy batch: {exc}", 1) from None
    return graph, type(model).__name__ if args.title else None


def _draw_own_svg(graph, title, output):
    """An SVG needs no Graphviz: chainrule's own layout draws the same figure."""
    from .. import svggraph
    from ..files import atomic_file
    try:
        with atomic_file(output) as f:
            f.write(svggraph.to_svg(graph, title=title).encode("utf-8"))
    except OSError as exc:
        raise CommandError(f"could not write {output}: {exc}", 1) from None
    print(f"Graphviz is not installed: drew {output} with chainrule's own layout",
          file=sys.stderr)


def cmd_graph(args):
    from .. import draw
    problem = replacing(args.output, "-o", args.overwrite)
    if problem:
        raise CommandError(problem)
    graph, title = _graph_of(args)
    text = draw.to_dot(graph, title=title)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        draw.render(text, args.output)
    except draw.GraphvizNotFoundError as exc:
        if not args.output.lower().endswith(".svg"):
            raise CommandError(str(exc), 1) from None
        _draw_own_svg(graph, title, args.output)
        return 0
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    except (RuntimeError, OSError) as exc:
        raise CommandError(f"could not write {args.output}: {exc}", 1) from None
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


# -- plot -----------------------------------------------------------------------------
def _own_test_set(args, checkpoint):
    """(x_test, t_test, class names, image shape) of the data a model was trained on
    (as its record of its inputs says), or of --data PATH read as the model's data
    was; None when neither applies."""
    record = inputs_of(checkpoint, args.model)
    path = args.data or (record.get("source") if record and args.dataset is None else None)
    if path is None:
        return None
    try:
        if record is not None:
            _, (x, t) = load_like(record, path)
            names = record["class_names"]
        else:
            ((_, _), (x, t)), read = load_own_data(path, args, quiet=True)
            names = read["class_names"]
    except (OSError, ValueError, ImportError) as exc:
        raise CommandError(dataset_message(exc)) from None
    shape = x.shape[1:]
    image_shape = tuple(shape[1:]) if len(shape) == 3 and shape[0] == 1 else None
    return x.reshape(len(x), -1), t, names, image_shape


def _named_test_set(args, checkpoint):
    """(x_test, t_test, class names) of a named data set: --dataset, else the one the
    model was trained on (digits shown to a clothes classifier measure nothing)."""
    from ..datasets import CLASS_NAMES
    record = inputs_of(checkpoint, args.model) or {}
    dataset = args.dataset or record.get("dataset") or "mnist-10k"
    try:
        (_, _), (x, t) = load_named(dataset, download=args.download, words={
            "download": "connect to the internet and give --download"})[0]
    except OSError as exc:
        raise CommandError(str(exc)) from None
    expected = _input_size(checkpoint.model)
    if expected is not None and expected != x.shape[1]:
        raise CommandError(f"{args.model} takes inputs of {expected} values; the {dataset} "
                           f"images have {x.shape[1]}")
    mine = (" (the data the model was trained on)"
            if not args.dataset and record.get("dataset") else "")
    print(f"using the {dataset} test set{mine}", file=sys.stderr)
    return x, t, CLASS_NAMES.get(dataset)


def _input_size(model):
    shape = getattr(model, "input_shape", None)
    if shape:
        return int(np.prod([int(d) for d in shape]))
    config = getattr(model, "config", {}) or {}
    if "input_size" in config:
        return int(config["input_size"])
    if "input_dim" in config:
        return int(np.prod([int(d) for d in config["input_dim"]]))
    return None


def _model_inputs(model, x):
    """Flat rows as the model wants them: images (N, C, H, W) for a convolutional one."""
    shape = getattr(model, "input_shape", None)
    if shape and len(shape) > 1:
        return x.reshape((len(x),) + tuple(int(d) for d in shape))
    return x


def _plot_test_set(args, plot, checkpoint):
    """`plot confusion` and `plot mistakes`: the model on a test set."""
    if args.data and args.dataset:
        raise CommandError("give --data PATH or --dataset NAME, not both")
    own = _own_test_set(args, checkpoint)
    if own is not None:
        x, t, names, image_shape = own
        if args.kind == "mistakes" and image_shape is None:
            raise CommandError("plot mistakes draws one-channel images; this model's "
                               "samples are not such images")
    else:
        (x, t, names), image_shape = _named_test_set(args, checkpoint), (28, 28)
    if args.limit:
        x, t = x[:args.limit], t[:args.limit]
    model = checkpoint.model
    x = _model_inputs(model, x)
    if args.kind == "confusion":
        return plot.plot_confusion(model, x, t, args.output, class_names=names)
    return plot.plot_mistakes(model, x, t, args.output, k=args.count,
                              image_shape=image_shape, class_names=names)


def _draw(args, plot):
    """The picture `plot` was asked for; the path written."""
    plot.picture_format(args.output)  # an unknown ending is refused before any work
    if args.kind == "curves":
        problem = not_a_regular_file(args.metrics)
        if problem:
            raise CommandError(problem)
        return plot.plot_curves(args.metrics, args.output, title=args.title)
    if args.kind == "activations":
        return plot.plot_activations(args.output, seed=args.seed)
    checkpoint = load_model_file(args.model)
    if args.kind == "weights":
        return plot.plot_weights(checkpoint.model, args.output,
                                 image_shape=_weights_shape(checkpoint, args.model))
    return _plot_test_set(args, plot, checkpoint)


def _weights_shape(checkpoint, path):
    """The picture each first-layer unit's weights are drawn as: the shape of the
    model's pictures, as its record says (None: square and grey, as MNIST's); a
    CommandError for a model whose inputs are not pictures."""
    record = inputs_of(checkpoint, path)
    if record is None or record["kind"] == "images":
        return tuple(record["shape"]) if record else None
    shape = tuple(record.get("shape") or ())
    if record["kind"] == "arrays" and len(shape) == 3:
        return shape
    what = (f"a table's {len(record['columns'])} columns" if record["kind"] == "table"
            else f"samples of shape {shape}")
    raise CommandError(f"plot weights draws each first-layer unit's weights as a picture; "
                       f"the inputs of {path} are {what}, not pictures")


def cmd_plot(args):
    from .. import plot
    problem = replacing(args.output, "-o", args.overwrite)
    if problem:
        raise CommandError(problem)
    try:
        path = _draw(args, plot)
    except (ImportError, ValueError, TypeError) as exc:  # MissingDependencyError too
        raise CommandError(str(exc)) from None
    except OSError as exc:
        raise CommandError(f"could not write {args.output}: {exc.strerror or exc}", 1) from None
    print(f"wrote {path}", file=sys.stderr)
    return 0


# -- serve ----------------------------------------------------------------------------
def _is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def served_inputs(checkpoint, path):
    """The record of the model's inputs the drawing page prepares drawings by (None:
    as MNIST's digits were made). The page draws 28x28 grey pictures: a model that
    takes anything else is refused, saying what it takes."""
    record = inputs_of(checkpoint, path)
    if record is None:
        return None
    if record["kind"] != "images" or record["color"] != "gray" or \
            list(record["shape"]) != [1, 28, 28]:
        shape = tuple(record.get("shape") or (len(record.get("columns") or ()),))
        raise ValueError(f"{path} takes {record['kind']} of shape {shape} ("
                         f"{record.get('color', 'not pictures')}); the drawing page draws "
                         f"28x28 grey pictures")
    return record


def served_class_names(checkpoint, path):
    """The class names of a model the page serves: its record's (None: the digits)."""
    record = served_inputs(checkpoint, path)
    if record is None:
        return None
    return checkpoint_class_names(checkpoint, record.get("dataset") or "mnist",
                                  checkpoint.model.output_size)


def _served_app(args):
    """The web application for `serve`: on the model given, or on one trained now."""
    from .. import web
    metrics = web.LiveMetrics()
    class_names = inputs = None
    if args.model is not None:
        checkpoint = load_model_file(args.model)
        model = checkpoint.model
        info = {"source": f"loaded from {os.path.basename(args.model)}"}
        if not getattr(model, "takes_tokens", False):  # a language model: no drawing
            inputs = served_inputs(checkpoint, args.model)
            class_names = served_class_names(checkpoint, args.model)
    else:
        print(f"no model file given: training a TwoLayerNet on the bundled digits "
              f"({args.epochs} epochs, a few seconds)...", file=sys.stderr)
        model, info = web.train_default_model(metrics, epochs=args.epochs)
        print(f"  {info['accuracy']:.1%} on {info['accuracy_on']}", file=sys.stderr)
    return web.create_app(model, metrics=metrics, info=info, class_names=class_names,
                          inputs=inputs, max_sessions=args.max_sessions,
                          max_session_bytes=args.session_memory * 1024 * 1024)


def cmd_serve(args):
    from .. import threads
    check_listen(args.host, args.port)  # before a model is trained for it
    threads.apply_policy(resolve_threads(args.threads))
    try:
        app = _served_app(args)
    except (ImportError, OSError, ValueError) as exc:  # Flask missing: says what to install
        raise CommandError(str(exc)) from None
    from werkzeug.serving import make_server
    try:
        server = make_server(args.host, args.port, app, threaded=True)
    except SystemExit:  # werkzeug's own exit on a socket that was free a moment ago
        raise CommandError(f"cannot listen on {args.host}:{args.port}", 1) from None
    except OSError as exc:
        raise CommandError(listen_error(args.host, args.port, exc), 1) from None
    _serve_forever(server, args.host)
    return 0


def _serve_forever(server, host):
    shown = f"[{host}]" if ":" in host else host
    print(f"serving on http://{shown}:{server.server_port}/  (training curves: /train; "
          f"Ctrl-C stops)", file=sys.stderr)
    if not _is_loopback(host):
        print("warning: this server is reachable from other machines and has no "
              "password; anyone who can reach it can use it", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        server.server_close()


# -- registration ---------------------------------------------------------------------
def register(subparsers):
    """Add the graph, plot and serve subcommands to an argparse subparsers object."""
    _register_graph(subparsers)
    _register_plot(subparsers)
    _register_serve(subparsers)


def _register_graph(subparsers):
    p = subparsers.add_parser(
        "graph", help="draw a computational graph (the seed's examples, or a network)",
        description="Print a computational graph as Graphviz DOT text, or draw it with -o. "
                    "apple and apple-orange are the seed's examples (book figures 5-16 and "
                    "5-17): forward values above each edge, derivatives below in red. The "
                    "network names draw that network's layers with their tensor shapes; "
                    "'model FILE' draws a saved model.")
    p.add_argument("what", choices=list(_SCALAR_GRAPHS) + ["model"] + list(NETWORK_GRAPHS),
                   help="which graph")
    p.add_argument("checkpoint", nargs="?", metavar="MODEL.npz",
                   help="the model file, for 'graph model'")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write FILE.svg, .png or .pdf (needs Graphviz: apt-get install "
                        "graphviz) or FILE.dot; default: print DOT to standard output")
    p.add_argument("--no-loss", action="store_true",
                   help="networks: leave out the loss layer")
    p.add_argument("--title", action="store_true", help="networks: put the model above the graph")
    add_overwrite_option(p)
    p.set_defaults(func=cmd_graph)


def _register_plot(subparsers):
    p = subparsers.add_parser(
        "plot", help="draw training curves, weights, activations, confusion matrix, mistakes",
        description="Save a picture (PNG, or SVG/PDF by the file name) drawn with "
                    "matplotlib (pip install 'chainrule[plot]').")
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)

    k = kinds.add_parser("curves", help="loss and accuracy from a metrics JSON-lines file")
    k.add_argument("metrics", metavar="METRICS.jsonl",
                   help="one JSON object per epoch (chainrule train --metrics ...)")
    k.add_argument("--title", help="a title above the figure")

    k = kinds.add_parser("weights", help="the first layer's weights as images")
    k.add_argument("model", metavar="MODEL.npz")

    k = kinds.add_parser("activations",
                         help="activation histograms for several weight initialisations "
                              "(the book's chapter 6 experiment)")
    k.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default: 0)")

    for name, help_text in (("confusion", "confusion matrix on a test set"),
                            ("mistakes", "the most confidently misclassified test images")):
        k = kinds.add_parser(name, help=help_text)
        k.add_argument("model", metavar="MODEL.npz")
        k.add_argument("--dataset", choices=["mnist-10k", "mnist", "fashion-mnist"],
                       default=None,
                       help="test set: mnist-10k (bundled), mnist, fashion-mnist (default: "
                            "the one the model was trained on, else mnist-10k)")
        k.add_argument("--data", metavar="PATH",
                       help="the test part of data of your own (.npz, CSV, image folder), "
                            "read as the model's data was (default: the model's own data)")
        k.add_argument("--download", action="store_true",
                       help="download the data set if it is not on this machine")
        k.add_argument("--limit", type=positive_int, metavar="N", help="use the first N test images")
        if name == "mistakes":
            k.add_argument("-k", "--count", type=positive_int, default=16, metavar="K",
                           help="how many images (default: 16)")
    for k in kinds.choices.values():
        k.add_argument("-o", "--output", required=True, metavar="FILE.png",
                       help="where to save the picture (.png, .svg or .pdf)")
        add_overwrite_option(k)
        k.set_defaults(func=cmd_plot)


def _register_serve(subparsers):
    p = subparsers.add_parser(
        "serve", help="a local web page: draw a digit, see the prediction; watch a language "
                      "model's attention; training curves",
        description="Serve a page where you draw a digit and watch the network classify "
                    "it, with class probabilities and hidden activations; say which digit "
                    "it really is to see the gradients and let the network learn from it "
                    "(on an in-memory copy, never the file). For a character-level "
                    "language model (a GPT), the page instead takes a prompt and shows the "
                    "next character's probabilities and every attention head's weights "
                    "over the prompt, and samples one more character at a time. /apple "
                    "has the book's apple graph, and /train training curves. Without "
                    "MODEL, a TwoLayerNet is trained on the bundled digits first (a few "
                    "seconds). Needs Flask (pip install 'chainrule[web]').")
    p.add_argument("model", nargs="?", metavar="MODEL.npz", help="a saved model (optional)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=port_number, default=8000, help="port (default: 8000; 0: any free)")
    p.add_argument("--epochs", type=positive_int, default=8,
                   help="epochs for the model trained at start without MODEL (default: 8)")
    p.add_argument("--threads", type=threads_option, default="auto", metavar="N|auto",
                   help="BLAS threads (at most the cores this process may use)")
    p.add_argument("--max-sessions", type=positive_int, default=32, metavar="N",
                   help="browsers that may each keep a learning copy of the network "
                        "('learn' on the page); the one used longest ago is dropped first "
                        "(default: 32)")
    p.add_argument("--session-memory", type=positive_int, default=256, metavar="MB",
                   help="memory all learning copies may take together, in MiB (default: 256)")
    p.set_defaults(func=cmd_serve)
