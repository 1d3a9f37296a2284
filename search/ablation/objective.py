"""The Keras objective of an ablation run, resumable from its last finished epoch.

Like a search trial, a run keeps Keras' BackupAndRestore checkpoint (weights,
optimiser, epoch) while it trains, with its per-epoch history beside it: under
``checkpoint_root/fused-<hash of its runs>`` for the seeds of a config trained as one
program (one seed or more), ``checkpoint_root/<run digest>`` for a run that cannot fuse. An interrupted run (SIGTERM, Ctrl-C, a killed
worker) resumes there the next time any worker on this machine trains it; the
checkpoint goes once the run's value is stored (``forget``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from pathlib import Path
from typing import Callable, Sequence

import keras

from search.space.config import Config
from search.data.dataset import load_dataset
from search.model.execution import current
from search.model.fused import (TOO_BIG, TowerRecorder, fused_note, fusion_obstacle,
                                out_of_memory, train_fused)
from search.model.network import ImpossibleNetwork
from search.study.stop_signal import backup_and_restore, stop_check
from search.study.checkpoint import checkpoint_epoch
from search.model.training import EpochRecorder, TrainingDiverged, release_memory, train

__all__ = ["KerasObjective"]

HISTORY = "history.json"
MEMBERS = "members.json"
GROUP_PREFIX = "fused-"  # a fused group's checkpoint folder: fused-<hash of its run keys>


class KerasObjective:
    """``config -> best validation accuracy`` (NaN if it diverges or cannot be built);
    ``train_group`` trains the seeds of one config together (see search.model.fused)."""

    def __init__(self, checkpoint_root: Path | None = None,
                 on_resume: Callable[[Config, int], None] | None = None, *,
                 fuse: bool = True,
                 on_group: Callable[[Sequence[Config], str], None] | None = None,
                 on_restart: Callable[[Config, str], None] | None = None) -> None:
        self.checkpoint_root, self.on_resume = checkpoint_root, on_resume
        self.on_group = on_group  # told how each group of seeds trains
        self.on_restart = on_restart  # told when a checkpoint did not load and a run starts over
        self.refusal = None if fuse else "fusion was turned off"
        self._stored: set[str] = set()  # runs forgotten here: their values are stored
        # runs that cannot fuse train with the engine's own data placement; fused groups (one
        # seed or more) follow each seed's batch stream, so a seed is the same model in any group
        self.execution = current()

    def __call__(self, config: Config) -> float:
        if self.fuses([config]):
            return self.train_group([config])[0]  # one tower over the seed's own batch stream
        recorder, callbacks = EpochRecorder(), [stop_check()]
        folder = self._folder(config.digest())
        if folder is not None:
            recorder.history = self._resumed(config, folder)
            # the history is written before the checkpoint: a kill in between leaves it one
            # epoch ahead, which the resumed run cuts to the checkpoint's epoch
            callbacks += [_HistoryFile(folder / HISTORY, recorder), backup_and_restore(
                str(folder), lambda reason: self._restarted([config], reason, recorder.history))]
        try:
            return train(config, load_dataset(config.data), callbacks=callbacks,
                         recorder=recorder, execution=self.execution).best_val_accuracy
        except (TrainingDiverged, ImpossibleNetwork):
            return math.nan
        finally:
            release_memory()

    def fuses(self, configs: Sequence[Config]) -> bool:
        """Whether these seeds of one config (one seed or more) train as one fused program;
        when they cannot, ``on_group`` is told why (and the runner trains and stores them one
        by one)."""
        obstacle = self.refusal or fusion_obstacle(configs[0])
        if obstacle and self.on_group and len(configs) > 1:
            self.on_group(configs, f"one seed after another ({obstacle})")
        return obstacle is None

    def train_group(self, configs: Sequence[Config], *, restarted: bool = False) -> list[float]:
        """The values of one config at several seeds, trained as one fused program (see
        :meth:`fuses`); resumable from its checkpoint like a single run, as long as the same
        seeds are trained together again (a checkpoint that does not load: from epoch 1)."""
        config, seeds = configs[0], [c.seed for c in configs]
        if self.on_group and len(configs) > 1 and not restarted:
            self.on_group(configs, fused_note(len(configs)))
        keys = [c.digest() for c in configs]
        name = hashlib.sha256(" ".join(sorted(keys)).encode()).hexdigest()[:16]
        folder = self._folder(GROUP_PREFIX + name)
        recorder, callbacks = TowerRecorder(len(configs)), [stop_check()]
        start, unreadable = 0, ""
        if folder is not None:
            start = self._resume_group(configs, folder, recorder)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / MEMBERS).write_text(json.dumps(keys))
            callbacks += [_TowerFile(folder / HISTORY, recorder),
                          backup_and_restore(str(folder), None if restarted else _unreadable)]
        try:
            towers = train_fused(config, load_dataset(config.data), seeds, recorder=recorder,
                                 execution=self.execution, callbacks=callbacks, start_epoch=start)
        except ImpossibleNetwork:
            return [math.nan] * len(configs)
        except _CheckpointUnreadable as exc:  # before any epoch; retrained below, memory freed
            towers, unreadable = None, str(exc)
        except Exception as exc:  # noqa: BLE001 - each backend names running out differently
            if len(configs) == 1 or not out_of_memory(exc):
                raise
            towers = None  # left here, so the fused program's memory can go before the next
        finally:
            release_memory()
        if unreadable:
            shutil.rmtree(folder, ignore_errors=True)  # a kill midway leaves a checkpoint that
            # does not load again, or none: either way the group starts over
            self._restarted(configs, unreadable, [])
            return self.train_group(configs, restarted=True)
        if towers is None:
            if self.on_group:
                self.on_group(configs, f"one seed after another ({TOO_BIG})")
            return [self.train_group([c])[0] for c in configs]
        return [tower.best_val_accuracy for tower in towers]

    def _resume_group(self, configs: Sequence[Config], folder: Path, recorder: TowerRecorder) -> int:
        """The epoch the group's checkpoint restores (0: it starts over), its histories and
        stops loaded into ``recorder``."""
        epochs = checkpoint_epoch(folder)
        try:
            saved = json.loads((folder / HISTORY).read_text()) if epochs else None
            stopped = {int(t): e for t, e in saved["stopped_at"].items()} if saved else {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            saved = None
        if not saved or len(saved["histories"]) != len(configs) or any(
                len(h) < epochs for t, h in enumerate(saved["histories"]) if t not in stopped):
            shutil.rmtree(folder, ignore_errors=True)  # nothing usable: the group starts over
            return 0
        # the file is written before the checkpoint: a stop in the epoch after it is undone
        stopped = {t: e for t, e in stopped.items() if e < epochs}
        recorder.histories = [h[:epochs] for h in saved["histories"]]
        recorder.running = [t not in stopped for t in range(len(configs))]
        recorder.stopped_at = stopped
        recorder.diverged = {int(t): why for t, why in saved["diverged"].items() if int(t) in stopped}
        if self.on_resume:
            for config in configs:
                self.on_resume(config, epochs)
        return epochs

    def _restarted(self, configs: Sequence[Config], reason: str, history: list) -> None:
        """A checkpoint did not load: the run starts over from epoch 1."""
        history.clear()
        if self.on_restart:
            for config in configs:
                self.on_restart(config, reason)

    def forget(self, key: str) -> None:
        """The run's value is stored: its checkpoint is needed no more, nor that of a fused
        group once every run of it has been forgotten here."""
        self._stored.add(key)
        self.forget_stored(self._stored.__contains__)

    def forget_stored(self, is_stored: Callable[[str], bool]) -> None:
        """Remove the checkpoints of runs whose values are stored now: runs interrupted here
        and then trained to the end by another worker, and fused groups all of whose runs are."""
        if self.checkpoint_root is not None and self.checkpoint_root.is_dir():
            for folder in self.checkpoint_root.iterdir():
                if folder.is_dir() and all(map(is_stored, _members(folder))):
                    shutil.rmtree(folder, ignore_errors=True)

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


def _members(folder: Path) -> list[str]:
    """The run keys a checkpoint folder holds: its own name, or a fused group's members."""
    if not folder.name.startswith(GROUP_PREFIX):
        return [folder.name]
    try:
        return list(json.loads((folder / MEMBERS).read_text()))
    except (OSError, ValueError):
        return []  # a group cut short before it wrote its members: nothing to keep


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(text)
    os.replace(partial, path)


class _TowerFile(keras.callbacks.Callback):
    """Writes a fused group's histories, running flags and divergences after each epoch."""

    def __init__(self, path: Path, recorder: TowerRecorder) -> None:
        super().__init__()
        self.path, self.recorder = path, recorder

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        r = self.recorder
        _write_atomically(self.path, json.dumps({"histories": r.histories, "running": r.running,
                                                 "diverged": r.diverged,
                                                 "stopped_at": r.stopped_at}))


class _HistoryFile(keras.callbacks.Callback):
    """Writes the run's history after each epoch (atomically: a kill never leaves half a file)."""

    def __init__(self, path: Path, recorder: EpochRecorder) -> None:
        super().__init__()
        self.path, self.recorder = path, recorder

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        _write_atomically(self.path, json.dumps(self.recorder.history))


class _CheckpointUnreadable(Exception):
    """A fused group's checkpoint did not load: the fit's start epoch is fixed before the load,
    so the group trains again from a fresh model rather than restarting inside the fit."""


def _unreadable(reason: str) -> None:
    raise _CheckpointUnreadable(reason)
