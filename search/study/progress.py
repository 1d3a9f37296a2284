"""Live progress for a study: the running trial, its epochs, the best so far.

In a terminal the running trial is a rich bar with its validation accuracy and
an ETA; in a log (output not a terminal) each epoch is one line, so a long
trial is never silent. Both engines (Optuna and KerasTuner) print the same lines.
"""

from __future__ import annotations

import math
import time
from typing import Any, Sequence

import keras
import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.markup import escape
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.table import Table

from search.study.liveness import is_taken_over
from search.study.retries import is_restart_attempt, says_nothing_of_the_space


__all__ = ["LiveProgress", "ProgressDisplay", "trials_table", "format_params"]

STATE_STYLE = {"COMPLETE": "green", "PRUNED": "yellow", "FAIL": "red", "RUNNING": "cyan",
               "STARTS OVER": "yellow", "TAKEN OVER": "yellow"}


def format_params(params: dict[str, Any], limit: int = 12) -> str:
    """Compact ``key=value`` list of a trial's searched parameters."""
    parts = [f"{k}={_short(v)}" for k, v in list(params.items())[:limit]]
    more = len(params) - limit
    return " ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


class LiveProgress:
    """Epoch bar for the running trial plus one printed line per finished trial."""

    def __init__(self, console: Console, *, total: int | None) -> None:
        self.console = console
        self.total = total
        self.progress = Progress(TextColumn("{task.description}", markup=False), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"),
                                 TimeRemainingColumn(), TextColumn("{task.fields[status]}", markup=False),
                                 console=console,
                                 transient=True)
        self.study_task = self.progress.add_task("trials", total=total, status="", visible=bool(total))

    def __enter__(self) -> LiveProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()

    def keras_callbacks(self, label: str, params: dict[str, Any]) -> list[keras.callbacks.Callback]:
        """``label`` names the trial ("trial 3"); ``params`` are its searched values."""
        self.console.print(f"[cyan]{escape(label)}[/] started: {escape(format_params(params))}",
                           markup=True)
        if self.console.is_terminal:
            return [_EpochBar(self.progress, label)]
        return [EpochLines(self.console, label)]

    def trial_finished(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Advance the trials bar and print the finished trial's line. An attempt that starts
        over (its checkpoint did not load) or that another worker took over (this one went
        silent) does not advance it: its retry takes the same slot."""
        if not says_nothing_of_the_space(trial):
            self.progress.advance(self.study_task)
        self.console.print(trial_line(study, trial), markup=True)


def trial_line(study: optuna.Study, trial: FrozenTrial) -> str:
    """The trial's one-line summary (rich markup): state, score or reason, and the best so far."""
    attrs = trial.user_attrs
    state = ("STARTS OVER" if is_restart_attempt(trial) else "TAKEN OVER" if is_taken_over(trial)
             else "CUT FOR COST" if attrs.get("cost_cut") else trial.state.name)
    if is_restart_attempt(trial):  # (it may also carry an earlier attempt's fail_reason)
        detail = attrs.get("restart_reason") or attrs.get("discarded_checkpoint")
    elif is_taken_over(trial):  # (a verdict it reached before may be stored too)
        detail = attrs.get("fail_reason")
    elif trial.state == TrialState.COMPLETE:
        detail = (f"val_accuracy {trial.value:.4f} at epoch {attrs.get('best_epoch')}, "
                  f"{attrs.get('params_count', 0):,} params, {attrs.get('seconds_per_epoch')} s/epoch")
    else:
        detail = attrs.get("prune_reason") or attrs.get("fail_reason") or \
            attrs.get("cost_cut") or trial.system_attrs.get("fail_reason", "")
    best = _best_text(study)
    return f"[{STATE_STYLE.get(state, 'white')}]trial {trial.number} {state}[/] {escape(str(detail))}  {best}"


def _best_text(study: optuna.Study) -> str:
    try:
        best = study.best_trial
    except ValueError:
        return ""
    return f"[bold](best {best.value:.4f}, trial {best.number})[/]"


class ProgressDisplay(keras.callbacks.Callback):
    """A callback that only shows training's progress. A trial's callbacks run these first,
    so an epoch's line is shown even when a later callback ends the trial on that epoch
    (the pruner, the cost guard)."""


class _EpochBar(ProgressDisplay):
    """Advances a rich bar per batch; shows the last epoch's validation accuracy."""

    def __init__(self, progress: Progress, label: str) -> None:
        super().__init__()
        self.progress, self.label = progress, label
        self.task: Any = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        epochs, steps = self.params.get("epochs", 1), self.params.get("steps") or 1
        self.steps = steps
        self.task = self.progress.add_task(f"{self.label} epoch 1/{epochs}", total=epochs * steps,
                                           status="")

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.progress.advance(self.task)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        epochs = self.params.get("epochs", 1)
        self.progress.update(self.task, completed=(epoch + 1) * self.steps,
                             description=f"{self.label} epoch {min(epoch + 2, epochs)}/{epochs}",
                             status=f"val_accuracy {logs.get('val_accuracy', math.nan):.4f}")

    def on_train_end(self, logs: dict | None = None) -> None:
        self.progress.remove_task(self.task)


class EpochLines(ProgressDisplay):
    """One line per finished epoch, for logs: score, best so far, speed and ETA."""

    def __init__(self, console: Console, label: str) -> None:
        super().__init__()
        self.console, self.label = console, label
        self.best, self.started, self.first_epoch = -math.inf, 0.0, 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Start the clock; the first epoch is not known yet."""
        self.started, self.first_epoch = time.perf_counter(), -1

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Note the first epoch this fit trains (past 0 when resumed)."""
        if self.first_epoch < 0:
            self.first_epoch = epoch  # a resumed or continued trial starts past 0

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Print the epoch's line: score, best so far, seconds per epoch and ETA in seconds."""
        score = float((logs or {}).get("val_accuracy", math.nan))
        self.best = max(self.best, score) if math.isfinite(score) else self.best
        epochs = self.params.get("epochs", epoch + 1)
        per_epoch = (time.perf_counter() - self.started) / (epoch + 1 - self.first_epoch)
        left = per_epoch * (epochs - epoch - 1)
        self.console.print(f"{self.label} epoch {epoch + 1}/{epochs}: val_accuracy {score:.4f} "
                           f"(best {self.best:.4f}), {per_epoch:.1f} s/epoch, ETA {left:.0f} s",
                           highlight=False, soft_wrap=True)


def trials_table(study: optuna.Study, *, top: int = 10,
                 states: Sequence[TrialState] = (TrialState.COMPLETE,)) -> Table:
    """The best ``top`` trials with their score, cost and searched parameters."""
    trials = sorted(study.get_trials(deepcopy=False, states=tuple(states)),
                    key=lambda t: -(t.value if t.value is not None else -math.inf))[:top]
    table = Table(title=f"study '{study.study_name}': top {len(trials)} trials")
    for column in ("trial", "val_accuracy", "best epoch", "params", "s/epoch", "searched values"):
        table.add_column(column, overflow="fold")
    for trial in trials:
        attrs = trial.user_attrs
        table.add_row(str(trial.number), f"{trial.value:.4f}", str(attrs.get("best_epoch", "")),
                      f"{attrs.get('params_count', 0):,}", str(attrs.get("seconds_per_epoch", "")),
                      format_params(trial.params, limit=8))
    return table
