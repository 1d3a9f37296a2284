"""Several workers on one study: an exact total, unique numbers, nothing left RUNNING."""

from __future__ import annotations

import subprocess
import sys
import uuid

import optuna
import pytest
from optuna.trial import TrialState

from conftest import write
from search.study.lifecycle import make_storage


SPACE = """
from search.knobs import Float
SPACE = {"conv": {"depth": 1, "filters": 8}, "head": {"layers": 0},
         "optimizer": {"learning_rate": Float(1e-3, 1e-2, log=True)}, "training": {"epochs": 1}}
DATA = {"name": "digits"}
"""


def search(*args: str, cwd) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "search", *args], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_three_workers_share_one_exact_budget(tmp_path, shared_storage_url):
    url = shared_storage_url
    name = f"w{uuid.uuid4().hex[:8]}"
    space = write(tmp_path, "w.py", SPACE)
    first = search("run", str(space), "--study", name, "--storage", url, "--trials", "1",
                   "--pruner", "none", cwd=tmp_path)
    assert first.wait(timeout=300) == 0, first.stderr.read()
    workers = [search("worker", name, "--storage", url, "--trials", "8", cwd=tmp_path)
               for _ in range(3)]
    for worker in workers:
        out, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err
        if "@" in url:
            assert url.split("@")[0].split(":")[-1] + "@" not in out + err  # no password shown
    study = optuna.load_study(study_name=name, storage=make_storage(url))
    numbers = [t.number for t in study.trials]
    assert len(numbers) == len(set(numbers)) == 8
    states = [(t.number, t.state.name, t.user_attrs.get("fail_reason"),
               t.system_attrs.get("fail_reason")) for t in study.trials]
    assert all(t.state == TrialState.COMPLETE for t in study.trials), states


@pytest.mark.slow
def test_workers_without_trials_follow_the_budget_run_stored(tmp_path, shared_storage_url):
    """`run --trials 4` plus two `worker`s that name no budget: exactly 4 trials, then all stop."""
    import time

    url = shared_storage_url
    name = f"b{uuid.uuid4().hex[:8]}"
    space = write(tmp_path, "w.py", SPACE)
    owner = search("run", str(space), "--study", name, "--storage", url, "--trials", "4",
                   "--pruner", "none", cwd=tmp_path)
    deadline = time.time() + 300
    while time.time() < deadline and owner.poll() is None:  # until the study and its budget exist
        try:
            if "budget" in optuna.load_study(study_name=name, storage=make_storage(url)).user_attrs:
                break
        except (KeyError, Exception):  # not created yet
            pass
        time.sleep(0.2)
    workers = [search("worker", name, "--storage", url, cwd=tmp_path) for _ in range(2)]
    for process in [owner, *workers]:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
    study = optuna.load_study(study_name=name, storage=make_storage(url))
    states = [(t.number, t.state.name, t.user_attrs.get("fail_reason")) for t in study.trials]
    assert len(study.trials) == 4 and all(t.state == TrialState.COMPLETE for t in study.trials), states
    late = search("worker", name, "--storage", url, cwd=tmp_path)
    out, err = late.communicate(timeout=300)
    assert late.returncode == 0 and "has 4 of its 4 trials; nothing left to run" in " ".join(out.split())


@pytest.mark.slow
def test_two_runs_starting_together_create_one_study(tmp_path, shared_storage_url):
    url = shared_storage_url
    name = f"c{uuid.uuid4().hex[:8]}"
    space = write(tmp_path, "w.py", SPACE)
    runs = [search("run", str(space), "--study", name, "--storage", url, "--trials", "2",
                   "--pruner", "none", cwd=tmp_path) for _ in range(2)]
    for process in runs:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
    study = optuna.load_study(study_name=name, storage=make_storage(url))
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    assert study.user_attrs["space"] and study.user_attrs["budget"]["trials"] == 2


def test_a_second_sqlite_worker_is_refused_with_what_to_use(tmp_path):
    from search.study.locks import SingleWorkerLock
    from search.errors import SearchError

    db = tmp_path / "studies" / "s" / "study.db"
    with SingleWorkerLock(db):
        with pytest.raises(SearchError) as info:
            SingleWorkerLock(db).__enter__()
    assert "SQLite serves one worker per study" in str(info.value)
    assert "PostgreSQL" in str(info.value) and "journal" in str(info.value)


def test_budget_counts_a_retry_as_its_original_trial(tmp_path):
    from search.study.budget import TrialBudget

    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'b.db'}")
    budget = TrialBudget(study, f"sqlite:///{tmp_path / 'b.db'}", total=2)
    assert budget.claim()
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    trial = study.trials[0]
    optuna.storages.RetryHeartbeatStaleTrialCallback()(study, trial)  # as if it had gone stale
    assert budget.counted() == 1 and budget.claim()  # the retry runs, it takes no new slot
    assert budget.waiting() == 1  # claiming a retry queues nothing new
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    assert len(study.trials) == 2 and study.trials[1].params == trial.params
    assert budget.claim()
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    assert not budget.claim() and budget.counted() == 2


def test_concurrent_claims_never_create_unbudgeted_trials(tmp_path):
    """Two claims before either pop (the race): each must have its own WAITING trial."""
    from search.study.budget import TrialBudget

    url = f"sqlite:///{tmp_path / 'r.db'}"
    study = optuna.create_study(storage=url)
    first, second = TrialBudget(study, url, total=3), TrialBudget(study, url, total=3)
    assert first.claim() and second.claim()
    assert first.waiting() == 2
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert len(study.trials) == 2 and first.waiting() == 0
    assert first.claim() and not second.claim()


def test_a_worker_whose_slot_another_took_still_runs_a_budgeted_trial(tmp_path, monkeypatch, storage_url):
    """The race behind a lost slot: A's pop reads the WAITING trials ([s1]); B enqueues s2 and
    pops s1; A finds s1 taken and Optuna creates a fresh trial for it, so the study reaches its
    total with s2 never run. With the pop under the budget's lock B waits, and each runs a slot."""
    import threading

    from search.study.budget import TrialBudget

    url = storage_url
    name = f"p{uuid.uuid4().hex[:8]}"
    first = optuna.create_study(study_name=name, storage=make_storage(url))
    second = optuna.load_study(study_name=name, storage=make_storage(url))
    budgets = TrialBudget(first, url, total=2), TrialBudget(second, url, total=2)
    second_done, threads = threading.Event(), []

    def second_worker() -> None:
        assert budgets[1].claim()
        second.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
        second_done.set()

    set_state = first._storage.set_trial_state_values

    def popping(trial_id, state, values=None):
        if state == TrialState.RUNNING and not threads:  # the first has read the WAITING trials
            threads.append(threading.Thread(target=second_worker))
            threads[0].start()
            second_done.wait(timeout=3)  # the second finishes here unless the pop holds the lock
        return set_state(trial_id, state, values)

    monkeypatch.setattr(first._storage, "set_trial_state_values", popping)
    assert budgets[0].claim()
    first.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    threads[0].join(timeout=120)
    trials = optuna.load_study(study_name=name, storage=make_storage(url)).trials
    states = [(t.number, t.state.name, "fixed_params" in t.system_attrs) for t in trials]
    assert states == [(0, "COMPLETE", True), (1, "COMPLETE", True)], states


@pytest.mark.slow
def test_gpus_flag_starts_one_worker_per_device(tmp_path):
    """No GPU here: each worker still runs (on CPU) with its own CUDA_VISIBLE_DEVICES."""
    url = str(tmp_path / "j.log")
    space = write(tmp_path, "w.py", SPACE)
    first = search("run", str(space), "--study", "g", "--storage", url, "--trials", "1",
                   "--pruner", "none", cwd=tmp_path)
    assert first.wait(timeout=300) == 0, first.stderr.read()
    spawner = search("worker", "g", "--storage", url, "--trials", "4", "--gpus", "0,1", cwd=tmp_path)
    out, err = spawner.communicate(timeout=600)
    assert spawner.returncode == 0, err
    assert "started 2 workers on GPUs 0,1 (1 per device)" in out
    study = optuna.load_study(study_name="g", storage=make_storage(url))
    assert len(study.trials) == 4 and all(t.state == TrialState.COMPLETE for t in study.trials)


@pytest.mark.slow
def test_run_with_processes_shares_the_study_between_local_workers(tmp_path):
    url = str(tmp_path / "p.log")
    space = write(tmp_path, "w.py", SPACE)
    spawner = search("run", str(space), "--study", "p", "--storage", url, "--trials", "5",
                     "--pruner", "none", "--processes", "2", "--steps-per-execution", "2",
                     cwd=tmp_path)
    out, err = spawner.communicate(timeout=600)
    assert spawner.returncode == 0, err
    assert "started 2 workers on this machine (2 per device)" in out
    study = optuna.load_study(study_name="p", storage=make_storage(url))
    states = [(t.number, t.state.name, t.user_attrs.get("fail_reason")) for t in study.trials]
    assert len(study.trials) == 5 and all(t.state == TrialState.COMPLETE for t in study.trials), states
    logs = sorted((tmp_path / "studies" / "p" / "logs").iterdir())
    assert [log.name for log in logs] == ["worker-cpu-0.log", "worker-cpu-1.log"]
    assert (tmp_path / "studies" / "p" / "best.yaml").exists()


def test_the_status_view_opens_the_storage_once_and_again_after_an_error(tmp_path, monkeypatch):
    """A new RDB storage per 2-second refresh would open a connection (and take the
    table-creation lock) each time; a failed read opens it afresh at the next refresh."""
    from rich.panel import Panel

    from search.report.status import status_panel
    from search.study import workers
    from search.study import lifecycle
    from search.storage_url import StorageURL

    url = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(study_name="s", storage=make_storage(url))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    opened = []
    monkeypatch.setattr(lifecycle, "make_storage", lambda u: opened.append(u) or make_storage(u))
    status = workers._StatusSource(workers.WorkerPlan("s", StorageURL(url), str(tmp_path)), status_panel)
    assert all(isinstance(status.panel(), Panel) for _ in range(3)) and len(opened) == 1
    missing = workers._StatusSource(workers.WorkerPlan("gone", StorageURL(url), str(tmp_path)), status_panel)
    assert missing.panel().startswith("study status unavailable for now")
    assert missing.panel().startswith("study status unavailable") and len(opened) == 3


def test_the_pop_takes_its_lock_with_retries_like_a_storage_write(tmp_path, monkeypatch):
    import sqlalchemy.exc

    from search.study import budget as budget_module

    url = f"sqlite:///{tmp_path / 'p.db'}"
    study = optuna.create_study(storage=make_storage(url))
    budget = budget_module.TrialBudget(study, url, total=1)
    assert budget.claim()
    real, failures = budget_module.storage_lock, []

    def restarting(name, storage_url):
        if len(failures) < 2:  # the database is restarting: the first two connections fail
            failures.append(name)
            raise sqlalchemy.exc.OperationalError("SELECT pg_advisory_lock", {}, OSError("restart"))
        return real(name, storage_url)

    monkeypatch.setattr(budget_module, "storage_lock", restarting)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    assert len(failures) == 2
    assert [(t.state, "fixed_params" in t.system_attrs) for t in study.trials] == [
        (TrialState.COMPLETE, True)]


def test_a_worker_stopped_between_claim_and_pop_leaves_its_slot_to_the_next(tmp_path, shared_storage_url):
    """A SIGTERM after a claim, before Optuna pops the slot: the slot stays WAITING with no
    owner. Released, it is taken over by the next claim, so the study still ends with exactly
    its total, every trial run."""
    from search.study.budget import TrialBudget

    url = shared_storage_url
    name = f"r{uuid.uuid4().hex[:8]}"
    stopped = TrialBudget(optuna.create_study(study_name=name, storage=make_storage(url)), url, 2)
    assert stopped.claim() and stopped.waiting() == 1
    stopped.release_unpopped()  # what the runner does when the stop lands before the pop
    study = optuna.load_study(study_name=name, storage=make_storage(url))
    successor = TrialBudget(study, url, 2)
    while successor.claim():
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    states = [t.state for t in optuna.load_study(study_name=name, storage=make_storage(url)).trials]
    assert states == [TrialState.COMPLETE] * 2, states
