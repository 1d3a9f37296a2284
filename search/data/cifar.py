"""CIFAR-10's python batches, read without running what a pickle asks for.

A batch is a pickled dict of numpy arrays, lists, bytes and numbers. ``pickle.load``
would call whatever global a file names (``os.system``, ``builtins.eval``, ...), so
batches are read with :class:`BatchUnpickler`, which resolves only the handful of
globals such a dict needs and refuses every other one before anything runs.
"""

from __future__ import annotations

import math
import pickle
from pathlib import Path
from typing import Any, Callable

import numpy as np

from search.errors import SearchError

__all__ = ["BatchUnpickler", "read_cifar_batch", "CIFAR_BATCHES", "CIFAR_CLASSES"]

CIFAR_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
CIFAR_CLASSES = 10
PIXELS = 3 * 32 * 32
ALLOWED = "dicts, lists, bytes, strings, numbers and numpy arrays"
REPLACE = ("replace it with the file of that name from the original cifar-10-python.tar.gz "
           "(https://www.cs.toronto.edu/~kriz/cifar.html)")

try:  # numpy >= 2 keeps these in numpy._core; numpy.core is a deprecated alias there
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _multiarray  # type: ignore[no-redef]
    from numpy.core import numeric as _numeric  # type: ignore[no-redef]


class BatchUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals a CIFAR-10 batch holds.

    Allowed: numpy's array reconstruction (``_reconstruct``, ``ndarray``, ``dtype``,
    ``scalar``, ``_frombuffer`` under ``numpy.core`` and ``numpy._core``) and
    ``_codecs.encode`` (how Python 3 writes bytes at protocols 0-2). Each is a fresh
    checked wrapper per unpickler, so a file cannot alter them for the next one.
    Any other global is refused with a :class:`SearchError` naming the file.
    """

    def __init__(self, file: Any, path: Path) -> None:
        super().__init__(file, encoding="bytes")
        self.path = path
        self.allowed = _allowed_globals(path)

    def find_class(self, module: str, name: str) -> Any:
        """The allowed global ``module.name``; anything else is refused before it runs."""
        found = self.allowed.get(f"{module}.{name}")
        if found is None:
            raise SearchError(
                f"{self.path}: refused to load: the pickle asks for '{module}.{name}', which a "
                f"CIFAR-10 batch never holds; only {ALLOWED} are allowed, so {REPLACE}.")
        return found


def _allowed_globals(path: Path) -> dict[str, Any]:
    array_type = object()  # stands for numpy.ndarray: only _reconstruct may use it

    def refuse(what: str) -> SearchError:
        return SearchError(f"{path}: refused to load: {what}, which numpy's own pickles never "
                           f"do; only {ALLOWED} are allowed, so {REPLACE}.")

    def reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
        if subtype is not array_type:
            raise refuse("the pickle rebuilds an array of another type")
        dims = shape if isinstance(shape, tuple) else (shape,)
        if not all(isinstance(d, int) and 0 <= d for d in dims) or math.prod(dims) > 1:
            raise refuse(f"the pickle allocates an array of shape {shape!r} up front")
        return _multiarray._reconstruct(np.ndarray, dims, dtype)

    def frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
        return _numeric._frombuffer(buf, dtype, shape, order)

    def encode(text: Any, encoding: Any) -> bytes:
        if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
            raise refuse(f"the pickle encodes bytes with {encoding!r}, not latin1")
        return text.encode("latin1")

    found: dict[str, Any] = {"_codecs.encode": encode, "numpy.ndarray": array_type,
                             "numpy.dtype": np.dtype}
    own: dict[str, Callable[..., Any] | type] = {
        "multiarray._reconstruct": reconstruct, "multiarray.scalar": _multiarray.scalar,
        "numeric._frombuffer": frombuffer}
    for package in ("numpy.core", "numpy._core"):
        found.update({f"{package}.{key}": value for key, value in own.items()})
    return found


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch's images (N, 32, 32, 3) uint8 and labels (N,) int64, checked."""
    try:
        with open(path, "rb") as f:
            batch = BatchUnpickler(f, path).load()
    except SearchError:
        raise
    except OSError as exc:
        raise SearchError(f"{path}: cannot read CIFAR-10 batch ({exc.strerror or exc}).") from None
    except EOFError:
        raise SearchError(f"{path}: cannot read CIFAR-10 batch: the file is empty or cut short; "
                          f"{REPLACE}.") from None
    except Exception as exc:  # UnpicklingError, or numpy refusing what the pickle built
        raise SearchError(f"{path}: cannot read CIFAR-10 batch: not a valid pickle "
                          f"({type(exc).__name__}: {exc}); {REPLACE}.") from None
    return _check_batch(batch, path)


def _check_batch(batch: Any, path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(batch, dict):
        raise SearchError(f"{path}: a CIFAR-10 batch must be a dict with b'data' and b'labels'; "
                          f"got {type(batch).__name__}; {REPLACE}.")
    data, labels = (_entry(batch, key, path) for key in ("data", "labels"))
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != PIXELS:
        got = f"shape {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise SearchError(f"{path}: b'data' must be an array of shape (N, {PIXELS}) (one row of "
                          f"3x32x32 pixels per image); got {got}; {REPLACE}.")
    if data.dtype != np.uint8:
        raise SearchError(f"{path}: b'data' must hold uint8 pixels (0..255); got {data.dtype}; "
                          f"{REPLACE}.")
    y = _batch_labels(labels, path)
    if len(y) != len(data):
        raise SearchError(f"{path}: b'labels' has {len(y)} labels for {len(data)} images in "
                          f"b'data'; one label per image is needed; {REPLACE}.")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), y


def _entry(batch: dict, key: str, path: Path) -> Any:
    for candidate in (key.encode(), key):
        if candidate in batch:
            return batch[candidate]
    keys = ", ".join(repr(k) for k in list(batch)[:6]) or "none"
    raise SearchError(f"{path}: a CIFAR-10 batch must hold b'data' and b'labels'; b'{key}' is "
                      f"missing (keys: {keys}); {REPLACE}.")


def _batch_labels(labels: Any, path: Path) -> np.ndarray:
    if isinstance(labels, list) and all(type(v) is int for v in labels):
        values = labels
    elif isinstance(labels, np.ndarray) and labels.ndim == 1 and labels.dtype.kind in "iu":
        values = labels.tolist()
    else:
        got = (f"an array of {labels.dtype}, shape {labels.shape}"
               if isinstance(labels, np.ndarray) else type(labels).__name__)
        raise SearchError(f"{path}: b'labels' must be a list of integer class labels; got {got}; "
                          f"{REPLACE}.")
    bad = [v for v in values if not 0 <= v < CIFAR_CLASSES]
    if bad:
        raise SearchError(f"{path}: b'labels' must be in 0..{CIFAR_CLASSES - 1}; found "
                          f"{len(bad)} outside it, from {min(bad)} to {max(bad)}; {REPLACE}.")
    return np.asarray(values, dtype=np.int64)
