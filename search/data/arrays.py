"""IDX (MNIST, Fashion-MNIST) and npz files, checked before anything is built from them.

Every header is validated with Python integers before numpy sees it, every dtype and
label range is checked before it is cast, and every failure is one sentence that
names the file (and the array key) and says what is allowed.
"""

from __future__ import annotations

import gzip
import math
import zipfile
import zlib
from pathlib import Path

import numpy as np

from search.errors import SearchError

__all__ = ["read_idx", "read_npz", "labels", "MAX_CLASSES", "IDX_FILES"]

MAX_CLASSES = 10_000
MAX_IDX_VALUES = 1 << 31  # Fashion-MNIST's training images hold 47 million
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
NUMBER_KINDS = "uif"
DTYPE_WORDS = {"c": "complex numbers", "O": "Python objects", "U": "strings", "S": "byte strings",
               "b": "booleans", "V": "raw or structured records", "M": "dates", "m": "durations"}


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """One IDX file of unsigned bytes (optionally gzipped) with ``ndim`` dimensions."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            head = f.read(4)
            if len(head) == 4 and head[3] == ndim:
                head += f.read(4 * ndim)
            dims = _idx_dims(path, head, ndim)
            body = f.read(math.prod(dims) + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise SearchError(f"{path}: cannot read IDX file: the data is damaged or cut short "
                          f"({exc}); download it again.") from None
    expected = math.prod(dims)
    if len(body) < expected:
        raise SearchError(f"{path}: truncated IDX file: header says {dims} ({expected} values) "
                          f"but {len(body)} follow; download it again.")
    if len(body) > expected:
        raise SearchError(f"{path}: the IDX file is longer than its header says ({dims}, "
                          f"{expected} values); the header or the body is damaged; download it "
                          "again.")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def _idx_dims(path: Path, head: bytes, ndim: int) -> tuple[int, ...]:
    kind = "an images file has 3 (count, rows, columns)" if ndim == 3 else "a labels file has 1"
    if not head:
        raise SearchError(f"{path}: the IDX file is empty; download it again.")
    if len(head) < 4 or head[0] != 0 or head[1] != 0:
        raise SearchError(f"{path}: not an IDX file (bad magic number {head[:4].hex(' ')}); IDX "
                          "files start with 00 00, a type code and the number of dimensions.")
    if head[2] != 0x08:
        raise SearchError(f"{path}: not an IDX file of unsigned bytes (bad magic number "
                          f"{head[:4].hex(' ')}: type code {head[2]:#04x}); only type code 0x08 "
                          "(unsigned bytes, as in MNIST and Fashion-MNIST) is read.")
    if head[3] != ndim:
        raise SearchError(f"{path}: the IDX header gives {head[3]} dimensions, but {kind}; is "
                          "this file in the right place?")
    if len(head) < 4 + 4 * ndim:
        raise SearchError(f"{path}: the IDX header is cut short: {ndim} dimensions need "
                          f"{4 + 4 * ndim} header bytes; the file has {len(head)}.")
    dims = tuple(int.from_bytes(head[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if math.prod(dims) > MAX_IDX_VALUES:
        raise SearchError(f"{path}: the IDX header gives dimensions {dims}, "
                          f"{math.prod(dims)} values: more than the {MAX_IDX_VALUES} this reader "
                          "takes; the header is damaged.")
    return dims


def read_npz(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x_train, y_train, x_test, y_test from an npz archive; no pickles, every array checked."""
    if path.is_dir():
        raise SearchError(f"{path}: is a folder; data 'npz' needs an .npz file holding "
                          f"{', '.join(NPZ_KEYS)} (numpy.savez).")
    if not path.is_file():
        raise SearchError(f"{path}: npz file not found.")
    if path.stat().st_size == 0:
        raise SearchError(f"{path}: the npz file is empty; save it with numpy.savez(path, "
                          "x_train=..., y_train=..., x_test=..., y_test=...).")
    if not zipfile.is_zipfile(path):
        raise SearchError(f"{path}: cannot read as npz (not a zip archive of .npy arrays: a .npy, "
                          "pickle or text file?); save it with numpy.savez(path, x_train=..., "
                          "y_train=..., x_test=..., y_test=...).")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in NPZ_KEYS if k not in f.files]
            if missing:
                raise SearchError(f"{path}: npz file lacks {', '.join(missing)}; it must hold "
                                  "x_train, y_train, x_test and y_test.")
            x_tr, y_tr, x_te, y_te = (_array(f, path, key) for key in NPZ_KEYS)
    except SearchError:
        raise
    except Exception as exc:  # a damaged archive: BadZipFile, CRC errors, short members
        raise SearchError(f"{path}: cannot read as npz ({type(exc).__name__}: {exc}).") from None
    return (_images(x_tr, path, "x_train"), labels(y_tr, path, "y_train"),
            _images(x_te, path, "x_test"), labels(y_te, path, "y_test"))


def _array(f: np.lib.npyio.NpzFile, path: Path, key: str) -> np.ndarray:
    """One member, its dtype checked from the header before the body is read."""
    with f.zip.open(f"{key}.npy") as member:
        version = np.lib.format.read_magic(member)
        read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                else np.lib.format.read_array_header_2_0)
        _, _, dtype = read(member)
    allowed = ("image pixels as integers or real floats" if key.startswith("x") else
               "integer class labels (or whole-number floats)")
    if dtype.kind not in NUMBER_KINDS:
        word = DTYPE_WORDS.get(dtype.kind, "other values")
        raise SearchError(f"{path}: '{key}' must hold {allowed}; got {word} ({dtype}); convert "
                          "it, e.g. with .astype('float32') or .astype('int64'), and save again.")
    return f[key]


def _images(x: np.ndarray, path: Path, key: str) -> np.ndarray:
    """Images as NHWC; integer pixels in 0..255, float pixels finite and at most 255."""
    if x.size and x.dtype.kind == "f":
        bad = int((~np.isfinite(x)).sum())
        if bad:
            split = "train" if key == "x_train" else "test"
            raise SearchError(f"{path}: '{key}': {split} images contain NaN or infinite values "
                              f"({bad} of them); clean the data first.")
    low = 0 if x.dtype.kind in "ui" else -np.inf
    if x.size and (float(x.min()) < low or float(x.max()) > 255):
        raise SearchError(f"{path}: '{key}' pixel values must be in 0..255 (integers) or at most "
                          f"255 (floats); found {x.min()}..{x.max()} ({x.dtype}); rescale them, "
                          "e.g. to floats in [0, 1].")
    return x[..., None] if x.ndim == 3 else x


def labels(y: np.ndarray, path: Path, key: str) -> np.ndarray:
    """Integer class labels in 0..MAX_CLASSES-1, checked before any cast or class list."""
    y = y.ravel() if y.ndim == 2 and 1 in y.shape else y
    if y.ndim != 1:
        raise SearchError(f"{path}: '{key}' must be one label per image; got shape {y.shape} "
                          "(one-hot labels: take argmax first).")
    if y.dtype.kind not in "uif" or (y.dtype.kind == "f" and not (
            np.isfinite(y).all() and (y == np.round(y)).all())):
        raise SearchError(f"{path}: '{key}' must hold integer class labels; got {y.dtype} values "
                          "(one-hot labels: take argmax first).")
    if y.size:
        low, high = (int(v) for v in (y.min(), y.max()))
        if low < 0 or high >= MAX_CLASSES:
            raise SearchError(
                f"{path}: '{key}' labels must be class numbers in 0..{MAX_CLASSES - 1}; found "
                f"{low}..{high}; renumber the classes 0, 1, 2, ... (e.g. "
                "numpy.unique(y, return_inverse=True)[1]).")
    return y.astype(np.int64)
