"""search/study/locks.py: the study's lock excludes other threads and processes, and a thread
that holds it already does not wait for itself (a stop that lands between taking the lock and
the block that releases it, then the clean-up that takes it again)."""

from __future__ import annotations

import threading

import pytest

from conftest import storage_for_kind
from search.study.locks import storage_lock


@pytest.mark.parametrize("kind", ["sqlite", "journal", "postgresql"])
def test_the_lock_is_reentrant_in_its_thread_and_excludes_another(tmp_path, kind):
    url, taken = storage_for_kind(kind, tmp_path), threading.Event()

    def other_worker() -> None:
        with storage_lock("s", url):
            taken.set()
    with storage_lock("s", url):
        with storage_lock("s", url):  # would wait for itself if the lock were not re-entrant
            thread = threading.Thread(target=other_worker)
            thread.start()
        assert not taken.wait(0.3)  # still held by the outer block
    assert taken.wait(30)
    thread.join()


def test_a_lock_left_held_by_an_interrupted_entry_is_still_taken_by_its_thread(tmp_path):
    url = storage_for_kind("sqlite", tmp_path)
    leaked = storage_lock("s", url)
    leaked.__enter__()  # a stop landed before the block that would release it
    with storage_lock("s", url):  # the clean-up: no self-deadlock
        pass
    leaked.__exit__(None, None, None)
    done = threading.Event()
    threading.Thread(target=lambda: storage_lock("s", url).__enter__() and None or done.set()).start()
    assert done.wait(30)  # released once the interrupted entry is gone
