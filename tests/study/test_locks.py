"""search/study/locks.py: the study's lock excludes other threads and processes, and a thread
that holds it already does not wait for itself (a stop that lands between taking the lock and
the block that releases it, then the clean-up that takes it again); it is released when the
last block holding it ends."""

from __future__ import annotations

import fcntl
import uuid
import zlib

import pytest
import sqlalchemy

from conftest import storage_for_kind
from search.study.locks import journal_path, sqlite_path, storage_lock


def held_elsewhere(url: str, name: str) -> bool:
    """Whether another holder (a new file handle, another connection) would have to wait."""
    if url.startswith("postgresql"):
        key = zlib.crc32(f"search-budget/{name}".encode())
        engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
        with engine.connect() as connection:
            got = connection.execute(sqlalchemy.text("SELECT pg_try_advisory_lock(:k)"),
                                     {"k": key}).scalar()
            if got:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        engine.dispose()
        return not got
    with open(f"{sqlite_path(url) or journal_path(url)}.budget.lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


pytestmark = pytest.mark.timeout(120)  # a lock that waits for itself fails here, not hangs


@pytest.mark.parametrize("kind", ["sqlite", "journal", "postgresql"])
def test_the_lock_is_reentrant_in_its_thread_and_held_until_the_last_block_ends(tmp_path, kind):
    url, name = storage_for_kind(kind, tmp_path), f"s{uuid.uuid4().hex[:8]}"
    assert not held_elsewhere(url, name)
    with storage_lock(name, url):
        with storage_lock(name, url):  # would wait for itself if the lock were not re-entrant
            assert held_elsewhere(url, name)
        assert held_elsewhere(url, name)  # the outer block still holds it
    assert not held_elsewhere(url, name)


def test_a_lock_left_held_by_an_interrupted_entry_stays_held_while_a_later_block_runs(tmp_path):
    url = storage_for_kind("sqlite", tmp_path)
    leaked = storage_lock("s", url)
    leaked.__enter__()  # a stop landed before the block that would release it
    with storage_lock("s", url):  # the clean-up: no self-deadlock
        leaked.__exit__(None, None, None)  # the interrupted entry's frame goes meanwhile
        assert held_elsewhere(url, "s")  # still held for the block that runs
    assert not held_elsewhere(url, "s")
