"""Turning a drawing from the web page into an MNIST digit, in NumPy.

A network trained on MNIST has only ever seen digits prepared one way, and a drawing
must be prepared the same way before the network can read it. MNIST's authors took each
black-and-white digit, scaled it so that it fits a 20x20 box (keeping its aspect ratio;
the scaling's anti-aliasing produces the grey levels), and then placed it in a 28x28
field so that its centre of mass is the field's centre. Digits are white (1.0) on black
(0.0).

The page sends its canvas, already white on black, shrunk by the browser to a modest
size (112x112) so that a request stays small; everything else happens here, on the
server, so that it is written once, in NumPy, and tested:

  1. crop to the bounding box of the ink;
  2. resize so that the longer side is 20 pixels, by area averaging (each new pixel is
     the mean of the part of the drawing it covers, which is what anti-aliasing is);
  3. stretch the grey levels so the darkest stroke is 1.0, like MNIST's 255;
  4. paste into a 28x28 field with the centre of mass at row and column 14, where
     MNIST's digits have it (whole-pixel shift).
"""

import math

import numpy as np

__all__ = ["DrawingError", "parse_drawing", "drawing_to_mnist", "resize_area",
           "MAX_SIDE", "MNIST_SIDE", "BOX_SIDE"]

MNIST_SIDE = 28
BOX_SIDE = 20
CENTRE = 14.0            # where MNIST puts the centre of mass (row and column index)
MAX_SIDE = 512           # larger drawings are refused: a request must stay cheap
_INK = 0.01              # grey level above which a pixel counts as ink for the bounding box


class DrawingError(ValueError):
    """The posted drawing is not a grey image we can use (shape, type or values)."""


def shown(value, limit=40):
    """repr(value), cut to `limit` characters: an error message must stay one short line."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _as_floats(pixels):
    try:
        return np.array(pixels, dtype=np.float64)
    except OverflowError:  # a JSON integer of hundreds of digits
        raise DrawingError("pixels must lie between 0 (background) and 1 (ink)") from None


def _check_numbers(values, where):
    for v in values:
        # JSON numbers arrive as int or float; bool is an int subclass and is refused,
        # as are strings that NumPy would quietly convert.
        if type(v) is not float and type(v) is not int:
            raise DrawingError(f"{where}: every pixel must be a number, got {type(v).__name__}")


def parse_drawing(payload):
    """The image in a /predict request body, as a 2-D float array with values in 0..1.

    Accepted forms of ``payload["pixels"]``:
      a flat list of W*H numbers with ``"width"`` and ``"height"`` given;
      a flat list of a square number of values (784 -> 28x28, 12544 -> 112x112);
      a list of equal-length rows (a 2-D array).
    Each side must be between 1 and MAX_SIDE; every value a finite number in [0, 1].
    Raises DrawingError saying what is wrong.
    """
    if not isinstance(payload, dict):
        raise DrawingError("the request body must be a JSON object like {\"pixels\": [...]}")
    pixels = payload.get("pixels")
    if not isinstance(pixels, list) or not pixels:
        raise DrawingError("\"pixels\" must be a non-empty list of numbers in 0..1")
    if isinstance(pixels[0], list):
        width = len(pixels[0])
        if len(pixels) > MAX_SIDE or width > MAX_SIDE or width == 0:
            raise DrawingError(f"each side must be 1..{MAX_SIDE} pixels, "
                               f"got {len(pixels)} rows of {width}")
        for row in pixels:
            if not isinstance(row, list) or len(row) != width:
                raise DrawingError("\"pixels\" rows must all be lists of the same length")
            _check_numbers(row, "pixels")
        image = _as_floats(pixels)
    else:
        n = len(pixels)
        if n > MAX_SIDE * MAX_SIDE:
            raise DrawingError(f"{n} pixels is more than {MAX_SIDE}x{MAX_SIDE}")
        _check_numbers(pixels, "pixels")
        width, height = payload.get("width"), payload.get("height")
        if width is None and height is None:
            side = math.isqrt(n)
            if side * side != n:
                raise DrawingError(f"{n} pixels is not a square image; give \"width\" and \"height\"")
            width = height = side
        for name, value in (("width", width), ("height", height)):
            if type(value) is not int or not 1 <= value <= MAX_SIDE:
                raise DrawingError(f"\"{name}\" must be an integer 1..{MAX_SIDE}, got {shown(value)}")
        if width * height != n:
            raise DrawingError(f"{n} pixels do not make a {width}x{height} image")
        image = _as_floats(pixels).reshape(height, width)
    if not np.all(np.isfinite(image)):
        raise DrawingError("pixels must be finite numbers (no NaN or infinity)")
    if image.min() < 0.0 or image.max() > 1.0:
        raise DrawingError("pixels must lie between 0 (background) and 1 (ink)")
    return image


def _area_weights(n_in, n_out):
    """A (n_out, n_in) matrix averaging the input cells each output cell covers.

    Output cell i covers [i, i+1) * n_in / n_out in input coordinates; its weight on
    input cell j is the length of the overlap with [j, j+1), normalised to sum to 1.
    """
    edges = np.arange(n_out + 1) * (n_in / n_out)
    low, high = edges[:-1, None], edges[1:, None]
    j = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(high, j + 1) - np.maximum(low, j), 0.0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def resize_area(image, height, width):
    """Resize a 2-D array to (height, width) by area averaging: rows, then columns."""
    image = np.asarray(image, dtype=np.float64)
    return _area_weights(image.shape[0], height) @ image @ _area_weights(image.shape[1], width).T


def drawing_to_mnist(image):
    """A white-on-black drawing (2-D, values 0..1, any size) as a (28, 28) MNIST digit.

    An empty drawing gives an all-zero field.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise DrawingError(f"expected a 2-D image, got shape {image.shape}")
    field = np.zeros((MNIST_SIDE, MNIST_SIDE))
    rows = np.flatnonzero(image.max(axis=1) > _INK)
    cols = np.flatnonzero(image.max(axis=0) > _INK)
    if rows.size == 0:
        return field
    digit = image[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]

    scale = BOX_SIDE / max(digit.shape)
    height = max(1, round(digit.shape[0] * scale))
    width = max(1, round(digit.shape[1] * scale))
    digit = resize_area(digit, height, width)
    digit /= digit.max()

    # Centre of mass in row/column index coordinates. MNIST's digits have theirs at
    # index (14, 14) (measured on the 10,000 test digits: mean 13.99 and 14.01, spread
    # 0.29, as a whole-pixel shift leaves it), so that is where this one goes. Shift by
    # whole pixels and keep the digit inside the field.
    mass = digit.sum()
    cy = (digit.sum(axis=1) * np.arange(height)).sum() / mass
    cx = (digit.sum(axis=0) * np.arange(width)).sum() / mass
    top = int(np.clip(round(CENTRE - cy), 0, MNIST_SIDE - height))
    left = int(np.clip(round(CENTRE - cx), 0, MNIST_SIDE - width))
    field[top:top + height, left:left + width] = digit
    return field
