"""Fused training: k seeds of one config trained as one compiled program.

Each seed becomes a *tower*: the network that seed builds alone (same initial
weights, same dropout and augmentation random streams, same batch order), side
by side with the others in one Keras model whose loss is the sum of the towers'
losses. A tower's weights appear in its own loss only, so the gradient each one
gets, and the per-variable optimiser step it takes, are those of its solo run;
the k forward and backward passes are one program (one graph on TensorFlow and
PyTorch) instead of k, which is where the time goes on a GPU. On JAX with an
accelerator the towers are one network whose weights are stacked k deep, run under
``jax.vmap`` (search.model.vmapped): one batched operation per layer instead of k copies.

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
from dataclasses import dataclass
from typing import Any, Sequence

import keras

from search.data.dataset import Dataset
from search.model.backbone import backbone_variables
from search.model.batches import Gather, IndexFeed, StreamEpoch, TowerBatches
from search.model.execution import Execution, current, has_accelerator
from search.model.network import ImpossibleNetwork, build_model
from search.model.training import (EVAL_BATCH_SIZE, TrainResult, TrainingDiverged,
                                   make_optimizer, release_memory, train, trainable_params,
                                   value_range)
from search.model.tower_history import TOWER, TowerRecorder, TowerStop, tower_row
from search.model.vmapped import vmapped_model
from search.space.config import Config

__all__ = ["TowerResult", "TowerRecorder", "fused_note", "fusion_obstacle", "out_of_memory",
           "train_fused", "train_seeds", "tower_row", "TOWER", "stacks"]

TOO_BIG = "the fused program did not fit in memory"


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
    return f"fused: {k} seeds trained as one program on {keras.backend.backend()}" + (
        " (jax.vmap over the stacked weights)" if stacks(k) else "")


def stacks(k: int) -> bool:
    """Whether k seeds train stacked under ``jax.vmap`` by default: on JAX with an
    accelerator. On a CPU the stacked program was twice as slow as the towers side by side
    (bench/fused.py --side-by-side, k = 4), so there the towers stay side by side."""
    return _stacked(None, k)


def _stacked(vmap: bool | None, k: int) -> bool:
    """Whether k seeds train stacked: as ``vmap`` asks (None: with an accelerator), on JAX
    and for more than one seed only."""
    wanted = has_accelerator() if vmap is None else vmap
    return wanted and k > 1 and keras.backend.backend() == "jax"


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
                verbose: int = 0, start_epoch: int = 0,
                vmap: bool | None = None) -> list[TowerResult]:
    """Train ``config`` at each of ``seeds`` as towers of one model; one result per seed.

    ``tower_stop(tower, epoch, row)`` is asked after every epoch of a running tower and
    stops it when true: its history and result end there (its weights, shared in the one
    program, go on changing until the last tower stops). Pass your own ``recorder`` to keep the
    histories when a callback interrupts training (or to resume them with a checkpoint);
    ``start_epoch``: the epoch a resumed group's checkpoint restores, where each seed's batch
    stream goes on. ``vmap``: on JAX, stack the towers under ``jax.vmap`` (False: side by
    side, as on the other backends; None: only with an accelerator, see :func:`stacks`).
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
    backbone = [v for tower in towers for v in backbone_variables(tower)]
    sync: list[keras.callbacks.Callback] = []  # before the recorder, which reads the towers
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
        batches = TowerBatches.over(x, labels, batch_size, seeds)
        fit_args = {"x": batches, "shuffle": False, "initial_epoch": start_epoch,
                    "validation_data": ([data.x_val] * len(seeds), [val_labels] * len(seeds))}
        callbacks = [StreamEpoch(batches), *callbacks]
        if _stacked(vmap, len(seeds)):
            model, backbone, synced = vmapped_model(towers, data.input_shape,
                                                    [TOWER.format(i) for i in range(len(seeds))],
                                                    backbone_variables(towers[0]))
            sync = [synced]
        else:
            model = _fused_model(towers, None, data.input_shape)
    _compile(model, len(towers), backbone, config, math.ceil(len(x) / batch_size), options)
    recorder = recorder or TowerRecorder(len(seeds))
    recorder.tower_stop, recorder.towers = tower_stop, towers
    model.fit(**fit_args, epochs=epochs, validation_batch_size=EVAL_BATCH_SIZE,
              callbacks=[*sync, recorder, *callbacks], verbose=verbose)
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


def _compile(model: keras.Model, k: int, backbone: Sequence[Any], config: Config,
             steps_per_epoch: int, options: dict[str, Any]) -> None:
    """One optimiser over every tower's variables: its updates are per variable, so each
    tower takes its solo step; the schedule counts the same steps for all, and every
    tower's backbone gets the backbone's own rate."""
    names = [TOWER.format(i) for i in range(k)]
    loss = keras.losses.CategoricalCrossentropy(
        label_smoothing=config.get("training", "label_smoothing"))
    model.compile(optimizer=make_optimizer(config, steps_per_epoch, backbone),
                  loss={name: loss for name in names},
                  metrics={name: ["accuracy"] for name in names}, **options)


def _outcome(seed: int, tower: keras.Model, recorder: TowerRecorder, index: int) -> TowerResult:
    history = recorder.histories[index]
    if index in recorder.diverged:
        return TowerResult(seed, None, TrainingDiverged(recorder.diverged[index]))
    return TowerResult(seed, TrainResult(tower, history, tower.count_params()))
