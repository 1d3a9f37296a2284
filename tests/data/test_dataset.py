from __future__ import annotations

import gzip

import numpy as np
import pytest

from conftest import requires_fashion
from search.data.dataset import DataSpec, load_dataset
from search.errors import SearchError


def test_digits_split_is_stratified_normalised_and_keeps_test_apart():
    data = load_dataset(DataSpec(name="digits"))
    assert data.input_shape == (8, 8, 1) and data.n_classes == 10
    assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0
    x_test, y_test = data.test()
    assert len(y_test) == 360
    ratio = len(data.y_val) / (len(data.y_val) + len(data.y_train))
    assert abs(ratio - 1 / 6) < 0.01
    assert set(np.bincount(data.y_val)) <= {23, 24, 25}  # stratified: ~24 per class


def test_zscore_uses_training_statistics():
    data = load_dataset(DataSpec(name="digits", normalize="zscore"))
    assert abs(float(data.x_train.mean())) < 1e-4
    assert abs(float(data.x_train.std()) - 1.0) < 1e-3
    assert abs(float(data.x_val.mean())) > 1e-5  # validation is scaled with train's numbers


def test_class_subset_is_relabelled():
    data = load_dataset(DataSpec(name="digits", classes=((3,), (5,), (7,))))
    assert data.class_names == ("3", "5", "7")
    assert set(np.unique(data.y_train)) == {0, 1, 2}


@requires_fashion
def test_fashion3_preset_merges_into_imbalanced_three_classes():
    spec = DataSpec.from_dict({"name": "fashion_mnist", "classes": "fashion3"}, source="test")
    data = load_dataset(spec)
    assert data.class_names == ("Top", "Bottom", "Accessories")
    counts = np.bincount(np.concatenate([data.y_train, data.y_val]))
    assert counts.tolist() == [30000, 24000, 6000]
    assert data.input_shape == (28, 28, 1)


@requires_fashion
def test_fashion_limit_gives_a_stratified_subset():
    data = load_dataset(DataSpec(name="fashion_mnist", limit=600))
    assert len(data.y_train) + len(data.y_val) == 600 and len(data.test()[1]) == 600
    assert np.bincount(data.y_train).min() >= 45


@pytest.mark.parametrize("raw, message", [
    ({"name": "imagenet"}, "'data.name' must be one of 'fashion_mnist', 'mnist', 'cifar10', "
                           "'digits', 'npz'; got 'imagenet'"),
    ({"limit": 5}, "'data.limit' must be an int in [20, 1000000000]; got 5"),
    ({"classes": [0, 0, 1]}, "'data.classes' must be a preset"),
    ({"normalize": "minmax"}, "'data.normalize' must be one of 'scale', 'zscore', 'per_channel'"),
    ({"val_fraction": 1.5}, "'data.val_fraction' must be a float in (0, 1); got 1.5"),
    ({"colour": True}, "unknown data key 'colour'"),
])
def test_bad_data_specs(raw, message):
    with pytest.raises(SearchError) as info:
        DataSpec.from_dict(raw, source="study.yaml")
    assert message in str(info.value)


def test_missing_data_lists_every_place_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with pytest.raises(SearchError) as info:
        load_dataset(DataSpec(name="cifar10", path=str(tmp_path / "nowhere")))
    text = str(info.value)
    assert "data set 'cifar10' not found. Looked in:" in text
    assert str(tmp_path / "nowhere" / "cifar-10-batches-py") in text
    assert "keras.datasets.cifar10 download" in text


def test_truncated_idx_file_is_named(tmp_path):
    header = bytes([0, 0, 8, 3]) + (100).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    for stem in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte"):
        with gzip.open(tmp_path / f"{stem}.gz", "wb") as f:
            f.write(header + bytes(500))
    for stem in ("train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"):
        with gzip.open(tmp_path / f"{stem}.gz", "wb") as f:
            f.write(bytes([0, 0, 8, 1]) + (100).to_bytes(4, "big") + bytes(100))
    with pytest.raises(SearchError, match="truncated IDX file"):
        load_dataset(DataSpec(name="mnist", path=str(tmp_path)))


def test_npz_with_out_of_range_labels(tmp_path):
    path = tmp_path / "d.npz"
    x = np.zeros((30, 8, 8), dtype=np.uint8)
    np.savez(path, x_train=x, y_train=np.arange(30) % 3, x_test=x, y_test=np.full(30, 5))
    with pytest.raises(SearchError, match=r"test labels must be in 0\.\.2; found 5\.\.5"):
        load_dataset(DataSpec(name="npz", path=str(path)))


def test_npz_missing_arrays(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x_train=np.zeros((3, 4, 4)))
    with pytest.raises(SearchError, match="lacks y_train, x_test, y_test"):
        load_dataset(DataSpec(name="npz", path=str(path)))
