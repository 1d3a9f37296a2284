"""Ablation runs kept as tagged Optuna trials, and the Keras objective they train.

Runs live in a sibling study ``<study>.ablation`` in the same storage, so the
search's own trials (and its samplers and importance) never see them, while
`optuna` tools and the dashboard still do. A run is found again by its config
digest, so a killed ablation resumes with every finished run kept.
"""

from __future__ import annotations

import math

import optuna
from optuna.trial import TrialState

from .config import Config
from .data import load_dataset
from .model import ImpossibleNetwork
from .training import TrainingDiverged, release_memory, train

__all__ = ["OptunaRunStore", "keras_objective", "ablation_study_name"]


def ablation_study_name(study: str) -> str:
    return f"{study}.ablation"


class OptunaRunStore:
    """RunStore over an Optuna study: one COMPLETE (or FAIL) trial per run."""

    def __init__(self, storage: optuna.storages.BaseStorage, study: str) -> None:
        self.study = optuna.create_study(study_name=ablation_study_name(study), storage=storage,
                                         direction="maximize", load_if_exists=True)
        self._values = {t.user_attrs["run"]: t.value for t in self.study.get_trials(
            deepcopy=False, states=(TrialState.COMPLETE,)) if "run" in t.user_attrs}

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key: str) -> float | None:
        return self._values.get(key)

    def put(self, key: str, value: float, *, config: Config, view: str, component: str) -> None:
        trial = self.study.ask()
        for name, item in (("run", key), ("view", view), ("component", component),
                           ("seed", config.seed), ("config", config.to_dict())):
            trial.set_user_attr(name, item)
        if math.isfinite(value):
            self.study.tell(trial, value)
            self._values[key] = value
        else:  # kept as FAIL so a rerun tries it again
            self.study.tell(trial, state=TrialState.FAIL)


def keras_objective(config: Config) -> float:
    """Train the config and return its best validation accuracy (NaN if it cannot train)."""
    try:
        return train(config, load_dataset(config.data)).best_val_accuracy
    except (TrainingDiverged, ImpossibleNetwork):
        return math.nan
    finally:
        release_memory()
