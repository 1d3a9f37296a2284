"""The same space through KerasTuner: `search run SPACE --engine keras-tuner[-bayesian]`.

Knobs become KerasTuner hyperparameters under the same names Optuna uses
(``conv.depth``, ``conv.filters.0``, ...); conditional knobs are only declared
when active. The model, optimiser and schedule come from the same code as an
Optuna trial, so the engines differ only in how they search.
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import keras
import keras_tuner as kt
from keras_tuner.src import config as kt_config

from search.space.config import Config, write_yaml_atomic
from search.data.dataset import Dataset, DataSpec
from search.errors import SearchError
from search.study.deadline import DeadlineStop
from search.model.execution import current
from search.model.network import ImpossibleNetwork, build_model, plan_feature_maps
from search.space.space import Space
from search.model.training import (EVAL_BATCH_SIZE, EpochRecorder, TrainingDiverged, TrainResult,
                       compile_model, train, trainable_params, value_range)

__all__ = ["SpaceHyperModel", "DeadlineCut", "DeadlineReached", "run_keras_tuner", "write_best",
           "TUNERS", "UNSCORED"]


class _HyperParameterTrial:
    """Optuna's suggest API over KerasTuner hyperparameters, so ``Space.sample`` serves both."""

    def __init__(self, hp: kt.HyperParameters) -> None:
        self.hp = hp

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        return self.hp.Int(name, low, high, step=step, sampling="log" if log else "linear")

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False,
                      step: float | None = None) -> float:
        return self.hp.Float(name, low, high, step=step, sampling="log" if log else "linear")

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        if set(choices) == {False, True} and all(isinstance(c, bool) for c in choices):
            return self.hp.Boolean(name)  # hp.Choice would turn booleans into ints
        return self.hp.Choice(name, list(choices))


def config_from_hp(space: Space, hp: kt.HyperParameters, data: DataSpec, seed: int) -> Config:
    """The config KerasTuner's hyperparameters ``hp`` choose in ``space``, with data and seed."""
    return Config(space.sample(_HyperParameterTrial(hp)), data, seed)


UNSCORED = "stopped at the search's deadline (--timeout) before it finished an epoch: no score"


class DeadlineReached(Exception):
    """Raised from a training or validation step once the search's deadline has passed."""


class DeadlineCut(keras.callbacks.Callback):
    """Ends a fit within a step of the deadline, mid-epoch or mid-validation: a trial started
    just before it would otherwise train (and validate) its whole first epoch past it."""

    def __init__(self, seconds_left: Callable[[], float | None]) -> None:
        super().__init__()
        self.seconds_left = seconds_left

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Raise DeadlineReached once the deadline has passed."""
        self._check()

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Raise DeadlineReached once the deadline has passed."""
        self._check()

    def _check(self) -> None:
        left = self.seconds_left()
        if left is not None and left <= 0:
            raise DeadlineReached()


class SpaceHyperModel(kt.HyperModel):
    """A KerasTuner HyperModel over a search space and a data set.

    ``fit`` trains through :func:`search.model.training.train`, like an Optuna trial: the same
    seed, NaN detection, ``--max-params`` limit and execution settings, plus the run's
    progress callbacks (``callbacks_for(label, params)``) and the search's deadline
    (``seconds_left()``: seconds to it, None for none), which stops training between
    epochs as for an Optuna trial and also within a step once it has passed.
    """

    def __init__(self, space: Space, data: Dataset, seed: int = 0, *, max_params: int | None = None,
                 callbacks_for: Callable[[str, dict], list] | None = None,
                 seconds_left: Callable[[], float | None] = lambda: None) -> None:
        super().__init__(name="search_space")
        self.space, self.data, self.seed, self.max_params = space, data, seed, max_params
        self.callbacks_for = callbacks_for or (lambda label, params: [])
        self.seconds_left = seconds_left
        self.label = "trial"

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        """Build and compile the model ``hp`` chooses; FailedTrialError for an impossible one."""
        config = config_from_hp(self.space, hp, self.data.spec, self.seed)
        try:
            plan_feature_maps(config, self.data.input_shape)
        except ImpossibleNetwork as exc:
            raise kt.errors.FailedTrialError(f"impossible network: {exc}") from None
        model = build_model(config, self.data.input_shape, self.data.n_classes,
                            value_range=value_range(self.data.x_train))
        steps = math.ceil(len(self.data.y_train) / config.get("training", "batch_size"))
        compile_model(model, config, steps, current())
        return model

    def fit(self, hp: kt.HyperParameters, model: keras.Model, *args: Any, **kwargs: Any):
        """Train the model as an Optuna trial would and return the best epoch's scores.

        Raises FailedTrialError when it is too large, diverges, or is cut before any epoch."""
        config = config_from_hp(self.space, hp, self.data.spec, self.seed)
        if self.max_params and trainable_params(model) > self.max_params:  # checked here, not
            raise kt.errors.FailedTrialError(  # in build: KerasTuner builds the defaults at start
                f"network too large: {trainable_params(model):,} trainable parameters "
                f"(--max-params {self.max_params:,})")
        initial = kwargs.get("initial_epoch", 0)
        if initial:  # a Hyperband continuation: its schedule goes on where the parent stopped
            steps = math.ceil(len(self.data.y_train) / config.get("training", "batch_size"))
            model.optimizer.iterations.assign(initial * steps)
        searched = {k: v for k, v in hp.values.items() if not k.startswith("tuner/")}
        stopped: list[int] = []  # epochs trained when the deadline stopped the fit
        callbacks = [*(kwargs.get("callbacks") or []), *self.callbacks_for(self.label, searched),
                     DeadlineStop(self.seconds_left, on_stop=stopped.append),
                     DeadlineCut(self.seconds_left)]
        recorder = EpochRecorder()
        try:
            result = train(config, self.data, model=model, callbacks=callbacks, recorder=recorder,
                           initial_epoch=initial, stop_after=kwargs.get("epochs"))
        except TrainingDiverged as exc:
            raise kt.errors.FailedTrialError(f"diverged: {exc}") from None
        except DeadlineReached:  # the unfinished epoch is dropped: it was never validated
            result = TrainResult(model, recorder.history)
            stopped.append(initial + len(result.history))
            if not result.history:
                raise kt.errors.FailedTrialError(
                    f"{UNSCORED} (during epoch {initial + 1})") from None
        if result.history:
            return _metrics(result, initial, stopped[0] if stopped else None)
        # A Hyperband continuation whose parent already trained every configured epoch.
        scores = model.evaluate(self.data.x_val, keras.utils.to_categorical(
            self.data.y_val, self.data.n_classes), batch_size=EVAL_BATCH_SIZE, verbose=0,
            return_dict=True)
        return {"val_accuracy": float(scores["accuracy"]), "val_loss": float(scores["loss"]),
                "best_epoch": float(initial)}


def _metrics(result: TrainResult, initial: int, stopped_at: int | None) -> dict[str, float]:
    """The best epoch's scores; ``best_epoch`` is stored with the trial (`train --refit` trains
    that many) and ``stopped_at_deadline`` (epochs trained) when the deadline ended the fit."""
    best = {k: v for k, v in result.history[result.best_epoch].items()
            if k in ("val_accuracy", "val_loss", "accuracy", "loss")}
    best["best_epoch"] = float(initial + result.best_epoch + 1)
    if stopped_at is not None:
        best["stopped_at_deadline"] = float(stopped_at)
    return best


def _with_deadline(tuner_class: type[kt.Tuner]) -> type[kt.Tuner]:
    """``tuner_class`` that starts no trial once ``deadline`` (time.time()) has passed."""

    class Tuner(tuner_class):  # type: ignore[misc, valid-type]
        deadline: float | None = None
        say: Callable[[str], None] = print

        def pre_create_trial(self) -> None:
            if self.deadline is not None and time.time() >= self.deadline:
                self.oracle.max_trials = max(len(self.oracle.trials), 1)

        def on_trial_begin(self, trial: Any) -> None:
            super().on_trial_begin(trial)
            self.hypermodel.label = f"trial {int(trial.trial_id)}"  # the id it is stored under

        def on_trial_end(self, trial: Any) -> None:
            super().on_trial_end(trial)
            number = int(trial.trial_id)
            if trial.status in ("FAILED", "INVALID"):  # the reason, not KerasTuner's traceback
                lines = (trial.message or "").strip().splitlines() or ["no reason given"]
                reason = re.sub(r"^[\w.]*FailedTrialError: ", "", lines[-1])[:300]
                self.say(f"KerasTuner trial {number} {trial.status}: {reason}")
            elif trial.metrics.exists("stopped_at_deadline"):
                epochs = int(trial.metrics.get_last_value("stopped_at_deadline"))
                self.say(f"KerasTuner trial {number} stopped at the search's deadline after "
                         f"{epochs} epoch(s); its score is its best finished epoch's")

    return Tuner


TUNERS = {"keras-tuner": "hyperband", "keras-tuner-bayesian": "bayesian"}


def run_keras_tuner(space: Space, data: Dataset, directory: Path, *, name: str, max_epochs: int,
                    seed: int = 0, max_trials: int | None = None, timeout: float | None = None,
                    max_params: int | None = None, algorithm: str = "hyperband",
                    callbacks_for: Callable[[str, dict], list] | None = None,
                    say: Callable[[str], None] = print) -> kt.Tuner:
    """Hyperband or Bayesian optimisation over the space until ``max_trials`` or ``timeout``
    seconds; reruns resume from ``directory`` (KerasTuner's own state)."""
    kt_config.DEBUG = False  # KerasTuner prints every failed trial's traceback otherwise
    deadline = time.time() + timeout if timeout else None
    seconds_left = (lambda: deadline - time.time()) if deadline else (lambda: None)
    hypermodel = SpaceHyperModel(space, data, seed, max_params=max_params,
                                 callbacks_for=callbacks_for, seconds_left=seconds_left)
    common = dict(objective="val_accuracy", seed=seed, directory=str(directory), project_name=name,
                  overwrite=False, max_consecutive_failed_trials=50, max_retries_per_trial=0)
    if algorithm == "bayesian":
        tuner = _with_deadline(kt.BayesianOptimization)(
            hypermodel, max_trials=max_trials or (100_000 if deadline else 20), **common)
    else:  # with a deadline and no trial count, Hyperband repeats its brackets until the deadline
        tuner = _with_deadline(kt.Hyperband)(
            hypermodel, max_epochs=max_epochs, factor=3,
            hyperband_iterations=1 if max_trials or not deadline else 1000, **common)
        if max_trials:
            tuner.oracle.max_trials = max_trials
    tuner.deadline, tuner.say = deadline, say
    tuner.search(epochs=max_epochs, verbose=0)
    return tuner


def best_epoch(trial: Any) -> int:
    """The epoch count of the trial's best score (``fit`` reports it as a metric, counted from
    the first epoch of the trial a Hyperband continuation came from)."""
    if trial.metrics.exists("best_epoch"):
        return int(trial.metrics.get_last_value("best_epoch"))
    return int(trial.best_step) + 1


def write_best(tuner: kt.Tuner, space: Space, data: DataSpec, path: Path, seed: int) -> dict:
    """best.yaml in the same format as an Optuna study's."""
    trials = [t for t in tuner.oracle.get_best_trials(1) if t.score is not None]
    if not trials and any(UNSCORED in (t.message or "") for t in tuner.oracle.trials.values()):
        raise SearchError("KerasTuner scored no trial: the search's deadline (--timeout) came "
                          "before any trial finished an epoch.", hint="Give it a longer --timeout, "
                          "or make an epoch cheaper (fewer images with --limit, a smaller space).")
    if not trials:
        raise SearchError("KerasTuner finished no trial successfully; see the trial.json files in "
                          f"{tuner.project_dir} for the reasons.")
    best_trial = trials[0]
    config = config_from_hp(space, best_trial.hyperparameters, data, seed)
    content = {"study": path.parent.name, **config.to_dict(), "result": {
        "engine": "keras-tuner", "oracle": type(tuner.oracle).__name__, "trial": best_trial.trial_id,
        "val_accuracy": float(best_trial.score), "best_epoch": best_epoch(best_trial)}}
    write_yaml_atomic(path, content)
    return content
