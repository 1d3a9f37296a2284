"""Training-set fraction as a fidelity: successive halving whose first rung is a third of the
training set, seen once.

`--pruner successive-halving-subset` judges every trial first after a third of its first
epoch (its first third of the training set: the epoch's images come in a random order),
then at epochs 1, 3, 9, ... as `successive-halving` does: rungs at 1/3, 1, 3 and 9 epochs
keep successive halving's factor of 3. A trial that passes the subset rung trains on where
it is, on the whole set; nothing trained is thrown away. The subset's score is the
validation accuracy at that point, reported to Optuna at step 0 (steps are epochs), so the
study keeps it beside the epochs' scores.

What it costs: a prediction over the validation set, once per trial. What it risks: a third
of an epoch favours networks that start fast (batch normalisation's moving statistics have
barely moved after a few dozen steps), so whether it finds better models in the same time
is for the benchmarks on the development tasks to say (bench/RESULTS.md).
"""

from __future__ import annotations

import contextlib
import math
import random
import sys
from typing import Any, Iterator

import keras
import numpy as np
import optuna
from optuna.trial import FrozenTrial

from search.model.training import EVAL_BATCH_SIZE
from search.study.optuna_internals import set_trial_system_attr
from search.study.storage_retry import with_storage_retry

__all__ = ["SUBSET_PRUNER", "SUBSET_STEP", "SubsetRungPruner", "SubsetProbe", "subset_steps",
           "validation_accuracy", "random_state_kept"]

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
        of all trials scored there so far (itself included); later: successive halving's call."""
        if trial.last_step != SUBSET_STEP:
            return self.halving.prune(study, trial)
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


def subset_steps(steps: int, fraction: float) -> int | None:
    """The training steps of the first epoch after which the subset rung judges a trial; None
    when an epoch is too short for a rung below it (the subset would be the whole epoch)."""
    until = math.ceil(steps * fraction)
    return until if 0 < until < steps else None


class SubsetProbe(keras.callbacks.Callback):
    """Scores a trial on the validation set once it has trained on the first ``fraction`` of
    its first epoch, reports it at step 0, and raises TrialPruned when the pruner says so.

    A resumed trial that already finished an epoch is not probed again; one that is resumed
    within its first epoch is (Optuna keeps the first report of a step)."""

    def __init__(self, trial: optuna.Trial, x_val: np.ndarray, y_val: np.ndarray,
                 fraction: float) -> None:
        super().__init__()
        self.trial, self.x_val, self.y_val, self.fraction = trial, x_val, y_val, fraction
        self.score: float | None = None
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Note the epoch: only the first one holds the subset rung."""
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Once the subset is trained on: score, report, and ask the pruner. With several
        steps per call, the first call at or past the subset's share; none when that call
        ends the epoch (the subset would be all of it, and epoch 1's rung judges)."""
        steps = self.params.get("steps") or 0
        until = subset_steps(steps, self.fraction)
        if self._epoch or self.score is not None or until is None or not until <= batch + 1 < steps:
            return
        self.score = validation_accuracy(self.model, self.x_val, self.y_val)
        with_storage_retry(self.trial.report, self.score, step=SUBSET_STEP,
                           what="reporting the subset's score")
        if with_storage_retry(self.trial.should_prune, what="asking the pruner"):
            raise optuna.TrialPruned(
                f"pruned after {batch + 1} of epoch 1's {steps} steps (the subset rung, "
                f"{(batch + 1) / steps:.2f} of the training set): val_accuracy {self.score:.4f}")


def validation_accuracy(model: keras.Model, x_val: np.ndarray, y_val: np.ndarray) -> float:
    """The share of ``x_val`` that ``model`` classifies as ``y_val`` says, in the middle of a
    ``fit``: on JAX the weights of the steps so far are written back to the model first (the
    fit loop holds them apart), and on PyTorch the model is put back in training mode after."""
    sync: Any = getattr(model, "jax_state_sync", None)
    if sync is not None:
        sync()
    with random_state_kept():
        probabilities = model.predict(x_val, batch_size=EVAL_BATCH_SIZE, verbose=0)
    if keras.backend.backend() == "torch":
        model.train()
    return float(np.mean(np.argmax(probabilities, axis=-1) == np.asarray(y_val).reshape(-1)))


@contextlib.contextmanager
def random_state_kept() -> Iterator[None]:
    """Put the global random generators back as they were: a prediction must not change the
    batches' order after it (PyTorch's data loader draws its seed from torch's generator), or
    a refit without the subset rung would not train the same model."""
    states = random.getstate(), np.random.get_state()
    torch = sys.modules.get("torch") if keras.backend.backend() == "torch" else None
    torch_state = torch.get_rng_state() if torch is not None else None
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        if torch is not None:
            torch.set_rng_state(torch_state)
