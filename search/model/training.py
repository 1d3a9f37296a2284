"""Train one config: optimiser, learning-rate schedule, fit, per-epoch record.

This module knows nothing about Optuna: pruning and progress arrive as Keras
callbacks, so ``train best.yaml`` and a search trial run the very same code.
"""

from __future__ import annotations

import gc
import math
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import keras
import numpy as np

from search.model.backbone import backbone_variables
from search.model.backbone_rate import with_backbone_rate
from search.space.config import Config
from search.data.dataset import Dataset
from search.model.batches import DeviceBatches, StreamEpoch
from search.model.execution import Execution, current
from search.model.network import ImpossibleNetwork, build_model
from search.errors import TrialFailure

__all__ = ["TrainResult", "TrainingDiverged", "train", "release_memory", "EVAL_BATCH_SIZE",
           "trainable_params", "current_lr", "describe_failure"]

# Evaluation has no gradient, so a large batch is free speed (measured in bench/).
EVAL_BATCH_SIZE = 1024


class TrainingDiverged(TrialFailure, RuntimeError):
    """The loss became NaN or infinite; the message says at which epoch."""


@dataclass
class TrainResult:
    """What one training run produced; ``history`` has one dict per finished epoch."""

    model: keras.Model
    history: list[dict[str, float]] = field(default_factory=list)
    params_count: int = 0

    @property
    def best_epoch(self) -> int:
        """0-based epoch with the highest validation accuracy (last epoch if no validation)."""
        scores = [h.get("val_accuracy", -math.inf) for h in self.history]
        return int(np.argmax(scores)) if scores else -1

    @property
    def best_val_accuracy(self) -> float:
        """The validation accuracy at :attr:`best_epoch` (NaN without validation)."""
        return float(self.history[self.best_epoch].get("val_accuracy", math.nan))

    @property
    def seconds_per_epoch(self) -> float:
        """The mean duration of an epoch in seconds (NaN before any epoch)."""
        return float(np.mean([h["seconds"] for h in self.history])) if self.history else math.nan


class EpochRecorder(keras.callbacks.Callback):
    """Keeps each epoch's metrics, duration and learning rate; stops on a NaN/inf loss."""

    def __init__(self) -> None:
        super().__init__()
        self.history: list[dict[str, float]] = []
        self.diverged: str | None = None
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Start timing the epoch."""
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Record the epoch's metrics, seconds and learning rate; stop on a NaN/inf loss."""
        row = {k: float(v) for k, v in (logs or {}).items() if k != "learning_rate"}
        row["seconds"] = time.perf_counter() - self._start
        row["learning_rate"] = current_lr(self.model.optimizer)
        del self.history[epoch:]  # a resumed run restarts at its checkpoint's epoch
        self.history.append({k: float(f"{v:.6g}") for k, v in row.items()})  # 6 significant digits
        bad = [k for k in ("loss", "val_loss") if k in row and not math.isfinite(row[k])]
        if bad:
            self.diverged = f"{bad[0]} became {row[bad[0]]} at epoch {epoch + 1}"
            self.model.stop_training = True


def current_lr(optimizer: keras.optimizers.Optimizer) -> float:
    """The optimiser's learning rate now (a schedule's value at the current step)."""
    try:
        return float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    except Exception:  # a schedule object: read its value at the current step
        return float(keras.ops.convert_to_numpy(optimizer._get_current_learning_rate()))


def make_optimizer(config: Config, steps_per_epoch: int,
                   backbone: Sequence[Any] = ()) -> keras.optimizers.Optimizer:
    """The configured optimiser, with the schedule built in steps of this data size;
    ``backbone``'s variables learn at the ``backbone.lr_ratio``/``head_epochs`` rates."""
    name = config.get("optimizer", "name")
    kwargs: dict[str, Any] = {"learning_rate": _schedule(config, steps_per_epoch)}
    if name in ("sgd", "rmsprop"):
        kwargs["momentum"] = config.get("optimizer", "momentum")
    if name == "adamw":
        kwargs["weight_decay"] = config.get("optimizer", "weight_decay")
    optimizers = keras.optimizers
    cls = {"sgd": optimizers.SGD, "rmsprop": optimizers.RMSprop, "adamw": optimizers.AdamW,
           "adam": optimizers.Adam, "adamax": optimizers.Adamax}[name]
    return with_backbone_rate(cls, backbone, lr_ratio=config.get("backbone", "lr_ratio"),
                              frozen_steps=steps_per_epoch * config.get("backbone", "head_epochs"),
                              **kwargs)


def _schedule(config: Config, steps: int) -> float | keras.optimizers.schedules.LearningRateSchedule:
    lr = config.get("optimizer", "learning_rate")
    name = config.get("schedule", "name")
    total = steps * config.get("training", "epochs")
    schedules = keras.optimizers.schedules
    if name == "step":
        boundaries = sorted({max(1, int(total * 0.5)), max(2, int(total * 0.75))})
        factor = config.get("schedule", "drop_factor")
        return schedules.PiecewiseConstantDecay(
            boundaries, [lr * factor ** i for i in range(len(boundaries) + 1)])
    if name == "exponential":
        return schedules.ExponentialDecay(lr, steps, config.get("schedule", "decay_rate"))
    if name == "cosine":
        warmup = min(steps * config.get("schedule", "warmup_epochs"), total - 1)
        return schedules.CosineDecay(0.0 if warmup else lr, max(1, total - warmup),
                                     alpha=config.get("schedule", "min_ratio"),
                                     warmup_target=lr if warmup else None, warmup_steps=warmup)
    if name == "cosine_restarts":
        return schedules.CosineDecayRestarts(lr, steps * config.get("schedule", "period_epochs"),
                                             t_mul=1.0, m_mul=1.0,
                                             alpha=config.get("schedule", "min_ratio"))
    return lr  # constant, and plateau (driven by a callback)


def _plateau_callback(config: Config, monitor: str) -> list[keras.callbacks.Callback]:
    if config.get("schedule", "name") != "plateau":
        return []
    return [keras.callbacks.ReduceLROnPlateau(monitor=monitor,
                                              factor=config.get("schedule", "drop_factor"),
                                              patience=config.get("schedule", "patience"))]


def compile_model(model: keras.Model, config: Config, steps_per_epoch: int,
                  execution: Execution) -> None:
    """Compile ``model`` with the config's optimizer (loss-scaled for mixed_float16), label
    smoothing and accuracy, under ``execution``'s compile options."""
    optimizer = make_optimizer(config, steps_per_epoch, backbone_variables(model))
    if config.get("training", "precision") == "mixed_float16":  # float16 gradients underflow
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(
            label_smoothing=config.get("training", "label_smoothing")),
        metrics=["accuracy"],
        **execution.compile_options(),
    )


def _training_inputs(x: np.ndarray, labels: np.ndarray, batch_size: int, seed: int,
                     execution: Execution) -> dict[str, Any]:
    """``fit`` arguments for the training data: host arrays, or batches kept on the device."""
    if execution.data_on_device(x.nbytes + labels.nbytes):
        # the batches' order is the seed's permutation alone: Keras' own batch shuffle would
        # draw from the process's global random state
        return {"x": DeviceBatches(x, labels, batch_size, seed), "shuffle": False}
    return {"x": x, "y": labels, "batch_size": batch_size, "shuffle": True}


def value_range(x: np.ndarray) -> tuple[float, float]:
    """The lowest and highest pixel value of ``x``."""
    return float(x.min()), float(x.max())


def train(config: Config, data: Dataset, *, callbacks: Sequence[keras.callbacks.Callback] = (),
          refit: bool = False, stop_after: int | None = None, recorder: EpochRecorder | None = None,
          max_params: int | None = None, verbose: int = 0, execution: Execution | None = None,
          model: keras.Model | None = None, initial_epoch: int = 0) -> TrainResult:
    """Fit ``config`` on ``data``; ``refit`` trains on train+validation with no validation.

    ``stop_after`` ends training after that many epochs while the learning-rate
    schedule still spans the configured epochs, so a refit follows the same
    trajectory as the search trial it reproduces. Pass your own ``recorder`` to
    keep the history when a callback interrupts training. ``execution`` defaults
    to the process's settings (search.model.execution). ``model``: a compiled model of
    this config to train on from ``initial_epoch`` (KerasTuner's Hyperband
    continues its trials so). Raises TrainingDiverged, and ImpossibleNetwork when
    the model has more than ``max_params`` weights.
    """
    execution = execution or current()
    keras.utils.set_random_seed(config.seed)
    x, y = data.x_train, data.y_train
    if refit:
        x, y = np.concatenate([x, data.x_val]), np.concatenate([y, data.y_val])
    batch_size = min(config.get("training", "batch_size"), len(x))
    if model is None:
        model = _compiled_model(config, data, x, math.ceil(len(x) / batch_size), max_params,
                                execution)
    recorder = recorder or EpochRecorder()
    validation = None if refit else (data.x_val, keras.utils.to_categorical(data.y_val, data.n_classes))
    inputs = _training_inputs(x, keras.utils.to_categorical(y, data.n_classes), batch_size,
                              config.seed, execution)
    feed = [StreamEpoch(inputs["x"])] if isinstance(inputs["x"], DeviceBatches) else []
    model.fit(**inputs, epochs=min(stop_after or math.inf, config.get("training", "epochs")),
              initial_epoch=initial_epoch, validation_data=validation,
              validation_batch_size=EVAL_BATCH_SIZE,
              callbacks=[*feed, recorder, *_plateau_callback(config, "loss" if refit else "val_loss"),
                         *callbacks],
              verbose=verbose)
    if recorder.diverged:
        raise TrainingDiverged(recorder.diverged)
    return TrainResult(model, recorder.history, model.count_params())


def _compiled_model(config: Config, data: Dataset, x: np.ndarray, steps: int,
                    max_params: int | None, execution: Execution) -> keras.Model:
    model = build_model(config, data.input_shape, data.n_classes, value_range=value_range(x))
    if max_params and trainable_params(model) > max_params:
        raise ImpossibleNetwork(f"network too large: {trainable_params(model):,} trainable "
                                f"parameters, more than the limit of {max_params:,} (--max-params)")
    compile_model(model, config, steps, execution)
    return model


def trainable_params(model: keras.Model) -> int:
    """What ``--max-params`` limits: weights that train (a frozen backbone does not count)."""
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def release_memory() -> None:
    """Free the previous trial's graphs and tensors before the next one."""
    keras.backend.clear_session()
    gc.collect()


def predict_probabilities(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """Class probabilities of ``model`` for the images ``x``, one row per image."""
    return model.predict(x, batch_size=EVAL_BATCH_SIZE, verbose=0)


def describe_failure(exc: Exception) -> str:
    """Why training failed, in one line: out of memory, or the error's first line."""
    text = f"{type(exc).__name__}: {exc}".strip()
    first = text.splitlines()[0][:300] if text else type(exc).__name__
    if isinstance(exc, MemoryError) or any(s in text for s in (
            "out of memory", "OOM", "ResourceExhausted", "RESOURCE_EXHAUSTED")):
        return f"out of memory: {first}"
    return f"error during training: {first}"
