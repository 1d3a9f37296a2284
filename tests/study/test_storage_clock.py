"""Claims and heartbeats read the storage's clock (here: the same host, so close to ours)."""

from __future__ import annotations

import time


from search.study.storage_clock import storage_now


def test_the_storage_clock_reads_the_storages_time(storage_url):
    url = storage_url
    before = time.time()
    now = storage_now(url)
    assert before - 2 <= now <= time.time() + 2  # the server runs on this machine
    assert storage_now(url) >= now - 0.01
