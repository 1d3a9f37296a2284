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

__all__ = ["DeadlineStop"]


class DeadlineStop(keras.callbacks.Callback):
    """Sets ``stop_training`` when the next epoch would end after the deadline.

    ``seconds_left`` returns the seconds to the deadline, or None for no deadline;
    ``on_stop`` is told how many epochs were trained when it stops a fit.
    """

    def __init__(self, seconds_left: Callable[[], float | None],
                 on_stop: Callable[[int], None] | None = None) -> None:
        super().__init__()
        self.seconds_left, self.on_stop = seconds_left, on_stop
        self.stopped_at: int | None = None
        self._epoch_started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        left = self.seconds_left()
        if left is None:
            return
        if left < time.perf_counter() - self._epoch_started:
            self.stopped_at = epoch + 1
            self.model.stop_training = True
            if self.on_stop:
                self.on_stop(epoch + 1)
