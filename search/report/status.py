"""`search status STUDY`: one screen on a study: states, best, running workers, ETA."""

from __future__ import annotations

import datetime as dt

import numpy as np
import optuna
from optuna.trial import TrialState
from rich.console import Group
from rich.panel import Panel
from rich.table import Table

from search.errors import SearchError, shown
from search.inputs import check_values, parse_duration
from search.study.liveness import is_taken_over
from search.study.retries import is_restart_attempt, says_nothing_of_the_space
from search.study.progress import format_params

__all__ = ["status_panel", "eta_seconds"]


def eta_seconds(study: optuna.Study, now: dt.datetime | None = None) -> float | None:
    """Seconds until the last run's trial budget or deadline, whichever comes first."""
    run = last_run(study)
    now = now or dt.datetime.now()
    done = [t for t in study.trials if t.state.is_finished() and t.duration]
    running = max(1, len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))))
    estimates = []
    if run.get("trials") and done:
        mean = float(np.mean([t.duration.total_seconds() for t in done]))
        estimates.append(max(run["trials"] - len(done), 0) * mean / running)
    if run.get("timeout") and run.get("started"):
        deadline = run["started"] + dt.timedelta(seconds=run["timeout"])
        estimates.append(max((deadline - now).total_seconds(), 0.0))
    return min(estimates) if estimates else None


def last_run(study: optuna.Study) -> dict:
    """The stored ``last_run`` (trials, timeout, start time), checked like any stored value."""
    raw = study.user_attrs.get("last_run") or {}
    source = f"study '{study.study_name}' (stored last_run)"
    if not isinstance(raw, dict):
        raise SearchError(f"{source}: expected a mapping; got {shown(raw)}.", hint=_RERUN)
    problems = check_values(source, {k: raw[k] for k in ("trials", "timeout") if raw.get(k)})
    started = raw.get("started")
    try:
        started = dt.datetime.fromisoformat(started) if started else None
    except (TypeError, ValueError):
        problems.append(f"{source}: 'started' must be an ISO date and time such as "
                        f"2026-01-31T22:15:00; got {shown(started)}.")
    if problems:
        raise SearchError(problems, hint=_RERUN)
    return {"trials": raw.get("trials"), "timeout": parse_duration(raw["timeout"])
            if raw.get("timeout") else None, "started": started}


_RERUN = "The study's stored settings were changed by hand; `python -m search run` sets them again."


def status_panel(study: optuna.Study) -> Panel:
    """A panel with the trial counts by state, the best trial, the running trials and the ETA."""
    counts = Table(title="trials by state")
    counts.add_column("state")
    counts.add_column("count", justify="right")
    trials = study.get_trials(deepcopy=False)
    over = sum(map(is_restart_attempt, trials))
    taken = sum(1 for t in trials if is_taken_over(t) and not is_restart_attempt(t))
    cut = sum(1 for t in trials if t.state == TrialState.FAIL and t.user_attrs.get("cost_cut")
              and not says_nothing_of_the_space(t))
    for state in TrialState:
        n = sum(1 for t in trials if t.state == state) - (
            cut + over + taken if state == TrialState.FAIL else 0)
        if n:
            counts.add_row(state.name, str(n))
    if cut:  # too costly for the budget: not a failure of the space or the data
        counts.add_row("CUT FOR COST", str(cut))
    if over:  # a checkpoint that did not load: its retry trains the same configuration again
        counts.add_row("STARTS OVER", str(over))
    if taken:  # its worker went silent: another took it over, and its retry trains it again
        counts.add_row("TAKEN OVER", str(taken))
    parts: list = [counts, _best_line(study), _running(study)]
    eta = eta_seconds(study)
    if eta is not None:
        parts.append(f"ETA for the last run's budget/deadline: {dt.timedelta(seconds=int(eta))}")
    return Panel(Group(*parts), title=f"study '{study.study_name}'")


def _best_line(study: optuna.Study) -> str:
    try:
        best = study.best_trial
    except ValueError:
        return "no complete trial yet"
    return (f"best val_accuracy {best.value:.4f} (trial {best.number}, epoch "
            f"{best.user_attrs.get('best_epoch')}): {format_params(best.params, limit=40)}")


def _running(study: optuna.Study) -> Table:
    table = Table(title="running trials (one per live worker)")
    for column in ("trial", "started", "epochs done", "last val_accuracy"):
        table.add_column(column)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        history = trial.user_attrs.get("history", [])
        last = history[-1].get("val_accuracy") if history else None
        table.add_row(str(trial.number), str(trial.datetime_start)[:19], str(len(history)),
                      f"{last:.4f}" if last is not None else "-")
    return table
