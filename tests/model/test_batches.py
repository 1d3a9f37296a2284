"""Seed-ordered batches: one stream per seed, full batches, resumable at any epoch."""

from __future__ import annotations

import keras
import numpy as np

from search.model.batches import (DeviceBatches, Gather, IndexFeed, SeedOrder, StreamEpoch,
                                  TowerBatches)


def test_a_seeds_stream_is_its_permutations_in_full_batches():
    order = SeedOrder(10, 4, seed=0)
    assert order.steps == 3
    two = order.rows(0, 2)
    assert len(two) == 24  # 3 full batches of 4 per epoch, reaching into the next permutation
    rng = np.random.default_rng(0)
    stream = np.concatenate([rng.permutation(10) for _ in range(3)])
    assert list(two) == list(stream[:24])
    assert sorted(two[:10]) == sorted(two[10:20]) == list(range(10))


def test_a_resumed_stream_starts_where_the_epoch_starts():
    assert list(SeedOrder(10, 4, seed=3).rows(2)) == list(SeedOrder(10, 4, seed=3).rows(0, 3)[24:])
    assert list(SeedOrder(10, 4, seed=3).rows(0)) != list(SeedOrder(10, 4, seed=4).rows(0))


def test_device_batches_follow_the_stream_epoch_by_epoch():
    x = np.arange(10, dtype="float32").reshape(10, 1)
    batches = DeviceBatches(x, x.copy(), batch_size=4, seed=0)
    assert len(batches) == 3

    def epoch() -> list[float]:
        seen = [keras.ops.convert_to_numpy(batches[i][0]).ravel() for i in range(len(batches))]
        assert all(len(s) == 4 for s in seen)  # every batch full
        return list(np.concatenate(seen))

    first = epoch()
    batches.on_epoch_end()  # Keras calls it also around the batches it reads to trace a model
    assert epoch() == first
    batches.at_epoch(1)
    second = epoch()
    assert first + second == list(SeedOrder(10, 4, seed=0).rows(0, 2).astype("float32"))
    images, labels = batches[0]
    assert np.array_equal(keras.ops.convert_to_numpy(images), keras.ops.convert_to_numpy(labels))


def test_a_fit_serves_the_stream_from_its_first_epoch_however_keras_calls_the_hooks():
    x = np.arange(10, dtype="float32").reshape(10, 1)
    seen = []

    class Spy(DeviceBatches):
        def __getitem__(self, index):
            images, labels = super().__getitem__(index)
            seen.append((self.epoch, index, list(keras.ops.convert_to_numpy(images).ravel())))
            return images, labels

    batches = Spy(x, keras.utils.to_categorical(np.arange(10) % 2, 2), 4, seed=0)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "categorical_crossentropy")
    model.fit(batches, epochs=3, initial_epoch=1, shuffle=False, verbose=0,
              callbacks=[StreamEpoch(batches)])
    last = {(epoch, index): rows for epoch, index, rows in seen}  # the final read of each batch
    stream = SeedOrder(10, 4, seed=0).rows(1, 2).astype("float32")
    assert [last[(e, i)] for e in (1, 2) for i in range(3)] == [
        list(stream[n * 4:(n + 1) * 4]) for n in range(6)]


def test_tower_batches_give_each_seed_its_own_stream_over_one_copy():
    x = np.arange(10, dtype="float32").reshape(10, 1)
    towers = TowerBatches.over(x, x.copy(), 4, [0, 1])
    assert towers.streams[0].x is towers.streams[1].x
    (a, b), _ = towers[0]
    assert list(keras.ops.convert_to_numpy(a).ravel()) == list(SeedOrder(10, 4, 0).rows(0)[:4])
    assert list(keras.ops.convert_to_numpy(b).ravel()) == list(SeedOrder(10, 4, 1).rows(0)[:4])


def test_the_index_feed_holds_rows_labels_and_validation_rows_without_a_python_feed():
    x, x_val = np.zeros((10, 2, 2, 1), "float32"), np.ones((3, 2, 2, 1), "float32")
    labels = keras.utils.to_categorical(np.arange(10) % 2, 2)
    feed = IndexFeed.build(x, labels, x_val, np.eye(2)[[0, 1, 1]], 4, [5, 6], epochs=3,
                           start_epoch=1)
    args = feed.fit_args
    assert feed.images.shape == (13, 2, 2, 1) and args["steps_per_epoch"] == 3
    assert all(isinstance(rows, np.ndarray) for rows in args["x"])
    assert list(args["x"][0]) == list(SeedOrder(10, 4, 5).rows(1, 2))
    assert np.array_equal(args["y"][1], labels[SeedOrder(10, 4, 6).rows(1, 2)])
    assert list(args["validation_data"][0][0]) == [10, 11, 12] and args["initial_epoch"] == 1


def test_steps_per_execution_divide_an_epoch():
    feed = IndexFeed(np.zeros((1, 1)), {}, steps=27)
    assert feed.execution_steps(16) == 9 and feed.execution_steps(1) == 1
    assert IndexFeed(np.zeros((1, 1)), {}, steps=157).execution_steps(16) == 1
    assert IndexFeed(np.zeros((1, 1)), {}, steps=32).execution_steps(16) == 16


def test_gather_picks_rows_inside_a_model():
    images = np.arange(12, dtype="float32").reshape(6, 2)
    rows = keras.Input(shape=(), dtype="int32")
    model = keras.Model(rows, Gather(images)(rows))
    assert model.output_shape == (None, 2) and not model.weights
    out = model.predict(np.array([5, 0, 2]), verbose=0)
    assert np.array_equal(out, images[[5, 0, 2]])
