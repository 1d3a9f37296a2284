"""search/data/arrays.py: IDX files (plain or gzipped) and npz archives read back exactly,
images as NHWC and labels as int64, and damaged headers, dtypes and label ranges refused
with a message naming the file."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from search.data.arrays import labels, read_idx, read_npz
from search.errors import SearchError


def idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


IMAGES = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)


def test_idx_files_read_back_exactly_plain_or_gzipped(tmp_path):
    plain = tmp_path / "train-images-idx3-ubyte"
    plain.write_bytes(idx_bytes(IMAGES))
    zipped = tmp_path / "train-labels-idx1-ubyte.gz"
    zipped.write_bytes(gzip.compress(idx_bytes(np.array([7, 0, 9]))))
    assert np.array_equal(read_idx(plain, 3), IMAGES) and read_idx(plain, 3).dtype == np.uint8
    assert read_idx(zipped, 1).tolist() == [7, 0, 9]


@pytest.mark.parametrize("content, message", [
    (b"", "the IDX file is empty"),
    (b"\x01\x00\x08\x03" + b"\x00" * 12, "not an IDX file (bad magic number 01 00 08 03)"),
    (b"\x00\x00\x0d\x03" + b"\x00" * 12, "type code 0x0d"),
    (idx_bytes(np.zeros(4)), "the IDX header gives 1 dimensions, but an images file has 3"),
    (idx_bytes(IMAGES)[:-1], "truncated IDX file: header says (3, 4, 5) (60 values) but 59"),
    (idx_bytes(IMAGES) + b"\x00", "longer than its header says"),
    (b"\x00\x00\x08\x03" + b"\xff" * 12, "more than the 2147483648 this reader takes"),
])
def test_damaged_idx_files_are_refused_with_their_name(tmp_path, content, message):
    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(content)
    with pytest.raises(SearchError) as caught:
        read_idx(path, 3)
    assert str(path) in str(caught.value) and message in str(caught.value)


def test_an_npz_reads_back_with_a_channel_axis_and_int64_labels(tmp_path):
    path = tmp_path / "data.npz"
    x_test = np.random.default_rng(0).random((4, 2, 2, 3)).astype(np.float32)
    np.savez(path, x_train=IMAGES, y_train=np.array([[1], [0], [2]], dtype=np.uint8),
             x_test=x_test, y_test=np.array([0.0, 1.0, 2.0, 1.0]))
    x_tr, y_tr, x_te, y_te = read_npz(path)
    assert x_tr.shape == (3, 4, 5, 1) and np.array_equal(x_tr[..., 0], IMAGES)
    assert y_tr.tolist() == [1, 0, 2] and y_tr.dtype == np.int64  # (n, 1) flattened
    assert np.array_equal(x_te, x_test) and y_te.dtype == np.int64


@pytest.mark.parametrize("arrays, message", [
    ({"x_train": IMAGES, "y_train": np.zeros(3)}, "npz file lacks x_test, y_test"),
    ({"x_train": IMAGES.astype(str), "y_train": np.zeros(3), "x_test": IMAGES,
      "y_test": np.zeros(3)}, "'x_train' must hold image pixels as integers or real floats; got "
     "strings"),
    ({"x_train": IMAGES.astype(np.int16) * 10, "y_train": np.zeros(3), "x_test": IMAGES,
      "y_test": np.zeros(3)}, "'x_train' pixel values must be in 0..255"),
    ({"x_train": np.full((3, 2, 2), np.nan), "y_train": np.zeros(3), "x_test": IMAGES,
      "y_test": np.zeros(3)}, "train images contain NaN or infinite values (12 of them)"),
])
def test_bad_npz_contents_are_refused(tmp_path, arrays, message):
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    with pytest.raises(SearchError) as caught:
        read_npz(path)
    assert message in str(caught.value) and str(path) in str(caught.value)


def test_labels_must_be_whole_class_numbers(tmp_path):
    where = tmp_path / "f.npz"
    assert labels(np.array([2.0, 0.0]), where, "y").tolist() == [2, 0]
    for bad, message in ((np.array([0.5, 1.0]), "must hold integer class labels"),
                         (np.array([-1, 3]),
                          "labels must be class numbers in 0..9999; found -1..3"),
                         (np.eye(3), "one label per image; got shape (3, 3)"),
                         (np.array([True, False]), "must hold integer class labels")):
        with pytest.raises(SearchError) as caught:
            labels(bad, where, "y_train")
        assert message in str(caught.value) and "'y_train'" in str(caught.value)
