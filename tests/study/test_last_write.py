"""The last write of a trial (its result) is infrastructure like every other: retried, then exit 75.

The database turns read-only as a real trial tells its result (as when its SQLite file is
removed under a running study). chmod stops no write of a process running as root, so the
storage is made to refuse every write from then on, with SQLite's error.
"""

from __future__ import annotations

import subprocess
import sys
import time

import optuna
import pytest
import sqlalchemy

from conftest import write
from search.data.dataset import DataSpec
from search.space.space import Space
from search.study import storage_retry
from search.study.trial import Objective, run_trial

DRIVER = '''
import sqlite3
import sys
import types

import sqlalchemy.exc
from optuna.storages import RDBStorage

from search.commands.cli import main
from search.study import storage_retry

storage_retry.time = types.SimpleNamespace(sleep=lambda seconds: None)  # no minute of backoff
WRITES = ("set_trial_state_values", "set_trial_user_attr", "set_trial_system_attr",
          "set_trial_intermediate_value", "create_new_trial", "set_study_user_attr")
readonly = []


def refusing(name, real):
    def write(self, *args, **kwargs):
        state = kwargs.get("state") or (args[1:2] or [None])[0]
        state = state if name == "set_trial_state_values" else None
        if state is not None and state.is_finished():
            readonly.append(True)  # the file is gone from here on
        if readonly:
            raise sqlalchemy.exc.OperationalError("UPDATE trials", {}, sqlite3.OperationalError(
                "attempt to write a readonly database"))
        return real(self, *args, **kwargs)
    return write


for name in WRITES:
    setattr(RDBStorage, name, refusing(name, getattr(RDBStorage, name)))
sys.exit(main(sys.argv[1:]))
'''

SPACE = ("SPACE = {'conv': {'depth': 1, 'filters': 8}, 'head': {'layers': 0}, "
         "'training': {'epochs': 2, 'batch_size': 64}}\nDATA = {'name': 'digits'}\n")


def _run(tmp_path, *program: str) -> subprocess.CompletedProcess:
    """``search run`` (through ``program`` if given), a one-trial study of two epochs."""
    return subprocess.run([sys.executable, *(program or ("-m", "search")), "run",
                           str(tmp_path / "s.py"), "--study", "ro", "--trials", "1",
                           "--pruner", "none"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
def test_a_refused_result_write_exits_75_and_the_rerun_keeps_the_trial(tmp_path):
    write(tmp_path, "s.py", SPACE)
    driver = write(tmp_path, "readonly_run.py", DRIVER)
    first = _run(tmp_path, str(driver))
    assert first.returncode == 75, first.stderr
    assert "Traceback" not in first.stderr and "Should not reach" not in first.stderr
    message = [line for line in first.stderr.splitlines() if "storage unavailable" in line]
    assert len(message) == 1 and "readonly database" in message[0], first.stderr
    assert "recording the trial's result" in message[0]
    assert (tmp_path / "studies/ro/checkpoints/trial-0").is_dir()  # every epoch kept

    rerun = _run(tmp_path)  # the database is writable again
    assert rerun.returncode == 0, rerun.stderr
    assert "re-queued 1 trial(s)" in rerun.stdout
    db = f"sqlite:///{tmp_path / 'studies/ro/study.db'}"
    trials = optuna.load_study(study_name="ro", storage=db).trials
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE"]  # the budget of 1 holds
    resumed = trials[1]
    assert resumed.user_attrs["resumed_from_epoch"] == 2  # nothing retrained
    assert len(resumed.user_attrs["history"]) == 2 and resumed.value > 0
    assert not (tmp_path / "studies/ro/checkpoints/trial-0").exists()


class _Scored(Objective):
    """Scores 0.5 without training; waits, while it runs, for ``running(trial)`` to hold."""

    running = staticmethod(lambda trial: True)

    def train_trial(self, trial: optuna.Trial) -> float:
        deadline = time.monotonic() + 30
        while not self.running(trial):
            assert time.monotonic() < deadline, "the condition never held"
            time.sleep(0.05)
        return 0.5


def _study(tmp_path) -> optuna.Study:
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 's.db'}", heartbeat_interval=1,
                                         grace_period=2)
    return optuna.create_study(storage=storage, direction="maximize")


def test_a_blip_in_the_result_write_is_ridden_out(tmp_path, monkeypatch):
    monkeypatch.setattr(storage_retry.time, "sleep", lambda seconds: None)
    study, refusals = _study(tmp_path), []
    real = optuna.storages.RDBStorage.set_trial_state_values

    def flaky(self, trial_id, state, values=None):
        if state.is_finished() and len(refusals) < 2:
            refusals.append(state)
            raise sqlalchemy.exc.OperationalError("UPDATE", {}, Exception("database is locked"))
        return real(self, trial_id, state, values)
    monkeypatch.setattr(optuna.storages.RDBStorage, "set_trial_state_values", flaky)
    told = []
    frozen = run_trial(study, _Scored(Space.of({}), DataSpec(name="digits")),
                       [lambda study, trial: told.append(trial.state.name)])
    assert len(refusals) == 2 and frozen.state.name == "COMPLETE" and frozen.value == 0.5
    assert told == ["COMPLETE"] and study.trials[0].state.name == "COMPLETE"


def test_a_running_trial_records_its_heartbeat(tmp_path):
    study = _study(tmp_path)
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 's.db'}")

    def beating(trial: optuna.Trial) -> bool:  # other workers see it alive, not stale
        with engine.connect() as connection:
            return bool(connection.execute(sqlalchemy.text(
                "SELECT COUNT(*) FROM trial_heartbeats WHERE trial_id = :id"),
                {"id": trial._trial_id}).scalar())

    objective = _Scored(Space.of({}), DataSpec(name="digits"))
    objective.running = beating
    assert run_trial(study, objective).state.name == "COMPLETE"
