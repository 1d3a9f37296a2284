"""A trial's checkpoint on disk: how many epochs it holds, and the history a resumed trial
takes back up."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import optuna

__all__ = ["checkpoint_epoch", "resumed_history"]


def resumed_history(trial: optuna.Trial, checkpoint: Path) -> list[dict[str, float]]:
    """The epochs the killed attempt finished and checkpointed. The stored history is
    written before the checkpoint, so it may run one epoch ahead: cut it to the checkpoint's
    epoch."""
    epochs = checkpoint_epoch(checkpoint)
    if epochs is None:
        return []
    trial.set_user_attr("resumed_from_epoch", epochs)
    return list(trial.user_attrs.get("history", []))[:epochs]


def checkpoint_epoch(checkpoint: Path) -> int | None:
    """How many epochs a BackupAndRestore checkpoint holds (its metadata, or the backup
    copy Keras keeps mid-write); None without one."""
    for name in ("training_metadata.json", "training_metadata.json.bkp"):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            return int(json.loads((checkpoint / name).read_text())["epoch"])
    return None
