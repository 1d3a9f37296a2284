"""Seed-ordered training batches: the order in which a seed's run sees its images.

A seed's images come as one stream: the permutations its generator draws, one after
another, cut into full batches; an epoch is ``ceil(n / batch_size)`` of them, so the last
batch of an epoch may reach into the next permutation. Every image is seen as often as
any other (to within one), every step has a full batch, and epoch ``e`` of the stream
is the same whichever epoch a run starts from, so a resumed run goes on where it stopped.

Two feeds serve the stream, both from one device copy of the images:

- ``DeviceBatches`` / ``TowerBatches``: Keras ``PyDataset`` objects that gather each batch
  on the device (fused training on JAX and PyTorch, and ``data="device"`` runs);
- ``IndexFeed``: on TensorFlow, plain index and label arrays for ``fit``, gathered inside
  the model by ``Gather`` (fused training on TensorFlow, one tower or more). Steps per
  execution must then divide an epoch's steps. Keras wraps a ``PyDataset`` on TensorFlow in a prefetching
  pipeline that runs Python on a background thread; stopping such a pipeline mid-epoch
  (a SIGTERM, a Ctrl-C) can hang its clean-up, which waits for that thread while holding
  the interpreter lock. Arrays need no Python on that thread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import keras
import numpy as np

__all__ = ["SeedOrder", "DeviceBatches", "TowerBatches", "StreamEpoch", "IndexFeed", "Gather"]


class SeedOrder:
    """The row order of ``count`` images for ``seed``: epoch by epoch, full batches."""

    def __init__(self, count: int, batch_size: int, seed: int) -> None:
        self.count, self.batch_size = count, batch_size
        self.steps = math.ceil(count / batch_size)  # batches per epoch
        self._rng = np.random.default_rng(seed)
        self._permutations: list[np.ndarray] = []
        self._stream = np.empty(0, dtype="int32")

    def rows(self, first_epoch: int, epochs: int = 1) -> np.ndarray:
        """The image rows of ``epochs`` epochs from ``first_epoch``, batch after batch."""
        per_epoch = self.steps * self.batch_size
        end = (first_epoch + epochs) * per_epoch
        if len(self._stream) < end:  # draw ahead, doubling, so a long run concatenates rarely
            wanted = max(math.ceil(end / self.count), 2 * len(self._permutations))
            while len(self._permutations) < wanted:
                self._permutations.append(self._rng.permutation(self.count).astype("int32"))
            self._stream = np.concatenate(self._permutations)
        return self._stream[first_epoch * per_epoch:end]


class DeviceBatches(keras.utils.PyDataset):
    """Training batches gathered from arrays held on the accelerator, in ``SeedOrder``.

    The images are copied to the device once; each step only sends the batch's indices
    and gathers on the device. The epoch it serves is set by ``StreamEpoch`` (Keras calls a
    data set's own epoch hooks also around the batches it reads to trace the model).
    """

    def __init__(self, x: Any, y: Any, batch_size: int, seed: int) -> None:
        super().__init__()
        self.x, self.y = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y)
        self.order = SeedOrder(int(self.x.shape[0]), batch_size, seed)
        self.batch_size, self.epoch = batch_size, 0

    def __len__(self) -> int:
        return self.order.steps

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        rows = self.order.rows(self.epoch)[index * self.batch_size:(index + 1) * self.batch_size]
        rows = keras.ops.convert_to_tensor(rows)
        return keras.ops.take(self.x, rows, axis=0), keras.ops.take(self.y, rows, axis=0)

    def at_epoch(self, epoch: int) -> None:
        """Serve epoch ``epoch`` of the stream next."""
        self.epoch = epoch


class TowerBatches(keras.utils.PyDataset):
    """Each tower's own batch of the step: k seed-ordered streams over the same images."""

    def __init__(self, streams: Sequence[DeviceBatches]) -> None:
        super().__init__()
        self.streams = list(streams)

    @classmethod
    def over(cls, x: np.ndarray, y: np.ndarray, batch_size: int,
             seeds: Sequence[int]) -> TowerBatches:
        """One stream per seed over a single device copy of the images."""
        first = DeviceBatches(x, y, batch_size, seeds[0])
        return cls([first, *(DeviceBatches(first.x, first.y, batch_size, seed)
                             for seed in seeds[1:])])

    def __len__(self) -> int:
        return len(self.streams[0])

    def __getitem__(self, index: int) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        batches = [stream[index] for stream in self.streams]
        return tuple(b[0] for b in batches), tuple(b[1] for b in batches)

    def at_epoch(self, epoch: int) -> None:
        """Every stream serves epoch ``epoch`` next."""
        for stream in self.streams:
            stream.at_epoch(epoch)


class StreamEpoch(keras.callbacks.Callback):
    """Tells a seed-ordered feed which epoch of its stream the fit is in (a resumed fit
    starts at its checkpoint's epoch)."""

    def __init__(self, feed: DeviceBatches | TowerBatches) -> None:
        super().__init__()
        self.feed = feed

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Point the feed at ``epoch``."""
        self.feed.at_epoch(epoch)


class Gather(keras.layers.Layer):
    """Rows of a fixed image array, chosen by an integer index input (the array is held
    once on the device and is not a weight: it is neither trained nor saved)."""

    def __init__(self, images: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.images = keras.ops.convert_to_tensor(images)

    def call(self, rows: Any) -> Any:
        """The images at ``rows``."""
        return keras.ops.take(self.images, keras.ops.cast(rows, "int32"), axis=0)

    def compute_output_shape(self, input_shape: tuple[Any, ...]) -> tuple[Any, ...]:
        """One image per index."""
        return (*input_shape, *self.images.shape[1:])


@dataclass
class IndexFeed:
    """``fit`` arguments that feed k seed-ordered towers with index arrays, no Python feed.

    The training images and then the validation images form one array (``images``, for
    ``Gather``); each tower's input is its seed's rows of the stream from ``start_epoch``
    to ``epochs``, its targets their labels. ``steps_per_execution`` must divide the
    steps of an epoch (one execution never spans two epochs): see :meth:`execution_steps`.
    """

    images: np.ndarray
    fit_args: dict[str, Any]
    steps: int

    @classmethod
    def build(cls, x: np.ndarray, labels: np.ndarray, x_val: np.ndarray, val_labels: np.ndarray,
              batch_size: int, seeds: Sequence[int], epochs: int,
              start_epoch: int = 0) -> IndexFeed:
        """The feed of ``seeds`` over ``x`` (one-hot ``labels``) for epochs start..epochs."""
        orders = [SeedOrder(len(x), batch_size, seed) for seed in seeds]
        rows = [order.rows(start_epoch, max(epochs - start_epoch, 1)) for order in orders]
        val_rows = np.arange(len(x), len(x) + len(x_val), dtype="int32")
        labels = labels.astype("uint8")  # one-hot: the loss casts them; 8x less than float64
        fit_args = {"x": tuple(rows), "y": tuple(labels[r] for r in rows),
                    "batch_size": batch_size, "steps_per_epoch": orders[0].steps,
                    "shuffle": False, "initial_epoch": start_epoch,
                    "validation_data": ((val_rows,) * len(seeds), (val_labels,) * len(seeds))}
        return cls(np.concatenate([x, x_val]), fit_args, orders[0].steps)

    def execution_steps(self, wanted: int) -> int:
        """The largest number of steps per execution up to ``wanted`` that divides an epoch."""
        return max(d for d in range(1, max(wanted, 1) + 1) if self.steps % d == 0)
