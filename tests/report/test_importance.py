"""Importance from the search: shown with bootstrap intervals, withheld below the minimum."""

from __future__ import annotations

import optuna

from search.report.importance import MIN_TRIALS, importance_views


def study(trials: int) -> optuna.Study:
    """A known truth: conv.x drives the value, bn.enabled a little, opt.z not at all."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    s = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    s.optimize(lambda t: 2 * t.suggest_float("conv.x", 0, 1) + 0.2 * t.suggest_categorical(
        "bn.enabled", [True, False]) + 0 * t.suggest_int("opt.z", 1, 5), n_trials=trials)
    return s


def test_importance_comes_with_intervals_that_separate_the_real_knob():
    for view in importance_views(study(40)):
        assert view.trials_used == 40 and "bootstrap" in view.note
        assert list(view.components)[0] == "conv"
        low, high = view.intervals["conv"]
        assert low <= view.components["conv"] <= high
        assert low > view.intervals["opt"][1]  # conv's interval lies above the useless knob's


def test_too_few_trials_give_a_reason_instead_of_bars():
    for view in importance_views(study(MIN_TRIALS - 1)):
        assert not view.knobs and not view.components
        assert f"needs at least {MIN_TRIALS} complete trials" in view.note


def test_resamples_the_evaluator_cannot_score_are_counted_in_the_note(monkeypatch):
    import search.report.importance as importance

    real = optuna.importance.get_param_importances
    calls = []

    def every_other_resample_fails(study, *, evaluator=None, params=None, **kwargs):
        calls.append(1)
        if len(calls) > 1 and len(calls) % 2:  # the full study (call 1) is scored
            raise RuntimeError("degenerate resample")
        return real(study, evaluator=evaluator, params=params, **kwargs)

    monkeypatch.setattr(importance.optuna.importance, "get_param_importances",
                        every_other_resample_fails)
    monkeypatch.setitem(importance.RESAMPLES, "PED-ANOVA", 6)
    view = importance_views(study(20))[0]
    assert view.method == "PED-ANOVA" and view.intervals
    assert "90% intervals from 3 of 6 bootstrap resamples of the trials (the other 3 could not " \
           "be scored)" in view.note, view.note
