"""Component ablation around a reference config, for any objective ``config -> metric``.

Three retrained views of "what does each component contribute?":
leave-one-out (reference with one component reset to the baseline),
add-one-in (baseline with one component taken from the reference) plus the
cumulative ladder, and the greedy ablation path from baseline to reference
(Fawcett & Hoos 2016). Every variant runs with the same k seeds as its
comparison point, so differences are paired by seed; contributions are signed
so that positive means "the component helps".

Runs are keyed by the config's digest (which includes the seed), so a run
shared by two views is trained once, and a store that persists runs (the
study's Optuna storage) makes an interrupted ablation resume where it stopped.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import numpy as np

from .config import Config
from .stats import PairedEffect, holm, paired_effect, verdict

__all__ = ["AblationPlan", "ComponentEffect", "AblationResult", "RunStore", "MemoryRunStore",
           "run_ablation", "differing_components"]

Objective = Callable[[Config], float]


class RunStore(Protocol):
    """Where runs live. ``claim`` lets several workers share one ablation: a run is
    trained by the worker that claims it; the others wait for its value."""

    def get(self, key: str) -> float | None: ...

    def claim(self, key: str, *, config: Config, view: str, component: str) -> bool: ...

    def put(self, key: str, value: float, *, config: Config, view: str, component: str) -> None: ...

    def working(self, key: str) -> contextlib.AbstractContextManager: ...


@dataclass
class MemoryRunStore:
    """Runs kept in a dict: for tests and one-off ablations (one process)."""

    values: dict[str, float] = field(default_factory=dict)

    def get(self, key: str) -> float | None:
        return self.values.get(key)

    def claim(self, key: str, *, config: Config, view: str, component: str) -> bool:
        return key not in self.values

    def put(self, key: str, value: float, *, config: Config, view: str, component: str) -> None:
        self.values[key] = value

    def working(self, key: str) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()


def differing_components(reference: Config, baseline: Config, *,
                         exclude: Sequence[str] = ("training",)) -> list[str]:
    """Components whose knobs differ between reference and baseline, in schema order."""
    from .schema import COMPONENTS

    return [name for name in COMPONENTS if name not in exclude
            and _component(reference, name) != _component(baseline, name)]


def _component(config: Config, name: str) -> dict:
    from .schema import COMPONENTS

    knobs = COMPONENTS[name].knobs
    return {k: config.get(name, k) for k, spec in knobs.items()
            if spec.is_active({kk: config.get(name, kk) for kk in knobs})}


def with_component(target: Config, source: Config, unit: str) -> Config:
    """``target`` with the component (or ``a+b`` group of components) taken from ``source``."""
    params = {c: dict(v) for c, v in target.params.items()}
    for name in unit.split("+"):
        params[name] = _component(source, name)
    return target.replace(params=params)


@dataclass
class AblationPlan:
    reference: Config
    baseline: Config
    components: list[str]
    seeds: list[int]
    ladder_order: list[str] | None = None  # None: order of add-one-in contribution
    path_seeds: int | None = None  # None: all seeds
    alpha: float = 0.05


@dataclass
class ComponentEffect:
    component: str
    effect: PairedEffect
    adjusted_p: float = 1.0
    verdict: str = ""


@dataclass
class AblationResult:
    plan: AblationPlan
    reference: list[float]
    baseline: list[float]
    leave_one_out: list[ComponentEffect]
    add_one_in: list[ComponentEffect]
    ladder: list[tuple[str, list[float]]]
    path: list[tuple[str, list[float]]]
    runs: list[dict] = field(default_factory=list)


Job = tuple[Config, str, str]  # config (with its seed), view, component


class _Runner:
    """Evaluates configs through the store, logging each run once.

    ``prepare`` is what makes several workers useful: it trains every run of a
    phase that no other worker has claimed, before anyone waits on a value.
    """

    def __init__(self, objective: Objective, store: RunStore, on_run: Callable[[dict], None] | None,
                 poll_seconds: float = 5.0):
        self.objective, self.store, self.on_run = objective, store, on_run
        self.poll_seconds = poll_seconds
        self.runs: list[dict] = []
        self._seen: set[tuple[str, str, str]] = set()

    def prepare(self, jobs: Sequence[Job]) -> None:
        for config, view, component in jobs:
            self._try_train(config, view, component)

    def _try_train(self, config: Config, view: str, component: str) -> bool:
        key = config.digest()
        if self.store.get(key) is not None or not self.store.claim(
                key, config=config, view=view, component=component):
            return False
        with self.store.working(key):
            value = float(self.objective(config))
        self.store.put(key, value, config=config, view=view, component=component)
        return True

    def jobs(self, config: Config, seeds: Sequence[int], view: str, component: str) -> list[Job]:
        return [(config.replace(seed=s), view, component) for s in seeds]

    def values(self, config: Config, seeds: Sequence[int], view: str, component: str) -> list[float]:
        return [self.one(config.replace(seed=s), view, component) for s in seeds]

    def one(self, config: Config, view: str, component: str) -> float:
        key = config.digest()
        value = self.store.get(key)
        while value is None:  # another worker is training it (or it was never claimed)
            if not self._try_train(config, view, component):
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


def _effects(pairs: dict[str, tuple[list[float], list[float]]], alpha: float) -> list[ComponentEffect]:
    """Contribution = with - without, paired by seed; NaN runs drop their pair."""
    effects = []
    for name, (with_c, without_c) in pairs.items():
        deltas = [a - b for a, b in zip(with_c, without_c) if math.isfinite(a) and math.isfinite(b)]
        effects.append(ComponentEffect(name, paired_effect(deltas)))
    for item, p in zip(effects, holm([e.effect.p_value for e in effects])):
        item.adjusted_p, item.verdict = p, verdict(item.effect.mean, p, alpha=alpha)
    return sorted(effects, key=lambda e: -np.nan_to_num(e.effect.mean, nan=-np.inf))


def run_ablation(plan: AblationPlan, objective: Objective, store: RunStore | None = None, *,
                 on_run: Callable[[dict], None] | None = None,
                 poll_seconds: float = 5.0) -> AblationResult:
    runner = _Runner(objective, store if store is not None else MemoryRunStore(), on_run,
                     poll_seconds)
    runner.prepare(_first_phase(plan, runner))
    ref = runner.values(plan.reference, plan.seeds, "reference", "all")
    base = runner.values(plan.baseline, plan.seeds, "baseline", "none")
    loo = {c: (ref, runner.values(with_component(plan.reference, plan.baseline, c), plan.seeds,
                                  "leave-one-out", c)) for c in plan.components}
    add = {c: (runner.values(with_component(plan.baseline, plan.reference, c), plan.seeds,
                             "add-one-in", c), base) for c in plan.components}
    add_effects = _effects(add, plan.alpha)
    order = plan.ladder_order or [e.component for e in add_effects]
    return AblationResult(plan, ref, base, _effects(loo, plan.alpha), add_effects,
                          _ladder(plan, runner, order), _path(plan, runner), runner.runs)


def _first_phase(plan: AblationPlan, runner: _Runner) -> list[Job]:
    """Every run known before any result: reference, baseline, leave-one-out, add-one-in."""
    jobs = runner.jobs(plan.reference, plan.seeds, "reference", "all") + runner.jobs(
        plan.baseline, plan.seeds, "baseline", "none")
    for c in plan.components:
        jobs += runner.jobs(with_component(plan.reference, plan.baseline, c), plan.seeds,
                            "leave-one-out", c)
        jobs += runner.jobs(with_component(plan.baseline, plan.reference, c), plan.seeds,
                            "add-one-in", c)
    return jobs


def _ladder(plan: AblationPlan, runner: _Runner, order: list[str]) -> list[tuple[str, list[float]]]:
    config, rungs = plan.baseline, []
    for name in order:
        config = with_component(config, plan.reference, name)
        rungs.append((name, config))
    runner.prepare([job for name, c in rungs for job in runner.jobs(c, plan.seeds, "ladder", name)])
    config, steps = plan.baseline, []
    for name in order:
        config = with_component(config, plan.reference, name)
        steps.append((name, runner.values(config, plan.seeds, "ladder", name)))
    return steps


def _path(plan: AblationPlan, runner: _Runner) -> list[tuple[str, list[float]]]:
    """Greedy: from the baseline, flip the component whose flip scores best, repeat."""
    seeds = plan.seeds[: plan.path_seeds or len(plan.seeds)]
    config, remaining, steps = plan.baseline, list(plan.components), []
    while remaining:
        runner.prepare([job for c in remaining for job in runner.jobs(
            with_component(config, plan.reference, c), seeds, "path", c)])
        scored = {c: runner.values(with_component(config, plan.reference, c), seeds, "path", c)
                  for c in remaining}
        best = max(remaining, key=lambda c: np.nanmean(scored[c]) if
                   np.isfinite(scored[c]).any() else -np.inf)
        config = with_component(config, plan.reference, best)
        steps.append((best, scored[best]))
        remaining.remove(best)
    return steps
