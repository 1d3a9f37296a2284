"""Importance from the search itself: Optuna's PED-ANOVA and fANOVA, per knob and per component.

fANOVA can only score knobs present in every trial, so conditional knobs (a
dropout rate that exists only when dropout is on) drop out of it; PED-ANOVA
scores them. Both use COMPLETE trials only: pruned trials stopped at different
epochs and are not comparable. Each result says how many trials it used.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import optuna
from optuna.trial import TrialState

__all__ = ["ImportanceView", "importance_views"]

MIN_TRIALS = 4


@dataclass
class ImportanceView:
    method: str
    trials_used: int
    knobs: dict[str, float] = field(default_factory=dict)
    components: dict[str, float] = field(default_factory=dict)
    note: str = ""


def _by_component(knobs: dict[str, float]) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for name, value in knobs.items():
        totals[name.split(".")[0]] += value
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def importance_views(study: optuna.Study) -> list[ImportanceView]:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    varied = {k for t in complete for k in t.params
              if len({str(u.params.get(k)) for u in complete}) > 1}
    everywhere = sorted(k for k in varied if all(k in t.params for t in complete))
    evaluators = [
        ("PED-ANOVA", optuna.importance.PedAnovaImportanceEvaluator(), sorted(varied),
         "all searched knobs, conditional ones included"),
        ("fANOVA", optuna.importance.FanovaImportanceEvaluator(seed=0), everywhere,
         f"only the {len(everywhere)} knobs present in every complete trial"),
    ]
    return [_one(study, name, evaluator, params, len(complete), scope)
            for name, evaluator, params, scope in evaluators]


def _one(study, name, evaluator, params, n, scope) -> ImportanceView:
    if n < MIN_TRIALS or not params:
        return ImportanceView(name, n, note=f"needs at least {MIN_TRIALS} complete trials with "
                                            f"varied knobs; the study has {n}")
    try:
        knobs = optuna.importance.get_param_importances(study, evaluator=evaluator, params=params)
    except Exception as exc:  # an evaluator's own limits: report them, keep the other views
        return ImportanceView(name, n, note=f"not computed: {exc}")
    return ImportanceView(name, n, dict(knobs), _by_component(knobs),
                          note=f"{n} complete trials; {scope}")
