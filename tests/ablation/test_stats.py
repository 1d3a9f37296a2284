from __future__ import annotations

import numpy as np
import pytest

from search.ablation.stats import holm, paired_effect


def test_interval_and_test_on_known_differences():
    effect = paired_effect([0.010, 0.012, 0.008, 0.011, 0.009])
    assert effect.mean == pytest.approx(0.010)
    assert effect.ci_low < 0.010 < effect.ci_high and effect.ci_low > 0
    assert effect.p_value < 0.001 and effect.effect_size > 5


def test_degenerate_cases_are_honest():
    assert paired_effect([0.01]).p_value == 1.0  # one pair says nothing
    assert paired_effect([0.0, 0.0, 0.0]).p_value == 1.0
    assert paired_effect([0.02, 0.02]).p_value == 1.0  # noise unknown: no claim
    same = paired_effect([0.001, 0.001, 0.001])  # nor an interval, which would look negligible
    assert (same.ci_low, same.ci_high) == (-np.inf, np.inf)


def test_holm_matches_the_textbook_example():
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_null_differences_are_called_noise_at_about_the_nominal_rate():
    """Unadjusted: ~5% false calls per comparison; Holm keeps the family-wise rate <= 5%."""
    rng = np.random.default_rng(0)
    repetitions, components, seeds = 1000, 5, 3
    deltas = rng.normal(0, 0.004, size=(repetitions, components, seeds))
    p = np.array([[paired_effect(d).p_value for d in rep] for rep in deltas])
    per_comparison = (p < 0.05).mean()
    assert 0.035 < per_comparison < 0.065, per_comparison
    family_wise = np.mean([min(holm(list(row))) < 0.05 for row in p])
    assert family_wise <= 0.065, family_wise
