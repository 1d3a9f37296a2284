"""Component ablation around a reference config, for any objective ``config -> metric``.

Three retrained views of "what does each component contribute?":
leave-one-out (reference with one component reset to the baseline),
add-one-in (baseline with one component taken from the reference) plus the
cumulative ladder, and the greedy ablation path from baseline to reference
(Fawcett & Hoos 2016) over the components that are not within noise.
Every variant runs with the same seeds as its comparison point, so each view is
a blocked design whose noise is pooled over all its variants (``ablation_views``);
contributions are signed so that positive means "the component helps".
Pairwise interactions among the leading components come from leave-two-out runs
on fresh seeds (``ablation_interactions``).

Runs are keyed by the config's digest (``ablation_runs``): a run shared by two
views is trained once, and the result says how many trainings the ablation took
against how many results it used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from search.ablation.configs import differing_components, with_component
from search.ablation.interactions import measure_interactions
from search.ablation.runs import MemoryRunStore, Objective, RunStore, Runner, jobs
from search.ablation.views import ComponentEffect, Seeding, View, measure_views
from search.space.config import Config

__all__ = ["AblationPlan", "ComponentEffect", "AblationResult", "RunStore", "MemoryRunStore",
           "run_ablation", "differing_components", "with_component"]


@dataclass
class AblationPlan:
    """What to ablate and how: reference and baseline configs, components, seeds, alpha
    and budgets (``min_effect`` in accuracy, ``max_seconds`` in seconds)."""

    reference: Config
    baseline: Config
    components: list[str]
    seeds: list[int]  # fixed seeds, or every seed adaptive seeding may use
    ladder_order: list[str] | None = None  # None: order of add-one-in contribution
    path_seeds: int | None = None  # None: the seeds of the first look
    alpha: float = 0.05
    adaptive: bool = False
    start_seeds: int = 3  # adaptive: seeds at the first look
    min_effect: float = 0.0  # contributions smaller than this (accuracy, not points) are negligible
    max_runs: int | None = None
    max_seconds: float | None = None
    interactions: int = 0  # leading components whose pairwise interactions are measured
    interaction_seeds: list[int] = field(default_factory=list)

    def seeding(self) -> Seeding:
        """The seeding of both views: every seed at once, or ``start_seeds`` first when adaptive."""
        start = min(self.start_seeds, len(self.seeds)) if self.adaptive else len(self.seeds)
        return Seeding(self.seeds, start, self.alpha, self.min_effect, self.max_runs, self.max_seconds)

    def first_seeds(self) -> list[int]:
        """The seeds of the first look (every seed when seeds are fixed)."""
        return self.seeds[: self.seeding().start]

    def path_seed_list(self) -> list[int]:
        """The greedy path's seeds: the first ``path_seeds``, else those of the first look."""
        return self.seeds[: self.path_seeds] if self.path_seeds else self.first_seeds()


@dataclass
class AblationResult:
    """Per-seed values of reference and baseline, each view's effects, the ladder, the path,
    the result rows used and how many trainings this process did."""

    plan: AblationPlan
    reference: list[float]
    baseline: list[float]
    leave_one_out: list[ComponentEffect]
    add_one_in: list[ComponentEffect]
    ladder: list[tuple[str, list[float]]]
    path: list[tuple[str, list[float]]]
    runs: list[dict] = field(default_factory=list)
    interactions: list[ComponentEffect] = field(default_factory=list)
    trained: int = 0  # trainings this process did
    path_stopped: list[str] = field(default_factory=list)  # components left within noise

    @property
    def distinct_runs(self) -> int:
        """How many distinct runs (config digests) the result rows come from."""
        return len({row["run"] for row in self.runs})


def views(plan: AblationPlan) -> list[View]:
    """The leave-one-out and add-one-in views: one variant per component of the plan."""
    loo = {c: with_component(plan.reference, plan.baseline, c) for c in plan.components}
    add = {c: with_component(plan.baseline, plan.reference, c) for c in plan.components}
    return [View("leave-one-out", "reference", plan.reference, loo, variant_is_with=False),
            View("add-one-in", "baseline", plan.baseline, add, variant_is_with=True)]


def run_ablation(plan: AblationPlan, objective: Objective, store: RunStore | None = None, *,
                 on_run: Callable[[dict], None] | None = None,
                 on_trained: Callable[[dict], None] | None = None,
                 poll_seconds: float = 5.0) -> AblationResult:
    """Measure both views, the ladder, the greedy path and any interactions of ``plan``.

    Runs go through ``store`` (in memory when None): ``on_run`` gets each result row used,
    ``on_trained`` each run trained here; another worker's run is polled every
    ``poll_seconds`` seconds."""
    runner = Runner(objective, store if store is not None else MemoryRunStore(), on_run, poll_seconds,
                    on_trained)
    measured = measure_views(views(plan), runner, plan.seeding())
    loo, add = measured["leave-one-out"], measured["add-one-in"]
    first = plan.first_seeds()
    ref = runner.values(plan.reference, first, "leave-one-out", "reference")  # the views' own rows
    base = runner.values(plan.baseline, first, "add-one-in", "baseline")
    order = plan.ladder_order or [e.component for e in add]
    ladder = _ladder(plan, runner, order)
    path, stopped = _path(plan, runner, _within_noise(loo, add))
    interactions = measure_interactions(plan, runner, loo) if plan.interactions >= 2 else []
    return AblationResult(plan, ref, base, loo, add, ladder, path, runner.runs, interactions,
                          runner.trained, stopped)


def _within_noise(*views_: list[ComponentEffect]) -> set[str]:
    """Components that no view calls "helps" or "hurts" (negligible ones included)."""
    named = [{e.component for e in view if e.verdict not in ("helps", "hurts")} for view in views_]
    return set.intersection(*named) if named else set()


def _ladder(plan: AblationPlan, runner: Runner, order: list[str]) -> list[tuple[str, list[float]]]:
    seeds, config, rungs = plan.first_seeds(), plan.baseline, []
    for name in order:
        config = with_component(config, plan.reference, name)
        rungs.append((name, config))
    runner.prepare([job for name, c in rungs for job in jobs(c, seeds, "ladder", name)])
    return [(name, runner.values(c, seeds, "ladder", name)) for name, c in rungs]


def _path(plan: AblationPlan, runner: Runner,
          within_noise: set[str]) -> tuple[list[tuple[str, list[float]]], list[str]]:
    """Greedy: from the baseline, flip the component whose flip scores best, repeat.

    Components that neither view can tell from noise are left out of the greedy
    search (it would only order noise, at n(n+1)/2 runs per seed) and flipped
    together in one last step."""
    seeds = plan.path_seed_list()
    rest = [c for c in plan.components if c in within_noise]
    remaining = [c for c in plan.components if c not in within_noise]
    if len(rest) == 1:
        remaining, rest = remaining + rest, []
    config, steps = plan.baseline, []
    while remaining:
        candidates = {c: with_component(config, plan.reference, c) for c in remaining}
        runner.prepare([job for c, cfg in candidates.items() for job in jobs(cfg, seeds, "path", c)])
        scored = {c: runner.values(cfg, seeds, "path", c) for c, cfg in candidates.items()}
        best = max(remaining, key=lambda c: np.nanmean(scored[c]) if
                   np.isfinite(scored[c]).any() else -np.inf)
        config = candidates[best]
        steps.append((best, scored[best]))
        remaining.remove(best)
    if rest:
        for c in rest:
            config = with_component(config, plan.reference, c)
        label = "rest: " + " + ".join(rest)
        steps.append((label, runner.values(config, seeds, "path", label)))
    return steps, rest
