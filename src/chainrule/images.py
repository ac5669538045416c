"""Turning a picture of a digit into an MNIST-like input.

MNIST's digits are white on black, grey levels 0..255, size-normalised to fit a 20x20
box (keeping their aspect ratio) and centred by their centre of mass in a 28x28 field.
A photo or drawing of a digit only looks like that to a network after the same steps.
"""

import numpy as np

from .files import not_a_regular_file

__all__ = ["mnist_like", "load_digit"]


def _resize(image, height, width):
    """Resize a 2-D float array by area averaging (Pillow's box filter), or, without
    Pillow, by nearest neighbour."""
    try:
        from PIL import Image
    except ImportError:
        rows = (np.arange(height) * image.shape[0] / height).astype(int)
        cols = (np.arange(width) * image.shape[1] / width).astype(int)
        return image[rows][:, cols]
    pil = Image.fromarray(image.astype(np.float32), mode="F")
    return np.asarray(pil.resize((width, height), Image.BOX), dtype=np.float64)


def mnist_like(gray):
    """A 2-D grey image (any size, values 0..1, either polarity) as a (784,) MNIST input.

    Dark-on-light images (most photos and scans) are inverted, judged by the border,
    which is background in any centred digit. The digit's bounding box is scaled so its
    longer side is 20 pixels and then shifted so its centre of mass is at pixel
    (14, 14), where MNIST's own digits have theirs.
    """
    gray = np.asarray(gray, dtype=np.float64)
    if gray.ndim != 2 or min(gray.shape) < 1:
        raise ValueError(f"expected a 2-D grey image, got shape {gray.shape}")
    if not np.all(np.isfinite(gray)):
        raise ValueError("the image contains NaN or infinite values")
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if border.mean() > 0.5:
        gray = 1.0 - gray
    gray = gray - np.median(border if border.mean() <= 0.5 else 1.0 - border)
    gray = np.clip(gray, 0.0, None)
    if gray.max() <= 0:
        return np.zeros(784)
    gray = gray / gray.max()

    rows = np.flatnonzero(gray.max(axis=1) > 0.1)
    cols = np.flatnonzero(gray.max(axis=0) > 0.1)
    digit = gray[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    scale = 20.0 / max(digit.shape)
    height = max(1, int(round(digit.shape[0] * scale)))
    width = max(1, int(round(digit.shape[1] * scale)))
    digit = np.clip(_resize(digit, height, width), 0.0, 1.0)

    field = np.zeros((28, 28))
    top, left = (28 - height) // 2, (28 - width) // 2
    field[top:top + height, left:left + width] = digit
    mass = field.sum()
    cy = (field.sum(axis=1) * np.arange(28)).sum() / mass
    cx = (field.sum(axis=0) * np.arange(28)).sum() / mass
    # MNIST's digits have their centre of mass at pixel (14, 14) (measured on the
    # bundled set: mean 14.00 in both directions), not at the geometric centre 13.5.
    # Whole-pixel shift, clamped so that the digit stays inside the field.
    dy = int(np.clip(round(14.0 - cy), -top, 28 - top - height))
    dx = int(np.clip(round(14.0 - cx), -left, 28 - left - width))
    field = np.roll(field, (dy, dx), axis=(0, 1))
    return field.reshape(784)


def _grey_array(img):
    """A Pillow image as a 2-D float array in 0..1, transparent pixels as white paper."""
    from PIL import ImageOps
    img = ImageOps.exif_transpose(img)  # photos from phones are often stored sideways
    if img.mode.startswith("I;16") or img.mode in ("I", "F"):
        # 16-bit scans: convert("L") would clip everything above 255 to white.
        arr = np.asarray(img, dtype=np.float64)
        if arr.ndim != 2:
            raise ValueError(f"unexpected image of shape {arr.shape}")
        return arr / (65535.0 if arr.max() > 255 else 255.0)
    if "A" in img.getbands() or "transparency" in img.info:
        img = img.convert("RGBA").convert("LA")
        arr = np.asarray(img, dtype=np.float64) / 255.0
        grey, alpha = arr[..., 0], arr[..., 1]
        # Transparent pixels become paper that contrasts with the ink: white under dark
        # strokes, black under light ones (a white digit on a transparent background
        # would otherwise vanish into white paper).
        opaque = alpha.sum()
        ink = (grey * alpha).sum() / opaque if opaque > 0 else 0.0
        paper = 0.0 if ink > 0.5 else 1.0
        return grey * alpha + paper * (1.0 - alpha)
    return np.asarray(img.convert("L"), dtype=np.float64) / 255.0


def load_digit(path):
    """Read a PNG/JPEG/... file (needs Pillow) and return it as a (784,) MNIST input.

    Raises ValueError, naming the file, for anything that is not a readable image.
    """
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise ImportError("reading images needs Pillow: pip install 'chainrule[image]'") from None
    problem = not_a_regular_file(path, "image")
    if problem:
        raise ValueError(problem)
    try:
        with Image.open(path) as img:
            arr = _grey_array(img)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ValueError(f"{path}: is a directory, not an image") from None
    except Image.DecompressionBombError as exc:
        raise ValueError(f"{path}: too large to be a picture of a digit ({exc})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        # Pillow reports damaged files as OSError ("truncated"), SyntaxError (some
        # decoders' "broken PNG file") or ValueError.
        raise ValueError(f"{path}: not an image Pillow can read ({exc})") from None
    x = mnist_like(arr)
    if not x.any():
        raise ValueError(f"{path}: no digit found (the image is one flat colour)")
    return x
