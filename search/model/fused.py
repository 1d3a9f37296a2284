"""Fused training: k seeds of one config trained as one compiled program.

Each seed becomes a *tower*: the network that seed builds alone (same initial
weights, same dropout and augmentation random streams, same batch order), side
by side with the others in one Keras model whose loss is the sum of the towers'
losses. A tower's weights appear in its own loss only, so the gradient each one
gets, and the per-variable optimiser step it takes, are those of its solo run;
the k forward and backward passes are one program (one XLA computation on JAX,
one graph on TensorFlow) instead of k, which is where the time goes on a GPU.

Each tower keeps its own per-epoch history and its own stop decision: a tower
whose loss becomes NaN is recorded as diverged at that epoch while the others go
on, and training ends when every tower has stopped. The batch order comes from
the seed (search.model.batches), as in a solo run with ``Execution(data="device")``;
the equivalence with that run is tested on TensorFlow and JAX. On TensorFlow the towers
take index arrays and gather their images inside the program, so no Python feed runs on
a background thread and a stop mid-epoch cannot hang the clean-up.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import keras

from search.data.dataset import Dataset
from search.model.backbone import backbone_variables
from search.model.batches import Gather, IndexFeed, StreamEpoch, TowerBatches
from search.model.execution import Execution, current, has_accelerator
from search.model.network import ImpossibleNetwork, build_model
from search.model.training import (EVAL_BATCH_SIZE, TrainResult, TrainingDiverged, current_lr,
                                   make_optimizer, release_memory, train, trainable_params,
                                   value_range)
from search.space.config import Config

__all__ = ["TowerResult", "TowerRecorder", "fused_note", "fusion_obstacle", "out_of_memory",
           "train_fused", "train_seeds", "tower_row", "TOWER"]

TOWER = "tower_{}"  # output name of the i-th tower: its metrics are logged as tower_i_accuracy
TOO_BIG = "the fused program did not fit in memory"
TowerStop = Callable[[int, int, dict[str, float]], bool]  # (tower, epoch, row) -> stop it now


@dataclass
class TowerResult:
    """One seed's outcome: its training (history, tower model) or why it failed."""

    seed: int
    result: TrainResult | None
    failure: TrainingDiverged | None = None

    @property
    def best_val_accuracy(self) -> float:
        """The seed's best validation accuracy; NaN when it diverged."""
        return math.nan if self.result is None else self.result.best_val_accuracy


def fusion_obstacle(config: Config) -> str | None:
    """Why ``config``'s seeds cannot share one program (None when they can).

    Everything the towers share must be the same for each of them: a plateau
    schedule lowers the rate on one seed's validation loss, and mixed_float16's
    dynamic loss scale would skip every seed's step when one overflows.
    """
    if config.get("schedule", "name") == "plateau":
        return "the plateau schedule follows each seed's own validation loss"
    if config.get("training", "precision") == "mixed_float16":
        return "mixed_float16's loss scale would be shared by the seeds"
    return None


def train_seeds(config: Config, data: Dataset, seeds: Sequence[int], *,
                execution: Execution | None = None, fuse: bool = True,
                callbacks: Sequence[keras.callbacks.Callback] = ()) -> tuple[list[TowerResult], str]:
    """``config`` trained at each of ``seeds``: fused when it can be, else one after another.

    Returns one result per seed and a sentence that says how they were trained. A seed
    trained alone (``fuse=False``) is a program of one tower over the seed's own batch
    stream, so it is the same model as that seed in a fused program. A config that cannot
    fuse trains each seed with the engine's own path (``train``).
    """
    execution = execution or current()  # fused towers feed themselves, whatever its placement
    obstacle = fusion_obstacle(config)
    if obstacle:
        results = [_alone(config.replace(seed=seed), data, execution, callbacks) for seed in seeds]
    else:
        results, obstacle = _towers(config, data, seeds, execution, callbacks, fuse)
        if obstacle is None and len(seeds) > 1:
            return results, fused_note(len(seeds))
    return results, ("one seed" if len(seeds) == 1 else f"one seed after another ({obstacle})")


def fused_note(k: int) -> str:
    """What ``train --repeats`` and ``ablate`` print for k seeds trained as one program."""
    return f"fused: {k} seeds trained as one program on {keras.backend.backend()}"


def _towers(config: Config, data: Dataset, seeds: Sequence[int], execution: Execution,
            callbacks: Sequence[keras.callbacks.Callback],
            fuse: bool) -> tuple[list[TowerResult], str | None]:
    """The seeds as one program (and None), or each as a program of one tower and why: fusion
    is off, or the fused program ran out of memory."""
    if fuse:
        try:
            return train_fused(config, data, seeds, execution=execution, callbacks=callbacks), None
        except Exception as exc:  # noqa: BLE001 - each backend names running out differently
            if len(seeds) == 1 or not out_of_memory(exc):
                raise
        release_memory()
    results = [train_fused(config, data, [seed], execution=execution, callbacks=callbacks)[0]
               for seed in seeds]
    return results, TOO_BIG if fuse else "fusion was turned off"


def out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` says the device ran out of memory (TensorFlow's ResourceExhaustedError,
    JAX's RESOURCE_EXHAUSTED, PyTorch's OutOfMemoryError, or the host's MemoryError)."""
    text = f"{type(exc).__name__}: {exc}"
    return isinstance(exc, MemoryError) or any(
        mark in text for mark in ("ResourceExhausted", "RESOURCE_EXHAUSTED", "OutOfMemory",
                                  "out of memory"))


def _alone(config: Config, data: Dataset, execution: Execution,
           callbacks: Sequence[keras.callbacks.Callback]) -> TowerResult:
    try:
        return TowerResult(config.seed, train(config, data, execution=execution,
                                               callbacks=callbacks))
    except TrainingDiverged as exc:
        return TowerResult(config.seed, None, exc)


def train_fused(config: Config, data: Dataset, seeds: Sequence[int], *,
                max_params: int | None = None, execution: Execution | None = None,
                tower_stop: TowerStop | None = None, recorder: TowerRecorder | None = None,
                callbacks: Sequence[keras.callbacks.Callback] = (),
                verbose: int = 0, start_epoch: int = 0) -> list[TowerResult]:
    """Train ``config`` at each of ``seeds`` as towers of one model; one result per seed.

    ``tower_stop(tower, epoch, row)`` is asked after every epoch of a running tower and
    stops it when true: its history and result end there (its weights, shared in the one
    program, go on changing until the last tower stops). Pass your own ``recorder`` to keep the
    histories when a callback interrupts training (or to resume them with a checkpoint);
    ``start_epoch``: the epoch a resumed group's checkpoint restores, where each seed's batch
    stream goes on.
    Raises ImpossibleNetwork like ``train`` and ValueError when :func:`fusion_obstacle`
    names a reason.
    """
    obstacle = fusion_obstacle(config)
    if obstacle:
        raise ValueError(f"cannot fuse the seeds of this config: {obstacle}")
    if len(set(seeds)) != len(seeds) or not seeds:
        raise ValueError(f"fused training needs distinct seeds; got {list(seeds)}")
    execution = execution or current()
    x = data.x_train
    batch_size = min(config.get("training", "batch_size"), len(x))
    towers = [_tower(config, data, seed, index, max_params) for index, seed in enumerate(seeds)]
    labels = keras.utils.to_categorical(data.y_train, data.n_classes)
    val_labels = keras.utils.to_categorical(data.y_val, data.n_classes)
    epochs = config.get("training", "epochs")
    options = execution.compile_options()
    if keras.backend.backend() == "tensorflow":
        feed = IndexFeed.build(x, labels, data.x_val, val_labels, batch_size, seeds, epochs,
                               start_epoch)
        model = _fused_model(towers, Gather(feed.images, name="images"))
        options["steps_per_execution"] = feed.execution_steps(options.get("steps_per_execution", 1))
        if options["jit_compile"] == "auto" and not has_accelerator():
            # bench/fused.py, k = 4 on a 2-core CPU: 16 s a run without XLA; with it 16 s
            # once compiled, 26 s when it compiles, which every new config's program does
            options["jit_compile"] = False
        fit_args, callbacks = feed.fit_args, list(callbacks)
    else:
        model = _fused_model(towers, None, data.input_shape)
        batches = TowerBatches.over(x, labels, batch_size, seeds)
        fit_args = {"x": batches, "shuffle": False, "initial_epoch": start_epoch,
                    "validation_data": ([data.x_val] * len(seeds), [val_labels] * len(seeds))}
        callbacks = [StreamEpoch(batches), *callbacks]
    _compile(model, towers, config, math.ceil(len(x) / batch_size), options)
    recorder = recorder or TowerRecorder(len(seeds))
    recorder.tower_stop, recorder.towers = tower_stop, towers
    model.fit(**fit_args, epochs=epochs, validation_batch_size=EVAL_BATCH_SIZE,
              callbacks=[recorder, *callbacks], verbose=verbose)
    return [_outcome(seed, tower, recorder, index) for index, (seed, tower)
            in enumerate(zip(seeds, towers))]


def _tower(config: Config, data: Dataset, seed: int, index: int,
           max_params: int | None) -> keras.Model:
    """The network ``seed`` builds alone, renamed as tower ``index``."""
    keras.utils.set_random_seed(seed)  # as train() does before building: same weights, same streams
    alone = build_model(config, data.input_shape, data.n_classes,
                        value_range=value_range(data.x_train))
    if max_params and trainable_params(alone) > max_params:
        raise ImpossibleNetwork(f"network too large: {trainable_params(alone):,} trainable "
                                f"parameters, more than the limit of {max_params:,} (--max-params)")
    return keras.Model(alone.inputs, alone.outputs, name=TOWER.format(index))


def _fused_model(towers: Sequence[keras.Model], gather: Gather | None,
                 input_shape: tuple[int, ...] = ()) -> keras.Model:
    """The towers side by side: each takes its own images, or its own rows of ``gather``."""
    if gather is None:
        inputs = [keras.Input(shape=input_shape, name=f"image_{i}") for i in range(len(towers))]
        images = inputs
    else:
        inputs = [keras.Input(shape=(), dtype="int32", name=f"rows_{i}") for i in range(len(towers))]
        images = [gather(rows) for rows in inputs]
    outputs = [tower(image) for tower, image in zip(towers, images)]
    return keras.Model(inputs, outputs, name="fused")


def _compile(model: keras.Model, towers: Sequence[keras.Model], config: Config,
             steps_per_epoch: int, options: dict[str, Any]) -> None:
    """One optimiser over every tower's variables: its updates are per variable, so each
    tower takes its solo step; the schedule counts the same steps for all, and every
    tower's backbone gets the backbone's own rate."""
    names = [TOWER.format(i) for i in range(len(towers))]
    loss = keras.losses.CategoricalCrossentropy(
        label_smoothing=config.get("training", "label_smoothing"))
    backbone = [v for tower in towers for v in backbone_variables(tower)]
    model.compile(optimizer=make_optimizer(config, steps_per_epoch, backbone),
                  loss={name: loss for name in names},
                  metrics={name: ["accuracy"] for name in names}, **options)


class TowerRecorder(keras.callbacks.Callback):
    """Splits each epoch's logs into one history row per tower; stops diverged towers and those
    ``tower_stop`` ends, and training once none runs."""

    def __init__(self, k: int, tower_stop: TowerStop | None = None) -> None:
        super().__init__()
        self.towers: list[keras.Model] = []  # set by train_fused: their weight penalties
        self.histories: list[list[dict[str, float]]] = [[] for _ in range(k)]
        self.running = [True] * k
        self.diverged: dict[int, str] = {}
        self.stopped_at: dict[int, int] = {}  # tower -> the epoch (0-based) it stopped after
        self.tower_stop = tower_stop
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Start timing the epoch."""
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Record every running tower's row (seconds: its share of the fused epoch)."""
        seconds = (time.perf_counter() - self._start) / len(self.running)
        rate = current_lr(self.model.optimizer)
        for tower in [i for i, on in enumerate(self.running) if on]:
            row = tower_row(logs or {}, tower, len(self.running))
            if len(self.towers) > 1:  # as in a solo run's logs, the losses include the weight
                # penalty (a one-tower model's logs, which tower_row passes on, have it already)
                penalty = _penalty(self.towers[tower])
                row.update({k: row[k] + penalty for k in ("loss", "val_loss") if k in row})
            del self.histories[tower][epoch:]  # a resumed run restarts at its checkpoint's epoch
            self.histories[tower].append(
                {k: float(f"{v:.6g}") for k, v in {**row, "seconds": seconds,
                                                    "learning_rate": rate}.items()})
            bad = [k for k in ("loss", "val_loss") if k in row and not math.isfinite(row[k])]
            if bad:
                self.diverged[tower] = f"{bad[0]} became {row[bad[0]]} at epoch {epoch + 1}"
            if bad or (self.tower_stop and self.tower_stop(tower, epoch, row)):
                self.running[tower], self.stopped_at[tower] = False, epoch
        if not any(self.running):
            self.model.stop_training = True


def _penalty(tower: keras.Model) -> float:
    """The tower's weight penalty (L1/L2) at its current weights."""
    return float(sum(float(keras.ops.convert_to_numpy(loss)) for loss in tower.losses))


def tower_row(logs: dict[str, Any], tower: int, towers: int = 2) -> dict[str, float]:
    """Tower ``tower``'s metrics from a fused model's logs, under the names a solo run uses
    (its losses are the cross-entropy alone: the recorder adds the tower's weight penalty).
    A model of one tower has one output, which Keras logs without its name."""
    if towers == 1:
        return {k: float(v) for k, v in logs.items() if k != "learning_rate"}
    prefix = TOWER.format(tower) + "_"
    row = {}
    for key, value in logs.items():
        split = "val_" if key.startswith("val_") else ""
        name = key[len(split):].rpartition("/")[2]  # Keras logs an output's loss as "0/tower_0_loss"
        if name.startswith(prefix):
            row[split + name[len(prefix):]] = float(value)
    return row


def _outcome(seed: int, tower: keras.Model, recorder: TowerRecorder, index: int) -> TowerResult:
    history = recorder.histories[index]
    if index in recorder.diverged:
        return TowerResult(seed, None, TrainingDiverged(recorder.diverged[index]))
    return TowerResult(seed, TrainResult(tower, history, tower.count_params()))
