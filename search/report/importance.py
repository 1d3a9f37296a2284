"""Importance from the search itself: Optuna's PED-ANOVA and fANOVA, per knob and per
component, each with its uncertainty.

fANOVA can only score knobs present in every trial, so conditional knobs (a
dropout rate that exists only when dropout is on) drop out of it; PED-ANOVA
scores them. Both use COMPLETE trials only: pruned trials stopped at different
epochs and are not comparable. Importances from a handful of trials are mostly
noise (a 25-minute study once ranked ``cutout.area`` first from 3 trials), so:
below ``MIN_TRIALS`` complete trials no importance is given, only the reason;
above it every figure comes with a 90% bootstrap interval over the trials
(the study's trials resampled with replacement, the evaluator refitted each time),
and each view says how many trials it rests on.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import optuna
from optuna.trial import TrialState

from search.report.render import Section

__all__ = ["ImportanceView", "importance_views", "importance_sections", "plot_importance",
           "MIN_TRIALS"]

MIN_TRIALS = 10
RESAMPLES = {"PED-ANOVA": 40, "fANOVA": 12}  # fANOVA fits a forest each time: fewer


@dataclass
class ImportanceView:
    """One importance method's scores by knob and by component (summed over its knobs),
    their 90% bootstrap intervals, and a note on what was used or why nothing is shown."""

    method: str
    trials_used: int
    knobs: dict[str, float] = field(default_factory=dict)
    components: dict[str, float] = field(default_factory=dict)
    note: str = ""
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)  # knobs and components


def _by_component(knobs: dict[str, float]) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for name, value in knobs.items():
        totals[name.split(".")[0]] += value
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def importance_views(study: optuna.Study) -> list[ImportanceView]:
    """PED-ANOVA and fANOVA importance over the study's complete trials, in that order."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    varied = {k for t in complete for k in t.params
              if len({str(u.params.get(k)) for u in complete}) > 1}
    everywhere = sorted(k for k in varied if all(k in t.params for t in complete))
    evaluators = [
        ("PED-ANOVA", lambda seed: optuna.importance.PedAnovaImportanceEvaluator(), sorted(varied),
         "all searched knobs, conditional ones included"),
        ("fANOVA", lambda seed: optuna.importance.FanovaImportanceEvaluator(seed=seed), everywhere,
         f"only the {len(everywhere)} knobs present in every complete trial"),
    ]
    return [_one(study, complete, name, make, params, scope)
            for name, make, params, scope in evaluators]


def _one(study, complete, name, make, params, scope) -> ImportanceView:
    n = len(complete)
    if n < MIN_TRIALS:
        return ImportanceView(name, n, note=f"not shown: importance needs at least {MIN_TRIALS} "
                                            f"complete trials with varied knobs; the study has {n}")
    if not params:
        return ImportanceView(name, n, note=f"not shown: no knob this method can score varies "
                                            f"across the {n} complete trials")
    try:
        knobs = dict(optuna.importance.get_param_importances(study, evaluator=make(0), params=params))
    except Exception as exc:  # an evaluator's own limits: report them, keep the other views
        return ImportanceView(name, n, note=f"not computed: {exc}")
    intervals, used = _bootstrap(study, complete, make, params, RESAMPLES[name])
    return ImportanceView(name, n, knobs, _by_component(knobs),
                          f"{n} complete trials; {scope}; {_intervals_note(used, RESAMPLES[name])}",
                          intervals)


def _intervals_note(used: int, resamples: int) -> str:
    if not used:
        return f"no intervals: none of {resamples} bootstrap resamples could be scored"
    if used < resamples:
        return (f"90% intervals from {used} of {resamples} bootstrap resamples of the trials "
                f"(the other {resamples - used} could not be scored)")
    return f"90% intervals from {resamples} bootstrap resamples of the trials"


def _bootstrap(study, complete, make, params,
               resamples: int) -> tuple[dict[str, tuple[float, float]], int]:
    """Each knob's and component's 5th and 95th percentile over ``resamples`` bootstrap
    resamples of the trials, and how many resamples the evaluator could score."""
    rng = np.random.default_rng(0)
    used = 0
    draws: dict[str, list[float]] = defaultdict(list)
    for b in range(resamples):
        sample = optuna.create_study(directions=study.directions)
        sample.add_trials([complete[i] for i in rng.integers(0, len(complete), len(complete))])
        present = [p for p in params if len({str(t.params.get(p)) for t in sample.trials}) > 1]
        try:
            knobs = dict(optuna.importance.get_param_importances(sample, evaluator=make(b),
                                                                 params=present))
        except Exception:  # a resample too degenerate for the evaluator: skip it
            continue
        used += 1
        knobs = {p: knobs.get(p, 0.0) for p in params}
        for key, value in {**knobs, **_by_component(knobs)}.items():
            draws[key].append(value)
    return {k: (float(np.percentile(v, 5)), float(np.percentile(v, 95)))
            for k, v in draws.items()}, used


def _cell(view: ImportanceView, key: str, value: float) -> str:
    if key not in view.intervals:  # every resample was too degenerate for the evaluator
        return f"{value:.3f} [interval n/a]"
    low, high = view.intervals[key]
    return f"{value:.3f} [{low:.2f}, {high:.2f}]"


def importance_sections(views: list[ImportanceView]) -> list[Section]:
    """One report section per view with its component table, or one saying there is no search."""
    if not views:
        return [Section("Importance from the search", text="No search trials in this study (an "
                        "ablation definition), so no importance from the search; run `search "
                        "run` on the same study name to get it.")]
    return [Section(f"Importance from the search: {view.method}", text=view.note,
                    table=[["component", "importance [90% interval]"]] +
                    [[c, _cell(view, c, v)] for c, v in view.components.items()] if view.components
                    else None) for view in views]


def plot_importance(view: ImportanceView, path: Path) -> Path:
    """Bars per knob with their bootstrap intervals (Optuna's own plot draws no uncertainty)."""
    from search.report.plotting import pyplot, save

    names = list(view.knobs)[::-1]
    values = np.array([view.knobs[k] for k in names])
    low = np.array([view.intervals.get(k, (v, v))[0] for k, v in zip(names, values)])
    high = np.array([view.intervals.get(k, (v, v))[1] for k, v in zip(names, values)])
    fig, ax = pyplot().subplots(figsize=(8, max(3.0, 0.3 * len(names) + 1)))
    ax.barh(range(len(names)), values, xerr=np.vstack([np.maximum(values - low, 0),
                                                      np.maximum(high - values, 0)]), capsize=3)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel(f"{view.method} importance (90% bootstrap interval, {view.trials_used} trials)")
    return save(fig, path)
