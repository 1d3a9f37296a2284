"""The ablation's statistics on synthetic objectives with known truths (no training).

Each run's value is the sum of the true effects of its enabled components, a
seed effect shared by every run of that seed (the blocks), and heavy-tailed
noise (Student t with 5 degrees of freedom, scaled to sd SIGMA). The figures
asked of the engine: family-wise false-positive rate at most 5%; power at least
0.8 for a 4-sd effect at the fixed default seeds, at least 0.9 with adaptive
seeds averaging at most 5 per variant; a planted interaction found, none
reported where there is none.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from search.ablation.engine import AblationPlan, MemoryRunStore, run_ablation, views
from search.ablation.runs import Runner
from search.ablation.views import measure_views
from search.space.config import Config

SIGMA = 0.004
COMPONENTS = ["bn", "dropout", "l2", "l1", "flip_h", "flip_v", "rotation", "cutout", "noise", "zoom"]
REAL = {"bn": 4 * SIGMA, "dropout": 4 * SIGMA, "l1": -4 * SIGMA}
REFERENCE = Config({c: {"enabled": True} for c in COMPONENTS})
BASELINE = Config({})
DEFAULT_SEEDS = 3


def synthetic(effects: dict[str, float], repetition: int, together: float = 0.0, df: float = 5,
              noisier: dict[str, float] | None = None):
    """A known truth; ``together`` is added when bn and dropout are both on (an interaction);
    ``df``: the noise's degrees of freedom (Student t; inf: Gaussian); ``noisier``: components
    whose presence multiplies a run's noise (unequal noise between variants)."""

    def objective(config: Config) -> float:
        rng = np.random.default_rng(zlib.crc32(f"{repetition}:{config.digest()}".encode()))
        block = np.random.default_rng(zlib.crc32(f"{repetition}:{config.seed}".encode())).normal(0, 0.01)
        value = 0.8 + block + sum(v for c, v in effects.items() if config.enabled(c))
        if config.enabled("bn") and config.enabled("dropout"):
            value += together
        noise = rng.normal() if df == np.inf else rng.standard_t(df) / np.sqrt(df / (df - 2))
        scale = np.prod([f for c, f in (noisier or {}).items() if config.enabled(c)])
        return value + SIGMA * scale * noise

    return objective


def plan(seeds: int, **kw) -> AblationPlan:
    return AblationPlan(REFERENCE, BASELINE, list(COMPONENTS), list(range(seeds)), **kw)


def measure(p: AblationPlan, effects: dict[str, float], repetition: int, df: float = 5,
            noisier: dict[str, float] | None = None):
    runner = Runner(synthetic(effects, repetition, df=df, noisier=noisier), MemoryRunStore(), None)
    return measure_views(views(p), runner, p.seeding())


def rates(p: AblationPlan, effects: dict[str, float], repetitions: int, df: float = 5,
          noisier: dict[str, float] | None = None):
    """(family-wise false-positive rate per view, power, mean seeds per variant)."""
    false_families, found, real, seeds, variants = 0, 0, 0, 0, 0
    for repetition in range(repetitions):
        for view in measure(p, effects, repetition, df, noisier).values():
            false_families += any(e.verdict in ("helps", "hurts") for e in view
                                  if e.component not in effects)
            for e in view:
                seeds, variants = seeds + e.seeds, variants + 1
                if e.component in effects:
                    real += 1
                    found += e.verdict == ("helps" if effects[e.component] > 0 else "hurts")
    return false_families / (2 * repetitions), found / max(real, 1), seeds / variants


@pytest.mark.slow
def test_fixed_default_seeds_keep_the_family_wise_error_and_find_4_sd_effects():
    fwer, _, _ = rates(plan(DEFAULT_SEEDS), {}, 300)
    assert fwer <= 0.05, fwer
    _, power, seeds = rates(plan(DEFAULT_SEEDS), REAL, 100)
    assert power >= 0.8 and seeds == DEFAULT_SEEDS, power


@pytest.mark.slow
def test_adaptive_seeds_find_4_sd_effects_with_few_seeds_and_keep_the_error():
    adaptive = plan(10, adaptive=True, min_effect=2 * SIGMA)
    fwer, _, _ = rates(adaptive, {}, 150)
    assert fwer <= 0.05, fwer
    _, power, seeds = rates(adaptive, REAL, 100)
    assert power >= 0.9 and seeds <= 5, (power, seeds)


def interactions(together: float, repetitions: int) -> list[list]:
    from search.ablation.interactions import measure_interactions

    found = []
    for repetition in range(repetitions):
        p = plan(DEFAULT_SEEDS, interactions=3, interaction_seeds=[100, 101, 102, 103, 104])
        runner = Runner(synthetic(REAL, repetition, together), MemoryRunStore(), None)
        loo = measure_views(views(p), runner, p.seeding())["leave-one-out"]
        found.append([e for e in measure_interactions(p, runner, loo) if e.verdict in ("helps", "hurts")])
    return found


def test_a_planted_interaction_is_found_and_none_is_reported_without_one():
    planted = interactions(together=4 * SIGMA, repetitions=30)
    assert np.mean([[e.component for e in calls] == ["bn x dropout"] for calls in planted]) >= 0.8
    assert all(calls[0].effect.mean > 0 for calls in planted if calls)
    assert np.mean([bool(calls) for calls in interactions(together=0.0, repetitions=150)]) <= 0.05


def test_each_distinct_run_trains_once_and_the_result_counts_trainings_against_results():
    p = plan(DEFAULT_SEEDS, path_seeds=1, interactions=2, interaction_seeds=[100, 101])
    calls, store = [], MemoryRunStore()
    objective = synthetic(REAL, 0)
    result = run_ablation(p, lambda config: calls.append(config.digest()) or objective(config), store)
    assert len(calls) == len(set(calls)) == result.trained == result.distinct_runs
    assert result.trained < len(result.runs)  # reference, ladder, path share runs with the views
    again = run_ablation(p, objective, store)
    assert again.trained == 0 and again.distinct_runs == result.distinct_runs


def test_the_path_stops_once_the_components_left_are_within_noise():
    p = plan(DEFAULT_SEEDS, path_seeds=1, min_effect=2 * SIGMA)
    result = run_ablation(p, synthetic(REAL, 1))
    flipped = [name for name, _ in result.path]
    assert set(flipped[:2]) == {"bn", "dropout"} and flipped[2] == "l1"  # l1 hurts: flipped last
    assert flipped[-1].startswith("rest: ")
    assert len(flipped) == 4 and set(result.path_stopped) == set(COMPONENTS) - set(REAL)
    assert np.allclose(result.path[-1][1], result.reference[:1])  # everything flipped = reference


def test_unequal_noise_falls_back_to_paired_tests_and_says_so():
    import pandas as pd

    from search.ablation.blocked_stats import compare

    rng = np.random.default_rng(0)
    rows = [("ref", s, rng.normal()) for s in range(6)]
    rows += [(c, s, rng.normal(0, 30 if c == "wild" else 1)) for c in ("a", "b", "c", "wild")
             for s in range(6)]
    contrasts = {c: {c: 1.0, "ref": -1.0} for c in ("a", "b", "c", "wild")}
    result = compare(pd.DataFrame(rows, columns=["treatment", "seed", "value"]), contrasts, alpha=0.05)
    assert {e.method for e in result.values()} == {"paired"}
    calm = [r for r in rows if r[0] != "wild"]
    result = compare(pd.DataFrame(calm, columns=["treatment", "seed", "value"]),
                     {c: contrasts[c] for c in "abc"}, alpha=0.05)
    assert {e.method for e in result.values()} == {"pooled"} and result["a"].df == 15
