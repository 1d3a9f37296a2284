from __future__ import annotations

import optuna
import pytest

from search.knobs import Bool, Choice, Fixed, Float, Int


@pytest.mark.parametrize("knob, message", [
    (Int(5, 1), "low (5) must be <= high (1)"),
    (Int(0, 4, log=True), "log=True needs low >= 1; got low=0"),
    (Int(1, 4, step=0), "step must be >= 1; got 0"),
    (Int(1.5, 4), "bound low=1.5 must be an int"),
    (Float(1.0, 0.1), "low (1.0) must be <= high (0.1)"),
    (Float(0.0, 1.0, log=True), "log=True needs low > 0; got low=0.0"),
    (Float("a", 1.0), "bound low='a' must be a finite number"),
    (Float(0.0, float("inf")), "bound high=inf must be a finite number"),
    (Choice(), "Choice() needs at least one value"),
    (Choice(3, 3), "choices must not repeat"),
    (Choice([1, 2], [3]), "choices must be numbers, strings, booleans or None"),
])
def test_bad_knobs_explain_themselves(knob, message):
    assert any(message in p for p in knob.problems()), knob.problems()


def test_good_knobs_have_no_problems():
    for knob in (Int(1, 5), Int(1, 64, log=True), Float(1e-4, 1e-1, log=True), Choice(3, 5), Bool(),
                 Float(0, 1, step=0.25)):
        assert knob.problems() == []


def test_knobs_suggest_inside_their_domain():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(30):
        trial = study.ask()
        assert 1 <= Int(1, 5).suggest(trial, "i") <= 5
        assert 1e-4 <= Float(1e-4, 1e-1, log=True).suggest(trial, "f") <= 1e-1
        assert Choice("a", "b").suggest(trial, "c") in ("a", "b")
        assert Fixed(7).suggest(trial, "x") == 7
        study.tell(trial, 0.0)
    assert "x" not in study.trials[0].params  # fixed values are not Optuna parameters


def test_grid_candidates():
    assert Int(1, 7, step=3).candidates() == [1, 4, 7]
    assert Float(0, 1, step=0.5).candidates() == [0.0, 0.5, 1.0]
    assert Float(0, 1).candidates() is None
