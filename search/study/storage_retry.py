"""Infrastructure trouble is not a training failure: storage writes retried with backoff.

A trial writes to the study's storage every epoch. When the database is restarted
or a shared disk hiccups, that write fails for reasons that have nothing to do
with the model: it is retried with exponential backoff, and if the storage stays
away, :class:`StorageUnavailable` ends the run cleanly (the trial keeps its
checkpoint and is re-queued) instead of recording the trial as a failed model.
"""

from __future__ import annotations

import time
from typing import Any, Callable, TypeVar

import optuna
import sqlalchemy.exc

from search.storage_url import redact
from search.errors import InfrastructureError

__all__ = ["StorageUnavailable", "with_storage_retry", "BACKOFF_SECONDS", "is_transient", "first_line"]

T = TypeVar("T")
BACKOFF_SECONDS = (0.5, 1, 2, 4, 8, 16, 30)  # about a minute: a database restart fits in it
TRANSIENT = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError,
             sqlalchemy.exc.DisconnectionError, OSError)


def is_transient(exc: BaseException) -> bool:
    """A connection-type error: the storage is away, not the write wrong. Optuna's RDB storage
    wraps every database error of a session as ``StorageInternalError``; its cause decides."""
    if isinstance(exc, optuna.exceptions.StorageInternalError):
        exc = exc.__cause__
    return isinstance(exc, TRANSIENT)


class StorageUnavailable(InfrastructureError, RuntimeError):
    """The storage could not be reached after every retry; the run stops, nothing is lost."""


def with_storage_retry(write: Callable[..., T], *args: Any, what: str = "storage write",
                       delays: tuple[float, ...] = BACKOFF_SECONDS, **kwargs: Any) -> T:
    """``write(*args, **kwargs)``, retried on connection-type errors only."""
    for delay in (*delays, None):
        try:
            return write(*args, **kwargs)
        except Exception as exc:
            if not is_transient(exc):
                raise
            if delay is None:
                raise StorageUnavailable(f"{what} failed {len(delays) + 1} times over "
                                         f"{sum(delays):.0f} s: {redact(first_line(exc))}") from None
            time.sleep(delay)
    raise AssertionError("unreachable")


def first_line(exc: Exception) -> str:
    """The error's first line (at most 200 characters), for a one-line message."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
