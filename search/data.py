"""Data sets: load from local files, remap labels, normalise, split; cached per process.

The test split is kept apart and only handed out by :meth:`Dataset.test`, which
``train --refit`` calls once at the end; searches see train and validation only.
"""

from __future__ import annotations

import functools
import gzip
import os
import pickle
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from .errors import SearchError
from .inputs import OPTIONS

__all__ = ["DataSpec", "Dataset", "load_dataset", "CLASS_PRESETS"]


FASHION_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot")
CIFAR10_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                 "truck")
CLASS_PRESETS: dict[str, tuple[tuple[tuple[int, ...], ...], tuple[str, ...]]] = {
    "fashion3": (((0, 2, 3, 4, 6), (1, 5, 7, 9), (8,)), ("Top", "Bottom", "Accessories")),
}


@dataclass(frozen=True)
class DataSpec:
    """Which data, which classes, how normalised and split. Hashable, YAML-friendly.

    ``classes`` lists the new classes in order; each is one original label or a
    group of labels merged into one (``[[0, 2, 3, 4, 6], [1, 5, 7, 9], [8]]``),
    or a preset name (``fashion3``). Images of unlisted labels are dropped.
    """

    name: str = "fashion_mnist"
    path: str | None = None
    limit: int | None = None
    classes: tuple[tuple[int, ...], ...] | None = None
    class_names: tuple[str, ...] | None = None
    normalize: str = "scale"
    val_fraction: float = 1 / 6
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["classes"] = [list(g) for g in self.classes] if self.classes else None
        out["class_names"] = list(self.class_names) if self.class_names else None
        return out

    @classmethod
    def from_dict(cls, raw: Any, *, source: str) -> DataSpec:
        """Build from YAML/CLI values, reporting every bad key with what is allowed."""
        if not isinstance(raw, dict):
            raise SearchError(f"{source}: 'data' must be a mapping; got {type(raw).__name__}.")
        known = {f.name for f in fields(cls)}
        problems = [f"{source}: unknown data key '{k}'; allowed: {', '.join(sorted(known))}."
                    for k in raw if k not in known]
        values = {k: v for k, v in raw.items() if k in known and v is not None}
        problems += _check_data_values(values, source)
        if problems:
            raise SearchError(problems)
        return cls(**_normalise_classes(values))


_DATA_OPTIONS = {"name": "data_name", "limit": "limit", "normalize": "normalize",
                 "val_fraction": "val_fraction", "seed": "seed"}


def _check_data_values(values: dict[str, Any], source: str) -> list[str]:
    """The table's checks (search/inputs.py) plus the data-only keys."""
    found = [OPTIONS[option].problem(f"data.{key}", values[key])
             for key, option in _DATA_OPTIONS.items() if key in values]
    own = {
        "path": (lambda v: isinstance(v, str) and v.strip(), "a file or folder path"),
        "classes": (_valid_classes, "a preset (" + ", ".join(CLASS_PRESETS) + ") or a list of labels "
                    "or label groups, e.g. [0, 1, 2] or [[0, 2], [1, 3]]"),
        "class_names": (lambda v: isinstance(v, (list, tuple)) and v and
                        all(isinstance(s, str) and s for s in v), "a list of non-empty strings"),
    }
    found += [f"'data.{key}' must be {allowed}; got {values[key]!r}"
              for key, (ok, allowed) in own.items() if key in values and not ok(values[key])]
    return [f"{source}: {p}." for p in found if p]


def _valid_classes(value: Any) -> bool:
    if isinstance(value, str):
        return value in CLASS_PRESETS
    if not isinstance(value, (list, tuple)) or len(value) < 2:
        return False
    groups = [g if isinstance(g, (list, tuple)) else [g] for g in value]
    labels = [x for g in groups for x in g]
    return all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in labels) and \
        len(set(labels)) == len(labels) and all(groups)


def _normalise_classes(values: dict[str, Any]) -> dict[str, Any]:
    classes = values.get("classes")
    if isinstance(classes, str):
        groups, names = CLASS_PRESETS[classes]
        values = {**values, "classes": groups, "class_names": values.get("class_names", names)}
    elif classes is not None:
        values = {**values, "classes": tuple(
            tuple(g) if isinstance(g, (list, tuple)) else (g,) for g in classes)}
    if values.get("class_names") is not None:
        values["class_names"] = tuple(values["class_names"])
    return values


@dataclass
class Dataset:
    """Normalised float32 NHWC images and int labels; the test split stays private."""

    spec: DataSpec
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    class_names: tuple[str, ...]
    _x_test: np.ndarray
    _y_test: np.ndarray

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def test(self) -> tuple[np.ndarray, np.ndarray]:
        """The held-out test split: for the final evaluation only."""
        return self._x_test, self._y_test


@dataclass
class _Raw:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    names: tuple[str, ...]
    max_value: float
    origin: str


@functools.lru_cache(maxsize=4)
def load_dataset(spec: DataSpec) -> Dataset:
    """Load, remap, limit, split and normalise; cached so trials in one process share it."""
    raw = _load_raw(spec)
    _check_raw(raw)
    x, y, names = _select_classes(raw.x_train, raw.y_train, spec, raw.names, raw.origin)
    x_test, y_test, _ = _select_classes(raw.x_test, raw.y_test, spec, raw.names, raw.origin)
    if spec.limit:
        x, y = _stratified_subset(x, y, spec.limit, spec.seed)
        x_test, y_test = _stratified_subset(x_test, y_test, spec.limit, spec.seed)
    _check_classes(y, names, spec, raw.origin)
    x_tr, x_val, y_tr, y_val = train_test_split(
        x, y, test_size=spec.val_fraction, stratify=y, random_state=spec.seed)
    scale = _normaliser(x_tr.astype(np.float32) / raw.max_value, spec.normalize)
    return Dataset(spec, scale(x_tr / raw.max_value), y_tr, scale(x_val / raw.max_value), y_val,
                   names, scale(x_test / raw.max_value), y_test)


def _stratified_subset(x: np.ndarray, y: np.ndarray, n: int, seed: int):
    if n >= len(y):
        return x, y
    x_sub, _, y_sub, _ = train_test_split(x, y, train_size=n, stratify=y, random_state=seed)
    return x_sub, y_sub


def _normaliser(x_train: np.ndarray, how: str):
    if how == "scale":
        mean, std = 0.0, 1.0
    elif how == "zscore":
        mean, std = float(x_train.mean()), float(x_train.std()) or 1.0
    else:
        mean = x_train.mean(axis=(0, 1, 2), keepdims=True)[0]
        std = np.where(x_train.std(axis=(0, 1, 2), keepdims=True)[0] > 0,
                       x_train.std(axis=(0, 1, 2), keepdims=True)[0], 1.0)
    return lambda x: ((x.astype(np.float32) - mean) / std).astype(np.float32)


def _select_classes(x, y, spec: DataSpec, names: tuple[str, ...], origin: str):
    if spec.classes is None:
        if spec.class_names and len(spec.class_names) != len(names):
            raise SearchError(f"data.class_names has {len(spec.class_names)} names, but {spec.name} "
                              f"({origin}) has {len(names)} classes; give one name per class.")
        return x, y, spec.class_names or names
    labels = [label for group in spec.classes for label in group]
    missing = [label for label in labels if label >= len(names)]
    if missing:
        raise SearchError(f"data.classes names label(s) {missing}, but {spec.name} ({origin}) has "
                          f"labels 0..{len(names) - 1}.")
    lookup = np.full(len(names), -1, dtype=np.int64)
    for new, group in enumerate(spec.classes):
        lookup[list(group)] = new
    mapped = lookup[y]
    keep = mapped >= 0
    new_names = spec.class_names or tuple("+".join(names[i] for i in g) for g in spec.classes)
    if len(new_names) != len(spec.classes):
        raise SearchError(f"data.class_names has {len(new_names)} names for {len(spec.classes)} "
                          "classes; give one name per class.")
    return x[keep], mapped[keep], tuple(new_names)


def _check_raw(raw: _Raw) -> None:
    for split, x, y in (("train", raw.x_train, raw.y_train), ("test", raw.x_test, raw.y_test)):
        if x.ndim != 4 or len(x) != len(y) or y.ndim != 1:
            raise SearchError(f"{raw.origin}: {split} images must be (N, H, W[, C]) with N labels; "
                              f"got images {x.shape} and labels {y.shape}.")
        if not (np.issubdtype(x.dtype, np.number) and np.issubdtype(y.dtype, np.integer)):
            raise SearchError(f"{raw.origin}: {split} images must be numbers and labels integers; "
                              f"got {x.dtype} images and {y.dtype} labels.")
        if x.shape[1] < 4 or x.shape[2] < 4 or x.shape[3] not in (1, 3, 4):
            raise SearchError(f"{raw.origin}: {split} images must be at least 4x4 with 1, 3 or 4 "
                              f"channels; got {x.shape[1:]}.")
        if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
            raise SearchError(f"{raw.origin}: {split} images contain NaN or infinite values "
                              f"({int((~np.isfinite(x)).sum())} of them); clean the data first.")
        if len(y) and (y.min() < 0 or y.max() >= len(raw.names)):
            raise SearchError(f"{raw.origin}: {split} labels must be in 0..{len(raw.names) - 1}; "
                              f"found {int(y.min())}..{int(y.max())}.")


def _check_classes(y: np.ndarray, names: tuple[str, ...], spec: DataSpec, origin: str) -> None:
    """Every class needs images for training and validation, and there must be two classes."""
    counts = np.bincount(y, minlength=len(names))
    n_val = int(np.ceil(len(y) * spec.val_fraction))
    if (counts > 0).sum() < 2:
        raise SearchError(f"{origin}: the data has a single class after class selection and "
                          f"limit ({len(y)} images); a classifier needs at least two.")
    if counts.min() < 2 or n_val < len(names) or len(y) - n_val < len(names):
        raise SearchError(
            f"{origin}: too few images to split {len(y)} images of {len(names)} classes (smallest "
            f"class: {int(counts.min())}) into training and validation ({spec.val_fraction:.3g}) "
            "with every class in both.", hint="Raise data.limit or data.val_fraction, or drop the "
            "rare classes with data.classes.")


def _load_raw(spec: DataSpec) -> _Raw:
    loader = {"fashion_mnist": _load_fashion, "mnist": _load_mnist, "cifar10": _load_cifar10,
              "digits": _load_digits, "npz": _load_npz}[spec.name]
    return loader(spec.path)


def _as_nhwc(x: np.ndarray) -> np.ndarray:
    return x[..., None] if x.ndim == 3 else x


def _keras_cache() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"


def _load_fashion(data_dir: str | None) -> _Raw:
    places = [Path(p) for p in (data_dir,) if p] + [
        Path("/usr/share/datasets/fashion-mnist"), _keras_cache() / "fashion-mnist"]
    found = _find_idx_dir(places)
    if found is None:
        raise _not_found("fashion_mnist", places, "the Debian package `dataset-fashion-mnist` "
                         "(apt-get install dataset-fashion-mnist), or the four IDX files "
                         "(train-images-idx3-ubyte.gz, ...) in a folder given with --data-dir")
    return _Raw(*_read_idx_set(found), FASHION_NAMES, 255.0, str(found))


def _load_mnist(data_dir: str | None) -> _Raw:
    places = [Path(p) for p in (data_dir,) if p] + [Path("/usr/share/datasets/mnist"),
                                                     _keras_cache() / "mnist"]
    names = tuple(str(i) for i in range(10))
    found = _find_idx_dir(places)
    if found is not None:
        return _Raw(*_read_idx_set(found), names, 255.0, str(found))
    npz = _keras_cache() / "mnist.npz"
    places.append(npz)
    if npz.is_file():
        return _Raw(*_read_npz(npz), names, 255.0, str(npz))
    arrays = _keras_download("mnist", places)
    return _Raw(*arrays, names, 255.0, "keras.datasets.mnist")


def _load_cifar10(data_dir: str | None) -> _Raw:
    roots = [Path(p) for p in (data_dir,) if p] + [_keras_cache()]
    places = [p for r in roots for p in (r, r / "cifar-10-batches-py")]
    for place in places:
        if (place / "data_batch_1").is_file():
            return _Raw(*_read_cifar_batches(place), CIFAR10_NAMES, 255.0, str(place))
    arrays = _keras_download("cifar10", places)
    return _Raw(*arrays, CIFAR10_NAMES, 255.0, "keras.datasets.cifar10")


def _load_digits(_: str | None) -> _Raw:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.images.astype(np.float32)[..., None]
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
    return _Raw(x_tr, y_tr, x_te, y_te, tuple(str(i) for i in range(10)), 16.0,
                "sklearn.datasets.load_digits")


def _load_npz(path: str | None) -> _Raw:
    if not path:
        raise SearchError("data 'npz' needs a file: pass --data-dir FILE.npz (or data.path).")
    arrays = _read_npz(Path(path))
    x = arrays[0]
    numeric = np.issubdtype(x.dtype, np.number)
    max_value = 255.0 if x.dtype == np.uint8 or (numeric and float(np.nanmax(x, initial=0)) > 1) else 1.0
    n_classes = int(arrays[1].max(initial=0)) + 1  # the training labels define the classes
    return _Raw(*arrays, tuple(str(i) for i in range(n_classes)), max_value, path)


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
