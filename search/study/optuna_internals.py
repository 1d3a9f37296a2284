"""Every use of Optuna's private API, in one place, pinned to the versions it was checked on.

The public API cannot fail or annotate a trial that another process owns (a killed
worker's orphan, a stale ablation claim, a claimed retry), so these few calls
reach into the study's storage. ``tests/study/test_optuna_internals.py`` runs each on
every storage kind and fails on an Optuna version outside ``TESTED_VERSIONS``.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable

import optuna
from optuna.trial import FrozenTrial, TrialState

__all__ = ["TESTED_VERSIONS", "trial_id", "get_trial", "set_trial_user_attr", "fail_trial",
           "set_trial_system_attr", "system_attrs", "pop_waiting_under", "stale_trial_ids",
           "beaten_trial_ids"]

TESTED_VERSIONS = ("4.", "5.")


def trial_id(trial: optuna.Trial | FrozenTrial) -> int:
    """The storage's id of a trial (its number is per study; the id is what storage calls take)."""
    return trial._trial_id


def get_trial(study: optuna.Study, storage_id: int) -> FrozenTrial:
    """The trial with storage id ``storage_id``, whichever process owns it."""
    return study._storage.get_trial(storage_id)


def set_trial_user_attr(study: optuna.Study, trial: FrozenTrial, key: str, value: Any) -> None:
    """Set a user attribute on ``trial``, even one another process owns."""
    study._storage.set_trial_user_attr(trial._trial_id, key, value)


def fail_trial(study: optuna.Study, trial: FrozenTrial) -> None:
    """Mark ``trial`` FAIL, even one another process owns."""
    study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)


def set_trial_system_attr(study: optuna.Study, trial: FrozenTrial, key: str, value: Any) -> None:
    """Set a system attribute on ``trial`` (a pruner's rung record, as Optuna's own pruners
    keep theirs), which the public API leaves to Optuna."""
    study._storage.set_trial_system_attr(trial._trial_id, key, value)


def stale_trial_ids(study: optuna.Study) -> list[int]:
    """The storage ids of the study's RUNNING trials whose worker's heartbeat stopped (none
    where the storage keeps no heartbeats), as Optuna's ``fail_stale_trials`` finds them."""
    from optuna.storages._heartbeat import is_heartbeat_enabled

    storage = study._storage
    if not is_heartbeat_enabled(storage):
        return []
    return storage._get_stale_trial_ids(study._study_id)


def beaten_trial_ids(study: optuna.Study) -> set[int] | None:
    """The storage ids of the study's RUNNING trials that have an RDB heartbeat (a row in
    Optuna's heartbeat table); ``None`` where the storage keeps no heartbeats."""
    from optuna.storages._heartbeat import is_heartbeat_enabled
    from optuna.storages._rdb import models
    from sqlalchemy import orm, select

    if not is_heartbeat_enabled(study._storage):
        return None
    backend = getattr(study._storage, "_backend", study._storage)
    query = (select(models.TrialHeartbeatModel.trial_id).join(models.TrialModel)
             .where(models.TrialModel.study_id == study._study_id,
                    models.TrialModel.state == TrialState.RUNNING))
    with orm.Session(backend.engine) as session:
        return set(session.scalars(query))


def system_attrs(trial: optuna.Trial) -> dict[str, Any]:
    """A live trial's system attributes (``retry_history``), which Trial does not expose."""
    return trial.storage.get_trial_system_attrs(trial._trial_id)


def pop_waiting_under(study: optuna.Study, lock: Callable[[], contextlib.AbstractContextManager],
                      popped: Callable[[], None] = lambda: None) -> None:
    """Make ``study`` (this handle) pop its next WAITING trial while holding ``lock``.

    Optuna's ask tries the WAITING trials of one snapshot and, when other workers took
    every one of them meanwhile, creates a fresh trial. A slot enqueued after that snapshot
    is then left WAITING while the fresh trial runs outside the budget: the study ends with
    its exact total but one trial never run (seen with three workers on a journal file).
    Every enqueue holds the budget's lock too, so under it the snapshot is current and
    holds a WAITING trial for each granted claim. ``popped`` is called after each pop that
    took a WAITING trial.
    """
    if getattr(study, "_search_locked_pop", False):  # once per handle: a nested file lock
        return  # taken by the same process would wait for itself
    pop = study._pop_waiting_trial_id

    def locked_pop() -> int | None:
        with lock():
            trial_id = pop()
        if trial_id is not None:
            popped()
        return trial_id

    study._pop_waiting_trial_id = locked_pop
    study._search_locked_pop = True
