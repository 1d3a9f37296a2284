"""`slurm` against a real single-node Slurm: an exact budget over 4 array tasks, a stopped task
requeued and its trial resumed from its last epoch, a cancelled one not requeued but its trial
kept, no password anywhere Slurm shows."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
import pytest

from conftest import POSTGRES_URL, wait_until_gone, write
from search.study.lifecycle import make_storage
from search.study.checkpoint import checkpoint_epoch

pytestmark = pytest.mark.slow

SPACE = """
from search.knobs import Float
SPACE = {"conv": {"depth": 1, "filters": 8}, "head": {"layers": 0},
         "optimizer": {"learning_rate": Float(1e-3, 1e-2, log=True)}, "training": {"epochs": 1}}
DATA = {"name": "digits"}
"""
LONG = """
SPACE = {"conv": {"depth": 1, "filters": 8}, "head": {"layers": 0},
         "training": {"epochs": 25, "batch_size": 16}}
DATA = {"name": "digits"}
"""


def submit(tmp_path: Path, *args: str, env: dict | None = None) -> tuple[str, str]:
    done = subprocess.run([sys.executable, "-m", "search", "slurm", *args], cwd=tmp_path, text=True,
                          capture_output=True, timeout=300, env={**os.environ, **(env or {})})
    assert done.returncode == 0, done.stderr
    job = re.search(r"submitted Slurm job (\d+)", done.stdout)
    assert job, done.stdout
    return job.group(1), done.stdout + done.stderr


@pytest.mark.parametrize("kind", ["journal", "postgresql"])
def test_four_array_tasks_finish_exactly_the_budget_and_show_no_password(tmp_path, slurm, kind):
    if kind == "postgresql" and not POSTGRES_URL:
        pytest.skip("set SEARCH_TEST_POSTGRES to a PostgreSQL URL (bash .ci/run does)")
    url = POSTGRES_URL if kind == "postgresql" else str(tmp_path / "sweep.log")
    name = f"s{uuid.uuid4().hex[:8]}"
    space = write(tmp_path, "s.py", SPACE)
    job, said = submit(tmp_path, str(space), "--study", name, "--workers", "4", "--trials", "8",
                       "--storage-env", "SWEEP_DB", env={"SWEEP_DB": url})
    shown = [said, (tmp_path / f"studies/{name}/slurm/sweep.sbatch").read_text()]
    shown += [subprocess.run(argv, capture_output=True, text=True).stdout for argv in
              (["scontrol", "show", "job", job], ["squeue", "-r", "-j", job, "-o", "%all"])]
    wait_until_gone(job)
    study = optuna.load_study(study_name=name, storage=make_storage(url))
    states = [t.state.name for t in study.trials]
    assert len(states) == 8 and set(states) <= {"COMPLETE", "PRUNED"}, states
    shown += [log.read_text() for log in (tmp_path / f"studies/{name}/slurm").glob("*.out")]
    assert len(shown) == 4 + 4  # four task logs
    password = "pg-Secret-4417"  # the role .ci/run creates
    assert not any(password in text for text in shown)
    if kind == "journal":
        assert f"--storage {url}" in shown[1]  # a journal path has no secret: named in the script
    status = subprocess.run([sys.executable, "-m", "search", "status", name, "--storage", url],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert f"Slurm jobs {job}" in status.stdout and password not in status.stdout + status.stderr


def test_a_stopped_task_is_requeued_and_its_trial_resumes_from_its_last_epoch(tmp_path, slurm):
    url = str(tmp_path / "long.log")
    space = write(tmp_path, "long.py", LONG)
    job, _ = submit(tmp_path, str(space), "--study", "long", "--workers", "1", "--trials", "1",
                    "--pruner", "none", "--storage", url, "--checkpoint-dir", "shared-checkpoints")
    checkpoint = tmp_path / "shared-checkpoints/long/trial-0"
    deadline = time.monotonic() + 600
    while (checkpoint_epoch(checkpoint) or 0) < 2:
        assert time.monotonic() < deadline, "the trial never reached its second epoch"
        time.sleep(0.2)
    # What Slurm's --signal=B:USR2@N does before a time limit, sent by hand:
    subprocess.run(["scancel", "--batch", "--signal=USR2", f"{job}_0"], check=True)
    deadline = time.monotonic() + 600
    shown = ""
    while not ("JobState=PENDING" in shown and "Restarts=1" in shown):
        assert time.monotonic() < deadline, f"the array task was never requeued:\n{shown}"
        time.sleep(0.5)
        shown = subprocess.run(["scontrol", "--oneliner", "show", "job", f"{job}_0"],
                               capture_output=True, text=True).stdout
    # The requeued task starts again once its old credential has expired (cred_expire, 20 s
    # in .ci/slurm.sh): forcing an earlier start makes slurmd refuse it as revoked.
    wait_until_gone(job)
    trials = optuna.load_study(study_name="long", storage=make_storage(url)).trials
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE"]  # the budget of 1 holds
    assert trials[0].user_attrs["fail_reason"].startswith("interrupted")
    assert trials[1].user_attrs["resumed_from_epoch"] >= 2
    assert len(trials[1].user_attrs["history"]) == 25
    log = (tmp_path / "studies/long/slurm").glob("*.out").__next__().read_text()
    assert "requeueing array task 0" in log and "restart 1" in log
    # The stopped start had finished epochs (the worker marked them): no stall counted.
    assert (tmp_path / f"studies/long/slurm/progress/{job}_0.stalls").read_text() == "0\n"


def test_a_cancelled_sweep_stays_cancelled_and_its_trial_waits_to_resume(tmp_path, slurm):
    url = str(tmp_path / "long.log")
    space = write(tmp_path, "long.py", LONG)
    job, _ = submit(tmp_path, str(space), "--study", "long", "--workers", "1", "--trials", "1",
                    "--pruner", "none", "--storage", url)
    checkpoint = tmp_path / "studies/long/checkpoints/trial-0"
    deadline = time.monotonic() + 600
    while (checkpoint_epoch(checkpoint) or 0) < 1:
        assert time.monotonic() < deadline, "the trial never finished an epoch"
        time.sleep(0.2)
    subprocess.run(["scancel", job], check=True)
    wait_until_gone(job)
    trials = optuna.load_study(study_name="long", storage=make_storage(url)).trials
    assert [t.state.name for t in trials] == ["FAIL", "WAITING"]  # re-queued for a later worker
    assert checkpoint.is_dir()
    log = (tmp_path / "studies/long/slurm").glob("*.out").__next__().read_text()
    assert "requeueing" not in log
