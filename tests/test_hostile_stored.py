"""Bookkeeping a tampered study database can hold: slots, warm-start entries, the last run and
JSON nested beyond reading. Each is refused with one message naming the study (exit 2), never a
traceback, and no trial is lost.

Rows reuse ``run_cli`` from tests/test_bad_input.py.
"""

from __future__ import annotations

import gc
import sqlite3

import optuna
import pytest

from test_bad_input import run_cli
from test_bad_stored_input import _stored_study

STORED_BOOKKEEPING = [
    ({"released_slots": "many"}, "'released_slots' must be an int in [0, 1000000000]; got 'many'"),
    ({"released_slots": -1}, "'released_slots' must be an int in [0, 1000000000]; got -1"),
    ({"released_slots": 1.5}, "'released_slots' must be an int in [0, 1000000000]; got 1.5"),
    ({"released_slots": [1]}, "'released_slots' must be an int in [0, 1000000000]; got [1]"),
    ({"warm_start": "x"}, "'warm_start' must be a list of {source, params} entries; got 'x'"),
    ({"warm_start": [{"params": {"training.epochs": 65536}}]},
     "'training.epochs' is not a knob this space searches"),
    ({"warm_start": [{"params": {"conv.depth": 1, "x.y": 2}}]}, "'x.y' is not a knob this space searches"),
    ({"warm_start": [{"params": [1]}]}, "'warm_start[0]' must be {source, params}"),
    ({"warm_start": [{"params": {}, "code": "x"}]}, "'warm_start[0]' must be {source, params}"),
]


def _searched_study(tmp_path):
    """A stored study whose space searches training.batch_size in [16, 32] and conv.depth."""
    from search.data.dataset import DataSpec
    from search.knobs import Int
    from search.space.space import Space
    from search.study.lifecycle import StudySettings, default_storage, open_study

    space = Space.of({"conv": {"depth": Int(1, 2), "filters": 8},
                      "training": {"epochs": 1, "batch_size": Int(16, 32)}})
    settings = StudySettings(name="st", space=space, data=DataSpec(name="digits"),
                             storage=default_storage("st", tmp_path / "studies"))
    study = open_study(settings)
    study.add_trial(optuna.trial.create_trial(
        value=0.5, user_attrs={"config": {"params": {"conv": {"depth": 1}}, "data": {"name": "digits"}}}))
    return study


@pytest.mark.parametrize("attrs, message", STORED_BOOKKEEPING + [
    ({"warm_start": [{"source": "x", "params": {"training.batch_size": 65536}}]},
     "'training.batch_size' is 65536; this space allows int [16, 32]"),
    ({"warm_start": [{"source": "x", "params": {"conv.depth": "2"}}]}, "'conv.depth' is '2'")])
def test_tampered_bookkeeping_is_refused_and_loses_nothing(tmp_path, capsys, monkeypatch, attrs, message):
    monkeypatch.chdir(tmp_path)
    study = _searched_study(tmp_path)
    for key, value in attrs.items():
        study.set_user_attr(key, value)
    study.set_user_attr("budget", {"trials": 3, "deadline": None, "seconds": None})
    err = run_cli(["worker", "st", "--trials", "3"], capsys, tmp_path)
    assert message in err and "study 'st'" in err
    assert [t.state for t in study.get_trials()] == [optuna.trial.TrialState.COMPLETE]


LAST_RUNS = [
    ({"started": "yesterday", "timeout": 60}, "'started' must be an ISO date and time"),
    ({"started": 3, "timeout": 60}, "'started' must be an ISO date and time"),
    ({"started": "2026-01-01T00:00:00", "timeout": 1e20}, "a time limit must be at most 366 days"),
    ({"started": "2026-01-01T00:00:00", "timeout": "soon"}, "'timeout' must be a duration > 0"),
    ({"started": "2026-01-01T00:00:00", "trials": "ten"}, "'trials' must be an int"),
    ("everything", "(stored last_run): expected a mapping"),
]


@pytest.mark.parametrize("last_run, message", LAST_RUNS)
def test_a_tampered_last_run_is_named_by_status(tmp_path, capsys, monkeypatch, last_run, message):
    monkeypatch.chdir(tmp_path)
    _stored_study(tmp_path).set_user_attr("last_run", last_run)
    err = run_cli(["status", "st"], capsys, tmp_path)
    assert message in err and "study 'st'" in err


@pytest.mark.parametrize("key", ["run_options", "space", "budget", "last_run"])
@pytest.mark.parametrize("command", [["status", "st"], ["worker", "st", "--trials", "2"],
                                     ["export", "st"]])
def test_deeply_nested_stored_json_is_refused(tmp_path, capsys, monkeypatch, key, command):
    gc.collect()  # earlier tests' leftovers are finalized here, not deep inside the refusal
    monkeypatch.chdir(tmp_path)
    study = _stored_study(tmp_path)
    study.set_user_attr(key, 1)
    with sqlite3.connect(tmp_path / "studies" / "st" / "study.db") as db:
        db.execute("UPDATE study_user_attributes SET value_json = ? WHERE key = ?",
                   ("[" * 100_000 + "]" * 100_000, key))
    err = run_cli(command, capsys, tmp_path)
    assert "nested too deeply to read" in err


def test_a_tampered_slurm_job_record_is_named_and_status_still_shows_the_study(tmp_path, capsys,
                                                                             monkeypatch):
    from search.commands.cli import main

    monkeypatch.chdir(tmp_path)
    _stored_study(tmp_path).set_user_attr("slurm_job:3", "3; rm -rf ~")
    assert main(["status", "st"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "warning: study 'st': the stored Slurm job record 'slurm_job:3' is '3; rm -rf ~', not " \
           "a submitted job array's id; not shown." in out and "trials by state" in out
