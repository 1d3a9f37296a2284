"""CPU cores lent to benchmark jobs, shared by every benchmark process on the machine.

Each core has a lock file; a job holds the locks of its cores (``flock``, released by the
kernel if the process dies) while it runs. Several benchmark processes started at once
(bench/evaluation.sh runs one per task) therefore share the cores without ever running
two jobs on one core, and a core one process leaves idle is taken by another's next job.
"""

from __future__ import annotations

import contextlib
import fcntl
import tempfile
import time
from pathlib import Path
from typing import IO, Iterator, Sequence

__all__ = ["lent_cores", "busy_cores", "LOCKS"]

LOCKS = Path(tempfile.gettempdir()) / "search-bench-cores"


@contextlib.contextmanager
def lent_cores(choices: Sequence[Sequence[int]], *, poll: float = 2.0,
               folder: Path = LOCKS) -> Iterator[list[int]]:
    """The first of ``choices`` (core sets) whose cores are all free, held for the block;
    waits, checking every ``poll`` seconds, while every set has a busy core."""
    folder.mkdir(parents=True, exist_ok=True)
    while True:
        for cores in choices:
            held = _try_lock(cores, folder)
            if held is not None:
                try:
                    yield list(cores)
                finally:
                    for handle in held:
                        handle.close()  # closing the file releases its lock
                return
        time.sleep(poll)


def _try_lock(cores: Sequence[int], folder: Path) -> list[IO] | None:
    """The open, locked files of ``cores``, or None (nothing held) if one is busy."""
    held: list[IO] = []
    for core in cores:
        handle = open(folder / f"core-{core}.lock", "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            for other in held:
                other.close()
            return None
        held.append(handle)
    return held


def busy_cores(cores: Sequence[int], folder: Path = LOCKS) -> list[int]:
    """Which of ``cores`` a job holds now (for tests and for a look from outside)."""
    busy = []
    for core in cores:
        held = _try_lock([core], folder)
        if held is None:
            busy.append(core)
        else:
            held[0].close()
    return busy

