"""One Optuna trial: sample a config, train it, record everything on the trial.

Every way a trial can end is recorded in its user attributes so the study
database explains itself: ``config``, ``history`` (per epoch), ``params_count``,
``seconds_per_epoch``, ``best_epoch``, and ``prune_reason``, ``fail_reason`` or ``cost_cut``;
``restart_reason`` on an attempt whose checkpoint did not load (and on its retry, which
trains from epoch 1), ``discarded_checkpoint`` on that attempt from the moment it knew.
"""

from __future__ import annotations

import contextlib
import gc
import shutil
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import keras
import optuna
from optuna.exceptions import UpdateFinishedTrialError as TakenOver
from optuna.trial import FrozenTrial, TrialState

from search.space.config import Config
from search.data.dataset import DataSpec, load_dataset
from search.model.network import ImpossibleNetwork, plan_feature_maps
from search.study.checkpoint import resumed_history
from search.study.retries import (DISCARDED_CHECKPOINT, Lock, has_live_retry, origin_number,
                                  start_over)
from search.study.optuna_internals import get_trial, trial_id
from search.study.progress import ProgressDisplay
from search.space.space import Space
from search.study.deadline import TooCostly
from search.study.stop_signal import backup_and_restore
from search.study.liveness import heartbeat, taken_over
from search.study.storage_retry import StorageUnavailable, with_storage_retry
from search.model.training import (EpochRecorder, TrainingDiverged, describe_failure,
                                   release_memory, train)
from search.errors import TrialFailure

__all__ = ["TrialFailed", "Objective", "run_trial", "trial_seed", "PruningReporter", "INTERRUPTED"]

MONITOR = "val_accuracy"
INTERRUPTED = "interrupted by SIGTERM or Ctrl-C; re-queued to resume from its last finished epoch"


class TrialFailed(TrialFailure, RuntimeError):
    """Raised to end a trial as FAIL with a reason; the study catches it and goes on."""


class CheckpointUnreadable(TrialFailed):
    """A retry's checkpoint did not load: the attempt ends, and a retry that inherits none of
    its training (no epochs, no reported scores) trains the same config and seed from epoch 1."""


def trial_seed(study_name: str, study_seed: int, number: int) -> int:
    """A seed derived from the study's identity and the trial number, stable across hosts."""
    return zlib.crc32(f"{study_name}/{study_seed}/{number}".encode()) % (2 ** 31)


class PruningReporter(keras.callbacks.Callback):
    """Reports validation accuracy each epoch and raises TrialPruned when told to.

    optuna-integration's KerasPruningCallback does the same report; ours also
    stores the epoch history on the trial as it goes, so a trial killed mid-run
    still shows how far it got.
    """

    def __init__(self, trial: optuna.Trial, recorder: EpochRecorder, epochs: int) -> None:
        super().__init__()
        self.trial, self.recorder, self.epochs = trial, recorder, epochs

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Store the history, report the score, and raise TrialPruned when the pruner says so."""
        score = (logs or {}).get(MONITOR)
        with_storage_retry(self.trial.set_user_attr, "history", self.recorder.history,
                           what="writing the epoch history")
        if score is None or self.recorder.diverged:
            return
        with_storage_retry(self.trial.report, float(score), step=epoch + 1,
                           what="reporting the epoch's score")
        # After the last epoch there is nothing left to save: the trial completes with its score.
        if epoch + 1 < self.epochs and with_storage_retry(self.trial.should_prune,
                                                          what="asking the pruner"):
            raise optuna.TrialPruned(f"pruned after epoch {epoch + 1}: {MONITOR} {float(score):.4f}")


@dataclass
class Objective:
    """The callable handed to ``study.optimize``."""

    space: Space
    data_spec: DataSpec
    study_seed: int = 0
    max_params: int = 5_000_000
    extra_callbacks: Callable[[optuna.Trial, Config], list[keras.callbacks.Callback]] | None = None
    checkpoint_root: Path | None = None
    interrupted: int | None = None  # the storage id of the trial an interrupt ended

    def config_for(self, trial: optuna.Trial) -> Config:
        """The trial's config: sampled params, the data, and a seed from its original number."""
        seed = trial_seed(trial.study.study_name, self.study_seed, origin_number(trial))
        return Config(self.space.sample(trial), self.data_spec, seed)

    def checkpoint_dir(self, trial: optuna.Trial) -> Path | None:
        """Keyed by the original trial number, so a retry finds the killed trial's epochs."""
        if self.checkpoint_root is None:
            return None
        return self.checkpoint_root / f"trial-{origin_number(trial)}"

    def __call__(self, trial: optuna.Trial) -> float:
        """Train the trial and drop its checkpoint (for ``study.optimize``; the runner uses
        :func:`run_trial`, which keeps the checkpoint until the result is stored)."""
        value = self.train_trial(trial)
        _remove(self.checkpoint_dir(trial))
        return value

    def train_trial(self, trial: optuna.Trial) -> float:
        """Train the trial; a finished one keeps its checkpoint until its result is stored."""
        config = self.config_for(trial)
        with_storage_retry(trial.set_user_attr, "config", config.to_dict(), what="storing the config")
        checkpoint = self.checkpoint_dir(trial)
        self.interrupted = None
        try:
            return self._run(trial, config, checkpoint)
        except (KeyboardInterrupt, StorageUnavailable) as exc:  # SIGTERM arrives as the first
            # The checkpoint stays: the runner re-queues this trial, and the retry resumes from it.
            self.mark_interrupted(trial, exc)
            raise
        except TakenOver:  # judged stale and re-queued meanwhile: its retry resumes from here
            raise
        except BaseException:
            _remove(checkpoint)
            raise
        finally:
            release_memory()

    def mark_interrupted(self, trial: optuna.Trial, exc: BaseException) -> None:
        """Note the trial for the runner to re-queue, and why (best effort: the storage may be
        away, or the signal may have landed mid-write)."""
        self.interrupted = trial_id(trial)
        with contextlib.suppress(Exception):
            trial.set_user_attr("fail_reason", INTERRUPTED if isinstance(
                exc, KeyboardInterrupt) else f"storage unavailable ({exc}); re-queued")

    def _run(self, trial: optuna.Trial, config: Config, checkpoint: Path | None) -> float:
        if trial.user_attrs.get(DISCARDED_CHECKPOINT):  # an attempt's checkpoint did not load
            _end(trial, "restart_reason", trial.user_attrs[DISCARDED_CHECKPOINT],
                 CheckpointUnreadable)  # and it was retried the ordinary way: start over
        data = load_dataset(self.data_spec)
        try:
            plan_feature_maps(config, data.input_shape)
        except ImpossibleNetwork as exc:
            _end(trial, "prune_reason", f"impossible network: {exc}", optuna.TrialPruned)
        recorder = EpochRecorder()
        # The history is stored before the epoch's checkpoint is saved, so a kill in between
        # leaves the history one epoch ahead, which the resumed run overwrites; never behind.
        extra = self.extra_callbacks(trial, config) if self.extra_callbacks else []
        shown = [c for c in extra if isinstance(c, ProgressDisplay)]  # before any that may prune
        callbacks: list[keras.callbacks.Callback] = [
            *shown, PruningReporter(trial, recorder, config.get("training", "epochs"))]
        if checkpoint is not None:
            recorder.history = resumed_history(trial, checkpoint)
            # Kept past training's end (we delete it once the trial is recorded): a kill between
            # the last epoch and Optuna's tell must not cost the retry every epoch.
            callbacks.append(backup_and_restore(str(checkpoint), _unreadable(trial)))
        callbacks += [c for c in extra if c not in shown]
        try:
            result = train(config, data, callbacks=callbacks, recorder=recorder,
                           max_params=self.max_params)
        except optuna.TrialPruned as exc:
            trial.set_user_attr("history", recorder.history)
            _end(trial, "prune_reason", str(exc), optuna.TrialPruned)
        except TooCostly as exc:  # recorded apart: a FAIL the sampler does not learn from
            trial.set_user_attr("history", recorder.history)
            _end(trial, "cost_cut", str(exc), TrialFailed)
        except ImpossibleNetwork as exc:
            _end(trial, "prune_reason", str(exc), optuna.TrialPruned)
        except TrainingDiverged as exc:
            _end(trial, "fail_reason", f"diverged: {exc}", TrialFailed)
        except StorageUnavailable:
            raise  # not the model's failure: the runner stops cleanly and re-queues the trial
        except CheckpointUnreadable as exc:
            _end(trial, "restart_reason", str(exc), CheckpointUnreadable)
        except TakenOver:
            raise
        except Exception as exc:  # OOM and anything else: record it, let the study go on
            _end(trial, "fail_reason", describe_failure(exc), TrialFailed)
        with_storage_retry(_record, trial, result, what="recording the trial's result")
        return result.best_val_accuracy


def run_trial(study: optuna.Study, objective: Objective,
              callbacks: Sequence[Callable[[optuna.Study, FrozenTrial], None]] = (), *,
              lock: Lock = contextlib.nullcontext, url: str | None = None) -> FrozenTrial:
    """One trial, asked and told here rather than in ``study.optimize``, so that the write of its
    result is retried like every other storage write (if the storage stays away,
    :class:`StorageUnavailable` leaves the trial RUNNING with its checkpoint, for the runner to
    re-queue). A pruned or failed trial is recorded (one whose checkpoint did not load is
    re-queued under the budget's ``lock``) and any unexpected error raised after. ``url``:
    the storage's (a journal file's trials beat by its clock)."""
    trial = with_storage_retry(_ask, study, what="starting a trial")
    checkpoint = objective.checkpoint_dir(trial)
    try:
        with heartbeat(trial, url):  # until the result is stored: a slow tell is not stale
            value, state, error = _train(objective, trial)
            try:
                frozen, taken = _store(study, trial, value, state, error, lock)
            except StorageUnavailable as exc:
                objective.mark_interrupted(trial, exc)
                raise
        if not taken:  # (a trial taken over leaves any checkpoint to its retry)
            _remove(checkpoint)
        if error is not None and not taken and not isinstance(error, (CheckpointUnreadable,
                                                                     TakenOver)):
            raise error
        for callback in callbacks:
            callback(study, frozen)
        return frozen
    finally:
        gc.collect()


def _store(study: optuna.Study, trial: optuna.Trial, value: float | None,
           state: TrialState | None, error: Exception | None, lock: Lock
           ) -> tuple[FrozenTrial, bool]:
    """Record how the trial ended (its retry from epoch 1 if its checkpoint did not load), and
    whether another worker took it over meanwhile, having judged it stale."""
    if isinstance(error, CheckpointUnreadable):  # (its files are gone already)
        return start_over(study, trial, lock), False
    stored = with_storage_retry(get_trial, study, trial_id(trial), what="reading the trial")
    if stored.state == TrialState.RUNNING:  # (an error of its own if TakenOver: told as FAIL)
        told = (None, TrialState.FAIL) if isinstance(error, TakenOver) else (value, state)
        with contextlib.suppress(TakenOver):  # ended by the other worker during this tell
            frozen = with_storage_retry(study.tell, trial, told[0], state=told[1],
                                        skip_if_finished=True, what="recording the trial's result")
            if not taken_over(frozen, *told):
                return frozen, False
    stored = with_storage_retry(get_trial, study, trial_id(trial), what="reading the trial")
    return stored, has_live_retry(study, stored)  # (its retries used up: its own failure)


def _ask(study: optuna.Study) -> optuna.Trial:
    """Start a trial (the budget's claim re-queued the stale ones, as ``study.optimize`` would)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
        return study.ask()


def _train(objective: Objective, trial: optuna.Trial
           ) -> tuple[float | None, TrialState | None, Exception | None]:
    """The value and the state to tell (None: COMPLETE if the value is valid), and an
    unexpected error to raise once the trial is recorded as failed."""
    try:
        return objective.train_trial(trial), None, None
    except optuna.TrialPruned:
        return None, TrialState.PRUNED, None
    except CheckpointUnreadable as exc:
        return None, TrialState.FAIL, exc
    except TrialFailed:
        return None, TrialState.FAIL, None
    except StorageUnavailable:
        raise  # the objective marked the trial for the runner to re-queue
    except Exception as exc:
        return None, TrialState.FAIL, exc


def _remove(checkpoint: Path | None) -> None:
    """A trial that ended (complete, pruned or failed) needs its checkpoint no more."""
    if checkpoint is not None:
        shutil.rmtree(checkpoint, ignore_errors=True)


def _unreadable(trial: optuna.Trial) -> Callable[[str], None]:
    """What a trial does when its checkpoint does not load: note it on the trial before the
    files go, so that a retry of this attempt made any other way (its worker killed, the
    storage away at the tell) starts over too instead of taking up the old scores, and end
    the attempt. Without the note (the storage away now) the files stay, to be found again."""
    def restart(reason: str) -> None:
        with_storage_retry(trial.set_user_attr, DISCARDED_CHECKPOINT, reason,
                           what="noting the unreadable checkpoint")
        raise CheckpointUnreadable(reason)
    return restart


def _end(trial: optuna.Trial, key: str, reason: str, kind: type[Exception]) -> None:
    with_storage_retry(trial.set_user_attr, key, reason, what="recording why the trial ended")
    raise kind(reason)


def _record(trial: optuna.Trial, result: Any) -> None:
    trial.set_user_attr("history", result.history)
    trial.set_user_attr("params_count", result.params_count)
    trial.set_user_attr("seconds_per_epoch", round(result.seconds_per_epoch, 3))
    trial.set_user_attr("best_epoch", result.best_epoch + 1)

