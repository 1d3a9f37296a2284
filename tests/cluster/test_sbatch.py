"""search/cluster/sbatch.py: the sweep's script. Its directives, the worker's command line,
no secret in it, and the signal trap that passes a stop on once and requeues the task."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from search.cluster.sbatch import SlurmResources, SweepJob, slurm_seconds, slurm_time, sweep_script


def job(tmp_path: Path, **resources) -> SweepJob:
    return SweepJob(study="s1", studies_dir=tmp_path / "studies", workdir=tmp_path,
                    python="/venv/bin/python", resources=SlurmResources(**{"workers": 4, **resources}),
                    worker_args=("--storage", str(tmp_path / "s1.log")))


def test_the_script_asks_for_an_array_a_warning_signal_and_requeue(tmp_path):
    text = sweep_script(job(tmp_path, gpus_per_worker=1, mem="16G", time="8h", partition="gpu",
                            account="lab", qos="low", extra=("--constraint=a100",), signal_lead=300))
    directives = [line[len("#SBATCH "):] for line in text.splitlines() if line.startswith("#SBATCH ")]
    assert directives == [
        "--job-name=search-s1", "--array=0-3", f'--output="{tmp_path}/studies/s1/slurm/%A_%a.out"',
        "--open-mode=append", "--requeue", "--signal=B:USR2@300", "--ntasks=1", "--cpus-per-task=1",
        "--gpus-per-task=1", "--mem=16G", "--time=0-08:00:00", "--partition=gpu", "--account=lab",
        "--qos=low", "--constraint=a100"]
    assert f"/venv/bin/python -m search worker s1 --studies-dir {tmp_path}/studies --storage " \
           f"{tmp_path}/s1.log &" in text
    assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0


@pytest.mark.parametrize("given, written", [
    ("90", "90"), ("8:00:00", "8:00:00"), ("2-12", "2-12"), ("8h", "0-08:00:00"),
    ("1h30m", "0-01:30:00"), ("36h", "1-12:00:00"), ("0.4s", "0-00:00:01"), ("unlimited", "UNLIMITED"),
    ("Infinite", "INFINITE")])
def test_time_limits_keep_slurms_forms_and_convert_durations(given, written):
    assert slurm_time(given) == written


@pytest.mark.parametrize("given, seconds", [
    ("90", 5400), ("2:30", 150), ("1:00:00", 3600), ("2-12", 216000), ("1-02:03", 93780),
    ("8h", 28800), ("0", 0), ("UNLIMITED", 0), ("infinite", 0)])
def test_time_limits_in_every_slurm_form_read_as_seconds(given, seconds):
    assert slurm_seconds(given) == seconds


def test_paths_with_spaces_are_quoted_for_the_shell(tmp_path):
    folder = tmp_path / "my studies"
    text = sweep_script(SweepJob("s1", folder, folder, "python", SlurmResources(1),
                                 activate=folder / "venv/bin/activate"))
    assert f"cd '{folder}'" in text and f"source '{folder}/venv/bin/activate'" in text


def test_a_percent_sign_in_the_studies_folder_is_no_slurm_pattern_in_the_log_path(tmp_path):
    folder = tmp_path / "100%j"
    text = sweep_script(SweepJob("s1", folder, folder, "python", SlurmResources(1)))
    assert f'#SBATCH --output="{tmp_path}/100%%j/s1/slurm/%A_%a.out"' in text


def test_an_activate_script_that_reads_unset_variables_runs_before_the_script_turns_strict(tmp_path):
    """conda's activate (and older virtualenvs') read unset variables such as PS1."""
    activate = tmp_path / "activate"
    activate.write_text(': "$PS1_NOT_SET_ANYWHERE"\nexport ACTIVATED=yes\n')
    lines = sweep_script(SweepJob("s1", tmp_path, tmp_path, "python", SlurmResources(1),
                                  activate=activate)).splitlines()
    text = "\n".join(f"sh -c 'echo $ACTIVATED > {tmp_path}/worker.log' &" if " worker s1 " in line
                     else line for line in lines)
    env = {k: v for k, v in os.environ.items() if k != "PS1_NOT_SET_ANYWHERE"}
    done = subprocess.run(["bash", "-c", text], env={**env, "SLURM_ARRAY_JOB_ID": "7",
                                                     "SLURM_ARRAY_TASK_ID": "0"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "worker.log").read_text() == "yes\n"


FAKE_WORKER = """#!/usr/bin/env python3
import os, pathlib, signal, sys, time
log = pathlib.Path(sys.argv[1])
stops = []
def stop(signum, frame):
    stops.append(signum)
    with log.open("a") as f:
        f.write("TERM\\n")
signal.signal(signal.SIGTERM, stop)
if sys.argv[2:] == ["progress"]:  # an epoch finished (search.cluster.progress_mark)
    pathlib.Path(os.environ["SEARCH_PROGRESS_FILE"]).touch()
log.write_text("started\\n")
while not stops:  # until stopped, as a training worker
    time.sleep(0.01)
time.sleep(0.5)  # the window in which a second copy of the signal would arrive
sys.exit(130)
"""


STARTING_WORKER = """#!/usr/bin/env python3
import pathlib, sys, time
pathlib.Path(sys.argv[1]).write_text("started\\n")
time.sleep(600)  # still starting (importing Keras, loading data): no handler for SIGTERM yet
"""


@pytest.mark.parametrize("sent, requeued, worker_text, status, stalls, progress, after", [
    (signal.SIGUSR2, True, FAKE_WORKER, 130, None, False, "1"),
    (signal.SIGTERM, False, FAKE_WORKER, 130, None, False, None),
    (signal.SIGUSR2, True, STARTING_WORKER, 143, None, False, "1"),
    (signal.SIGTERM, False, STARTING_WORKER, 143, None, False, None),
    (signal.SIGUSR2, True, FAKE_WORKER, 130, "2", False, "3"),  # the third stall in a row
    (signal.SIGUSR2, False, FAKE_WORKER, 130, "3", False, "4"),  # the fourth: stays stopped
    (signal.SIGUSR2, True, FAKE_WORKER, 130, "3", True, "0")])  # progress: the count restarts
def test_the_warning_stops_the_worker_and_requeues_the_task_and_a_cancel_only_stops(
        tmp_path, sent, requeued, worker_text, status, stalls, progress, after):
    """The script under plain bash, with a stand-in worker (exits 130 as a stopped worker does,
    or is killed by SIGTERM while still starting) and a stand-in scontrol that records its
    arguments: Slurm's time-limit warning (USR2) requeues the task, scancel's TERM does not,
    and neither does the warning after more than --max-stalled-requeues (3) starts in a row
    that finished no epoch (the worker marks one in $SEARCH_PROGRESS_FILE)."""
    marks = tmp_path / "studies" / "s1" / "slurm" / "progress"
    if stalls is not None:  # earlier starts of this task (one left a stale progress mark)
        marks.mkdir(parents=True)
        (marks / "7_1.stalls").write_text(stalls + "\n")
        (marks / "7_1").touch()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path}/scontrol.args\n")
    (bin_dir / "scontrol").chmod(0o755)
    worker = tmp_path / "worker.py"
    worker.write_text(worker_text)
    lines = sweep_script(job(tmp_path)).splitlines()
    mark = " progress" if progress else ""
    text = "\n".join(f"{sys.executable} {worker} {tmp_path}/worker.log{mark} &"
                     if " worker s1 " in line else line for line in lines)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_ARRAY_JOB_ID": "7",
           "SLURM_ARRAY_TASK_ID": "1"}
    shell = subprocess.Popen(["bash", "-c", text], env=env, text=True, stdout=subprocess.PIPE)
    log = tmp_path / "worker.log"
    deadline = time.monotonic() + 30
    while not (log.exists() and "started" in log.read_text()):
        assert time.monotonic() < deadline and shell.poll() is None
        time.sleep(0.05)
    shell.send_signal(sent)
    out, _ = shell.communicate(timeout=60)
    if worker_text == FAKE_WORKER:
        assert log.read_text() == "started\nTERM\n"  # the worker is stopped by SIGTERM, once
    assert shell.returncode == status
    if requeued:
        assert (tmp_path / "scontrol.args").read_text().split() == ["requeue", "7_1"]
        assert "requeueing array task 1" in out
    else:
        assert not (tmp_path / "scontrol.args").exists()
    if after is None:
        assert not (marks / "7_1.stalls").exists()
    else:
        assert (marks / "7_1.stalls").read_text() == after + "\n"
    if stalls == "3" and not progress:
        assert ("array task 1 is not requeued: its last 4 starts finished no epoch before the "
                "time limit (--max-stalled-requeues 3)") in out
        assert f"sbatch --time=LONGER --export=ALL {tmp_path}/studies/s1/slurm/sweep.sbatch" in out
