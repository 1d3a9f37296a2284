"""The storage's clock: one time for every worker of a study, whatever their hosts' clocks say.

An ablation claim goes stale when its heartbeat is old; judging that with each
host's own clock lets a host whose clock runs ahead steal live claims. So the
heartbeat and the staleness check both read the storage's time: the database
server's for PostgreSQL and MySQL (as Optuna's RDB heartbeat does), the shared
file system's for a journal file (a touched file's modification time), and this
host's for SQLite (one worker per study, so one host).
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

from search.storage_url import StorageURL

__all__ = ["storage_now"]

_NOW = {"postgresql": "SELECT EXTRACT(EPOCH FROM CURRENT_TIMESTAMP)",
        "mysql": "SELECT UNIX_TIMESTAMP(NOW(6))"}


def storage_now(url: StorageURL | str) -> float:
    """Seconds since the epoch by the storage's clock."""
    url = StorageURL(url)
    for scheme, query in _NOW.items():
        if url.startswith(scheme):
            import sqlalchemy

            with _engine(url.secret()).connect() as connection:
                return float(connection.execute(sqlalchemy.text(query)).scalar())
    if url.journal_file:
        clock = Path(f"{url.journal_file}.clock")
        clock.touch()
        return clock.stat().st_mtime
    return time.time()


@functools.lru_cache(maxsize=8)
def _engine(secret_url: str):
    import sqlalchemy

    return sqlalchemy.create_engine(secret_url, pool_pre_ping=True, pool_size=1, max_overflow=1)
