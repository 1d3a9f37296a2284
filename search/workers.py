"""Several trial processes on one machine: one set per GPU, each with its share of it.

Small CNNs leave a big GPU mostly idle, so ``worker --processes K`` runs K
worker processes that join the same study (per GPU with ``--gpus``). Each
process sees only its own GPU and gets an equal slice of its memory and of
the CPU threads (search.execution.process_share_env). They share one study
through its storage, so that storage must serve several workers.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from rich.console import Console

from .errors import SearchError
from .execution import process_share_env

__all__ = ["spawn_workers", "worker_command"]

FORWARDED = (("--storage", "storage"), ("--trials", "trials"), ("--timeout", "timeout"),
             ("--steps-per-execution", "steps_per_execution"), ("--jit", "jit"),
             ("--data-placement", "data_placement"))


def worker_command(args: argparse.Namespace) -> list[str]:
    """The `search worker` command line each spawned process runs (one process, no spawning)."""
    command = [sys.executable, "-m", "search", "worker", args.study, "--studies-dir",
               args.studies_dir, "--max-failures", str(args.max_failures)]
    for flag, key in FORWARDED:
        value = getattr(args, key, None)
        if value is not None:
            command += [flag, str(value)]
    return command


def spawn_workers(args: argparse.Namespace, storage_url: str, console: Console) -> int:
    """Start ``--processes`` workers (per GPU with ``--gpus``); wait for all, return the worst exit."""
    devices = args.gpus.split(",") if args.gpus else [None]
    total = len(devices) * args.processes
    if total > 1 and storage_url.startswith("sqlite"):
        raise SearchError(
            f"{total} worker processes cannot share the SQLite study {storage_url}: SQLite serves "
            "one worker per study.",
            hint="Use PostgreSQL (--storage postgresql://user:pw@host/db) or Optuna's journal file "
                 "(--storage studies/NAME.log); `search run --storage ...` creates the study there.")
    processes = []
    for device in devices:
        env = {**os.environ, **process_share_env(args.processes)}
        if device is not None:
            env["CUDA_VISIBLE_DEVICES"] = device
        processes += [subprocess.Popen(worker_command(args), env=env) for _ in range(args.processes)]
    where = f"GPUs {args.gpus}" if args.gpus else "this machine"
    console.print(f"started {total} workers on {where} ({args.processes} per device)")
    return max(process.wait() for process in processes)
