"""CPU cores lent to benchmark jobs, shared by every benchmark process on the machine.

Each core has a lock file; a job holds the locks of its cores (``flock``) while it runs,
and the processes it starts hold them too (``Cores.fds``, passed on with ``pass_fds``), so
a core stays taken until the last of them ends, even when the benchmark process that lent
it is killed. Several benchmark processes started at once (bench/evaluation.sh runs one per
task) therefore share the cores without ever running two jobs on one core, and a core one
process leaves idle is taken by another's next job. Processes that take no lock (anything
but these benchmarks) are not seen.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import IO, Iterator, Sequence

__all__ = ["Cores", "lent_cores", "busy_cores", "LOCKS"]

LOCKS = Path(os.environ.get("SEARCH_BENCH_CORE_LOCKS", "/tmp/search-bench-cores"))


class Cores(list):
    """The lent core numbers; ``fds``: their locked files, for the job's processes to hold."""

    fds: tuple[int, ...] = ()


@contextlib.contextmanager
def lent_cores(choices: Sequence[Sequence[int]], *, poll: float = 2.0,
               folder: Path = LOCKS) -> Iterator[Cores]:
    """The first of ``choices`` (core sets) whose cores are all free, held for the block;
    waits, checking every ``poll`` seconds, while every set has a busy core."""
    folder.mkdir(parents=True, exist_ok=True)
    while True:
        for choice in choices:
            held = _try_lock(choice, folder)
            if held is not None:
                cores = Cores(choice)
                cores.fds = tuple(handle.fileno() for handle in held)
                try:
                    yield cores
                finally:
                    for handle in held:
                        handle.close()  # the lock goes once no process holds the file
                return
        time.sleep(poll)


def _try_lock(cores: Sequence[int], folder: Path) -> list[IO] | None:
    """The open, locked files of ``cores``, or None (nothing held) if one is busy."""
    held: list[IO] = []
    try:
        for core in cores:
            held.append(open(folder / f"core-{core}.lock", "a"))
            fcntl.flock(held[-1], fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        for handle in held:
            handle.close()
        return None
    except BaseException:
        for handle in held:
            handle.close()
        raise
    return held


def busy_cores(cores: Sequence[int], folder: Path = LOCKS) -> list[int]:
    """Which of ``cores`` a job holds now (for tests and for a look from outside)."""
    folder.mkdir(parents=True, exist_ok=True)
    busy = []
    for core in cores:
        held = _try_lock([core], folder)
        if held is None:
            busy.append(core)
        else:
            held[0].close()
    return busy
