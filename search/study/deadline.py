"""Ending training at a search's deadline, the same way for every engine.

A trial that runs past ``--timeout`` would make a 20-minute search take 30:
the deadline is checked after each epoch, and training stops when the next
epoch (timed by the ones so far) would end past it. The trial keeps what it
trained: its best epoch is its score and ``train --refit`` reproduces it, so
nothing measured is thrown away. The overshoot is at most the first epoch.
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

import keras

from search.errors import TrialFailure

__all__ = ["DeadlineStop", "TrialCostGuard", "TooCostly"]

# A trial whose next stretch of training (to the pruner's next rung) is projected to need more
# than this share of the whole search's time is ended: in a 20-minute search one 11-minute
# stretch leaves no room to search.
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


class TooCostly(TrialFailure, RuntimeError):
    """A trial whose next stretch of training costs more than the search can give it.

    Recorded as FAIL with a ``cost_cut`` reason, apart from bad results: a sampler never
    learns "expensive" as "bad", and a streak of cost cuts does not stop the study.
    """


class TrialCostGuard(keras.callbacks.Callback):
    """Ends a trial whose next stretch of training is projected to exceed a share of the budget.

    The stretch is what the pruner will let the trial spend before judging it again: up to
    its next rung (``rungs``, the epochs where the pruner decides), or to its last epoch
    when the pruner has no fixed rungs. The time per step is the latest epoch's, timed from
    the end of its first step (the first epoch's first step also compiles the model), so a
    machine that slows down (another process, another trial on the same device) is
    projected at the speed it has now. It is judged once ten steps of the first epoch are
    timed (a network a hundred times too slow costs ten steps, not an epoch), after each rung
    within the first epoch (the subset's), and after every epoch. ``stop(reason)`` ends the
    trial (it raises).
    """

    def __init__(self, budget_seconds: float, epochs: int, stop: Callable[[str], None],
                 share: float = MAX_TRIAL_SHARE, rungs: Sequence[float] = ()) -> None:
        super().__init__()
        self.limit, self.epochs, self.stop = budget_seconds * share, epochs, stop
        self.share, self.rungs = share, sorted(rungs)
        self.per_step: float | None = None  # seconds, the latest epoch's steps
        self._started, self._first_steps, self._epoch, self._early = 0.0, 0, 0, False
        self._passed: set[float] = set()  # rungs within the first epoch already judged from

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Time this epoch's steps afresh."""
        self._epoch, self._started, self._first_steps = epoch, 0.0, 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Time the epoch's steps; in the first epoch, judge once enough are timed."""
        now = time.perf_counter()
        if not self._started:  # with several steps per call, the first call ends at step k
            self._started, self._first_steps = now, batch + 1
            return
        timed = batch + 1 - self._first_steps  # validation is not timed: it compiles too
        if timed > 0:
            self.per_step = (now - self._started) / timed
        if self._epoch == 0 and timed >= MIN_TIMED_STEPS:
            done = (batch + 1) / (self.params.get("steps") or 1)  # of the first epoch
            passed = [r for r in self.rungs if r < 1 and r <= done and r not in self._passed]
            if not self._early:
                self._early = True
                if not passed:
                    self._judge(0)  # a network far too slow is stopped within its first epoch
            self._passed.update(passed)
            if passed and done < 1:  # a rung within the first epoch: judge the rest of it
                self._judge(done)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Judge the stretch to the next rung after each epoch."""
        self._judge(epoch + 1)

    def next_stop(self, done: float) -> float:
        """The epoch where the pruner next judges a trial that has trained ``done`` epochs (a
        fraction of one for a rung within the first epoch)."""
        return min([r for r in self.rungs if r > done] + [self.epochs])

    def _judge(self, done: float) -> None:
        steps = self.params.get("steps") or 0
        if done >= self.epochs or self.per_step is None:
            return
        until = self.next_stop(done)
        projected = self.per_step * steps * (until - done)
        if projected > self.limit:
            self.stop(f"too costly for the search's budget: {_stretch(done, until)} projected at "
                      f"{projected:.0f} s, more than {self.share:.0%} of the search's "
                      f"{self.limit / self.share:.0f} s")


def _stretch(done: float, until: float) -> str:
    """The training from ``done`` epochs to the next stop, in words: 'epochs 2-3', 'the first
    0.33 of epoch 1' or 'the rest of epoch 1' around a rung within the first epoch."""
    if until < 1:
        return f"the first {until:.2g} of epoch 1"
    if 0 < done < 1:
        return "the rest of epoch 1" + (f" and epochs 2-{until:g}" if until > 1 else "")
    return f"epochs {done + 1:g}-{until:g}"
