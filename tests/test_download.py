"""Tests of the downloader against real HTTP servers on 127.0.0.1.

Each test starts its own server (http.server in a thread, port 0) that serves
small synthetic IDX files in several ways: correctly, with wrong content, cut
short mid-file, not at all (404), or never answering.  The published MD5 table
is swapped for the synthetic files' MD5s.  Nothing leaves this machine.
"""

import gzip
import hashlib
import http.server
import socket
import sys
import threading
import types
from pathlib import Path

import numpy as np
import pytest

import chainrule.datasets as ds
from chainrule.datasets import DatasetError, download, mnist

FILES = download.FILES


def synthetic_files(n_train=5, n_test=3):
    """name -> gzip bytes of a tiny, valid MNIST-shaped data set."""
    rng = np.random.default_rng(7)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    files = {}
    for name, array in arrays.items():
        header = bytes([0, 0, 8, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
        files[name] = gzip.compress(header + array.tobytes(), mtime=0)
    return files, arrays


FILE_BYTES, FILE_ARRAYS = synthetic_files()
FILE_MD5 = {name: hashlib.md5(content).hexdigest() for name, content in FILE_BYTES.items()}
# The real tables, saved before any test replaces them.
PUBLISHED_MD5 = {name: dict(table) for name, table in download.MD5.items()}
PUBLISHED_MIRRORS = dict(download.MIRRORS)


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves /<mode>/<file>: mode ok, bad (altered bytes), drop (closes mid-file) or 404."""

    def do_GET(self):
        self.server.requests.append(self.path)
        _, mode, name = self.path.split("/", 2)
        body = FILE_BYTES.get(name)
        if body is None or mode == "404":
            self.send_error(404)
            return
        if mode == "bad":
            body = body[:-1] + bytes([body[-1] ^ 1])
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        # "drop" promises more than it sends, then hangs up.
        self.send_header("Content-Length", str(len(body) + (1000 if mode == "drop" else 0)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if mode == "drop" else body)
        self.wfile.flush()
        if mode == "drop":
            self.close_connection = True

    def log_message(self, *args):
        pass  # keep test output clean


@pytest.fixture
def server():
    """A threaded HTTP server on 127.0.0.1; yields its base URL."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield types.SimpleNamespace(url=lambda mode: f"{base}/{mode}/", requests=httpd.requests)
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def dead_url():
    """A URL on a 127.0.0.1 port where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def silent_url():
    """A URL whose server accepts connections (the kernel does) but never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    listener.close()


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Synthetic checksums; cache in tmp_path; no environment or system copies."""
    monkeypatch.setitem(download.MD5, "mnist", dict(FILE_MD5))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("CHAINRULE_DATA", raising=False)
    monkeypatch.delenv("CHAINRULE_MNIST_MIRRORS", raising=False)
    monkeypatch.setattr(download, "MIRRORS", {"mnist": ("http://127.0.0.1:9/",), "fashion-mnist": ()})
    monkeypatch.setattr(mnist, "SYSTEM_DIRS", {"mnist": (), "fashion-mnist": ()})


def leftovers(folder):
    """Temporary download files left in ``folder``."""
    return [p.name for p in Path(folder).glob("*partial*")]


NAME = "train-labels-idx1-ubyte.gz"


def test_successful_download_is_verified_and_complete(server, tmp_path):
    path = ds.download_file(NAME, tmp_path / "dl", [server.url("ok")], FILE_MD5[NAME], progress=False)
    assert path == tmp_path / "dl" / NAME
    assert path.read_bytes() == FILE_BYTES[NAME]
    assert leftovers(tmp_path / "dl") == []


def test_checksum_mismatch_rejects_file_and_tries_next_mirror(server, tmp_path):
    path = ds.download_file(
        NAME, tmp_path, [server.url("bad"), server.url("ok")], FILE_MD5[NAME], progress=False
    )
    assert path.read_bytes() == FILE_BYTES[NAME]
    assert server.requests == [f"/bad/{NAME}", f"/ok/{NAME}"]
    assert leftovers(tmp_path) == []


def test_checksum_mismatch_everywhere_leaves_nothing(server, tmp_path):
    with pytest.raises(DatasetError) as caught:
        ds.download_file(NAME, tmp_path, [server.url("bad")], FILE_MD5[NAME], progress=False)
    assert "does not match the published" in str(caught.value)
    assert server.url("bad") + NAME in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_connection_dropped_mid_file_leaves_no_partial_and_next_mirror_is_used(server, tmp_path):
    with pytest.raises(DatasetError, match="IncompleteRead|announced"):
        ds.download_file(NAME, tmp_path, [server.url("drop")], FILE_MD5[NAME], progress=False)
    assert list(tmp_path.iterdir()) == []
    path = ds.download_file(
        NAME, tmp_path, [server.url("drop"), server.url("ok")], FILE_MD5[NAME], progress=False
    )
    assert path.read_bytes() == FILE_BYTES[NAME]
    assert leftovers(tmp_path) == []


def test_dead_first_mirror_then_second(server, dead_url, tmp_path):
    path = ds.download_file(NAME, tmp_path, [dead_url, server.url("ok")], FILE_MD5[NAME], progress=False)
    assert path.read_bytes() == FILE_BYTES[NAME]
    with pytest.raises(DatasetError, match="refused"):
        ds.download_file(NAME, tmp_path / "x", [dead_url], FILE_MD5[NAME], progress=False)


def test_http_404_then_next_mirror(server, tmp_path):
    path = ds.download_file(
        NAME, tmp_path, [server.url("404"), server.url("ok")], FILE_MD5[NAME], progress=False
    )
    assert path.is_file()
    assert server.requests[0] == f"/404/{NAME}"


def test_silent_server_times_out_then_next_mirror(server, silent_url, tmp_path):
    path = ds.download_file(
        NAME, tmp_path, [silent_url, server.url("ok")], FILE_MD5[NAME], timeout=0.3, progress=False
    )
    assert path.is_file()
    with pytest.raises(DatasetError, match="timed out"):
        ds.download_file(NAME, tmp_path / "t", [silent_url], FILE_MD5[NAME], timeout=0.3, progress=False)
    assert leftovers(tmp_path / "t") == []


def test_oversized_download_is_abandoned(server, tmp_path, monkeypatch):
    monkeypatch.setattr(download, "MAX_DOWNLOAD_BYTES", 10)
    with pytest.raises(DatasetError, match="more than 10 bytes"):
        ds.download_file(NAME, tmp_path, [server.url("ok")], FILE_MD5[NAME], progress=False)
    assert list(tmp_path.iterdir()) == []


def test_no_mirrors_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="no mirrors configured"):
        ds.download_file(NAME, tmp_path, [], FILE_MD5[NAME])


def test_load_mnist_downloads_into_user_cache_and_then_works_offline(server, dead_url, tmp_path):
    mirrors = [dead_url, server.url("drop"), server.url("ok")]
    (x, t), (x_test, t_test) = ds.load_mnist(normalize=False, mirrors=mirrors, progress=False)
    assert x.shape == (5, 784) and x_test.shape == (3, 784)
    assert np.array_equal(x.reshape(-1, 28, 28), FILE_ARRAYS["train-images-idx3-ubyte.gz"])
    assert np.array_equal(t_test, FILE_ARRAYS["t10k-labels-idx1-ubyte.gz"])
    folder = tmp_path / "xdg-cache" / "chainrule" / "mnist"
    assert sorted(p.name for p in folder.glob("*.gz")) == sorted(FILES)
    assert leftovers(folder) == []
    count = len(server.requests)
    (x_again, _), _ = ds.load_mnist(normalize=False, download=False)
    assert np.array_equal(x_again, x)
    assert len(server.requests) == count


def test_only_missing_files_are_downloaded(server, tmp_path):
    folder = tmp_path / "dl"
    folder.mkdir()
    (folder / FILES[0]).write_bytes(FILE_BYTES[FILES[0]])
    download.download_files("mnist", folder, mirrors=[server.url("ok")], progress=False)
    assert server.requests == [f"/ok/{name}" for name in FILES[1:]]


def test_mirrors_from_environment_variable(server, monkeypatch):
    monkeypatch.setenv("CHAINRULE_MNIST_MIRRORS", f"http://127.0.0.1:9/, {server.url('ok')}")
    assert ds.get_mirrors("mnist") == ["http://127.0.0.1:9/", server.url("ok")]
    assert ds.get_mirrors("mnist", ["http://a/"]) == ["http://a/"]
    (x, _), _ = ds.load_mnist(progress=False)
    assert x.shape == (5, 784)


def test_builtin_mirrors_and_checksums_are_the_published_ones():
    assert PUBLISHED_MIRRORS["mnist"][0] == "https://ossci-datasets.s3.amazonaws.com/mnist/"
    assert PUBLISHED_MD5["mnist"]["train-images-idx3-ubyte.gz"] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert PUBLISHED_MD5["fashion-mnist"]["t10k-labels-idx1-ubyte.gz"] == "bb300cfdad3c16e7a12a480ee83cd310"
    assert set(PUBLISHED_MD5["mnist"]) == set(PUBLISHED_MD5["fashion-mnist"]) == set(FILES)


def test_failed_download_is_reported_with_every_mirror(server, dead_url):
    with pytest.raises(DatasetError) as caught:
        ds.load_mnist(mirrors=[dead_url, server.url("bad")], progress=False)
    message = str(caught.value)
    assert message.startswith("MNIST not found")
    assert dead_url in message and server.url("bad") in message
    assert "does not match" in message


def test_resolve_dataset_reports_failed_download(dead_url):
    choice = ds.resolve_dataset("mnist", mirrors=[dead_url], progress=False)
    assert choice.name == "mnist-10k"
    assert "the download failed" in choice.message


def test_progress_bar_uses_tqdm_when_installed(server, tmp_path, monkeypatch):
    bars = []

    class FakeTqdm:
        def __init__(self, total=None, **kwargs):
            self.total, self.seen, self.closed = total, 0, False
            bars.append(self)

        def update(self, n):
            self.seen += n

        def close(self):
            self.closed = True

    monkeypatch.setitem(sys.modules, "tqdm", types.SimpleNamespace(tqdm=FakeTqdm))
    ds.download_file(NAME, tmp_path, [server.url("ok")], FILE_MD5[NAME], progress=True)
    assert len(bars) == 1
    assert bars[0].total == bars[0].seen == len(FILE_BYTES[NAME]) and bars[0].closed
    ds.download_file(NAME, tmp_path / "quiet", [server.url("ok")], FILE_MD5[NAME], progress=False)
    assert len(bars) == 1


def test_download_is_silent_without_tqdm(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # makes "import tqdm" fail
    ds.download_file(NAME, tmp_path, [server.url("ok")], FILE_MD5[NAME], progress=True)
    assert (tmp_path / NAME).is_file()
    assert capsys.readouterr() == ("", "")
