"""Turning pictures of digits into MNIST inputs: polarity, size, position and file
formats must not matter, and unreadable files must say so."""

import numpy as np
import pytest

from chainrule import load_dataset
from chainrule.images import load_digit, mnist_like

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402


@pytest.fixture(scope="module")
def test_digits():
    (_, _), (xt, tt) = load_dataset("mnist-10k")
    return xt[:12], tt[:12]


def correlation(a, b):
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def centre_of_mass(x):
    img = x.reshape(28, 28)
    rows, cols = np.indices(img.shape)
    return (rows * img).sum() / img.sum(), (cols * img).sum() / img.sum()


def test_an_mnist_digit_comes_back_nearly_unchanged(test_digits):
    """MNIST digits were made by these very steps: redoing them changes little."""
    xs, _ = test_digits
    similar = []
    for x in xs:
        y = mnist_like(x.reshape(28, 28))
        assert y.shape == (784,) and 0 <= y.min() and y.max() <= 1
        similar.append(correlation(x, y))
    # Most come back identical; a few move by a pixel (their centre of mass sits near
    # a rounding boundary), which no network trained on MNIST minds.
    assert np.median(similar) > 0.99 and min(similar) > 0.75


def test_polarity_size_and_position_do_not_matter(test_digits):
    xs, _ = test_digits
    for x in xs:
        grey = x.reshape(28, 28)
        reference = mnist_like(grey)
        inverted = mnist_like(1.0 - grey)
        assert np.allclose(inverted, reference)
        big = np.asarray(Image.fromarray((grey * 255).astype(np.uint8)).resize(
            (140, 140), Image.BICUBIC), dtype=np.float64) / 255
        assert correlation(mnist_like(big), reference) > 0.85
        canvas = np.zeros((90, 60))  # off-centre in a larger, non-square field
        canvas[5:33, 30:58] = grey
        moved = mnist_like(canvas)
        assert correlation(moved, reference) > 0.95
        cy, cx = centre_of_mass(moved)
        assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5


def test_the_digit_fills_a_20_pixel_box():
    img = np.zeros((300, 200))
    img[50:250, 90:110] = 1.0  # a tall bar, 200 x 20
    x = mnist_like(img).reshape(28, 28)
    rows = np.flatnonzero(x.max(axis=1) > 0.5)
    cols = np.flatnonzero(x.max(axis=0) > 0.5)
    assert rows[-1] - rows[0] + 1 == 20
    assert cols[-1] - cols[0] + 1 <= 3


def test_blank_and_bad_arrays():
    assert not mnist_like(np.ones((20, 20))).any()
    with pytest.raises(ValueError, match="2-D"):
        mnist_like(np.zeros((3, 4, 5)))
    with pytest.raises(ValueError, match="NaN"):
        mnist_like(np.full((5, 5), np.nan))


def digit_image(x):
    return (x.reshape(28, 28) * 255).round().astype(np.uint8)


def test_file_formats_give_the_same_input(tmp_path, test_digits):
    xs, _ = test_digits
    grey = digit_image(xs[0])
    reference = mnist_like(grey / 255.0)
    Image.fromarray(grey).save(tmp_path / "a.png")
    assert np.allclose(load_digit(tmp_path / "a.png"), reference)
    Image.fromarray(grey).convert("RGB").save(tmp_path / "b.bmp")
    assert np.allclose(load_digit(tmp_path / "b.bmp"), reference)
    Image.fromarray(255 - grey).save(tmp_path / "c.jpg", quality=95)
    assert correlation(load_digit(tmp_path / "c.jpg"), reference) > 0.95
    # 16-bit grey: converting to 8 bits naively would clip it to white.
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "d.png")
    assert correlation(load_digit(tmp_path / "d.png"), reference) > 0.99
    # A black digit drawn on a transparent layer, as drawing programs save it.
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., 3] = grey
    Image.fromarray(rgba, "RGBA").save(tmp_path / "e.png")
    assert correlation(load_digit(tmp_path / "e.png"), reference) > 0.99


def test_photo_orientation_is_applied(tmp_path, test_digits):
    xs, _ = test_digits
    grey = digit_image(xs[1])
    reference = mnist_like(grey / 255.0)
    # Stored rotated, with the EXIF tag that says how to turn it upright.
    stored = Image.fromarray(grey).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    stored.save(tmp_path / "photo.jpg", exif=exif, quality=95)
    assert correlation(load_digit(tmp_path / "photo.jpg"), reference) > 0.95


def test_unreadable_files(tmp_path, test_digits):
    (tmp_path / "text.png").write_text("hello")
    with pytest.raises(ValueError, match="text.png: not an image"):
        load_digit(tmp_path / "text.png")
    Image.fromarray(digit_image(test_digits[0][0])).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match="cut.png"):
        load_digit(tmp_path / "cut.png")
    with pytest.raises(ValueError, match="no such file"):
        load_digit(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="directory"):
        load_digit(tmp_path)
    Image.new("L", (30, 30), 200).save(tmp_path / "flat.png")
    with pytest.raises(ValueError, match="no digit found"):
        load_digit(tmp_path / "flat.png")
