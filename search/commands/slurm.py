"""`slurm FILE --workers N`: create (or open) a study on a shared storage and submit its
workers to Slurm as one job array; `--dry-run` prints the script and does nothing else."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.console import Console

from search.cluster.sbatch import (MAX_STALLED_REQUEUES, SlurmResources, SweepJob, slurm_seconds,
                                   sweep_script)
from search.cluster.scheduler import check_submission, submit
from search.cluster.shared_fs import shared_path_problem
from search.commands.requests import run_request
from search.commands.slurm_jobs import SLURM_JOB_PREFIX
from search.errors import SearchError, shown
from search.storage_url import STORAGE_ENV, StorageURL

__all__ = ["slurm", "sweep_job"]


def slurm(args: argparse.Namespace, console: Console) -> int:
    """`slurm`: write studies/NAME/slurm/sweep.sbatch and submit it (or print it); return 0."""
    if args.storage_env:
        args.storage = _storage_from_env(args.storage_env)
    request = run_request(args)
    settings = request.settings
    _check_storage(settings.storage)
    job = sweep_job(args, settings.name, settings.storage)
    if args.check_shared:
        _check_shared(job, settings.storage, args.checkpoint_dir)
    script = sweep_script(job)
    if args.dry_run:
        sys.stdout.write(script)  # as it is: no markup, no wrapping
        return 0
    check_submission(script)  # Slurm's own refusal comes before the study is created
    study = _create_study(args, request, console)
    job.folder.mkdir(parents=True, exist_ok=True)
    path = job.folder / "sweep.sbatch"
    path.write_text(script)
    secret = settings.storage.passwords()
    try:
        job_id = submit(path, {STORAGE_ENV: settings.storage.secret()} if secret else None)
    except SearchError as exc:
        raise SearchError(f"{exc} The study '{settings.name}' was created and its budget started.",
                          hint=f"Submit the script again once Slurm takes it: sbatch --export=ALL {path}"
                          + (f" (with {STORAGE_ENV} set)" if secret else "") + "; if sbatch did "
                          f"not answer, first check `squeue --me --name search-{settings.name}`: "
                          "the job may be queued already.") from None
    study.set_user_attr(SLURM_JOB_PREFIX + str(job_id),
                        {"job": job_id, "workers": job.resources.workers, "script": str(path)})
    follow = f"python -m search status {settings.name} --studies-dir {args.studies_dir}"
    if settings.storage.journal_file is not None:
        follow += f" --storage {settings.storage.journal_file}"
    elif secret or settings.storage.is_url:
        follow += f" (with {STORAGE_ENV} set to the storage URL)"
    console.print(f"submitted Slurm job {job_id}: {job.resources.workers} workers of study "
                  f"'{settings.name}' ({path}); logs in {job.folder}/. Follow it with: {follow}",
                  soft_wrap=True)
    return 0


def sweep_job(args: argparse.Namespace, name: str, storage: StorageURL) -> SweepJob:
    """The job array the flags describe; every path absolute (the job starts elsewhere)."""
    resources = SlurmResources(
        workers=args.workers, cpus_per_worker=args.cpus_per_worker or 1,
        gpus_per_worker=args.gpus_per_worker or 0, mem=args.mem, time=args.slurm_time,
        partition=args.partition, account=args.account, qos=args.qos, extra=tuple(args.sbatch),
        signal_lead=args.signal_lead or 120,
        max_stalled_requeues=(MAX_STALLED_REQUEUES if args.max_stalled_requeues is None
                              else args.max_stalled_requeues))
    worker_args = ["--max-failures", str(args.max_failures)]
    if storage.journal_file is not None:
        worker_args += ["--storage", str(storage.journal_file.resolve())]
    elif not storage.passwords():  # a URL without a password (libpq reads ~/.pgpass) may be shown
        worker_args += ["--storage", storage.secret()]
    if args.checkpoint_dir:
        worker_args += ["--checkpoint-dir", str(args.checkpoint_dir.resolve())]
    _check_lead(resources)
    activate = args.activate.resolve() if args.activate else None
    if activate is not None and not activate.is_file():
        raise SearchError(f"--activate '{args.activate}': no such file.",
                          hint="Give a virtual environment's bin/activate.")
    job = SweepJob(study=name, studies_dir=Path(args.studies_dir).resolve(), workdir=Path.cwd(),
                   python="python" if activate else sys.executable, resources=resources,
                   worker_args=tuple(worker_args), activate=activate)
    for flag, path in (("--studies-dir", job.studies_dir), ("the current folder", job.workdir),
                       ("--activate", activate), ("--checkpoint-dir", args.checkpoint_dir)):
        if path is not None and any(c in '"\\' or ord(c) < 32 for c in str(path)):
            raise SearchError(f"{flag} {shown(str(path))}: a path with a quote, a backslash or a "
                              "control character cannot be written into an sbatch script.")
    return job


def _check_lead(resources: SlurmResources) -> None:
    limit = slurm_seconds(resources.time) if resources.time else 0  # 0: no time limit
    if limit and resources.signal_lead >= limit:
        raise SearchError(f"--signal-lead {resources.signal_lead}: the warning would come before "
                          f"the task starts (--time {resources.time}).",
                          hint="Give a longer --time or a shorter --signal-lead (default 120 s).")


def _storage_from_env(variable: str) -> str:
    value = os.environ.get(variable)
    if not value:
        raise SearchError(f"--storage-env {variable}: the environment variable is not set.",
                          hint=f"export {variable}=postgresql://user:password@host/db first.")
    return value


def _check_storage(storage: StorageURL) -> None:
    if storage.sqlite_file is not None:
        raise SearchError(
            f"--storage '{storage}': SQLite is one file on one machine, written by one worker at a "
            "time; Slurm's workers run on many nodes at once.",
            hint="Use a PostgreSQL or MySQL URL, or a journal file (e.g. studies/NAME.log) on a "
                 "filesystem every node sees.")


def _check_shared(job: SweepJob, storage: StorageURL, checkpoint_dir: Path | None) -> None:
    for flag, path in (("--studies-dir", job.studies_dir), ("--storage", storage.journal_file),
                       ("--checkpoint-dir", checkpoint_dir)):
        problem = path is not None and shared_path_problem(path)
        if problem:
            raise SearchError(f"{flag} '{path}': {problem}.",
                              hint="Put it on the cluster's shared filesystem (e.g. under your "
                                   "home or project folder), or leave out --check-shared.")


def _create_study(args: argparse.Namespace, request, console: Console):
    """The study, created (or its resume checked) with its budget stored, as `run` does."""
    from search.commands.run import create_for_workers, warm_start_entries
    from search.study.runner import RunOptions

    options = RunOptions(trials=request.trials, timeout=request.timeout,
                         max_failures=args.max_failures, owns_budget=True,
                         warm_start=warm_start_entries(args, request.settings))
    return create_for_workers(request.settings, options, console)
