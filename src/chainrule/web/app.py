"""The web app: draw a digit, watch the network read it; watch training live.

Pages (static files from this package's ``static`` folder, nothing from elsewhere):
  GET  /              the drawing page
  GET  /train         live training curves
JSON API:
  POST /predict       {"pixels": [...]} -> {"probabilities", "prediction", "hidden", ...}
  GET  /api/model     what model answers, and where it came from
  GET  /api/metrics   training progress (?since=N: only losses after the first N)

Safety, because a server is a door: it binds 127.0.0.1 unless told otherwise; request
bodies larger than MAX_REQUEST_BYTES are refused with 413 before they are read;
every malformed request gets a 400 with a JSON error and changes nothing; no request
names a file, except static files, which Flask serves only from the static folder.
"""

import os
import threading
import time

import numpy as np

from .drawing import DrawingError, drawing_to_mnist, parse_drawing
from .metrics import LiveMetrics

try:
    import flask
    from werkzeug.exceptions import HTTPException
except ImportError:  # the "web" extra is not installed
    flask = None

__all__ = ["create_app", "start_server_in_thread", "train_default_model", "ModelHost",
           "MAX_REQUEST_BYTES", "STATIC_DIR"]

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")

# A 512x512 drawing written as JSON with three decimals is about 1.5 MB; the page
# sends 112x112 (well under 100 kB).
MAX_REQUEST_BYTES = 2 * 1024 * 1024

# Layers whose output is "the hidden layer's activations" the page shows.
_ACTIVATIONS = ("Relu", "Sigmoid", "Tanh")
_MAX_HIDDEN_UNITS = 1024

DIGIT_NAMES = [str(k) for k in range(10)]


def _require_flask():
    if flask is None:
        from ..plot import MissingDependencyError
        raise MissingDependencyError("the web server needs Flask: pip install 'chainrule[web]'")


def _input_shape(model):
    if getattr(model, "input_shape", None):
        return tuple(int(d) for d in model.input_shape)
    config = getattr(model, "config", {}) or {}
    if "input_dim" in config:
        return tuple(int(d) for d in config["input_dim"])
    if "input_size" in config:
        return (int(config["input_size"]),)
    return (784,)


class ModelHost:
    """A model and what is known about it, answering predictions one at a time.

    Layers keep per-call state (their inputs, masks) for backward, so two requests must
    not run through the same layers at once: a lock makes them take turns. A LiveMetrics
    with a model supplies fresh copies of a model that is being trained elsewhere.
    """

    def __init__(self, model=None, *, metrics=None, info=None, class_names=None):
        self._model = model
        self.metrics = metrics
        self.info = dict(info or {})
        self.class_names = list(class_names) if class_names is not None else DIGIT_NAMES
        self.lock = threading.Lock()

    @property
    def model(self):
        if self._model is not None:
            return self._model
        if self.metrics is not None:
            return self.metrics.model_snapshot()
        return None

    def describe(self):
        model = self.model
        description = {"available": model is not None, "class_names": self.class_names}
        description.update(self.info)
        if model is None:
            return description
        description.update({
            "name": type(model).__name__,
            "config": _jsonable(getattr(model, "config", {})),
            "input_shape": list(_input_shape(model)),
            "layers": list(getattr(model, "layers", {}).keys()),
            "parameters": int(sum(np.size(p) for p in getattr(model, "params", {}).values())),
        })
        hidden = self._hidden_layer_name(model)
        if hidden is not None:
            description["hidden_layer"] = hidden
        return description

    def _hidden_layer_name(self, model):
        names = list(getattr(model, "layers", {}).keys())
        for name in names:
            if type(model.layers[name]).__name__ in _ACTIVATIONS:
                return name
        return None

    def predict(self, image28):
        """Class probabilities and first hidden activations for one (28, 28) digit."""
        model = self.model
        shape = _input_shape(model)
        if int(np.prod(shape)) != 28 * 28:
            raise DrawingError(f"this model takes inputs of shape {shape}, not 28x28 digits")
        x = image28.reshape((1,) + shape)
        hidden, hidden_name = None, None
        with self.lock:
            layers = getattr(model, "layers", None)
            if isinstance(layers, dict) and layers:
                # Walk the layers as predict does, to see the activations on the way.
                x = np.asarray(x, dtype=getattr(model, "dtype", np.float64))
                for name, layer in layers.items():
                    if getattr(layer, "has_train_mode", False):
                        x = layer.forward(x, False)
                    else:
                        x = layer.forward(x)
                    if (hidden is None and type(layer).__name__ in _ACTIVATIONS
                            and x.size <= _MAX_HIDDEN_UNITS):
                        hidden, hidden_name = np.array(x, dtype=np.float64).ravel(), name
                scores = x
            else:
                scores = model.predict(x)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        shifted = np.exp(scores - scores.max())
        probabilities = shifted / shifted.sum()
        return probabilities, hidden, hidden_name


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _rounded(array, digits=4):
    return [round(float(v), digits) for v in np.asarray(array).ravel()]


def create_app(model=None, *, metrics=None, info=None, class_names=None):
    """The Flask app serving the drawing page, the training page and the JSON API.

    model        the network that answers /predict (anything with predict(x); a
                 chainrule Network also shows its hidden layer), or None;
    metrics      a LiveMetrics for /train and /api/metrics; with no model, its model
                 copies answer /predict;
    info         facts for /api/model and the page, e.g. {"source": "trained at start
                 on mnist-10k", "accuracy": 0.93};
    class_names  names of the 10 classes (default the digits).
    """
    _require_flask()
    metrics = metrics if metrics is not None else LiveMetrics()
    host = ModelHost(model, metrics=metrics, info=info, class_names=class_names)
    app = flask.Flask(__name__, static_folder=STATIC_DIR, static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    app.json.sort_keys = False
    app.extensions["chainrule"] = host

    def error(status, message):
        response = flask.jsonify({"error": message})
        response.status_code = status
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc):
        return error(exc.code or 500, exc.description or exc.name)

    @app.after_request
    def security_headers(response):
        # Everything the pages use comes from this server; nothing else may load.
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @app.get("/")
    def index():
        return app.send_static_file("index.html")

    @app.get("/train")
    def train_page():
        return app.send_static_file("train.html")

    @app.get("/favicon.ico")
    def favicon():
        return "", 204  # no icon; saves the browser's log a 404

    @app.get("/api/model")
    def model_info():
        return flask.jsonify(host.describe())

    @app.get("/api/metrics")
    def live_metrics():
        since = flask.request.args.get("since", "0")
        if not since.isdigit() or len(since) > 9:
            return error(400, "since must be a non-negative integer")
        return flask.jsonify(metrics.snapshot(int(since)))

    @app.post("/predict")
    @app.post("/api/predict")
    def predict():
        # get_data checks the declared length against MAX_CONTENT_LENGTH first and
        # answers 413 without reading a byte of an oversized body.
        raw = flask.request.get_data(cache=False)
        try:
            payload = flask.json.loads(raw)
        except ValueError:
            return error(400, "the request body is not valid JSON")
        try:
            image = parse_drawing(payload)
            preprocessed = isinstance(payload, dict) and payload.get("preprocessed") is True
            if preprocessed:
                if image.shape != (28, 28):
                    raise DrawingError("a preprocessed digit must be 28x28")
                digit = image
            else:
                digit = drawing_to_mnist(image)
        except DrawingError as exc:
            return error(400, str(exc))
        if host.model is None:
            return error(503, "no model is loaded yet")
        started = time.perf_counter()
        try:
            probabilities, hidden, hidden_name = host.predict(digit)
        except DrawingError as exc:
            return error(400, str(exc))
        answer = {
            "probabilities": _rounded(probabilities, 6),
            "prediction": int(np.argmax(probabilities)),
            "label": host.class_names[int(np.argmax(probabilities))]
            if len(host.class_names) == len(probabilities) else str(int(np.argmax(probabilities))),
            "hidden": _rounded(hidden) if hidden is not None else [],
            "hidden_layer": hidden_name,
            "input": _rounded(digit, 3),
            "empty": bool(digit.max() == 0),
            "milliseconds": round(1000 * (time.perf_counter() - started), 2),
        }
        return flask.jsonify(answer)

    return app


def start_server_in_thread(app_or_state=None, host="127.0.0.1", port=0):
    """Serve in a background thread; returns the running werkzeug server.

    app_or_state  a Flask app from create_app, a LiveMetrics (served with create_app(
                  metrics=...)), a model (create_app(model)), or None;
    port          0 picks a free port: read it from ``server.server_port``.
    The server has ``url`` and ``thread`` attributes; stop it with ``server.shutdown()``
    (the thread is a daemon, so it never keeps the program alive on its own).
    Used by ``chainrule train --serve`` to show training live while it runs.
    """
    _require_flask()
    from werkzeug.serving import make_server
    if isinstance(app_or_state, flask.Flask):
        app = app_or_state
    elif isinstance(app_or_state, LiveMetrics):
        app = create_app(metrics=app_or_state)
    else:
        app = create_app(app_or_state)
    server = make_server(host, port, app, threaded=True)
    shown = f"[{host}]" if ":" in host else host
    server.url = f"http://{shown}:{server.server_port}/"
    server.thread = threading.Thread(target=server.serve_forever, name="chainrule-web",
                                     daemon=True)
    server.thread.start()
    return server


def train_default_model(metrics=None, *, epochs=8, hidden_size=100, lr=0.1, batch_size=100,
                        seed=0, dataset="mnist-10k"):
    """A TwoLayerNet trained for a few seconds on the digits bundled with chainrule.

    Used by ``chainrule serve`` when no model file is given. mnist-10k is the real
    MNIST test set shipped in the package, split 8,000 / 2,000; plain SGD for `epochs`
    passes reaches about 93% on the held-out 2,000 in about two seconds. Progress goes
    to `metrics` (a LiveMetrics), so the /train page shows this run too.
    Returns (model, info) where info says what was done, for the page.
    """
    from ..datasets import load_dataset
    from ..models import TwoLayerNet
    (x_train, t_train), (x_test, t_test) = load_dataset(dataset)
    rng = np.random.default_rng(seed)
    model = TwoLayerNet(784, hidden_size, 10, rng=rng)
    started = time.perf_counter()
    if metrics is not None:
        metrics.on_train_begin({"model": f"TwoLayerNet(784, {hidden_size}, 10)",
                                "dataset": dataset, "optimizer": f"SGD(lr={lr})"})
    iteration = 0
    n = len(x_train)
    for epoch in range(1, epochs + 1):
        order = rng.permutation(n)
        losses = []
        for start in range(0, n, batch_size):
            batch = order[start:start + batch_size]
            grads = model.gradient(x_train[batch], t_train[batch])
            for name, grad in grads.items():
                model.params[name] -= lr * grad
            iteration += 1
            losses.append(model.last_loss)
            if metrics is not None:
                metrics.on_iteration_end(iteration, model.last_loss)
        if metrics is not None:
            metrics.on_epoch_end({
                "epoch": epoch, "iteration": iteration, "loss": float(np.mean(losses)),
                "train_acc": model.accuracy(x_train, t_train),
                "test_acc": model.accuracy(x_test, t_test),
                "elapsed": time.perf_counter() - started})
    if metrics is not None:
        metrics.on_train_end()
    accuracy = model.accuracy(x_test, t_test)
    seconds = time.perf_counter() - started
    info = {"source": (f"no model file given: trained a TwoLayerNet(784, {hidden_size}, 10) "
                       f"at start for {seconds:.1f} s ({epochs} epochs of SGD) on {n:,} "
                       f"bundled MNIST digits"),
            "accuracy": round(float(accuracy), 4),
            "accuracy_on": f"{len(x_test):,} held-out digits"}
    return model, info

