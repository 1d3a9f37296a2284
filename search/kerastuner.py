"""The same space through KerasTuner's Hyperband: `search run SPACE --engine keras-tuner`.

Knobs become KerasTuner hyperparameters under the same names Optuna uses
(``conv.depth``, ``conv.filters.0``, ...); conditional knobs are only declared
when active. The model, optimiser and schedule come from the same code as an
Optuna trial, so the two engines differ only in how they search.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import keras
import keras_tuner as kt

from .config import Config, write_yaml_atomic
from .data import Dataset, DataSpec
from .errors import SearchError
from .model import build_model
from .space import Space
from .execution import current
from .training import EVAL_BATCH_SIZE, compile_model, value_range

__all__ = ["SpaceHyperModel", "run_keras_tuner"]


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
    return Config(space.sample(_HyperParameterTrial(hp)), data, seed)


class SpaceHyperModel(kt.HyperModel):
    """A KerasTuner HyperModel over a search space and a data set."""

    def __init__(self, space: Space, data: Dataset, seed: int = 0) -> None:
        super().__init__(name="search_space")
        self.space, self.data, self.seed = space, data, seed

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        config = config_from_hp(self.space, hp, self.data.spec, self.seed)
        model = build_model(config, self.data.input_shape, self.data.n_classes,
                            value_range=value_range(self.data.x_train))
        steps = math.ceil(len(self.data.y_train) / config.get("training", "batch_size"))
        compile_model(model, config, steps, current())
        return model

    def fit(self, hp: kt.HyperParameters, model: keras.Model, *args: Any, **kwargs: Any):
        config = config_from_hp(self.space, hp, self.data.spec, self.seed)
        n = self.data.n_classes
        kwargs.setdefault("verbose", 0)
        return model.fit(self.data.x_train, keras.utils.to_categorical(self.data.y_train, n),
                         batch_size=config.get("training", "batch_size"),
                         validation_data=(self.data.x_val, keras.utils.to_categorical(self.data.y_val, n)),
                         validation_batch_size=EVAL_BATCH_SIZE, **kwargs)


def run_keras_tuner(space: Space, data: Dataset, directory: Path, *, name: str, max_epochs: int,
                    seed: int = 0, max_trials: int | None = None,
                    callbacks: list[keras.callbacks.Callback] | None = None) -> kt.Tuner:
    """Hyperband over the space; reruns resume from ``directory`` (KerasTuner's own state)."""
    tuner = kt.Hyperband(SpaceHyperModel(space, data, seed), objective="val_accuracy",
                         max_epochs=max_epochs, factor=3, seed=seed, directory=str(directory),
                         project_name=name, overwrite=False, max_consecutive_failed_trials=50,
                         max_retries_per_trial=0)
    if max_trials:
        tuner.oracle.max_trials = max_trials
    tuner.search(epochs=max_epochs, callbacks=list(callbacks or []), verbose=0)
    return tuner


def write_best(tuner: kt.Tuner, space: Space, data: DataSpec, path: Path, seed: int) -> dict:
    """best.yaml in the same format as an Optuna study's."""
    trials = [t for t in tuner.oracle.get_best_trials(1) if t.score is not None]
    if not trials:
        raise SearchError("KerasTuner finished no trial successfully; see the trial.json files in "
                          f"{tuner.project_dir} for the reasons.")
    best_trial = trials[0]
    config = config_from_hp(space, best_trial.hyperparameters, data, seed)
    content = {"study": path.parent.name, **config.to_dict(), "result": {
        "engine": "keras-tuner", "trial": best_trial.trial_id,
        "val_accuracy": float(best_trial.score), "best_epoch": int(best_trial.best_step) + 1}}
    write_yaml_atomic(path, content)
    return content
