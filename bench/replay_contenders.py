"""The searches the replay compares, each built from the engine's own factories."""

from __future__ import annotations

from typing import Any

from replay_run import Contender, World
from search.study.algorithms import make_pruner, make_sampler, pruner_rungs
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
for _share in (0.3, 0.5):
    # tpe-sh, with that share of trials made neighbours of the incumbent.
    CONTENDERS[f"tpe-local{_share}-sh"] = {**CONTENDERS["tpe-sh"], "sampler": (
        lambda space, seed, share=_share: IncumbentSampler(make_sampler("tpe", space, seed),
                                                           share=share, seed=seed))}


def contender(name: str, world: World, warm_start: list[dict] | None = None) -> Contender:
    """The named contender, optionally warm-started with Optuna parameter sets."""
    return Contender(name=name, warm_start=list(warm_start or []), **CONTENDERS[name])
