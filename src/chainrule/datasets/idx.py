"""Reading and writing IDX files, the format MNIST and Fashion-MNIST ship in.

An IDX file is a tiny header followed by a C-ordered block of numbers::

    byte 0-1   two zero bytes
    byte 2     the element type (0x08 = unsigned byte, the only one MNIST uses)
    byte 3     the number of dimensions, ndim
    then       ndim big-endian 32-bit sizes
    then       prod(sizes) elements

Images are a 3-dimensional file (magic 0x00000803, shape (N, 28, 28)) and labels a
1-dimensional one (magic 0x00000801, shape (N,)).  The files are usually
gzip-compressed; the reader recognises gzip by its two magic bytes (0x1f 0x8b), so a
raw and a compressed file can be passed alike.

The reader trusts nothing in the header.  Every field is checked, and the declared
payload size is compared with the bytes actually present *before* the payload array
is allocated, so a corrupt or hostile header can neither make us allocate gigabytes
nor make us wait for data that will never come.  Every problem is reported as a
:class:`DatasetError` whose message starts with the file name.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = [
    "DatasetError",
    "read_idx",
    "read_images",
    "read_labels",
    "read_image_label_pair",
    "write_idx",
]

GZIP_MAGIC = b"\x1f\x8b"

# The type codes of the IDX specification.  Only unsigned bytes are supported,
# but naming the others lets the error message say what the file really holds.
UNSIGNED_BYTE = 0x08
IDX_TYPE_NAMES = {
    0x08: "unsigned byte",
    0x09: "signed byte",
    0x0B: "16-bit integer",
    0x0C: "32-bit integer",
    0x0D: "32-bit float",
    0x0E: "64-bit float",
}

# A gzip stream usually expands MNIST-like images 2-5 times.  The first payload
# buffer is sized from the compressed size with generous headroom, and grows by
# doubling only while data keeps arriving, so memory follows the real content and
# never the (possibly lying) header.
_FIRST_BUFFER_RATIO = 16
_FIRST_BUFFER_MIN = 1 << 20
_READ_CHUNK = 1 << 20


class DatasetError(ValueError):
    """A data set file is missing, corrupt or inconsistent.

    A subclass of ValueError, so code that already catches ValueError for bad input
    keeps working.  The message always names the file(s) and says what was wrong.

    The message is made of parts: text, and Phrase objects where it speaks of how the
    loading was asked for (the loader's parameters, such as data_dir=...). str() says
    them as the library's parameters; `worded(words)` says them in other words (the
    command line's options), each Phrase's key looked up in `words`.
    """

    def __init__(self, *parts):
        self.parts = parts
        super().__init__("".join(str(part) for part in parts))

    def worded(self, words):
        """The message with every Phrase whose key is in `words` said as words[key]."""
        return "".join(words.get(part.key, part) if isinstance(part, Phrase) else str(part)
                       for part in self.parts)


class Phrase(str):
    """Part of a DatasetError's message that names how the loading was asked for: its
    text speaks of the loader's parameters, `key` says what it means."""

    def __new__(cls, key, text):
        phrase = super().__new__(cls, text)
        phrase.key = key
        return phrase


def _fail(path, problem: str) -> DatasetError:
    """Build the error raised for ``path``: file name first, then the problem."""
    return DatasetError(f"{os.fspath(path)}: {problem}")


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


def read_idx(path, *, ndim: int | None = None) -> np.ndarray:
    """Read an unsigned-byte IDX file (raw or gzip-compressed) into a uint8 array.

    Parameters
    ----------
    path : str or os.PathLike
        The file.  Gzip compression is detected from the content, not the name.
    ndim : int, optional
        The number of dimensions the caller expects (3 for images, 1 for labels).
        A file with another number is rejected.

    Returns
    -------
    numpy.ndarray
        A writable uint8 array with the shape the header declares.

    Raises
    ------
    DatasetError
        For an empty file, a bad magic number, an unsupported element type, an
        unexpected number of dimensions, a payload shorter or longer than the header
        declares, or gzip data that is corrupt or cut short.  The message names
        the file and the problem.
    OSError
        If the file cannot be opened at all (for example it does not exist).
    """
    with open(path, "rb") as raw_file:
        start = raw_file.read(2)
        raw_file.seek(0)
        if start == GZIP_MAGIC:
            return _read_gzip_idx(path, raw_file, ndim)
        return _read_raw_idx(path, raw_file, ndim)


def _read_raw_idx(path, stream, ndim) -> np.ndarray:
    """Read an uncompressed IDX file, whose size we know before reading anything."""
    file_size = os.fstat(stream.fileno()).st_size
    shape, header_size = _read_header(path, stream, ndim, compressed=False)
    declared = math.prod(shape)
    actual = file_size - header_size
    # Compare sizes first: the allocation below happens only for a payload that
    # is really there, however large the header claims it to be.
    _check_payload_size(path, shape, declared, actual, compressed=False)
    payload = np.empty(declared, dtype=np.uint8)
    got = _read_into(stream, payload)
    if got != declared:
        # The file shrank while we were reading it.
        _check_payload_size(path, shape, declared, got, compressed=False)
    return payload.reshape(shape)


def _read_gzip_idx(path, raw_file, ndim) -> np.ndarray:
    """Read a gzip-compressed IDX file, decompressing at most declared + 1 bytes.

    The decompressed size is unknown until the stream has been read, so the
    payload buffer starts at a size suggested by the compressed size and grows
    only as data arrives.  One byte past the declared payload is requested to
    detect trailing data; that read also makes the gzip module check the stream's
    CRC and length, so a damaged file is caught even when its payload looks whole.
    """
    compressed_size = os.fstat(raw_file.fileno()).st_size
    try:
        with gzip.GzipFile(fileobj=raw_file, mode="rb") as stream:
            shape, header_size = _read_header(path, stream, ndim, compressed=True)
            declared = math.prod(shape)
            first = max(_FIRST_BUFFER_MIN, _FIRST_BUFFER_RATIO * compressed_size)
            payload = np.empty(min(declared, first), dtype=np.uint8)
            filled = 0
            while True:
                filled += _read_into(stream, payload[filled:])
                if filled < payload.size or payload.size == declared:
                    break
                # The buffer is full and the header promises more: make room.
                bigger = np.empty(min(declared, 2 * payload.size), dtype=np.uint8)
                bigger[:filled] = payload[:filled]
                payload = bigger
            _check_payload_size(path, shape, declared, filled, compressed=True)
            if stream.read(1):
                raise _fail(
                    path,
                    f"trailing data: the decompressed file is longer than the "
                    f"{header_size}-byte header plus the {declared} payload bytes "
                    f"of shape {shape}",
                )
    except (gzip.BadGzipFile, zlib.error, EOFError) as error:
        raise _fail(path, f"corrupt gzip data ({error})") from error
    return payload.reshape(shape)


def _read_header(path, stream, ndim, *, compressed: bool):
    """Read and check the magic number and the dimension sizes.

    Returns the shape as a tuple of ints and the header length in bytes.
    """
    where = "decompressed " if compressed else ""
    magic = _read_exact(stream, 4)
    if len(magic) == 0:
        raise _fail(path, f"empty file ({where}size 0 bytes)")
    if len(magic) < 4:
        raise _fail(
            path, f"truncated header: {len(magic)} {where}bytes, an IDX file needs at least 4"
        )
    zero0, zero1, type_code, file_ndim = magic
    magic_hex = f"0x{magic.hex()}"
    if zero0 != 0 or zero1 != 0:
        raise _fail(
            path,
            f"bad magic number {magic_hex}: an IDX file starts with two zero bytes "
            f"(0x00000803 for images, 0x00000801 for labels)",
        )
    if type_code != UNSIGNED_BYTE:
        kind = IDX_TYPE_NAMES.get(type_code, "unknown type")
        raise _fail(
            path,
            f"unsupported element type 0x{type_code:02x} ({kind}) in magic number "
            f"{magic_hex}: only 0x08 (unsigned byte) is supported",
        )
    if file_ndim == 0:
        raise _fail(path, f"bad magic number {magic_hex}: zero dimensions")
    if ndim is not None and file_ndim != ndim:
        raise _fail(
            path,
            f"wrong number of dimensions: magic number {magic_hex} declares "
            f"{file_ndim}, expected {ndim} (magic 0x000008{ndim:02x})",
        )
    size_bytes = _read_exact(stream, 4 * file_ndim)
    if len(size_bytes) < 4 * file_ndim:
        raise _fail(
            path,
            f"truncated header: {file_ndim} dimension sizes need {4 * file_ndim} "
            f"bytes after the magic number, the file has {len(size_bytes)}",
        )
    shape = struct.unpack(f">{file_ndim}I", size_bytes)
    return tuple(int(size) for size in shape), 4 + 4 * file_ndim


def _check_payload_size(path, shape, declared, actual, *, compressed: bool):
    """Raise unless the payload holds exactly the bytes the header declares."""
    where = "decompressed " if compressed else ""
    if actual < declared:
        raise _fail(
            path,
            f"truncated payload: the header declares shape {shape}, i.e. "
            f"{declared} bytes, but only {actual} {where}bytes follow the header",
        )
    if actual > declared:
        raise _fail(
            path,
            f"trailing data: the header declares shape {shape}, i.e. {declared} "
            f"bytes, but {actual} {where}bytes follow the header "
            f"({actual - declared} too many)",
        )


def _read_exact(stream, size: int) -> bytes:
    """Read ``size`` bytes, or fewer only if the stream ends first."""
    chunks = []
    remaining = size
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _read_into(stream, buffer: np.ndarray) -> int:
    """Fill ``buffer`` from ``stream``; return how many bytes arrived before EOF.

    Reads go in chunks of at most 1 MiB because a buffered stream may allocate a
    temporary as large as the request, which would double the memory of a load.
    """
    view = memoryview(buffer).cast("B")
    filled = 0
    while filled < len(view):
        got = stream.readinto(view[filled : filled + _READ_CHUNK])
        if not got:
            break
        filled += got
    return filled


def read_images(path, *, image_shape: tuple[int, int] | None = (28, 28)) -> np.ndarray:
    """Read an IDX image file: a uint8 array of shape (N, rows, cols).

    ``image_shape`` is the (rows, cols) every image must have; pass None to accept
    any size.  A mismatch raises :class:`DatasetError`.
    """
    images = read_idx(path, ndim=3)
    if image_shape is not None and images.shape[1:] != tuple(image_shape):
        rows, cols = image_shape
        raise _fail(
            path,
            f"wrong image size: the header declares images of "
            f"{images.shape[1]}x{images.shape[2]} pixels, expected {rows}x{cols}",
        )
    return images


def read_labels(path, *, num_classes: int | None = 10) -> np.ndarray:
    """Read an IDX label file: a uint8 array of shape (N,).

    Every label must lie in ``0 .. num_classes - 1`` (pass None to skip the
    check); the first offending label is reported in the :class:`DatasetError`.
    """
    labels = read_idx(path, ndim=1)
    if num_classes is not None and labels.size and labels.max() >= num_classes:
        bad = int(np.argmax(labels >= num_classes))
        raise _fail(
            path,
            f"label out of range: label {int(labels[bad])} at index {bad}, "
            f"labels must lie in 0..{num_classes - 1}",
        )
    return labels


def read_image_label_pair(
    images_path,
    labels_path,
    *,
    image_shape: tuple[int, int] | None = (28, 28),
    num_classes: int | None = 10,
) -> tuple[np.ndarray, np.ndarray]:
    """Read an image file and its label file, checking that they belong together.

    Returns ``(images, labels)``, uint8 arrays of shapes (N, rows, cols) and (N,).
    Besides the checks of :func:`read_images` and :func:`read_labels`, the two
    files must hold the same number of items.
    """
    images = read_images(images_path, image_shape=image_shape)
    labels = read_labels(labels_path, num_classes=num_classes)
    if len(images) != len(labels):
        raise DatasetError(
            f"{os.fspath(images_path)} and {os.fspath(labels_path)}: count mismatch: "
            f"{len(images)} images but {len(labels)} labels"
        )
    return images, labels


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


def write_idx(path, array, *, compress: bool | None = None) -> Path:
    """Write a uint8 array as an IDX file; gzip it if ``compress`` (default: name ends in .gz).

    Useful for building small test files and for exporting data.  The gzip header
    carries no timestamp, so the same array always gives the same bytes.
    """
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise TypeError(f"write_idx writes uint8 arrays only, got {array.dtype}")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"an IDX file holds 1 to 255 dimensions, got {array.ndim}")
    if any(size >= 2**32 for size in array.shape):
        raise ValueError(f"IDX dimension sizes must fit 32 bits, got {array.shape}")
    path = Path(path)
    if compress is None:
        compress = path.suffix == ".gz"
    header = bytes([0, 0, UNSIGNED_BYTE, array.ndim]) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    content = header + np.ascontiguousarray(array).tobytes()
    if compress:
        content = gzip.compress(content, mtime=0)
    path.write_bytes(content)
    return path
