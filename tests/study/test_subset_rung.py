"""search/study/subset_rung.py and subset_probe.py: successive halving with a first rung on a
third of the training set. The pruner's rule on Optuna studies (a retry judged once), the
probe's progressive-validation score inside real Keras training on every backend (it must
not change what the trial trains), and a real run on scikit-learn digits where a trial
that learns nothing in its subset is pruned there."""

from __future__ import annotations

import keras
import numpy as np
import optuna
import pytest
from optuna.study import StudyDirection
from optuna.trial import TrialState
from rich.console import Console

from conftest import json_on_backend
from search.data.dataset import DataSpec
from search.inputs import PRUNERS
from search.knobs import Choice
from search.space.space import Space
from search.study.algorithms import make_pruner, pruner_rungs
from search.study.lifecycle import StudySettings, default_storage
from search.study.retries import requeue_trial
from search.study.optuna_internals import get_trial, trial_id
from search.study.runner import RunOptions, run_study
from search.study.subset_probe import SubsetProbe, subset_steps, window_accuracy
from search.study.subset_rung import RUNG_KEY, SUBSET_PRUNER, SubsetRungPruner, in_best_share


def test_the_best_share_is_successive_halvings_and_always_keeps_the_leader():
    assert in_best_share(0.9, [0.9], 3, StudyDirection.MAXIMIZE)  # alone: it leads
    assert not in_best_share(0.5, [0.9, 0.5], 3, StudyDirection.MAXIMIZE)
    assert in_best_share(0.8, [0.1, 0.9, 0.8, 0.2, 0.3, 0.4], 3, StudyDirection.MAXIMIZE)
    assert not in_best_share(0.4, [0.1, 0.9, 0.8, 0.2, 0.3, 0.4], 3, StudyDirection.MAXIMIZE)
    assert in_best_share(0.2, [0.1, 0.9, 0.8, 0.2, 0.3, 0.4], 3, StudyDirection.MINIMIZE)


def test_the_subset_is_a_share_of_the_first_epochs_steps_when_shorter_than_the_epoch():
    assert [subset_steps(steps, 1 / 3) for steps in (30, 31, 3, 2, 1, 0)] == [10, 11, 1, 1, None, None]


def _scored(study: optuna.Study, pruner: optuna.pruners.BasePruner, values: dict[int, float]) -> bool:
    trial = study.ask()
    for step, value in values.items():
        trial.report(value, step)
    return pruner.prune(study, get_trial(study, trial_id(trial)))


def test_the_subset_rung_keeps_the_best_third_and_later_steps_are_successive_halvings():
    pruner = make_pruner(SUBSET_PRUNER, 9)
    assert isinstance(pruner, SubsetRungPruner) and SUBSET_PRUNER in PRUNERS
    study = optuna.create_study(direction="maximize", pruner=pruner)
    decisions = [_scored(study, pruner, {0: value}) for value in (0.5, 0.4, 0.6, 0.3, 0.7, 0.55)]
    assert decisions == [False, True, False, True, False, True]
    assert _scored(study, pruner, {0: float("nan")})
    # from epoch 1 on, the same calls as Optuna's own successive halving, on its own records
    halving = make_pruner("successive-halving", 9)
    twin = optuna.create_study(direction="maximize", pruner=halving)
    for values in ({1: 0.5}, {1: 0.4}, {1: 0.6}, {1: 0.65, 2: 0.7, 3: 0.72}):
        assert _scored(study, pruner, {0: 0.9, **values}) == _scored(twin, halving, values)


def test_a_retry_keeps_its_first_attempts_verdict_and_is_not_probed_again(tmp_path):
    pruner = make_pruner(SUBSET_PRUNER, 9)
    study = optuna.create_study(direction="maximize", pruner=pruner,
                                storage=f"sqlite:///{tmp_path / 's.db'}")
    assert not _scored(study, pruner, {0: 0.6})  # promoted: the only one so far
    for value in (0.7, 0.8, 0.9):
        _scored(study, pruner, {0: value})
    requeue_trial(study, study.trials[0], reason="killed in epoch 1")
    retry = study.ask()
    assert retry.number == 4 and retry.params == study.trials[0].params
    assert not pruner.prune(study, get_trial(study, trial_id(retry)))  # 0.6 is no longer top
    probe = _fit_probed(study, 1, retry)
    assert probe.score is None and list(get_trial(study, trial_id(retry)).intermediate_values) == [0]


def test_the_subset_rung_is_the_first_of_the_rungs_the_cost_guard_plans_for():
    assert pruner_rungs(SUBSET_PRUNER, 20) == [1 / 3, 1, 3, 9]
    assert pruner_rungs("successive-halving", 20) == [1, 3, 9]
    assert pruner_rungs(SUBSET_PRUNER, 1) == [1 / 3]


def test_the_score_is_the_accuracy_of_the_later_half_of_the_subsets_steps():
    seen = [(0, 0.0), (4, 0.5), (8, 0.25)]  # Keras' running means: steps 5-8 scored 0
    assert window_accuracy(seen, (12, 0.5)) == 0.5  # steps 5-12: 0 and then 1
    assert window_accuracy(seen, (16, 0.5)) == 0.75  # steps 9-16
    assert window_accuracy([(0, 0.0)], (1, 0.25)) == 0.25  # one call: all of it


def _fit_probed(study: optuna.Study, steps_per_execution: int,
                trial: optuna.Trial | None = None) -> SubsetProbe:
    """30 steps of 8 images per epoch, two epochs, the probe at a third of the first."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(240, 4)).astype("float32"), rng.integers(0, 2, 240)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=steps_per_execution)
    probe = SubsetProbe(trial or study.ask(), 1 / 3)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[probe])
    return probe


def test_the_probe_judges_at_the_first_call_past_the_subset_unless_it_ends_the_epoch():
    study = optuna.create_study(direction="maximize", pruner=make_pruner(SUBSET_PRUNER, 2))
    first = _fit_probed(study, 1)
    assert 0 <= first.score <= 1 and study.trials[0].intermediate_values == {0: first.score}
    study.add_trial(optuna.trial.create_trial(value=1.0, intermediate_values={0: 1.0},
                                              system_attrs={RUNG_KEY: 1.0}))
    with pytest.raises(optuna.TrialPruned, match=r"after 12 of epoch 1's 30 steps \(the subset "
                                                 r"rung, 0.40 of the training set\): accuracy"):
        _fit_probed(study, 4)  # calls end at steps 4, 8, 12: the first at or past 10
    assert _fit_probed(study, 32).score is None  # one call is the whole epoch: no subset


PROBE_SCRIPT = """
import json
import keras, optuna
from search.space.config import Config
from search.data.dataset import DataSpec, load_dataset
from search.model.training import train
from search.study.subset_probe import SubsetProbe
optuna.logging.set_verbosity(optuna.logging.WARNING)
spec = DataSpec(name="digits")
data = load_dataset(spec)
config = Config({"conv": {"depth": 1, "filters": [8]}, "head": {"layers": 0},
                 "optimizer": {"learning_rate": 0.005},
                 "training": {"epochs": 2, "batch_size": 32}}, spec, seed=0)
trial = optuna.create_study(direction="maximize").ask()
probe = SubsetProbe(trial, 1 / 3)
probed = train(config, data, callbacks=[probe])
plain = train(config, data)
print(json.dumps({"backend": keras.backend.backend(), "score": probe.score,
                  "reported": trial.study.trials[0].intermediate_values,
                  "probed": [h["loss"] for h in probed.history],
                  "plain": [h["loss"] for h in plain.history]}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_the_probe_scores_from_each_backends_logs_and_leaves_training_as_it_was(backend):
    result = json_on_backend(PROBE_SCRIPT, backend)
    assert result["backend"] == backend and result["reported"] == {"0": result["score"]}
    assert result["score"] > 0.2  # ten classes: an untrained network scores about 0.1
    assert result["probed"] == result["plain"]  # the same losses, epoch by epoch


SPACE = {"conv": {"depth": 1, "filters": 8}, "head": {"layers": 0},
         "optimizer": {"learning_rate": Choice(1e-2, 1e-6)},
         "training": {"batch_size": 32, "epochs": 2}}


def test_a_run_prunes_a_trial_that_learns_nothing_on_its_subset_and_trains_the_other_on(tmp_path):
    settings = StudySettings(name="s", space=Space.of(SPACE, path="s.py"), data=DataSpec(name="digits"),
                             storage=default_storage("s", tmp_path), root=tmp_path,
                             pruner=SUBSET_PRUNER)
    entries = [("learns", {"optimizer": {"learning_rate": 1e-2}}),
               ("stands still", {"optimizer": {"learning_rate": 1e-6}})]
    study = run_study(settings, RunOptions(trials=2, owns_budget=True, warm_start=entries),
                      Console(record=True, width=300))
    learns, still = study.trials
    assert learns.state == TrialState.COMPLETE and sorted(learns.intermediate_values) == [0, 1, 2]
    assert learns.intermediate_values[0] > 0.2
    assert still.state == TrialState.PRUNED and list(still.intermediate_values) == [0]
    assert still.intermediate_values[0] < learns.intermediate_values[0]
    assert "the subset rung" in still.user_attrs["prune_reason"]
    assert still.user_attrs["history"] == []  # stopped within its first epoch
