"""The cost guard judges a trial within its first epoch, from real Keras training steps."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from search.study.deadline import MIN_TIMED_STEPS, TrialCostGuard


class Pruned(Exception):
    pass


def _prune(reason: str) -> None:
    raise Pruned(reason)


class StepCounter(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.steps = 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.steps += 1


def _fit(guard: TrialCostGuard, counter: StepCounter, epochs: int) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(800, 4)).astype("float32"), rng.integers(0, 2, 800)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=8, epochs=epochs, verbose=0, callbacks=[counter, guard])


def test_a_trial_far_too_slow_is_pruned_after_a_few_steps_not_a_whole_epoch():
    guard, counter = TrialCostGuard(1e-6, epochs=5, prune=_prune), StepCounter()
    with pytest.raises(Pruned, match=r"too slow for the search's budget: 5 epochs projected at"):
        _fit(guard, counter, 5)
    assert counter.steps == MIN_TIMED_STEPS + 1  # of 100 steps per epoch


def test_a_trial_within_its_share_trains_to_the_end():
    guard, counter = TrialCostGuard(3600.0, epochs=2, prune=_prune), StepCounter()
    _fit(guard, counter, 2)
    assert counter.steps == 200
