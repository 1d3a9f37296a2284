"""Run a study to its trial budget or deadline: the one orchestration loop of `search run`."""

from __future__ import annotations

import contextlib
import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.markup import escape

from search.cluster.progress_mark import mark_progress, marking_progress
from search.model.backbone import check_weights
from search.data.dataset import load_dataset
from search.model.devices import device_report
from search.errors import SearchError
from search.knobs import Choice, Fixed, Int
from search.study.optuna_internals import get_trial
from search.study.progress import LiveProgress, trials_table
from search.study.budget import StudyBudget, TrialBudget, set_study_budget, worker_budget
from search.study.locks import SingleWorkerLock, sqlite_path
from search.study.algorithms import SUBSET_FRACTION, make_pruner, make_sampler, pruner_rungs
from search.study.chance import ChanceStop, chance_level
from search.study.deadline import DeadlineStop, TooCostly, TrialCostGuard
from search.study.lifecycle import BestYamlWriter, StudySettings, open_study
from search.study.retries import recover_interrupted, requeue_trial, says_nothing_of_the_space
from search.study.stop_signal import StopSignal, stop_check, stopping_on_signals
from search.study.storage_retry import StorageUnavailable
from search.study.subset_probe import SubsetProbe
from search.study.subset_rung import SUBSET_PRUNER
from search.study.trial import Objective, run_trial
from search.space.warm_start import BASELINE_SOURCE, warm_start_trials

__all__ = ["RunOptions", "run_study", "max_epochs", "plan_warm_start", "start_budget", "checkpoint_root"]


@dataclass
class RunOptions:
    """``trials``/``timeout`` None: the study's stored budget (``owns_budget``: set it, as `run`)."""

    trials: int | None = None
    timeout: float | None = None
    max_failures: int = 5
    tensorboard: bool = False
    owns_budget: bool = False
    warm_start: list = field(default_factory=list)  # [(source, partial params)], run only
    checkpoint_dir: Path | None = None  # where trials keep checkpoints (default: the study's folder)


def max_epochs(settings: StudySettings) -> int:
    """The most epochs any trial can train: the pruner's maximum resource."""
    knob = settings.space.knobs.get("training", {}).get("epochs", Fixed(10))
    if isinstance(knob, Int):
        return knob.high
    if isinstance(knob, Choice):
        return max(knob.values)
    return int(getattr(knob, "value", 10))


class FailureGuard:
    """Trips after ``limit`` consecutive failed trials (something is systematically wrong);
    the run starts no trial once it has tripped."""

    def __init__(self, limit: int) -> None:
        self.limit, self.streak, self.tripped = limit, 0, False

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if trial.user_attrs.get("cost_cut") or says_nothing_of_the_space(trial):
            return  # too costly for this budget, an old checkpoint, a silent worker
        self.streak = self.streak + 1 if trial.state == TrialState.FAIL else 0
        if self.limit and self.streak >= self.limit:
            self.tripped = True


def _callbacks(live: LiveProgress, settings: StudySettings, options: RunOptions,
               budget: StudyBudget):
    """Per-trial Keras callbacks: progress (shown, and marked for a Slurm task), stop checks,
    the deadline, a model stuck at chance, the subset rung for its pruner, TensorBoard if asked."""
    import keras

    chance = chance_level(load_dataset(settings.data).y_val)

    def make(trial: optuna.Trial, config: Any) -> list:
        marked = [keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: mark_progress())
                  ] if marking_progress() else []  # only a Slurm task asks for the mark
        callbacks = live.keras_callbacks(f"trial {trial.number}", trial.params) + marked + [
            stop_check(), DeadlineStop(budget.seconds_left, on_stop=lambda epochs: (
                trial.set_user_attr("stopped_at_deadline", epochs))),
            ChanceStop(chance, config.get("training", "epochs"), _prune)]
        if settings.pruner == SUBSET_PRUNER:  # before the cost guard: a bad score is no cost cut
            callbacks.append(SubsetProbe(trial, SUBSET_FRACTION))
        if budget.seconds and trial.user_attrs.get("warm_start") in (None, BASELINE_SOURCE):
            epochs = config.get("training", "epochs")  # (a warm start is a model the user
            # asked for; the baseline model is not)
            callbacks.append(TrialCostGuard(budget.seconds, epochs, _too_costly,
                                            rungs=pruner_rungs(settings.pruner, epochs)))
        if options.tensorboard:
            log_dir = settings.directory / "tensorboard" / f"trial-{trial.number}"
            callbacks.append(keras.callbacks.TensorBoard(log_dir=str(log_dir)))
        return callbacks
    return make


def _prune(reason: str) -> None:
    raise optuna.TrialPruned(reason)


def _too_costly(reason: str) -> None:
    raise TooCostly(reason)


def _require_tensorboard() -> None:
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        raise SearchError("--tensorboard needs the tensorboard package: pip install tensorboard.")


def _requeue(budget: TrialBudget, trial_id: int | None) -> None:
    """Re-queue the trial an interrupt ended (same params, seed, history and checkpoint key),
    under the budget's lock like every enqueue.

    Best effort and quiet: if the storage cannot be written now, the trial is left RUNNING
    and recovered at the next start (SQLite) or when its heartbeat goes stale (PostgreSQL).
    """
    if trial_id is None:
        return
    with StopSignal.deferred(raise_after=False), contextlib.suppress(Exception):  # a second
        with budget.lock():  # SIGTERM must not cut it in half
            requeue_trial(budget.study, get_trial(budget.study, trial_id))


def plan_warm_start(settings: StudySettings, options: RunOptions, console: Console) -> list:
    """The warm-start trials (checked; notes printed), to store for every worker's budget
    to enqueue first."""
    trials, notes = warm_start_trials(settings.space, options.warm_start)
    if [source for source, _ in options.warm_start] == [BASELINE_SOURCE]:
        notes.append("no warm start: the search tries the space's baseline model (every knob at "
                     "its default) before its sampler's picks, once per study; --no-baseline "
                     "leaves it out.")
    for note in notes:
        console.print(f"note: {escape(note)}", soft_wrap=True)
    if trials and settings.sampler == "grid":
        console.print("note: --sampler grid runs its grid only; the warm-start configs are not "
                      "enqueued.")
        return []
    if options.trials and len(trials) > options.trials:
        console.print(f"note: {len(trials)} warm-start configs but --trials {options.trials}: "
                      f"the last {len(trials) - options.trials} will not run.")
    return trials


def print_device(console: Console) -> None:
    """Which backend trains on which device, and a warning when a GPU is left unused."""
    line, warning = device_report()
    console.print(line)
    if warning:
        console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True, markup=True)


def run_study(settings: StudySettings, options: RunOptions, console: Console) -> optuna.Study:
    """Open (or resume) the study and run trials until the budget, deadline or a stop."""
    load_dataset(settings.data)  # data and weights-file problems surface before trial 0
    check_weights(settings.space)
    print_device(console)
    if options.tensorboard:
        _require_tensorboard()
    if settings.sampler == "grid":
        settings.space.grid()
    db = sqlite_path(settings.storage)
    with SingleWorkerLock(db) if db else contextlib.nullcontext():
        study = open_study(settings)
        if db:  # we hold the only worker lock, so RUNNING trials were orphaned by a kill
            recovered = recover_interrupted(study)
            if recovered:
                console.print(f"re-queued {recovered} trial(s) interrupted by a killed worker; each "
                              "resumes from its last finished epoch (one whose checkpoint does "
                              "not load starts over)")
        return _run_trials(study, settings, options, console)


def checkpoint_root(settings: StudySettings, options: RunOptions) -> Path:
    """Where this study's trials keep their checkpoints: ``--checkpoint-dir``/STUDY (a folder
    every node of a cluster sees), else the study's own folder."""
    if options.checkpoint_dir is not None:
        return Path(options.checkpoint_dir) / settings.name
    return settings.directory / "checkpoints"


def start_budget(study: optuna.Study, settings: StudySettings, options: RunOptions,
                 warm: list[dict]) -> StudyBudget:
    """Store the run's trial budget and deadline (every worker follows them) and its checked
    warm-start entries, for the process that owns the budget."""
    limits = set_study_budget(study, options.trials, options.timeout,
                              uncapped=settings.sampler != "grid")
    study.set_user_attr("warm_start", warm)
    return limits


def _run_trials(study: optuna.Study, settings: StudySettings, options: RunOptions,
                console: Console) -> optuna.Study:
    if options.owns_budget:  # checked before the study's budget is touched
        limits = start_budget(study, settings, options, plan_warm_start(settings, options, console))
    else:
        limits = worker_budget(study, options.trials, options.timeout)
    budget = TrialBudget(study, settings.storage, limits.trials, enqueue=settings.sampler != "grid")
    budget.requeue_stale()  # a killed worker's trial is run again, even with the budget spent
    done = budget.counted()
    remaining = None if limits.trials is None else max(limits.trials - done, 0) + budget.waiting()
    if remaining == 0 or (limits.seconds_left() or 1) <= 0:
        why = (f"has {done} of its {limits.trials} trials" if remaining == 0 else
               "is past its deadline (set by `run --timeout`; give this worker its own --timeout)")
        console.print(f"study '{settings.name}' {why}; nothing left to run.")
        return study
    study.sampler = make_sampler(settings.sampler, settings.space, settings.seed + done)
    study.pruner = make_pruner(settings.pruner, max_epochs(settings))
    console.print(f"study '{settings.name}': {done} trials so far; running "
                  f"{remaining if remaining is not None else 'unlimited'} more "
                  f"({settings.sampler} sampler, {settings.pruner} pruner, data {settings.data.name})")
    study.set_user_attr("last_run", {"started": datetime.datetime.now().isoformat(),
                                     "timeout": options.timeout, "trials": limits.trials})
    guard = FailureGuard(options.max_failures)
    objective = Objective(settings.space, settings.data, settings.seed, settings.max_params,
                          checkpoint_root=checkpoint_root(settings, options))
    with stopping_on_signals():
        try:
            with LiveProgress(console, total=remaining) as live:
                objective.extra_callbacks = _callbacks(live, settings, options, limits)
                callbacks = [live.trial_finished, BestYamlWriter(settings.directory / "best.yaml"),
                             guard] + ([lambda study, trial: mark_progress()]
                                       if marking_progress() else [])
                while (not guard.tripped and (limits.seconds_left() or 1) > 0
                       and not StopSignal.requested and budget.claim()):
                    run_trial(study, objective, callbacks, lock=budget.lock, url=budget.url)
                StopSignal.check()
        except (KeyboardInterrupt, StorageUnavailable):
            _requeue(budget, objective.interrupted)
            with StopSignal.deferred(raise_after=False), contextlib.suppress(Exception):
                budget.release_unpopped()  # stopped between a claim and its pop
            raise
    console.print(trials_table(study, top=10))
    if guard.tripped:
        raise SearchError(f"stopped after {guard.streak} consecutive failed trials; the reasons are "
                          f"above and in the study database.",
                          hint="Fix the space or data, then rerun the same command to resume.")
    return study
