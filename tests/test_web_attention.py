"""The attention page's API (chainrule.web.language): a language model's next-character
probabilities and attention maps, "sample next", and what it refuses.

The expected numbers come from the network itself (its predict and the weights its
attention layers keep), computed here with NumPy, never from the answer being tested.
Flask's test client; one bounded load test on 127.0.0.1 checks that concurrent prompts
do not see each other's attention weights.
"""

import json
import threading
import urllib.request

import numpy as np
import pytest

from chainrule.datasets.text import Vocabulary, read_text
from chainrule.models import Sequential
from chainrule.transformer import MultiHeadAttention

flask = pytest.importorskip("flask", reason="Flask is not installed (chainrule[web])")
from chainrule.web import create_app, start_server_in_thread  # noqa: E402
from chainrule.web.bodies import MAX_DEPTH  # noqa: E402

TEXT = "hello world, a tiny text!"
T = 6  # the models' context


def text_data():
    return read_text(TEXT)


def gpt(causal=True, rng=0):
    """A tiny GPT with its vocabulary; its attention weights scaled up so that the
    heads' maps differ clearly from uniform and from one another."""
    V = len(text_data().vocab)
    attention = "block(2) block(2)" if causal else \
        "residual(layernorm attention(2,causal=false)) residual(layernorm attention(2,causal=false))"
    net = Sequential(f"embed(8,vocab={V}) posembed({T}) {attention} layernorm unembed"
                     if causal else
                     f"embed(8,vocab={V}) posembed({T}) {attention} layernorm affine({V})",
                     input_shape=T, rng=rng)
    for name in net.params:
        if name.startswith("W_qkv"):
            net.params[name] *= 40
    net.inputs = text_data().describe()
    return net


@pytest.fixture
def model():
    return gpt()


@pytest.fixture
def client(model):
    return create_app(model, info={"source": "a test"}).test_client()


def post(client, path, payload):
    return client.post(path, data=json.dumps(payload), content_type="application/json")


def ids_of(text):
    return text_data().vocab.encode(text)


def softmax(scores):
    e = np.exp(scores - scores.max())
    return e / e.sum()


def attention_layers(net):
    return [(n, layer) for n, layer in net.layers.items()
            if isinstance(layer, MultiHeadAttention)]


# -- what the page is told --------------------------------------------------------------
def test_a_language_model_gets_the_attention_page_and_says_what_it_reads(client, model):
    page = client.get("/")
    assert page.status_code == 200 and b'id="prompt"' in page.data and b'id="maps"' in page.data
    assert b'id="pad"' not in page.data
    assert client.get("/static/attention.js").status_code == 200
    info = client.get("/api/model").get_json()
    language = info["language"]
    assert language["vocabulary"] == text_data().vocab.tokens
    assert language["context"] == T and language["max_prompt"] == 2 * T
    assert language["recurrent"] is False
    assert language["attention"] == [{"layer": "Attention1", "heads": 2, "causal": True},
                                     {"layer": "Attention2", "heads": 2, "causal": True}]
    assert info["source"] == "a test" and info["parameters"] == sum(
        p.size for p in model.params.values())


def test_an_image_model_keeps_the_drawing_page_and_has_no_next_character():
    from chainrule.models import TwoLayerNet
    client = create_app(TwoLayerNet(784, 8, 10, rng=0)).test_client()
    assert b'id="pad"' in client.get("/").data
    assert "language" not in client.get("/api/model").get_json()
    for path in ("/api/next", "/api/sample"):
        r = post(client, path, {"prompt": "hello"})
        assert r.status_code == 404 and "not a language model" in r.get_json()["error"]


# -- the next character and the attention maps --------------------------------------------
@pytest.mark.parametrize("prompt", ["h", "hello", "hello world"])
def test_probabilities_are_the_networks_own_for_the_last_context_characters(client, model,
                                                                             prompt):
    r = post(client, "/api/next", {"prompt": prompt})
    assert r.status_code == 200, r.get_json()
    answer = r.get_json()
    ids = ids_of(prompt)
    window = ids[-T:]
    expected = softmax(model.predict(window[None])[0, -1])
    p = np.array(answer["probabilities"])
    # JSON carries the float64 values exactly; two softmax orders differ by rounding.
    np.testing.assert_allclose(p, expected, rtol=1e-12, atol=1e-15)
    assert abs(p.sum() - 1) < 1e-12
    assert answer["prompt_tokens"] == len(prompt)
    assert answer["window_start"] == max(0, len(prompt) - T)
    assert "".join(answer["window"]) == prompt[-T:]
    # The top candidates: likeliest first, each with its character.
    order = np.argsort(-expected, kind="stable")[:len(answer["top"])]
    assert [c["id"] for c in answer["top"]] == order.tolist()
    assert [c["token"] for c in answer["top"]] == [text_data().vocab.tokens[i] for i in order]
    np.testing.assert_allclose([c["p"] for c in answer["top"]], expected[order], rtol=1e-12)


@pytest.mark.parametrize("prompt", ["he", "hello world"])
def test_attention_maps_are_the_layers_weights_row_by_row(client, model, prompt):
    answer = post(client, "/api/next", {"prompt": prompt}).get_json()
    n = min(len(prompt), T)
    model.predict(ids_of(prompt)[-T:][None])
    layers = attention_layers(model)
    assert [a["layer"] for a in answer["attention"]] == [name for name, _ in layers]
    for sent, (_, layer) in zip(answer["attention"], layers):
        P = layer.attention_weights[0]
        assert P.shape == (2, n, n) and sent["causal"] is True
        assert np.all(P[:, np.triu_indices(n, 1)[0], np.triu_indices(n, 1)[1]] == 0)
        for h, rows in enumerate(sent["heads"]):
            assert [len(row) for row in rows] == list(range(1, n + 1))  # causal: no zeros sent
            for t, row in enumerate(rows):
                # Rounded to 4 decimals: within half a unit of the 4th.
                np.testing.assert_allclose(row, P[h, t, :t + 1], rtol=0, atol=5e-5 + 1e-12)
    # The heads do look at different things (else the check above proves little).
    heads = answer["attention"][0]["heads"]
    assert heads[0][-1] != heads[1][-1]


def test_a_non_causal_model_sends_whole_rows():
    net = gpt(causal=False)
    client = create_app(net).test_client()
    answer = post(client, "/api/next", {"prompt": "tiny"}).get_json()
    net.predict(ids_of("tiny")[None])
    for sent, (_, layer) in zip(answer["attention"], attention_layers(net)):
        assert sent["causal"] is False
        P = layer.attention_weights[0]
        assert np.all(P[:, 0, 1:] > 0)  # a later position is seen
        np.testing.assert_allclose(np.array(sent["heads"]), P, rtol=0, atol=5e-5 + 1e-12)


def test_reading_changes_nothing_in_the_model(client, model):
    before = {k: v.copy() for k, v in model.params.items()}
    first = post(client, "/api/next", {"prompt": "hello"}).get_json()
    post(client, "/api/sample", {"prompt": "tiny", "seed": 1})
    again = post(client, "/api/next", {"prompt": "hello"}).get_json()
    assert first["probabilities"] == again["probabilities"]
    assert first["attention"] == again["attention"]
    for k, v in model.params.items():
        assert np.array_equal(v, before[k]), k


# -- sample next ----------------------------------------------------------------------
def test_sample_appends_one_character_and_answers_for_the_longer_prompt(client, model):
    r = post(client, "/api/sample", {"prompt": "hello", "seed": 7})
    assert r.status_code == 200, r.get_json()
    answer = r.get_json()
    token = answer["sampled"]["token"]
    assert answer["prompt"] == "hello" + token and answer["dropped"] == 0
    assert token == text_data().vocab.tokens[answer["sampled"]["id"]]
    before = softmax(model.predict(ids_of("hello")[None])[0, -1])
    assert answer["sampled"]["p"] == pytest.approx(before[answer["sampled"]["id"]], rel=1e-12)
    # The rest of the answer is /api/next's for the longer prompt.
    after = post(client, "/api/next", {"prompt": answer["prompt"]}).get_json()
    for key in ("prompt_tokens", "window", "probabilities", "top", "attention"):
        assert answer[key] == after[key], key
    # The same seed draws the same character.
    assert post(client, "/api/sample", {"prompt": "hello", "seed": 7}).get_json()["sampled"] \
        == answer["sampled"]


def test_top_k_and_temperature_are_used(client, model):
    scores = model.predict(ids_of("tiny t")[None])[0, -1]
    best_two = set(np.argsort(-scores)[:2].tolist())
    drawn = {post(client, "/api/sample", {"prompt": "tiny t", "top_k": 2, "seed": s})
             .get_json()["sampled"]["id"] for s in range(40)}
    assert drawn <= best_two and len(drawn) == 2
    greedy = post(client, "/api/sample", {"prompt": "tiny t", "top_k": 1}).get_json()
    assert greedy["sampled"]["id"] == int(np.argmax(scores))
    cold = {post(client, "/api/sample", {"prompt": "tiny t", "temperature": 0.001, "seed": s})
            .get_json()["sampled"]["id"] for s in range(10)}
    assert cold == {int(np.argmax(scores))}


def test_a_full_prompt_drops_its_first_character_to_stay_within_the_cap(client):
    prompt = "hello world!"  # 12 = 2 x the context
    answer = post(client, "/api/sample", {"prompt": prompt, "seed": 0}).get_json()
    assert answer["dropped"] == 1 and len(answer["prompt"]) == 12
    assert answer["prompt"] == prompt[1:] + answer["sampled"]["token"]
    assert answer["prompt_tokens"] == 12 and answer["window_start"] == 6


# -- bad input --------------------------------------------------------------------------
BAD_PROMPTS = [
    ({"prompt": ""}, "is empty"),
    ({"prompt": "hello ZOO"}, "lacks: 'O', 'Z'"),
    ({"prompt": "h\u00e9llo"}, "1 character that the vocabulary lacks: '\u00e9'"),
    ({"prompt": "hello world!!"}, "13 characters; at most 12"),
    ({"prompt": 12}, '"prompt" must be a string'),
    ({"prompt": ["h"]}, '"prompt" must be a string'),
    ({}, '"prompt" must be a string of text, got nothing'),
    (["hello"], "must be a JSON object"),
    ("hello", "must be a JSON object"),
]
BAD_SETTINGS = [
    ({"temperature": 0}, '"temperature" must be a number in (0, 10]'),
    ({"temperature": -1}, '"temperature"'),
    ({"temperature": 11}, '"temperature"'),
    ({"temperature": "1"}, '"temperature"'),
    ({"temperature": True}, '"temperature"'),
    ({"top_k": 0}, '"top_k" must be a whole number 1..16 or null'),
    ({"top_k": 17}, '"top_k"'),
    ({"top_k": 1.5}, '"top_k"'),
    ({"top_k": True}, '"top_k"'),
    ({"seed": -1}, '"seed" must be a whole number 0..4294967295'),
    ({"seed": 2 ** 32}, '"seed"'),
    ({"seed": 1.0}, '"seed"'),
]


@pytest.mark.parametrize("path", ["/api/next", "/api/sample"])
@pytest.mark.parametrize("payload,message", BAD_PROMPTS)
def test_bad_prompts_get_400_naming_the_problem(client, path, payload, message):
    r = post(client, path, payload)
    assert r.status_code == 400 and message in r.get_json()["error"], r.get_json()


@pytest.mark.parametrize("settings,message", BAD_SETTINGS)
def test_bad_sampling_settings_get_400(client, settings, message):
    assert len(text_data().vocab) == 16  # the messages above name it
    r = post(client, "/api/sample", dict({"prompt": "hello"}, **settings))
    assert r.status_code == 400 and message in r.get_json()["error"], r.get_json()


def test_non_finite_temperature_in_the_body_gets_400(client):
    for word in ("NaN", "Infinity"):
        r = client.post("/api/sample", data='{"prompt": "hello", "temperature": %s}' % word,
                        content_type="application/json")
        assert r.status_code == 400 and '"temperature"' in r.get_json()["error"]


def test_broken_nested_and_oversized_bodies_are_refused(client):
    for path in ("/api/next", "/api/sample"):
        r = client.post(path, data=b'{"prompt": "he', content_type="application/json")
        assert r.status_code == 400 and "not valid JSON" in r.get_json()["error"]
        deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
        r = client.post(path, data=deep, content_type="application/json")
        assert r.status_code == 400 and "nested" in r.get_json()["error"]
        r = client.post(path, data=b"x" * (3 * 1024 * 1024), content_type="application/json")
        assert r.status_code == 413
        assert client.get(path).status_code == 405
    # ...and the server still answers.
    assert post(client, "/api/next", {"prompt": "hello"}).status_code == 200


def test_the_drawing_endpoints_refuse_a_language_model_politely(client):
    r = post(client, "/predict", {"pixels": [0.5] * 784})
    assert r.status_code == 400 and "not 28x28 digits" in r.get_json()["error"]


# -- models that read tokens but cannot be served ------------------------------------------
def test_models_that_cannot_be_served_are_refused_saying_why():
    V = len(text_data().vocab)
    no_vocabulary = Sequential(f"embed(8,vocab={V}) posembed({T}) block(2) layernorm unembed",
                               input_shape=T, rng=0)
    with pytest.raises(ValueError, match="no vocabulary"):
        create_app(no_vocabulary)
    words = gpt()
    words.inputs = {"kind": "text", "source": "x",
                    "vocabulary": Vocabulary([f"w{i}" for i in range(V)], "words").describe()}
    with pytest.raises(ValueError, match="shows characters; this Sequential reads words"):
        create_app(words)
    features = Sequential(f"embed(6,vocab={V}) lstm(5)", input_shape=T, rng=0)
    features.inputs = text_data().describe()
    with pytest.raises(ValueError, match=r"ends in LSTM1 of shape \(6, 5\)"):
        create_app(features)


# -- a recurrent language model: probabilities only -----------------------------------------
@pytest.mark.parametrize("stateful", ["false", "true"])
def test_a_recurrent_model_reads_the_whole_prompt_and_has_no_maps(stateful):
    V = len(text_data().vocab)
    net = Sequential(f"embed(6,vocab={V}) lstm(8,stateful={stateful}) affine({V})",
                     input_shape=T, rng=3)
    net.inputs = text_data().describe()
    client = create_app(net).test_client()
    info = client.get("/api/model").get_json()["language"]
    assert info["recurrent"] is True and info["attention"] == []
    prompt = "hello world"  # longer than T: a recurrent model reads all of it
    first = post(client, "/api/next", {"prompt": prompt}).get_json()
    assert first["attention"] == [] and first["window_start"] == 0
    assert "".join(first["window"]) == prompt
    net.reset_state()
    expected = softmax(net.predict(ids_of(prompt)[None])[0, -1])
    np.testing.assert_allclose(first["probabilities"], expected, rtol=1e-12, atol=1e-15)
    # A stateful layer starts from zeros at every request: the same prompt, the same answer.
    again = post(client, "/api/next", {"prompt": prompt}).get_json()
    assert again["probabilities"] == first["probabilities"]
    sampled = post(client, "/api/sample", {"prompt": prompt, "seed": 2}).get_json()
    assert sampled["prompt"] == prompt + sampled["sampled"]["token"]


# -- the command line -------------------------------------------------------------------
def _serve_without_a_socket(tmp_path, monkeypatch, model):
    import chainrule
    import werkzeug.serving
    from chainrule import cli, web
    path = str(tmp_path / "lm.npz")
    chainrule.save(model, path)
    apps = []
    real_create_app = web.create_app

    def spy(*args, **kwargs):
        apps.append(real_create_app(*args, **kwargs))
        return apps[-1]

    def no_socket(*args, **kwargs):
        raise OSError("no sockets in this test")
    monkeypatch.setattr(web, "create_app", spy)
    monkeypatch.setattr(werkzeug.serving, "make_server", no_socket)
    return cli.main(["serve", path]), apps


def test_serve_loads_a_language_model_file_for_the_attention_page(tmp_path, monkeypatch,
                                                                   capsys, model):
    code, apps = _serve_without_a_socket(tmp_path, monkeypatch, model)
    assert code == 1 and "no sockets in this test" in capsys.readouterr().err
    client = apps[0].test_client()
    assert b'id="maps"' in client.get("/").data
    answer = post(client, "/api/next", {"prompt": "hello"}).get_json()
    expected = softmax(model.predict(ids_of("hello")[None])[0, -1])
    np.testing.assert_allclose(answer["probabilities"], expected, rtol=1e-12, atol=1e-15)


def test_serve_refuses_a_token_model_without_a_vocabulary(tmp_path, monkeypatch, capsys):
    net = gpt()
    net.inputs = None
    code, apps = _serve_without_a_socket(tmp_path, monkeypatch, net)
    assert code == 2 and apps == []
    assert "no vocabulary" in capsys.readouterr().err


# -- concurrent prompts, over a real socket -----------------------------------------------
def test_concurrent_prompts_each_get_their_own_answer(model):
    """Attention weights are state in the layers: without the lock, one request could
    send another's maps. 4 threads x 8 requests, bounded by timeouts."""
    prompts = ["hello", "tiny text", "a", "world, a t"]
    expected = {p: create_app(gpt()).test_client().post(
        "/api/next", json={"prompt": p}).get_json() for p in prompts}
    server = start_server_in_thread(create_app(model), host="127.0.0.1", port=0)
    failures = []

    def ask(prompt):
        for _ in range(8):
            request = urllib.request.Request(
                server.url + "api/next", data=json.dumps({"prompt": prompt}).encode(),
                headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=20) as r:
                answer = json.loads(r.read())
            for key in ("window", "probabilities", "attention"):
                if answer[key] != expected[prompt][key]:
                    failures.append((prompt, key))
    try:
        threads = [threading.Thread(target=ask, args=(p,)) for p in prompts]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads)
    finally:
        server.shutdown()
        server.server_close()
    assert failures == []
