"""The locks workers share: one per study for its budget (a PostgreSQL advisory lock, or a file
lock beside a SQLite database or journal file), and SQLite's one-worker-per-study lock."""

from __future__ import annotations

import contextlib
import fcntl
import threading
import zlib
from pathlib import Path
from typing import Iterator

from search.errors import SearchError
from search.storage_url import StorageURL

__all__ = ["storage_lock", "SingleWorkerLock", "sqlite_path", "journal_path"]


def sqlite_path(url: StorageURL | str) -> Path | None:
    """The SQLite database file of ``url``, or None for another kind of storage."""
    return StorageURL(url).sqlite_file


def journal_path(url: StorageURL | str) -> Path | None:
    """The journal file of ``url``, or None for another kind of storage."""
    return StorageURL(url).journal_file


_HELD = threading.local()  # the locks this thread holds, with how many blocks hold each


@contextlib.contextmanager
def storage_lock(study_name: str, url: StorageURL | str) -> Iterator[None]:
    """One lock per study shared by every worker of that storage (across hosts for PostgreSQL).

    Re-entrant within a thread, and released when the last block holding it ends. A stop
    that lands between taking the lock and entering the block that releases it leaves it
    held until that frame is gone; the clean-up it triggers (releasing a claim) must not
    then wait for itself.
    """
    postgres = url.startswith("postgresql")
    path = sqlite_path(url) or journal_path(url)
    if path is None and not postgres:  # in-memory: one process, nothing to share
        yield
        return
    key = f"{StorageURL(url)}/{study_name}" if postgres else str(path)
    held = _HELD.__dict__.setdefault("locks", {})
    if key not in held:
        stack = contextlib.ExitStack()
        stack.enter_context(_advisory_lock(study_name, url) if postgres else _file_lock(path))
        held[key] = [0, stack]
    held[key][0] += 1
    try:
        yield
    finally:
        held[key][0] -= 1
        if held[key][0] == 0:
            held.pop(key)[1].close()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(f"{path}.budget.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _advisory_lock(study_name: str, url: StorageURL | str) -> Iterator[None]:
    import sqlalchemy

    key = zlib.crc32(f"search-budget/{study_name}".encode())
    engine = sqlalchemy.create_engine(StorageURL(url).secret(), poolclass=sqlalchemy.pool.NullPool)
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": key})
        try:
            yield
        finally:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
    engine.dispose()


class SingleWorkerLock:
    """SQLite serves one worker per study: a second one is refused with what to use instead.

    Holding this lock also proves that any RUNNING trial in the file is stale
    (its worker died), so it can be failed and retried at once.
    """

    def __init__(self, db: Path) -> None:
        self.path = Path(f"{db}.worker.lock")
        self.handle = None

    def __enter__(self) -> SingleWorkerLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.path, "a")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.close()
            raise SearchError(
                f"another worker is already running on {self.path.with_suffix('')}; SQLite serves "
                "one worker per study.",
                hint="For several workers use PostgreSQL (--storage postgresql://user:pw@host/db) "
                     "or Optuna's journal file on a shared disk (--storage /shared/NAME.log).") from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.handle:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
