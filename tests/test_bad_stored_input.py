"""Data files and values read back from a study's storage get the same checks as a space file.

A study's stored settings are data: a tampered study is refused with a message
(exit 2), never executed, and loses none of its trials.
"""

from __future__ import annotations

import gzip
import json
import pickle

import numpy as np
import optuna
import pytest

from search.data.dataset import DataSpec
from search.space.space import Space
from search.study.lifecycle import StudySettings, default_storage, open_study
from search.commands.cli import main
from test_bad_input import OK_SPACE, run_cli

X = np.zeros((40, 8, 8), dtype=np.uint8)
Y = np.arange(40) % 4


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


def _with(x=X, y=Y, **changes):
    return {"x_train": x, "y_train": y, "x_test": X, "y_test": Y, **changes}


NAN_X = X.astype(np.float32)
NAN_X[3, 2, 2] = np.nan
INF_X = X.astype(np.float32)
INF_X[0, 0, 0] = np.inf
DATA_CASES = [
    (lambda d: d / "none.npz", "npz", "none.npz: npz file not found."),
    (lambda d: _npz(d / "a.npz", x_train=X), "npz", "lacks y_train, x_test, y_test"),
    (lambda d: _npz(d / "b.npz", **_with(y_test=Y + 9)), "npz", "test labels must be in 0..3; found 9..12"),
    (lambda d: _npz(d / "c.npz", **_with(x=X[:, 0])), "npz", "train images must be (N, H, W[, C]) with N labels"),
    (lambda d: _npz(d / "e.npz", **_with(y=Y[:10])), "npz", "train images must be (N, H, W[, C]) with N labels"),
    (lambda d: _npz(d / "f.npz", **_with(x=X[..., None, None])), "npz", "must be (N, H, W[, C])"),
    (lambda d: _npz(d / "g.npz", **_with(x=NAN_X)), "npz", "train images contain NaN or infinite values (1 of them)"),
    (lambda d: _npz(d / "h.npz", **_with(x=INF_X)), "npz", "contain NaN or infinite values"),
    (lambda d: _npz(d / "i.npz", **_with(y=Y * 0, y_test=Y * 0)), "npz",
     "the data has a single class after class selection and limit"),
    (lambda d: _npz(d / "j.npz", **_with(x=X[:, :2, :2])), "npz", "must be at least 4x4 with 1, 3 or 4 channels"),
    (lambda d: _npz(d / "k.npz", **_with(x=np.zeros((40, 8, 8, 2)))), "npz", "1, 3 or 4 channels; got (8, 8, 2)"),
    (lambda d: _npz(d / "l.npz", **_with(y=Y + 0.5)), "npz", "'y_train' must hold integer class labels; got float64"),
    (lambda d: _npz(d / "m.npz", **_with(y=np.array(["a"] * 40))), "npz", "'y_train' must hold integer class labels"),
    (lambda d: _npz(d / "n.npz", **_with(y=np.eye(4)[Y])), "npz", "'y_train' must be one label per image; got shape (40, 4)"),
    (lambda d: _npz(d / "o.npz", **_with(x=np.full((40, 8, 8), "x"))), "npz",
     "o.npz: 'x_train' must hold image pixels as integers or real floats; got strings (<U1)"),
    (lambda d: _npz(d / "p.npz", **_with(y=np.r_[Y[:39] * 0, [1]], y_test=Y % 2)), "npz",
     "too few images to split 40 images of 2 classes (smallest class: 1)"),
    (lambda d: (d / "t.npz").write_text("not numpy") and d / "t.npz", "npz", "cannot read as npz"),
    (lambda d: _idx(d / "idx"), "mnist", "truncated IDX file"),
    (lambda d: _idx(d / "idx2", images_header=b"\x00\x00\x09\x03", body=7840), "mnist",
     "not an IDX file of unsigned bytes (bad magic number 00 00 09 03: type code 0x09)"),
    (lambda d: d / "nowhere", "cifar10", "data set 'cifar10' not found. Looked in:"),
]


@pytest.mark.parametrize("make, kind, message", DATA_CASES)
def test_bad_data_files(tmp_path, tmp_path_factory, capsys, monkeypatch, make, kind, message):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path_factory.mktemp("keras-home")))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ok.py").write_text(OK_SPACE)
    target = make(tmp_path)
    assert message in run_cli(["run", "ok.py", "--data", kind, "--data-dir", target], capsys, tmp_path)


def test_too_small_a_validation_split_is_refused_before_trial_0(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ok.py").write_text(OK_SPACE)
    _npz(tmp_path / "q.npz", **_with())
    err = run_cli(["run", "ok.py", "--data", "npz", "--data-dir", "q.npz", "--val-fraction", "0.05"],
                  capsys, tmp_path)
    assert "too few images to split 40 images of 4 classes" in err


# -- values read back from the study's storage --------------------------------------------------

def _stored_data_study(tmp_path, data: DataSpec) -> None:
    """A study whose stored data spec names a data file (as `search run --data-dir` stores it)."""
    space = Space.of({"conv": {"depth": 1, "filters": 8}, "training": {"epochs": 1}})
    open_study(StudySettings(name="sd", space=space, data=data,
                             storage=default_storage("sd", tmp_path / "studies")))


def _payload_batches(folder):
    folder.mkdir()
    batch = {b"data": np.zeros((10, 3072), np.uint8), b"labels": list(range(10))}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    (folder / "test_batch").write_bytes(b"cos\nsystem\n(Vtouch PWNED\ntR.")
    return folder


STORED_DATA_CASES = [
    ("cifar10", lambda d: _payload_batches(d / "cifar"), "test_batch: refused to load: the pickle asks for 'os.system'"),
    ("npz", lambda d: _npz(d / "z.npz", **_with(x=X + 1j)),
     "z.npz: 'x_train' must hold image pixels as integers or real floats; got complex numbers"),
    ("npz", lambda d: _npz(d / "h.npz", **_with(y=np.r_[Y[:-1], 2**31 - 1])),
     "h.npz: 'y_train' labels must be class numbers in 0..9999; found 0..2147483647"),
    ("mnist", lambda d: _idx(d / "idx", images_header=b"\x00\x00\x08\xff"),
     "the IDX header gives 255 dimensions, but an images file has 3"),
    ("fashion_mnist", lambda d: d / "gone", "data set 'fashion_mnist' not found. Looked in: - "),
    ("npz", lambda d: d / "gone.npz", "gone.npz: npz file not found."),
]


@pytest.mark.parametrize("kind, make, message", STORED_DATA_CASES)
def test_a_stored_data_path_gets_the_same_checks(tmp_path, tmp_path_factory, capsys, monkeypatch,
                                                   kind, make, message):
    """A worker reads the data the study names: a hostile file there is refused, never run."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path_factory.mktemp("keras-home")))
    monkeypatch.chdir(tmp_path)
    _stored_data_study(tmp_path, DataSpec(name=kind, path=str(make(tmp_path))))
    err = run_cli(["worker", "sd", "--trials", "1"], capsys, tmp_path)
    assert message in err
    assert not (tmp_path / "PWNED").exists()



GOOD_CONFIG = {"params": {"conv": {"depth": 1, "filters": [8]}}, "data": {"name": "digits"}, "seed": 1}


def _stored_study(tmp_path, name: str = "st", config=GOOD_CONFIG) -> optuna.Study:
    """A study as `search run` creates it, with one finished trial that must survive."""
    space = Space.of({"conv": {"depth": 1, "filters": 8}, "training": {"epochs": 1}})
    settings = StudySettings(name=name, space=space, data=DataSpec(name="digits"),
                             storage=default_storage(name, tmp_path / "studies"))
    study = open_study(settings)
    study.add_trial(optuna.trial.create_trial(value=0.5, user_attrs={"config": config}))
    return study


def _knob(name: str, **attributes) -> str:
    return json.dumps({"name": name, "attributes": attributes})


def _space(**knobs) -> dict:
    return {"conv": {"depth": '{"fixed": 1}', **knobs}}


DROP = object()
EVIL = "__import__('pathlib').Path('PWNED').write_text('x')"
STORED_CASES = [
    ({"space": DROP}, "stores no declarative space"),
    ({"space": "SPACE = {}"}, "the stored space must map components to knobs; got str"),
    ({"space": {"conv": {"depth": EVIL}}}, "'conv.depth': not JSON"),
    ({"space": {"conv": {"depth": 5}}}, "'conv.depth': expected a JSON string; got int"),
    ({"space": _space(depth=_knob("IntDistribution", low=1, high=99, step=1, log=False))},
     "'conv.depth' must be an int in [1, 8]; got 99"),
    ({"space": _space(depth=_knob("EvalDistribution", code=EVIL))}, "'conv.depth': not a knob"),
    ({"space": _space(depth=_knob("IntDistribution", low=1, high=3, oops=1))}, "'conv.depth': not a knob"),
    ({"space": _space(depth=_knob("FloatDistribution", low=1, high=3, log=False, step=None))},
     "'conv.depth' must be an int in [1, 8]; got float [1, 3] (use Int(...))"),
    ({"space": _space(depht='{"fixed": 2}')}, "unknown knob 'conv.depht' (did you mean 'depth'?)"),
    ({"space": {"convv": {}}}, "unknown component 'convv' (did you mean 'conv'?)"),
    ({"space": _space(padding='{"fixed": "full"}')}, "'conv.padding' must be one of 'same', 'valid'"),
    ({"space": {"conv": []}}, "the stored space must map components to knobs"),
    ({"run_options": "tpe"}, "'run_options' must be a mapping; got 'tpe'"),
    ({"run_options": {"sampler": "bayes"}}, "'sampler' must be one of 'tpe', 'tpe-local', 'random'"),
    ({"run_options": {"pruner": "asha"}}, "'pruner' must be one of 'hyperband'"),
    ({"run_options": {"max_params": -1}}, "'max_params' must be an int in [1, 1000000000000]; got -1"),
    ({"run_options": {"engine": "x"}}, "unknown run option 'engine'"),
    ({"run_options": {"overrides": {"conv.depth": 3}}}, "'overrides' may only fix training.epochs"),
    ({"run_options": {"overrides": {"training.epochs": 0}}}, "'training.epochs' must be an int in [1, 1000]; got 0"),
    ({"seed": "x"}, "'seed' must be an int in [0, 2147483647]; got 'x'"),
    ({"data": {"name": "imagenet"}}, "'data.name' must be one of 'fashion_mnist'"),
    ({"data": "digits"}, "'data' must be a mapping; got str"),
    ({"data": None}, "'data' must be a mapping; got NoneType"),
]


@pytest.mark.parametrize("attrs, message", STORED_CASES)
def test_tampered_stored_settings_are_refused(tmp_path, capsys, monkeypatch, attrs, message):
    monkeypatch.chdir(tmp_path)
    study = _stored_study(tmp_path)
    for key, value in attrs.items():
        _drop_attr("st", key) if value is DROP else study.set_user_attr(key, value)
    err = run_cli(["worker", "st", "--trials", "3"], capsys, tmp_path)
    assert message in err and "study 'st'" in err
    assert not (tmp_path / "PWNED").exists()
    assert len(optuna.load_study(study_name="st", storage=default_storage("st", "studies").secret())
               .get_trials()) == 1


def _drop_attr(name: str, key: str) -> None:
    """Optuna has no API to delete a user attribute; remove the row as an old version lacked it."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(default_storage(name, "studies").secret())
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("DELETE FROM study_user_attributes WHERE key = :k"),
                           {"k": key})
    engine.dispose()


STORED_CONFIG_CASES = [
    ({"params": {"conv": {"depth": 99}}}, "(stored config): 'params.conv.depth' must be an int in [1, 8]"),
    ("not a config", "(stored config): expected a mapping with 'params', 'data' and 'seed'; got str"),
    ({"params": {}, "data": {"name": "x"}}, "'data.name' must be one of"),
    ({"params": {}, "seed": "s"}, "'seed' must be an int in [0, 2147483647]; got 's'"),
]


@pytest.mark.parametrize("command", ["ablate", "export"])
@pytest.mark.parametrize("config, message", STORED_CONFIG_CASES)
def test_a_tampered_stored_config_is_refused(tmp_path, capsys, monkeypatch, config, message, command):
    monkeypatch.chdir(tmp_path)
    _stored_study(tmp_path, config=config)
    assert message in run_cli([command, "st"], capsys, tmp_path)


def test_a_changed_stored_space_identity_is_a_difference_not_a_crash(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = _stored_study(tmp_path)
    study.set_user_attr("space_canonical", [1, 2])
    (tmp_path / "ok.py").write_text(OK_SPACE)
    err = run_cli(["run", "ok.py", "--study", "st"], capsys, tmp_path)
    assert "was created with a different setup" in err


def test_a_worker_never_executes_the_stored_space_text(tmp_path, capsys, monkeypatch):
    """The stored source is provenance only: a worker rebuilds the space from its data and trains."""
    monkeypatch.chdir(tmp_path)
    study = _stored_study(tmp_path)
    study.set_user_attr("space_text", f"{EVIL}\nSPACE = {{}}\n")
    assert main(["worker", "st", "--trials", "2"]) == 0, capsys.readouterr().err
    assert not (tmp_path / "PWNED").exists()
    trials = optuna.load_study(study_name="st", storage=default_storage("st", "studies").secret()
                               ).get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    assert trials[1].user_attrs["config"]["params"]["conv"]["filters"] == [8]
