"""search/report/status.py: the ETA of the last run's trial budget or deadline, the stored
``last_run`` checked like any stored value, and the status panel (an in-memory study, no
training)."""

from __future__ import annotations

import datetime as dt
import re

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console

from search.errors import SearchError
from search.report.status import eta_seconds, last_run, status_panel

NOW = dt.datetime(2026, 3, 1, 12, 0, 0)


def study_with(done: int, running: int = 0, **run) -> optuna.Study:
    study = optuna.create_study(storage=optuna.storages.InMemoryStorage(), study_name="s",
                                direction="maximize")
    for number in range(done):
        start = NOW - dt.timedelta(hours=1)
        study.add_trial(FrozenTrial(
            number=number, state=TrialState.COMPLETE, value=0.5 + number / 100,
            datetime_start=start, datetime_complete=start + dt.timedelta(seconds=60),
            params={}, distributions={}, user_attrs={"best_epoch": 3}, system_attrs={},
            intermediate_values={}, trial_id=number))
    for _ in range(running):
        study.add_trial(optuna.trial.create_trial(state=TrialState.RUNNING))
    if run:
        study.set_user_attr("last_run", run)
    return study


def test_the_eta_is_the_trials_left_at_the_mean_duration_shared_by_running_workers():
    assert eta_seconds(study_with(4, trials=10), now=NOW) == 6 * 60.0
    assert eta_seconds(study_with(4, running=2, trials=10), now=NOW) == 6 * 60.0 / 2
    assert eta_seconds(study_with(12, trials=10), now=NOW) == 0.0  # never negative


def test_a_deadline_sooner_than_the_trial_budget_gives_the_eta():
    started = (NOW - dt.timedelta(seconds=500)).isoformat()
    assert eta_seconds(study_with(4, trials=10, timeout=600, started=started), now=NOW) == 100.0
    assert eta_seconds(study_with(4, trials=10, timeout="1h", started=started), now=NOW) == 360.0
    assert eta_seconds(study_with(0, timeout=600, started=started), now=NOW) == 100.0
    late = (NOW - dt.timedelta(hours=2)).isoformat()
    assert eta_seconds(study_with(0, timeout=600, started=late), now=NOW) == 0.0


def test_no_run_recorded_gives_no_eta():
    assert eta_seconds(study_with(3), now=NOW) is None
    assert last_run(study_with(3)) == {"trials": None, "timeout": None, "started": None}


@pytest.mark.parametrize("stored, message", [
    ({"started": "yesterday"}, "'started' must be an ISO date and time"),
    ({"trials": -3}, "'trials' must be an int in [1, "),
    ({"timeout": "soon"}, "'timeout' must be a duration > 0"),
])
def test_a_stored_last_run_changed_by_hand_is_refused(stored, message):
    with pytest.raises(SearchError) as caught:
        last_run(study_with(0, **stored))
    assert message in str(caught.value) and "study 's' (stored last_run)" in str(caught.value)


def test_a_stored_last_run_that_is_no_mapping_is_refused():
    listed = study_with(0)
    listed.set_user_attr("last_run", ["not", "a", "mapping"])
    with pytest.raises(SearchError, match="expected a mapping"):
        last_run(listed)


def test_the_panel_shows_states_best_running_and_eta():
    started = dt.datetime.now().isoformat()
    study = study_with(2, running=1, trials=4, timeout=3600, started=started)
    console = Console(record=True, width=200)
    console.print(status_panel(study))
    text = console.export_text()
    assert "study 's'" in text and "COMPLETE" in text and "RUNNING" in text
    assert "best val_accuracy 0.5100 (trial 1, epoch 3)" in text
    assert "ETA for the last run's budget/deadline: 0:02:00" in text  # 2 trials x 60 s / 1


def test_the_panel_counts_cost_cuts_and_attempts_that_start_over_apart_from_failures():
    from search.study.liveness import REQUEUED, STALE

    study = study_with(1)
    why = "its checkpoint did not load (...)"
    for attrs in ({"fail_reason": "out of memory"}, {"cost_cut": "too costly"},
                  {"restart_reason": why, "discarded_checkpoint": why},
                  {"fail_reason": STALE + REQUEUED, "prune_reason": "pruned after epoch 1"},
                  {"fail_reason": f"{STALE}; not retried again: 3 retries behind it"}):
        study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL, user_attrs=attrs))
    console = Console(record=True, width=200)
    console.print(status_panel(study))
    counts = dict(re.findall(r"│ (FAIL|CUT FOR COST|STARTS OVER|TAKEN OVER) +│ +(\d+) │",
                             console.export_text()))
    assert counts == {"FAIL": "2", "CUT FOR COST": "1", "STARTS OVER": "1", "TAKEN OVER": "1"}
