"""search/data/files.py: each data set read from its files (digits from scikit-learn, IDX
folders in either layout, npz), and a data folder that is given as the only place looked in,
with every place looked at named when nothing is found."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from search.data.arrays import IDX_FILES
from search.data.files import FASHION_NAMES, load_raw
from search.errors import SearchError


def write_idx(path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def idx_folder(folder, n_train: int = 6, n_train_labels: int = 6) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = (rng.integers(0, 256, (n_train, 28, 28)), np.arange(n_train_labels) % 10,
              rng.integers(0, 256, (4, 28, 28)), np.arange(4) % 10)
    for stem, array in zip(IDX_FILES, arrays):
        write_idx(folder / f"{stem}.gz", array)


def test_digits_come_from_scikit_learn_split_and_unscaled():
    raw = load_raw("digits", None)
    assert raw.x_train.shape == (1437, 8, 8, 1) and raw.x_test.shape == (360, 8, 8, 1)
    assert raw.max_value == 16.0 and raw.x_train.max() == 16.0
    assert raw.names == tuple(str(i) for i in range(10)) and raw.y_train.dtype == np.int64
    with pytest.raises(SearchError, match="'digits' comes with scikit-learn and reads no files"):
        load_raw("digits", "/some/folder")


def test_an_idx_folder_is_found_directly_or_in_its_archive_subfolder(tmp_path):
    idx_folder(tmp_path / "fashion-mnist")  # the layout of an unpacked archive
    raw = load_raw("fashion_mnist", str(tmp_path))
    assert raw.x_train.shape == (6, 28, 28, 1) and raw.y_test.tolist() == [0, 1, 2, 3]
    assert raw.names == FASHION_NAMES and raw.origin == str(tmp_path / "fashion-mnist")
    assert load_raw("mnist", str(tmp_path / "fashion-mnist")).names[9] == "9"


def test_images_and_labels_that_do_not_belong_together_are_refused(tmp_path):
    idx_folder(tmp_path, n_train=6, n_train_labels=5)
    with pytest.raises(SearchError, match="holds 6 images, but .* holds 5 labels"):
        load_raw("fashion_mnist", str(tmp_path))


def test_a_given_folder_is_the_only_place_looked_in_and_each_place_says_why(tmp_path):
    (tmp_path / "partial").mkdir()
    write_idx(tmp_path / "partial" / "train-images-idx3-ubyte.gz", np.zeros((1, 2, 2)))
    with pytest.raises(SearchError) as caught:
        load_raw("fashion_mnist", str(tmp_path / "partial"))
    text = caught.value.render()
    assert "data set 'fashion_mnist' not found" in text
    assert f"{tmp_path / 'partial'} (lacks train-labels-idx1-ubyte, t10k-images-idx3-ubyte, " \
           "t10k-labels-idx1-ubyte)" in text
    assert f"{tmp_path / 'partial' / 'fashion-mnist'} (no such folder)" in text
    assert "Not tried, as a data folder was given: /usr/share/datasets/fashion-mnist" in text


def test_npz_needs_a_file_and_takes_its_scale_and_classes_from_it(tmp_path):
    with pytest.raises(SearchError, match="data 'npz' needs a file"):
        load_raw("npz", None)
    y = np.array([0, 4, 2, 1])
    np.savez(tmp_path / "unit.npz", x_train=np.full((4, 3, 3), 0.5), y_train=y,
             x_test=np.zeros((2, 3, 3)), y_test=np.array([0, 1]))
    unit = load_raw("npz", str(tmp_path / "unit.npz"))
    assert unit.max_value == 1.0 and unit.names == ("0", "1", "2", "3", "4")
    np.savez(tmp_path / "bytes.npz", x_train=np.full((4, 3, 3), 9, np.uint8), y_train=y,
             x_test=np.zeros((2, 3, 3), np.uint8), y_test=np.array([0, 1]))
    assert load_raw("npz", str(tmp_path / "bytes.npz")).max_value == 255.0
