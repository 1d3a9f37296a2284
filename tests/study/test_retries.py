"""search/study/retries.py: a trial that did not finish is re-queued (its retry first, then its
end), once, with what it inherits; stale trials are found, re-queued under the budget's lock and
claimed before the budget counts as full (no training)."""

from __future__ import annotations

import contextlib
import uuid

import optuna
import pytest
from optuna.distributions import IntDistribution
from optuna.trial import TrialState

from conftest import age_heartbeat, storage_for_kind
from search.study import retries
from search.study.algorithms import make_pruner
from search.study.budget import TrialBudget
from search.study.lifecycle import make_storage
from search.study.optuna_internals import fail_trial
from search.study.retries import (KILLED, STALE, recover_interrupted, requeue_trial,
                                  retry_stale_trials)

pytestmark = pytest.mark.filterwarnings("ignore:Heartbeat of storage")
DEPTH = {"conv.depth": IntDistribution(1, 3)}


def killed_before_the_end(*args):
    raise KeyboardInterrupt


def sqlite_study(tmp_path) -> optuna.Study:
    return optuna.create_study(storage=make_storage(f"sqlite:///{tmp_path / 's.db'}"),
                               direction="maximize")


def test_a_running_trial_is_ended_with_its_reason_and_retried_with_its_params(storage_url):
    study = optuna.create_study(study_name=f"r{uuid.uuid4().hex[:8]}",
                                storage=make_storage(storage_url), direction="maximize")
    trial = study.ask(DEPTH)
    trial.set_user_attr("history", [{"val_accuracy": 0.5}])
    requeue_trial(study, study.trials[0], reason=KILLED)
    ended, retry = study.trials
    assert ended.state == TrialState.FAIL
    assert ended.user_attrs["fail_reason"] == f"{KILLED}; re-queued as a retry"
    assert retry.state == TrialState.WAITING and retry.params == ended.params
    assert retry.user_attrs["history"] == [{"val_accuracy": 0.5}]
    assert "fail_reason" not in retry.user_attrs
    assert retry.system_attrs["retry_history"] == [0]  # keeps the original's number
    requeue_trial(study, study.trials[0])  # a write retried after its commit: queued once
    assert len(study.trials) == 2
    study.tell(study.ask(), 0.7)  # the retry, told before the storage went away:
    requeue_trial(study, study.trials[1])  # nothing to re-queue
    assert len(study.trials) == 2 and study.trials[1].state == TrialState.COMPLETE


def test_a_kill_between_the_retry_and_the_end_leaves_the_trial_running_with_its_retry(
        tmp_path, monkeypatch):
    study = sqlite_study(tmp_path)
    study.ask(DEPTH)
    with monkeypatch.context() as patch:
        patch.setattr(retries, "fail_trial", killed_before_the_end)
        with pytest.raises(KeyboardInterrupt):
            requeue_trial(study, study.trials[0], inherit_training=False)
    assert [t.state for t in study.trials] == [TrialState.RUNNING, TrialState.WAITING]
    assert recover_interrupted(study) == 1  # the next start only ends it: still one retry
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.WAITING]


def test_a_trial_optunas_heartbeat_check_ended_is_retried_once_unless_its_worker_queued_one(
        tmp_path, monkeypatch):
    study = sqlite_study(tmp_path)
    storage = study._storage
    queued, bare = (study.ask(DEPTH) for _ in range(2))
    bare.set_user_attr("fail_reason", "storage unavailable (...); re-queued")
    with monkeypatch.context() as patch:  # killed after queueing its retry, before its end
        patch.setattr(retries, "fail_trial", killed_before_the_end)
        with pytest.raises(KeyboardInterrupt):
            requeue_trial(study, study.trials[0])
    bare.report(0.3, step=1)
    stale = storage.get_heartbeat_stale_trial_callback()
    for trial in study.trials[:2]:  # what Optuna does to a trial whose heartbeat stopped
        fail_trial(study, trial)
        stale(study, study.trials[trial.number])
    histories = [t.system_attrs["retry_history"] for t in study.trials[2:]]
    assert histories == [[0], [1]]  # one each
    assert "fail_reason" not in study.trials[3].user_attrs
    assert study.trials[3].intermediate_values == {1: 0.3}  # the scores its epochs reported
    worn = study.ask()  # the first retry, run
    study._storage.set_trial_system_attr(worn._trial_id, "retry_history", [0, 1, 2])
    fail_trial(study, study.trials[worn.number])
    stale(study, study.trials[worn.number])  # three retries behind it: not again
    assert len(study.trials) == 4


def stale_study(kind: str, tmp_path) -> tuple[optuna.Study, str]:
    """A study with a stale trial (0, one score reported) and a live one (1)."""
    url = storage_for_kind(kind, tmp_path)
    study = optuna.create_study(study_name=f"h{uuid.uuid4().hex[:8]}", direction="maximize",
                                storage=make_storage(url))
    stale, live = (study.ask(DEPTH) for _ in range(2))
    stale.report(0.4, step=1)
    age_heartbeat(study, stale)
    study._storage.record_heartbeat(live._trial_id)
    return study, url


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_stale_trial_gets_its_retry_under_the_lock_before_it_ends(tmp_path, kind, monkeypatch):
    study, url = stale_study(kind, tmp_path)
    events, budget = [], TrialBudget(study, url, None)

    @contextlib.contextmanager
    def lock():
        with budget.lock():  # the very lock every claim and pop of the study takes
            events.append("lock")
            try:
                yield
            finally:
                events.append("unlock")
    real_requeue = retries.requeue_trial
    monkeypatch.setattr(retries, "requeue_trial",
                        lambda *a, **kw: events.append("requeue") or real_requeue(*a, **kw))
    with monkeypatch.context() as patch:  # the worker checking is killed before the end
        patch.setattr(retries, "fail_trial", killed_before_the_end)
        with pytest.raises(KeyboardInterrupt):
            retry_stale_trials(study, lock)
    assert [t.state for t in study.trials] == [TrialState.RUNNING] * 2 + [TrialState.WAITING]
    assert retry_stale_trials(study, lock) == 1  # the next check only ends it: still one retry
    ended, running, retry = study.trials
    assert (ended.state, running.state, retry.state) == (
        TrialState.FAIL, TrialState.RUNNING, TrialState.WAITING)
    assert ended.user_attrs["fail_reason"] == f"{STALE}; re-queued as a retry"
    assert "fail_reason" not in retry.user_attrs and retry.intermediate_values == {1: 0.4}
    assert retry.system_attrs["retry_history"] == [0]
    assert events == ["lock", "requeue", "unlock"] * 2
    assert retry_stale_trials(study, lock) == 0 and len(events) == 6  # nothing stale: no lock


def test_a_stale_trial_with_three_retries_behind_it_is_ended_and_says_it_is_not_retried(
        tmp_path):
    study, _ = stale_study("sqlite", tmp_path)
    study._storage.set_trial_system_attr(study.trials[0]._trial_id, "retry_history", [7, 8, 9])
    assert retry_stale_trials(study, contextlib.nullcontext) == 1
    assert len(study.trials) == 2 and study.trials[0].state == TrialState.FAIL
    assert study.trials[0].user_attrs["fail_reason"] == f"{STALE}; not retried again: 3 retries behind it"


def test_a_stale_trial_its_worker_ends_while_the_check_waits_for_the_lock_is_left_as_it_ended(
        tmp_path):
    study, _ = stale_study("sqlite", tmp_path)
    stale = study.trials[0]

    @contextlib.contextmanager
    def lock():  # its worker was only cut off for a while: it told its result meanwhile
        study.tell(stale.number, 0.8)
        yield
    assert retry_stale_trials(study, lock) == 0
    assert len(study.trials) == 2 and study.trials[0].state == TrialState.COMPLETE


def test_a_trial_ended_by_another_process_in_the_middle_of_its_requeue_is_left_as_it_ended(
        tmp_path, monkeypatch):
    study = sqlite_study(tmp_path)
    study.ask(DEPTH)
    real_note = retries.set_trial_user_attr

    def ended_meanwhile(study_, trial, key, value):  # Optuna's own heartbeat check, elsewhere
        fail_trial(study_, trial)
        real_note(study_, trial, key, value)
    monkeypatch.setattr(retries, "set_trial_user_attr", ended_meanwhile)
    requeue_trial(study, study.trials[0], reason=KILLED)  # no error
    assert [t.state for t in study.trials] == [TrialState.FAIL]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_claim_requeues_a_stale_trial_and_takes_its_retry_even_with_the_budget_full(
        tmp_path, kind):
    study, url = stale_study(kind, tmp_path)
    budget = TrialBudget(study, url, 2)
    assert budget.counted() == 2 and budget.claim()  # the stale trial's slot, run again
    retry = study.trials[2]
    assert study.trials[0].state == TrialState.FAIL
    assert retry.state == TrialState.WAITING and retry.user_attrs["claimed_for"] == retry.number
    assert study.ask().number == retry.number
    assert not budget.claim()  # the budget is full


def test_a_retry_that_trains_from_epoch_1_inherits_no_scores_and_no_verdicts(tmp_path):
    from search.study.subset_rung import RUNG_KEY

    study = sqlite_study(tmp_path)
    study.pruner = make_pruner("successive-halving", 9)
    trial = study.ask(DEPTH)
    trial.set_user_attr("history", [{"val_accuracy": 0.2}])
    trial.set_user_attr("resumed_from_epoch", 1)
    trial.report(0.2, step=1)
    trial.should_prune()  # successive halving records its verdict at rung 0 on the trial
    study._storage.set_trial_system_attr(trial._trial_id, RUNG_KEY, 0.1)
    assert any(k.startswith("completed_rung_") for k in study.trials[0].system_attrs)
    requeue_trial(study, study.trials[0], inherit_training=False)
    retry = study.trials[1]
    assert retry.params == study.trials[0].params and retry.intermediate_values == {}
    assert "history" not in retry.user_attrs and "resumed_from_epoch" not in retry.user_attrs
    assert not [k for k in retry.system_attrs if k.startswith("completed_rung_") or k == RUNG_KEY]
    assert retry.system_attrs["retry_history"] == [0]


def test_a_retry_queued_for_a_trial_whose_result_landed_meanwhile_is_ended_unrun(
        tmp_path, monkeypatch):
    study = sqlite_study(tmp_path)
    trial = study.ask(DEPTH)

    def result_lands_first(study_, frozen):  # its worker was alive after all
        if frozen.number == trial.number:
            study.tell(trial, 0.9)
        fail_trial(study_, frozen)
    monkeypatch.setattr(retries, "fail_trial", result_lands_first)
    requeue_trial(study, study.trials[0], reason=STALE, max_retry=3)
    done, retry = study.trials
    assert done.state == TrialState.COMPLETE and done.value == 0.9
    assert retry.state == TrialState.FAIL
    assert retry.user_attrs["fail_reason"] == "not needed: trial 0 ended after all"


def test_a_stopped_worker_requeues_its_trial_under_the_budgets_lock(tmp_path):
    from search.study.runner import _requeue

    study = sqlite_study(tmp_path)
    study.ask(DEPTH)
    budget, held = TrialBudget(study, f"sqlite:///{tmp_path / 's.db'}", None), []
    real_lock = budget.lock

    @contextlib.contextmanager
    def lock():
        with real_lock():
            held.append(len(study.trials))
            yield
            held.append(study.trials[0].state)
    budget.lock = lock
    _requeue(budget, study.trials[0]._trial_id)
    assert held == [1, TrialState.FAIL] and study.trials[1].state == TrialState.WAITING
