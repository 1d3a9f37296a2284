"""Data sets: load from local files, remap labels, normalise, split; cached per process.

The test split is kept apart and only handed out by :meth:`Dataset.test`, which
``train --refit`` calls once at the end; searches see train and validation only.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from search.data.files import Raw, load_raw
from search.errors import SearchError, shown
from search.inputs import OPTIONS

__all__ = ["DataSpec", "Dataset", "load_dataset", "CLASS_PRESETS"]


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
        """The fields as plain YAML values (tuples become lists)."""
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
    found += [f"'data.{key}' must be {allowed}; got {shown(values[key])}"
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
        """One image's shape: (height, width, channels)."""
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    @property
    def n_classes(self) -> int:
        """The number of classes after remapping."""
        return len(self.class_names)

    def test(self) -> tuple[np.ndarray, np.ndarray]:
        """The held-out test split: for the final evaluation only."""
        return self._x_test, self._y_test


@functools.lru_cache(maxsize=4)
def load_dataset(spec: DataSpec) -> Dataset:
    """Load, remap, limit, split and normalise; cached so trials in one process share it."""
    raw = load_raw(spec.name, spec.path)
    _check_raw(raw)
    x, y, names = _select_classes(raw.x_train, raw.y_train, spec, raw.names, raw.origin)
    x_test, y_test, _ = _select_classes(raw.x_test, raw.y_test, spec, raw.names, raw.origin)
    if spec.limit:
        if spec.limit > len(y):
            raise SearchError(f"data.limit is {spec.limit}, but {spec.name} ({raw.origin}) has "
                              f"only {len(y)} training images after class selection.",
                              hint="Lower the limit, or leave it out to use every image.")
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


def _check_raw(raw: Raw) -> None:
    for split, x, y in (("train", raw.x_train, raw.y_train), ("test", raw.x_test, raw.y_test)):
        if x.ndim != 4 or len(x) != len(y) or y.ndim != 1:
            raise SearchError(f"{raw.origin}: {split} images must be (N, H, W[, C]) with N labels; "
                              f"got images {x.shape} and labels {y.shape}.")
        if not (np.issubdtype(x.dtype, np.number) and np.issubdtype(y.dtype, np.integer)):
            raise SearchError(f"{raw.origin}: {split} images must be numbers and labels integers; "
                              f"got {x.dtype} images and {y.dtype} labels.")
        if not len(y):
            raise SearchError(f"{raw.origin}: the {split} split holds no images; a data set needs "
                              "training and test images.")
        if x.shape[1] < 4 or x.shape[2] < 4 or x.shape[3] not in (1, 3, 4):
            raise SearchError(f"{raw.origin}: {split} images must be at least 4x4 with 1, 3 or 4 "
                              f"channels; got {x.shape[1:]}"
                              + (" (channels first? use x.transpose(0, 2, 3, 1))."
                                 if x.shape[1] in (1, 3, 4) and x.shape[3] > 4 else "."))
        if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
            raise SearchError(f"{raw.origin}: {split} images contain NaN or infinite values "
                              f"({int((~np.isfinite(x)).sum())} of them); clean the data first.")
        if len(y) and (y.min() < 0 or y.max() >= len(raw.names)):
            raise SearchError(f"{raw.origin}: {split} labels must be in 0..{len(raw.names) - 1}; "
                              f"found {int(y.min())}..{int(y.max())}.")
    if raw.x_test.shape[1:] != raw.x_train.shape[1:]:
        raise SearchError(f"{raw.origin}: test images are {raw.x_test.shape[1:]}, but training "
                          f"images are {raw.x_train.shape[1:]}; both splits need one image shape.")


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
