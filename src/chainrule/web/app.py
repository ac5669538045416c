"""The web app: draw a digit, watch the network read it; watch training live.

Pages (static files from this package's ``static`` folder, nothing from elsewhere):
  GET  /              the drawing page; for a language model, the attention page
  GET  /train         live training curves
  GET  /apple         the book's figure 5-17 with inputs to edit
JSON API:
  POST /predict       {"pixels": [...], "session"?} -> {"probabilities", "prediction",
                      "hidden", ...}
  POST /api/backprop  {"pixels", "label", "session"?} -> the prediction and one backward
                      pass in inference mode: dL/dx, per-layer gradient norms, the
                      first layer's weights and their gradients (see .backward)
  POST /api/learn     {"pixels", "label", "session"?, "lr"?} -> one SGD step on this
                      browser's own copy of the network, then as /api/backprop, plus
                      "session" (the id to send from now on), "steps" and "before"
  POST /api/reset     {"session"} -> drops that copy: the loaded weights answer again
  GET|POST /api/apple the apple graph's values and derivatives ({"apple": 100, ...})
  GET  /api/model     what model answers, where it came from, its layer graph
  GET  /api/metrics   training progress (?since=N: only losses after the first N)
  POST /api/next      {"prompt"} -> a language model's next-character probabilities and
                      its attention weights over the prompt (see .language)
  POST /api/sample    {"prompt", "temperature"?, "top_k"?, "seed"?} -> one character
                      drawn for the next position, the prompt with it, and as /api/next
                      for that prompt

Safety, because a server is a door: it binds 127.0.0.1 unless told otherwise; request
bodies larger than MAX_REQUEST_BYTES are refused with 413 before they are read, and
bodies nested deeper than MAX_DEPTH with 400 before they are parsed; every malformed
request gets a 4xx with a JSON error and changes nothing; learning sessions are capped
in number and bytes (see .sessions); no request names a file, except static files,
which Flask serves only from the static folder. The loaded network is never changed,
and no file is ever written.
"""

import contextlib
import os
import threading
import time

import numpy as np

from .apple import AppleError, apple_graph, parse_apple_inputs
from .backward import backward_view, graph_view
from .bodies import BodyError, parse_json_body
from .drawing import DrawingError, drawing_to_mnist, parse_drawing, resize_area, shown
from .language import LanguageModel, PromptError
from ..registry import describe
from .metrics import LiveMetrics
from .sessions import (MAX_SESSION_BYTES, MAX_SESSIONS, SessionError, SessionStore,
                       UnknownSession, check_session_id)

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

_MAX_HIDDEN_UNITS = 1024

DIGIT_NAMES = [str(k) for k in range(10)]

#: the learning rate of "learn" when the request gives none, and the largest accepted.
#: One step on one drawing at 0.1 turned a trained TwoLayerNet's 98% "7" into a 99.5%
#: "9": small enough steps let a person watch the probabilities move.
LEARN_LR = 0.01
MAX_LEARN_LR = 10.0


class RequestError(ValueError):
    """Something in a request's body that the server cannot use; status and message."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


def _require_flask():
    if flask is None:
        from ..plot import MissingDependencyError
        raise MissingDependencyError("the web server needs Flask: pip install 'chainrule[web]'")


def _input_shape(model):
    shape = getattr(model, "input_shape", None)
    if isinstance(shape, (tuple, list)) and shape:
        return tuple(int(d) for d in shape)
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

    def __init__(self, model=None, *, metrics=None, info=None, class_names=None,
                 sessions=None):
        self._model = model
        # A network that reads characters is served by the attention page, not the
        # drawing page; one that reads tokens but cannot be served is refused here.
        self.language = LanguageModel.of(model) if model is not None else None
        self.metrics = metrics
        self.info = dict(info or {})
        self.class_names = list(class_names) if class_names is not None else DIGIT_NAMES
        self.lock = threading.Lock()
        self.sessions = sessions if sessions is not None else SessionStore()

    def target(self, session_id=None):
        """(model, lock, session) that a request with this session id runs on.

        No session: the loaded model under the host's lock. A session: its own copy
        under its own lock (UnknownSession if it is not held, e.g. dropped).
        """
        if session_id is None:
            return self.model, self.lock, None
        session = self.sessions.get(session_id)
        return session.model, session.lock, session

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
        if self.language is not None:
            description["language"] = self.language.describe()
            return description
        hidden = self._hidden_layer_name(model)
        if hidden is not None:
            description["hidden_layer"] = hidden
        description["backprop"] = hasattr(model, "backprop")
        if isinstance(getattr(model, "layers", None), dict) and model.layers:
            try:
                with self.lock:
                    description["graph"] = graph_view(model, _input_shape(model))
            except (ValueError, TypeError) as exc:  # shapes a layer cannot take
                description["graph_error"] = str(exc)
        stats = self.sessions.stats()
        description["learning"] = {"optimizer": "SGD", "lr": LEARN_LR,
                                   "max_lr": MAX_LEARN_LR,
                                   "max_sessions": stats["max_sessions"],
                                   "max_bytes": stats["max_bytes"]}
        return description

    def _hidden_layer_name(self, model):
        names = list(getattr(model, "layers", {}).keys())
        for name in names:
            if describe(model.layers[name]).is_activation:
                return name
        return None

    def sample(self, model, image28):
        """One (28, 28) digit as a batch of one in the model's input shape."""
        shape = _input_shape(model)
        if int(np.prod(shape)) != 28 * 28:
            raise DrawingError(f"this model takes inputs of shape {shape}, not 28x28 digits")
        return image28.reshape((1,) + shape)

    def predict(self, image28, model=None, lock=None):
        """Class probabilities and first hidden activations for one (28, 28) digit.

        model and lock: a session's copy and its lock (default: the loaded model).
        """
        if model is None:
            model, lock = self.model, self.lock
        x = self.sample(model, image28)
        hidden, hidden_name = None, None
        with lock:
            layers = getattr(model, "layers", None)
            if isinstance(layers, dict) and layers:
                # Walk the layers as predict does, to see the activations on the way.
                x = np.asarray(x, dtype=getattr(model, "dtype", np.float64))
                for name, layer in layers.items():
                    if getattr(layer, "has_train_mode", False):
                        x = layer.forward(x, False)
                    else:
                        x = layer.forward(x)
                    if (hidden is None and describe(layer).is_activation
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


def _softmax_scores(model, x):
    """(probabilities, scores) of one sample, in inference mode."""
    scores = np.asarray(model.predict(x, train_flg=False), dtype=np.float64).reshape(-1)
    shifted = np.exp(scores - scores.max())
    return shifted / shifted.sum(), scores


def _rounded(array, digits=4):
    return [round(float(v), digits) for v in np.asarray(array).ravel()]


def _label(payload, classes):
    label = payload.get("label")
    # bool is an int subclass, and 3.0 is not a class index.
    if type(label) is not int:
        raise RequestError(f'"label" must be an integer class index 0..{classes - 1}, '
                           f"got {type(label).__name__ if label is not None else 'nothing'}")
    if not 0 <= label < classes:
        raise RequestError(f'"label" must be a class index 0..{classes - 1}, '
                           f"got {shown(label)}")
    return label


def _session_id(payload, required=False):
    if not isinstance(payload, dict):
        raise RequestError('the request body must be a JSON object like {"session": "..."}')
    value = payload.get("session")
    if value is None:
        if required:
            raise RequestError('"session" is missing: which session to reset?')
        return None
    try:
        return check_session_id(value)
    except SessionError as exc:
        raise RequestError(str(exc)) from None


def _learning_rate(payload):
    lr = payload.get("lr", LEARN_LR)
    if type(lr) not in (int, float) or not (0 < lr <= MAX_LEARN_LR):
        raise RequestError(f'"lr" must be a number in (0, {MAX_LEARN_LR:g}], '
                           f"got {shown(lr)}")
    return float(lr)


def _digit(payload, inputs=None):
    """The posted drawing as a (28, 28) input (DrawingError if unusable), made as the
    model's inputs were (`inputs`, its record): as MNIST's digits (a 20x20 box centred
    by mass) for a model of digits or one that does not say, else the whole drawing
    resized to 28x28 (a Fashion-MNIST model's pictures fill the field)."""
    image = parse_drawing(payload)
    if payload.get("preprocessed") is True:
        if image.shape != (28, 28):
            raise DrawingError("a preprocessed digit must be 28x28")
        return image
    if inputs is None or inputs.get("fit") == "digit":
        return drawing_to_mnist(image)
    return resize_area(image, 28, 28)


def create_app(model=None, *, metrics=None, info=None, class_names=None, inputs=None,
               max_sessions=MAX_SESSIONS, max_session_bytes=MAX_SESSION_BYTES):
    """The Flask app serving the drawing page, the training page and the JSON API.

    model        the network that answers /predict (anything with predict(x); a
                 chainrule Network also shows its hidden layer), or None;
    metrics      a LiveMetrics for /train and /api/metrics; with no model, its model
                 copies answer /predict;
    info         facts for /api/model and the page, e.g. {"source": "trained at start
                 on mnist-10k", "accuracy": 0.93};
    class_names  names of the 10 classes (default the digits);
    inputs       the record of how the model's inputs were made (network.inputs, see
                 chainrule.datasets.inputs): drawings are prepared as it says
                 (default: as MNIST's digits were made);
    max_sessions, max_session_bytes
                 caps on the learning sessions ("learn" on the drawing page): how many
                 browsers' copies of the network are kept, and how many bytes of
                 arrays they may hold in all; the session used longest ago goes first.
    """
    _require_flask()
    metrics = metrics if metrics is not None else LiveMetrics()
    host = ModelHost(model, metrics=metrics, info=info, class_names=class_names,
                     sessions=SessionStore(max_sessions, max_session_bytes))
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
        if host.language is not None:
            return app.send_static_file("attention.html")
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

    @app.get("/apple")
    def apple_page():
        return app.send_static_file("apple.html")

    def body():
        """The request's JSON value; RequestError for a broken or hostile body."""
        # get_data checks the declared length against MAX_CONTENT_LENGTH first and
        # answers 413 without reading a byte of an oversized body.
        raw = flask.request.get_data(cache=False)
        try:
            return parse_json_body(raw)
        except BodyError as exc:
            raise RequestError(str(exc)) from None

    @app.errorhandler(RequestError)
    def request_error(exc):
        return error(exc.status, str(exc))

    @app.errorhandler(DrawingError)
    def drawing_error(exc):
        return error(400, str(exc))

    @app.errorhandler(UnknownSession)
    def unknown_session(exc):
        return error(404, exc.args[0])

    def drawing_request(payload):
        """(digit, session id) from a drawing request, checked; 503 without a model."""
        digit = _digit(payload, inputs)
        session_id = _session_id(payload)
        if host.model is None:
            raise RequestError("no model is loaded yet", 503)
        return digit, session_id

    def predict_answer(digit, probabilities, hidden, hidden_name):
        best = int(np.argmax(probabilities))
        return {
            "probabilities": _rounded(probabilities, 6),
            "prediction": best,
            "label": host.class_names[best]
            if len(host.class_names) == len(probabilities) else str(best),
            "hidden": _rounded(hidden) if hidden is not None else [],
            "hidden_layer": hidden_name,
            "input": _rounded(digit, 3),
            "empty": bool(digit.max() == 0),
        }

    @app.post("/predict")
    @app.post("/api/predict")
    def predict():
        payload = body()
        digit, session_id = drawing_request(payload)
        model, lock, _ = host.target(session_id)
        started = time.perf_counter()
        probabilities, hidden, hidden_name = host.predict(digit, model, lock)
        answer = predict_answer(digit, probabilities, hidden, hidden_name)
        answer["milliseconds"] = round(1000 * (time.perf_counter() - started), 2)
        return flask.jsonify(answer)

    def backward_answer(model, digit, label):
        """The prediction and one backward pass; the caller holds the model's lock."""
        if not hasattr(model, "backprop"):
            raise RequestError(f"this model ({type(model).__name__}) has no backprop()",
                               501)
        probabilities, hidden, hidden_name = host.predict(digit, model, contextlib.nullcontext())
        answer = predict_answer(digit, probabilities, hidden, hidden_name)
        view, _ = backward_view(model, host.sample(model, digit), label, _input_shape(model))
        # The prediction's fields stay those of /predict, rounded as /predict rounds
        # them, so that the page shows the same numbers whichever answered.
        view["chosen"] = view.pop("label")
        view.pop("probabilities")
        view.pop("prediction")
        answer.update(view)
        return answer

    def label_of(payload, model):
        # The network's own number of classes decides, whatever names the page shows.
        try:
            classes = int(model.output_size)
        except (AttributeError, TypeError, ValueError, KeyError):
            classes = len(host.class_names)
        return _label(payload, classes)

    @app.post("/api/backprop")
    def backprop():
        payload = body()
        digit, session_id = drawing_request(payload)
        model, lock, session = host.target(session_id)
        label = label_of(payload, model)
        started = time.perf_counter()
        with lock:
            answer = backward_answer(model, digit, label)
        answer["session"] = session_id
        answer["steps"] = session.steps if session is not None else 0
        answer["milliseconds"] = round(1000 * (time.perf_counter() - started), 2)
        return flask.jsonify(answer)

    @app.post("/api/learn")
    def learn():
        payload = body()
        digit, session_id = drawing_request(payload)
        label = label_of(payload, host.model)
        lr = _learning_rate(payload)
        started = time.perf_counter()
        if session_id is None:
            if not hasattr(host.model, "backprop"):
                raise RequestError(f"this model ({type(host.model).__name__}) has no "
                                   f"backprop()", 501)
            from ..optimizers import SGD
            try:
                session = host.sessions.create(host.model, host.lock, SGD(lr))
            except MemoryError as exc:
                raise RequestError(str(exc), 507) from None
        else:
            session = host.sessions.get(session_id)
        model = session.model
        # The step and the answer in one turn, so that the answer is of this step.
        with session.lock:
            x = host.sample(model, digit)
            before, _ = _softmax_scores(model, x)
            result = model.backprop(x, np.array([label]), train_flg=False)
            session.optimizer.lr = lr
            session.optimizer.update(model.params, result["grads"])
            session.steps += 1
            steps = session.steps
            answer = backward_answer(model, digit, label)
        host.sessions.remeasure(session)
        answer.update({"session": session.id, "steps": steps, "lr": lr,
                       "before": _rounded(before, 6), "loss_before": round(result["loss"], 6)})
        answer["milliseconds"] = round(1000 * (time.perf_counter() - started), 2)
        return flask.jsonify(answer)

    @app.post("/api/reset")
    def reset():
        payload = body()
        session_id = _session_id(payload, required=True)
        host.sessions.drop(session_id)
        return flask.jsonify({"reset": True, "session": None})

    @app.errorhandler(PromptError)
    def prompt_error(exc):
        return error(400, str(exc))

    def language_model():
        if host.language is None:
            raise RequestError("this server's model is not a language model: it has no "
                               "next character to predict", 404)
        return host.language

    @app.post("/api/next")
    def next_token():
        language = language_model()
        ids = language.prompt_ids(body())
        started = time.perf_counter()
        with host.lock:
            answer = language.read(ids)
        answer["milliseconds"] = round(1000 * (time.perf_counter() - started), 2)
        return flask.jsonify(answer)

    @app.post("/api/sample")
    def sample_next():
        language = language_model()
        payload = body()
        ids = language.prompt_ids(payload)
        temperature, top_k, seed = language.sampling(payload)
        started = time.perf_counter()
        with host.lock:
            token, p, longer = language.sample(ids, temperature, top_k, seed)
            answer = {"sampled": {"id": token, "token": language.vocab.tokens[token], "p": p},
                      "prompt": language.vocab.decode(longer),
                      "dropped": int(len(ids) + 1 - len(longer))}
            answer.update(language.read(longer))
        answer["milliseconds"] = round(1000 * (time.perf_counter() - started), 2)
        return flask.jsonify(answer)

    @app.route("/api/apple", methods=["GET", "POST"])
    def apple():
        if flask.request.method == "GET":
            if flask.request.args:
                raise RequestError(f"GET /api/apple takes no query (got "
                                   f"{', '.join(sorted(flask.request.args))}); POST the "
                                   f"inputs as JSON to change them")
            return flask.jsonify(apple_graph())
        try:
            inputs = parse_apple_inputs(body())
        except AppleError as exc:
            raise RequestError(str(exc)) from None
        return flask.jsonify(apple_graph(inputs))

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

