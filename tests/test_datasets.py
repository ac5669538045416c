"""Tests of chainrule.datasets: the IDX reader, the loaders, the cache and mnist-10k.

No test touches ~/.cache or the internet: every test runs with XDG_CACHE_HOME in
tmp_path, no CHAINRULE_DATA, no system copies (unless a test adds one) and
mirrors pointing at a closed port on 127.0.0.1.
"""

import gzip
import hashlib
import os
import struct
from pathlib import Path

import numpy as np
import pytest

import chainrule.datasets as ds
from chainrule.datasets import DatasetError, cache, mnist
from chainrule.datasets.idx import read_idx, read_image_label_pair, read_images, read_labels

BUNDLED_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


# ---------------------------------------------------------------------------
# Helpers and fixtures
# ---------------------------------------------------------------------------


def idx_bytes(shape, payload=None, *, type_code=0x08, ndim=None):
    """IDX content built by hand (independently of write_idx), header fields overridable."""
    ndim = len(shape) if ndim is None else ndim
    if payload is None:
        payload = bytes(i % 251 for i in range(int(np.prod(shape))))
    return bytes([0, 0, type_code, ndim]) + struct.pack(f">{len(shape)}I", *shape) + payload


def write(path, content, compress=False):
    path = Path(path)
    path.write_bytes(gzip.compress(content, mtime=0) if compress else content)
    return path


def make_dataset_dir(directory, n_train=6, n_test=4, seed=0, compress=True, image_shape=(28, 28)):
    """Write a tiny MNIST-shaped data set (four IDX files) and return its arrays."""
    rng = np.random.default_rng(seed)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, *image_shape), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, *image_shape), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for stem, array in arrays.items():
        ds.write_idx(directory / (stem + ".gz" if compress else stem), array)
    return arrays


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Keep every test away from the real cache, the environment, system copies and the network."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("CHAINRULE_DATA", raising=False)
    dead = "http://127.0.0.1:9/"  # the discard port: nothing answers there
    monkeypatch.setenv("CHAINRULE_MNIST_MIRRORS", dead)
    monkeypatch.setenv("CHAINRULE_FASHION_MNIST_MIRRORS", dead)
    monkeypatch.setattr(mnist, "SYSTEM_DIRS", {"mnist": (), "fashion-mnist": ()})


@pytest.fixture
def fake_mnist(tmp_path):
    """A tiny data set in tmp_path/'fake' and its arrays."""
    return tmp_path / "fake", make_dataset_dir(tmp_path / "fake")


@pytest.fixture
def parse_counter(monkeypatch):
    """Count how often the loader parses source files (instead of using its cache)."""
    calls = []
    original = mnist._parse

    def counting_parse(name, sources):
        calls.append(name)
        return original(name, sources)

    monkeypatch.setattr(mnist, "_parse", counting_parse)
    return calls


def is_memory_mapped(array):
    base = array
    while base is not None:
        if isinstance(base, np.memmap):
            return True
        base = base.base
    return False


# ---------------------------------------------------------------------------
# IDX reader: valid files
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("shape", [(5,), (3, 4, 2), (0, 28, 28), (2, 1, 1, 3)])
def test_read_idx_valid(tmp_path, compress, shape):
    content = idx_bytes(shape)
    path = write(tmp_path / "file.idx", content, compress)
    array = read_idx(path)
    assert array.dtype == np.uint8
    assert array.shape == shape
    assert array.tobytes() == content[4 + 4 * len(shape):]
    assert array.flags.writeable


def test_gzip_is_detected_by_content_not_name(tmp_path):
    content = idx_bytes((3, 2, 2))
    raw_named_gz = write(tmp_path / "raw.gz", content)
    gz_named_raw = write(tmp_path / "packed", content, compress=True)
    assert np.array_equal(read_idx(raw_named_gz), read_idx(gz_named_raw))


@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_write_idx_round_trip_and_is_deterministic(tmp_path, name):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    first = ds.write_idx(tmp_path / name, array).read_bytes()
    second = ds.write_idx(tmp_path / name, array).read_bytes()
    assert first == second
    assert first.startswith(b"\x1f\x8b") == name.endswith(".gz")
    assert np.array_equal(read_idx(tmp_path / name), array)


def test_write_idx_rejects_non_uint8(tmp_path):
    with pytest.raises(TypeError):
        ds.write_idx(tmp_path / "x", np.zeros(3, dtype=np.float32))


def test_read_image_label_pair_valid(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.int64).astype(np.uint8).reshape(2, 28, 28)
    ds.write_idx(tmp_path / "i.gz", images)
    ds.write_idx(tmp_path / "l", np.array([3, 9], dtype=np.uint8))
    got_images, got_labels = read_image_label_pair(tmp_path / "i.gz", tmp_path / "l")
    assert np.array_equal(got_images, images)
    assert got_labels.tolist() == [3, 9]


# ---------------------------------------------------------------------------
# IDX reader: corrupt files
# ---------------------------------------------------------------------------

CORRUPT_CASES = {
    # name: (file content before optional compression, words the message must contain)
    "bad magic": (b"\x01\x02\x08\x01" + struct.pack(">I", 2) + b"ab", ["bad magic number 0x01020801"]),
    "float type": (idx_bytes((2,), b"\0" * 8, type_code=0x0D), ["unsupported element type 0x0d", "32-bit float"]),
    "unknown type": (idx_bytes((2,), type_code=0x42), ["unsupported element type 0x42", "unknown type"]),
    "zero dims": (b"\x00\x00\x08\x00", ["zero dimensions"]),
    "empty": (b"", ["empty file"]),
    "short magic": (b"\x00\x00\x08", ["truncated header", "3"]),
    "short dims": (b"\x00\x00\x08\x03" + struct.pack(">2I", 1, 28), ["truncated header", "need 12 bytes", "has 8"]),
    "truncated payload": (idx_bytes((1, 28, 28))[:-84], ["truncated payload", "784 bytes", "only 700"]),
    "trailing data": (idx_bytes((2,)) + b"xyz", ["trailing data"]),
    "huge dims": (idx_bytes((2**32 - 1,) * 3, b"tiny"), ["truncated payload", "only 4"]),
}


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("case", sorted(CORRUPT_CASES))
def test_read_idx_rejects_corrupt_file(tmp_path, case, compress):
    content, words = CORRUPT_CASES[case]
    path = write(tmp_path / f"corrupt-{case.replace(' ', '-')}", content, compress)
    with pytest.raises(DatasetError) as caught:
        read_idx(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    for word in words:
        assert word in message
    assert isinstance(caught.value, ValueError)


def test_trailing_data_message_counts_extra_bytes_of_raw_file(tmp_path):
    path = write(tmp_path / "t", idx_bytes((2,)) + b"xyz")
    with pytest.raises(DatasetError, match="3 too many"):
        read_idx(path)


@pytest.mark.parametrize(
    "damage",
    ["random after magic", "tail cut", "crc flipped", "garbage after member", "length field wrong"],
)
def test_read_idx_rejects_corrupt_gzip(tmp_path, damage):
    good = gzip.compress(idx_bytes((4, 5, 6)), mtime=0)
    if damage == "random after magic":
        content = b"\x1f\x8b" + np.random.default_rng(1).integers(0, 256, 200, dtype=np.uint8).tobytes()
    elif damage == "tail cut":
        content = good[: len(good) // 2]
    elif damage == "crc flipped":
        content = good[:-8] + bytes([good[-8] ^ 0xFF]) + good[-7:]
    elif damage == "garbage after member":
        content = good + b"not gzip at all"
    else:
        content = good[:-4] + struct.pack("<I", 12345)
    path = write(tmp_path / "broken.gz", content)
    with pytest.raises(DatasetError) as caught:
        read_idx(path)
    assert str(caught.value).startswith(str(path))
    assert "gzip" in str(caught.value)


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nothing-here")


def test_wrong_image_size_is_rejected(tmp_path):
    path = write(tmp_path / "images", idx_bytes((2, 27, 28)))
    with pytest.raises(DatasetError, match=r"wrong image size.*27x28 pixels, expected 28x28"):
        read_images(path)
    assert read_images(path, image_shape=None).shape == (2, 27, 28)


def test_two_dimensional_labels_are_rejected(tmp_path):
    path = write(tmp_path / "labels", idx_bytes((2, 3)))
    with pytest.raises(DatasetError, match="wrong number of dimensions.*declares 2, expected 1"):
        read_labels(path)


def test_image_file_given_as_labels_is_rejected(tmp_path):
    path = write(tmp_path / "images", idx_bytes((1, 28, 28)))
    with pytest.raises(DatasetError, match="0x00000803 declares 3, expected 1"):
        read_labels(path)


def test_labels_out_of_range_are_rejected(tmp_path):
    path = write(tmp_path / "labels", idx_bytes((5,), bytes([1, 2, 3, 10, 0])))
    with pytest.raises(DatasetError, match="label out of range: label 10 at index 3"):
        read_labels(path)


def test_count_mismatch_names_both_files(tmp_path):
    images = write(tmp_path / "images", idx_bytes((5, 28, 28)))
    labels = write(tmp_path / "labels", idx_bytes((4,), bytes(4)))
    with pytest.raises(DatasetError) as caught:
        read_image_label_pair(images, labels)
    message = str(caught.value)
    assert str(images) in message and str(labels) in message
    assert "count mismatch: 5 images but 4 labels" in message


# ---------------------------------------------------------------------------
# The loaders, on a tiny synthetic data set
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("flatten", [True, False])
@pytest.mark.parametrize("one_hot_label", [False, True])
@pytest.mark.parametrize("normalize", [True, False])
def test_load_mnist_shapes_and_values(fake_mnist, normalize, flatten, one_hot_label):
    folder, arrays = fake_mnist
    (x_train, t_train), (x_test, t_test) = ds.load_mnist(
        normalize, flatten, one_hot_label, data_dir=folder, download=False
    )
    image_dtype = np.float32 if normalize else np.uint8
    assert x_train.shape == ((6, 784) if flatten else (6, 1, 28, 28))
    assert x_test.shape == ((4, 784) if flatten else (4, 1, 28, 28))
    assert x_train.dtype == x_test.dtype == image_dtype
    expected = arrays["train-images-idx3-ubyte"].reshape(x_train.shape)
    if normalize:
        assert np.array_equal(x_train, expected.astype(np.float32) / np.float32(255))
        assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    else:
        assert np.array_equal(x_train, expected)
    labels = arrays["train-labels-idx1-ubyte"]
    if one_hot_label:
        assert t_train.shape == (6, 10) and t_test.shape == (4, 10)
        assert t_train.dtype == image_dtype
        assert np.array_equal(t_train.argmax(axis=1), labels)
        assert np.array_equal(t_train.sum(axis=1), np.ones(6))
    else:
        assert t_train.dtype == np.int64 and t_train.shape == (6,)
        assert np.array_equal(t_train, labels)
    assert np.array_equal(t_test if not one_hot_label else t_test.argmax(1), arrays["t10k-labels-idx1-ubyte"])


def test_load_fashion_mnist_and_load_dataset_agree(fake_mnist):
    folder, _ = fake_mnist
    (x, t), (x_test, t_test) = ds.load_fashion_mnist(data_dir=folder, download=False)
    (x2, t2), (x2_test, t2_test) = ds.load_dataset("Fashion_MNIST", data_dir=folder, download=False)
    for mine, theirs in [(x, x2), (t, t2), (x_test, x2_test), (t_test, t2_test)]:
        assert np.array_equal(mine, theirs)


def test_dtype_keyword(fake_mnist):
    folder, _ = fake_mnist
    (x, t), _ = ds.load_mnist(one_hot_label=True, data_dir=folder, download=False, dtype=np.float64)
    assert x.dtype == t.dtype == np.float64
    with pytest.raises(ValueError, match="floating dtype"):
        ds.load_mnist(normalize=True, data_dir=folder, download=False, dtype=np.int32)
    (x, _), _ = ds.load_mnist(normalize=False, data_dir=folder, download=False, dtype=np.float32)
    assert x.dtype == np.float32 and x.max() > 1


def test_unknown_name_is_rejected():
    with pytest.raises(ValueError, match="unknown data set 'cifar'"):
        ds.load_dataset("cifar")


def test_raw_files_and_subfolder_layout(tmp_path):
    arrays = make_dataset_dir(tmp_path / "root" / "mnist", compress=False)
    (x, t), _ = ds.load_mnist(normalize=False, data_dir=tmp_path / "root", download=False)
    assert np.array_equal(x.reshape(-1, 28, 28), arrays["train-images-idx3-ubyte"])


def test_chainrule_data_environment_variable(tmp_path, monkeypatch):
    arrays = make_dataset_dir(tmp_path / "env" / "fashion-mnist", seed=3)
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "env"))
    (_, t), _ = ds.load_fashion_mnist(download=False)
    assert np.array_equal(t, arrays["train-labels-idx1-ubyte"])
    # The layout is one subfolder per data set: no MNIST there.
    assert not ds.dataset_available("mnist")


def test_data_dir_comes_before_environment_and_user_cache(tmp_path, monkeypatch):
    make_dataset_dir(tmp_path / "env" / "mnist", n_train=3)
    make_dataset_dir(tmp_path / "xdg-cache" / "chainrule" / "mnist", n_train=2)
    mine = make_dataset_dir(tmp_path / "mine", n_train=5)
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "env"))
    assert len(ds.load_mnist(data_dir=tmp_path / "mine", download=False)[0][0]) == 5
    assert len(ds.load_mnist(download=False)[0][0]) == 3
    monkeypatch.delenv("CHAINRULE_DATA")
    assert len(ds.load_mnist(download=False)[0][0]) == 2
    assert ds.find_dataset("mnist", data_dir=tmp_path / "mine")[0].parent == tmp_path / "mine"
    assert mine  # the arrays were written


def test_system_copy_is_used(tmp_path, monkeypatch):
    make_dataset_dir(tmp_path / "usr-share", n_train=7)
    monkeypatch.setattr(mnist, "SYSTEM_DIRS", {"mnist": (), "fashion-mnist": (tmp_path / "usr-share",)})
    assert len(ds.load_fashion_mnist(download=False)[0][0]) == 7


def test_corrupt_file_found_on_disk_is_an_error_not_skipped(tmp_path):
    make_dataset_dir(tmp_path / "d", image_shape=(27, 28))
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte.gz: wrong image size"):
        ds.load_mnist(data_dir=tmp_path / "d", download=False)


def test_count_mismatch_in_data_set_folder(tmp_path):
    folder = tmp_path / "d"
    make_dataset_dir(folder)
    ds.write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros(3, dtype=np.uint8))
    with pytest.raises(DatasetError, match="count mismatch: 4 images but 3 labels"):
        ds.load_mnist(data_dir=folder, download=False)


def test_not_found_error_lists_every_place_and_the_fixes(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "env"))
    partial = tmp_path / "env" / "fashion-mnist"
    partial.mkdir(parents=True)
    make_dataset_dir(partial)
    (partial / "t10k-labels-idx1-ubyte.gz").unlink()
    monkeypatch.setattr(mnist, "SYSTEM_DIRS", {"mnist": (), "fashion-mnist": (tmp_path / "usr-share",)})
    with pytest.raises(DatasetError) as caught:
        ds.load_fashion_mnist(download=False)
    message = str(caught.value)
    assert message.startswith("Fashion-MNIST not found")
    assert "data_dir argument: not given" in message
    assert f"$CHAINRULE_DATA/fashion-mnist: {partial} (missing t10k-labels-idx1-ubyte.gz)" in message
    assert f"user cache: {tmp_path / 'xdg-cache' / 'chainrule' / 'fashion-mnist'}" in message
    assert f"system copy: {tmp_path / 'usr-share'}" in message
    assert "download: not attempted (download=False)" in message
    assert "pass data_dir=" in message and "set CHAINRULE_DATA=" in message
    assert "connect to the internet" in message
    assert "apt-get install dataset-fashion-mnist" in message


def test_not_found_error_mentions_unset_environment_and_failed_download():
    with pytest.raises(DatasetError) as caught:
        ds.load_mnist(progress=False)  # mirrors point at a closed port
    message = str(caught.value)
    assert "data_dir argument: not given" in message
    assert "$CHAINRULE_DATA: not set" in message
    assert "download: " in message and "127.0.0.1:9" in message
    assert "apt-get" not in message  # only Fashion-MNIST is packaged


def test_find_dataset_and_dataset_available(fake_mnist):
    folder, _ = fake_mnist
    assert ds.find_dataset("mnist") is None
    assert not ds.dataset_available("mnist")
    assert ds.dataset_available("mnist", data_dir=folder)
    assert [p.name for p in ds.find_dataset("mnist", data_dir=folder)] == [
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
    ]
    assert ds.dataset_available("mnist-10k")


def test_resolve_dataset_falls_back_to_bundled_mnist_with_one_line(fake_mnist):
    folder, _ = fake_mnist
    assert ds.resolve_dataset("mnist", data_dir=folder, download=False) == ("mnist", None)
    choice = ds.resolve_dataset("mnist", download=False)
    assert choice.name == "mnist-10k"
    assert "\n" not in choice.message and "mnist-10k" in choice.message
    assert "download=False" in choice.message
    with pytest.raises(DatasetError):
        ds.resolve_dataset("mnist", download=False, fallback_to_bundled=False)
    # Digits are no stand-in for clothes: Fashion-MNIST never falls back.
    with pytest.raises(DatasetError):
        ds.resolve_dataset("fashion-mnist", download=False)


def test_load_dataset_fallback_warns_and_loads_bundled():
    with pytest.warns(UserWarning, match="using the bundled mnist-10k"):
        (x, _), (x_test, _) = ds.load_dataset("mnist", download=False, fallback_to_bundled=True)
    assert x.shape == (8000, 784) and x_test.shape == (2000, 784)


def test_class_names_and_dataset_list():
    assert set(ds.DATASETS) == {"mnist", "fashion-mnist", "mnist-10k"}
    assert set(ds.CLASS_NAMES) == set(ds.DATASETS)
    assert all(len(names) == 10 for names in ds.CLASS_NAMES.values())
    assert ds.CLASS_NAMES["fashion-mnist"][0] == "T-shirt/top"
    assert ds.CLASS_NAMES["fashion-mnist"][9] == "Ankle boot"


# ---------------------------------------------------------------------------
# The parsed-array cache
# ---------------------------------------------------------------------------


def test_second_load_comes_from_memory_mapped_cache(fake_mnist, parse_counter, tmp_path):
    folder, arrays = fake_mnist
    first = ds.load_mnist(normalize=False, data_dir=folder, download=False)
    second = ds.load_mnist(normalize=False, data_dir=folder, download=False)
    assert parse_counter == ["mnist"]
    x = second[0][0]
    assert is_memory_mapped(x) and not x.flags.writeable
    assert type(x) is np.ndarray  # no np.memmap subclass handed to users
    assert np.array_equal(first[0][0], x)
    cache_dir = tmp_path / "xdg-cache" / "chainrule" / "mnist"
    assert sorted(p.name for p in cache_dir.iterdir()) == [
        "parsed.json", "test-images.npy", "test-labels.npy", "train-images.npy", "train-labels.npy",
    ]


def test_cache_is_plain_npy_without_pickle(fake_mnist, tmp_path):
    folder, arrays = fake_mnist
    ds.load_mnist(data_dir=folder, download=False)
    cache_dir = tmp_path / "xdg-cache" / "chainrule" / "mnist"
    train = np.load(cache_dir / "train-images.npy", allow_pickle=False)
    assert train.dtype == np.uint8 and train.shape == (6, 28, 28)
    assert np.array_equal(train, arrays["train-images-idx3-ubyte"])
    for npy in cache_dir.glob("*.npy"):
        assert np.load(npy, allow_pickle=False).dtype == np.uint8
    assert not any(Path(mnist.__file__).parent.rglob("*.npy"))


def test_touching_a_source_rebuilds_the_cache(fake_mnist, parse_counter):
    folder, _ = fake_mnist
    ds.load_mnist(data_dir=folder, download=False)
    source = folder / "t10k-labels-idx1-ubyte.gz"
    info = source.stat()
    os.utime(source, ns=(info.st_atime_ns, info.st_mtime_ns + 10**9))
    ds.load_mnist(data_dir=folder, download=False)
    assert parse_counter == ["mnist", "mnist"]
    ds.load_mnist(data_dir=folder, download=False)
    assert len(parse_counter) == 2


def test_replacing_a_source_serves_the_new_content(fake_mnist, parse_counter):
    folder, _ = fake_mnist
    ds.load_mnist(data_dir=folder, download=False)
    new_labels = np.array([9, 8, 7, 6], dtype=np.uint8)
    ds.write_idx(folder / "t10k-labels-idx1-ubyte.gz", new_labels)
    _, (_, t_test) = ds.load_mnist(data_dir=folder, download=False)
    assert t_test.tolist() == [9, 8, 7, 6]
    assert len(parse_counter) == 2


def test_damaged_cache_is_rebuilt(fake_mnist, parse_counter, tmp_path):
    folder, arrays = fake_mnist
    ds.load_mnist(data_dir=folder, download=False)
    npy = tmp_path / "xdg-cache" / "chainrule" / "mnist" / "train-images.npy"
    npy.write_bytes(npy.read_bytes()[:100])
    (x, _), _ = ds.load_mnist(normalize=False, data_dir=folder, download=False)
    assert np.array_equal(x.reshape(-1, 28, 28), arrays["train-images-idx3-ubyte"])
    assert len(parse_counter) == 2


def test_unwritable_cache_is_skipped(fake_mnist, tmp_path, parse_counter):
    folder, arrays = fake_mnist
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where the cache folder should be")
    for _ in range(2):
        (x, _), _ = ds.load_mnist(normalize=False, data_dir=folder, download=False, cache_dir=blocker)
        assert np.array_equal(x.reshape(-1, 28, 28), arrays["train-images-idx3-ubyte"])
    assert len(parse_counter) == 2


def test_cache_dir_argument_and_xdg_location(fake_mnist, tmp_path):
    folder, _ = fake_mnist
    ds.load_mnist(data_dir=folder, download=False, cache_dir=tmp_path / "elsewhere")
    assert (tmp_path / "elsewhere" / "mnist" / "parsed.json").is_file()
    assert not (tmp_path / "xdg-cache").exists()
    assert cache.user_cache_dir() == tmp_path / "xdg-cache" / "chainrule"


def test_relative_xdg_cache_home_is_ignored(monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")
    assert cache.user_cache_dir() == Path.home() / ".cache" / "chainrule"


# ---------------------------------------------------------------------------
# The bundled mnist-10k
# ---------------------------------------------------------------------------


def test_bundled_files_are_the_documented_ones():
    expected = {
        "t10k-images-idx3-ubyte.gz": "fa1df4cb74e6e16586f395ed87c5759f799135c5fd1515996bc02340fba92f5f",
        "t10k-labels-idx1-ubyte.gz": "604e4e0dcbdf2b978afd53c607ab784f8c99e680fd61d7983bc70839ed6528bb",
    }
    for name, sha256 in expected.items():
        assert hashlib.sha256((ds.BUNDLED_DIR / name).read_bytes()).hexdigest() == sha256


def test_mnist_10k_shapes_dtypes_and_range():
    (x, t), (x_test, t_test) = ds.load_dataset("mnist-10k")
    assert x.shape == (8000, 784) and x_test.shape == (2000, 784)
    assert x.dtype == x_test.dtype == np.float32
    assert t.shape == (8000,) and t_test.shape == (2000,) and t.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    (x4, t1), _ = ds.load_dataset("mnist-10k", normalize=False, flatten=False, one_hot_label=True)
    assert x4.shape == (8000, 1, 28, 28) and x4.dtype == np.uint8 and x4.max() == 255
    assert t1.shape == (8000, 10) and np.array_equal(t1.argmax(axis=1), t)
    assert np.array_equal(t1.sum(axis=1), np.ones(8000))


def test_mnist_10k_label_counts_and_every_class_in_both_parts():
    (_, t), (_, t_test) = ds.load_dataset("mnist-10k")
    assert np.bincount(np.concatenate([t, t_test]), minlength=10).tolist() == BUNDLED_LABEL_COUNTS
    assert np.bincount(t_test, minlength=10).min() >= 150
    assert np.bincount(t, minlength=10).min() >= 700


def test_mnist_10k_split_is_fixed_disjoint_and_matches_the_file():
    labels = read_labels(ds.BUNDLED_DIR / "t10k-labels-idx1-ubyte.gz")
    images = read_images(ds.BUNDLED_DIR / "t10k-images-idx3-ubyte.gz")
    train, test = ds.mnist10k_split(labels)
    again_train, again_test = ds.mnist10k_split(labels.copy())
    assert np.array_equal(train, again_train) and np.array_equal(test, again_test)
    assert len(train) == 8000 and len(test) == 2000
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(10000))
    # Pinned: the first 8,000 of the file train, the last 2,000 test.
    assert train.tolist() == list(range(8000)) and test.tolist() == list(range(8000, 10000))
    (x, t), (x_test, t_test) = ds.load_dataset("mnist-10k", normalize=False, flatten=False)
    assert np.array_equal(x[:, 0], images[train]) and np.array_equal(t_test, labels[test])


def test_mnist_10k_ignores_data_dir_and_download():
    (x, _), _ = ds.load_dataset("mnist-10k", data_dir="/nonexistent", download=False)
    assert len(x) == 8000


# ---------------------------------------------------------------------------
# The real Fashion-MNIST, when the system has it
# ---------------------------------------------------------------------------


@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason="apt-get install dataset-fashion-mnist")
def test_system_fashion_mnist_loads(monkeypatch):
    monkeypatch.setattr(mnist, "SYSTEM_DIRS", {"mnist": (), "fashion-mnist": (FASHION_DIR,)})
    (x, t), (x_test, t_test) = ds.load_fashion_mnist(normalize=False, download=False)
    assert x.shape == (60000, 784) and x_test.shape == (10000, 784)
    assert x.dtype == np.uint8
    assert np.bincount(t).tolist() == [6000] * 10
    assert np.bincount(t_test).tolist() == [1000] * 10
