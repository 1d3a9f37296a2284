"""Hostile and malformed CIFAR-10 batches: refused with one message naming the file, exit 2.

A batch is a pickle: one that asks for any global beyond numpy's array rebuilders is
refused before it runs (the marker file its payload would create never appears);
legitimate batches, in every pickle protocol and in Python 2's layout, still load.
"""

from __future__ import annotations

import io
import os
import pickle
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from search.data.dataset import DataSpec, load_dataset
from search.data.files import load_raw
from test_bad_input import OK_SPACE, run_cli

N = 20  # images per CIFAR batch


@pytest.fixture(autouse=True)
def isolated(tmp_path, tmp_path_factory, monkeypatch):
    """Work in tmp_path; Keras' dataset cache is an empty folder outside it."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path_factory.mktemp("keras-home")))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ok.py").write_text(OK_SPACE)


def run_data(capsys, root: Path, data: str, target) -> str:
    """`search run ok.py --data DATA --data-dir TARGET`, which must fail with exit 2."""
    return run_cli(["run", "ok.py", "--data", data, "--data-dir", target], capsys, root)


# -- CIFAR-10 batches ---------------------------------------------------------------------------

def _batch(n: int = N, **changes) -> dict:
    batch = {b"batch_label": b"testing", b"labels": [i % 10 for i in range(n)],
             b"data": (np.arange(n * 3072) % 256).astype(np.uint8).reshape(n, 3072),
             b"filenames": [b"img_%d.png" % i for i in range(n)]}
    batch.update({k.encode(): v for k, v in changes.items()})
    return {k: v for k, v in batch.items() if v is not DROP}


def cifar_batches(folder: Path, **files: bytes | dict) -> Path:
    """Five training batches and a test batch (protocol 2, bytes keys); ``files`` replace some."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        content = files.get(name, _batch())
        (folder / name).write_bytes(content if isinstance(content, bytes)
                                    else pickle.dumps(content, protocol=2))
    return folder


def calling_pickle(module: str, name: str, *args: str) -> bytes:
    """A protocol-0 pickle that calls module.name(*args) when loaded."""
    text = "".join(f"V{a}\n" for a in args)
    return f"c{module}\n{name}\n({text}tR.".encode("raw_unicode_escape")


class Reduce:
    """An object whose pickle calls ``func(*args)`` on load: the classic pickle payload."""

    def __init__(self, func, *args) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


DROP = object()
MARKER = "MARKER"


def _payloads(marker: Path) -> list:
    import builtins
    import subprocess

    return [
        (calling_pickle("os", "system", f"touch {marker}"), "the pickle asks for 'os.system', which a "
         "CIFAR-10 batch never holds; only dicts, lists, bytes, strings, numbers and numpy arrays"),
        (pickle.dumps(Reduce(os.system, f"touch {marker}"), protocol=2), "asks for 'posix.system'"),
        (pickle.dumps(Reduce(builtins.open, str(marker), "w")), "asks for 'io.open'"),
        (pickle.dumps(Reduce(builtins.exec, f"open({str(marker)!r}, 'w')")), "asks for 'builtins.exec'"),
        (pickle.dumps(Reduce(builtins.eval, f"open({str(marker)!r}, 'w')"), protocol=4),
         "asks for 'builtins.eval'"),
        (calling_pickle("__builtin__", "eval", f"open({str(marker)!r}, 'w')"), "asks for '__builtin__.eval'"),
        (pickle.dumps(Reduce(subprocess.Popen, ["touch", str(marker)])), "asks for 'subprocess.Popen'"),
        (calling_pickle("subprocess", "check_call", "true"), "asks for 'subprocess.check_call'"),
        (calling_pickle("numpy", "load", str(marker)), "asks for 'numpy.load'"),
        (calling_pickle("numpy.testing._private.utils", "runstring", f"open({str(marker)!r}, 'w')", "{}"),
         "asks for 'numpy.testing._private.utils.runstring'"),
        (calling_pickle("pickle", "loads", "x"), "asks for 'pickle.loads'"),
        (calling_pickle("importlib", "import_module", "os"), "asks for 'importlib.import_module'"),
        (calling_pickle("copyreg", "_reconstructor", "x"), "asks for 'copyreg._reconstructor'"),
        (pickle.dumps(_batch(labels=Reduce(os.system, f"touch {marker}"))),
         "asks for 'posix.system'"),
        (pickle.dumps({b"data": [Reduce(shutil.rmtree, str(marker.parent))], b"labels": []}),
         "asks for 'shutil.rmtree'"),
    ]


@pytest.mark.parametrize("case", range(15))
def test_a_cifar_batch_that_asks_for_code_is_refused_and_never_runs(tmp_path, capsys, case):
    marker = tmp_path / MARKER
    payload, message = _payloads(marker)[case]
    folder = cifar_batches(tmp_path / "cifar", data_batch_1=payload)
    err = run_data(capsys, tmp_path, "cifar10", folder)
    assert f"{folder / 'data_batch_1'}: refused to load:" in err and message in err
    assert "cifar-10-python.tar.gz" in err
    assert not marker.exists() and (tmp_path / "cifar").is_dir()


def test_the_payloads_do_run_under_a_plain_pickle_load(tmp_path):
    """The control: the same bytes given to pickle.load create the marker file."""
    marker = tmp_path / MARKER
    for payload, _ in (_payloads(marker)[i] for i in (0, 2)):
        marker.unlink(missing_ok=True)
        pickle.loads(payload)
        assert marker.exists()


def _reconstruct(subtype: str, shape: str) -> bytes:
    return (f"cnumpy._core.multiarray\n_reconstruct\n(cnumpy\n{subtype}\n{shape}Vb\ntR.").encode()


CIFAR_CASES = [
    (_reconstruct("dtype", "(I0\nt"), "refused to load: the pickle rebuilds an array of another type"),
    (_reconstruct("ndarray", "(I1099511627776\nt"),
     "refused to load: the pickle allocates an array of shape (1099511627776,) up front"),
    (b"cnumpy\nndarray\n(I1099511627776\ntR.", "not a valid pickle (TypeError"),
    (calling_pickle("_codecs", "encode", "payload", "rot13"), "the pickle encodes bytes with 'rot13', not latin1"),
    (b"", "cannot read CIFAR-10 batch: the file is empty or cut short"),
    (pickle.dumps(_batch(), protocol=2)[:500], "not a valid pickle (UnpicklingError: pickle data was truncated)"),
    (b"this is not a pickle at all\n", "cannot read CIFAR-10 batch: not a valid pickle"),
    (pickle.dumps([1, 2, 3]), "a CIFAR-10 batch must be a dict with b'data' and b'labels'; got list"),
    (pickle.dumps(_batch(labels=DROP)), "a CIFAR-10 batch must hold b'data' and b'labels'; b'labels' is missing"),
    (pickle.dumps(_batch(data=np.zeros((N, 100), np.uint8))),
     "b'data' must be an array of shape (N, 3072) (one row of 3x32x32 pixels per image); got shape (20, 100)"),
    (pickle.dumps(_batch(data=[[0] * 3072] * N)), "b'data' must be an array of shape (N, 3072)"
     " (one row of 3x32x32 pixels per image); got list"),
    (pickle.dumps(_batch(data=np.zeros((N, 3072), np.float32))), "b'data' must hold uint8 pixels (0..255); got float32"),
    (pickle.dumps(_batch(data=np.zeros((N, 3072), np.complex64))), "b'data' must hold uint8 pixels (0..255); got complex64"),
    (pickle.dumps(_batch(labels=[i % 10 for i in range(N - 1)])), "b'labels' has 19 labels for 20 images"),
    (pickle.dumps(_batch(labels=[10] * N)), "b'labels' must be in 0..9; found 20 outside it, from 10 to 10"),
    (pickle.dumps(_batch(labels=[-1] + [0] * (N - 1))), "b'labels' must be in 0..9; found 1 outside it, from -1 to -1"),
    (pickle.dumps(_batch(labels=[2**31 - 1] * N)), "from 2147483647 to 2147483647"),
    (pickle.dumps(_batch(labels=["cat"] * N)), "b'labels' must be a list of integer class labels; got list"),
    (pickle.dumps(_batch(labels=np.zeros(N))), "b'labels' must be a list of integer class labels; got an array of float64"),
    (pickle.dumps(_batch(labels=[True] * N)), "b'labels' must be a list of integer class labels"),
]


@pytest.mark.parametrize("content, message", CIFAR_CASES, ids=range(len(CIFAR_CASES)))
def test_malformed_cifar_batches(tmp_path, capsys, content, message):
    folder = cifar_batches(tmp_path / "cifar", data_batch_3=content)
    err = run_data(capsys, tmp_path, "cifar10", folder)
    assert f"{folder / 'data_batch_3'}:" in err and message in err


class _Py2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 str and numpy under numpy.core, as the original batches are."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_str8(self, obj: bytes) -> None:
        size = len(obj)
        self.write(pickle.SHORT_BINSTRING + bytes([size]) if size < 256 else
                   pickle.BINSTRING + struct.pack("<i", size))
        self.write(obj)
        self.memoize(obj)

    dispatch[bytes] = save_str8

    def save_global(self, obj, name=None) -> None:
        module = obj.__module__.replace("numpy._core", "numpy.core")
        self.write(pickle.GLOBAL + f"{module}\n{name or obj.__qualname__}\n".encode())
        self.memoize(obj)


def _py2(batch: dict) -> bytes:
    out = io.BytesIO()
    _Py2Pickler(out, protocol=2).dump(batch)
    return out.getvalue()


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5, "py2", "str-keys"])
def test_a_legitimate_cifar_batch_still_loads(tmp_path, protocol):
    batch = _batch()
    content = (_py2(batch) if protocol == "py2" else
               pickle.dumps({k.decode(): v for k, v in batch.items()}) if protocol == "str-keys"
               else pickle.dumps(batch, protocol=protocol))
    assert b"numpy.core" in content or protocol != "py2"
    folder = cifar_batches(tmp_path / "cifar", data_batch_1=content, test_batch=content)
    raw = load_raw("cifar10", str(folder))
    assert raw.x_train.shape == (5 * N, 32, 32, 3) and raw.x_train.dtype == np.uint8
    assert raw.y_train.tolist() == [i % 10 for i in range(N)] * 5
    first = batch[b"data"][0].reshape(3, 32, 32).transpose(1, 2, 0)
    assert (raw.x_train[0] == first).all() and raw.origin == str(folder)


def test_cifar_batches_in_the_archive_layout_load_and_split(tmp_path):
    cifar_batches(tmp_path / "data" / "cifar-10-batches-py")
    data = load_dataset(DataSpec(name="cifar10", path=str(tmp_path / "data")))
    assert data.input_shape == (32, 32, 3) and data.n_classes == 10
    assert len(data.y_train) + len(data.y_val) == 5 * N and len(data.test()[1]) == N
