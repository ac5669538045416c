"""The one record of how a model's inputs are made (network.inputs): set by train, read
by evaluate, predict, serve and plot, for a known data set, images, CSV and .npz.

Each test prepares the samples itself, with NumPy and Pillow from numbers it wrote, and
asks the network directly (network.predict); the command's paths must agree with it.
"""

import json

import numpy as np
import pytest
from no_traceback import run

import chainrule
from chainrule import cli
from chainrule.checkpoint import load_checkpoint, save
from chainrule.datasets import write_idx

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402



def train(args, capsys):
    code = cli.main(["train", "--quiet", "--seed", "0", "--optimizer", "adam"] + args)
    out = capsys.readouterr()
    assert code == 0, out.err
    return out


def softmax(a):
    e = np.exp(a - a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def predicted(out):
    """{where: (class index, probability)} from predict's lines."""
    answers = {}
    for line in out.strip().splitlines():
        head, rest = line[:line.rindex("   (")], line[line.rindex("   (") + 4:-1]
        where = head.rsplit(": ", 1)[0]
        first = rest.split("  ")[0]
        label, probability = first.rsplit(": ", 1)
        answers[where] = (int(label.split()[0]), float(probability))
    return answers


def assert_predict_agrees(capsys, model, files, expected_x):
    """predict on `files` gives the network's top class and probability (3 decimals)."""
    network = chainrule.load(model)
    assert cli.main(["predict", str(model), *map(str, files), "--top", "1"]) == 0
    answers = list(predicted(capsys.readouterr().out).values())
    expected_x = np.asarray(expected_x).reshape((len(expected_x),) + tuple(network.input_shape))
    probs = softmax(np.asarray(network.predict(expected_x), dtype=np.float64))
    assert len(answers) == len(probs)
    for (k, p), row in zip(answers, probs):
        assert k == int(row.argmax()) and p == pytest.approx(row.max(), abs=6e-4)


def assert_evaluate_agrees(capsys, model, x_test, t_test, *options):
    network = chainrule.load(model)
    assert cli.main(["evaluate", str(model), "--json", *options]) == 0
    x_test = np.asarray(x_test).reshape((len(x_test),) + tuple(network.input_shape))
    figures = json.loads(capsys.readouterr().out)
    pred = np.asarray(network.predict(x_test)).argmax(axis=1)
    k = network.output_size
    cm = np.zeros((k, k), dtype=int)
    np.add.at(cm, (t_test, pred), 1)
    assert figures["confusion_matrix"] == cm.tolist()
    assert figures["samples"] == len(t_test)


def assert_serve_agrees(model, picture28):
    """The drawing page's prediction of a 28x28 picture is the network's."""
    pytest.importorskip("flask")
    from chainrule.cli.visual import served_class_names, served_inputs
    from chainrule.web import create_app
    checkpoint = load_checkpoint(model)
    app = create_app(checkpoint.model, inputs=served_inputs(checkpoint, str(model)),
                     class_names=served_class_names(checkpoint, str(model)))
    answer = app.test_client().post("/api/predict", json={
        "pixels": picture28.reshape(-1).tolist(), "width": 28, "height": 28}).get_json()
    expected = softmax(np.asarray(checkpoint.model.predict(
        picture28.reshape((1,) + tuple(checkpoint.model.input_shape))), dtype=np.float64))[0]
    np.testing.assert_allclose(answer["probabilities"], expected, atol=2e-6)


# -- a known data set, pictures that are not digits ---------------------------------------
def fashion_like(folder, seed=0):
    """IDX files of 28x28 pictures that fill the field, as Fashion-MNIST's do: class k is
    bright in its own band of rows, off-centre, so centring by mass would move it."""
    rng = np.random.default_rng(seed)
    folder.mkdir()
    for split, n in (("train", 300), ("t10k", 60)):
        labels = np.arange(n) % 4
        images = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
        for i, k in enumerate(labels):
            images[i, 7 * k:7 * k + 7, 2:26] += 200
            images[i, :, :3 + 5 * k] += 10
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", labels.astype(np.uint8))
    return folder


def test_a_fashion_model_reads_pictures_as_fashion_mnist_made_them(tmp_path, monkeypatch,
                                                                     capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    data = fashion_like(tmp_path / "fashion")
    train(["--dataset", "fashion-mnist", "--data-dir", str(data), "--model", "mlp",
           "--epochs", "3", "--save", "f.npz"], capsys)
    record = chainrule.load("f.npz").inputs
    assert record["dataset"] == "fashion-mnist" and record["fit"] == "resize"
    (_, _), (xt, tt) = chainrule.load_dataset("fashion-mnist", data_dir=data, download=False)
    files = []
    for i in range(8):
        Image.fromarray(np.round(xt[i].reshape(28, 28) * 255).astype(np.uint8)).save(f"{i}.png")
        files.append(tmp_path / f"{i}.png")
    assert_predict_agrees(capsys, tmp_path / "f.npz", files, xt[:8])
    for i in range(3):
        assert_serve_agrees(tmp_path / "f.npz", xt[i].reshape(28, 28))
    assert_evaluate_agrees(capsys, tmp_path / "f.npz", xt, tt, "--data-dir", str(data))


def test_a_digits_model_agrees_everywhere(tmp_path, monkeypatch, capsys):
    from chainrule.images import mnist_like
    from chainrule.web.drawing import drawing_to_mnist
    monkeypatch.chdir(tmp_path)
    train(["--dataset", "mnist-10k", "--iters", "200", "--save", "d.npz"], capsys)
    assert chainrule.load("d.npz").inputs["fit"] == "digit"
    (_, _), (xt, tt) = chainrule.load_dataset("mnist-10k")
    files = []
    for i in range(4):
        Image.fromarray(np.round(xt[i].reshape(28, 28) * 255).astype(np.uint8)).save(f"{i}.png")
        files.append(tmp_path / f"{i}.png")
    prepared = np.stack([mnist_like(np.asarray(Image.open(f), dtype=np.float64) / 255)
                         for f in files])
    assert_predict_agrees(capsys, tmp_path / "d.npz", files, prepared)
    digit = drawing_to_mnist(xt[0].reshape(28, 28))
    assert_serve_agrees(tmp_path / "d.npz", digit)
    assert_evaluate_agrees(capsys, tmp_path / "d.npz", xt, tt)


# -- data of one's own ---------------------------------------------------------------------
def test_an_image_folder_model_agrees_everywhere(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(1)
    pictures = {}
    for name, rows in (("top", slice(0, 10)), ("bottom", slice(18, 28))):
        (tmp_path / "pics" / name).mkdir(parents=True)
        for i in range(15):
            a = rng.integers(0, 50, (28, 28)).astype(np.uint8)
            a[rows] += 180
            Image.fromarray(a).save(tmp_path / "pics" / name / f"{i}.png")
            pictures[f"{name}/{i}"] = a.astype(np.float32) / 255
    train(["--data", "pics", "--model", "mlp", "--epochs", "3", "--save", "m.npz"], capsys)
    files = [tmp_path / "pics" / "top" / "0.png", tmp_path / "pics" / "bottom" / "3.png"]
    x = np.stack([pictures["top/0"], pictures["bottom/3"]]).reshape(2, 1, 28, 28)
    assert_predict_agrees(capsys, tmp_path / "m.npz", files, x)
    assert_serve_agrees(tmp_path / "m.npz", pictures["bottom/3"])
    data = chainrule.datasets.read_data(tmp_path / "pics")
    assert_evaluate_agrees(capsys, tmp_path / "m.npz", *data.test)


def iris_like(path, rows=90, seed=0, header="sepal,petal,width,species", sep=","):
    rng = np.random.default_rng(seed)
    names = ["setosa", "versicolor", "virginica"]
    lines = [header] if header else []
    table = []
    for i in range(rows):
        k = i % 3
        values = [k * 3 + rng.normal() * 0.4, k + rng.normal() * 0.3, rng.normal() * 2]
        table.append((values, names[k]))
        lines.append(sep.join(f"{v:.4f}" for v in values) + f"{sep}{names[k]}")
    path.write_text("\n".join(lines) + "\n")
    return table


def standardised(model, rows):
    record = chainrule.load(model).inputs
    return ((np.array(rows) - np.array(record["mean"])) / np.array(record["std"])).astype(np.float32)


def test_a_csv_model_agrees_everywhere_and_reads_columns_by_name(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    table = iris_like(tmp_path / "iris.csv")
    train(["--data", "iris.csv", "--model", "mlp", "--epochs", "20", "--save", "m.npz"], capsys)
    record = chainrule.load("m.npz").inputs
    assert record["columns"] == ["sepal", "petal", "width"] and record["label_column"] == "species"
    rows = [values for values, _ in table[:6]]
    # The same rows with the columns in another order, and with the label among them.
    (tmp_path / "new.csv").write_text("width,species,petal,sepal\n" + "".join(
        f"{w},x,{p},{s}\n" for s, p, w in rows))
    assert_predict_agrees(capsys, tmp_path / "m.npz", [tmp_path / "new.csv"],
                          standardised("m.npz", rows))
    data = chainrule.datasets.read_data(tmp_path / "iris.csv")
    assert_evaluate_agrees(capsys, tmp_path / "m.npz", *data.test)
    # Other column names are refused, not measured.
    (tmp_path / "other.csv").write_text("a,b,c,species\n" + "".join(
        f"{s},{p},{w},setosa\n" for s, p, w in rows))
    code, out, err = run("evaluate", "m.npz", "--data", "other.csv", cwd=tmp_path)
    assert code == 2 and "other.csv: the file lacks sepal, petal, width" in err and not out
    code, out, err = run("predict", "m.npz", "other.csv", cwd=tmp_path)
    assert code == 2 and "the header lacks sepal, petal, width" in err


def test_a_headerless_or_semicolon_csv_model_evaluates_resumes_and_predicts(
        tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    table = iris_like(tmp_path / "plain.csv", header=None)
    train(["--data", "plain.csv", "--epochs", "2", "--save", "p.npz"], capsys)
    assert cli.main(["evaluate", "p.npz"]) == 0
    assert "accuracy" in capsys.readouterr().out
    assert cli.main(["train", "--resume", "p.npz", "--epochs", "3", "--quiet"]) == 0
    capsys.readouterr()
    assert cli.main(["plot", "confusion", "p.npz", "-o", "c.svg"]) == 0 or \
        "matplotlib" in capsys.readouterr().err
    iris_like(tmp_path / "semi.csv", sep=";", header="sepal;petal;width;species")
    train(["--data", "semi.csv", "--epochs", "2", "--save", "s.npz"], capsys)
    rows = [values for values, _ in table[:3]]
    (tmp_path / "ask.csv").write_text("".join(f"{a};{b};{c}\n" for a, b, c in rows))
    assert_predict_agrees(capsys, tmp_path / "s.npz", [tmp_path / "ask.csv"],
                          standardised("s.npz", rows))


def test_an_npz_model_agrees_everywhere_and_the_page_refuses_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.normal(0, 1, (40, 5)), rng.normal(3, 1, (40, 5))])
    t = np.array([2] * 40 + [7] * 40)
    np.savez(tmp_path / "d.npz", x=x, t=t)
    train(["--data", "d.npz", "--epochs", "3", "--save", "m.npz"], capsys)
    assert chainrule.load("m.npz").output_size == 2  # the labels 2 and 7: two classes
    np.savez(tmp_path / "ask.npz", x=x[:5])
    assert_predict_agrees(capsys, tmp_path / "m.npz", [tmp_path / "ask.npz"],
                          x[:5].astype(np.float32))
    data = chainrule.datasets.read_data(tmp_path / "d.npz")
    assert_evaluate_agrees(capsys, tmp_path / "m.npz", *data.test)
    code, _, err = run("serve", "m.npz", "--port", "0", cwd=tmp_path)
    assert code == 2 and "takes arrays of shape (5,)" in err and "drawing page" in err


def test_a_model_trained_by_0_2_0_keeps_its_record(tmp_path, monkeypatch, capsys):
    """0.2.0 kept the record of data of one's own in the run information."""
    monkeypatch.chdir(tmp_path)
    iris_like(tmp_path / "iris.csv")
    train(["--data", "iris.csv", "--epochs", "2", "--save", "m.npz"], capsys)
    new = load_checkpoint("m.npz")
    record = new.model.inputs
    old = {"path": record["source"], "class_names": record["class_names"],
           "input_shape": [3], "preprocessing": {
               "kind": "csv", "label_column": "species", "label_index": 3, "header": True,
               "columns": 4, "feature_columns": ["sepal", "petal", "width"],
               "mean": record["mean"], "std": record["std"],
               "test_split": record["test_split"]}}
    new.model.inputs = None
    training = dict(new.training, run={"dataset": "iris.csv", "data": old})
    save(new.model, tmp_path / "old.npz", training=training)
    assert cli.main(["evaluate", "m.npz", "--json"]) == 0
    now = json.loads(capsys.readouterr().out)
    assert cli.main(["evaluate", "old.npz", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == now
