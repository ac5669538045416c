"""The command line's visual subcommands: graph, plot and serve.

chainrule's main parser calls ``register(subparsers)``; each subcommand's handler takes
the parsed arguments and returns the exit code (0 success, 1 failure while working,
2 a problem with what was asked: a missing file, a bad option, a missing extra).

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
"""

import ipaddress
import os
import sys

import numpy as np

__all__ = ["register", "cmd_graph", "cmd_plot", "cmd_serve", "NETWORK_GRAPHS"]

# Built-in networks `chainrule graph` can draw without a file: the CLI's model names.
NETWORK_GRAPHS = {
    "two-layer": ("TwoLayerNet", lambda cls: cls(784, 50, 10)),
    "mlp": ("MultiLayerNet", lambda cls: cls(784, [100, 100], 10)),
    "simple-conv": ("SimpleConvNet", lambda cls: cls()),
    "deep-conv": ("DeepConvNet", lambda cls: cls()),
}
_SCALAR_GRAPHS = ("apple", "apple-orange")


def _err(message):
    print(f"chainrule: error: {message}", file=sys.stderr)


def _load_checkpoint(path):
    """A checkpoint (model and training state) from a file, or None after saying why not."""
    try:
        from .checkpoint import load_checkpoint
    except ImportError:
        _err("this version of chainrule cannot read model files (no chainrule.checkpoint)")
        return None
    try:
        return load_checkpoint(path)
    except (OSError, ValueError) as exc:  # CheckpointError is a ValueError
        _err(str(exc))
        return None


def _load_model(path):
    """A model from a checkpoint file, or None after saying why not."""
    checkpoint = _load_checkpoint(path)
    return None if checkpoint is None else checkpoint.model


def _trained_on(checkpoint):
    """The data set the checkpoint's run was trained on, if `chainrule train` recorded it."""
    run = (getattr(checkpoint, "training", None) or {}).get("run") or {}
    name = run.get("dataset")
    return name if name in ("mnist", "fashion-mnist", "mnist-10k") else None


# -- graph ----------------------------------------------------------------------------
def cmd_graph(args):
    from . import draw, trace
    if args.what in _SCALAR_GRAPHS:
        if args.checkpoint is not None:
            _err(f"graph {args.what} takes no file")
            return 2
        graph = trace.apple_example() if args.what == "apple" else trace.apple_orange_example()
        title = None
    else:
        if args.what == "model":
            if args.checkpoint is None:
                _err("graph model needs a model file: chainrule graph model MODEL.npz")
                return 2
            model = _load_model(args.checkpoint)
            if model is None:
                return 2
        else:
            if args.checkpoint is not None:
                _err(f"graph {args.what} takes no file (use: graph model FILE)")
                return 2
            from . import models
            cls_name, build = NETWORK_GRAPHS[args.what]
            if cls_name not in getattr(models, "MODELS", {}):
                _err(f"{cls_name} is not available in this version")
                return 2
            model = build(models.MODELS[cls_name])
        try:
            graph = trace.layer_graph(model, with_loss=not args.no_loss)
        except ValueError as exc:
            _err(f"cannot run this model on a dummy batch: {exc}")
            return 1
        title = type(model).__name__ if args.title else None
    text = draw.to_dot(graph, title=title)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        draw.render(text, args.output)
    except draw.GraphvizNotFoundError as exc:
        if not args.output.lower().endswith(".svg"):
            _err(str(exc))
            return 1
        # An SVG needs no Graphviz: chainrule's own layout draws the same figure.
        from . import svggraph
        from .files import atomic_file
        try:
            with atomic_file(args.output) as f:
                f.write(svggraph.to_svg(graph, title=title).encode("utf-8"))
        except OSError as exc:
            _err(f"could not write {args.output}: {exc}")
            return 1
        print(f"Graphviz is not installed: drew {args.output} with chainrule's own layout",
              file=sys.stderr)
        return 0
    except ValueError as exc:
        _err(str(exc))
        return 2
    except (RuntimeError, OSError) as exc:
        _err(f"could not write {args.output}: {exc}")
        return 1
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


# -- plot -----------------------------------------------------------------------------
def _load_test_set(name, download):
    """(x_test, t_test, class names) of data set `name`, or None after saying why."""
    try:
        from .datasets import CLASS_NAMES, load_dataset
    except ImportError:
        _err("this version of chainrule has no data sets module")
        return None
    try:
        (_, _), (x_test, t_test) = load_dataset(name, normalize=True, flatten=True,
                                                download=download)
    except (OSError, ValueError) as exc:  # DatasetError is a ValueError
        from .cli import dataset_message
        _err(dataset_message(exc).replace("connect to the internet (chainrule then "
                                          "downloads it)",
                                          "connect to the internet and give --download"))
        return None
    names = CLASS_NAMES.get(name, None) if isinstance(CLASS_NAMES, dict) else None
    return x_test, t_test, names


def _load_own_test_set(args):
    """(x_test, t_test, class names, image shape) of the data a model was trained on
    (recorded in its checkpoint), or of --data PATH read as the model's data was;
    None when neither applies (or after saying why it failed)."""
    from .checkpoint import load_checkpoint
    from .cli import _own_data_record, load_own_data
    try:
        record = _own_data_record(load_checkpoint(args.model))
    except ValueError as exc:
        _err(str(exc))
        return False
    path = args.data or (record["path"] if record and args.dataset is None else None)
    if path is None:
        return None
    try:
        ((_, _), (x, t)), read = load_own_data(path, args, record or None, quiet=True)
    except (OSError, ValueError, ImportError) as exc:
        _err(str(exc))
        return False
    shape = tuple(read["input_shape"])
    names = (record or read)["class_names"]
    image_shape = shape[1:] if len(shape) == 3 and shape[0] == 1 else None
    return x.reshape(len(x), -1), t, names, image_shape


def _served_class_names(path, model):
    """The class names a checkpoint records (data of one's own, or a named data set);
    None for the digits. The drawing page draws 28x28 grey pictures: a model trained on
    other pictures is refused, saying what it takes."""
    from .checkpoint import load_checkpoint
    from .cli import _checkpoint_class_names, _own_data_record, _saved_dataset
    checkpoint = load_checkpoint(path)
    record = _own_data_record(checkpoint)
    if record and int(np.prod(record["input_shape"])) != 28 * 28:
        raise ValueError(f"{path} takes samples of shape {tuple(record['input_shape'])}; the "
                         f"drawing page draws 28x28 grey pictures")
    if record is None and _saved_dataset(checkpoint) is None:
        return None
    return _checkpoint_class_names(checkpoint, _saved_dataset(checkpoint) or "mnist",
                                   model.output_size)


def _model_inputs(model, x):
    """Flat rows as the model wants them: images (N, C, H, W) for a convolutional one."""
    shape = getattr(model, "input_shape", None)
    if shape and len(shape) > 1:
        return x.reshape((len(x),) + tuple(int(d) for d in shape))
    return x


def _not_a_file(path):
    """Why `path` cannot be read as a file (missing, a directory, a FIFO...), or None."""
    from .files import not_a_regular_file
    return not_a_regular_file(path)


def _input_size(model):
    shape = getattr(model, "input_shape", None)
    if shape:
        size = 1
        for d in shape:
            size *= int(d)
        return size
    config = getattr(model, "config", {}) or {}
    if "input_size" in config:
        return int(config["input_size"])
    if "input_dim" in config:
        size = 1
        for d in config["input_dim"]:
            size *= int(d)
        return size
    return None


def cmd_plot(args):
    from . import plot
    try:
        plot.picture_format(args.output)  # an unknown ending is refused before any work
        if args.kind == "curves":
            problem = _not_a_file(args.metrics)
            if problem:
                _err(problem)
                return 2
            path = plot.plot_curves(args.metrics, args.output, title=args.title)
        elif args.kind == "activations":
            path = plot.plot_activations(args.output, seed=args.seed)
        else:
            checkpoint = _load_checkpoint(args.model)
            if checkpoint is None:
                return 2
            model = checkpoint.model
            from .cli import broken_model
            broken = broken_model(model, args.model)
            if broken:
                _err(broken)
                return 2
            if args.kind == "weights":
                path = plot.plot_weights(model, args.output)
            else:
                if args.data and args.dataset:
                    _err("give --data PATH or --dataset NAME, not both")
                    return 2
                own = _load_own_test_set(args)
                if own is False:
                    return 2
                image_shape = (28, 28)
                if own is not None:
                    x, t, names, image_shape = own
                    if args.kind == "mistakes" and image_shape is None:
                        _err("plot mistakes draws one-channel images; this model's "
                             "samples are not such images")
                        return 2
                else:
                    # The test set of the data the model was trained on, unless asked
                    # otherwise: digits shown to a clothes classifier measure nothing.
                    dataset = args.dataset or _trained_on(checkpoint) or "mnist-10k"
                    data = _load_test_set(dataset, args.download)
                    if data is None:
                        return 2
                    x, t, names = data
                    expected = _input_size(model)
                    if expected is not None and expected != x.shape[1]:
                        _err(f"{args.model} takes inputs of {expected} values; the {dataset} "
                             f"images have {x.shape[1]}")
                        return 2
                    print(f"using the {dataset} test set"
                          f"{' (the data the model was trained on)' if not args.dataset and _trained_on(checkpoint) else ''}",
                          file=sys.stderr)
                if args.limit:
                    x, t = x[:args.limit], t[:args.limit]
                x = _model_inputs(model, x)
                if args.kind == "confusion":
                    path = plot.plot_confusion(model, x, t, args.output, class_names=names)
                else:
                    path = plot.plot_mistakes(model, x, t, args.output, k=args.count,
                                              image_shape=image_shape, class_names=names)
    except plot.MissingDependencyError as exc:
        _err(str(exc))
        return 2
    except (ValueError, TypeError) as exc:
        _err(str(exc))
        return 2
    except OSError as exc:
        _err(f"could not write {args.output}: {exc.strerror or exc}")
        return 1
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


def cmd_serve(args):
    from . import threads
    from .cli import check_listen, resolve_threads
    problem = check_listen(args.host, args.port)  # before a model is trained for it
    if problem:
        _err(problem)
        return 2
    try:
        threads.apply_policy(resolve_threads(args.threads))
    except ValueError as exc:  # CHAINRULE_THREADS=abc
        _err(str(exc))
        return 2
    from . import web
    try:
        metrics = web.LiveMetrics()
        if args.model is not None:
            model = _load_model(args.model)
            if model is None:
                return 2
            from .cli import broken_model
            broken = broken_model(model, args.model)
            if broken:
                _err(broken)
                return 2
            info = {"source": f"loaded from {os.path.basename(args.model)}"}
            class_names = _served_class_names(args.model, model)
        else:
            print(f"no model file given: training a TwoLayerNet on the bundled digits "
                  f"({args.epochs} epochs, a few seconds)...", file=sys.stderr)
            model, info = web.train_default_model(metrics, epochs=args.epochs)
            print(f"  {info['accuracy']:.1%} on {info['accuracy_on']}", file=sys.stderr)
        app = web.create_app(model, metrics=metrics, info=info,
                             class_names=class_names if args.model is not None else None,
                             max_sessions=args.max_sessions,
                             max_session_bytes=args.session_memory * 1024 * 1024)
    except ImportError as exc:  # Flask missing: MissingDependencyError says what to install
        _err(str(exc))
        return 2
    except (OSError, ValueError) as exc:
        _err(str(exc))
        return 2

    from werkzeug.serving import make_server
    try:
        server = make_server(args.host, args.port, app, threaded=True)
    except SystemExit:  # werkzeug's own exit on a socket that was free a moment ago
        _err(f"cannot listen on {args.host}:{args.port}")
        return 1
    except OSError as exc:
        from .cli import listen_error
        _err(listen_error(args.host, args.port, exc))
        return 1
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"serving on http://{shown}:{server.server_port}/  (training curves: /train; "
          f"Ctrl-C stops)", file=sys.stderr)
    if not _is_loopback(args.host):
        print("warning: this server is reachable from other machines and has no "
              "password; anyone who can reach it can use it", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0


# -- registration ---------------------------------------------------------------------
def _port(text):
    from .cli import port_number  # one check for `serve` and `train --serve`
    return port_number(text)


def _threads(text):
    from .cli import threads_option
    return threads_option(text)


def _non_negative(text):
    from .cli import non_negative_int  # the command's own number types, one of each
    return non_negative_int(text)


def _positive(text):
    from .cli import positive_int
    return positive_int(text)


def register(subparsers):
    """Add the graph, plot and serve subcommands to an argparse subparsers object."""
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
    p.set_defaults(func=cmd_graph)

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
    k.add_argument("--seed", type=_non_negative, default=0, help="random seed (default: 0)")

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
        k.add_argument("--limit", type=_positive, metavar="N", help="use the first N test images")
        if name == "mistakes":
            k.add_argument("-k", "--count", type=_positive, default=16, metavar="K",
                           help="how many images (default: 16)")
    for k in kinds.choices.values():
        k.add_argument("-o", "--output", required=True, metavar="FILE.png",
                       help="where to save the picture (.png, .svg or .pdf)")
        k.set_defaults(func=cmd_plot)

    p = subparsers.add_parser(
        "serve", help="a local web page: draw a digit, see the prediction; training curves",
        description="Serve a page where you draw a digit and watch the network classify "
                    "it, with class probabilities and hidden activations; say which digit "
                    "it really is to see the gradients and let the network learn from it "
                    "(on an in-memory copy, never the file); /apple has the book's apple "
                    "graph, and /train training curves. Without MODEL, a TwoLayerNet is "
                    "trained on the bundled digits first (a few seconds). Needs Flask "
                    "(pip install 'chainrule[web]').")
    p.add_argument("model", nargs="?", metavar="MODEL.npz", help="a saved model (optional)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=_port, default=8000, help="port (default: 8000; 0: any free)")
    p.add_argument("--epochs", type=_positive, default=8,
                   help="epochs for the model trained at start without MODEL (default: 8)")
    p.add_argument("--threads", type=_threads, default="auto", metavar="N|auto",
                   help="BLAS threads (at most the cores this process may use)")
    p.add_argument("--max-sessions", type=_positive, default=32, metavar="N",
                   help="browsers that may each keep a learning copy of the network "
                        "('learn' on the page); the one used longest ago is dropped first "
                        "(default: 32)")
    p.add_argument("--session-memory", type=_positive, default=256, metavar="MB",
                   help="memory all learning copies may take together, in MiB (default: 256)")
    p.set_defaults(func=cmd_serve)
