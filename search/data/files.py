"""Reading data sets from their files: IDX (Fashion-MNIST, MNIST), CIFAR-10's python
batches, npz, scikit-learn's digits, and keras.datasets as the last resort.

Each reader checks what it reads (search/data/arrays.py, search/data/cifar.py) and
says where it looked when nothing is found. A data folder the user gives is the only
place looked in; the usual places and downloads serve only when none is given.
search/data/dataset.py turns the arrays into a split, normalised Dataset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from sklearn.model_selection import train_test_split

from search.data.arrays import IDX_FILES, read_idx, read_npz
from search.data.cifar import CIFAR_BATCHES, read_cifar_batch
from search.errors import SearchError

__all__ = ["Raw", "load_raw", "FASHION_NAMES", "CIFAR10_NAMES"]

FASHION_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot")
IDX_WORDS = "the four IDX files (train-images-idx3-ubyte.gz, ...)"
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
    usual = [Path("/usr/share/datasets/fashion-mnist"), _keras_cache() / "fashion-mnist"]
    found, looked = _find(data_dir, "fashion-mnist", usual, _idx_lacks)
    if found is None:
        raise _not_found("fashion_mnist", looked, "the Debian package `dataset-fashion-mnist` "
                         "(apt-get install dataset-fashion-mnist), or the four IDX files "
                         "(train-images-idx3-ubyte.gz, ...) in a folder given with --data-dir",
                         given=data_dir, skipped=usual, files=IDX_WORDS)
    return Raw(*_read_idx_set(found), FASHION_NAMES, 255.0, str(found))


def _load_mnist(data_dir: str | None) -> Raw:
    usual = [Path("/usr/share/datasets/mnist"), _keras_cache() / "mnist"]
    names = tuple(str(i) for i in range(10))
    found, looked = _find(data_dir, "mnist", usual, _idx_lacks)
    if found is not None:
        return Raw(*_read_idx_set(found), names, 255.0, str(found))
    npz = (Path(data_dir).expanduser() if data_dir else _keras_cache()) / "mnist.npz"
    if npz.is_file():
        return Raw(*read_npz(npz), names, 255.0, str(npz))
    looked.append(f"{npz} (not found)")
    provide = f"{IDX_WORDS} or mnist.npz"
    if data_dir:
        raise _not_found("mnist", looked, provide, given=data_dir, files=provide, skipped=[
            *usual, _keras_cache() / "mnist.npz", "keras.datasets.mnist download"])
    arrays = _keras_download("mnist", looked)
    return Raw(*arrays, names, 255.0, "keras.datasets.mnist")


def _load_cifar10(data_dir: str | None) -> Raw:
    cache = _keras_cache()
    usual = [cache, cache / "cifar-10-batches-py",
             cache / "cifar-10-batches-py-target" / "cifar-10-batches-py"]
    found, looked = _find(data_dir, "cifar-10-batches-py", usual, _cifar_lacks)
    if found is not None:
        return Raw(*_read_cifar_batches(found), CIFAR10_NAMES, 255.0, str(found))
    if data_dir:
        words = "the CIFAR-10 python batches (data_batch_1 ... data_batch_5, test_batch)"
        raise _not_found("cifar10", looked, words, given=data_dir, files=words,
                         skipped=[*usual, "keras.datasets.cifar10 download"])
    arrays = _keras_download("cifar10", looked)
    return Raw(*arrays, CIFAR10_NAMES, 255.0, "keras.datasets.cifar10")


def _load_digits(data_dir: str | None) -> Raw:
    from sklearn.datasets import load_digits

    if data_dir:
        raise SearchError(f"data 'digits' comes with scikit-learn and reads no files; got the data "
                          f"folder {data_dir}; leave --data-dir (data.path) out, or name the data "
                          "set its files hold with --data (data.name).")
    bunch = load_digits()
    x = bunch.images.astype(np.float32)[..., None]
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
    return Raw(x_tr, y_tr, x_te, y_te, tuple(str(i) for i in range(10)), 16.0,
                "sklearn.datasets.load_digits")


def _load_npz(path: str | None) -> Raw:
    if not path:
        raise SearchError("data 'npz' needs a file: pass --data-dir FILE.npz (or data.path).")
    arrays = read_npz(Path(path).expanduser())
    x = arrays[0]
    max_value = 255.0 if x.dtype == np.uint8 or float(x.max(initial=0)) > 1 else 1.0
    n_classes = int(arrays[1].max(initial=0)) + 1  # the training labels define the classes
    return Raw(*arrays, tuple(str(i) for i in range(n_classes)), max_value, path)


def _find(given: str | None, subfolder: str, usual: list[Path],
          lacks: Callable[[Path], str | None]) -> tuple[Path | None, list[str]]:
    """The first place holding every file, and a note on each place that did not.

    A folder the user gave is the only place looked in (with its ``subfolder``, the
    layout of an unpacked archive); the usual places serve only when none was given.
    """
    if given:
        root = Path(given).expanduser()
        places = [root, root / subfolder]
    else:
        places = usual
    looked = []
    for place in places:
        reason = lacks(place)
        if reason is None:
            return place, looked
        looked.append(f"{place} ({reason})")
    return None, looked


def _lacks(place: Path, present: Callable[[str], bool], stems: tuple[str, ...]) -> str | None:
    if not place.exists():
        return "no such folder"
    if not place.is_dir():
        return "a file, not a folder; --data npz reads .npz files"
    missing = [stem for stem in stems if not present(stem)]
    if not missing:
        return None
    return "holds none of its files" if len(missing) == len(stems) else \
        f"lacks {', '.join(missing)}"


def _idx_lacks(place: Path) -> str | None:
    return _lacks(place, lambda stem: _idx_path(place, stem) is not None, IDX_FILES)


def _cifar_lacks(place: Path) -> str | None:
    return _lacks(place, lambda stem: (place / stem).is_file(), CIFAR_BATCHES)


def _idx_path(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def _read_idx_set(folder: Path):
    paths = [_idx_path(folder, stem) for stem in IDX_FILES]
    x_tr, y_tr, x_te, y_te = (read_idx(p, 1 if "labels" in p.name else 3) for p in paths)
    for images, y, (image_path, label_path) in ((x_tr, y_tr, paths[:2]), (x_te, y_te, paths[2:])):
        if len(images) != len(y):
            raise SearchError(f"{image_path}: holds {len(images)} images, but {label_path} holds "
                              f"{len(y)} labels; the two files must belong together.")
    return x_tr[..., None], y_tr.astype(np.int64), x_te[..., None], y_te.astype(np.int64)


def _read_cifar_batches(folder: Path):
    parts = [read_cifar_batch(folder / name) for name in CIFAR_BATCHES]
    train = parts[:-1]
    return (np.concatenate([p[0] for p in train]), np.concatenate([p[1] for p in train]),
            *parts[-1])


def _keras_download(name: str, places: list[str]):
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


def _not_found(name: str, looked: list, provide: str, exc: Exception | None = None, *,
               given: str | None = None, skipped: list | None = None,
               files: str = "") -> SearchError:
    """Where we looked and why each place did not do; with a data folder given, only there."""
    lines = "".join(f"\n  - {p}" for p in looked)
    if exc is not None:
        lines += f"\n  - keras.datasets.{name} download: {exc}"
    if given:
        put = (f"Put {files} in {given}" if Path(given).expanduser().is_dir()
               else f"Give a folder holding {files}")
        skipped_text = ", ".join(str(p) for p in skipped or [])
        return SearchError(f"data set '{name}' not found. Looked in:{lines}",
                           hint=f"Not tried, as a data folder was given: {skipped_text}.\n"
                                f"{put}, or leave --data-dir (data.path) out to use the usual "
                                "places.")
    return SearchError(f"data set '{name}' not found. Looked in:{lines}", hint=f"Provide {provide}.")
