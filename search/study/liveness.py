"""Whether a RUNNING trial's worker is alive: its heartbeat, and the trials whose heartbeat stopped.

On a database (SQLite, PostgreSQL) Optuna's RDB heartbeat is used: the storage's own table,
judged by the database server's clock. A journal file has no heartbeat of its own, so a
trial there carries one in its ``alive`` user attribute, the storage's clock (the shared file
system's time, :mod:`search.study.storage_clock`) refreshed every ``HEARTBEAT_SECONDS``.

A RUNNING trial with no heartbeat at all (its worker died between starting it and its first
beat, or it was started by a version without journal heartbeats) cannot be judged by a beat's
age. The first check that finds it so writes the storage clock's time into its ``unbeaten``
attribute; a later check that still finds no beat judges it stale once that mark is older than
``STALE_SECONDS``. A live worker beats within moments of starting its trial, so only a dead
one stays unbeaten that long, and one clock (the storage's) judges, not the hosts'.
"""

from __future__ import annotations

import contextlib
import math
import sys
import threading
from typing import Iterator

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from search.storage_url import StorageURL, redact
from search.study.optuna_internals import (beaten_trial_ids, get_trial, set_trial_user_attr,
                                           stale_trial_ids, trial_id)
from search.study.storage_clock import storage_now
from search.study.storage_retry import first_line, is_transient

__all__ = ["ALIVE", "UNBEATEN", "HEARTBEAT_SECONDS", "STALE_SECONDS", "STALE", "REQUEUED",
           "heartbeat", "stale_trials", "taken_over", "is_taken_over"]

ALIVE = "alive"  # a journal trial's heartbeat: the storage clock's time at its last beat
UNBEATEN = "unbeaten"  # the storage clock's time a check first found the trial without a beat
HEARTBEAT_SECONDS = 30
STALE_SECONDS = 120  # a worker's storage retries (about a minute) end well before this
STALE = "its worker stopped sending heartbeats (killed or cut off)"  # a stale trial's reason
REQUEUED = "; re-queued as a retry"  # what follows a reason when a retry was queued


def _journal(url: str | None) -> bool:
    return bool(url) and StorageURL(url).journal_file is not None


@contextlib.contextmanager
def heartbeat(trial: optuna.Trial, url: str | None = None) -> Iterator[None]:
    """Beat for ``trial`` every interval while the block runs: the RDB heartbeat where the
    storage keeps one (as ``study.optimize`` does), the ``alive`` attribute on a journal file
    at ``url``, else nothing. A beat the storage refuses, or one on a trial another worker
    ended meanwhile, is skipped: an outage is reported by the retried writes, not by a
    thread's traceback. Any other error is warned of once, and beating goes on: a live
    trial whose beats stopped would be taken for a dead one."""
    interval = getattr(trial.storage, "get_heartbeat_interval", lambda: None)()
    if interval:
        def beat() -> None:
            trial.storage.record_heartbeat(trial_id(trial))
    elif _journal(url):
        interval = HEARTBEAT_SECONDS

        def beat() -> None:
            trial.storage.set_trial_user_attr(trial_id(trial), ALIVE, storage_now(url))
    else:
        yield
        return
    stop = threading.Event()

    def beating() -> None:
        warned = False
        while True:
            try:
                beat()
            except Exception as exc:  # silent when ended by another worker, or in an outage
                if not (warned or is_transient(exc) or isinstance(exc, UpdateFinishedTrialError)):
                    print(f"warning: trial {trial.number}: a heartbeat failed "  # (the retried
                          f"({redact(first_line(exc))}); retrying every {interval} s",  # writes
                          file=sys.stderr)  # report an outage)
                    warned = True
            if stop.wait(interval):
                return

    thread = threading.Thread(target=beating, name=f"heartbeat-{trial_id(trial)}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def stale_trials(study: optuna.Study, url: str | None = None) -> list[FrozenTrial]:
    """The RUNNING trials whose worker's heartbeat stopped: by Optuna's RDB heartbeat, or, on
    a journal file, by an ``alive`` older than ``STALE_SECONDS``; and, given the storage's
    ``url`` (its clock), those that never beat, once marked ``unbeaten`` longer ago than that
    (this call marks the new ones)."""
    stale = [get_trial(study, storage_id) for storage_id in stale_trial_ids(study)]
    beaten = beaten_trial_ids(study)
    if not url or (beaten is None and not _journal(url)):
        return stale  # no clock to judge by, or a storage without heartbeats
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    alive = []  # a journal file's beat is the ``alive`` attribute
    if beaten is None:
        alive = [t for t in running if isinstance(t.user_attrs.get(ALIVE), (int, float))]
        beaten = {t._trial_id for t in alive}
    unbeaten = [t for t in running if t._trial_id not in beaten]
    if alive or unbeaten:
        now = storage_now(url)
        stale += [t for t in alive if now - t.user_attrs[ALIVE] > STALE_SECONDS]
        stale += _unbeaten_too_long(study, unbeaten, now)
    return stale


def _unbeaten_too_long(study: optuna.Study, unbeaten: list[FrozenTrial],
                       now: float) -> list[FrozenTrial]:
    """Of trials with no beat, those first found so longer than ``STALE_SECONDS`` ago; the
    others get their first finding's time (``now``) if they had none."""
    stale = []
    for trial in unbeaten:
        marked = trial.user_attrs.get(UNBEATEN)
        if not isinstance(marked, (int, float)) or isinstance(marked, bool):
            with contextlib.suppress(UpdateFinishedTrialError):  # its worker just ended it
                set_trial_user_attr(study, trial, UNBEATEN, now)
        elif now - marked > STALE_SECONDS:
            stale.append(trial)
    return stale


def is_taken_over(trial: FrozenTrial) -> bool:
    """Whether the trial was ended, and its retry queued, because its worker's heartbeat
    stopped (one with its retries used up is a failure like any other)."""
    reason = trial.user_attrs.get("fail_reason")
    return (trial.state == TrialState.FAIL and isinstance(reason, str)
            and reason == STALE + REQUEUED)


def taken_over(frozen: FrozenTrial, value: float | None, state: TrialState | None) -> bool:
    """Whether another worker ended the trial (judged it stale: its worker silent past
    ``STALE_SECONDS``) before this worker's tell of ``value`` and ``state`` landed."""
    valid = value is not None and not math.isnan(value)  # Optuna fails a NaN, nothing else
    told = state or (TrialState.COMPLETE if valid else TrialState.FAIL)
    return frozen.state != told or is_taken_over(frozen)
