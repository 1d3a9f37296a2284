"""search/cluster/scheduler.py: Slurm's commands as a user calls them; a refusal or a missing
Slurm is one sentence."""

from __future__ import annotations

from pathlib import Path

import pytest

from search.cluster.scheduler import _tasks, array_tasks, require_slurm, submit
from search.errors import SearchError

LINE = ("JobId=12 ArrayJobId=11 ArrayTaskId=1 JobName=search-s1 UserId=u(1000) JobState=PENDING "
        "Reason=BeginTime Dependency=(null) Requeue=1 Restarts=2 BatchFlag=1")


def test_a_task_line_gives_its_name_state_reason_and_restarts():
    [task] = _tasks(LINE)
    assert (task.job, task.state, task.reason, task.restarts) == ("11_1", "PENDING", "BeginTime", 2)


def test_tasks_not_started_yet_are_one_record_per_range_and_shown_one_by_one():
    waiting = LINE.replace("ArrayTaskId=1", "ArrayTaskId=0-2,5%2")
    assert [t.job for t in _tasks(waiting)] == ["11_0", "11_1", "11_2", "11_5"]


def test_without_slurm_on_path_the_user_is_told_where_to_run(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SearchError, match="'sbatch' is not on PATH: this machine is not a Slurm"):
        require_slurm("sbatch")
    assert array_tasks(["1"]) == "scontrol is not on PATH here: the Slurm tasks are not shown"


def fake(tmp_path: Path, name: str, body: str) -> None:
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def test_submit_returns_the_job_id_and_hands_the_secret_through_the_environment(tmp_path, monkeypatch):
    fake(tmp_path, "sbatch", f'echo "$SEARCH_STORAGE" > {tmp_path}/env; echo "$@" > {tmp_path}/args; '
                             'echo "42;cluster"')
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    monkeypatch.setenv("SBATCH_EXPORT", "NONE")  # a site's profile: the command line wins
    assert submit(tmp_path / "s.sbatch", {"SEARCH_STORAGE": "postgresql://u:pw-9@h/db"}) == "42"
    assert (tmp_path / "env").read_text().strip() == "postgresql://u:pw-9@h/db"
    assert (tmp_path / "args").read_text().split() == ["--export=ALL", "--parsable",
                                                       str(tmp_path / "s.sbatch")]


def test_slurms_refusal_is_a_sentence_with_urls_redacted(tmp_path, monkeypatch):
    fake(tmp_path, "sbatch", 'echo "sbatch: error: Batch job submission failed: Invalid account '
                             'for postgresql://u:pw-9@h/db" >&2; exit 1')
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    with pytest.raises(SearchError) as caught:
        submit(tmp_path / "s.sbatch")
    assert str(caught.value).startswith("Slurm refused: sbatch: error: Batch job submission "
                                        "failed: Invalid account") and "pw-9" not in str(caught.value)
