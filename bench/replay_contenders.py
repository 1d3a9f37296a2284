"""The searches the replay compares, each built from the engine's own factories."""

from __future__ import annotations

from typing import Any

import optuna

from replay_run import Contender, World
from search.study.algorithms import (SH_FACTOR, SH_MIN_EPOCHS, halving_rungs, make_pruner,
                                     make_sampler, pruner_rungs, tpe_sampler)
from search.study.local_search import IncumbentSampler

CONTENDERS: dict[str, dict[str, Any]] = {
    # Optuna random search, no pruning (the engine's cost guard and chance rule still apply).
    "random": dict(sampler=lambda space, seed: make_sampler("random", space, seed),
                   pruner=lambda epochs: make_pruner("none", epochs), cost_rule="full"),
    # Random sampling under Hyperband's brackets: KerasTuner Hyperband's way of searching.
    "random-hyperband": dict(sampler=lambda space, seed: make_sampler("random", space, seed),
                             pruner=lambda epochs: make_pruner("hyperband", epochs),
                             cost_rule="full"),
    # The default before this benchmark: TPE, Hyperband pruning, full-run cost guard.
    "tpe-hyperband": dict(sampler=lambda space, seed: make_sampler("tpe", space, seed),
                          pruner=lambda epochs: make_pruner("hyperband", epochs),
                          cost_rule="full"),
    # TPE over one shared history: successive halving (asynchronous, rungs at 1, 3, 9
    # epochs), cost judged up to the next rung and a cut recorded apart (FAIL, unseen by TPE).
    "tpe-sh": dict(sampler=lambda space, seed: make_sampler("tpe", space, seed),
                   pruner=lambda epochs: make_pruner("successive-halving", epochs),
                   cost_rule="rung", rungs=lambda epochs: pruner_rungs("successive-halving", epochs)),
}


# Variants of the default's settings, each changing one: the first rung, the reduction
# factor, TPE's random start-up trials, TPE's candidates per suggestion.
for _name, _first, _factor, _tpe_changes in (("tpe-sh-first2", 2, 3, {}),
                                             ("tpe-sh-factor4", 1, 4, {}),
                                             ("tpe-sh-startup10", 1, 3, {"n_startup_trials": 10}),
                                             ("tpe-sh-startup2", 1, 3, {"n_startup_trials": 2}),
                                             ("tpe-sh-ei64", 1, 3, {"n_ei_candidates": 64})):
    CONTENDERS[_name] = dict(
        sampler=lambda space, seed, changes=_tpe_changes: tpe_sampler(seed, **changes),
        pruner=lambda epochs, first=_first, factor=_factor: optuna.pruners.SuccessiveHalvingPruner(
            min_resource=first, reduction_factor=factor),
        cost_rule="rung", rungs=lambda epochs, first=_first, factor=_factor: halving_rungs(first, factor, epochs))

for _share in (0.3, 0.5):
    # tpe-sh, with that share of trials made neighbours of the incumbent.
    CONTENDERS[f"tpe-local{_share}-sh"] = {**CONTENDERS["tpe-sh"], "sampler": (
        lambda space, seed, share=_share: IncumbentSampler(make_sampler("tpe", space, seed),
                                                           share=share, seed=seed))}


for _share in (0.1, 0.05):
    # tpe-sh with a stricter cost rule: no stretch to the next rung over that share of the budget
    CONTENDERS[f"tpe-sh-cost{_share}"] = {**CONTENDERS["tpe-sh"], "cost_share": _share}

for _count in (3, 6):
    # tpe-sh whose first trials are a low-fidelity screen: at every rung, the first _count
    # trials to reach it end there (Optuna's bootstrap_count)
    CONTENDERS[f"tpe-sh-boot{_count}"] = {**CONTENDERS["tpe-sh"], "pruner": (
        lambda epochs, count=_count: optuna.pruners.SuccessiveHalvingPruner(
            min_resource=SH_MIN_EPOCHS, reduction_factor=SH_FACTOR, bootstrap_count=count))}


def contender(name: str, world: World, warm_start: list[dict] | None = None,
              **changes: Any) -> Contender:
    """The named contender, optionally warm-started with Optuna parameter sets, with
    ``changes`` to its fields (e.g. ``spare_warm_start=True``)."""
    return Contender(name=name, warm_start=list(warm_start or []), **{**CONTENDERS[name], **changes})
