"""Data augmentation for image batches: random shifts, small rotations, mirror images.

Each training batch is transformed afresh, so the network never sees exactly the same
picture twice and learns that a shirt moved by two pixels is still a shirt. Off unless
asked for. Everything is NumPy; the random numbers come from a generator the caller
passes, so a run is reproducible (the trainer derives it from the run's seed and the
step's index, which also makes a resumed run draw exactly what the unbroken one drew).
"""

import math

import numpy as np

__all__ = ["Augment"]


class Augment:
    """A random affine change of each image: a shift, a rotation and a mirror image.

    For each image an integer shift (dy, dx) is drawn uniformly from [-shift, shift], an
    angle from [-rotation, rotation] degrees, and a mirror (left-right) with probability
    one half if `flip`. The output pixel at p takes the input's value at

        q = R(-angle) (p - c - d) + c          (c: the image's centre, d: the shift)

    read by bilinear interpolation, with zero (black) outside the image. Without a
    rotation q falls on whole pixels and the image is shifted exactly.

    Batches are (N, C, H, W), or flat (N, C*H*W) with `image_shape` = (C, H, W) (the
    trainer passes the network's input shape; a flat square image of one channel is
    understood without it). Returns a new array of the input's shape and dtype.
    """

    def __init__(self, shift=2, rotation=0.0, flip=False, image_shape=None):
        if int(shift) != shift or shift < 0:
            raise ValueError(f"shift must be a whole number of pixels >= 0, got {shift!r}")
        rotation = float(rotation)
        if not 0.0 <= rotation <= 45.0:
            raise ValueError(f"rotation must be between 0 and 45 degrees, got {rotation}")
        self.shift = int(shift)
        self.rotation = rotation
        self.flip = bool(flip)
        self.image_shape = tuple(int(d) for d in image_shape) if image_shape else None
        if self.image_shape is not None and len(self.image_shape) != 3:
            raise ValueError(f"image_shape must be (channels, height, width), "
                             f"got {image_shape!r}")

    def check_shape(self, image_shape):
        """ValueError unless the shift fits images of `image_shape` (C, H, W) or (H, W):
        a shift as large as the image moves every pixel out of the frame."""
        h, w = (int(d) for d in tuple(image_shape)[-2:])
        if self.shift >= min(h, w):
            raise ValueError(f"a shift of {self.shift} pixels moves a {h}x{w} image out "
                             f"of its frame: the shift must be less than the image's "
                             f"height and width (at most {min(h, w) - 1})")

    def check(self, x):
        """ValueError unless batches like `x` can be augmented: images, or flat samples
        of a known or square image shape, that the shift fits."""
        self.check_shape(self._images(np.asarray(x)).shape[1:])

    def config(self):
        """The settings as JSON (kept in a checkpoint's training state)."""
        return {"shift": self.shift, "rotation": self.rotation, "flip": self.flip}

    def __repr__(self):
        return f"Augment(shift={self.shift}, rotation={self.rotation:g}, flip={self.flip})"

    def _images(self, x):
        if x.ndim == 4:
            return x
        if x.ndim == 2:
            shape = self.image_shape
            if shape is None:
                side = math.isqrt(x.shape[1])
                if side * side != x.shape[1]:
                    raise ValueError(f"cannot augment flat samples of {x.shape[1]} values "
                                     f"without image_shape=(channels, height, width)")
                shape = (1, side, side)
            if int(np.prod(shape)) != x.shape[1]:
                raise ValueError(f"image_shape {shape} does not fit samples of "
                                 f"{x.shape[1]} values")
            return x.reshape((x.shape[0],) + shape)
        raise ValueError(f"augmentation works on image batches (N, C, H, W) or (N, D), "
                         f"got shape {x.shape}")

    def __call__(self, x, rng):
        x = np.asarray(x)
        images = self._images(x)
        n, _, h, w = images.shape
        self.check_shape((h, w))
        dy = rng.integers(-self.shift, self.shift + 1, size=n)
        dx = rng.integers(-self.shift, self.shift + 1, size=n)
        angle = np.deg2rad(rng.uniform(-self.rotation, self.rotation, size=n))
        mirror = rng.random(n) < 0.5 if self.flip else np.zeros(n, dtype=bool)

        if self.rotation == 0.0:
            out = _shift(images, dy, dx)
        else:
            out = _rotate_shift(images, angle, dy, dx)
        if mirror.any():
            out[mirror] = out[mirror][..., ::-1]
        return out.reshape(x.shape)


def _shift(images, dy, dx):
    """Whole-pixel shifts, zero-filled: output[i, j] = input[i - dy, j - dx]."""
    n, _, h, w = images.shape
    out = np.zeros_like(images)
    for k in range(n):
        sy, sx = int(dy[k]), int(dx[k])
        out[k, :, max(sy, 0):h + min(sy, 0), max(sx, 0):w + min(sx, 0)] = \
            images[k, :, max(-sy, 0):h + min(-sy, 0), max(-sx, 0):w + min(-sx, 0)]
    return out


def _rotate_shift(images, angle, dy, dx):
    """Rotation about the centre and shift, by bilinear interpolation (zero outside)."""
    n, c, h, w = images.shape
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    rows, cols = np.mgrid[0:h, 0:w]
    # Where each output pixel comes from: undo the shift, then rotate back by -angle.
    py = rows[None] - cy - dy[:, None, None]
    px = cols[None] - cx - dx[:, None, None]
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    qy = cos * py - sin * px + cy
    qx = sin * py + cos * px + cx
    y0 = np.floor(qy).astype(np.int64)
    x0 = np.floor(qx).astype(np.int64)
    fy = (qy - y0).astype(images.dtype)[:, None]
    fx = (qx - x0).astype(images.dtype)[:, None]
    batch = np.arange(n)[:, None, None]

    def pixel(yy, xx):
        inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
        values = images[batch, :, np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)]
        # fancy indexing puts the channel last: (n, h, w, c) -> (n, c, h, w)
        values = np.moveaxis(values, -1, 1)
        return values * inside[:, None].astype(images.dtype)

    top = pixel(y0, x0) * (1 - fx) + pixel(y0, x0 + 1) * fx
    bottom = pixel(y0 + 1, x0) * (1 - fx) + pixel(y0 + 1, x0 + 1) * fx
    return (top * (1 - fy) + bottom * fy).astype(images.dtype, copy=False)
