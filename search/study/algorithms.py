"""The search algorithms by name: Optuna's samplers and pruners as `run --sampler/--pruner`
offers them, and the rungs where a pruner judges trials (for the cost guard)."""

from __future__ import annotations

import optuna

from search.errors import SearchError
from search.space.space import Space
from search.study.local_search import IncumbentSampler
from search.study.subset_rung import SUBSET_PRUNER, SubsetRungPruner

__all__ = ["make_sampler", "make_pruner", "pruner_rungs", "tpe_sampler", "halving_rungs"]

SH_MIN_EPOCHS, SH_FACTOR = 1, 3  # successive halving's rungs: epochs 1, 3, 9, ...
SUBSET_FRACTION = 1 / SH_FACTOR  # successive-halving-subset's first rung: a third of epoch 1
TPE_STARTUP = 5  # random trials before TPE's model
LOCAL_SHARE = 0.3  # tpe-local: the share of trials made neighbours of the incumbent


def make_sampler(name: str, space: Space, seed: int) -> optuna.samplers.BaseSampler:
    """The Optuna sampler ``name`` (one of inputs.SAMPLERS), seeded with ``seed``;
    SearchError for gp without PyTorch."""
    if name == "tpe":
        return tpe_sampler(seed)
    if name == "tpe-local":
        return IncumbentSampler(tpe_sampler(seed), share=LOCAL_SHARE, start=TPE_STARTUP, seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "gp":
        try:
            import torch  # noqa: F401  - GPSampler's dependency
        except ImportError:
            raise SearchError("--sampler gp needs PyTorch (Optuna's GPSampler uses it); "
                              "install it with `pip install torch`, or pick tpe.") from None
        return optuna.samplers.GPSampler(seed=seed)
    return optuna.samplers.GridSampler(space.grid(), seed=seed)


def tpe_sampler(seed: int, **changes) -> optuna.samplers.TPESampler:
    """The engine's TPE (multivariate over the space's conditional groups, a constant liar
    for parallel workers), with ``changes`` to Optuna's defaults on top (for benchmarks)."""
    return optuna.samplers.TPESampler(**{**dict(seed=seed, multivariate=True, group=True,
                                                constant_liar=True, n_startup_trials=TPE_STARTUP),
                                         **changes})


def make_pruner(name: str, max_epochs: int) -> optuna.pruners.BasePruner:
    """The Optuna pruner named ``name`` (hyperband, median, successive-halving,
    successive-halving-subset, else none)."""
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(max_epochs, 1))
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=1)
    if name in ("successive-halving", SUBSET_PRUNER):
        halving = optuna.pruners.SuccessiveHalvingPruner(min_resource=SH_MIN_EPOCHS,
                                                         reduction_factor=SH_FACTOR)
        return SubsetRungPruner(halving, SH_FACTOR) if name == SUBSET_PRUNER else halving
    return optuna.pruners.NopPruner()


def pruner_rungs(name: str, epochs: int) -> list[float]:
    """The epochs before ``epochs`` where the pruner ``name`` judges every trial: successive
    halving's rungs (1, 3, 9, ...), after the subset's third of epoch 1 for
    successive-halving-subset; none for pruners without fixed rungs."""
    if name not in ("successive-halving", SUBSET_PRUNER):
        return []
    first = [SUBSET_FRACTION] if name == SUBSET_PRUNER and epochs > SUBSET_FRACTION else []
    return first + halving_rungs(SH_MIN_EPOCHS, SH_FACTOR, epochs)


def halving_rungs(first: int, factor: int, epochs: int) -> list[int]:
    """Successive halving's rungs before ``epochs``: ``first``, ``first * factor``, ..."""
    rungs, rung = [], first
    while rung < epochs:
        rungs.append(rung)
        rung *= factor
    return rungs
