"""Ending training at a search's deadline, the same way for every engine.

A trial that runs past ``--timeout`` would make a 20-minute search take 30:
the deadline is checked after each epoch, and training stops when the next
epoch (timed by the ones so far) would end past it. The trial keeps what it
trained: its best epoch is its score and ``train --refit`` reproduces it, so
nothing measured is thrown away. The overshoot is at most the first epoch.
"""

from __future__ import annotations

import time
from typing import Callable

import keras

__all__ = ["DeadlineStop", "TrialCostGuard"]

# A trial projected to need more than this share of the whole search's time is pruned after
# its first epoch: in a 20-minute search one 11-minute start-up trial leaves no room to search.
MAX_TRIAL_SHARE = 0.25
MIN_TIMED_STEPS = 10  # steps timed before a first epoch's projection is trusted


class DeadlineStop(keras.callbacks.Callback):
    """Sets ``stop_training`` when the next epoch would end after the deadline.

    ``seconds_left`` returns the seconds to the deadline, or None for no deadline;
    ``on_stop`` is told how many epochs were trained when it stops a fit.
    """

    def __init__(self, seconds_left: Callable[[], float | None],
                 on_stop: Callable[[int], None] | None = None) -> None:
        super().__init__()
        self.seconds_left, self.on_stop = seconds_left, on_stop
        self._epoch_started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Start timing the epoch."""
        self._epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Stop training when the time left is shorter than the epoch just trained took."""
        left = self.seconds_left()
        if left is None:
            return
        if left < time.perf_counter() - self._epoch_started:
            self.model.stop_training = True
            if self.on_stop:
                self.on_stop(epoch + 1)


class TrialCostGuard(keras.callbacks.Callback):
    """Prunes, in its first epoch, a trial whose projected time exceeds a share of the budget.

    The projection is the first epoch's time per training step, timed from the end of its
    first step (which also compiles the model), times every configured step. It is judged
    once ten steps are timed (so a network a hundred times too slow costs ten steps, not an
    epoch) and again at the epoch's end.
    ``prune(reason)`` raises the engine's pruning exception.
    """

    def __init__(self, budget_seconds: float, epochs: int, prune: Callable[[str], None],
                 share: float = MAX_TRIAL_SHARE) -> None:
        super().__init__()
        self.limit, self.epochs, self.prune = budget_seconds * share, epochs, prune
        self.share, self._started, self._first_steps = share, 0.0, 0
        self._last, self._last_steps, self._epoch = 0.0, 0, 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Note which epoch runs: only the first is judged."""
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Time the step; judge the projection once enough first-epoch steps are timed."""
        now = time.perf_counter()
        if not self._started:  # with several steps per call, the first call ends at step k
            self._started, self._first_steps = now, batch + 1
        self._last, self._last_steps = now, batch + 1  # validation is not timed: it compiles too
        if self._epoch == 0 and self._last_steps - self._first_steps >= MIN_TIMED_STEPS:
            self._judge()  # a network far too slow is stopped within its first epoch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Judge the projection again at the end of the first epoch."""
        if epoch == 0:
            self._judge()

    def _judge(self) -> None:
        steps = self.params.get("steps") or 0
        if self.epochs <= 1 or self._last_steps <= self._first_steps:
            return
        per_step = (self._last - self._started) / (self._last_steps - self._first_steps)
        projected = per_step * steps * self.epochs
        if projected > self.limit:
            self.prune(f"too slow for the search's budget: {self.epochs} epochs projected at "
                       f"{projected:.0f} s, more than {self.share:.0%} of the search's "
                       f"{self.limit / self.share:.0f} s")
