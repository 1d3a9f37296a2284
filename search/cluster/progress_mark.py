"""A mark that a worker made progress, for the Slurm task that restarts it.

A sweep's array task is requeued at its time limit and started again; one whose every start
ends at the limit before an epoch finishes (an epoch longer than the time it has) would be
requeued without end. So the task's script names a file in ``SEARCH_PROGRESS_FILE`` and
removes it at each start, the worker creates it when an epoch or a trial ends, and the
script requeues a task whose starts made no progress only a few times in a row.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["PROGRESS_ENV", "mark_progress", "marking_progress"]

PROGRESS_ENV = "SEARCH_PROGRESS_FILE"
_marked: set[str] = set()  # files this process has created already


def marking_progress() -> bool:
    """Whether this process was asked to mark its progress (it runs in a Slurm task)."""
    return bool(os.environ.get(PROGRESS_ENV))


def mark_progress() -> None:
    """Create the file ``SEARCH_PROGRESS_FILE`` names, once per process; nothing without it.
    A file system that refuses is no reason to stop training: the task then counts this
    start as one without progress."""
    path = os.environ.get(PROGRESS_ENV)
    if not path or path in _marked:
        return
    with contextlib.suppress(OSError):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).touch()
        _marked.add(path)
