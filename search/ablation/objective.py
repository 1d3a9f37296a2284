"""The Keras objective of an ablation run, resumable from its last finished epoch.

Like a search trial, a run keeps Keras' BackupAndRestore checkpoint (weights,
optimiser, epoch) under ``checkpoint_root/<run digest>`` while it trains, with
its per-epoch history beside it. An interrupted run (SIGTERM, Ctrl-C, a killed
worker) resumes there the next time any worker on this machine trains it; the
checkpoint goes once the run's value is stored (``forget``).
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Callable

import keras

from search.space.config import Config
from search.data.dataset import load_dataset
from search.model.network import ImpossibleNetwork
from search.study.stop_signal import backup_and_restore, stop_check
from search.study.trial import checkpoint_epoch
from search.model.training import EpochRecorder, TrainingDiverged, release_memory, train

__all__ = ["KerasObjective"]

HISTORY = "history.json"


class KerasObjective:
    """``config -> best validation accuracy`` (NaN if it diverges or cannot be built)."""

    def __init__(self, checkpoint_root: Path | None = None,
                 on_resume: Callable[[Config, int], None] | None = None) -> None:
        self.checkpoint_root, self.on_resume = checkpoint_root, on_resume

    def __call__(self, config: Config) -> float:
        recorder, callbacks = EpochRecorder(), [stop_check()]
        folder = self._folder(config.digest())
        if folder is not None:
            recorder.history = self._resumed(config, folder)
            # the history is written before the checkpoint: a kill in between leaves it one
            # epoch ahead, which the resumed run cuts to the checkpoint's epoch
            callbacks += [_HistoryFile(folder / HISTORY, recorder),
                          backup_and_restore(str(folder))]
        try:
            return train(config, load_dataset(config.data), callbacks=callbacks,
                         recorder=recorder).best_val_accuracy
        except (TrainingDiverged, ImpossibleNetwork):
            return math.nan
        finally:
            release_memory()

    def forget(self, key: str) -> None:
        """The run's value is stored: its checkpoint is needed no more."""
        folder = self._folder(key)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def forget_stored(self, is_stored: Callable[[str], bool]) -> None:
        """Remove the checkpoints of runs whose values are stored now: runs interrupted here
        and then trained to the end by another worker."""
        if self.checkpoint_root is not None and self.checkpoint_root.is_dir():
            for folder in self.checkpoint_root.iterdir():
                if folder.is_dir() and is_stored(folder.name):
                    self.forget(folder.name)

    def _folder(self, key: str) -> Path | None:
        return None if self.checkpoint_root is None else self.checkpoint_root / key

    def _resumed(self, config: Config, folder: Path) -> list[dict[str, float]]:
        epochs = checkpoint_epoch(folder)
        if not epochs:  # none, or a first save cut short by a kill: start over, cleanly
            shutil.rmtree(folder, ignore_errors=True)
            return []
        try:
            history = json.loads((folder / HISTORY).read_text())[:epochs]
        except (OSError, ValueError):
            history = []
        if len(history) < epochs:  # no usable history: the run starts over
            shutil.rmtree(folder, ignore_errors=True)
            return []
        if self.on_resume:
            self.on_resume(config, epochs)
        return history


class _HistoryFile(keras.callbacks.Callback):
    """Writes the run's history after each epoch (atomically: a kill never leaves half a file)."""

    def __init__(self, path: Path, recorder: EpochRecorder) -> None:
        super().__init__()
        self.path, self.recorder = path, recorder

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(self.recorder.history))
        os.replace(partial, self.path)
