"""search/study/local_search.py: neighbours of the incumbent keep all but a few knobs, move
numbers by a small step inside their range, switch choices, and leave enqueued trials alone."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from search.study.local_search import IncumbentSampler, neighbour_value

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_a_choice_always_switches_and_a_number_stays_in_range_on_its_grid():
    rng = np.random.default_rng(0)
    choice = CategoricalDistribution(["adam", "sgd", "rmsprop"])
    assert all(neighbour_value(choice, "adam", rng) != "adam" for _ in range(50))
    rate = FloatDistribution(1e-4, 3e-2, log=True)
    moved = [neighbour_value(rate, 1e-3, rng) for _ in range(200)]
    assert all(1e-4 <= v <= 3e-2 for v in moved)
    ratios = np.abs(np.log(np.array(moved) / 1e-3))
    assert np.median(ratios) < 0.2 * math.log(300)  # a small step on the log scale
    depth = IntDistribution(1, 5)
    assert all(neighbour_value(depth, 3, rng) in (1, 2, 4, 5) for _ in range(100))
    assert neighbour_value(IntDistribution(1, 2), 2, rng) == 1  # a two-value range still moves
    stepped = FloatDistribution(0.0, 0.5, step=0.1)
    assert all(round(neighbour_value(stepped, 0.2, rng) * 10, 9).is_integer() for _ in range(50))


def objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -5.0, 5.0)
    kind = trial.suggest_categorical("kind", ["a", "b", "c"])
    depth = trial.suggest_int("depth", 1, 8)
    if kind == "c":
        trial.suggest_float("extra", 0.0, 1.0)  # conditional, as a switch's knobs are
    return -(x - 1.0) ** 2 - depth * 0.1 + (0.5 if kind == "b" else 0.0)


def test_neighbours_change_one_or_a_few_knobs_of_the_best_trial_and_say_so():
    sampler = IncumbentSampler(optuna.samplers.RandomSampler(seed=1), share=1.0, start=3, seed=1)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=40)
    neighbours = [t for t in study.trials if "neighbour_of" in t.user_attrs]
    assert len(neighbours) == 37  # every trial after the first three
    for trial in neighbours:
        parent = study.trials[trial.user_attrs["neighbour_of"]]
        assert parent.value == max(t.value for t in study.trials[:trial.number])
        shared = set(trial.params) & set(parent.params)
        changed = {k for k in shared if trial.params[k] != parent.params[k]}
        assert 1 <= len(changed) + len(set(trial.params) ^ set(parent.params))
        assert len(changed) <= len(shared)


def test_climbing_from_the_incumbent_beats_random_draws_on_a_smooth_function():
    wins = 0
    for seed in range(5):
        local = optuna.create_study(direction="maximize", sampler=IncumbentSampler(
            optuna.samplers.RandomSampler(seed=seed), share=1.0, start=3, seed=seed))
        local.optimize(objective, n_trials=40)
        plain = optuna.create_study(direction="maximize",
                                    sampler=optuna.samplers.RandomSampler(seed=seed))
        plain.optimize(objective, n_trials=40)
        wins += local.best_value > plain.best_value
    assert wins == 5


def test_without_an_incumbent_or_by_chance_the_wrapped_sampler_proposes():
    sampler = IncumbentSampler(optuna.samplers.RandomSampler(seed=2), share=0.3, start=5, seed=2)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=60)
    marked = [t.number for t in study.trials if "neighbour_of" in t.user_attrs]
    assert all(n >= 5 for n in marked)
    assert 5 <= len(marked) <= 30  # about 30% of the 55 trials after the start


def test_an_enqueued_warm_start_keeps_its_values():
    sampler = IncumbentSampler(optuna.samplers.RandomSampler(seed=3), share=1.0, start=1, seed=3)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=3)
    study.enqueue_trial({"x": -4.0, "kind": "a", "depth": 8})
    study.optimize(objective, n_trials=1)
    last = study.trials[-1]
    assert last.params == {"x": -4.0, "kind": "a", "depth": 8}
    assert "neighbour_of" not in last.user_attrs


@pytest.mark.parametrize("name", ["tpe", "tpe-local"])
def test_the_engine_offers_the_sampler_by_name(name, tiny_space_file):
    from search.space.space import load_space
    from search.study.algorithms import make_sampler

    sampler = make_sampler(name, load_space(tiny_space_file), seed=0)
    assert isinstance(sampler, IncumbentSampler) == (name == "tpe-local")
