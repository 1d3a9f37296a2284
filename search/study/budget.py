"""The study's trial budget, shared exactly by every worker under the study's lock (locks.py).

Optuna's ``n_trials`` counts per worker and ``MaxTrialsCallback`` only looks
after a trial ends, so k workers can overshoot by k-1. Here a worker claims,
under a lock (a PostgreSQL advisory lock, or a file lock for SQLite and journal
files), exactly one WAITING trial before each ``optimize(n_trials=1)``: either
a new slot it enqueues (while the study is under budget) or a retry (of a trial whose
worker stopped, re-queued by the claim itself first) that no worker has claimed yet.
Optuna pops WAITING trials atomically, so with one WAITING trial per granted
claim no worker ever creates an unbudgeted trial, provided that each pop, like each
enqueue, holds the lock: Optuna pops from a snapshot of the WAITING trials and, when
others took all of those, creates a trial of its own. A retry reuses its original's
slot: the count is of distinct original trials.
"""

from __future__ import annotations

import contextlib
import json
import time
import warnings
from dataclasses import dataclass

import optuna
from optuna.trial import TrialState

from search.errors import SearchError, shown
from search.inputs import check_values
from search.study.locks import storage_lock
from search.study.optuna_internals import pop_waiting_under, set_trial_user_attr
from search.study.retries import retry_stale_trials
from search.study.storage_retry import with_storage_retry

__all__ = ["TrialBudget", "StudyBudget", "set_study_budget", "worker_budget", "DEFAULT_TRIALS"]

DEFAULT_TRIALS = 20
RELEASED = "released_slots"  # study attribute: claimed WAITING trials whose worker stopped


@dataclass(frozen=True)
class StudyBudget:
    """The study's total trials and its deadline (``time.time()`` seconds); None: no limit."""

    trials: int | None
    deadline: float | None
    seconds: float | None = None  # the whole search's length (`--timeout`), for the cost guard

    def seconds_left(self) -> float | None:
        """Seconds until the deadline (negative once past), or None without one."""
        return None if self.deadline is None else self.deadline - time.time()


def set_study_budget(study: optuna.Study, trials: int | None, timeout: float | None, *,
                     uncapped: bool = True) -> StudyBudget:
    """``run``: its trials (else the stored total; else none with a timeout, 20 without) and
    deadline become the study's, so every worker that joins without its own
    ``--trials``/``--timeout`` is bound by them. ``--timeout 20m`` alone searches for 20
    minutes: a trial cap nobody asked for would end a search of short trials early.
    ``uncapped=False`` (the grid sampler, which repeats points once its grid is done) keeps
    the cap of 20 with a timeout too."""
    default = None if timeout and uncapped else DEFAULT_TRIALS
    trials = trials or _stored_budget(study).trials or default
    budget = StudyBudget(trials, time.time() + timeout if timeout else None, timeout)
    study.set_user_attr("budget", {"trials": budget.trials, "deadline": budget.deadline,
                                   "seconds": timeout})
    return budget


def worker_budget(study: optuna.Study, trials: int | None, timeout: float | None) -> StudyBudget:
    """``worker``: its own limits where given, the study's stored ones otherwise."""
    stored = _stored_budget(study)
    if timeout:
        return StudyBudget(trials if trials is not None else stored.trials,
                           time.time() + timeout, timeout)
    return StudyBudget(trials if trials is not None else stored.trials, stored.deadline,
                       stored.seconds)


def _stored_budget(study: optuna.Study) -> StudyBudget:
    raw = study.user_attrs.get("budget") or {}
    source = f"study '{study.study_name}' (stored budget)"
    trials, deadline, seconds = ((raw.get("trials"), raw.get("deadline"), raw.get("seconds"))
                                 if isinstance(raw, dict) else (0, 0, 0))
    problems = check_values(source, {"trials": trials}) if trials is not None else []
    if not isinstance(raw, dict) or any(v is not None and (not isinstance(v, (int, float))
                                                           or isinstance(v, bool))
                                        for v in (deadline, seconds)):
        problems.append(f"{source}: expected {{trials: int, deadline: seconds}}; got {shown(raw)}.")
    if problems:
        raise SearchError(problems, hint="Set it again with `python -m search run ... --trials N`.")
    return StudyBudget(trials, deadline, seconds)


def _origin(trial: optuna.trial.FrozenTrial) -> int:
    history = trial.system_attrs.get("retry_history")
    return int(history[0]) if history else trial.number


class TrialBudget:
    """Claims one trial slot at a time; ``total=None`` means no limit."""

    def __init__(self, study: optuna.Study, storage_url: str, total: int | None, *,
                 enqueue: bool = True) -> None:
        """``enqueue=False`` for samplers that refuse empty enqueued trials (GridSampler): the
        count is then checked before each trial but not reserved, so it is exact for one worker."""
        self.study, self.url, self.total, self.enqueue = study, storage_url, total, enqueue
        if enqueue:  # each optimize() must pop a claimed WAITING trial, never create its own
            pop_waiting_under(study, self._pop_lock, popped=self._popped)
        self.owed = False  # a claim granted whose WAITING trial this worker has not popped yet

    def requeue_stale(self) -> int:
        """Re-queue the trials whose worker's heartbeat stopped (each claim does first, so
        their retries are claimed before the budget counts as spent); how many."""
        return with_storage_retry(retry_stale_trials, self.study, self.lock, self.url,
                                  what="re-queueing trials whose worker stopped")

    def counted(self) -> int:
        """How many trials count against the budget: a retry counts as its original trial."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trials = self.study.get_trials(deepcopy=False)
        return len({_origin(t) for t in trials})

    def waiting(self) -> int:
        """How many of the study's trials are WAITING."""
        return len(self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))

    def _unclaimed_retries(self) -> list[optuna.trial.FrozenTrial]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            waiting = self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        # A retry inherits its parent's user attrs, so the marker names the claimed trial itself.
        return [t for t in waiting if t.system_attrs.get("retry_history")
                and t.user_attrs.get("claimed_for") != t.number]

    def claim(self) -> bool:
        """True when the caller may run one more trial: exactly one WAITING trial is its own.
        Trials whose worker's heartbeat stopped are re-queued first, so their retries are
        claimed before the budget is judged full (a stale trial counts in it)."""
        self.requeue_stale()
        with self.lock():
            retries = self._unclaimed_retries()
            if retries:
                set_trial_user_attr(self.study, retries[0], "claimed_for", retries[0].number)
            elif not self._take_released():
                if self.total is not None and self.counted() >= self.total:
                    return False
                if self.enqueue:
                    self._enqueue_next()
            self.owed = self.enqueue
            return True

    def release_unpopped(self) -> None:
        """After a stop between a claim and its pop: the claimed WAITING trial has no owner now.
        It is counted as released, and the next claim takes it over instead of enqueuing one
        more, which would end the study one trial short with a trial left WAITING."""
        if not self.owed:
            return
        with self.lock():
            self.study.set_user_attr(RELEASED, self._released() + 1)
        self.owed = False

    def _take_released(self) -> bool:
        """Take over a released slot (a count with no WAITING trial left behind is reset)."""
        released = self._released()
        if released <= 0:
            return False
        waiting = self.waiting() > 0
        self.study.set_user_attr(RELEASED, released - 1 if waiting else 0)
        return waiting

    def _released(self) -> int:
        """The stored count of released slots, checked like every stored value."""
        value = self.study.user_attrs.get(RELEASED, 0)
        source = f"study '{self.study.study_name}' (stored budget)"
        problems = check_values(source, {"released_slots": value})
        if problems:
            raise SearchError(problems, hint="The study's stored settings were changed by hand; "
                                             f"set '{RELEASED}' back to 0 or recreate the study.")
        return value

    def _popped(self) -> None:
        self.owed = False

    def _enqueue_next(self) -> None:
        """The first warm-start config no trial has carried yet (keyed by its parameters, so a
        resumed, reordered or extended list runs each entry once), else a blank trial."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            carried = {t.user_attrs.get("warm_start_key") for t in self.study.get_trials(
                deepcopy=False)}
        for entry in self.study.user_attrs.get("warm_start") or []:
            params = entry.get("params") if isinstance(entry, dict) else None
            key = json.dumps(params, sort_keys=True)
            if isinstance(params, dict) and key not in carried:
                self.study.enqueue_trial(params, user_attrs={
                    "warm_start": str(entry.get("source", "")), "warm_start_key": key},
                    skip_if_exists=False)
                return
        self.study.enqueue_trial({}, skip_if_exists=False)

    def lock(self) -> contextlib.AbstractContextManager:
        """The study's lock, held by every claim, pop and enqueue of its workers."""
        return storage_lock(self.study.study_name, self.url)

    def _pop_lock(self) -> contextlib.AbstractContextManager:
        """The lock for a pop, taken with retries like any storage write: a database restart
        between claim and pop ends the run cleanly (exit 75), not with a traceback."""
        held = contextlib.ExitStack()
        with_storage_retry(lambda: held.enter_context(self.lock()), what="taking the budget's lock")
        return held
