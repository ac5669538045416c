"""Downloading data set files from a list of mirrors, safely.

A download is trusted only once it is whole and matches the MD5 its publishers
list.  Until then it lives in a temporary ``.partial`` file next to its final
place; only a verified file is renamed into place, in one atomic step, so an
interrupted or corrupt download can never be mistaken for a good file.  Any
failure (HTTP error, refused connection, timeout, short body, wrong checksum)
moves on to the next mirror.

Only the standard library is used (urllib).  A progress bar is shown when tqdm
is installed; otherwise downloads are silent.  The mirror lists and checksum
tables are module-level constants so tests can point them at a local server:
pass ``mirrors=`` to the functions, or set the environment variable named in
:data:`MIRRORS_ENV` (whitespace- or comma-separated base URLs).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import secrets
import urllib.error
import urllib.request
from pathlib import Path

from .idx import DatasetError

__all__ = [
    "FILES",
    "MD5",
    "MIRRORS",
    "MIRRORS_ENV",
    "TIMEOUT",
    "MAX_DOWNLOAD_BYTES",
    "get_mirrors",
    "download_file",
    "download_files",
]

# The four files of MNIST and of Fashion-MNIST have the same names.
FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

# MD5 of each .gz file as published with the data set.  They guard downloads only:
# copies found on disk (Debian re-compressed its Fashion-MNIST) are checked by
# parsing them instead.
MD5 = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}

# Base URLs, tried in order.  yann.lecun.com comes last: it often refuses
# automated downloads.
MIRRORS = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion-mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
}

# Environment variables that replace a data set's mirror list.
MIRRORS_ENV = {
    "mnist": "CHAINRULE_MNIST_MIRRORS",
    "fashion-mnist": "CHAINRULE_FASHION_MNIST_MIRRORS",
}

# Seconds to wait for a connection or for the next block of data.  urllib applies
# it to each socket operation, so a slow but steady download is not cut off.
TIMEOUT = 30.0

# The largest file is about 26 MB; a server streaming far more than that is
# broken, and stopping it keeps a bad mirror from filling the disk.
MAX_DOWNLOAD_BYTES = 128 * 2**20

_BLOCK = 1 << 16


def get_mirrors(name: str, mirrors=None) -> list[str]:
    """The mirror base URLs for data set ``name``, in the order they are tried.

    ``mirrors`` (a list of URLs) wins; then the environment variable
    ``MIRRORS_ENV[name]``; then the built-in :data:`MIRRORS`.
    """
    if mirrors is not None:
        return [str(url) for url in mirrors]
    from_env = os.environ.get(MIRRORS_ENV.get(name, ""), "").replace(",", " ").split()
    if from_env:
        return from_env
    return list(MIRRORS.get(name, ()))


def _url(base: str, filename: str) -> str:
    return base.rstrip("/") + "/" + filename


def _open_progress(total, label: str, enabled: bool):
    """A tqdm bar if asked for and installed, else None (downloads stay silent)."""
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=label, unit="B", unit_scale=True, leave=False)


def _fetch_one(url: str, target_dir: Path, filename: str, md5: str, timeout, progress):
    """Download ``url`` into a temporary file in ``target_dir``; return its path.

    The temporary file is deleted again on every failure, which is raised.
    """
    digest = hashlib.md5(usedforsecurity=False)
    # A unique name per attempt, so two processes downloading at once never
    # write into the same partial file.
    partial = target_dir / f".{filename}.{os.getpid()}-{secrets.token_hex(4)}.partial"
    bar = None
    try:
        with open(partial, "xb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            bar = _open_progress(total, filename, progress)
            received = 0
            while True:
                # read() raises http.client.IncompleteRead if the server closes
                # the connection before sending the Content-Length it announced.
                block = response.read(_BLOCK)
                if not block:
                    break
                received += len(block)
                if received > MAX_DOWNLOAD_BYTES:
                    raise DatasetError(f"more than {MAX_DOWNLOAD_BYTES} bytes, giving up")
                digest.update(block)
                out.write(block)
                if bar is not None:
                    bar.update(len(block))
        if total is not None and received != total:
            raise DatasetError(f"got {received} bytes, the server announced {total}")
        if digest.hexdigest() != md5:
            raise DatasetError(f"MD5 {digest.hexdigest()} does not match the published {md5}")
        return partial
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        if bar is not None:
            bar.close()


def download_file(
    filename: str,
    target_dir,
    mirrors,
    md5: str,
    *,
    timeout: float | None = None,
    progress: bool = True,
) -> Path:
    """Download ``filename`` from the first mirror that delivers it whole and verified.

    Parameters
    ----------
    filename : str
        The file's name; its URL is ``mirror + filename``.
    target_dir : str or os.PathLike
        The directory that receives the file (created if needed).
    mirrors : sequence of str
        Base URLs tried in order.
    md5 : str
        The expected MD5 (hex) of the file.
    timeout : float, optional
        Seconds per connection attempt and per read (default :data:`TIMEOUT`).
    progress : bool
        Show a tqdm progress bar if tqdm is installed.

    Returns
    -------
    pathlib.Path
        ``target_dir / filename``, present only if its MD5 matched.

    Raises
    ------
    DatasetError
        If no mirror delivered a good file; the message lists each mirror's failure.
    """
    target_dir = Path(target_dir)
    target = target_dir / filename
    timeout = TIMEOUT if timeout is None else timeout
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DatasetError(f"{target_dir}: cannot create the download directory ({error})") from error
    failures = []
    for base in mirrors:
        url = _url(base, filename)
        try:
            partial = _fetch_one(url, target_dir, filename, md5, timeout, progress)
        except (
            urllib.error.URLError,  # also HTTPError: 404, 403, 500 ...
            http.client.HTTPException,  # also IncompleteRead, RemoteDisconnected
            OSError,  # refused or reset connections, timeouts, a full disk
            ValueError,  # a malformed URL; DatasetError for a short or wrong file
        ) as error:
            failures.append(f"{url}: {error}")
            continue
        os.replace(partial, target)
        return target
    if not failures:
        failures.append("no mirrors configured")
    raise DatasetError(
        f"{target}: download failed from every mirror:\n  " + "\n  ".join(failures)
    )


def download_files(
    name: str,
    target_dir,
    *,
    filenames=FILES,
    mirrors=None,
    checksums=None,
    timeout: float | None = None,
    progress: bool = True,
) -> Path:
    """Download the files of data set ``name`` that ``target_dir`` does not hold yet.

    ``mirrors`` defaults to :func:`get_mirrors` and ``checksums`` (filename -> MD5)
    to ``MD5[name]``.  Returns ``target_dir``.  Raises :class:`DatasetError` on the
    first file no mirror could deliver.
    """
    target_dir = Path(target_dir)
    base_urls = get_mirrors(name, mirrors)
    checksums = MD5[name] if checksums is None else checksums
    for filename in filenames:
        if not (target_dir / filename).is_file():
            download_file(
                filename, target_dir, base_urls, checksums[filename],
                timeout=timeout, progress=progress,
            )
    return target_dir
