"""A KerasTuner search ends at its deadline: mid-epoch, with no trial started after it."""

from __future__ import annotations

import time

import keras
import keras_tuner as kt
import pytest

from conftest import write
from search.model import execution
from search.data.dataset import DataSpec, load_dataset
from search.errors import SearchError
from search.study.kerastuner import UNSCORED, SpaceHyperModel, run_keras_tuner, write_best
from search.space.space import Space, load_space

# One epoch of this model on digits takes 40 s or more on two CPU cores: far past the deadline.
HEAVY = '''
from search.knobs import Choice
SPACE = {"conv": {"depth": 3, "filters": Choice(768, 640), "pooling": "none"},
         "head": {"layers": 0}, "training": {"batch_size": 16, "epochs": 2}}
DATA = {"name": "digits"}
'''
TIMEOUT, MARGIN = 8.0, 10.0


@pytest.fixture
def one_step_per_call():
    """A training callback runs after every step (the default runs 16 steps per call)."""
    execution.configure(execution.Execution(steps_per_execution=1))
    yield
    execution.configure(execution.Execution())


@pytest.mark.slow
def test_a_search_stops_its_trial_mid_epoch_at_the_deadline(tmp_path, one_step_per_call):
    space = load_space(write(tmp_path, "heavy.py", HEAVY))
    data = load_dataset(DataSpec(name="digits"))
    said: list[str] = []
    started = time.monotonic()
    tuner = run_keras_tuner(space, data, tmp_path / "kt", name="d", max_epochs=2,
                            timeout=TIMEOUT, say=said.append)
    elapsed = time.monotonic() - started
    assert elapsed < TIMEOUT + MARGIN, f"the search ended {elapsed - TIMEOUT:.0f} s late"
    trials = list(tuner.oracle.trials.values())
    assert len(trials) == 1  # none started after the deadline
    assert trials[0].status == "FAILED" and UNSCORED in trials[0].message
    assert trials[0].score is None  # a cut epoch is not scored
    assert any("deadline" in line for line in said)
    with pytest.raises(SearchError, match="deadline .* came before any trial finished an epoch"):
        write_best(tuner, space, data.spec, tmp_path / "best.yaml", seed=0)


class _Steps(keras.callbacks.Callback):
    """Counts the training steps of each epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch, self.steps = 0, 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch, self.steps = epoch, 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.steps += 1


def test_a_trial_cut_in_its_second_epoch_keeps_the_first_as_its_score():
    steps = _Steps()
    data = load_dataset(DataSpec(name="digits", limit=400))
    space = Space.of({"conv": {"depth": 1, "filters": 8}, "head": {"layers": 0},
                      "training": {"batch_size": 16, "epochs": 3}})
    hypermodel = SpaceHyperModel(space, data, callbacks_for=lambda label, params: [steps],
                                 seconds_left=lambda: -1.0 if steps.epoch and steps.steps else 1e9)
    hp = kt.HyperParameters()
    metrics = hypermodel.fit(hp, hypermodel.build(hp), epochs=3)
    assert steps.epoch == 1 and steps.steps == 1  # stopped at the first step past the deadline
    assert metrics["best_epoch"] == 1.0 and metrics["stopped_at_deadline"] == 1.0
    assert 0 <= metrics["val_accuracy"] <= 1
