"""The sbatch script of a sweep: a job array whose every task runs one study worker.

Time limits and preemption lose nothing. The script asks Slurm for SIGUSR2 a while
before the time limit (``--signal=B:USR2@N``, to the script's shell, as submitit does);
the shell stops the worker with SIGTERM, the worker keeps the running trial's checkpoint,
re-queues the trial and exits with status 130 (143 when the signal came before it had set
its handler, still starting: nothing to keep then), and the shell then requeues its own
array task (``scontrol requeue``); started again, the task picks up the re-queued trial
from its last finished epoch. A task whose starts keep ending before an epoch or a trial
finishes (an epoch longer than its time limit) is requeued only ``--max-stalled-requeues``
times in a row. A SIGTERM (``scancel``, or preemption, after which Slurm requeues the
task itself) stops the worker the same way, but the script does not requeue the task: a
cancelled sweep stays cancelled, its trial re-queued for whoever resumes the study.
Nothing secret is written here: the storage URL's password reaches the job through its
environment (``SEARCH_STORAGE``, set when submitting) or ``~/.pgpass``.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass
from pathlib import Path

from search.cluster.progress_mark import PROGRESS_ENV
from search.inputs import parse_duration

__all__ = ["SlurmResources", "SweepJob", "sweep_script", "slurm_time", "slurm_seconds",
           "INTERRUPTED_STATUS", "TERMINATED_STATUS", "NO_LIMIT", "MAX_STALLED_REQUEUES"]

INTERRUPTED_STATUS = 130  # a worker's exit status after a stop (search.errors.EXIT_INTERRUPTED)
TERMINATED_STATUS = 143  # 128 + SIGTERM: a worker stopped before it set its handler
NO_LIMIT = ("UNLIMITED", "INFINITE")  # Slurm's words for no time limit (as is 0)
MAX_STALLED_REQUEUES = 3  # starts in a row that finished nothing, each requeued; the next not
PROGRESS_FOLDER = "progress"  # in the sweep's folder: each task's progress mark and stall count


@dataclass(frozen=True)
class SlurmResources:
    """What each array task asks Slurm for; None: the cluster's default."""

    workers: int
    cpus_per_worker: int = 1
    gpus_per_worker: int = 0
    mem: str | None = None
    time: str | None = None
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    extra: tuple[str, ...] = ()
    signal_lead: int = 120
    max_stalled_requeues: int = MAX_STALLED_REQUEUES  # requeues in a row after starts that
    # finished nothing

    def directives(self) -> list[str]:
        """The resource options, as sbatch takes them."""
        given = [("--ntasks", 1), ("--cpus-per-task", self.cpus_per_worker),
                 ("--gpus-per-task", self.gpus_per_worker or None), ("--mem", self.mem),
                 ("--time", slurm_time(self.time) if self.time else None),
                 ("--partition", self.partition), ("--account", self.account), ("--qos", self.qos)]
        return [f"{flag}={value}" for flag, value in given if value is not None] + list(self.extra)


@dataclass(frozen=True)
class SweepJob:
    """One sweep of study ``study``: where it runs and what each worker is told."""

    study: str
    studies_dir: Path  # absolute; on the filesystem every node shares
    workdir: Path  # absolute; the job starts here
    python: str  # the interpreter that runs `python -m search worker`
    resources: SlurmResources
    worker_args: tuple[str, ...] = ()  # e.g. --storage for a journal file, --max-failures
    activate: Path | None = None  # a virtual environment's bin/activate, sourced first

    @property
    def folder(self) -> Path:
        """studies/NAME/slurm: the script and the tasks' logs."""
        return self.studies_dir / self.study / "slurm"


def slurm_time(value: str) -> str:
    """A time limit as Slurm writes it: its own forms kept (UNLIMITED and INFINITE in capitals),
    ``8h`` or ``90m`` as D-HH:MM:SS."""
    text = str(value).strip()
    if text.upper() in NO_LIMIT:
        return text.upper()
    if not any(c.isalpha() for c in text):
        return text
    seconds = math.ceil(parse_duration(text))  # never 0, which Slurm reads as no limit
    days, rest = divmod(seconds, 86400)
    return f"{days}-{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"


def slurm_seconds(value: str) -> int:
    """Seconds of a time limit in Slurm's forms (minutes, MM:SS, HH:MM:SS, D-HH[:MM[:SS]])
    or ours (8h); 0 for no limit (0, UNLIMITED, INFINITE)."""
    text = slurm_time(value)
    if text in NO_LIMIT:
        return 0
    days, _, clock = text.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    if days:  # D-HH, D-HH:MM, D-HH:MM:SS
        parts += [0] * (3 - len(parts))
        return int(days) * 86400 + parts[0] * 3600 + parts[1] * 60 + parts[2]
    if len(parts) == 1:  # minutes
        return parts[0] * 60
    if len(parts) == 2:  # minutes:seconds
        return parts[0] * 60 + parts[1]
    return parts[0] * 3600 + parts[1] * 60 + parts[2]


def sweep_script(job: SweepJob) -> str:
    """The whole sbatch script: directives, then the worker under a signal trap."""
    res = job.resources
    folder = job.folder
    directives = [f"--job-name=search-{job.study}", f"--array=0-{res.workers - 1}",
                  f'--output="{_escape_pattern(folder)}/%A_%a.out"', "--open-mode=append",
                  "--requeue",
                  f"--signal=B:USR2@{res.signal_lead}", *res.directives()]
    worker = [job.python, "-m", "search", "worker", job.study, "--studies-dir",
              str(job.studies_dir), *job.worker_args]
    lines = [
        "#!/bin/bash",
        f"# {res.workers} workers of study '{job.study}', written by `python -m search slurm`.",
        "# Submit again (e.g. more workers later): sbatch --export=ALL "
        f"{shlex.quote(str(folder / 'sweep.sbatch'))}",
        "# No password here: the job reads the storage URL from $SEARCH_STORAGE (set when",
        "# submitting) or from the command below, and a PostgreSQL password from ~/.pgpass.",
        *(f"#SBATCH {d}" for d in directives),
        f"cd {shlex.quote(str(job.workdir))}",
    ]
    if job.activate:  # before set -u: conda's and older virtualenvs' scripts read unset variables
        lines.append(f"source {shlex.quote(str(job.activate))}")
    lines += [
        "set -u",
        'echo "search: array task ${SLURM_ARRAY_TASK_ID} of job ${SLURM_ARRAY_JOB_ID} on '
        '$(hostname), restart ${SLURM_RESTART_COUNT:-0}"',
        "# The time-limit warning (or scancel --batch --signal=USR2): stop, then requeue this task.",
        "# SIGTERM (scancel, preemption): stop; Slurm decides about the task. Set before the",
        "# worker starts, so a signal that comes first is kept and passed on.",
        "worker='' requeue=0 stopping=0",
        "# The worker creates this file when an epoch or a trial ends (progress in this start).",
        f"mkdir -p {shlex.quote(str(folder / PROGRESS_FOLDER))}",
        f'progress={shlex.quote(str(folder / PROGRESS_FOLDER))}/"${{SLURM_ARRAY_JOB_ID}}_'
        '${SLURM_ARRAY_TASK_ID}"',
        f'rm -f "$progress"; export {PROGRESS_ENV}="$progress"',
        "stop() { stopping=1; [ -z \"$worker\" ] || kill -TERM \"$worker\" 2>/dev/null; }",
        "trap 'requeue=1; stop' USR2",
        "trap 'stop' TERM",
        " ".join(shlex.quote(part) for part in worker) + " &",
        "worker=$!",
        '[ "$stopping" -eq 0 ] || kill -TERM "$worker" 2>/dev/null',
        "# A trapped signal ends a wait early: wait again until the worker is gone, then once",
        "# more for its own exit status (bash keeps it).",
        'while kill -0 "$worker" 2>/dev/null; do wait "$worker"; done',
        'wait "$worker"; status=$?',
        *_requeue_lines(job),
        'exit "$status"',
    ]
    return "\n".join(lines) + "\n"


def _requeue_lines(job: SweepJob) -> list[str]:
    """After the time-limit warning: requeue the task, unless its last starts in a row (more
    than ``max_stalled_requeues``) each ended without an epoch or a trial finished: an epoch
    longer than the time a task has would otherwise requeue it without end."""
    most = job.resources.max_stalled_requeues
    script = shlex.quote(shlex.quote(str(job.folder / "sweep.sbatch")))  # printed as typed
    return [
        f'if [ "$requeue" -eq 1 ] && {{ [ "$status" -eq {INTERRUPTED_STATUS} ] || '
        f'[ "$status" -eq {TERMINATED_STATUS} ]; }}; then',
        "  stalls=0",
        '  if [ ! -e "$progress" ]; then  # a start that finished nothing: count it',
        '    { read -r stalls < "$progress.stalls"; } 2>/dev/null || stalls=0',
        "    case \"$stalls\" in ''|*[!0-9]*) stalls=0 ;; esac",
        "    stalls=$((10#$stalls + 1))",
        "  fi",
        '  echo "$stalls" > "$progress.stalls"',
        f'  if [ "$stalls" -gt {most} ]; then',
        '    echo "search: worker stopped; its trial is re-queued; array task '
        '${SLURM_ARRAY_TASK_ID} is not requeued: its last ${stalls} starts finished no epoch '
        f'before the time limit (--max-stalled-requeues {most}). Give the tasks more time:"',
        f"    echo '  sbatch --time=LONGER --export=ALL' {script}",
        "  else",
        '    echo "search: worker stopped; its trial is re-queued; requeueing array task '
        '${SLURM_ARRAY_TASK_ID}"',
        '    scontrol requeue "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"',
        "  fi",
        "fi",
    ]


def _escape_pattern(path: Path) -> str:
    """A path as sbatch's --output reads it: a literal % written %% (%j, %A are patterns)."""
    return str(path).replace("%", "%%")
