"""A cache of parsed data sets as plain NumPy ``.npy`` files.

Decompressing and checking 60,000 images takes about half a second; loading the
same arrays from ``.npy`` files with ``mmap_mode="r"`` takes milliseconds and
costs no memory until pages are touched.  So each data set, once parsed, is saved
in the user cache directory (never inside the package, which may be read-only
and is shared between users)::

    $XDG_CACHE_HOME/chainrule/<name>/     (default ~/.cache/chainrule/<name>/)
        train-images.npy  train-labels.npy  test-images.npy  test-labels.npy
        parsed.json       which source files these were built from

``parsed.json`` records the path, size and modification time (ns) of every
source file.  When any of these differs on the next load, the arrays are
rebuilt, so replacing or touching a source file is enough to refresh the cache.
Files are written to a temporary name and moved into place with ``os.replace``,
so a crash mid-write leaves either the old cache or none, never half of one.
The ``.npy`` format holds only raw numbers here: arrays are saved and loaded
with ``allow_pickle=False``.

If the cache directory cannot be written, caching is silently skipped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..files import atomic_file

__all__ = ["ARRAY_NAMES", "user_cache_dir", "source_stamp", "load_cached", "save_cached"]

# Bump when the layout or meaning of the cached arrays changes, so old caches
# are rebuilt instead of being misread.
CACHE_FORMAT = 1

ARRAY_NAMES = ("train-images", "train-labels", "test-images", "test-labels")
SIDECAR = "parsed.json"


def user_cache_dir() -> Path:
    """The root of chainrule's cache: ``$XDG_CACHE_HOME/chainrule`` or ``~/.cache/chainrule``.

    A relative XDG_CACHE_HOME is ignored, as the XDG specification asks.
    """
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "chainrule"


def source_stamp(paths) -> list[dict]:
    """What identifies the source files' current content: path, size, mtime in ns."""
    stamp = []
    for path in paths:
        info = os.stat(path)
        stamp.append(
            {"path": os.path.abspath(path), "size": info.st_size, "mtime_ns": info.st_mtime_ns}
        )
    return stamp


def load_cached(directory, stamp, *, tag: str = ""):
    """The four cached arrays if they were built from the sources ``stamp`` describes, else None.

    ``stamp`` is :func:`source_stamp` of the source files, taken now.

    The arrays come back as read-only memory maps of the ``.npy`` files.  A cache
    that is missing, stale, built with another ``tag`` or damaged gives None,
    so the caller rebuilds it.
    """
    directory = Path(directory)
    try:
        record = json.loads((directory / SIDECAR).read_text(encoding="utf-8"))
        if (
            record.get("format") != CACHE_FORMAT
            or record.get("tag") != tag
            or record.get("sources") != stamp
        ):
            return None
        arrays = []
        for name in ARRAY_NAMES:
            array = np.load(directory / f"{name}.npy", mmap_mode="r", allow_pickle=False)
            if array.dtype != np.uint8 or list(array.shape) != record["shapes"][name]:
                return None
            arrays.append(array)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        # Missing, unreadable or corrupt: not worth an error, just rebuild.
        return None
    return tuple(arrays)


def save_cached(directory, stamp, arrays, *, tag: str = "") -> bool:
    """Save the four uint8 arrays (see ARRAY_NAMES) built from the sources ``stamp`` describes.

    Take ``stamp`` (:func:`source_stamp`) *before* parsing the sources: if a
    source changes while it is being parsed, the cache then looks stale next
    time instead of passing for the new content.

    Returns True if the cache was written, False if the directory is not writable.
    The sidecar is removed first and written last: while the arrays are being
    replaced, a concurrent reader finds no valid cache rather than a mixed one.
    """
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / SIDECAR).unlink(missing_ok=True)
        shapes = {}
        for name, array in zip(ARRAY_NAMES, arrays):
            with atomic_file(directory / f"{name}.npy") as out:
                np.save(out, array, allow_pickle=False)
            shapes[name] = list(array.shape)
        record = {
            "format": CACHE_FORMAT,
            "tag": tag,
            "sources": stamp,
            "shapes": shapes,
        }
        with atomic_file(directory / SIDECAR) as out:
            out.write(json.dumps(record, indent=1).encode("utf-8"))
    except OSError:
        return False
    return True
