"""Data of one's own: .npz, CSV and image folders, from Python and the command line.

Every data set here is made in the test from numbers written out by hand or drawn with a
fixed seed, so that what is expected (classes, shapes, values) is known independently of
the code under test.
"""

import json
import os

import numpy as np
import pytest

import chainrule
from chainrule import cli
from chainrule.datasets import DatasetError, read_data
from chainrule.datasets import mnist
from chainrule.datasets.owndata import _npz_member
from chainrule.evaluation import per_class_scores, top_k_accuracy

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402


# -- making data --------------------------------------------------------------------------
def make_image_folder(root, size=(12, 12), per_class=20, seed=0, mode="L"):
    """Two classes anyone can tell apart: bright on the left, or on the right."""
    rng = np.random.default_rng(seed)
    for name in ("left", "right"):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            a = rng.integers(0, 60, size).astype(np.uint8)
            if name == "left":
                a[:, :size[1] // 2] += 150
            else:
                a[:, size[1] // 2:] += 150
            image = Image.fromarray(a)
            if mode == "RGB":
                image = image.convert("RGB")
            image.save(root / name / f"{i}.png")
    return root


def make_csv(path, rows=60, seed=0, header=True):
    rng = np.random.default_rng(seed)
    names = ["setosa", "versicolor", "virginica"]
    lines = ["sepal,petal,species"] if header else []
    for i in range(rows):
        k = i % 3
        lines.append(f"{k * 3 + rng.normal() * 0.3:.4f},{k + rng.normal() * 0.1:.4f},{names[k]}")
    path.write_text("\n".join(lines) + "\n")
    return path


def make_npz(path, seed=0, **extra):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(0, 1, (30, 4)), rng.normal(4, 1, (30, 4))])
    t = np.array(["no"] * 30 + ["yes"] * 30)
    np.savez(path, x=x, t=t, **extra)
    return path


# -- reading ---------------------------------------------------------------------------------
def test_image_folder_classes_shape_and_pixels(tmp_path):
    make_image_folder(tmp_path / "pics")
    data = read_data(tmp_path / "pics")
    assert data.class_names == ["left", "right"]
    assert data.input_shape == (1, 12, 12)
    (x, t), (xt, tt) = data.train, data.test
    assert len(x) + len(xt) == 40 and len(xt) == 8  # 0.2 of each class of 20
    assert np.bincount(tt).tolist() == [4, 4]
    assert x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    # The first picture of class "left", read back by Pillow here, scaled by 1/255.
    raw = np.asarray(Image.open(tmp_path / "pics" / "left" / "0.png"), dtype=np.float32) / 255
    all_x = np.concatenate([x, xt])
    assert any(np.allclose(sample[0], raw) for sample in all_x)
    assert "holding out 8 of 40 samples" in data.note
    assert data.preprocessing["color"] == "gray" and data.preprocessing["size"] == [12, 12]


def test_rgb_images_and_resizing(tmp_path):
    make_image_folder(tmp_path / "a", size=(10, 10), per_class=5, mode="RGB")
    make_image_folder(tmp_path / "a", size=(14, 14), per_class=3, seed=1, mode="RGB")
    with pytest.raises(DatasetError, match=r"3\.png is 10x10 but .*0\.png is 14x14: give an image size"):
        read_data(tmp_path / "a")
    data = read_data(tmp_path / "a", image_size=(8, 8), color="rgb")
    assert data.input_shape == (3, 8, 8)
    assert data.preprocessing["color"] == "rgb" and data.preprocessing["resize"] is True
    assert read_data(tmp_path / "a", image_size=(8, 8), color="gray").input_shape == (1, 8, 8)
    # Grey pictures saved as RGB are grey under auto; one picture with colour makes it rgb.
    assert read_data(tmp_path / "a", image_size=(8, 8)).input_shape == (1, 8, 8)
    tinted = np.zeros((10, 10, 3), dtype=np.uint8)
    tinted[..., 0] = 200
    Image.fromarray(tinted).save(tmp_path / "a" / "left" / "red.png")
    assert read_data(tmp_path / "a", image_size=(8, 8)).input_shape == (3, 8, 8)


def test_train_and_test_subfolders_are_the_splits(tmp_path):
    make_image_folder(tmp_path / "d" / "train", per_class=6)
    make_image_folder(tmp_path / "d" / "test", per_class=2, seed=5)
    data = read_data(tmp_path / "d")
    assert len(data.train[0]) == 12 and len(data.test[0]) == 4 and data.note is None


def test_csv_label_column_header_and_standardising(tmp_path):
    path = make_csv(tmp_path / "iris.csv")
    data = read_data(path)
    assert data.class_names == ["setosa", "versicolor", "virginica"]
    assert data.preprocessing["label_column"] == "species" and data.preprocessing["header"]
    x, _ = data.train
    assert x.shape == (48, 2) and data.input_shape == (2,)
    np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(x.std(axis=0), 1, atol=1e-4)
    # Without a header, and the label first: chosen by index.
    rows = ["0,1.5,2.5", "1,3.5,0.5", "0,1.0,2.0", "1,4.0,1.0", "0,1.2,2.2", "1,3.9,0.9"]
    (tmp_path / "plain.csv").write_text("\n".join(rows) + "\n")
    data = read_data(tmp_path / "plain.csv", label_column=0, test_fraction=0.34,
                     standardize=False)
    assert data.class_names == ["0", "1"] and not data.preprocessing["header"]
    got = np.concatenate([data.train[0], data.test[0]])
    expected = np.array([(1.5, 2.5), (3.5, 0.5), (1.0, 2.0), (4.0, 1.0), (1.2, 2.2), (3.9, 0.9)],
                        dtype=np.float32)
    np.testing.assert_array_equal(got[np.lexsort(got.T[::-1])],
                                  expected[np.lexsort(expected.T[::-1])])


def test_npz_string_labels_and_given_test_split(tmp_path):
    data = read_data(make_npz(tmp_path / "a.npz"))
    assert data.class_names == ["no", "yes"] and data.input_shape == (4,)
    x_test = np.ones((4, 4))
    path = make_npz(tmp_path / "b.npz", x_test=x_test, t_test=np.array(["yes", "no", "no", "yes"]))
    data = read_data(path)
    assert data.note is None and data.test[1].tolist() == [1, 0, 0, 1]
    np.testing.assert_array_equal(data.test[0], x_test.astype(np.float32))


def test_uint8_npz_images_are_scaled_and_memory_mapped(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4) * 10
    np.savez(tmp_path / "img.npz", x=np.concatenate([images] * 5), t=np.arange(10) % 2)
    import zipfile
    with zipfile.ZipFile(tmp_path / "img.npz") as zf:
        raw = _npz_member(zf, zf.getinfo("x.npy"), tmp_path / "img.npz")
    assert isinstance(raw, np.memmap)  # an uncompressed archive is not read into memory
    np.testing.assert_array_equal(raw[:2], images)
    data = read_data(tmp_path / "img.npz")
    assert data.input_shape == (1, 3, 4)
    all_x = np.concatenate([data.train[0], data.test[0]])
    assert np.isclose(all_x.max(), 230 / 255) and data.preprocessing["scale"] == 1 / 255


def test_known_name_wins_over_a_path_of_the_same_spelling(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_image_folder(tmp_path / "mnist-10k", per_class=5)
    (x, _), _ = chainrule.load_dataset("mnist-10k")
    assert x.shape == (8000, 784)
    (x, _), _ = chainrule.load_dataset(str(tmp_path / "mnist-10k" / ".." / "mnist-10k"))
    assert x.shape[1:] == (1, 12, 12)


def test_test_split_is_stratified_and_always_the_same(tmp_path):
    path = make_npz(tmp_path / "a.npz")
    a, b = read_data(path), read_data(path)
    np.testing.assert_array_equal(a.test[0], b.test[0])
    assert np.bincount(a.test[1]).tolist() == [6, 6]
    c = read_data(path, split_seed=1)
    assert not np.array_equal(a.test[0], c.test[0])


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize("text, message", [
    ("a,b,label\n1,2,0\n3,4\n", r"bad\.csv, line 3: 2 column\(s\), but the file has 3"),
    ("a,b,label\n1,2,0\n3,oops,1\n", r"bad\.csv, line 3: column 'b' holds 'oops', not a finite number"),
    ("a,b,label\n1,2,0\n3,nan,1\n", r"bad\.csv, line 3: column 'b' holds 'nan'"),
    ("", r"bad\.csv: the file holds no rows"),
])
def test_bad_csv_rows_are_named(tmp_path, text, message):
    (tmp_path / "bad.csv").write_text(text)
    with pytest.raises(DatasetError, match=message):
        read_data(tmp_path / "bad.csv")


def test_bad_npz_files_are_named(tmp_path):
    np.savez(tmp_path / "obj.npz", x=np.array([[1, "a"]], dtype=object), t=np.array([0]))
    with pytest.raises(DatasetError, match=r"x holds Python objects .* never unpickles"):
        read_data(tmp_path / "obj.npz")
    np.savez(tmp_path / "nox.npz", samples=np.zeros((3, 2)), t=np.zeros(3))
    with pytest.raises(DatasetError, match=r"no array 'x'"):
        read_data(tmp_path / "nox.npz")
    make_npz(tmp_path / "out.npz", x_test=np.zeros((2, 4)), t_test=np.array(["no", "maybe"]))
    with pytest.raises(DatasetError, match=r"test label 'maybe' \(sample 1\) is not one of the "
                                           r"training classes \(no, yes\)"):
        read_data(tmp_path / "out.npz")
    np.savez(tmp_path / "names.npz", x=np.zeros((4, 2)), t=np.array([0, 1, 2, 5]),
             class_names=np.array(["a", "b", "c"]))
    with pytest.raises(DatasetError, match=r"label 5 is outside the 3 classes"):
        read_data(tmp_path / "names.npz")


def test_bad_image_folders_are_named(tmp_path):
    make_image_folder(tmp_path / "p", per_class=3)
    (tmp_path / "p" / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"empty: the class folder holds no images"):
        read_data(tmp_path / "p")
    (tmp_path / "p" / "empty").rmdir()
    (tmp_path / "p" / "left" / "broken.png").write_bytes(b"not a picture")
    with pytest.raises(DatasetError, match=r"broken\.png: not a readable image"):
        read_data(tmp_path / "p")
    (tmp_path / "q").mkdir()
    with pytest.raises(DatasetError, match=r"no class subfolders"):
        read_data(tmp_path / "q")


# -- a named data directory is the only one read -------------------------------------------
def _idx_files(folder, n=6):
    from chainrule.datasets import write_idx
    folder.mkdir(parents=True, exist_ok=True)
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    labels = np.arange(n, dtype=np.uint8) % 10
    for prefix in ("train", "t10k"):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)


def test_named_data_dir_missing_a_file_loads_nothing_else(tmp_path, monkeypatch):
    _idx_files(tmp_path / "system", n=9)  # a complete copy elsewhere, like Debian's
    monkeypatch.setattr(mnist, "SYSTEM_DIRS", {"mnist": (), "fashion-mnist": (tmp_path / "system",)})
    assert len(chainrule.load_fashion_mnist(download=False)[0][0]) == 9
    _idx_files(tmp_path / "mine", n=5)
    (tmp_path / "mine" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match=r"lacks t10k-labels-idx1-ubyte\.gz.*nothing was loaded"):
        chainrule.load_fashion_mnist(data_dir=tmp_path / "mine", download=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"holds none of its files .* download=False"):
        chainrule.load_fashion_mnist(data_dir=tmp_path / "empty", download=False)
    assert not mnist.dataset_available("fashion-mnist", data_dir=tmp_path / "mine")


# -- the command line -------------------------------------------------------------------------
def _train(args, capsys):
    code = cli.main(["train", "--quiet", "--seed", "0", "--optimizer", "adam"] + args)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("kind", ["images", "csv", "npz"])
def test_train_save_evaluate_predict_with_class_names(tmp_path, monkeypatch, capsys, kind):
    monkeypatch.chdir(tmp_path)
    if kind == "images":
        data = make_image_folder(tmp_path / "pics")
        sample = str(data / "right" / "3.png")
        names = ["left", "right"]
        extra = ["--model", "simple-conv", "--epochs", "3", "--hidden", "20"]
    elif kind == "csv":
        data = make_csv(tmp_path / "iris.csv", rows=90)
        (tmp_path / "new.csv").write_text("sepal,petal\n6.1,2.0\n0.1,0.0\n")
        sample = str(tmp_path / "new.csv")
        names = ["setosa", "versicolor", "virginica"]
        extra = ["--model", "mlp", "--hidden", "16", "--epochs", "40", "--lr", "0.01"]
    else:
        data = make_npz(tmp_path / "blobs.npz")
        np.savez(tmp_path / "new.npz", x=np.array([[4.0, 4, 4, 4], [0.0, 0, 0, 0]]))
        sample = str(tmp_path / "new.npz")
        names = ["no", "yes"]
        extra = ["--epochs", "30", "--lr", "0.01"]
    code, out, err = _train(["--data", str(data), "--save", "m.npz"] + extra, capsys)
    assert code == 0, err
    assert cli.main(["evaluate", "m.npz", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["class_names"] == names
    assert report["accuracy"] >= 0.9, report
    assert cli.main(["evaluate", "m.npz"]) == 0
    text = capsys.readouterr().out
    for i, name in enumerate(names):
        assert f"{i} {name}" in text
    assert cli.main(["predict", "m.npz", sample]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    if kind == "images":
        assert lines[0].startswith(f"{sample}: 1 right")
    elif kind == "csv":
        assert "row 1: 2 virginica" in lines[0] and "row 2: 0 setosa" in lines[1]
    else:
        assert "[0]: 1 yes" in lines[0] and "[1]: 0 no" in lines[1]


def test_command_line_bad_input_leaves_no_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.csv").write_text("a,b,label\n1,2,0\n3,4\n")
    code, out, err = _train(["--data", "bad.csv", "--save", "m.npz"], capsys)
    assert code == 2 and "bad.csv, line 3: 2 column(s)" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    code, out, err = _train(["--data", "bad.csv", "--dataset", "mnist-10k"], capsys)
    assert code == 2 and "not both" in err
    make_image_folder(tmp_path / "p", per_class=3)
    Image.fromarray(np.zeros((5, 7), dtype=np.uint8)).save(tmp_path / "p" / "left" / "odd.png")
    code, out, err = _train(["--data", "p", "--save", "m.npz"], capsys)
    assert code == 2 and "is 7x5 but" in err and "--image-size" in err
    code, out, err = _train(["--data", "missing.npz", "--save", "m.npz"], capsys)
    assert code == 2 and "missing.npz: no such file" in err
    assert sorted(os.listdir(tmp_path)) == ["bad.csv", "p"]


# -- evaluation figures -------------------------------------------------------------------------
def test_precision_recall_f1_by_hand():
    counts = np.array([[5, 1, 0],
                       [2, 3, 0],
                       [0, 0, 0]])
    s = per_class_scores(counts)
    # class 0: 5 of the 7 called 0 are 0; 5 of its 6 found.
    np.testing.assert_allclose(s["precision"], [5 / 7, 3 / 4, 0])
    np.testing.assert_allclose(s["recall"], [5 / 6, 3 / 5, 0])
    f1_0 = 2 * (5 / 7) * (5 / 6) / (5 / 7 + 5 / 6)
    np.testing.assert_allclose(s["f1"][0], f1_0)
    assert s["support"].tolist() == [6, 5, 0]
    assert s["macro"]["recall"] == pytest.approx((5 / 6 + 3 / 5) / 3)
    assert s["weighted"]["recall"] == pytest.approx(8 / 11)


def test_top_k_accuracy_by_hand():
    p = np.array([[0.5, 0.3, 0.2],
                  [0.1, 0.2, 0.7],
                  [0.6, 0.3, 0.1]])
    t = np.array([1, 2, 2])
    assert top_k_accuracy(p, t, 1) == pytest.approx(1 / 3)
    assert top_k_accuracy(p, t, 2) == pytest.approx(2 / 3)
    assert top_k_accuracy(p, t, 3) == 1.0


def test_plot_confusion_of_own_data(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    make_image_folder(tmp_path / "pics", per_class=10)
    code, out, err = _train(["--data", "pics", "--model", "mlp", "--hidden", "8",
                             "--epochs", "2", "--save", "m.npz"], capsys)
    assert code == 0, err
    assert cli.main(["plot", "confusion", "m.npz", "-o", "c.png"]) == 0
    assert cli.main(["plot", "mistakes", "m.npz", "--data", "pics", "-o", "k.png"]) == 0
    assert (tmp_path / "c.png").stat().st_size > 0 and (tmp_path / "k.png").exists()
    assert cli.main(["plot", "confusion", "m.npz", "--data", "pics", "--dataset", "mnist",
                     "-o", "x.png"]) == 2
    assert "not both" in capsys.readouterr().err and not (tmp_path / "x.png").exists()


def test_serve_shows_the_class_names_or_refuses_other_pictures(tmp_path, monkeypatch, capsys):
    from chainrule.checkpoint import load_checkpoint
    from chainrule.cli.visual import served_class_names
    monkeypatch.chdir(tmp_path)
    make_image_folder(tmp_path / "pics", size=(28, 28), per_class=5)
    assert _train(["--data", "pics", "--epochs", "1", "--save", "m.npz"], capsys)[0] == 0
    assert served_class_names(load_checkpoint("m.npz"), "m.npz") == ["left", "right"]
    make_image_folder(tmp_path / "small", size=(8, 8), per_class=5)
    assert _train(["--data", "small", "--epochs", "1", "--save", "s.npz"], capsys)[0] == 0
    with pytest.raises(ValueError, match=r"takes images of shape \(1, 8, 8\) \(gray\); the drawing page"):
        served_class_names(load_checkpoint("s.npz"), "s.npz")
