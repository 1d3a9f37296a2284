"""Claims and heartbeats read the storage's clock (here: the same host, so close to ours)."""

from __future__ import annotations

import os
import time

import pytest

from search.study.storage_clock import storage_now


def storages(tmp_path):
    found = {"sqlite": f"sqlite:///{tmp_path / 's.db'}", "journal": str(tmp_path / "j.log")}
    if os.environ.get("SEARCH_TEST_POSTGRES"):
        found["postgresql"] = os.environ["SEARCH_TEST_POSTGRES"]
    return found


@pytest.mark.parametrize("kind", ["sqlite", "journal", "postgresql"])
def test_the_storage_clock_reads_the_storages_time(tmp_path, kind):
    url = storages(tmp_path).get(kind)
    if url is None:
        pytest.skip("set SEARCH_TEST_POSTGRES to a PostgreSQL URL (bash .ci/run does)")
    before = time.time()
    now = storage_now(url)
    assert before - 2 <= now <= time.time() + 2  # the server runs on this machine
    assert storage_now(url) >= now - 0.01
