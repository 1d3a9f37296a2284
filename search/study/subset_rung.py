"""Training-set fraction as a fidelity: successive halving whose first rung is a third of the
training set, seen once.

`--pruner successive-halving-subset` judges every trial first after a third of its first
epoch (its first third of the training set: the epoch's images come in a random order),
then at epochs 1, 3, 9, ... as `successive-halving` does: rungs at 1/3, 1, 3 and 9 epochs
keep successive halving's factor of 3. A trial that passes the subset rung trains on where
it is, on the whole set; nothing trained is thrown away.

The subset's score is progressive validation (see SubsetProbe): the accuracy of the
subset's later training steps on their batches, measured before each step learned from
them, so on images the network had not seen. It is reported to Optuna at step 0 (steps are
epochs), and costs no pass over the validation set. What it risks: a third of an epoch
favours networks that start fast, and dropout and augmentation lower the training steps'
accuracy; whether it finds better models in the same time is for the benchmarks on the
development tasks to say (bench/RESULTS.md).
"""

from __future__ import annotations

import math

import keras
import optuna
from optuna.trial import FrozenTrial

from search.study.optuna_internals import set_trial_system_attr
from search.study.storage_retry import with_storage_retry

__all__ = ["SUBSET_PRUNER", "SUBSET_STEP", "SubsetRungPruner", "SubsetProbe", "subset_steps",
           "window_accuracy"]

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
    """Scores a trial once it has trained on the first ``fraction`` of its first epoch,
    reports the score at step 0, and raises TrialPruned when the pruner says so.

    The score is progressive validation: the accuracy of the training steps over the second
    half of the subset, each measured on its batch before the step learned from it. In the
    first epoch no image has been seen before, so this is accuracy on unseen images, and it
    costs nothing. The validation set is not used: with batch normalisation's moving
    statistics a few dozen steps old (momentum 0.99 keeps 70% of their start after 35
    steps), a network that learns well scores at chance there. The price: dropout and
    augmentation, which act on training steps only, lower the score of the networks that
    use them. A resumed trial that already finished an epoch is not probed again; one
    resumed within its first epoch is (Optuna keeps the first report of a step)."""

    def __init__(self, trial: optuna.Trial, fraction: float) -> None:
        super().__init__()
        self.trial, self.fraction = trial, fraction
        self.score: float | None = None
        self._epoch, self._seen = 0, [(0, 0.0)]  # (steps done, mean accuracy so far) per call

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Note the epoch: only the first one holds the subset rung."""
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Once the subset is trained on: score, report, and ask the pruner. With several
        steps per call, the first call at or past the subset's share; none when that call
        ends the epoch (the subset would be all of it, and epoch 1's rung judges)."""
        steps, accuracy = self.params.get("steps") or 0, (logs or {}).get("accuracy")
        if self._epoch or self.score is not None or accuracy is None:
            return
        done = batch + 1
        until = subset_steps(steps, self.fraction)
        if until is None or done >= steps or done < until:
            self._seen.append((done, float(accuracy)))
            return
        self.score = window_accuracy(self._seen, (done, float(accuracy)))
        with_storage_retry(self.trial.report, self.score, step=SUBSET_STEP,
                           what="reporting the subset's score")
        if with_storage_retry(self.trial.should_prune, what="asking the pruner"):
            raise optuna.TrialPruned(
                f"pruned after {done} of epoch 1's {steps} steps (the subset rung, "
                f"{done / steps:.2f} of the training set): accuracy on its images before "
                f"training on them {self.score:.4f}")


def window_accuracy(seen: list[tuple[int, float]], now: tuple[int, float]) -> float:
    """The mean accuracy of the steps after the latest call in ``seen`` at or before half of
    ``now``'s steps, from the running means Keras logs (steps done, mean so far)."""
    done, mean = now
    since, mean_since = max((s for s in seen if s[0] <= done / 2), key=lambda s: s[0])
    return (mean * done - mean_since * since) / (done - since)
