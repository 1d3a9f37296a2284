"""Ending a trial whose model has learned nothing: validation accuracy stuck at chance.

A learning rate too high for its optimiser, or a network whose signal dies in its
first layers, can sit at exactly the majority class's share epoch after epoch
(0.1002 on ten balanced classes). Training it to the end costs the search its
whole budget for a result known after two epochs. Such a trial is pruned with the
reason stated, so the sampler learns it as bad, and the user sees why.
"""

from __future__ import annotations

from typing import Callable

import keras
import numpy as np

__all__ = ["ChanceStop", "chance_level"]

MONITOR = "val_accuracy"
PATIENCE = 2  # epochs at chance before the trial is ended
MARGIN = 0.02  # within two points of chance counts as chance


def chance_level(labels: np.ndarray) -> float:
    """The accuracy of always answering the most frequent class of ``labels``."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64).ravel())
    return float(counts.max() / counts.sum()) if counts.sum() else 0.0


class ChanceStop(keras.callbacks.Callback):
    """Calls ``prune(reason)`` when the first ``patience`` epochs all score at chance.

    Only the first epochs are judged: a model that once rose above chance and fell back is
    the pruner's business, not this guard's. Runs shorter than ``patience + 1`` epochs are
    left alone (nothing would be saved).
    """

    def __init__(self, chance: float, epochs: int, prune: Callable[[str], None], *,
                 patience: int = PATIENCE, margin: float = MARGIN) -> None:
        super().__init__()
        self.chance, self.epochs, self.prune = chance, epochs, prune
        self.patience, self.margin = patience, margin
        self.scores: list[float] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Record the epoch's score; prune after ``patience`` epochs that all scored at chance."""
        score = (logs or {}).get(MONITOR)
        if score is None or self.epochs <= self.patience or epoch >= self.patience:
            return  # a run resumed past its first epochs was judged before it was stopped
        self.scores.append(float(score))
        if epoch == self.patience - 1 and len(self.scores) == self.patience and \
                max(self.scores) <= self.chance + self.margin:
            shown = ", ".join(f"{s:.4f}" for s in self.scores)
            self.prune(f"stuck at chance: {MONITOR} {shown} in its first {self.patience} epochs "
                       f"(always answering the most frequent class scores {self.chance:.4f})")
