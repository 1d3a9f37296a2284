"""Views measured as blocked designs, with seeds added only where a verdict is still open.

A view is one control (the reference for leave-one-out, the baseline for
add-one-in) and its variants, all run with the same seeds; every comparison is
tested with the noise pooled over the whole view (``blocked_stats``).

Fixed seeds: one look at level alpha. Adaptive seeds: start with a few seeds,
look, and give one more seed to each comparison that is still undecided, until
every comparison is decided ("helps", "hurts", or "negligible": its interval
inside +-min_effect) or the seeds or the run budget are spent. Each look spends
alpha / (number of looks) with Holm's step-down over every comparison not yet
rejected — those settled as negligible still count, since dropping them from the
family would loosen the others' thresholds on the strength of the data (this was
measured: 7% family-wise error instead of 3%) — so, by the union bound over the
looks, the family-wise error stays at most alpha however the looks turn out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import pandas as pd

from search.ablation.runs import Job, Runner, jobs
from search.ablation.blocked_stats import Estimate, compare
from search.space.config import Config

__all__ = ["View", "Seeding", "ComponentEffect", "measure_views", "DECIDED"]

DECIDED = ("helps", "hurts", "negligible")
GROWTH = 1.34


@dataclass
class View:
    """One control config and its variants, each differing from it in one component."""

    name: str
    control_label: str
    control: Config
    variants: dict[str, Config]
    variant_is_with: bool  # add-one-in: the variant has the component; leave-one-out: it lacks it

    def contrast(self, component: str) -> dict[str, float]:
        """Signed so that positive means the component helps."""
        sign = 1.0 if self.variant_is_with else -1.0
        return {component: sign, self.control_label: -sign}


@dataclass
class Seeding:
    """The seeds a comparison may get and when to stop adding them: alpha, ``min_effect``
    (accuracy), ``max_runs`` (distinct runs) and ``max_seconds`` (seconds)."""

    seeds: list[int]  # every seed a comparison may get, in order
    start: int  # seeds at the first look (= len(seeds) when seeds are fixed)
    alpha: float = 0.05
    min_effect: float = 0.0
    max_runs: int | None = None  # distinct runs the ablation may use in all
    max_seconds: float | None = None

    @property
    def schedule(self) -> list[int]:
        """Seeds per open comparison at each look: start, then about a third more each time
        (fewer looks spend alpha in larger pieces, where t-tests on heavy-tailed noise hold)."""
        counts = [self.start]
        while counts[-1] < len(self.seeds):
            counts.append(min(len(self.seeds), max(counts[-1] + 1, round(counts[-1] * GROWTH))))
        return counts

    @property
    def looks(self) -> int:
        """How many looks the schedule has; alpha is split evenly across them."""
        return len(self.schedule)


@dataclass
class ComponentEffect:
    """One component's estimated contribution in a view, and the seeds its verdict took."""

    component: str
    effect: Estimate
    seeds: int  # seeds this verdict took

    @property
    def adjusted_p(self) -> float:
        """The estimate's p-value after Holm's correction, on the family-wise scale."""
        return self.effect.adjusted_p

    @property
    def verdict(self) -> str:
        """"helps", "hurts", "negligible", or why the comparison stayed open."""
        return self.effect.verdict


@dataclass
class _Open:
    """A view's comparisons still undecided, and how many seeds each has."""

    view: View
    seeds: dict[str, int]
    decided: dict[str, ComponentEffect] = field(default_factory=dict)
    last: dict[str, Estimate] = field(default_factory=dict)


def measure_views(views: list[View], runner: Runner, seeding: Seeding) -> dict[str, list[ComponentEffect]]:
    """Each view's component effects, ranked by contribution, largest first.

    All views are run together look by look; seeds are added to open comparisons while
    ``seeding``'s budget allows."""
    states = [_Open(v, {c: seeding.start for c in v.variants}) for v in views]
    alpha = seeding.alpha / seeding.looks
    while True:
        runner.prepare([job for s in states for job in _jobs(s, seeding)])
        for state in states:
            _look(state, runner, seeding, alpha)
        if not any(s.seeds for s in states) or not _grow(states, runner, seeding):
            break
    for state in states:  # the budget ended the looks: what is left stays undecided
        for c in list(state.seeds):
            state.decided[c] = ComponentEffect(c, state.last[c], state.seeds.pop(c))
    return {s.view.name: _ranked(list(s.decided.values())) for s in states}


def _jobs(state: _Open, seeding: Seeding) -> list[Job]:
    view, most = state.view, max(state.seeds.values(), default=0)
    out = jobs(view.control, seeding.seeds[:most], view.name, view.control_label)
    for c, n in state.seeds.items():
        out += jobs(view.variants[c], seeding.seeds[:n], view.name, c)
    return out


def _table(state: _Open, runner: Runner, seeding: Seeding) -> pd.DataFrame:
    view, rows = state.view, []
    counts = {c: e.seeds for c, e in state.decided.items()} | state.seeds
    cells = [(view.control_label, view.control, max(counts.values()))] + [
        (c, view.variants[c], n) for c, n in counts.items()]
    for label, config, n in cells:
        seeds = seeding.seeds[:n]
        rows += [(label, s, v) for s, v in zip(seeds, runner.values(config, seeds, view.name, label))]
    return pd.DataFrame(rows, columns=["treatment", "seed", "value"])


def _look(state: _Open, runner: Runner, seeding: Seeding, alpha: float) -> None:
    if not state.seeds:
        return
    data = _table(state, runner, seeding)
    rejected = sum(e.verdict in ("helps", "hurts") for e in state.decided.values())
    results = compare(data, {c: state.view.contrast(c) for c in state.seeds}, alpha=alpha,
                      min_effect=seeding.min_effect, family=len(state.view.variants) - rejected)
    results = {c: _per_family(e, seeding.looks) for c, e in results.items()}
    state.last = results
    for c, estimate in results.items():
        if estimate.n == 0:  # every run diverged (NaN): more seeds would not help
            estimate = replace(estimate, verdict="no finite runs (diverged)")
        if estimate.n == 0 or estimate.verdict in DECIDED or state.seeds[c] >= len(seeding.seeds):
            state.decided[c] = ComponentEffect(c, estimate, state.seeds.pop(c))


def _per_family(estimate: Estimate, looks: int) -> Estimate:
    """The adjusted p on the family-wise scale: tested at alpha/looks, so times the looks."""
    return replace(estimate, adjusted_p=min(1.0, estimate.adjusted_p * looks))


def _grow(states: list[_Open], runner: Runner, seeding: Seeding) -> bool:
    """The next look's seeds for every open comparison, if the budget allows it."""
    if seeding.max_seconds is not None and time.monotonic() - runner.started > seeding.max_seconds:
        return False
    before = {id(s): dict(s.seeds) for s in states}
    for state in states:
        for c, n in state.seeds.items():
            state.seeds[c] = next(k for k in seeding.schedule if k > n)
    if seeding.max_runs is not None:
        new = runner.missing([job for s in states for job in _jobs(s, seeding)])
        if runner.distinct + new > seeding.max_runs:
            for state in states:
                state.seeds = before[id(state)]
            return False
    return True


def _ranked(effects: list[ComponentEffect]) -> list[ComponentEffect]:
    return sorted(effects, key=lambda e: -e.effect.mean if e.effect.mean == e.effect.mean else float("inf"))
