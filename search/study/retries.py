"""Re-queueing a trial that did not finish: killed with its worker, stopped, cut off from the
storage, gone stale, or whose checkpoint did not load.

Every path goes through :func:`requeue_trial`, built on Optuna's own retry callback: the
retry is queued first, then the trial is ended, so a kill in between leaves the trial
RUNNING with its retry (the next look only ends it), never ended without one. Where other
workers may be enqueuing too, callers hold the budget's lock (``TrialBudget.lock``) around it.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Callable

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from search.study.liveness import ALIVE, REQUEUED, STALE, UNBEATEN, is_taken_over, stale_trials
from search.study.optuna_internals import (fail_trial, get_trial, set_trial_user_attr,
                                           system_attrs, trial_id)
from search.study.stop_signal import StopSignal
from search.study.storage_retry import with_storage_retry
from search.study.subset_rung import RUNG_KEY

__all__ = ["DISCARDED_CHECKPOINT", "MAX_RETRIES", "KILLED", "STALE", "requeue_trial", "start_over",
           "recover_interrupted", "retry_stale_trials", "retry_stale", "is_restart_attempt",
           "says_nothing_of_the_space", "origin_number", "has_live_retry", "Lock"]

DISCARDED_CHECKPOINT = "discarded_checkpoint"  # an attempt's checkpoint did not load: why
MAX_RETRIES = 3  # a configuration that kills its worker every time stops somewhere
KILLED = "its worker was killed mid-trial"
NOT_NEEDED = "not needed"  # how a retry ended unrun begins its reason

Lock = Callable[[], contextlib.AbstractContextManager]


def requeue_trial(study: optuna.Study, trial: FrozenTrial, *, reason: str | None = None,
                  max_retry: int | None = None, inherit_training: bool = True) -> None:
    """Enqueue the retry of a RUNNING trial, then end the trial as FAIL, by Optuna's retry
    callback: the retry inherits params, user attributes (the epoch history) and reported
    values, and keeps the original number for its seed and checkpoint. Without
    ``inherit_training`` it inherits no epoch history, no reported values and no pruner
    verdicts (rung records): a retry that trains from epoch 1 is judged on its own scores.

    ``reason`` is stored as the ended trial's ``fail_reason``, with whether it was re-queued
    (a trial with ``max_retry`` retries behind it is not). A trial already re-queued is not
    queued again (a storage write retried after its commit), nor one that finished with a
    result (its tell went through before the storage went away); one that another process
    ends meanwhile is left as that process ended it (its own worker, alive after all:
    a retry queued for it meanwhile is ended unrun)."""
    current = get_trial(study, trial_id(trial))
    if current.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return
    retried = max_retry is None or len(current.system_attrs.get("retry_history", [])) < max_retry
    ended_here = False
    with contextlib.suppress(UpdateFinishedTrialError):
        if reason and current.state == TrialState.RUNNING:
            set_trial_user_attr(study, trial, "fail_reason", reason + (
                REQUEUED if retried else
                f"; not retried again: {max_retry} retries behind it"))
        if retried and not _requeued(study, trial):
            _enqueue_retry(study, get_trial(study, trial_id(trial)), inherit_training)
        if get_trial(study, trial_id(trial)).state == TrialState.RUNNING:
            fail_trial(study, trial)
            ended_here = True
    if current.state == TrialState.RUNNING and not ended_here:
        _end_unneeded_retries(study, trial)


def _end_unneeded_retries(study: optuna.Study, trial: FrozenTrial) -> None:
    """The trial's own worker ended it after all (it was alive): its WAITING retry, if one
    was queued, must not train it again. (A ``fail_reason`` already written on the trial
    stays: Optuna refuses writes to a finished trial.)"""
    for retry in _retries_of(study, trial, states=(TrialState.WAITING,)):
        set_trial_user_attr(study, retry, "fail_reason",
                            f"{NOT_NEEDED}: trial {trial.number} ended after all")
        fail_trial(study, retry)


def has_live_retry(study: optuna.Study, trial: FrozenTrial) -> bool:
    """Whether a retry of ``trial`` is queued, running or done (not one ended unrun)."""
    return any(not str(t.user_attrs.get("fail_reason", "")).startswith(NOT_NEEDED)
               for t in _retries_of(study, trial))


def _requeued(study: optuna.Study, trial: FrozenTrial) -> bool:
    return bool(_retries_of(study, trial))


def _retries_of(study: optuna.Study, trial: FrozenTrial,
                states: tuple[TrialState, ...] | None = None) -> list[FrozenTrial]:
    """The study's trials queued as the retry of ``trial``."""
    return [t for t in study.get_trials(deepcopy=False, states=states)
            if (t.system_attrs.get("retry_history") or [None])[-1] == trial.number]


def _enqueue_retry(study: optuna.Study, trial: FrozenTrial, inherit_training: bool) -> None:
    snapshot = copy.deepcopy(trial)
    for key in ("fail_reason", "prune_reason", "cost_cut", ALIVE, UNBEATEN):  # the ended attempt's
        snapshot.user_attrs.pop(key, None)  # verdict and beat, not the retry's
    if not inherit_training:
        for key in ("history", "resumed_from_epoch", DISCARDED_CHECKPOINT):
            snapshot.user_attrs.pop(key, None)
        for key in [k for k in snapshot.system_attrs
                    if k.startswith("completed_rung_") or k == RUNG_KEY]:
            del snapshot.system_attrs[key]
    optuna.storages.RetryHeartbeatStaleTrialCallback(
        inherit_intermediate_values=inherit_training)(study, snapshot)


def start_over(study: optuna.Study, trial: optuna.Trial, lock: Lock) -> FrozenTrial:
    """Queue the retry that trains from epoch 1, then end the attempt (by
    :func:`requeue_trial` under ``lock``, a stop arriving meanwhile kept for after)."""
    def requeue() -> None:
        with lock():
            requeue_trial(study, get_trial(study, trial_id(trial)), inherit_training=False)
    with StopSignal.deferred(raise_after=False):
        with_storage_retry(requeue, what="re-queueing the trial to train from epoch 1")
        return with_storage_retry(get_trial, study, trial_id(trial), what="reading the trial back")


def recover_interrupted(study: optuna.Study) -> int:
    """Re-queue every RUNNING trial (same params, history, checkpoint key), then end it.

    Only safe when no other worker can be running: the SQLite worker lock is held.
    """
    orphans = study.get_trials(deepcopy=True, states=(TrialState.RUNNING,))
    for trial in orphans:
        requeue_trial(study, trial, reason=KILLED, max_retry=MAX_RETRIES)
    return len(orphans)


def retry_stale_trials(study: optuna.Study, lock: Lock, url: str | None = None) -> int:
    """Re-queue each trial whose worker's heartbeat stopped (:func:`stale_trials`; ``url``
    for a journal file's), then end it, holding ``lock`` (the budget's: two workers checking
    at once queue one retry, and no claim is popped meanwhile). Unlike Optuna's
    ``fail_stale_trials``, which ends the trial first and asks for its retry after, a worker
    killed in between leaves the trial RUNNING with its retry. Staleness is judged again
    under the lock: a trial that ended or beat meanwhile is left. Returns how many."""
    if not stale_trials(study, url):
        return 0
    with lock():
        stale = stale_trials(study, url)
        for trial in stale:
            requeue_trial(study, trial, reason=STALE, max_retry=MAX_RETRIES)
    return len(stale)


def retry_stale(study: optuna.Study, trial: FrozenTrial) -> None:
    """The storage's stale-trial callback, for where Optuna's own heartbeat check runs (a
    ``study.optimize`` on the same storage; the workers here use :func:`retry_stale_trials`):
    re-queue the trial it ended like every other re-queue, keeping its reported scores
    (Optuna's own callback keeps none), unless its worker queued its retry before dying."""
    requeue_trial(study, trial, max_retry=MAX_RETRIES)


def is_restart_attempt(trial: FrozenTrial) -> bool:
    """True for an attempt that ended only because its checkpoint did not load: its retry,
    queued in the same slot, trains the configuration again, so the attempt says nothing
    about the space and does not use up one of the study's trials."""
    return trial.state == TrialState.FAIL and bool(trial.user_attrs.get(DISCARDED_CHECKPOINT))


def says_nothing_of_the_space(trial: FrozenTrial) -> bool:
    """An attempt ended for its worker's sake, not its model's (its checkpoint did not load,
    or its worker went silent and another took it over): its retry trains it again."""
    return is_restart_attempt(trial) or is_taken_over(trial)


def origin_number(trial: optuna.Trial) -> int:
    """The number of the trial this one retries (itself if it is no retry): its seed and
    checkpoint are the original's."""
    history = system_attrs(trial).get("retry_history")
    return int(history[0]) if history else trial.number
