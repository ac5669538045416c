"""Numbers with bounds: a shift as large as the picture, pictures too large to hold, a
negative threshold and the like are refused with a message, before training (before
the data loads where the bound is known from the options), never a crash half way."""

import numpy as np
import pytest
from no_traceback import run

from chainrule.augmentation import Augment
from chainrule.datasets import DatasetError, owndata


def refused(folder, message, *argv):
    code, out, err = run(*argv, cwd=folder)
    assert code == 2, err
    assert message in err, err
    return err


def image_folder(root, size=8, per_class=5):
    from PIL import Image
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (root / "imgs" / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = (rng.random((size, size)) * 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / "imgs" / name / f"{i}.png")
    return root / "imgs"


def test_a_shift_as_large_as_a_known_picture_is_refused_before_the_data_loads(tmp_path):
    refused(tmp_path, "--shift 29 moves a 28x28 picture out of its frame", "train",
            "--augment", "--shift", "29", "--model", "simple-conv", "--iters", "3",
            "--dataset", "mnist-10k", "--metrics", "m.jsonl")
    assert not (tmp_path / "m.jsonl").exists()


def test_a_shift_as_large_as_pictures_of_ones_own_is_refused_before_training(tmp_path):
    pytest.importorskip("PIL")
    image_folder(tmp_path)
    refused(tmp_path, "a shift of 8 pixels moves a 8x8 image out of its frame", "train",
            "--data", "imgs", "--augment", "--shift", "8", "--iters", "3")
    refused(tmp_path, "--shift 16 moves a 16x16 picture", "train", "--data", "imgs",
            "--image-size", "16x16", "--augment", "--shift", "16", "--iters", "3")
    code, _, err = run("train", "--data", "imgs", "--augment", "--shift", "7", "--iters",
                       "3", "-q", cwd=tmp_path)
    assert code == 0, err


def test_the_library_refuses_a_shift_larger_than_the_image():
    with pytest.raises(ValueError, match="a shift of 5 pixels moves a 4x4 image"):
        Augment(shift=5)(np.ones((2, 1, 4, 4)), np.random.default_rng(0))


def test_an_image_size_past_the_bound_is_refused_as_an_option(tmp_path):
    refused(tmp_path, "--image-size: 10000x10000: at most 4096 pixels on a side", "train",
            "--data", "imgs", "--image-size", "10000x10000")


def test_pictures_that_would_not_fit_in_memory_are_refused_before_reading(tmp_path,
                                                                        monkeypatch):
    pytest.importorskip("PIL")
    folder = image_folder(tmp_path)
    monkeypatch.setattr(owndata, "MAX_IMAGE_BYTES", 10 * 64 * 64 * 4 - 1)
    with pytest.raises(DatasetError, match=r"10 pictures of 64x64 in 1 channel take .* "
                                           r"GiB as float32, more than the"):
        owndata.read_data(folder, image_size=(64, 64))
    with pytest.raises(DatasetError, match="MAX_IMAGE_BYTES"):  # read at their own size too
        monkeypatch.setattr(owndata, "MAX_IMAGE_BYTES", 10 * 8 * 8 * 4 - 1)
        owndata.read_data(folder)


@pytest.mark.parametrize("argv,message", [
    (["gradcheck", "--max-rel", "-1"], "--max-rel: must be a positive number"),
    (["gradcheck", "--max-abs", "nan"], "--max-abs: must be a positive number"),
    (["train", "--augment", "--rotation", "50"], "--rotation: must be between 0 and 45"),
    (["train", "--lr-schedule", "plateau", "--plateau-factor", "0"],
     "--plateau-factor: must be in (0, 1)"),
    (["train", "--early-stopping", "2", "--min-delta", "-1"],
     "--min-delta: must be a non-negative number"),
])
def test_numbers_out_of_their_range_are_refused(tmp_path, argv, message):
    refused(tmp_path, message, *argv)


def test_augment_on_flat_features_in_an_npz_is_refused_before_training(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "flat.npz", x=rng.random((40, 4)), t=np.arange(40) % 2)
    refused(tmp_path, "--augment shifts pictures, and the samples of flat.npz are features "
            "of shape (4,)", "train", "--data", "flat.npz", "--augment", "--iters", "3",
            "--metrics", "m.jsonl")
    assert not (tmp_path / "m.jsonl").exists()
