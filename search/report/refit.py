"""Refit a config on train+validation for its best epoch count, then test it once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from search.space.config import Config, write_yaml_atomic
from search.data.dataset import Dataset, load_dataset
from search.report.evaluation import evaluate
from search.model.training import TrainResult, predict_probabilities, train

__all__ = ["RefitOutcome", "refit_and_save", "load_refit_model"]


@dataclass
class RefitOutcome:
    """The refit model, its data, the epochs it trained, the test scores saved beside it,
    the test probabilities, and the training result."""

    model: keras.Model
    data: Dataset
    epochs: int
    report: dict[str, Any]
    probabilities: np.ndarray
    trained: TrainResult | None = None


def refit_and_save(config: Config, result: dict[str, Any], model_path: Path, *,
                   epochs: int | None = None, verbose: int = 2) -> RefitOutcome:
    """Train on train+validation, evaluate the test split once, save model and scores."""
    data = load_dataset(config.data)
    stop_after = epochs or result.get("best_epoch") or config.get("training", "epochs")
    trained = train(config, data, refit=True, stop_after=stop_after, verbose=verbose)
    x_test, y_test = data.test()
    probabilities = predict_probabilities(trained.model, x_test)
    tested = evaluate(y_test, probabilities, data.class_names)
    report = {"accuracy": tested.accuracy, "per_class": tested.per_class}
    trained.model.save(model_path)
    write_yaml_atomic(model_path.with_suffix(".test.yaml"),
                      {"trial": result.get("trial"), "epochs": stop_after, **report})
    return RefitOutcome(trained.model, data, stop_after, report, probabilities, trained)


def load_refit_model(path: Path) -> keras.Model:
    """The saved model at ``path``, uncompiled: for inference only."""
    from search.model.augmentation import compilable  # also registers our layers for loading
    from search.model.batch_norm import DebiasedBatchNormalization  # noqa: F401  - registers it

    model = keras.saving.load_model(path, compile=False)  # inference only: no optimizer state
    if keras.backend.backend() == "jax":  # as trained: Keras saves no XLA mark, and loads with
        for layer in model.layers:        # its own, so predict would run op by op
            if layer.name.startswith("aug_"):
                compilable(layer)
        model.jit_compile = True  # what "auto" means on JAX; resolved at loading, before the marks
    return model
