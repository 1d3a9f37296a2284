"""Every malformed input gets one clear message and exit status 2: never a traceback.

Each row: files to create, the command line, and a fragment the message must contain.
"""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from search.cli import main

OK_SPACE = "SPACE = {'conv': {'depth': 1, 'filters': 8}, 'training': {'epochs': 1}}\nDATA = {'name': 'digits'}\n"
SPACE_CASES = [
    ("SPACE = {", "s.py:1: syntax error"),
    ("SPACE = {'conv': {'depht': 2}}", "unknown knob 'conv.depht' (did you mean 'depth'?)"),
    ("SPACE = {'convolution': {}}", "unknown component 'convolution'"),
    ("from search.knobs import Int\nSPACE = {'conv': {'depth': Int(5, 1)}}", "low (5) must be <= high (1)"),
    ("from search.knobs import Float\nSPACE = {'optimizer': {'learning_rate': Float(0, 1, log=True)}}",
     "log=True needs low > 0; got low=0"),
    ("from search.knobs import Choice\nSPACE = {'conv': {'kernel': Choice()}}", "Choice() needs at least one value"),
    ("SPACE = [1]", "SPACE must be a dict of components; got list"),
    ("X = 1", "defines no SPACE"),
    ("SPACE = {'conv': 3}", "'conv' must be a dict of knobs; got int"),
    ("from search.knobs import Float\nSPACE = {'dropout': {'conv_rate': Float(0.1, 1.5)}}",
     "'dropout.conv_rate' must be a float in [0, 1); got 1.5."),
    ("from search.knobs import Choice\nSPACE = {'conv': {'kernel': Choice(3, 4)}}",
     "'conv.kernel' must be one of 1, 3, 5, 7; got 4."),
    ("SPACE = {'conv': {'padding': 'full'}}", "'conv.padding' must be one of 'same', 'valid'; got 'full'."),
    ("from search.knobs import Int\nSPACE = {'conv': {'depth': Int(1.5, 3)}}", "bound low=1.5 must be an int"),
    ("from search.knobs import Float\nSPACE = {'zoom': {'factor': Float('a', 0.2)}}",
     "bound low='a' must be a finite number"),
    ("from search.knobs import Choice\nSPACE = {'conv': {'kernel': Choice(3, 3)}}", "choices must not repeat"),
    ("from search.knobs import Choice\nSPACE = {'conv': {'kernel': Choice([3], [5])}}",
     "choices must be numbers, strings, booleans or None"),
    ("raise RuntimeError('no GPU here')", "s.py:1: RuntimeError: no GPU here"),
    ("SPACE = {}\nDATA = [1]", "DATA must be a dict of data options; got list"),
    ("from search.knobs import Float\nSPACE = {'conv': {'depth': Float(1, 3)}}",
     "'conv.depth' must be an int in [1, 8]; got float [1, 3] (use Int(...))"),
    ("from search.knobs import Int\nSPACE = {'conv': {'padding': Int(1, 3)}}",
     "'conv.padding' must be one of 'same', 'valid'; use Choice(...) or a plain value, not Int(...)"),
    ("SPACE = {'bn': {'enabled': 1}}", "'bn.enabled' must be a bool; got 1"),
    ("SPACE = {'conv': {'filters': [32, 0]}}", "'conv.filters' must be an int in [1, 2048]; got 0"),
    ("SPACE = {'training': {'epochs': 0}}", "'training.epochs' must be an int in [1, 1000]; got 0"),
    ("from search.knobs import Int\nSPACE = {'head': {'layers': Int(0, 9)}}", "'head.layers' must be an int in [0, 4]; got 9"),
    ("SPACE = {'optimizer': {'name': 'adagrad'}}", "'optimizer.name' must be one of 'adam', 'adamax'"),
]

CONFIG_CASES = [
    ("params: {}\nextra: 1", "unknown top-level key 'extra'"),
    ("params: {conv: {depth: 'two'}}", "'params.conv.depth' must be an int in [1, 8]; got 'two'."),
    ("params: {conv: {depth: [}", "not valid YAML"),
    ("!!python/object/apply:os.system ['echo hacked']", "not valid YAML"),
    ("- 1\n- 2", "expected a YAML mapping at the top; got list"),
    ("params: {bn: {enable: true}}", "unknown knob 'params.bn.enable'"),
    ("params: {batchnorm: {}}", "unknown component 'params.batchnorm'"),
    ("params: {}\nseed: x", "'seed' must be an int; got 'x'."),
    ("params: {}\ndata: {name: imagenet}", "'data.name' must be one of fashion_mnist, mnist"),
    ("params: {}\ndata: {colour: true}", "unknown data key 'colour'"),
    ("params: 3", "'params' must be a mapping of components; got 3."),
    ("params: {conv: {filters: 32}}", "'params.conv.filters' must be a list of an int"),
    ("", "expected a YAML mapping at the top; got NoneType"),
    ("params: {}\ndata: {limit: 3}", "'data.limit' must be an int >= 20; got 3."),
    ("params: {}\ndata: {classes: [1, 1]}", "'data.classes' must be a preset"),
    ("params: {}\ndata: fashion", "'data' must be a mapping; got str."),
]


def run_cli(argv, capsys) -> str:
    try:
        status = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own errors
        status = exc.code
    err = capsys.readouterr().err
    assert status == 2, err
    assert "Traceback" not in err
    return " ".join(err.split())


@pytest.mark.parametrize("text, message", SPACE_CASES)
def test_bad_space_files(tmp_path, capsys, text, message):
    path = tmp_path / "s.py"
    path.write_text(text)
    assert message in run_cli(["space", path], capsys)


@pytest.mark.parametrize("text, message", CONFIG_CASES)
def test_bad_config_yaml(tmp_path, capsys, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    err = run_cli(["train", path], capsys)
    assert message in err and str(path) in err


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def _idx(folder, images_header=b"\x00\x00\x08\x03", body=500):
    folder.mkdir()
    for stem in ("train", "t10k"):
        with gzip.open(folder / f"{stem}-images-idx3-ubyte.gz", "wb") as f:
            f.write(images_header + (10).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + bytes(body))
        with gzip.open(folder / f"{stem}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(b"\x00\x00\x08\x01" + (10).to_bytes(4, "big") + bytes(10))
    return folder


X = np.zeros((40, 8, 8), dtype=np.uint8)
Y = np.arange(40) % 4
DATA_CASES = [
    (lambda d: d / "none.npz", "npz", "none.npz: npz file not found."),
    (lambda d: _npz(d / "a.npz", x_train=X), "npz", "lacks y_train, x_test, y_test"),
    (lambda d: _npz(d / "b.npz", x_train=X, y_train=Y, x_test=X, y_test=Y + 9), "npz",
     "test labels must be in 0..3; found 9..12"),
    (lambda d: _npz(d / "c.npz", x_train=X[:, 0], y_train=Y, x_test=X, y_test=Y), "npz",
     "train images must be (N, H, W[, C]) with N labels"),
    (lambda d: _npz(d / "e.npz", x_train=X, y_train=Y[:10], x_test=X, y_test=Y), "npz",
     "train images must be (N, H, W[, C]) with N labels"),
    (lambda d: (d / "t.npz").write_text("not numpy") and d / "t.npz", "npz", "cannot read as npz"),
    (lambda d: _idx(d / "idx"), "mnist", "truncated IDX file"),
    (lambda d: _idx(d / "idx2", images_header=b"\x00\x00\x09\x03", body=7840), "mnist",
     "not an IDX file of unsigned bytes (bad magic number)"),
    (lambda d: d / "nowhere", "cifar10", "data set 'cifar10' not found. Looked in:"),
]


@pytest.mark.parametrize("make, kind, message", DATA_CASES)
def test_bad_data_files(tmp_path, capsys, monkeypatch, make, kind, message):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.chdir(tmp_path)
    space = tmp_path / "ok.py"
    space.write_text(OK_SPACE)
    target = make(tmp_path)
    assert message in run_cli(["run", space, "--data", kind, "--data-dir", target], capsys)


ARG_CASES = [
    (["run", "SPACE", "--timeout", "soon"], "'soon' is not a duration"),
    (["run", "SPACE", "--trials", "0"], "must be >= 1; got 0"),
    (["run", "SPACE", "--trials", "many"], "'many' is not an integer"),
    (["run", "SPACE", "--sampler", "bayes"], "invalid choice: 'bayes'"),
    (["run", "SPACE", "--pruner", "asha"], "invalid choice: 'asha'"),
    (["run", "SPACE", "--classes", "0,x"], "is not a class list"),
    (["run", "SPACE", "--limit", "5"], "'data.limit' must be an int >= 20; got 5."),
    (["run", "SPACE", "--val-fraction", "2"], "'data.val_fraction' must be a float in (0, 1); got 2.0."),
    (["run", "SPACE", "--epochs", "0"], "must be >= 1; got 0"),
    (["run", "SPACE", "--epochs", "5000"], "'training.epochs' must be an int in [1, 1000]; got 5000"),
    (["run", "SPACE", "--storage", "redis://u:pw@h/0"], "storage 'redis://u:***@h/0' is not supported"),
    (["run", "SPACE", "--storage", "postgresql://u:hunter2@127.0.0.1:1/db"],
     "storage postgresql://u:***@127.0.0.1:1/db: cannot open"),
    (["run", "GRIDSPACE", "--sampler", "grid"], "has no finite grid"),
    (["run", "SPACE", "--data", "fashion_mnist", "--classes", "0,99"], "names label(s) [99]"),
    (["run", "STUDYFILE"], "unknown key 'trails'"),
    (["export", "nostudy"], "no study database at studies/nostudy/study.db"),
    (["ablate", "nostudy"], "no study database at studies/nostudy/study.db"),
    (["worker", "nostudy"], "no study database at studies/nostudy/study.db"),
    (["bogus"], "invalid choice: 'bogus'"),
    (["run", "SPACE", "--max-failures", "-1"], "must be >= 0 (0 means never); got -1"),
    (["ablate", "nostudy", "--seeds", "1"], "must be >= 2 (paired statistics need two seeds); got 1"),
]


@pytest.mark.parametrize("argv, message", ARG_CASES)
def test_bad_command_lines(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ok.py").write_text(OK_SPACE)
    (tmp_path / "grid.py").write_text("from search.knobs import Float\nSPACE = {'optimizer': "
                                      "{'learning_rate': Float(1e-3, 1e-2)}}\nDATA = {'name': 'digits'}\n")
    (tmp_path / "study.yaml").write_text("space: ok.py\ntrails: 3\n")
    names = {"SPACE": "ok.py", "GRIDSPACE": "grid.py", "STUDYFILE": "study.yaml"}
    err = run_cli([names.get(a, a) for a in argv], capsys)
    assert message in err and "hunter2" not in err


def test_the_table_has_at_least_fifty_rows():
    assert len(SPACE_CASES) + len(CONFIG_CASES) + len(DATA_CASES) + len(ARG_CASES) >= 50
