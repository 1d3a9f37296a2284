"""The journal file's append lock: waited for, never broken, never left behind by a killed worker."""

from __future__ import annotations

import subprocess
import sys
import threading

import optuna

from search.study.journal_lock import JournalFileFlock
from search.study.lifecycle import make_storage

HOLD_THEN_SLEEP = """
import sys, time
from search.study.lifecycle import make_storage
make_storage(sys.argv[1])._backend._lock.acquire()  # as an append does, before it writes
print("held", flush=True)
time.sleep(600)
"""


def _in_thread(work) -> threading.Event:
    done = threading.Event()
    threading.Thread(target=lambda: (work(), done.set()), daemon=True).start()
    return done


def test_a_worker_killed_while_appending_leaves_no_lock_behind(tmp_path, monkeypatch):
    """Optuna's own lock is a file: a killed holder leaves it, and with a relative journal path
    inside a folder its symlink dangles, so every other worker spins forever."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "studies").mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD_THEN_SLEEP, "studies/sweep.log"],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait(timeout=60)
    done = _in_thread(lambda: optuna.create_study(study_name="s",
                                                  storage=make_storage("studies/sweep.log")))
    assert done.wait(timeout=30), "the journal stayed locked after its holder was killed"


def test_an_append_waits_for_a_slow_holder_and_then_succeeds(tmp_path):
    """Appends wait while the lock is held, however long (a stalled disk flush): the lock in
    use is the kernel's, which no waiter breaks (Optuna's own is broken after 30 s)."""
    journal = tmp_path / "j.log"
    study = optuna.create_study(study_name="s", storage=make_storage(str(journal)))
    slow = JournalFileFlock(journal)
    slow.acquire()
    done = _in_thread(lambda: study.set_user_attr("note", "written after the holder"))
    try:
        assert not done.wait(timeout=0.5), "an append went ahead while another held the lock"
    finally:
        slow.release()
    assert done.wait(timeout=60)
    assert optuna.load_study(study_name="s", storage=make_storage(str(journal))).user_attrs == {
        "note": "written after the holder"}
