"""Storage trouble during a trial is retried, and never recorded as the model's failure."""

from __future__ import annotations

import uuid

import optuna
import pytest
import sqlalchemy.exc

from search.study import storage_retry
from search.data.dataset import DataSpec
from search.space.space import Space
from search.study.storage_retry import StorageUnavailable, with_storage_retry
from search.study.trial import Objective


def _outage(failures: int):
    """A storage call that fails like a restarting database ``failures`` times, then works."""
    calls = []

    def call(*args, **kwargs):
        calls.append(args)
        if len(calls) <= failures:
            raise sqlalchemy.exc.OperationalError("UPDATE", {}, Exception("server closed the connection"))
        return "written"
    return call, calls


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setattr(storage_retry.time, "sleep", lambda seconds: None)


def test_a_short_outage_is_ridden_out():
    call, calls = _outage(3)
    assert with_storage_retry(call, 1, what="x") == "written" and len(calls) == 4


def test_a_long_outage_stops_with_storage_unavailable_and_no_password():
    def call():
        raise sqlalchemy.exc.OperationalError("x", {}, Exception("postgresql://u:hunter2@h/db down"))
    with pytest.raises(StorageUnavailable) as info:
        with_storage_retry(call, what="writing the epoch history", delays=(0, 0))
    assert "writing the epoch history failed 3 times" in str(info.value)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_database_away_is_retried_through_optunas_wrapping_of_its_errors(tmp_path, kind):
    """Optuna's RDB storage raises every database error of a session as StorageInternalError;
    one caused by the connection is an outage like any other, one caused by the data is not."""
    import sqlalchemy
    import sqlalchemy.orm

    from conftest import storage_for_kind
    from search.study.lifecycle import make_storage

    storage = make_storage(storage_for_kind(kind, tmp_path))
    study = optuna.create_study(study_name=f"o{uuid.uuid4().hex[:8]}", storage=storage)
    trial_id = study.ask()._trial_id
    away = ("postgresql+psycopg://u:pw@127.0.0.1:9/none" if kind == "postgresql"
            else f"sqlite:///{tmp_path / 'gone' / 'away.db'}")  # nothing listens / no folder
    storage.engine = sqlalchemy.create_engine(away, poolclass=sqlalchemy.pool.NullPool)
    storage.scoped_session = sqlalchemy.orm.scoped_session(
        sqlalchemy.orm.sessionmaker(bind=storage.engine))
    with pytest.raises(StorageUnavailable, match="failed 3 times"):
        with_storage_retry(storage.get_trial, trial_id, what="reading", delays=(0, 0))
    wrapped = optuna.exceptions.StorageInternalError("x")
    assert not storage_retry.is_transient(wrapped)
    wrapped.__cause__ = sqlalchemy.exc.IntegrityError("INSERT", {}, Exception("duplicate key"))
    assert not storage_retry.is_transient(wrapped)  # the data, not the connection


def test_a_model_error_is_not_retried():
    calls = []

    def call():
        calls.append(1)
        raise TypeError("not JSON serialisable")
    with pytest.raises(TypeError):
        with_storage_retry(call)
    assert len(calls) == 1


SPACE = {"conv": {"depth": 1, "filters": 4}, "head": {"layers": 0}, "training": {"epochs": 3}}


def _history_writes_fail(monkeypatch, failures: int, *, from_epoch: int = 1) -> None:
    real = optuna.Trial.set_user_attr
    flaky, _ = _outage(failures)

    def set_user_attr(self, key, value):
        if key == "history" and len(value) >= from_epoch:
            flaky()
        return real(self, key, value)
    monkeypatch.setattr(optuna.Trial, "set_user_attr", set_user_attr)


def test_a_trial_survives_a_storage_blip_in_its_epoch_writes(tmp_path, monkeypatch):
    _history_writes_fail(monkeypatch, 2)
    study = optuna.create_study(direction="maximize", storage=f"sqlite:///{tmp_path / 's.db'}")
    objective = Objective(Space.of(SPACE), DataSpec(name="digits", limit=300))
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state.name == "COMPLETE" and len(trial.user_attrs["history"]) == 3


def test_a_storage_outage_is_not_recorded_as_a_training_failure(tmp_path, monkeypatch):
    _history_writes_fail(monkeypatch, 100, from_epoch=2)  # epoch 1 is stored and checkpointed
    study = optuna.create_study(direction="maximize", storage=f"sqlite:///{tmp_path / 's.db'}")
    objective = Objective(Space.of(SPACE), DataSpec(name="digits", limit=300),
                          checkpoint_root=tmp_path / "checkpoints")
    with pytest.raises(StorageUnavailable):
        study.optimize(objective, n_trials=1)
    reason = study.trials[0].user_attrs.get("fail_reason", "")
    assert reason.startswith("storage unavailable") and "error during training" not in reason
    assert objective.interrupted == study.trials[0]._trial_id  # the runner re-queues it
    assert (tmp_path / "checkpoints" / "trial-0").is_dir()  # and it resumes from here
