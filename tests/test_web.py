"""The web server (chainrule.web): its JSON API, its limits, and the drawing conversion.

Most tests use Flask's test client (no sockets). Some use a real server on 127.0.0.1
with port 0, because only a real socket shows that an oversized body is refused
*before* it is sent, that start_server_in_thread really serves, and how the server
holds up under threads: the two load tests at the end (mixed valid, broken and hostile
bodies; many sessions learning at once under a memory cap) run a bounded number of
requests and fail rather than hang.
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
    # Integers too large for a float (the JSON parser makes Python ints of them).
    ('{"pixels": [' + ", ".join(["0"] * 783) + ", 1" + "0" * 400 + "]}", "between 0"),
    ('{"pixels": [[0, 1' + "0" * 400 + "]]}", "between 0"),
    ('{"pixels": [0.5, 0.5], "width": 1' + "0" * 400 + ', "height": 1}', "integer"),
]


@pytest.mark.parametrize("body,message", BAD_BODIES)
def test_bad_requests_get_400_with_a_json_error(client, body, message):
    r = client.post("/predict", data=body, content_type="application/json")
    assert r.status_code == 400
    assert message in r.get_json()["error"]
    assert len(r.get_json()["error"]) < 200          # one short line, whatever was sent


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
    from chainrule import datasets
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
    from chainrule import models
    net = models.SimpleConvNet(conv_param={"filter_num": 4, "filter_size": 5, "pad": 0,
                                           "stride": 1}, hidden_size=12)
    client = create_app(net).test_client()
    assert client.get("/api/model").get_json()["input_shape"] == [1, 28, 28]
    answer = post(client, {"pixels": a_digit_one(56).tolist()}).get_json()
    # Relu1's 4x24x24 feature maps are too many squares to show; Relu2 (12 units) is.
    assert answer["hidden_layer"] == "Relu2" and len(answer["hidden"]) == 12
    assert abs(sum(answer["probabilities"]) - 1) < 1e-4


# -- the backward pass on the drawing page ------------------------------------------------
import copy  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

from chainrule.models import MultiLayerNet, SimpleConvNet  # noqa: E402
from chainrule.web import MAX_DEPTH  # noqa: E402
from chainrule.web.apple import APPLE_DEFAULTS  # noqa: E402
from chainrule.web.bodies import json_depth  # noqa: E402
from chainrule.web.sessions import SessionStore, array_bytes  # noqa: E402


def small_conv():
    return SimpleConvNet(conv_param={"filter_num": 3, "filter_size": 5, "pad": 0, "stride": 1},
                         hidden_size=8, weight_init_std=0.3, rng=1)


def a_digit_seven(side=112):
    image = np.zeros((side, side))
    image[side // 6: side // 6 + side // 10, side // 5: side - side // 5] = 1.0
    for row in range(side // 6, side - side // 6):
        col = side - side // 5 - (row - side // 6) // 2
        image[row, max(0, col - side // 16): col] = 1.0
    return image


def drawing_body(image, **extra):
    return {"pixels": image.ravel().tolist(), "width": image.shape[1],
            "height": image.shape[0], **extra}


def post_to(client, path, payload):
    return client.post(path, data=json.dumps(payload), content_type="application/json")


def dequantize(q, scale):
    """An image as sent: base64 of signed bytes, value = q * scale / 127."""
    import base64
    return np.frombuffer(base64.b64decode(q), dtype=np.int8).astype(np.float64) * (scale / 127.0)


def assert_within_quantization(q, scale, expected):
    """An image sent as q * scale / 127 is within scale / 254 of the true values."""
    expected = np.asarray(expected, dtype=np.float64).ravel()
    assert scale == pytest.approx(np.abs(expected).max(), rel=1e-5)
    np.testing.assert_allclose(dequantize(q, scale), expected, rtol=0,
                               atol=scale / 254 * 1.0001 + 1e-12)


def small_sequential():
    """Any network: a convolution, batch norm and dropout (inference mode), LeakyRelu."""
    from chainrule.models import Sequential
    net = Sequential("conv(3,5) relu pool(2) batchnorm dropout(0.5) affine(8) leakyrelu "
                     "affine(10)", input_shape=(1, 28, 28), rng=4)
    net.predict(np.random.default_rng(1).random((16, 1, 28, 28)), train_flg=True)
    return net


@pytest.mark.parametrize("make", [lambda: TwoLayerNet(784, 20, 10, weight_init_std=0.1, rng=0),
                                  small_conv, small_sequential],
                         ids=["TwoLayerNet", "SimpleConvNet", "Sequential"])
def test_backprop_endpoint_reports_the_librarys_gradients(make):
    net = make()
    reference = copy.deepcopy(net)
    client = create_app(net).test_client()
    image = a_digit_seven()
    label = 3
    r = post_to(client, "/api/backprop", drawing_body(image, label=label))
    assert r.status_code == 200, r.get_json()
    answer = r.get_json()

    # The library on the same digit and label, in inference mode.
    digit = drawing_to_mnist(image)
    x = digit.reshape((1,) + reference.input_shape)
    lib = reference.backprop(x, np.array([label]), train_flg=False)
    scores = lib["scores"][0]
    probs = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()

    assert answer["chosen"] == label and answer["session"] is None and answer["steps"] == 0
    np.testing.assert_allclose(answer["probabilities"], probs, rtol=0, atol=5e-7)
    assert answer["prediction"] == int(np.argmax(probs))
    assert answer["loss"] == pytest.approx(lib["loss"], rel=1e-5)
    assert answer["loss"] == pytest.approx(-np.log(probs[label]), rel=1e-5)
    # dL/dx: every one of the 784 values, to the 6 significant digits sent.
    np.testing.assert_allclose(answer["input_grad"], lib["input_grad"].ravel(), rtol=1e-5,
                               atol=1e-300)
    assert np.abs(lib["input_grad"]).max() > 0     # not a vacuous comparison
    assert answer["input_grad_norm"] == pytest.approx(np.linalg.norm(lib["input_grad"]), rel=1e-5)

    # Per layer: the norm of dL/d(output) and of each parameter's gradient.
    assert [layer["name"] for layer in answer["layers"]] == list(reference.layers)
    for layer in answer["layers"]:
        expected = np.linalg.norm(lib["output_grads"][layer["name"]])
        assert layer["output_grad_norm"] == pytest.approx(expected, rel=1e-5)
        assert layer["output_shape"] == list(lib["output_grads"][layer["name"]].shape[1:])
        for p in layer["params"]:
            assert p["grad_norm"] == pytest.approx(np.linalg.norm(lib["grads"][p["name"]]),
                                                   rel=1e-5, abs=1e-300)
    owned = [p["name"] for layer in answer["layers"] for p in layer["params"]]
    assert sorted(owned) == sorted(reference.params)

    # The graph: input -> every layer -> loss, shapes and gradient norms on the edges.
    edges = answer["graph"]["edges"]
    assert [e["source"] for e in edges] == ["input"] + list(reference.layers)
    assert edges[0]["shape"] == list(reference.input_shape)
    assert edges[0]["grad_norm"] == pytest.approx(np.linalg.norm(lib["input_grad"]), rel=1e-5)
    for e in edges[1:]:
        assert e["grad_norm"] == pytest.approx(np.linalg.norm(lib["output_grads"][e["source"]]),
                                               rel=1e-5)

    # The first layer's weights and their gradients, image by image.
    first = answer["first_layer"]
    W, dW = reference.params["W1"], lib["grads"]["W1"]
    if first["kind"] == "affine":
        assert first["layer"] == "Affine1" and first["shown"] == list(range(20))
        assert first["image_shape"] == [28, 28]
        for i, k in enumerate(first["shown"]):
            assert_within_quantization(first["weights"][i], first["weight_scales"][i], W[:, k])
            assert_within_quantization(first["grads"][i], first["grad_scales"][i], dW[:, k])
    else:
        assert first["kind"] == "conv" and first["layer"] == "Conv1"
        assert first["shown"] == [0, 1, 2] and first["image_shape"] == [5, 5]
        conv_out = reference.layers["Conv1"].forward(np.asarray(x).reshape(1, 1, 28, 28))
        for i, k in enumerate(first["shown"]):
            assert_within_quantization(first["weights"][i], first["weight_scales"][i], W[k])
            assert_within_quantization(first["grads"][i], first["grad_scales"][i], dW[k])
            assert_within_quantization(first["maps"][i], first["map_scales"][i], conv_out[0, k])
            assert_within_quantization(first["map_grads"][i], first["map_grad_scales"][i],
                                       lib["output_grads"]["Conv1"][0, k])
    # Reporting changed nothing in the network.
    for name in reference.params:
        assert np.array_equal(net.params[name], reference.params[name])


def test_backprop_runs_in_inference_mode_and_changes_no_statistics():
    net = MultiLayerNet(784, [16, 12], 10, use_dropout=True, dropout_ratio=0.5,
                        use_batchnorm=True, rng=2)
    # Running statistics that are not the initial zeros and ones.
    x_warm = np.random.default_rng(0).random((64, 784))
    net.predict(x_warm, train_flg=True)
    before = {k: v.copy() for k, v in net.buffers.items()}
    reference = copy.deepcopy(net)
    client = create_app(net).test_client()
    answers = [post_to(client, "/api/backprop", drawing_body(a_digit_seven(), label=7)).get_json()
               for _ in range(2)]
    # Dropout off: two passes agree exactly (a training-mode pass would draw new masks).
    assert answers[0]["input_grad"] == answers[1]["input_grad"]
    digit = drawing_to_mnist(a_digit_seven()).reshape(1, 784)
    lib = reference.backprop(digit, np.array([7]), train_flg=False)
    np.testing.assert_allclose(answers[0]["input_grad"], lib["input_grad"].ravel(), rtol=1e-5,
                               atol=1e-300)
    for k, v in net.buffers.items():
        assert np.array_equal(v, before[k]), k
    # Learning moves the session's copy only: the loaded network keeps its statistics
    # and weights.
    r = post_to(client, "/api/learn", drawing_body(a_digit_seven(), label=7))
    assert r.status_code == 200, r.get_json()
    for k, v in net.buffers.items():
        assert np.array_equal(v, before[k]), k
    for k, v in net.params.items():
        assert np.array_equal(v, reference.params[k]), k


def test_learn_steps_a_copy_and_reset_returns_to_the_loaded_weights(model):
    original = copy.deepcopy(model)
    client = create_app(model).test_client()
    image = a_digit_seven()
    base = post_to(client, "/predict", drawing_body(image)).get_json()["probabilities"]
    label = int(np.argmin(base))                     # the least likely digit
    r = post_to(client, "/api/learn", drawing_body(image, label=label, lr=0.5))
    assert r.status_code == 200, r.get_json()
    first = r.get_json()
    session = first["session"]
    assert isinstance(session, str) and len(session) == 22 and first["steps"] == 1
    assert first["before"] == pytest.approx(base, abs=1e-6)
    assert first["probabilities"][label] > base[label]
    assert first["loss"] < first["loss_before"]

    # The answer after the step is the copy's, and is what one SGD step gives here too.
    replica = copy.deepcopy(original)
    x = drawing_to_mnist(image).reshape(1, 784)
    grads = replica.backprop(x, np.array([label]))["grads"]
    for name in replica.params:
        replica.params[name] -= 0.5 * grads[name]
    scores = replica.predict(x)[0]
    expected = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
    np.testing.assert_allclose(first["probabilities"], expected, rtol=0, atol=5e-7)

    # Predictions with the session use the copy; without it, the loaded weights.
    with_session = post_to(client, "/predict", drawing_body(image, session=session)).get_json()
    assert with_session["probabilities"] == pytest.approx(first["probabilities"], abs=1e-6)
    assert post_to(client, "/predict", drawing_body(image)).get_json()["probabilities"] == base
    second = post_to(client, "/api/learn",
                     drawing_body(image, label=label, lr=0.5, session=session)).get_json()
    assert second["session"] == session and second["steps"] == 2
    assert second["probabilities"][label] > first["probabilities"][label]
    back = post_to(client, "/api/backprop", drawing_body(image, label=label, session=session))
    assert back.get_json()["steps"] == 2

    for name in original.params:                       # the loaded network never moved
        assert np.array_equal(model.params[name], original.params[name])

    r = post_to(client, "/api/reset", {"session": session})
    assert r.status_code == 200 and r.get_json()["reset"] is True
    r = post_to(client, "/predict", drawing_body(image, session=session))
    assert r.status_code == 404 and "unknown session" in r.get_json()["error"]
    assert post_to(client, "/api/reset", {"session": session}).status_code == 404
    assert post_to(client, "/predict", drawing_body(image)).get_json()["probabilities"] == base


A_SESSION = "A" * 22
BAD_LEARN = [
    ({}, "label"),
    ({"label": True}, "integer"),
    ({"label": 3.0}, "integer"),
    ({"label": "3"}, "integer"),
    ({"label": None}, "integer"),
    ({"label": -1}, "0..9"),
    ({"label": 10}, "0..9"),
    ({"label": 10 ** 30}, "0..9"),
    ({"label": 10 ** 400}, "0..9"),
    ({"label": 3, "session": 12}, "string"),
    ({"label": 3, "session": "short"}, "session id"),
    ({"label": 3, "session": "../../etc/passwd" + "x" * 6}, "session id"),
    ({"label": 3, "session": "A" * 23}, "session id"),
    ({"label": 3, "session": ["A" * 22]}, "string"),
]


@pytest.mark.parametrize("path", ["/api/backprop", "/api/learn"])
@pytest.mark.parametrize("extra,message", BAD_LEARN)
def test_backprop_and_learn_refuse_bad_labels_and_sessions(client, path, extra, message):
    r = post_to(client, path, drawing_body(a_digit_one(28), **extra))
    assert r.status_code == 400, (extra, r.get_json())
    assert message in r.get_json()["error"] and len(r.get_json()["error"]) < 200


@pytest.mark.parametrize("lr", [0, -0.1, 11, "0.1", True, None, float("inf"), 10 ** 400])
def test_learn_refuses_bad_learning_rates(client, lr):
    body = json.dumps(drawing_body(a_digit_one(28), label=1, lr=lr))
    r = client.post("/api/learn", data=body, content_type="application/json")
    assert r.status_code == 400 and '"lr"' in r.get_json()["error"]
    assert len(r.get_json()["error"]) < 200


def test_unknown_sessions_get_404_and_bad_drawings_400_on_every_drawing_endpoint(client):
    for path in ("/predict", "/api/backprop", "/api/learn"):
        r = post_to(client, path, drawing_body(a_digit_one(28), label=1, session=A_SESSION))
        assert r.status_code == 404 and "unknown session" in r.get_json()["error"], path
        for body, message in BAD_BODIES:
            r = client.post(path, data=body, content_type="application/json")
            assert r.status_code == 400 and message in r.get_json()["error"], (path, body)
    assert post_to(client, "/api/reset", {}).status_code == 400
    assert post_to(client, "/api/reset", {"session": 5}).status_code == 400
    assert post_to(client, "/api/reset", [A_SESSION]).status_code == 400
    assert post_to(client, "/api/reset", {"session": A_SESSION}).status_code == 404


def test_the_label_range_is_the_networks_own():
    five = TwoLayerNet(784, 8, 5, rng=0)
    client = create_app(five).test_client()
    for path in ("/api/backprop", "/api/learn"):
        r = post_to(client, path, drawing_body(a_digit_one(28), label=7))
        assert r.status_code == 400 and "0..4" in r.get_json()["error"], path
        assert post_to(client, path, drawing_body(a_digit_one(28), label=4)).status_code == 200


def test_a_model_without_backprop_answers_501():
    class Plain:
        def predict(self, x):
            return np.zeros((len(x), 10))
    client = create_app(Plain()).test_client()
    assert post_to(client, "/predict", drawing_body(a_digit_one(28))).status_code == 200
    for path in ("/api/backprop", "/api/learn"):
        r = post_to(client, path, drawing_body(a_digit_one(28), label=1))
        assert r.status_code == 501 and "backprop" in r.get_json()["error"]


def test_model_description_has_the_layer_graph_with_shapes():
    client = create_app(small_conv()).test_client()
    info = client.get("/api/model").get_json()
    graph = info["graph"]
    assert [n["id"] for n in graph["nodes"]] == ["input", "Conv1", "Relu1", "Pool1", "Affine1",
                                                 "Relu2", "Affine2", "loss"]
    assert [e["shape"] for e in graph["edges"]] == [[1, 28, 28], [3, 24, 24], [3, 24, 24],
                                                    [3, 12, 12], [8], [8], [10]]
    assert all("grad_norm" not in e for e in graph["edges"])   # no backward pass yet
    assert info["backprop"] is True and info["learning"]["optimizer"] == "SGD"


# -- sessions ------------------------------------------------------------------------------
def test_sessions_are_capped_in_number_oldest_used_dropped_first(model):
    client = create_app(model, max_sessions=3).test_client()
    body = drawing_body(a_digit_one(28), label=1)
    ids = [post_to(client, "/api/learn", body).get_json()["session"] for _ in range(3)]
    assert len(set(ids)) == 3
    # Using the first makes the second the oldest: the fourth session drops it.
    assert post_to(client, "/predict", {**body, "session": ids[0]}).status_code == 200
    ids.append(post_to(client, "/api/learn", body).get_json()["session"])
    status = {sid: post_to(client, "/predict", {**body, "session": sid}).status_code
              for sid in ids}
    assert status == {ids[0]: 200, ids[1]: 404, ids[2]: 200, ids[3]: 200}
    store = client.application.extensions["chainrule"].sessions
    assert len(store) == 3 and store.dropped == 1


def test_sessions_are_capped_in_bytes(model):
    body = drawing_body(a_digit_one(28), label=1)
    # One session after a step: its copy of the weights, their gradients (the layers
    # keep them) and the layers' small caches.
    probe = create_app(model).test_client()
    post_to(probe, "/api/learn", body)
    one_copy = probe.application.extensions["chainrule"].sessions.total_bytes()
    assert one_copy >= 2 * sum(p.nbytes for p in model.params.values())
    # Room for two sessions, not three.
    client = create_app(model, max_session_bytes=int(2.5 * one_copy)).test_client()
    ids = [post_to(client, "/api/learn", body).get_json()["session"] for _ in range(3)]
    store = client.application.extensions["chainrule"].sessions
    assert len(store) == 2 and store.total_bytes() <= int(2.5 * one_copy)
    assert post_to(client, "/predict", {**body, "session": ids[0]}).status_code == 404
    assert post_to(client, "/predict", {**body, "session": ids[2]}).status_code == 200
    # A network whose one copy is over the cap cannot learn at all, and says so.
    tiny = create_app(model, max_session_bytes=array_bytes(model) // 2).test_client()
    r = post_to(tiny, "/api/learn", body)
    assert r.status_code == 507 and "bytes" in r.get_json()["error"]
    assert len(tiny.application.extensions["chainrule"].sessions) == 0


def test_array_bytes_counts_each_buffer_once():
    a = np.zeros(1000)
    holder = type("Holder", (), {})()
    holder.a, holder.view, holder.again = a, a[10:20], {"x": [a, (a,)]}
    assert array_bytes(holder) == 8000
    assert array_bytes(holder, np.zeros(10, dtype=np.float32)) == 8040


def test_session_store_refuses_bad_caps():
    with pytest.raises(ValueError):
        SessionStore(max_sessions=0)
    with pytest.raises(ValueError):
        SessionStore(max_bytes=0)


# -- nesting and hostile bodies -------------------------------------------------------------
POST_ENDPOINTS = ["/predict", "/api/predict", "/api/backprop", "/api/learn", "/api/reset",
                  "/api/apple"]


@pytest.mark.parametrize("path", POST_ENDPOINTS)
@pytest.mark.parametrize("body", [
    "[" * 5000 + "]" * 5000,
    '{"pixels": ' + "[" * 5000 + "]" * 5000 + "}",
    '{"a": ' * 5000 + "1" + "}" * 5000,
    "[" * 100000,
], ids=["lists", "in-pixels", "objects", "unclosed"])
def test_deeply_nested_json_gets_400_on_every_endpoint(client, path, body):
    r = client.post(path, data=body, content_type="application/json")
    assert r.status_code == 400, r.data[:200]
    assert "nested" in r.get_json()["error"]


def test_nesting_depth_is_measured_outside_strings():
    assert json_depth(b"1") == 0 and json_depth(b"[[1], {\"a\": [2]}]") == 3
    assert json_depth(b'["[[[[[[", "\\"[[[["]') == 1
    ok = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    from chainrule.web.bodies import BodyError, parse_json_body
    assert parse_json_body(ok.encode()) is not None
    with pytest.raises(BodyError, match="nested"):
        parse_json_body(("[" + ok + "]").encode())
    # Brackets in a string are text: a drawing with a deep-looking string is still parsed.
    assert parse_json_body(b'{"note": "' + b"[" * 5000 + b'"}')["note"] == "[" * 5000


# -- the apple graph -----------------------------------------------------------------------
def test_apple_graph_defaults_are_the_seeds_numbers(client):
    for answer in (client.get("/api/apple").get_json(),
                   post_to(client, "/api/apple", APPLE_DEFAULTS).get_json()):
        e = answer["edges"]
        # What examples/apple_orange.py prints (the seed's numbers), digit for digit.
        assert answer["price"] == 715.0000000000001 == e["price"]["value"]
        assert (e["apple_num"]["grad"], e["apple"]["grad"], e["orange"]["grad"],
                e["orange_num"]["grad"], e["tax"]["grad"]) == (110.00000000000001, 2.2,
                                                               3.3000000000000003, 165.0, 650)
        assert e["apple_price"]["value"] == 200 and e["orange_price"]["value"] == 450
        assert e["all_price"] == {"value": 650, "grad": 1.1}
        assert e["price"]["grad"] == 1


def test_apple_graph_follows_edited_inputs(client):
    inputs = {"apple": 120.5, "apple_num": 4, "orange": -3, "orange_num": 0.5, "tax": 1.25}
    e = post_to(client, "/api/apple", inputs).get_json()["edges"]
    a, an, o, on, tax = (inputs[k] for k in ("apple", "apple_num", "orange", "orange_num", "tax"))
    assert e["price"]["value"] == pytest.approx((a * an + o * on) * tax)
    assert e["apple"]["grad"] == pytest.approx(an * tax)
    assert e["apple_num"]["grad"] == pytest.approx(a * tax)
    assert e["orange"]["grad"] == pytest.approx(on * tax)
    assert e["orange_num"]["grad"] == pytest.approx(o * tax)
    assert e["tax"]["grad"] == pytest.approx(a * an + o * on)
    assert e["apple_price"]["grad"] == e["orange_price"]["grad"] == pytest.approx(tax)


@pytest.mark.parametrize("change,message", [
    ({"apple": "100"}, "number"), ({"apple": True}, "number"), ({"tax": None}, "number"),
    ({"tax": [1.1]}, "number"), ({"apple": 1e10}, "at most"), ({"orange": -1e300}, "at most"),
    ({"apple": 10 ** 400}, "at most"),
    ({"pear": 1}, "unknown"),
])
def test_apple_graph_refuses_bad_inputs(client, change, message):
    r = post_to(client, "/api/apple", {**APPLE_DEFAULTS, **change})
    assert r.status_code == 400 and message in r.get_json()["error"]


@pytest.mark.parametrize("body,message", [
    ('{"apple": 100}', "missing"), ("[1, 2]", "JSON object"), ("{nope", "not valid JSON"),
    ('{"apple": NaN, "apple_num": 2, "orange": 150, "orange_num": 3, "tax": 1.1}', "finite"),
])
def test_apple_graph_refuses_bad_bodies(client, body, message):
    r = client.post("/api/apple", data=body, content_type="application/json")
    assert r.status_code == 400 and message in r.get_json()["error"]


def test_apple_page_is_served(client):
    page = client.get("/apple")
    assert page.status_code == 200 and b'id="apple-graph"' in page.data
    for ref in re.findall(rb'(?:src|href)="([^"]+)"', page.data):
        assert client.get(ref.decode()).status_code == 200, ref


# -- load: threads on 127.0.0.1 -------------------------------------------------------------
import http.client  # noqa: E402


def _request(port, method, path, body=None):
    """(status, JSON answer) of one request over its own connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def _run_threads(work, n_threads, limit_seconds):
    """Run work(thread_index) in n_threads threads; every failure is re-raised here."""
    failures = []

    def run(k):
        try:
            work(k)
        except BaseException as exc:  # noqa: BLE001 - reported below, with its thread
            failures.append((k, exc))
    threads = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(n_threads)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + limit_seconds
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), f"the load did not finish in {limit_seconds} s"
    if failures:
        raise failures[0][1]


def test_mixed_load_valid_broken_and_hostile_bodies_on_every_endpoint(model):
    """16 threads, 960 requests: every answer is the right one, and the server goes on."""
    server = start_server_in_thread(create_app(model, max_sessions=8), port=0)
    port = server.server_port
    digit = drawing_to_mnist(a_digit_seven(56))
    seven = json.dumps({"pixels": digit.tolist()})
    reference = copy.deepcopy(model)
    x = digit.reshape(1, 784)
    scores = reference.predict(x)[0]
    expected_p = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
    expected_dx = reference.backprop(x, np.array([4]))["input_grad"].ravel()

    def check_predict(a):
        np.testing.assert_allclose(a["probabilities"], expected_p, atol=1e-6)

    def check_backprop(a):
        np.testing.assert_allclose(a["input_grad"], expected_dx, rtol=1e-5, atol=1e-300)

    def check_learn(a):
        assert a["steps"] == 1 and a["probabilities"][4] > a["before"][4]
        np.testing.assert_allclose(a["before"], expected_p, atol=1e-6)

    def check_apple(a):
        assert a["price"] == 715.0000000000001 and a["edges"]["tax"]["grad"] == 650

    def error_with(text):
        def check(a):
            assert text in a["error"], a
        return check

    row = ", ".join(["0.5"] * 28)
    cases = [
        ("POST", "/predict", seven, 200, check_predict),
        ("POST", "/api/backprop", seven[:-1] + ', "label": 4}', 200, check_backprop),
        ("POST", "/api/learn", seven[:-1] + ', "label": 4, "lr": 0.1}', 200, check_learn),
        ("POST", "/api/apple", json.dumps(APPLE_DEFAULTS), 200, check_apple),
        ("GET", "/api/apple", None, 200, check_apple),
        ("GET", "/api/model", None, 200, lambda a: a["graph"]["nodes"][1]["id"] == "Affine1"),
        ("POST", "/predict", "{broken", 400, error_with("not valid JSON")),
        ("POST", "/api/backprop", '{"pixels": [' + ", ".join(["NaN"] * 784) + '], "label": 1}',
         400, error_with("finite")),
        ("POST", "/api/learn", '{"pixels": [' + ", ".join(["2"] * 784) + '], "label": 1}',
         400, error_with("between 0")),
        ("POST", "/predict", '{"pixels": [[' + row + "], [0.5]]}", 400, error_with("same length")),
        ("POST", "/api/backprop", '{"pixels": "' + "x" * 1000 + '", "label": 1}', 400,
         error_with("list")),
        ("POST", "/predict", '{"pixels": [0.5], "width": 1000000000, "height": 1}', 400,
         error_with("integer")),
        ("POST", "/api/learn", seven[:-1] + ', "label": 12}', 400, error_with("0..9")),
        ("POST", "/api/backprop", seven[:-1] + ', "label": 1, "session": "' + A_SESSION + '"}',
         404, error_with("unknown session")),
        ("POST", "/api/reset", '{"session": "<script>"}', 400, error_with("session id")),
        ("POST", "/api/apple", '{"apple": "1; DROP TABLE"}', 400, error_with("number")),
    ]
    for path in POST_ENDPOINTS:
        cases.append(("POST", path, "[" * 5000 + "]" * 5000, 400, error_with("nested")))
    counts = [0] * 16

    def work(k):
        for i in range(60):
            method, path, body, status, check = cases[(7 * k + i) % len(cases)]
            got, answer = _request(port, method, path, body)
            assert got == status, (path, body[:60] if body else None, got, answer)
            check(answer)
            counts[k] += 1
    try:
        _run_threads(work, 16, limit_seconds=120)
        assert sum(counts) == 960
        got, answer = _request(port, "POST", "/predict", seven)   # still serving
        assert got == 200
        check_predict(answer)
    finally:
        server.shutdown()
        server.server_close()


def test_many_sessions_learning_at_once_stay_under_the_memory_cap():
    """24 sessions from 4 threads, room for 4: memory stays under the cap, and every
    answer is what the same SGD steps give on a private copy."""
    model = TwoLayerNet(784, 500, 10, weight_init_std=0.05, rng=3)
    params_bytes = sum(p.nbytes for p in model.params.values())
    session_bytes = 2 * params_bytes + 64 * 1024     # weights, their gradients, caches
    cap = 4 * session_bytes
    app = create_app(model, max_sessions=64, max_session_bytes=cap)
    store = app.extensions["chainrule"].sessions
    server = start_server_in_thread(app, port=0)
    port = server.server_port
    digits = [drawing_to_mnist(np.roll(a_digit_seven(56), shift, axis=1))
              for shift in (-8, 0, 8)]
    bodies = [json.dumps({"pixels": d.tolist()}) for d in digits]
    # The loaded network once through backprop, so its own caches are in the baseline.
    assert _request(port, "POST", "/api/backprop", bodies[0][:-1] + ', "label": 1}')[0] == 200
    original = copy.deepcopy(model)
    seen_bytes, dropped = [], [0]
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            seen_bytes.append(store.total_bytes())
            time.sleep(0.002)

    def work(k):
        for s in range(6):
            session, replica = None, copy.deepcopy(original)
            for step in range(3):
                label = (k + s + step) % 10
                d = (k + step) % 3
                body = json.loads(bodies[d])
                body.update(label=label, lr=0.2, session=session)
                status, answer = _request(port, "POST", "/api/learn", json.dumps(body))
                if status == 404:            # dropped to make room: start again
                    dropped[0] += 1
                    break
                assert status == 200, answer
                x = digits[d].reshape(1, 784)
                grads = replica.backprop(x, np.array([label]))["grads"]
                for name in replica.params:
                    replica.params[name] -= 0.2 * grads[name]
                scores = replica.predict(x)[0]
                p = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
                np.testing.assert_allclose(answer["probabilities"], p, rtol=0, atol=5e-7)
                assert answer["steps"] == step + 1
                assert answer["probabilities"][label] > answer["before"][label]
                session = answer["session"]

    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        _run_threads(work, 4, limit_seconds=240)
        stop.set()
        watcher.join(5)
        retained, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        server.shutdown()
        server.server_close()
    stats = store.stats()
    # The store's own count never went over the cap, and sessions were dropped for it.
    assert seen_bytes and max(seen_bytes) <= cap
    assert stats["bytes"] <= cap and stats["dropped"] >= 24 - 4
    # What the process still holds: at most the cap's worth of sessions, where 24
    # uncapped sessions would hold 6x as much.
    assert retained - baseline <= cap + 4 * 1024 * 1024, (retained - baseline, cap)
    # The peak: the cap plus, per thread, a session being copied, one dropped while in
    # use, and an answer being written.
    assert peak - baseline <= cap + 4 * (2 * session_bytes + 4 * 1024 * 1024), \
        (peak - baseline, cap)


# -- the command line ----------------------------------------------------------------------
def test_serve_passes_the_session_caps_to_the_app(tmp_path, monkeypatch, capsys, model):
    import chainrule
    import werkzeug.serving
    from chainrule import cli, web
    chainrule.save(model, str(tmp_path / "net.npz"))
    seen = {}
    real_create_app = web.create_app

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real_create_app(*args, **kwargs)

    def no_socket(*args, **kwargs):
        raise OSError("no sockets in this test")
    monkeypatch.setattr(web, "create_app", spy)
    monkeypatch.setattr(werkzeug.serving, "make_server", no_socket)
    code = cli.main(["serve", str(tmp_path / "net.npz"), "--max-sessions", "5",
                     "--session-memory", "64"])
    assert code == 1 and "no sockets in this test" in capsys.readouterr().err
    assert seen["max_sessions"] == 5 and seen["max_session_bytes"] == 64 * 1024 * 1024
    with pytest.raises(SystemExit):
        cli.main(["serve", "--max-sessions", "0"])
    assert "at least 1" in capsys.readouterr().err


# -- the first layer's pictures: many units, other inputs, blank images ---------------------
def test_with_many_units_those_with_the_largest_weight_gradient_are_shown():
    from chainrule.web.backward import MAX_UNIT_IMAGES
    net = TwoLayerNet(784, 100, 10, weight_init_std=0.1, rng=5)
    reference = copy.deepcopy(net)
    answer = post_to(create_app(net).test_client(), "/api/backprop",
                     drawing_body(a_digit_seven(), label=2)).get_json()
    first = answer["first_layer"]
    x = drawing_to_mnist(a_digit_seven()).reshape(1, 784)
    dW = reference.backprop(x, np.array([2]))["grads"]["W1"]
    norms = np.linalg.norm(dW, axis=0)
    assert first["units_total"] == 100 and len(first["shown"]) == MAX_UNIT_IMAGES == 64
    assert first["shown"] == sorted(first["shown"])
    # (Units a ReLU switched off for this drawing tie at zero: any of them may be shown.)
    assert min(norms[first["shown"]]) >= max(np.delete(norms, first["shown"]))
    assert norms[first["shown"]].sum() > 0
    for i, k in enumerate(first["shown"]):
        assert_within_quantization(first["grads"][i], first["grad_scales"][i], dW[:, k])


def test_a_first_layer_that_does_not_see_the_image_is_described_not_drawn():
    from chainrule.models import Sequential
    net = Sequential("avgpool(2) affine(10)", input_shape=(1, 28, 28), rng=0)
    answer = post_to(create_app(net).test_client(), "/api/backprop",
                     drawing_body(a_digit_seven(), label=2)).get_json()
    first = answer["first_layer"]
    assert first["shown"] == [] and "196 inputs" in first["note"]
    assert len(answer["input_grad"]) == 784 and answer["layers"][0]["name"] == "AvgPool1"


def test_quantize_keeps_signs_and_blank_images():
    from chainrule.web.backward import quantize
    images = np.array([[[0.0, 0.5], [-1.0, 0.25]], [[0.0, 0.0], [0.0, 0.0]]])
    data, scales = quantize(images)
    assert scales == [1.0, 0.0]
    np.testing.assert_array_equal(dequantize(data[0], scales[0]) * 127, [0, 64, -127, 32])
    np.testing.assert_array_equal(dequantize(data[1], scales[1]), [0, 0, 0, 0])
