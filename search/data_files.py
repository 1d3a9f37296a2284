"""Reading data sets from their files: IDX (Fashion-MNIST, MNIST), CIFAR-10's python
batches, npz, scikit-learn's digits, and keras.datasets as the last resort.

Each reader checks what it reads and says where it looked when nothing is found;
search/data.py turns the arrays into a split, normalised Dataset.
"""

from __future__ import annotations

import gzip
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from .errors import SearchError

__all__ = ["Raw", "load_raw", "FASHION_NAMES", "CIFAR10_NAMES"]

FASHION_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot")
CIFAR10_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                 "truck")


@dataclass
class Raw:
    """A data set as read from its files: images NHWC, integer labels, class names."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    names: tuple[str, ...]
    max_value: float
    origin: str


def load_raw(name: str, path: str | None) -> Raw:
    """The named data set's arrays as stored, from ``path`` or the usual places."""
    loader = {"fashion_mnist": _load_fashion, "mnist": _load_mnist, "cifar10": _load_cifar10,
              "digits": _load_digits, "npz": _load_npz}[name]
    return loader(path)


def _as_nhwc(x: np.ndarray) -> np.ndarray:
    return x[..., None] if x.ndim == 3 else x


def _keras_cache() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"


def _load_fashion(data_dir: str | None) -> Raw:
    places = [Path(p) for p in (data_dir,) if p] + [
        Path("/usr/share/datasets/fashion-mnist"), _keras_cache() / "fashion-mnist"]
    found = _find_idx_dir(places)
    if found is None:
        raise _not_found("fashion_mnist", places, "the Debian package `dataset-fashion-mnist` "
                         "(apt-get install dataset-fashion-mnist), or the four IDX files "
                         "(train-images-idx3-ubyte.gz, ...) in a folder given with --data-dir")
    return Raw(*_read_idx_set(found), FASHION_NAMES, 255.0, str(found))


def _load_mnist(data_dir: str | None) -> Raw:
    places = [Path(p) for p in (data_dir,) if p] + [Path("/usr/share/datasets/mnist"),
                                                     _keras_cache() / "mnist"]
    names = tuple(str(i) for i in range(10))
    found = _find_idx_dir(places)
    if found is not None:
        return Raw(*_read_idx_set(found), names, 255.0, str(found))
    npz = _keras_cache() / "mnist.npz"
    places.append(npz)
    if npz.is_file():
        return Raw(*_read_npz(npz), names, 255.0, str(npz))
    arrays = _keras_download("mnist", places)
    return Raw(*arrays, names, 255.0, "keras.datasets.mnist")


def _load_cifar10(data_dir: str | None) -> Raw:
    roots = [Path(p) for p in (data_dir,) if p] + [_keras_cache()]
    places = [p for r in roots for p in (r, r / "cifar-10-batches-py")]
    for place in places:
        if (place / "data_batch_1").is_file():
            return Raw(*_read_cifar_batches(place), CIFAR10_NAMES, 255.0, str(place))
    arrays = _keras_download("cifar10", places)
    return Raw(*arrays, CIFAR10_NAMES, 255.0, "keras.datasets.cifar10")


def _load_digits(_: str | None) -> Raw:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.images.astype(np.float32)[..., None]
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
    return Raw(x_tr, y_tr, x_te, y_te, tuple(str(i) for i in range(10)), 16.0,
                "sklearn.datasets.load_digits")


def _load_npz(path: str | None) -> Raw:
    if not path:
        raise SearchError("data 'npz' needs a file: pass --data-dir FILE.npz (or data.path).")
    arrays = _read_npz(Path(path))
    x = arrays[0]
    numeric = np.issubdtype(x.dtype, np.number)
    max_value = 255.0 if x.dtype == np.uint8 or (numeric and float(np.nanmax(x, initial=0)) > 1) else 1.0
    n_classes = int(arrays[1].max(initial=0)) + 1  # the training labels define the classes
    return Raw(*arrays, tuple(str(i) for i in range(n_classes)), max_value, path)


def _read_npz(path: Path):
    if not path.is_file():
        raise SearchError(f"{path}: npz file not found.")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in f]
            if missing:
                raise SearchError(f"{path}: npz file lacks {', '.join(missing)}; it must hold "
                                  "x_train, y_train, x_test and y_test.")
            return (_as_nhwc(f["x_train"]), _labels(f["y_train"], path, "y_train"),
                    _as_nhwc(f["x_test"]), _labels(f["y_test"], path, "y_test"))
    except SearchError:
        raise
    except Exception as exc:
        raise SearchError(f"{path}: cannot read as npz ({exc}).") from None


def _labels(y: np.ndarray, path: Path, key: str) -> np.ndarray:
    """Integer class labels; float labels are accepted only when they are whole numbers."""
    y = y.ravel() if y.ndim == 2 and 1 in y.shape else y
    if y.ndim != 1:
        raise SearchError(f"{path}: '{key}' must be one label per image; got shape {y.shape} "
                          "(one-hot labels: take argmax first).")
    if np.issubdtype(y.dtype, np.floating) and np.isfinite(y).all() and (y == np.round(y)).all():
        y = y.astype(np.int64)
    if not np.issubdtype(y.dtype, np.integer):
        raise SearchError(f"{path}: '{key}' must hold integer class labels; got {y.dtype} values "
                          "(one-hot labels: take argmax first).")
    return y.astype(np.int64)


IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")


def _idx_path(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def _find_idx_dir(places: list[Path]) -> Path | None:
    for place in places:
        if all(_idx_path(place, stem) for stem in IDX_FILES):
            return place
    return None


def _read_idx_set(folder: Path):
    x_tr, y_tr, x_te, y_te = (_read_idx(_idx_path(folder, stem)) for stem in IDX_FILES)
    return _as_nhwc(x_tr), y_tr.astype(np.int64), _as_nhwc(x_te), y_te.astype(np.int64)


def _read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (optionally gzipped): magic, dims, then unsigned bytes."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise SearchError(f"{path}: cannot read IDX file ({exc}).") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise SearchError(f"{path}: not an IDX file of unsigned bytes (bad magic number).")
    ndim = data[3]
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise SearchError(f"{path}: truncated IDX file: header says {dims} "
                          f"({int(np.prod(dims))} values) but {body.size} follow.")
    return body.reshape(dims)


def _read_cifar_batches(folder: Path):
    def read(name: str):
        try:
            with open(folder / name, "rb") as f:
                batch = pickle.load(f, encoding="bytes")
            x = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
            return x.transpose(0, 2, 3, 1), np.asarray(batch[b"labels"], dtype=np.int64)
        except Exception as exc:
            raise SearchError(f"{folder / name}: cannot read CIFAR-10 batch ({exc}).") from None

    parts = [read(f"data_batch_{i}") for i in range(1, 6)]
    x_te, y_te = read("test_batch")
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
            x_te, y_te)


def _keras_download(name: str, places: list[Path]):
    """Last resort: keras.datasets (needs the internet). Offline, list where we looked."""
    import socket

    import keras

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(15)
    try:
        (x_tr, y_tr), (x_te, y_te) = getattr(keras.datasets, name).load_data()
    except Exception as exc:
        raise _not_found(name, places, "the files in a folder given with --data-dir", exc) from None
    finally:
        socket.setdefaulttimeout(previous)
    return _as_nhwc(x_tr), y_tr.astype(np.int64).ravel(), _as_nhwc(x_te), y_te.astype(np.int64).ravel()


def _not_found(name: str, places: list[Path], provide: str, exc: Exception | None = None):
    looked = "".join(f"\n  - {p}" for p in places)
    download = f"\n  - keras.datasets.{name} download: {exc}" if exc else ""
    return SearchError(f"data set '{name}' not found. Looked in:{looked}{download}",
                       hint=f"Provide {provide}.")
