"""Slurm's commands, called as a user would: ``sbatch`` to submit, ``scontrol`` to read the
array tasks back. Slurm's own refusals come back as one sentence, never a traceback."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from search.errors import SearchError
from search.storage_url import redact

__all__ = ["submit", "check_submission", "array_tasks", "ArrayTask", "require_slurm"]

TIMEOUT = 60  # seconds for one Slurm command; a busy controller answers well within it


@dataclass(frozen=True)
class ArrayTask:
    """One array task as ``scontrol show job`` reports it."""

    job: str  # 123_4
    state: str  # PENDING, RUNNING, COMPLETED, ...
    reason: str
    restarts: int


def require_slurm(command: str = "sbatch") -> str:
    """The path of a Slurm command; a SearchError when it is not on PATH."""
    found = shutil.which(command)
    if not found:
        raise SearchError(f"'{command}' is not on PATH: this machine is not a Slurm submit host.",
                          hint="Run this on the cluster's login node, or use --dry-run to "
                               "print the script.")
    return found


def submit(script: Path, env: dict[str, str] | None = None) -> str:
    """``sbatch --export=ALL --parsable SCRIPT``; the job id. ``env`` is added to the submitting
    environment, which sbatch hands whole to the job (``--export=ALL`` on the command line
    overrides an SBATCH_EXPORT a site's profile may set)."""
    out = _slurm([require_slurm("sbatch"), "--export=ALL", "--parsable", str(script)],
                 {**os.environ, **(env or {})})
    job = out.strip().split(";")[0]
    if not re.fullmatch(r"\d+", job):
        raise SearchError(f"sbatch answered '{redact(out.strip())}', not a job id.")
    return job


def check_submission(script: str) -> None:
    """``sbatch --test-only``: Slurm checks the script's partition, account, QOS and
    resources and submits nothing; a refusal is a SearchError before anything is created."""
    try:
        _slurm([require_slurm("sbatch"), "--export=ALL", "--test-only"], dict(os.environ), script)
    except SearchError as exc:
        raise SearchError(str(exc).replace("Slurm refused:", "Slurm refused the sweep:"),
                          hint="Nothing was submitted or created; check --partition, "
                               "--account, --qos and the resources.") from None


def array_tasks(job_ids: list[str]) -> list[ArrayTask] | str:
    """Each array task of these jobs still known to Slurm, or a sentence saying why the queue
    could not be read (no Slurm here, the controller away)."""
    if not shutil.which("scontrol"):
        return "scontrol is not on PATH here: the Slurm tasks are not shown"
    tasks = []
    for job in job_ids:
        try:
            out = _slurm(["scontrol", "--oneliner", "show", "job", job], dict(os.environ))
        except SearchError as exc:
            if "Invalid job id" in str(exc):
                continue  # finished long enough ago that Slurm forgot it
            return str(exc)
        tasks += [task for line in out.splitlines() if line.strip() for task in _tasks(line)]
    return tasks


def _tasks(line: str) -> list[ArrayTask]:
    """The array tasks of one ``scontrol --oneliner`` line: one, or (tasks not started yet,
    which Slurm keeps as one record) each of its range ``0-3``, ``1,4-6`` or ``0-7%2``."""
    fields = dict(re.findall(r"(\w+)=(\S*)", line))
    job = fields.get("ArrayJobId", fields.get("JobId"))
    ids = []
    for part in fields.get("ArrayTaskId", "").split("%")[0].split(","):
        low, _, high = part.partition("-")
        ids += [str(i) for i in range(int(low), int(high) + 1)] if high.isdigit() and \
            low.isdigit() else [part]
    return [ArrayTask(f"{job}_{i}", fields.get("JobState", "?"), fields.get("Reason", ""),
                      int(fields.get("Restarts", 0) or 0)) for i in ids]


def _slurm(argv: list[str], env: dict[str, str], stdin: str | None = None) -> str:
    try:
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env,
                              timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise SearchError(f"{Path(argv[0]).name} did not answer in {TIMEOUT} s; is slurmctld "
                          "running?") from None
    if done.returncode:
        said = " ".join(redact(done.stderr or done.stdout).split()) or f"exit status {done.returncode}"
        raise SearchError(f"Slurm refused: {said}")
    return done.stdout
