"""Fuzzing the IDX reader: mutated files load correctly or raise DatasetError, nothing else.

Small valid IDX files (raw and gzip) are damaged by random byte flips,
truncations, insertions, deletions and header rewrites (huge declared sizes
above all).  For every mutant, an independent oracle decides what the file
holds: the reader must return exactly that array, or raise DatasetError when
the file is not a valid unsigned-byte IDX file.  Any other exception, a slow
read or a large allocation fails the test.  The runs are derandomized, so a
failure reproduces on every machine.
"""

import gzip
import io
import math
import struct
import time
import tracemalloc
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainrule.datasets import DatasetError
from chainrule.datasets.idx import read_idx

# Far above what any mutant of a file of a few hundred bytes legitimately needs
# (the reader's first gzip buffer is 1 MiB), far below what a lying header asks.
MEMORY_LIMIT = 4 * 2**20
TIME_LIMIT = 2.0  # seconds per read; a real read takes well under a millisecond

FUZZ = settings(
    max_examples=700,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

HUGE_SIZES = [0, 1, 3, 28, 60000, 2**16, 2**24, 2**31 - 1, 2**31, 2**32 - 1]


@st.composite
def valid_idx(draw):
    """The bytes of a small valid unsigned-byte IDX file with 1 to 3 dimensions."""
    shape = draw(st.lists(st.integers(0, 5), min_size=1, max_size=3))
    payload = draw(st.binary(min_size=math.prod(shape), max_size=math.prod(shape)))
    header = bytes([0, 0, 0x08, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)
    return header + payload


position = st.integers(0, 10_000)  # taken modulo the length of the data
mutation = st.one_of(
    st.tuples(st.just("flip"), position, st.integers(1, 255)),
    st.tuples(st.just("truncate"), position),
    st.tuples(st.just("insert"), position, st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("delete"), position, st.integers(1, 16)),
    st.tuples(st.just("dim"), st.integers(0, 3), st.sampled_from(HUGE_SIZES) | st.integers(0, 2**32 - 1)),
    st.tuples(st.just("type"), st.integers(0, 255)),
    st.tuples(st.just("ndim"), st.integers(0, 255)),
)
mutations = st.lists(mutation, min_size=1, max_size=4)


def mutate(content: bytes, changes) -> bytes:
    data = bytearray(content)
    for change in changes:
        kind, where = change[0], change[1]
        at = where % (len(data) + 1)
        if kind == "flip" and at < len(data):
            data[at] ^= change[2]
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = change[2]
        elif kind == "delete":
            del data[at : at + change[2]]
        elif kind == "dim" and 4 + 4 * where + 4 <= len(data):
            data[4 + 4 * where : 8 + 4 * where] = struct.pack(">I", change[2])
        elif kind == "type" and len(data) > 2:
            data[2] = where
        elif kind == "ndim" and len(data) > 3:
            data[3] = where
    return bytes(data)


def oracle(file_bytes: bytes):
    """What a correct reader returns for these bytes: an array, or None for 'must raise'.

    Decompression uses the gzip module whole, the straightforward way; the
    header is then checked field by field, as the IDX format describes.
    """
    data = file_bytes
    if file_bytes[:2] == b"\x1f\x8b":
        try:
            data = gzip.GzipFile(fileobj=io.BytesIO(file_bytes)).read()
        except (OSError, EOFError, zlib.error):
            return None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08 or data[3] == 0:
        return None
    ndim = data[3]
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        return None
    shape = struct.unpack(f">{ndim}I", data[4:header_size])
    if len(data) - header_size != math.prod(shape):
        return None
    return np.frombuffer(data[header_size:], dtype=np.uint8).reshape(shape)


def check_reader(path, file_bytes: bytes):
    """Read a mutant and compare with the oracle, watching time and memory."""
    path.write_bytes(file_bytes)
    expected = oracle(file_bytes)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        got = read_idx(path)
    except DatasetError as error:
        got = error
    finally:
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert elapsed < TIME_LIMIT, f"read took {elapsed:.2f} s"
    assert peak < MEMORY_LIMIT, f"read allocated {peak} bytes"
    if expected is None:
        assert isinstance(got, DatasetError), f"accepted an invalid file as {got!r}"
        assert str(got).startswith(str(path))
    else:
        assert not isinstance(got, DatasetError), f"rejected a valid file: {got}"
        assert got.dtype == np.uint8 and got.shape == expected.shape
        assert np.array_equal(got, expected)


@pytest.fixture(scope="module")
def fuzz_file(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz") / "mutant"


@FUZZ
@given(content=valid_idx(), changes=mutations)
def test_fuzz_raw(fuzz_file, content, changes):
    check_reader(fuzz_file, mutate(content, changes))


@FUZZ
@given(content=valid_idx(), changes=mutations)
def test_fuzz_gzip_with_lying_content(fuzz_file, content, changes):
    """Damage inside the compressed stream: an intact gzip of a bad IDX file."""
    check_reader(fuzz_file, gzip.compress(mutate(content, changes), mtime=0))


@FUZZ
@given(content=valid_idx(), changes=mutations)
def test_fuzz_gzip_damaged(fuzz_file, content, changes):
    """Damage to the gzip file itself: headers, deflate data, CRC and length trailer."""
    check_reader(fuzz_file, mutate(gzip.compress(content, mtime=0), changes))


def test_mutation_helpers_do_what_they_say():
    """The fuzzer is only as good as its mutations: check a few by hand."""
    valid = bytes([0, 0, 8, 1]) + struct.pack(">I", 3) + b"abc"
    assert oracle(valid).tobytes() == b"abc"
    assert oracle(gzip.compress(valid)).tobytes() == b"abc"
    assert mutate(valid, [("truncate", 9)]) == valid[:9]
    assert mutate(valid, [("dim", 0, 2**32 - 1)])[4:8] == b"\xff\xff\xff\xff"
    assert mutate(valid, [("type", 0x0D)])[2] == 0x0D
    assert mutate(valid, [("insert", 11, b"z")]) == valid + b"z"
    for bad in [valid[:-1], valid + b"!", mutate(valid, [("ndim", 0)]), mutate(valid, [("dim", 0, 2**31)])]:
        assert oracle(bad) is None
