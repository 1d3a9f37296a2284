"""The subset rung's probe: a Keras callback that scores a trial a third into its first epoch
and asks the pruner (search/study/subset_rung.py) whether it goes on."""

from __future__ import annotations

import math

import keras
import optuna

from search.study.optuna_internals import system_attrs
from search.study.storage_retry import with_storage_retry
from search.study.subset_rung import RUNG_KEY, SUBSET_STEP

__all__ = ["SubsetProbe", "subset_steps", "window_accuracy"]


def subset_steps(steps: int, fraction: float) -> int | None:
    """The training steps of the first epoch after which the subset rung judges a trial; None
    when an epoch is too short for a rung below it (the subset would be the whole epoch)."""
    until = math.ceil(steps * fraction)
    return until if 0 < until < steps else None


class SubsetProbe(keras.callbacks.Callback):
    """Scores a trial once it has trained on the first ``fraction`` of its first epoch,
    reports the score at step 0, and raises TrialPruned when the pruner says so.

    The score is progressive validation: the accuracy of the training steps over the second
    half of the subset (all of it when one call of several steps covers more than half),
    each measured on its batch before the step learned from it. In the first epoch no image
    has been seen before, so this is accuracy on unseen images, at no cost: no pass over
    the validation set. The price: dropout and augmentation, which act on training steps
    only, lower the score of the networks that use them. With several steps per call (16
    on TensorFlow by default) the rung is the first call at or past the share, and an
    epoch of one call has none. A trial resumed after its first epoch is not probed again,
    nor is a retry whose first attempt was judged here."""

    def __init__(self, trial: optuna.Trial, fraction: float) -> None:
        super().__init__()
        self.trial, self.fraction = trial, fraction
        self.score: float | None = None  # set once probed
        self._done, self._epoch, self._seen = False, 0, [(0, 0.0)]  # (steps, mean so far) per call

    def on_train_begin(self, logs: dict | None = None) -> None:
        """A retry whose first attempt was judged at the subset rung is not probed again."""
        self._done = RUNG_KEY in with_storage_retry(system_attrs, self.trial,
                                                    what="reading the trial")

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Note the epoch: only the first one holds the subset rung."""
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Once the subset is trained on: score, report, and ask the pruner. With several
        steps per call, the first call at or past the subset's share; none when that call
        ends the epoch (the subset would be all of it, and epoch 1's rung judges)."""
        steps, accuracy = self.params.get("steps") or 0, (logs or {}).get("accuracy")
        if self._epoch or self._done or accuracy is None:
            return
        done = batch + 1
        until = subset_steps(steps, self.fraction)
        if until is None or done >= steps or done < until:
            self._seen.append((done, float(accuracy)))
            return
        self._done, self.score = True, window_accuracy(self._seen, (done, float(accuracy)))
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
