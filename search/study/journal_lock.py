"""The journal file's append lock: a kernel file lock instead of Optuna's lock files.

Optuna's journal locks are files (a symlink, or one created with O_EXCL) that a
killed holder leaves behind. So a waiter breaks one after 30 seconds without a
write to the journal, and then the holder's own release raises
``RuntimeError('Error: did not possess lock')``: a slow disk flush becomes a
trial recorded as a training failure. And with a relative journal path inside a
folder (``--storage studies/sweep.log``) the symlink dangles, so a waiter
spins at full CPU and never breaks a stale lock: every worker hangs.

``flock`` has neither problem: the kernel drops the lock when its holder dies,
and a waiter sleeps until it is free. The budget's lock (search/study/budget.py)
already relies on ``flock`` on the same disk.
"""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import IO

__all__ = ["JournalFileFlock"]


class JournalFileFlock:
    """A lock for ``optuna.storages.journal.JournalFileBackend(path, lock_obj=...)``.

    Each acquire opens its own handle, so threads of one process exclude each other too.
    """

    def __init__(self, journal: str | Path) -> None:
        self.path = Path(f"{journal}.append.lock")
        self._handle: IO[str] | None = None

    def acquire(self) -> bool:
        """Block until this handle holds the exclusive flock on the lock file; return True."""
        handle = open(self.path, "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
        except BaseException:  # interrupted while waiting: nothing held
            handle.close()
            raise
        self._handle = handle
        return True

    def release(self) -> None:
        """Unlock and close the handle; does nothing when not held."""
        handle, self._handle = self._handle, None
        if handle is not None:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
