"""search/study/liveness.py: a running trial beats (Optuna's RDB heartbeat on a database, an
``alive`` attribute by the storage's clock on a journal file) and a trial whose beat stopped is
found stale, re-queued and claimed; one that never beat is marked at its first check and found
stale once that mark is old (no training)."""

from __future__ import annotations

import time
import uuid

import optuna
import pytest
from optuna.trial import TrialState

from conftest import age_heartbeat, storage_for_kind
from search.study import liveness
from search.study.budget import TrialBudget
from search.study.lifecycle import make_storage
from search.study.liveness import ALIVE, STALE_SECONDS, UNBEATEN, heartbeat, stale_trials
from search.study.storage_clock import storage_now

pytestmark = pytest.mark.filterwarnings("ignore:Heartbeat of storage")


def journal_study(tmp_path) -> tuple[optuna.Study, str]:
    url = storage_for_kind("journal", tmp_path)
    return optuna.create_study(study_name=f"j{uuid.uuid4().hex[:8]}", storage=make_storage(url),
                               direction="maximize"), url


def wait_for(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_a_journal_trial_beats_by_the_storage_clock_while_it_runs_and_stops_after(
        tmp_path, monkeypatch):
    monkeypatch.setattr(liveness, "HEARTBEAT_SECONDS", 0.05)
    study, url = journal_study(tmp_path)
    trial = study.ask()
    with heartbeat(trial, url):
        wait_for(lambda: ALIVE in study.trials[0].user_attrs, "no beat was written")
        first = study.trials[0].user_attrs[ALIVE]
        wait_for(lambda: study.trials[0].user_attrs[ALIVE] > first, "the beat was not refreshed")
    assert abs(storage_now(url) - study.trials[0].user_attrs[ALIVE]) < 30
    study.tell(trial, 0.5)  # a beat after the block would fail on the finished trial
    assert study.trials[0].state == TrialState.COMPLETE


def test_without_a_journal_url_or_an_rdb_heartbeat_nothing_beats(tmp_path):
    study, _ = journal_study(tmp_path)
    trial = study.ask()
    with heartbeat(trial, None):
        pass
    assert ALIVE not in study.trials[0].user_attrs


def test_a_journal_trial_is_stale_when_its_beat_is_old_and_marked_at_first_without_one(tmp_path):
    study, url = journal_study(tmp_path)
    old, fresh, unbeaten = study.ask(), study.ask(), study.ask()
    now = storage_now(url)
    old.set_user_attr(ALIVE, now - STALE_SECONDS - 5)
    fresh.set_user_attr(ALIVE, now - STALE_SECONDS + 60)
    assert stale_trials(study, None) == []  # a journal's beats are judged only by its clock
    assert UNBEATEN not in study.trials[unbeaten.number].user_attrs
    assert [t.number for t in stale_trials(study, url)] == [old.number]
    marks = {t.number: t.user_attrs.get(UNBEATEN) for t in study.trials}
    assert marks[old.number] is None and marks[fresh.number] is None  # they beat: no mark
    assert abs(marks[unbeaten.number] - storage_now(url)) < 30  # by the storage's clock


@pytest.mark.parametrize("kind", ["sqlite", "journal", "postgresql"])
def test_a_trial_that_never_beat_is_stale_once_its_mark_is_old_and_its_retry_is_claimed(
        tmp_path, kind):
    url = storage_for_kind(kind, tmp_path)
    study = optuna.create_study(study_name=f"u{uuid.uuid4().hex[:8]}", storage=make_storage(url),
                                direction="maximize")
    dead, live = study.ask(), study.ask()  # dead: its worker died before its first beat
    if kind == "journal":
        live.set_user_attr(ALIVE, storage_now(url))
    else:
        study._storage.record_heartbeat(live._trial_id)
    assert stale_trials(study, url) == []  # the first check only marks it
    assert stale_trials(study, url) == []  # and a second soon after does not judge it
    first = study.trials[dead.number].user_attrs[UNBEATEN]
    assert UNBEATEN not in study.trials[live.number].user_attrs
    dead.set_user_attr(UNBEATEN, first - STALE_SECONDS - 5)  # as if found so long ago
    assert [t.number for t in stale_trials(study, url)] == [dead.number]
    budget = TrialBudget(study, url, 2)
    assert budget.claim()  # its retry, with the budget full
    ended, running, retry = study.trials
    assert ended.state == TrialState.FAIL and running.state == TrialState.RUNNING
    assert retry.state == TrialState.WAITING and UNBEATEN not in retry.user_attrs
    assert not budget.claim()


def test_a_trial_its_worker_ends_while_it_is_being_marked_is_left_as_it_ended(tmp_path):
    study, url = journal_study(tmp_path)
    trial = study.ask()
    seen = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    study.tell(trial, 0.5)  # between the check's read and its mark
    assert liveness._unbeaten_too_long(study, seen, storage_now(url)) == []
    ended = study.trials[0]
    assert ended.state == TrialState.COMPLETE and UNBEATEN not in ended.user_attrs


def test_a_trial_with_an_old_beat_is_judged_by_the_beat_not_marked(tmp_path):
    url = storage_for_kind("sqlite", tmp_path)
    study = optuna.create_study(study_name="b", storage=make_storage(url))
    trial = study.ask()
    age_heartbeat(study, trial)
    assert [t.number for t in stale_trials(study, url)] == [trial.number]
    assert UNBEATEN not in study.trials[0].user_attrs


def test_a_stale_journal_trial_is_requeued_without_its_beat_and_claimed_with_the_budget_full(
        tmp_path):
    study, url = journal_study(tmp_path)
    stale, live = study.ask(), study.ask()
    stale.set_user_attr(ALIVE, storage_now(url) - STALE_SECONDS - 5)
    live.set_user_attr(ALIVE, storage_now(url))
    budget = TrialBudget(study, url, 2)
    assert budget.claim()
    ended, running, retry = study.trials
    assert ended.state == TrialState.FAIL and running.state == TrialState.RUNNING
    assert retry.state == TrialState.WAITING and ALIVE not in retry.user_attrs
    assert retry.system_attrs["retry_history"] == [ended.number]
    assert not budget.claim()


def test_a_journal_trials_staleness_is_judged_by_the_storage_clock_not_this_hosts(
        tmp_path, monkeypatch):
    study, url = journal_study(tmp_path)
    trial = study.ask()
    trial.set_user_attr(ALIVE, storage_now(url))
    monkeypatch.setattr(time, "time", lambda: 10**10)  # this host's clock far ahead
    assert stale_trials(study, url) == []


def test_a_heartbeat_that_fails_oddly_is_reported_once_and_goes_on(tmp_path, monkeypatch, capsys):
    import threading

    monkeypatch.setattr(liveness, "HEARTBEAT_SECONDS", 0.01)
    study, url = journal_study(tmp_path)
    trial = study.ask()
    calls = []

    def odd_clock(url_):
        calls.append(url_)
        raise ValueError("Invalid log format.")
    monkeypatch.setattr(liveness, "storage_now", odd_clock)
    with heartbeat(trial, url):
        wait_for(lambda: len(calls) >= 3, "the heartbeat stopped after an odd error")
    assert capsys.readouterr().err.count("a heartbeat failed (Invalid log format.)") == 1
    assert not [t for t in threading.enumerate() if t.name.startswith("heartbeat-")]
