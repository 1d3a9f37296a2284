"""Whether a RUNNING trial's worker is alive: its heartbeat, and the trials whose heartbeat stopped.

On a database (SQLite, PostgreSQL) Optuna's RDB heartbeat is used: the storage's own table,
judged by the database server's clock. A journal file has no heartbeat of its own, so a
trial there carries one in its ``alive`` user attribute, the storage's clock (the shared file
system's time, :mod:`search.study.storage_clock`) refreshed every ``HEARTBEAT_SECONDS``. A trial
with no heartbeat yet (just popped, or from an older version) is not judged.
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
from search.study.optuna_internals import get_trial, stale_trial_ids, trial_id
from search.study.storage_clock import storage_now
from search.study.storage_retry import first_line, is_transient

__all__ = ["ALIVE", "HEARTBEAT_SECONDS", "STALE_SECONDS", "STALE", "REQUEUED", "heartbeat",
           "stale_trials", "taken_over", "is_taken_over"]

ALIVE = "alive"  # a journal trial's heartbeat: the storage clock's time at its last beat
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
    a journal file at ``url``, by an ``alive`` older than ``STALE_SECONDS``."""
    stale = [get_trial(study, storage_id) for storage_id in stale_trial_ids(study)]
    if _journal(url):
        beating = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                   if isinstance(t.user_attrs.get(ALIVE), (int, float))]
        if beating:
            now = storage_now(url)
            stale += [t for t in beating if now - t.user_attrs[ALIVE] > STALE_SECONDS]
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
