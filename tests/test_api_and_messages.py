"""The Python API takes the book's keywords for data of one's own and one sample
without its batch axis; the Trainer refuses fractions of batches and epochs; messages
point the right way (plot weights on colour pictures and tables, import-weights naming
what the file has, a split of one's own data naming its parts)."""

import pickle

import numpy as np
import pytest
from no_traceback import run

from chainrule import Trainer, load_dataset, models
from chainrule.book.weights import WeightFileError, import_weights
from chainrule.checkpoint import save


def image_folder(root, channels=1, size=6, per_class=5):
    from PIL import Image
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = (rng.random((size, size, channels)) * 255).astype(np.uint8)
            Image.fromarray(pixels.squeeze()).save(root / name / f"{i}.png")
    return root


def test_own_data_takes_the_books_keywords(tmp_path):
    pytest.importorskip("PIL")
    folder = image_folder(tmp_path / "imgs")
    (x, t), (xt, tt) = load_dataset(folder)
    assert x.shape == (8, 1, 6, 6) and t.shape == (8,)
    (fx, ft), (fxt, ftt) = load_dataset(folder, flatten=True, one_hot_label=True)
    assert fx.shape == (8, 36) and np.array_equal(fx, x.reshape(8, -1))
    assert ft.shape == (8, 2) and np.array_equal(ft.argmax(axis=1), t)
    assert ft.sum() == 8 and ftt.shape == (2, 2)
    (px, _), _ = load_dataset(folder, True, True)  # positionally, as load_mnist
    assert px.shape == (8, 36)
    (kx, _), _ = load_dataset(folder, flatten=False)
    assert kx.shape == (8, 1, 6, 6)


def test_own_data_refuses_what_it_cannot_do_saying_so(tmp_path):
    np.savez(tmp_path / "f.npz", x=np.random.default_rng(0).random((20, 4)),
             t=np.arange(20) % 2)
    path = tmp_path / "f.npz"
    with pytest.raises(ValueError, match="normalize=False: data of your own comes as a model"):
        load_dataset(path, normalize=False)
    with pytest.raises(ValueError, match="flatten=False: the samples of .* are rows of 4"):
        load_dataset(path, flatten=False)
    with pytest.raises(TypeError, match=r"load_dataset\('.*f.npz'\): unknown argument\(s\) "
                                        r"bogus; data of your own takes normalize, flatten"):
        load_dataset(path, bogus=1)


def test_accuracy_takes_one_sample_as_predict_does():
    net = models.TwoLayerNet(4, 3, 2, rng=0)
    x = np.array([0.5, -1.0, 2.0, 0.1])
    label = int(net.predict(x).argmax())
    assert net.predict(x).shape == (2,)
    assert net.accuracy(x, label) == 1.0 and net.accuracy(x, 1 - label) == 0.0
    assert net.accuracy(x, np.eye(2)[label]) == 1.0  # a one-hot row
    assert net.accuracy(x[None], [label]) == 1.0


@pytest.mark.parametrize("settings", [{"mini_batch_size": 2.5, "epochs": 1},
                                      {"mini_batch_size": 2, "epochs": 1.5},
                                      {"mini_batch_size": 2.5, "epochs": 1.5}])
def test_trainer_refuses_fractions_of_batches_and_epochs(settings):
    rng = np.random.default_rng(0)
    x, t = rng.random((10, 4)), np.arange(10) % 2
    with pytest.raises(ValueError, match="must be a positive integer, got (2.5|1.5)"):
        Trainer(models.TwoLayerNet(4, 3, 2, rng=0), x, t, x, t, verbose=False, **settings)


def test_plot_weights_draws_a_colour_models_units_in_colour(tmp_path):
    pytest.importorskip("PIL")
    pytest.importorskip("matplotlib")
    image_folder(tmp_path / "rgb", channels=3)
    code, _, err = run("train", "--data", "rgb", "--iters", "2", "--save", "c.npz", "-q",
                       cwd=tmp_path)
    assert code == 0, err
    code, _, err = run("plot", "weights", "c.npz", "-o", "w.png", cwd=tmp_path)
    assert code == 0, err
    assert "image_shape" not in err


def test_plot_weights_of_a_table_model_says_its_inputs_are_not_pictures(tmp_path):
    rows = "".join(f"{i % 3},{i % 5},{i % 2}\n" for i in range(30))
    (tmp_path / "t.csv").write_text("a,b,label\n" + rows)
    code, _, err = run("train", "--data", "t.csv", "--iters", "2", "--save", "t.npz", "-q",
                       cwd=tmp_path)
    assert code == 0, err
    code, _, err = run("plot", "weights", "t.npz", "-o", "w.png", cwd=tmp_path)
    assert code == 2 and "the inputs of t.npz are a table's 2 columns, not pictures" in err
    assert "image_shape" not in err


def test_colour_weights_become_colour_tiles():
    from chainrule.plot import weight_tiles
    W = np.random.default_rng(0).random((3 * 4 * 5, 7))
    tiles = weight_tiles(W, image_shape=(3, 4, 5))
    assert tiles.shape == (7, 4, 5, 3)
    # Unit 0's red channel is its first 20 weights, scaled to the tile's range.
    red = W[:20, 0].reshape(4, 5)
    low, high = W[:, 0].min(), W[:, 0].max()
    assert np.allclose(tiles[0, :, :, 0], (red - low) / (high - low), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="not a square grey picture: give image_shape"):
        weight_tiles(W)


def test_import_weights_names_what_the_file_has(tmp_path):
    rng = np.random.default_rng(0)
    weights = {f"{k}{i}": rng.random((2, 2)) for i in (1, 2, 3) for k in "Wb"}
    with open(tmp_path / "p.pkl", "wb") as f:
        pickle.dump(weights, f, protocol=4)
    with pytest.raises(WeightFileError) as caught:
        import_weights(tmp_path / "p.pkl", "deep-conv", tmp_path / "out.npz")
    message = str(caught.value)
    assert "DeepConvNet has W1..W8 and b1..b8, the file has W1, W2, W3, b1, b2, b3" in message
    assert "it has W1..W8" not in message


def test_a_test_fraction_that_leaves_no_training_part_names_the_parts(tmp_path):
    pytest.importorskip("PIL")
    image_folder(tmp_path / "imgs")
    save(models.TwoLayerNet(36, 3, 2, rng=0), tmp_path / "m.npz")  # no record of its data
    code, _, err = run("evaluate", "m.npz", "--data", "imgs", "--test-fraction", "0.99",
                       cwd=tmp_path)
    assert code == 2, err
    assert "leaves none in the training part of the data" in err
    assert "to train on" not in err


def test_evaluate_refuses_read_options_a_models_record_overrides(tmp_path):
    pytest.importorskip("PIL")
    image_folder(tmp_path / "imgs")
    code, _, err = run("train", "--data", "imgs", "--iters", "2", "--save", "m.npz", "-q",
                       cwd=tmp_path)
    assert code == 0, err
    code, _, err = run("evaluate", "m.npz", "--data", "imgs", "--test-fraction", "0.99",
                       "--color", "rgb", cwd=tmp_path)
    assert code == 2, err
    assert "--color and --test-fraction: m.npz records how its data was read" in err
    code, out, err = run("evaluate", "m.npz", "--data", "imgs", cwd=tmp_path)
    assert code == 0 and "on the 2 test samples of imgs" in out, err
