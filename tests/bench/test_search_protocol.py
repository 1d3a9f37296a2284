"""The search-quality protocol's parts: contenders, portfolio, replay test-bed, KerasTuner schedule."""

from __future__ import annotations

import sys

from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))


def test_the_warm_start_contender_trains_the_spaces_own_entries_and_nothing_more():
    import argparse
    from search_quality import PROTOCOL, contender_flags
    from search.space.space import load_space

    space = REPO / "spaces" / "cnn.py"
    args = argparse.Namespace(space=str(space), portfolio=str(REPO / "spaces" / "cnn_portfolio.yaml"))
    assert contender_flags("warm-start", args) == ["--trials", str(len(load_space(space).warm_start))]
    assert contender_flags("portfolio", args)[:3] == ["--no-warm-start", "--warm-start", args.portfolio]
    assert "warm-start" in PROTOCOL


def test_the_anytime_comparison_counts_a_missing_incumbent_as_behind():
    from replay_run import Trace
    from search_replay import anytime

    budget = 100.0
    late = [Trace(points=[(50.0, 0.9, 0.9)]) for _ in range(3)]  # nothing until half-time
    early = [Trace(points=[(1.0, 0.5, 0.5), (60.0, 0.95, 0.95)]) for _ in range(3)]
    row = anytime({"late": late, "early": early}, budget, "late").splitlines()[-1]
    # late is behind until 50, ahead from 50 to 60, behind after: 10 of 100 moments
    assert row == "| early | 0.10 | 0.10 | 0.5000 |", row
    tie = anytime({"late": late, "same": late}, budget, "late").splitlines()[-1]
    assert tie == "| same | 1.00 | 0.00 | 0.0000 |", tie


def test_the_replay_surrogates_fast_prediction_equals_scikit_learns():
    import numpy as np
    from sklearn.ensemble import RandomForestRegressor
    from replay_surrogate import _predict

    rng = np.random.default_rng(0)
    x, rows = rng.random((200, 12)), rng.random((9, 12))
    for y in (rng.random(200), rng.random((200, 3))):
        forest = RandomForestRegressor(30, min_samples_leaf=2, random_state=0).fit(x, y)
        expected = forest.predict(rows)
        assert _predict(forest, rows).shape == expected.shape
        assert np.allclose(_predict(forest, rows), expected, rtol=0, atol=1e-12)


def test_the_replayed_portfolio_never_holds_an_entry_chosen_on_the_replayed_task():
    import portfolio
    import search_replay
    from search.space.space import load_space

    space = load_space(REPO / "spaces" / "cnn.py")
    for task in ("digits", "fashion-pairs5"):
        warm = search_replay.warm_starts(task, space)
        assert len(warm["ours-portfolio"]) == 3
        assert len(warm["ours"]) == len(space.warm_start)
        chosen = [c["key"] for c in portfolio.portfolio_without(task)]
        assert len(chosen) == 3 and not any(key.startswith(task + "/") for key in chosen)


def test_the_portfolio_procedure_reads_development_tasks_only():
    import portfolio
    import tasks

    assert not set(tasks.DEVELOPMENT) & set(tasks.EVALUATION)
    candidates = [{"key": "a", "seconds": 5.0}, {"key": "b", "seconds": 1.0},
                  {"key": "c", "seconds": 1.0}]
    dev = list(tasks.DEVELOPMENT)
    scores = {("a", dev[0]): 0.9, ("a", dev[1]): 0.1, ("b", dev[0]): 0.5, ("b", dev[1]): 0.8,
              ("c", dev[0]): 0.89, ("c", dev[1]): 0.2}
    # c is the best single entry (near the top of the first task, above a on the second);
    # b then covers the second task, where c is weak
    assert [c["key"] for c in portfolio.greedy(candidates, scores, 2)] == ["c", "b"]
    tied = {**scores, ("a", dev[0]): 0.89, ("a", dev[1]): 0.2}  # a equals c but costs more
    assert portfolio.greedy(candidates, tied, 1)[0]["key"] == "c"
    assert portfolio.nested({"conv.depth": 2, "conv.filters.1": 64, "conv.filters.0": 32,
                             "bn.enabled": True}) == {
        "bn": {"enabled": True}, "conv": {"depth": 2, "filters": [32, 64]}}


def test_the_fitted_kerastuner_schedule_counts_epochs_as_kerastuners_own_oracle():
    import keras_tuner as kt
    from kt_brackets import fitted_max_epochs, iteration_epochs

    for max_epochs in (1, 3, 9, 12, 20):
        oracle = kt.oracles.HyperbandOracle(kt.Objective("val_accuracy", "max"),
                                            max_epochs=max_epochs, factor=3)
        total = 0
        for bracket in range(oracle._get_num_brackets()):
            epochs = [oracle._get_epochs(bracket, r) for r in range(bracket + 1)]
            total += sum(oracle._get_size(bracket, r) * (e - ([0] + epochs)[r])
                         for r, e in enumerate(epochs))
        assert iteration_epochs(max_epochs) == total
    assert iteration_epochs(20) * 8.0 > 1200  # the space's own 20 epochs: one iteration > 20 min
    fitted = fitted_max_epochs(20, 1200, 8.0)
    assert iteration_epochs(fitted) * 8.0 <= 1200 < iteration_epochs(fitted + 1) * 8.0
