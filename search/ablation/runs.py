"""Where ablation runs live, and the runner that trains each distinct run once.

Runs are keyed by the config's digest (which includes the seed), so a run
shared by two views is trained once, and a store that persists runs (the
study's Optuna storage) makes an interrupted ablation resume where it stopped.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

from search.space.config import Config
from search.study.stop_signal import StopSignal

__all__ = ["RunStore", "MemoryRunStore", "Runner", "Job", "Objective"]

Objective = Callable[[Config], float]  # may also have fuses(configs) and train_group(configs)
Job = tuple[Config, str, str]  # config (with its seed), view, component


class RunStore(Protocol):
    """Where runs live. ``claim`` lets several workers share one ablation: a run is
    trained by the worker that claims it; the others wait for its value."""

    def get(self, key: str) -> float | None:
        """The run's value if it finished (NaN if it diverged), else None."""

    def claim(self, key: str, *, config: Config, view: str, component: str) -> bool:
        """Take the run for this worker; False if it finished or another worker holds it."""

    def put(self, key: str, value: float, *, config: Config, view: str, component: str,
            seconds: float | None = None) -> None:
        """Store the value of a run this worker claimed, and the seconds of training it took
        (its share of a group's when seeds trained together)."""

    def working(self, key: str) -> contextlib.AbstractContextManager:
        """A context held while the claimed run trains, keeping the claim alive."""


@dataclass
class MemoryRunStore:
    """Runs kept in a dict: for tests and one-off ablations (one process)."""

    values: dict[str, float] = field(default_factory=dict)

    def get(self, key: str) -> float | None:
        """The stored value, or None."""
        return self.values.get(key)

    def claim(self, key: str, *, config: Config, view: str, component: str) -> bool:
        """True for any run not stored yet: in one process nobody else trains it."""
        return key not in self.values

    def put(self, key: str, value: float, *, config: Config, view: str, component: str,
            seconds: float | None = None) -> None:
        """Keep the value in the dict (durations are not kept)."""
        self.values[key] = value

    def working(self, key: str) -> contextlib.AbstractContextManager:
        """A context that does nothing: there is no claim to keep alive."""
        return contextlib.nullcontext()


class Runner:
    """Evaluates configs through the store, logging each (run, view, component) once.

    ``prepare`` is what makes several workers useful: it trains every run of a
    phase that no other worker has claimed, before anyone waits on a value.
    ``trained`` counts this process's trainings; ``runs`` every result used,
    so a run shared by two views appears twice there and once in ``trained``.
    """

    def __init__(self, objective: Objective, store: RunStore, on_run: Callable[[dict], None] | None,
                 poll_seconds: float = 5.0, on_trained: Callable[[dict], None] | None = None):
        self.objective, self.store, self.on_run = objective, store, on_run
        self.on_trained = on_trained
        self.poll_seconds = poll_seconds
        self.runs: list[dict] = []
        self.trained = 0
        self.started = time.monotonic()
        self._seen: set[tuple[str, str, str]] = set()

    @property
    def distinct(self) -> int:
        """Distinct runs used so far (trained here, by another worker, or earlier)."""
        return len({row["run"] for row in self.runs})

    def missing(self, jobs: Sequence[Job]) -> int:
        """How many distinct runs among ``jobs`` have no stored value yet."""
        keys = {config.digest() for config, _, _ in jobs}
        return sum(1 for key in keys if self.store.get(key) is None)

    def prepare(self, jobs: Sequence[Job]) -> None:
        """Train every run of ``jobs`` that is not stored and that no other worker has claimed;
        the claimed seeds of one config train together when the objective fuses them
        (``fuses``/``train_group``), else one by one, each stored as it finishes."""
        fuses = getattr(self.objective, "fuses", None)
        for group in _by_config(jobs).values():
            group = [job for job in group if self.store.get(job[0].digest()) is None]
            if fuses is None or len(group) < 2 or not fuses([config for config, _, _ in group]):
                for job in group:
                    self._try_train(*job)
                continue
            with contextlib.ExitStack() as working:  # each claim held from the moment it is made
                claimed = [job for job in group if self._claim(job, working)]
                started = time.monotonic()
                values = self._values(claimed)
            self._store(claimed, values, time.monotonic() - started)

    def _claim(self, job: Job, working: contextlib.ExitStack) -> bool:
        """Claim the run for this worker and keep the claim alive in ``working``."""
        config, view, component = job
        key = config.digest()
        if self.store.get(key) is not None or not self.store.claim(
                key, config=config, view=view, component=component):
            return False
        working.enter_context(self.store.working(key))
        return True

    def _values(self, claimed: list[Job]) -> list[float]:
        configs = [config for config, _, _ in claimed]
        if len(configs) > 1:
            return [float(v) for v in self.objective.train_group(configs)]
        return [float(self.objective(config)) for config in configs]

    def _try_train(self, config: Config, view: str, component: str) -> bool:
        job = (config, view, component)
        with contextlib.ExitStack() as working:
            if not self._claim(job, working):
                return False
            started = time.monotonic()
            values = self._values([job])
        self._store([job], values, time.monotonic() - started)
        return True

    def _store(self, claimed: list[Job], values: list[float], seconds: float) -> None:
        """Store each trained run's value with its share of the ``seconds`` the training of
        ``claimed`` took, and report it."""
        for (config, view, component), value in zip(claimed, values, strict=True):
            key = config.digest()
            self.store.put(key, value, config=config, view=view, component=component,
                           seconds=seconds / max(len(claimed), 1))
            self.trained += 1
            if self.on_trained:
                self.on_trained({"view": view, "component": component, "seed": config.seed,
                                 "value": value, "run": key, "trained": self.trained})
        StopSignal.check()  # a stop held while the runs were being stored: nothing new starts

    def values(self, config: Config, seeds: Sequence[int], view: str, component: str) -> list[float]:
        """The config's value at each of ``seeds``, in order (see :meth:`one`)."""
        return [self.one(config.replace(seed=s), view, component) for s in seeds]

    def one(self, config: Config, view: str, component: str) -> float:
        """The config's value, trained here or awaited from another worker.

        Each (run, view, component) is logged once, in ``runs`` and through ``on_run``."""
        key = config.digest()
        value = self.store.get(key)
        while value is None:  # another worker is training it (or it was never claimed)
            if not self._try_train(config, view, component):
                StopSignal.check()  # waiting on another worker's run: a stop ends the wait
                time.sleep(self.poll_seconds)
            value = self.store.get(key)
        if (key, view, component) not in self._seen:
            self._seen.add((key, view, component))
            row = {"view": view, "component": component, "seed": config.seed, "value": value,
                   "run": key}
            self.runs.append(row)
            if self.on_run:
                self.on_run(row)
        return value


def _by_config(jobs: Sequence[Job]) -> dict[str, list[Job]]:
    """The distinct runs of ``jobs`` grouped by config without its seed, in first-seen order."""
    groups: dict[str, dict[str, Job]] = {}
    for job in jobs:
        groups.setdefault(job[0].replace(seed=0).digest(), {}).setdefault(job[0].digest(), job)
    return {name: list(runs.values()) for name, runs in groups.items()}


def jobs(config: Config, seeds: Sequence[int], view: str, component: str) -> list[Job]:
    """One job per seed: the config with that seed, tagged with the view and the component."""
    return [(config.replace(seed=s), view, component) for s in seeds]
