"""Several trial processes on one machine: K per GPU, or K sharing the CPU.

Small CNNs leave a big GPU mostly idle, so ``--processes K`` runs K worker
processes that join the same study (K per GPU with ``--gpus``). Each sees only
its own GPU and gets an equal slice of its memory and of the CPU threads
(search.model.execution.process_share_env). They share the study through its
storage, which must therefore serve several workers (PostgreSQL or a journal
file). Each worker's output goes to ``studies/STUDY/logs/``; this process
shows the study's status until all are done, and passes SIGTERM/Ctrl-C on so
every running trial is recorded and resumable.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import optuna
from rich.console import Console
from rich.live import Live

from search.errors import SearchError
from search.model.execution import process_share_env
from search.storage_url import STORAGE_ENV, StorageURL

__all__ = ["WorkerPlan", "spawn_workers"]


@dataclass
class WorkerPlan:
    """What every spawned worker runs: ``search worker STUDY`` with these options."""

    study: str
    storage: StorageURL
    studies_dir: str
    processes: int = 1
    gpus: str | None = None
    options: dict[str, object] = field(default_factory=dict)  # flag -> value, None left out

    def command(self) -> list[str]:
        """The worker's argv; the storage URL travels in the environment (see ``env``)."""
        command = [sys.executable, "-m", "search", "worker", self.study,
                   "--studies-dir", self.studies_dir]
        for flag, value in self.options.items():
            if value is not None:
                command += [flag, str(value)]
        return command

    def devices(self) -> list[str | None]:
        """The GPUs given to ``--gpus``, one worker group each; [None] for the default device."""
        return self.gpus.split(",") if self.gpus else [None]

    @property
    def total(self) -> int:
        """How many worker processes: ``processes`` per device."""
        return len(self.devices()) * self.processes

    def check(self) -> None:
        """Refuse, before anything starts, a storage that cannot serve these workers."""
        if self.total > 1 and self.storage.startswith("sqlite"):
            raise SearchError(
                f"{self.total} worker processes cannot share the SQLite study {self.storage}: "
                "SQLite serves one worker per study.",
                hint="Use PostgreSQL (--storage postgresql://user:pw@host/db) or Optuna's journal "
                     "file (--storage studies/NAME.log).")


def spawn_workers(plan: WorkerPlan, console: Console,
                  view: Callable[[optuna.Study], Any]) -> int:
    """Start the workers, show ``view(study)`` (the status panel) until they end, and return
    the worst exit status."""
    plan.check()
    total = plan.total
    logs = Path(plan.studies_dir) / plan.study / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    processes = [_start(plan, device, index, logs) for device in plan.devices()
                 for index in range(plan.processes)]
    where = f"GPUs {plan.gpus}" if plan.gpus else "this machine"
    console.print(f"started {total} workers on {where} ({plan.processes} per device); "
                  f"their output: {logs}/")
    try:
        _watch(plan, processes, console, view)
    except KeyboardInterrupt:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait()
        raise
    return max(process.returncode for process in processes)


def _start(plan: WorkerPlan, device: str | None, index: int, logs: Path) -> subprocess.Popen:
    env = {**os.environ, **process_share_env(plan.processes), STORAGE_ENV: plan.storage.secret()}
    if device is not None:
        env["CUDA_VISIBLE_DEVICES"] = device
    log = open(logs / f"worker-{'gpu' + device if device else 'cpu'}-{index}.log", "a")
    return subprocess.Popen(plan.command(), env=env, stdout=log, stderr=subprocess.STDOUT)


def _watch(plan: WorkerPlan, processes: list[subprocess.Popen], console: Console,
           view: Callable[[optuna.Study], Any]) -> None:
    """The study's status panel, refreshed while any worker runs (SIGTERM ends it like Ctrl-C)."""
    from search.study.stop_signal import StopSignal

    previous = signal.signal(signal.SIGTERM, StopSignal.handler)
    status = _StatusSource(plan, view)
    try:
        with Live(status.panel(), console=console, refresh_per_second=1, transient=True) as live:
            while any(process.poll() is None for process in processes):
                time.sleep(2)
                live.update(status.panel())
    finally:
        signal.signal(signal.SIGTERM, previous)
    console.print(status.panel())


class _StatusSource:
    """The study's status panel, read through one storage opened once: a new RDB storage per
    refresh would open a connection and take the table-creation lock every 2 seconds."""

    def __init__(self, plan: WorkerPlan, view: Callable[[optuna.Study], Any]) -> None:
        self.plan, self.view, self.storage = plan, view, None

    def panel(self) -> Any:
        from search.study.lifecycle import make_storage

        try:
            self.storage = self.storage or make_storage(self.plan.storage)
            return self.view(optuna.load_study(study_name=self.plan.study, storage=self.storage))
        except Exception as exc:  # a busy journal file or a server blip: show it, keep watching
            self.storage = None  # and open the storage afresh at the next refresh
            return f"study status unavailable for now: {self.plan.storage.redact(str(exc))}"
