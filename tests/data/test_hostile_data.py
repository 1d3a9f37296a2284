"""Hostile and malformed npz and IDX files, and data folders: one message naming the file, exit 2.

npz dtypes, pixel values and label ranges, and IDX headers, are checked before anything
is built from them; a data folder that is given is the only place looked in.
CIFAR-10 batches (pickles): tests/data/test_cifar.py.
"""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from search.data.files import load_raw
from search.errors import SearchError
from test_bad_input import run_cli
from test_cifar import (  # noqa: F401  (isolated: the autouse fixture)
    MARKER, Reduce, calling_pickle, cifar_batches, isolated, run_data)


# -- npz: dtypes, values, labels ----------------------------------------------------------------

X = np.zeros((40, 8, 8), dtype=np.uint8)
Y = np.arange(40) % 4


def _npz(tmp_path: Path, **changes) -> Path:
    arrays = {"x_train": X, "y_train": Y, "x_test": X, "y_test": Y, **changes}
    np.savez(tmp_path / "d.npz", **arrays)
    return tmp_path / "d.npz"


def _with(x_index, value, dtype=np.float32):
    x = X.astype(dtype)
    x[x_index] = value
    return x


RECORD = np.zeros((40, 8, 8), dtype=[("r", "u1"), ("g", "u1")])
NPZ_CASES = [
    ({"x_train": X.astype(np.complex64)}, "'x_train' must hold image pixels as integers or real "
     "floats; got complex numbers (complex64); convert it"),
    ({"x_train": X + 1j}, "'x_train' must hold image pixels as integers or real floats; got complex numbers (complex128)"),
    ({"x_test": X.astype(np.complex128)}, "'x_test' must hold image pixels as integers or real floats; got complex numbers"),
    ({"x_train": X.astype(bool)}, "'x_train' must hold image pixels as integers or real floats; got booleans (bool)"),
    ({"x_train": np.full((40, 8, 8), "x")}, "'x_train' must hold image pixels as integers or real floats; got strings (<U1)"),
    ({"x_train": np.full((40, 8, 8), b"x")}, "got byte strings (|S1)"),
    ({"x_train": RECORD}, "got raw or structured records"),
    ({"x_train": np.zeros((40, 8, 8), "datetime64[s]")}, "got dates (datetime64[s])"),
    ({"x_train": np.array([None] * 40, dtype=object)}, "got Python objects (object)"),
    ({"y_train": Y.astype(np.complex64)}, "'y_train' must hold integer class labels (or whole-number floats); got complex numbers"),
    ({"y_train": Y.astype(bool)}, "'y_train' must hold integer class labels (or whole-number floats); got booleans"),
    ({"y_test": np.array([None] * 40, dtype=object)}, "'y_test' must hold integer class labels (or whole-number floats); got Python objects"),
    ({"x_test": _with((0, 0, 0), np.nan)}, "'x_test': test images contain NaN or infinite values (1 of them)"),
    ({"x_train": _with((slice(0, 2), 0, 0), -np.inf)}, "'x_train': train images contain NaN or infinite values (2 of them)"),
    ({"x_train": _with((0, 0, 0), 1000.0)}, "'x_train' pixel values must be in 0..255 (integers) or at most 255 (floats); found 0.0..1000.0"),
    ({"x_train": _with((0, 0, 0), -3, np.int16)}, "'x_train' pixel values must be in 0..255 (integers)"),
    ({"x_train": _with((0, 0, 0), 65535, np.uint16)}, "found 0..65535 (uint16); rescale them"),
    ({"y_train": np.r_[Y[:-1], 2**31 - 1]}, "'y_train' labels must be class numbers in 0..9999; found 0..2147483647; renumber"),
    ({"y_train": np.r_[Y[:-1], -1]}, "'y_train' labels must be class numbers in 0..9999; found -1..3"),
    ({"y_test": np.r_[Y[:-1], 10_000]}, "'y_test' labels must be class numbers in 0..9999; found 0..10000"),
    ({"y_train": np.r_[Y[:-1].astype(np.uint64), np.uint64(2**64 - 1)]}, "found 0..18446744073709551615"),
    ({"y_train": np.r_[Y[:-1], 1e30]}, "'y_train' labels must be class numbers in 0..9999; found 0..1000000000000000019884624838656"),
    ({"y_train": np.r_[Y[:-1], np.nan]}, "'y_train' must hold integer class labels; got float64 values"),
    ({"x_train": X[:0], "y_train": Y[:0]}, "the train split holds no images"),
    ({"x_test": np.zeros((40, 10, 10), np.uint8)}, "test images are (10, 10, 1), but training images are (8, 8, 1)"),
    ({"x_train": np.zeros((40, 3, 8, 8), np.uint8)}, "got (3, 8, 8) (channels first? use x.transpose(0, 2, 3, 1))"),
]


@pytest.mark.parametrize("changes, message", NPZ_CASES)
def test_hostile_npz_arrays(tmp_path, capsys, changes, message):
    err = run_data(capsys, tmp_path, "npz", _npz(tmp_path, **changes))
    assert message in err and "d.npz" in err


def _zip_damaged(tmp_path: Path) -> Path:
    path = _npz(tmp_path, x_train=np.arange(40 * 64, dtype=np.uint8).reshape(40, 8, 8))
    data = bytearray(path.read_bytes())
    data[400:420] = bytes(20)  # inside x_train's stored body: its CRC no longer matches
    path.write_bytes(bytes(data))
    return path


NPZ_FILE_CASES = [
    (lambda d: d, "is a folder; data 'npz' needs an .npz file holding x_train, y_train, x_test, y_test"),
    (lambda d: (d / "e.npz").write_bytes(b"") and d / "e.npz" or d / "e.npz", "e.npz: the npz file is empty"),
    (lambda d: np.save(d / "a.npy", X) or d / "a.npy", "a.npy: cannot read as npz (not a zip archive of .npy arrays"),
    (lambda d: (d / "p.npz").write_bytes(pickle.dumps(Reduce(os.system, "touch MARKER"))) and d / "p.npz",
     "p.npz: cannot read as npz (not a zip archive"),
    (lambda d: (d / "t.npz").write_bytes(_npz(d).read_bytes()[:300]) and d / "t.npz", "t.npz: cannot read as npz"),
    (_zip_damaged, "d.npz: cannot read as npz (BadZipFile: Bad CRC-32"),
    (lambda d: d / "sub" / "missing.npz", "missing.npz: npz file not found."),
]


@pytest.mark.parametrize("make, message", NPZ_FILE_CASES)
def test_damaged_npz_files(tmp_path, capsys, make, message):
    err = run_data(capsys, tmp_path, "npz", make(tmp_path))
    assert message in err
    assert not (tmp_path / MARKER).exists()


# -- IDX headers and bodies ---------------------------------------------------------------------

def _idx_bytes(ndim: int, dims: tuple[int, ...], body: int, code: int = 8) -> bytes:
    return bytes([0, 0, code, ndim]) + b"".join(d.to_bytes(4, "big") for d in dims) + bytes(body)


def _idx(folder: Path, gz: bool = True, **files: bytes) -> Path:
    """Four valid IDX files of 20 images (8x8); ``files`` replace some by their stem's prefix."""
    folder.mkdir(parents=True, exist_ok=True)
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        kind = stem.split("-")[0] + "_" + stem.split("-")[1]
        content = files.get(kind, _idx_bytes(3, (20, 8, 8), 20 * 64) if "images" in stem else
                            bytes([0, 0, 8, 1]) + (20).to_bytes(4, "big") + bytes(i % 10 for i in range(20)))
        if gz:
            with gzip.open(folder / f"{stem}.gz", "wb") as f:
                f.write(content)
        else:
            (folder / stem).write_bytes(content)
    return folder


IDX_CASES = [
    ({"train_images": _idx_bytes(255, (20,) * 3, 0)}, "the IDX header gives 255 dimensions, but an images file has 3"),
    ({"t10k_labels": _idx_bytes(3, (20, 8, 8), 1280)}, "the IDX header gives 3 dimensions, but a labels file has 1"),
    ({"train_images": _idx_bytes(3, (2**32 - 1,) * 3, 10)}, "more than the 2147483648 this reader takes"),
    ({"train_images": _idx_bytes(3, (2**16, 2**16, 1), 0)}, "dimensions (65536, 65536, 1), 4294967296 values"),
    ({"train_images": _idx_bytes(3, (20, 8, 8), 20 * 64 + 7)}, "the IDX file is longer than its header says ((20, 8, 8), 1280 values)"),
    ({"train_images": _idx_bytes(3, (20, 8, 8), 500)}, "truncated IDX file: header says (20, 8, 8) (1280 values) but 500 follow"),
    ({"train_images": _idx_bytes(3, (20,), 0)}, "the IDX header is cut short: 3 dimensions need 16 header bytes; the file has 8"),
    ({"train_images": b""}, "the IDX file is empty"),
    ({"train_images": b"\x89PNG\r\n\x1a\n"}, "not an IDX file (bad magic number 89 50 4e 47)"),
    ({"train_images": _idx_bytes(3, (20, 8, 8), 20 * 64 * 4, code=0x0D)},
     "not an IDX file of unsigned bytes (bad magic number 00 00 0d 03: type code 0x0d)"),
    ({"train_labels": bytes([0, 0, 8, 1]) + (19).to_bytes(4, "big") + bytes(19)}, "holds 20 images, but"),
    ({"train_labels": bytes([0, 0, 8, 1]) + (20).to_bytes(4, "big") + bytes([200] * 20)},
     "train labels must be in 0..9; found 200..200"),
]


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
@pytest.mark.parametrize("files, message", IDX_CASES)
def test_hostile_idx_files(tmp_path, capsys, files, message, gz):
    folder = _idx(tmp_path / "idx", gz=gz, **files)
    err = run_data(capsys, tmp_path, "mnist", folder)
    assert message in err and str(folder) in err


def _gz_damage(folder: Path, how: str) -> Path:
    path = folder / "train-images-idx3-ubyte.gz"
    data = path.read_bytes()
    path.write_bytes({"cut": data[: len(data) // 2], "garbage": b"not gzip at all",
                      "flipped": data[:20] + bytes(b ^ 0xFF for b in data[20:40]) + data[40:]}[how])
    return folder


@pytest.mark.parametrize("how", ["cut", "garbage", "flipped"])
def test_damaged_gzip_is_named(tmp_path, capsys, how):
    folder = _gz_damage(_idx(tmp_path / "idx"), how)
    err = run_data(capsys, tmp_path, "fashion_mnist", folder)
    assert "train-images-idx3-ubyte.gz: cannot read IDX file: the data is damaged or cut short" in err


def test_valid_idx_files_load_gzipped_or_not(tmp_path):
    for gz in (True, False):
        raw = load_raw("mnist", str(_idx(tmp_path / f"idx{gz}", gz=gz)))
        assert raw.x_train.shape == (20, 8, 8, 1) and raw.y_test.tolist() == [i % 10 for i in range(20)]


# -- a data folder that is given is the only place looked in -------------------------------------

def _keras_cache() -> Path:
    return Path(os.environ["KERAS_HOME"]) / "datasets"


@pytest.mark.parametrize("data, make, message", [
    ("fashion_mnist", lambda d: d / "nowhere", "nowhere (no such folder)"),
    ("fashion_mnist", lambda d: (d / "empty").mkdir() or d / "empty", "empty (holds none of its files)"),
    ("fashion_mnist", lambda d: d / "ok.py", "ok.py (a file, not a folder; --data npz reads .npz files)"),
    ("mnist", lambda d: _idx(d / "idx") and (d / "idx" / "t10k-labels-idx1-ubyte.gz").unlink() or d / "idx",
     "idx (lacks t10k-labels-idx1-ubyte)"),
    ("mnist", lambda d: d / "nowhere", "mnist.npz (not found)"),
    ("cifar10", lambda d: cifar_batches(d / "c") and (d / "c" / "test_batch").unlink() or d / "c", "c (lacks test_batch)"),
    ("cifar10", lambda d: d / "nowhere", "keras.datasets.cifar10 download"),
])
def test_a_given_data_folder_is_the_only_place_looked_in(tmp_path, capsys, data, make, message):
    """The system data set and Keras' cache hold usable files, yet are not used."""
    cifar_batches(_keras_cache() / "cifar-10-batches-py")
    _idx(_keras_cache() / "mnist")
    _idx(_keras_cache() / "fashion-mnist")
    err = run_data(capsys, tmp_path, data, make(tmp_path))
    assert f"data set '{data}' not found. Looked in:" in err and message in err
    assert "Not tried, as a data folder was given:" in err
    assert "or leave --data-dir (data.path) out to use the usual places" in err


def test_a_data_folder_for_digits_is_refused_not_ignored(tmp_path, capsys):
    err = run_data(capsys, tmp_path, "digits", tmp_path)
    assert "data 'digits' comes with scikit-learn and reads no files; got the data folder" in err


def test_without_a_data_folder_the_usual_places_serve(tmp_path):
    cifar_batches(_keras_cache() / "cifar-10-batches-py")
    assert load_raw("cifar10", None).origin == str(_keras_cache() / "cifar-10-batches-py")


def test_a_hostile_batch_in_keras_cache_is_refused_too(tmp_path):
    folder = cifar_batches(_keras_cache() / "cifar-10-batches-py",
                    test_batch=calling_pickle("os", "system", f"touch {tmp_path / MARKER}"))
    with pytest.raises(SearchError, match="test_batch: refused to load: the pickle asks for 'os.system'"):
        load_raw("cifar10", None)
    assert not (tmp_path / MARKER).exists() and folder.is_dir()


@pytest.mark.parametrize("data, path, message", [
    ("npz", "nothere.npz", "nothere.npz: npz file not found."),
    ("npz", ".", "is a folder; data 'npz' needs an .npz file"),
    ("fashion_mnist", "nowhere", "data set 'fashion_mnist' not found. Looked in: - nowhere (no such folder)"),
    ("cifar10", "cifar", "refused to load: the pickle asks for 'os.system'"),
])
def test_a_data_path_in_a_config_file_gets_the_same_checks(tmp_path, capsys, data, path, message):
    cifar_batches(tmp_path / "cifar", data_batch_2=calling_pickle("os", "system", f"touch {tmp_path / MARKER}"))
    (tmp_path / "c.yaml").write_text(f"params: {{conv: {{depth: 1, filters: [8]}}}}\n"
                                     f"data: {{name: {data}, path: {path}}}\n")
    err = run_cli(["train", "c.yaml"], capsys, tmp_path)
    assert message in err and not (tmp_path / MARKER).exists()
