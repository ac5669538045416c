"""The web server (chainrule.web): its JSON API, its limits, and the drawing conversion.

Most tests use Flask's test client (no sockets). Two use a real server on 127.0.0.1
with port 0, because only a real socket shows that an oversized body is refused
*before* it is sent, and that start_server_in_thread really serves.
"""

import json
import math
import os
import re
import socket
import urllib.request

import numpy as np
import pytest

from chainrule.models import TwoLayerNet
from chainrule.web import drawing_to_mnist, parse_drawing, resize_area
from chainrule.web.drawing import DrawingError
from chainrule.web.metrics import LiveMetrics

flask = pytest.importorskip("flask", reason="Flask is not installed (chainrule[web])")
from chainrule.web import (MAX_REQUEST_BYTES, STATIC_DIR, create_app,  # noqa: E402
                           start_server_in_thread)


@pytest.fixture
def model():
    return TwoLayerNet(784, 20, 10, weight_init_std=0.1, rng=0)


@pytest.fixture
def client(model):
    return create_app(model, info={"source": "a test"}).test_client()


def a_digit_one(side=112):
    """A vertical bar: what a person draws for 1."""
    image = np.zeros((side, side))
    image[side // 6: side - side // 6, side // 2 - side // 16: side // 2 + side // 16] = 1.0
    return image


def post(client, payload, **kw):
    return client.post("/predict", data=json.dumps(payload), content_type="application/json", **kw)


# -- predict ----------------------------------------------------------------------------
def test_predict_returns_ten_probabilities(client, model):
    image = a_digit_one()
    r = post(client, {"pixels": image.ravel().tolist(), "width": 112, "height": 112})
    assert r.status_code == 200, r.get_json()
    answer = r.get_json()
    p = np.array(answer["probabilities"])
    assert p.shape == (10,) and np.all(p >= 0) and abs(p.sum() - 1) < 1e-4
    assert answer["prediction"] == int(p.argmax()) and answer["label"] == str(answer["prediction"])
    assert len(answer["hidden"]) == 20 and answer["hidden_layer"] == "Relu1"
    assert min(answer["hidden"]) >= 0           # ReLU outputs
    assert len(answer["input"]) == 784 and not answer["empty"]
    # The server's answer is the model's own prediction for the converted digit.
    digit = drawing_to_mnist(image).reshape(1, 784)
    scores = model.predict(digit)[0]
    expected = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
    np.testing.assert_allclose(p, expected, atol=1e-6)


def test_predict_accepts_28x28_rows_and_preprocessed_digits(client, model):
    image = drawing_to_mnist(a_digit_one())
    r1 = post(client, {"pixels": image.tolist()})
    r2 = post(client, {"pixels": image.ravel().tolist(), "preprocessed": True})
    assert r1.status_code == r2.status_code == 200
    np.testing.assert_allclose(r1.get_json()["probabilities"], r2.get_json()["probabilities"],
                               atol=1e-5)
    r = post(client, {"pixels": np.zeros(100).tolist(), "preprocessed": True})
    assert r.status_code == 400 and "28x28" in r.get_json()["error"]


def test_an_empty_drawing_is_answered_and_marked(client):
    r = post(client, {"pixels": [0.0] * 784})
    assert r.status_code == 200 and r.get_json()["empty"] is True


BAD_BODIES = [
    ("{not json", "not valid JSON"),
    ("[1, 2, 3]", "JSON object"),
    ('{"pixels": "abc"}', "list"),
    ('{"pixels": []}', "list"),
    ('{"pixels": [' + ", ".join(["0.5"] * 783) + "]}", "square"),
    ('{"pixels": [' + ", ".join(["0.5"] * 783) + ', NaN]}', "finite"),
    ('{"pixels": [' + ", ".join(["0.5"] * 783) + ', Infinity]}', "finite"),
    ('{"pixels": [' + ", ".join(["0.5"] * 783) + ", 1.5]}", "between 0"),
    ('{"pixels": [' + ", ".join(["0.5"] * 783) + ", -0.1]}", "between 0"),
    ('{"pixels": [' + ", ".join(["0.5"] * 783) + ', "0.5"]}', "number"),
    ('{"pixels": [' + ", ".join(["0.5"] * 783) + ", true]}", "number"),
    ('{"pixels": [[0.5, 0.5], [0.5]]}', "same length"),
    ('{"pixels": [0.5, 0.5, 0.5, 0.5, 0.5, 0.5], "width": 4, "height": 2}', "do not make"),
    ('{"pixels": [0.5, 0.5], "width": 2, "height": 1.0}', "integer"),
    ('{"pixels": [0.5], "width": 100000, "height": 1}', "integer"),
]


@pytest.mark.parametrize("body,message", BAD_BODIES)
def test_bad_requests_get_400_with_a_json_error(client, body, message):
    r = client.post("/predict", data=body, content_type="application/json")
    assert r.status_code == 400
    assert message in r.get_json()["error"]


def test_the_server_keeps_serving_after_bad_requests(client):
    for body, _ in BAD_BODIES:
        client.post("/predict", data=body, content_type="application/json")
    client.post("/predict", data=b"\xff\xfe\x00garbage", content_type="application/json")
    r = post(client, {"pixels": a_digit_one(28).tolist()})
    assert r.status_code == 200 and len(r.get_json()["probabilities"]) == 10


def test_oversized_bodies_get_413(client):
    assert create_app(None).config["MAX_CONTENT_LENGTH"] == MAX_REQUEST_BYTES
    # (A declared length larger than the body sent is tested over a real socket below:
    # the test client always declares the true length.)
    big = b'{"pixels": [' + b"0," * (MAX_REQUEST_BYTES // 2) + b"0]}"
    r = client.post("/predict", data=big, content_type="application/json")
    assert r.status_code == 413 and "error" in r.get_json()


def test_too_many_pixels_are_refused_even_under_the_byte_limit(client):
    r = post(client, {"pixels": [0] * (600 * 600)})
    assert r.status_code in (400, 413)


def test_wrong_method_and_unknown_paths_are_json_errors(client):
    r = client.get("/predict")
    assert r.status_code == 405 and "error" in r.get_json()
    r = client.get("/nothing-here")
    assert r.status_code == 404 and "error" in r.get_json()


def test_no_model_gives_503(model):
    r = post(create_app(None).test_client(), {"pixels": [0.0] * 784})
    assert r.status_code == 503 and "no model" in r.get_json()["error"]


def test_a_model_with_other_inputs_is_refused_politely():
    small = TwoLayerNet(16, 4, 10, rng=0)
    r = post(create_app(small).test_client(), {"pixels": [0.5] * 784})
    assert r.status_code == 400 and "28x28" in r.get_json()["error"]


# -- files ------------------------------------------------------------------------------
TRAVERSALS = [
    "/static/../../etc/passwd",
    "/static/..%2f..%2f..%2fetc%2fpasswd",
    "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/static/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/static/..\\..\\..\\etc\\passwd",
    "/static/%252e%252e/%252e%252e/etc/passwd",
    "/static//etc/passwd",
    "/static/../web/app.py",
    "/static/..%2fapp.py",
    "/static/%2e%2e/app.py",
    "/../../etc/passwd",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_gets_404(client, path):
    # (Werkzeug answers "//" with a redirect to the merged path; follow it.)
    r = client.get(path, follow_redirects=True)
    assert r.status_code == 404
    assert b"root:" not in r.data and b"import flask" not in r.data


def test_path_traversal_over_a_real_socket(model):
    # The test client may normalise paths; a raw request line is sent as typed.
    server = start_server_in_thread(create_app(model), port=0)
    try:
        for path in TRAVERSALS:
            with socket.create_connection(("127.0.0.1", server.server_port), timeout=5) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
                reply = b""
                while chunk := s.recv(65536):
                    reply += chunk
            status = int(reply.split(b" ", 2)[1])
            if status == 308:   # "//" merged into "/": the target must stay in /static/
                location = re.search(rb"\r\nLocation: ([^\r]*)", reply).group(1)
                assert re.match(rb"(http://[^/]+)?/static/", location), location
                continue
            assert status in (400, 404), (path, reply[:100])
            assert b"root:" not in reply and b"import flask" not in reply
    finally:
        server.shutdown()
        server.server_close()


def test_pages_and_assets_are_served_and_all_local(client):
    page = client.get("/")
    assert page.status_code == 200 and b'<canvas id="pad"' in page.data
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    train = client.get("/train")
    assert train.status_code == 200 and b"loss-chart" in train.data
    for name in sorted(os.listdir(STATIC_DIR)):
        text = (client.get("/static/" + name).data).decode("utf-8")
        # No CDN, no remote font: the only URL allowed is SVG's namespace name.
        urls = [u for u in re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}", text)
                if u != "http://www.w3.org"]
        assert urls == [], (name, urls)
        assert "@import" not in text and "@font-face" not in text
    for ref in re.findall(rb'(?:src|href)="([^"]+)"', page.data + train.data):
        assert ref.startswith(b"/"), ref
        assert client.get(ref.decode()).status_code == 200, ref


def test_model_description(client):
    info = client.get("/api/model").get_json()
    assert info["available"] and info["name"] == "TwoLayerNet"
    assert info["input_shape"] == [784] and info["hidden_layer"] == "Relu1"
    assert info["source"] == "a test" and info["class_names"][9] == "9"
    assert info["parameters"] == 784 * 20 + 20 + 20 * 10 + 10


# -- live metrics -----------------------------------------------------------------------
def test_live_metrics_api():
    metrics = LiveMetrics(info={"model": "TwoLayerNet"})
    client = create_app(metrics=metrics).test_client()
    assert client.get("/api/metrics").get_json()["status"] == "waiting"
    for i in range(1, 6):
        metrics.on_iteration_end(i, 2.0 / i)
    metrics.on_iteration_end(6, float("nan"))
    metrics.on_epoch_end({"epoch": 1, "iteration": 6, "loss": 0.9, "train_acc": 0.8,
                          "test_acc": 0.75, "elapsed": 1.5, "extra": "ignored"})
    data = client.get("/api/metrics").get_json()
    assert data["status"] == "training" and data["count"] == 6
    assert data["iterations"] == [1, 2, 3, 4, 5, 6]
    assert data["loss"][:2] == [2.0, 1.0] and data["loss"][5] is None   # NaN -> null
    assert data["epochs"] == [{"epoch": 1, "iteration": 6, "loss": 0.9, "train_acc": 0.8,
                               "test_acc": 0.75, "elapsed": 1.5}]
    assert data["info"] == {"model": "TwoLayerNet"}
    tail = client.get("/api/metrics?since=4").get_json()
    assert tail["iterations"] == [5, 6] and tail["since"] == 4
    assert client.get("/api/metrics?since=-1").status_code == 400
    assert client.get("/api/metrics?since=abc").status_code == 400
    metrics.on_train_end()
    assert client.get("/api/metrics").get_json()["status"] == "done"


def test_live_metrics_serve_a_private_copy_of_the_model_being_trained(model):
    metrics = LiveMetrics(model=model)
    client = create_app(metrics=metrics).test_client()
    first = metrics.model_snapshot()
    assert first is not model and first.params["W1"] is not model.params["W1"]
    # Training changes the model; the server keeps the copy until the epoch ends.
    model.params["W2"][...] = 0.0
    model.params["b2"][...] = np.arange(10.0)
    image = {"pixels": a_digit_one(28).tolist()}
    assert post(client, image).get_json()["prediction"] != 9
    metrics.on_epoch_end({"epoch": 1, "iteration": 1, "loss": 1.0})
    assert metrics.model_snapshot() is not first
    assert post(client, image).get_json()["prediction"] == 9   # b2 decides now


def test_start_server_in_thread_serves_and_stops(model):
    metrics = LiveMetrics()
    metrics.on_iteration_end(1, 0.5)
    server = start_server_in_thread(metrics, host="127.0.0.1", port=0)
    try:
        assert server.server_port > 0 and server.url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(server.url + "api/metrics", timeout=5) as r:
            assert json.load(r)["loss"] == [0.5]
    finally:
        server.shutdown()
        server.server_close()
    server.thread.join(5)
    assert not server.thread.is_alive()


def test_oversized_body_over_a_real_socket_is_refused_before_it_is_sent(model):
    server = start_server_in_thread(model, port=0)
    try:
        with socket.create_connection(("127.0.0.1", server.server_port), timeout=5) as s:
            s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 1000000000\r\n\r\n{\"pixels\": [")
            # Only the header and a few bytes were sent: the answer must come anyway.
            reply = s.recv(65536)
        assert reply.startswith(b"HTTP/1.1 413"), reply[:80]
    finally:
        server.shutdown()
        server.server_close()


# -- the drawing conversion ---------------------------------------------------------------
def test_resize_area_averages_blocks():
    image = np.arange(16.0).reshape(4, 4)
    np.testing.assert_allclose(resize_area(image, 2, 2), [[2.5, 4.5], [10.5, 12.5]])
    # Any sizes: the mean brightness is kept.
    rng = np.random.default_rng(0)
    image = rng.random((37, 53))
    assert math.isclose(resize_area(image, 20, 11).mean(), image.mean(), rel_tol=1e-12)


def test_drawing_to_mnist_fits_20x20_and_centres_the_mass():
    image = np.zeros((200, 300))
    image[10:110, 200:250] = 1.0           # a tall block, off-centre, top right
    digit = drawing_to_mnist(image)
    assert digit.shape == (28, 28) and digit.max() == 1.0
    rows = np.flatnonzero(digit.max(axis=1) > 0)
    cols = np.flatnonzero(digit.max(axis=0) > 0)
    assert rows[-1] - rows[0] + 1 == 20 and cols[-1] - cols[0] + 1 == 10
    # The centre of mass lands where MNIST has it: row and column index 14.
    cy = (digit.sum(axis=1) * np.arange(28)).sum() / digit.sum()
    cx = (digit.sum(axis=0) * np.arange(28)).sum() / digit.sum()
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5
    assert np.array_equal(drawing_to_mnist(np.zeros((50, 50))), np.zeros((28, 28)))


def test_drawing_to_mnist_reproduces_real_mnist_digits():
    datasets = pytest.importorskip("chainrule.datasets")
    if not hasattr(datasets, "load_dataset"):
        pytest.skip("no load_dataset in this version")
    (_, _), (x, _) = datasets.load_dataset("mnist-10k")
    # A real digit drawn large (4x, as on the page's canvas) comes back as it was: same
    # size, same place. A half-pixel error in the centring would shift many by a pixel.
    for sample in x[:50]:
        digit = np.asarray(sample, dtype=np.float64).reshape(28, 28)
        again = drawing_to_mnist(np.kron(digit, np.ones((4, 4))))
        corr = np.corrcoef(digit.ravel(), again.ravel())[0, 1]
        assert corr > 0.999


def test_parse_drawing_shapes():
    assert parse_drawing({"pixels": [0.0] * 784}).shape == (28, 28)
    assert parse_drawing({"pixels": [0, 1] * 6, "width": 4, "height": 3}).shape == (3, 4)
    assert parse_drawing({"pixels": [[0, 1, 0]] * 2}).shape == (2, 3)
    with pytest.raises(DrawingError):
        parse_drawing({"pixels": [[0] * 600]})


def test_a_conv_net_is_fed_images_and_shows_its_first_small_hidden_layer():
    models = pytest.importorskip("chainrule.models")
    if "SimpleConvNet" not in models.MODELS:
        pytest.skip("SimpleConvNet not in this version")
    net = models.SimpleConvNet(conv_param={"filter_num": 4, "filter_size": 5, "pad": 0,
                                           "stride": 1}, hidden_size=12)
    client = create_app(net).test_client()
    assert client.get("/api/model").get_json()["input_shape"] == [1, 28, 28]
    answer = post(client, {"pixels": a_digit_one(56).tolist()}).get_json()
    # Relu1's 4x24x24 feature maps are too many squares to show; Relu2 (12 units) is.
    assert answer["hidden_layer"] == "Relu2" and len(answer["hidden"]) == 12
    assert abs(sum(answer["probabilities"]) - 1) < 1e-4
