"""`worker STUDY`: join a stored study (or start several workers here), and the speed settings
every training command applies to its process."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rich.console import Console

from search.commands.requests import load_existing_study, settings_from_study, storage_for
from search.errors import SearchError
from search.report.status import status_panel
from search.storage_url import StorageURL

__all__ = ["configure_execution", "worker", "worker_plan"]


def configure_execution(args: argparse.Namespace) -> None:
    """This process's speed settings from the execution flags (search/model/execution.py)."""
    import keras

    from search.model.execution import Execution, configure, enable_compile_cache, limit_gpu_memory

    steps = args.steps_per_execution
    if steps and steps > 1 and keras.backend.backend() == "torch":
        raise SearchError(f"--steps-per-execution {steps}: the PyTorch backend runs one step per "
                          "call; use 1, or KERAS_BACKEND=jax or tensorflow.")
    default = Execution()
    configure(Execution(steps_per_execution=steps or default.steps_per_execution,
                        jit=args.jit or default.jit, data=args.data_placement or default.data))
    enable_compile_cache(Path("~/.cache/search/jax-compile"))
    limit_gpu_memory()


def worker(args: argparse.Namespace, console: Console) -> int:
    """`worker`: join a stored study as one worker (or start several); return the exit status."""
    from search.study.runner import RunOptions, run_study

    if args.gpus or args.processes > 1:
        from search.study.workers import spawn_workers

        storage = storage_for(args.study, args.storage, args.studies_dir)
        return spawn_workers(worker_plan(args, args.study, storage, args.trials, args.timeout),
                             console, status_panel)
    settings = settings_from_study(args.study, args.storage, args.studies_dir)
    if os.environ.get("SLURM_JOB_ID"):  # a job resubmitted by hand is recorded like any other
        from search.commands.slurm_jobs import record_own_job

        record_own_job(load_existing_study(args.study, args.storage, args.studies_dir))
    run_study(settings, RunOptions(trials=args.trials, timeout=args.timeout,
                                   max_failures=args.max_failures,
                                   checkpoint_dir=args.checkpoint_dir), console)
    return 0


def worker_plan(args: argparse.Namespace, study: str, storage: StorageURL, trials: int | None,
                timeout: float | None):
    """``--processes``/``--gpus``: the worker processes to start, each one trial at a time."""
    from search.study.workers import WorkerPlan

    options = {"--trials": trials, "--timeout": timeout, "--max-failures": args.max_failures,
               "--steps-per-execution": args.steps_per_execution, "--jit": args.jit,
               "--data-placement": args.data_placement,
               "--checkpoint-dir": getattr(args, "checkpoint_dir", None)}
    return WorkerPlan(study, StorageURL(storage), args.studies_dir, args.processes, args.gpus, options)
