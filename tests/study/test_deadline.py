"""The cost guard judges a trial's next stretch of training (to the pruner's next rung, or its
end) within its first epoch and after each epoch, from real Keras training steps at the
latest epoch's speed. The guard's clock is the test's: each step advances it by a set time,
so what the guard projects does not hang on how busy the machine is."""

from __future__ import annotations

import types

import keras
import numpy as np
import pytest

from search.study import deadline
from search.study.deadline import MIN_TIMED_STEPS, TrialCostGuard

STEP_SECONDS = 0.001  # what one step of the tiny model takes on the test's clock


class Clock:
    now = 0.0


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    """The guard reads this clock; every training step moves it on by STEP_SECONDS."""
    monkeypatch.setattr(Clock, "now", 1000.0)
    monkeypatch.setattr(deadline, "time", types.SimpleNamespace(perf_counter=lambda: Clock.now))


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
        Clock.now += STEP_SECONDS


def _fit(guard: TrialCostGuard, counter: StepCounter, epochs: int,
         slower: keras.callbacks.Callback | None = None) -> None:
    """100 steps an epoch of a tiny model, ``slower`` (if any) before the guard."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(800, 4)).astype("float32"), rng.integers(0, 2, 800)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=8, epochs=epochs, verbose=0,
              callbacks=[counter, *([slower] if slower else []), guard])


def test_a_trial_far_too_slow_is_cut_after_a_few_steps_not_a_whole_epoch():
    guard, counter = TrialCostGuard(1e-6, epochs=5, stop=_prune), StepCounter()
    with pytest.raises(Pruned, match=r"too costly for the search's budget: epochs 1-5 projected at"):
        _fit(guard, counter, 5)
    assert counter.steps == MIN_TIMED_STEPS + 1  # of 100 steps per epoch


def test_a_trial_within_its_share_trains_to_the_end():
    guard, counter = TrialCostGuard(3600.0, epochs=2, stop=_prune), StepCounter()
    _fit(guard, counter, 2)
    assert counter.steps == 200


def test_with_rungs_only_the_stretch_to_the_next_rung_is_judged():
    guard = TrialCostGuard(100.0, epochs=20, stop=_prune, rungs=[1, 3, 9])
    assert [guard.next_stop(done) for done in (0, 1, 2, 3, 9, 12)] == [1, 3, 3, 9, 20, 20]


def test_a_trial_is_cut_at_the_rung_whose_next_stretch_costs_too_much():
    """One epoch here takes a fraction of a second: a budget of a few seconds lets the
    first stretches (1 and 2 epochs) run and cuts the trial before the long one (37)."""
    counter = StepCounter()
    probe = TrialCostGuard(3600.0, epochs=1, stop=_prune)
    _fit(probe, counter, 1)
    per_epoch = probe.per_step * 100
    budget = per_epoch * 6.0 / 0.25  # the share allows about six epochs per stretch
    guard, counter = TrialCostGuard(budget, epochs=40, stop=_prune, rungs=[1, 3]), StepCounter()
    with pytest.raises(Pruned, match=r"epochs 4-40 projected at"):
        _fit(guard, counter, 40)
    assert counter.steps == 300  # trained epochs 1 to 3, cut before the 37 left


class SlowerFrom(keras.callbacks.Callback):
    """Makes every step from epoch ``epoch`` (0-based) take ``seconds`` longer: a machine that
    another process has started to share."""

    def __init__(self, epoch: int, seconds: float) -> None:
        super().__init__()
        self.epoch, self.seconds, self._now = epoch, seconds, 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._now = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._now >= self.epoch:
            Clock.now += self.seconds


def test_a_trial_that_slows_down_is_projected_at_its_latest_speed():
    """Epoch 1 runs at full speed (0.1 s); epochs 2 and 3 take 20 ms more a step (2.1 s an
    epoch). At the first epoch's speed the 37 epochs after rung 3 would fit the 10 s share;
    at the latest they cost about 78 s, so the trial is cut there."""
    counter, guard = StepCounter(), TrialCostGuard(40.0, epochs=40, stop=_prune, rungs=[1, 3])
    with pytest.raises(Pruned, match=r"epochs 4-40 projected at"):
        _fit(guard, counter, 40, SlowerFrom(1, 0.02))
    assert counter.steps == 300 and guard.per_step == pytest.approx(0.021)


def test_a_rung_within_the_first_epoch_is_judged_on_its_own_stretch_then_the_rest():
    """The subset rung (a share of epoch 1): the first judgement projects the stretch to it;
    once it is passed, the rest of epoch 1 is judged at once, not at the epoch's end. Every
    step takes 11 ms here: 0.2 of an epoch 0.22 s, the remaining 0.8 0.88 s, against a
    limit of 0.6 s."""
    with pytest.raises(Pruned, match=r"the first 0.33 of epoch 1 projected at"):
        _fit(TrialCostGuard(1e-6, epochs=5, stop=_prune, rungs=[1 / 3, 1, 3]), StepCounter(), 5)
    guard = TrialCostGuard(0.6 / 0.25, epochs=5, stop=_prune, rungs=[0.2, 1, 3])
    counter = StepCounter()
    with pytest.raises(Pruned, match=r"the rest of epoch 1 projected at"):
        _fit(guard, counter, 5, SlowerFrom(0, 0.01))
    assert counter.steps == 20  # the first 0.2 of the epoch fit the limit, the rest did not
    assert [guard.next_stop(done) for done in (0, 0.2, 1, 3)] == [0.2, 1, 3, 5]
