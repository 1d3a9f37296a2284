"""A trial stuck at chance is ended after its first epochs, with the reason stated."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from search.study.chance import ChanceStop, chance_level


class Pruned(Exception):
    pass


def _prune(reason: str) -> None:
    raise Pruned(reason)


def test_chance_is_the_most_frequent_class_share():
    assert chance_level(np.array([0, 0, 0, 1, 2, 2])) == 0.5
    assert chance_level(np.arange(10)) == pytest.approx(0.1)


RNG = np.random.default_rng(0)
X = RNG.normal(size=(200, 8)).astype("float32")
Y = (X[:, 0] > 0).astype("int64") + 2 * (X[:, 1] > 0).astype("int64")  # 4 classes
CHANCE = chance_level(Y[150:])


def _fit(model: keras.Model, epochs: int, stop: ChanceStop) -> None:
    x, y = X, Y
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x[:150], y[:150], validation_data=(x[150:], y[150:]), epochs=epochs, verbose=0,
              callbacks=[stop])


def test_a_model_that_cannot_learn_is_pruned_after_two_epochs():
    """A frozen zero layer answers class 0 for every image: validation accuracy is its share."""
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(
        4, kernel_initializer="zeros", bias_initializer="zeros", trainable=False,
        activation="softmax")])
    stop = ChanceStop(CHANCE, epochs=6, prune=_prune)
    with pytest.raises(Pruned, match=r"stuck at chance: val_accuracy \d\.\d{4}, \d\.\d{4} in its "
                                     r"first 2 epochs"):
        _fit(model, 6, stop)
    assert len(stop.scores) == 2


def test_a_model_that_learns_is_left_alone():
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(4, activation="softmax")])
    stop = ChanceStop(CHANCE, epochs=6, prune=_prune)
    _fit(model, 6, stop)
    assert max(stop.scores) > CHANCE + 0.02


@pytest.mark.parametrize("epochs, logs", [(2, [0.1, 0.1]), (6, [0.1, 0.5]), (6, [0.9, 0.1])])
def test_short_runs_and_early_progress_are_not_judged(epochs, logs):
    stop = ChanceStop(0.1, epochs=epochs, prune=_prune)
    for epoch, score in enumerate(logs + [0.1, 0.1]):
        stop.on_epoch_end(epoch, {"val_accuracy": score})


def test_a_resumed_run_is_not_judged_on_its_later_epochs():
    stop = ChanceStop(0.1, epochs=10, prune=_prune)
    for epoch in (4, 5, 6):  # resumed from a checkpoint after epoch 4
        stop.on_epoch_end(epoch, {"val_accuracy": 0.1})
    assert stop.scores == []
