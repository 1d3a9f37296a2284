"""A worker whose trial another worker took over (judged stale while this one was silent, then
re-queued) leaves the checkpoint to the retry and goes on, whether it finds out during training
or at its tell; a worker that starts after one was killed runs the killed trial's retry even
when the budget looks spent (real training of one or two epochs on scikit-learn digits)."""

from __future__ import annotations

import uuid

import keras
import optuna
import pytest
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState
from rich.console import Console

from conftest import storage_for_kind, write
from search.data.dataset import DataSpec
from search.space.space import Space, load_space
from search.study.budget import set_study_budget
from search.study.checkpoint import checkpoint_epoch
from search.study.lifecycle import StudySettings, make_storage
from search.study.liveness import ALIVE, STALE_SECONDS, is_taken_over, taken_over
from search.study.optuna_internals import get_trial
from search.study.retries import MAX_RETRIES, STALE, requeue_trial
from search.study.progress import trial_line
from search.study.runner import FailureGuard, RunOptions, run_study
from search.study.storage_clock import storage_now
from search.study.trial import Objective, run_trial

pytestmark = pytest.mark.filterwarnings("ignore:Heartbeat of storage")
TWO_EPOCHS = {"conv": {"depth": 1, "filters": 8}, "head": {"layers": 0},
              "training": {"batch_size": 64, "epochs": 2}}


def take_over(study: optuna.Study, storage_id: int) -> None:
    """What another worker's claim does to a trial it judged stale."""
    requeue_trial(study, get_trial(study, storage_id), reason=STALE, max_retry=MAX_RETRIES)


class JudgedStaleAfterEpoch1(keras.callbacks.Callback):
    def __init__(self, study: optuna.Study, trial: optuna.Trial) -> None:
        super().__init__()
        self.study, self.trial = study, trial

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epoch == 0:  # after epoch 1's checkpoint was saved
            take_over(self.study, self.trial._trial_id)


def study_and_objective(tmp_path, kind: str = "sqlite", **space) -> tuple[optuna.Study, Objective]:
    study = optuna.create_study(study_name=f"t{uuid.uuid4().hex[:8]}", direction="maximize",
                                storage=make_storage(storage_for_kind(kind, tmp_path)))
    return study, Objective(Space.of({**TWO_EPOCHS, **space}), DataSpec(name="digits"),
                            checkpoint_root=tmp_path / "checkpoints")


@pytest.mark.parametrize("kind", ["sqlite", "journal", "postgresql"])
def test_a_trial_taken_over_mid_training_keeps_its_checkpoint_and_its_retry_resumes(
        tmp_path, kind):
    study, objective = study_and_objective(tmp_path, kind)
    objective.extra_callbacks = lambda trial, config: [JudgedStaleAfterEpoch1(study, trial)]
    shown, guard = [], FailureGuard(1)
    callbacks = [lambda s, t: shown.append(trial_line(s, t)), guard]
    ended = run_trial(study, objective, callbacks)  # no error
    assert ended.state == TrialState.FAIL and is_taken_over(ended)
    assert "trial 0 TAKEN OVER[/] its worker stopped sending heartbeats" in shown[0]
    assert not guard.tripped and guard.streak == 0  # a silent worker says nothing of the space
    assert checkpoint_epoch(tmp_path / "checkpoints" / "trial-0") == 1  # epoch 2 never saved
    objective.extra_callbacks = None
    retry = run_trial(study, objective, callbacks)
    assert retry.state == TrialState.COMPLETE and retry.number == 1
    assert retry.user_attrs["resumed_from_epoch"] == 1 and len(retry.user_attrs["history"]) == 2


class FailsInEpoch1(keras.callbacks.Callback):
    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        raise ValueError("a broken augmentation")


@pytest.mark.parametrize("verdict", ["complete", "pruned", "failed"])
def test_a_trial_taken_over_before_its_tell_is_left_to_its_retry_whatever_its_verdict(
        tmp_path, monkeypatch, verdict):
    study, objective = study_and_objective(tmp_path)
    if verdict == "pruned":  # too large for the budget: pruned before training
        objective.max_params = 10
    if verdict == "failed":  # an error in training: recorded as FAIL
        objective.extra_callbacks = lambda trial, config: [FailsInEpoch1()]
    real_tell = optuna.Study.tell

    def late_tell(self, trial, *args, **kwargs):  # the worker was silent past the grace period
        take_over(self, trial._trial_id)
        return real_tell(self, trial, *args, **kwargs)
    monkeypatch.setattr(optuna.Study, "tell", late_tell)
    guard = FailureGuard(1)
    ended = run_trial(study, objective, [guard])
    assert ended.state == TrialState.FAIL and is_taken_over(ended) and not guard.tripped
    retry = study.trials[1]
    assert retry.state == TrialState.WAITING  # the retry reaches its own verdict
    assert not {"prune_reason", "cost_cut", "fail_reason"} & set(retry.user_attrs)
    if verdict == "complete":
        assert checkpoint_epoch(tmp_path / "checkpoints" / "trial-0") == 2  # for the retry


def test_a_take_over_that_lands_inside_the_tell_ends_nothing_more(tmp_path, monkeypatch):
    study, objective = study_and_objective(tmp_path)

    def tell_cut_short(self, trial, *args, **kwargs):  # checked RUNNING, then the write found
        take_over(self, trial._trial_id)  # the trial ended by the other worker
        raise UpdateFinishedTrialError(f"Trial#{trial.number} has already finished")
    monkeypatch.setattr(optuna.Study, "tell", tell_cut_short)
    ended = run_trial(study, objective)  # no error
    assert ended.state == TrialState.FAIL and is_taken_over(ended)
    assert checkpoint_epoch(tmp_path / "checkpoints" / "trial-0") == 2


def test_taken_over_means_stored_otherwise_than_told_or_ended_as_stale():
    def frozen(state, value=None, reason=None):
        attrs = {"fail_reason": reason} if reason else {}
        return optuna.trial.create_trial(state=state, value=value, user_attrs=attrs)
    assert taken_over(frozen(TrialState.FAIL), 0.8, None)
    assert not taken_over(frozen(TrialState.COMPLETE, 0.8), 0.8, None)
    assert not taken_over(frozen(TrialState.FAIL), float("nan"), None)  # Optuna fails a NaN
    assert not taken_over(frozen(TrialState.PRUNED), None, TrialState.PRUNED)
    assert not taken_over(frozen(TrialState.FAIL, reason="diverged: nan loss"), None,
                          TrialState.FAIL)
    assert taken_over(frozen(TrialState.FAIL, reason=f"{STALE}; re-queued as a retry"), None,
                      TrialState.FAIL)
    used_up = frozen(TrialState.FAIL, reason=f"{STALE}; not retried again: 3 retries behind it")
    assert not taken_over(used_up, None, TrialState.FAIL) and not is_taken_over(used_up)


def test_a_trial_taken_over_with_its_retries_used_up_is_a_failure_like_any_other(tmp_path):
    study, objective = study_and_objective(tmp_path)
    objective.extra_callbacks = lambda trial, config: [JudgedStaleAfterEpoch1(study, trial)]
    real_ask = optuna.Study.ask
    study.ask = lambda *a, **kw: _worn(real_ask(study, *a, **kw))
    guard = FailureGuard(1)
    ended = run_trial(study, objective, [guard])
    assert ended.state == TrialState.FAIL and not is_taken_over(ended) and guard.tripped
    assert "not retried again" in ended.user_attrs["fail_reason"] and len(study.trials) == 1
    assert not (tmp_path / "checkpoints").exists() or not any((tmp_path / "checkpoints").iterdir())


def _worn(trial: optuna.Trial) -> optuna.Trial:
    """A trial with three retries behind it (its original and two retries were killed)."""
    trial.storage.set_trial_system_attr(trial._trial_id, "retry_history", [7, 8, 9])
    return trial


ONE_EPOCH = '''
SPACE = {"conv": {"depth": 1, "filters": 8}, "head": {"layers": 0},
         "training": {"batch_size": 64, "epochs": 1}}
DATA = {"name": "digits"}
'''


def test_a_worker_started_after_a_kill_runs_the_killed_trial_with_the_budget_spent(tmp_path):
    run = StudySettings(name="t", space=load_space(write(tmp_path, "one.py", ONE_EPOCH)),
                        data=DataSpec(name="digits"), storage=str(tmp_path / "t.log"),
                        root=tmp_path, sampler="random")
    study = run_study(run, RunOptions(trials=1, owns_budget=True), Console(width=200))
    set_study_budget(study, 2, None)
    killed = study.ask()  # the second slot: its worker died mid-trial long ago
    killed.set_user_attr(ALIVE, storage_now(run.storage) - STALE_SECONDS - 5)
    console = Console(record=True, width=200)
    study = run_study(run, RunOptions(), console)  # a worker joining the spent budget
    assert [t.state for t in study.trials] == [
        TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE]
    assert study.trials[2].system_attrs["retry_history"] == [1]
    assert "nothing left to run" not in console.export_text()
