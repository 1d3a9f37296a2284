"""Training-set fraction as a fidelity: successive halving whose first rung is a third of the
training set, seen once.

`--pruner successive-halving-subset` judges every trial first after a third of its first
epoch (its first third of the training set: the epoch's images come in a random order),
then at epochs 1, 3, 9, ... as `successive-halving` does: rungs at 1/3, 1, 3 and 9 epochs
keep successive halving's factor of 3. A trial that passes the subset rung trains on where
it is, on the whole set; nothing trained is thrown away.

The subset's score is progressive validation (search/study/subset_probe.py): the accuracy of the
subset's later training steps on their batches, measured before each step learned from
them, so on images the network had not seen. It is reported to Optuna at step 0 (steps are
epochs), and costs no pass over the validation set. What it risks: a third of an epoch
favours networks that start fast, and dropout and augmentation lower the training steps'
accuracy; whether it finds better models in the same time is for the benchmarks on the
development tasks to say (bench/RESULTS.md).
"""

from __future__ import annotations

import math

import optuna
from optuna.trial import FrozenTrial

from search.study.optuna_internals import set_trial_system_attr

__all__ = ["SUBSET_PRUNER", "SUBSET_STEP", "RUNG_KEY", "SubsetRungPruner", "in_best_share"]

SUBSET_PRUNER = "successive-halving-subset"
SUBSET_STEP = 0  # the step the subset's score is reported at: before epoch 1's
RUNG_KEY = "completed_subset_rung"  # the trial's system attribute holding its subset score


class SubsetRungPruner(optuna.pruners.BasePruner):
    """Keeps the best ``1 / factor`` of the trials scored on the subset (step 0), and hands
    every later step to ``halving``, Optuna's successive halving over epochs."""

    def __init__(self, halving: optuna.pruners.SuccessiveHalvingPruner, factor: int) -> None:
        self.halving, self.factor = halving, factor

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        """At the subset rung: prune unless the trial's score is among the best ``1 / factor``
        of all trials scored there so far (itself included), once per trial as Optuna's
        successive halving judges a rung once (a retry keeps its first attempt's verdict);
        later: successive halving's call."""
        if trial.last_step != SUBSET_STEP:
            return self.halving.prune(study, trial)
        if RUNG_KEY in trial.system_attrs:  # a retry: its first attempt was judged here already
            return False
        value = trial.intermediate_values[SUBSET_STEP]
        if math.isnan(value):
            return True
        set_trial_system_attr(study, trial, RUNG_KEY, value)
        competing = [t.system_attrs[RUNG_KEY] for t in study.get_trials(deepcopy=False)
                     if RUNG_KEY in t.system_attrs and t.number != trial.number]
        return not in_best_share(value, competing + [value], self.factor, study.direction)


def in_best_share(value: float, competing: list[float], factor: int,
                  direction: optuna.study.StudyDirection) -> bool:
    """Whether ``value`` is among the best ``len(competing) // factor`` of ``competing`` (at
    least the best one: the first trials are promoted only if they lead), as Optuna's
    successive halving promotes."""
    keep = max(len(competing) // factor, 1)
    ranked = sorted(competing, reverse=direction == optuna.study.StudyDirection.MAXIMIZE)
    threshold = ranked[keep - 1]
    return value >= threshold if direction == optuna.study.StudyDirection.MAXIMIZE \
        else value <= threshold
