"""Each tower's own record in a fused program: one history row per tower and epoch, under
the names a solo run logs, and each tower's own stop (divergence, or the caller's rule)."""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import keras

from search.model.training import current_lr

__all__ = ["TOWER", "TowerRecorder", "TowerStop", "tower_row"]

TOWER = "tower_{}"  # output name of the i-th tower: its metrics are logged as tower_i_accuracy
TowerStop = Callable[[int, int, dict[str, float]], bool]  # (tower, epoch, row) -> stop it now


class TowerRecorder(keras.callbacks.Callback):
    """Splits each epoch's logs into one history row per tower; stops diverged towers and those
    ``tower_stop`` ends, and training once none runs."""

    def __init__(self, k: int, tower_stop: TowerStop | None = None) -> None:
        super().__init__()
        self.towers: list[keras.Model] = []  # set by train_fused: their weight penalties
        self.histories: list[list[dict[str, float]]] = [[] for _ in range(k)]
        self.running = [True] * k
        self.diverged: dict[int, str] = {}
        self.stopped_at: dict[int, int] = {}  # tower -> the epoch (0-based) it stopped after
        self.tower_stop = tower_stop
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Start timing the epoch."""
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Record every running tower's row (seconds: its share of the fused epoch)."""
        seconds = (time.perf_counter() - self._start) / len(self.running)
        rate = current_lr(self.model.optimizer)
        for tower in [i for i, on in enumerate(self.running) if on]:
            row = tower_row(logs or {}, tower, len(self.running))
            if len(self.towers) > 1:  # as in a solo run's logs, the losses include the weight
                # penalty (a one-tower model's logs, which tower_row passes on, have it already)
                penalty = _penalty(self.towers[tower])
                row.update({k: row[k] + penalty for k in ("loss", "val_loss") if k in row})
            del self.histories[tower][epoch:]  # a resumed run restarts at its checkpoint's epoch
            self.histories[tower].append(
                {k: float(f"{v:.6g}") for k, v in {**row, "seconds": seconds,
                                                    "learning_rate": rate}.items()})
            bad = [k for k in ("loss", "val_loss") if k in row and not math.isfinite(row[k])]
            if bad:
                self.diverged[tower] = f"{bad[0]} became {row[bad[0]]} at epoch {epoch + 1}"
            if bad or (self.tower_stop and self.tower_stop(tower, epoch, row)):
                self.running[tower], self.stopped_at[tower] = False, epoch
        if not any(self.running):
            self.model.stop_training = True


def _penalty(tower: keras.Model) -> float:
    """The tower's weight penalty (L1/L2) at its current weights."""
    return float(sum(float(keras.ops.convert_to_numpy(loss)) for loss in tower.losses))


def tower_row(logs: dict[str, Any], tower: int, towers: int = 2) -> dict[str, float]:
    """Tower ``tower``'s metrics from a fused model's logs, under the names a solo run uses
    (its losses are the cross-entropy alone: the recorder adds the tower's weight penalty).
    A model of one tower has one output, which Keras logs without its name."""
    if towers == 1:
        return {k: float(v) for k, v in logs.items() if k != "learning_rate"}
    prefix = TOWER.format(tower) + "_"
    row = {}
    for key, value in logs.items():
        split = "val_" if key.startswith("val_") else ""
        name = key[len(split):].rpartition("/")[2]  # Keras logs an output's loss as "0/tower_0_loss"
        if name.startswith(prefix):
            row[split + name[len(prefix):]] = float(value)
    return row
