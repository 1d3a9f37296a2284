"""search/ablation/views.py: contrasts signed so that positive means "helps", the adaptive
seeding schedule, and views measured as blocked designs on a synthetic objective with a known
effect (no training)."""

from __future__ import annotations

import zlib

import numpy as np

from search.ablation.engine import AblationPlan, views
from search.ablation.runs import MemoryRunStore, Runner
from search.ablation.views import Seeding, View, measure_views
from search.space.config import Config

REFERENCE = Config({"bn": {"enabled": True}, "dropout": {"enabled": True}})
BASELINE = Config({})
BN_EFFECT, NOISE = 0.05, 0.002


def objective(config: Config) -> float:
    """bn adds 5 points; dropout nothing; a shared per-seed block plus small seeded noise."""
    rng = np.random.default_rng(zlib.crc32(config.digest().encode()))
    block = np.random.default_rng(config.seed).normal(0, 0.01)
    return 0.8 + block + BN_EFFECT * config.enabled("bn") + rng.normal(0, NOISE)


def measured(seeding: Seeding) -> tuple[dict, Runner]:
    plan = AblationPlan(REFERENCE, BASELINE, ["bn", "dropout"], seeding.seeds)
    runner = Runner(objective, MemoryRunStore(), None)
    return measure_views(views(plan), runner, seeding), runner


def test_a_contrast_is_signed_so_that_positive_means_the_component_helps():
    add = View("add-one-in", "baseline", BASELINE, {}, variant_is_with=True)
    loo = View("leave-one-out", "reference", REFERENCE, {}, variant_is_with=False)
    assert add.contrast("bn") == {"bn": 1.0, "baseline": -1.0}
    assert loo.contrast("bn") == {"bn": -1.0, "reference": 1.0}


def test_the_schedule_grows_by_about_a_third_and_ends_at_every_seed():
    assert Seeding(list(range(10)), 3).schedule == [3, 4, 5, 7, 9, 10]
    assert Seeding(list(range(10)), 3).looks == 6
    assert Seeding([1, 2, 3], 3).schedule == [3]  # fixed seeds: one look


def test_a_real_effect_helps_in_both_views_and_a_null_one_is_negligible():
    result, runner = measured(Seeding([0, 1, 2], 3, min_effect=0.02))
    for name in ("leave-one-out", "add-one-in"):
        effects = {e.component: e for e in result[name]}
        assert [e.component for e in result[name]] == ["bn", "dropout"]  # ranked by contribution
        assert effects["bn"].verdict == "helps" and effects["bn"].adjusted_p < 0.05
        assert abs(effects["bn"].effect.mean - BN_EFFECT) < 0.01
        assert effects["dropout"].verdict == "negligible"
        assert effects["bn"].effect.method == "pooled" and effects["bn"].seeds == 3
    # reference - bn is baseline + dropout, and the other way round: 4 configs x 3 seeds
    assert runner.trained == runner.distinct == 12


def test_adaptive_seeds_stop_once_decided_and_the_run_budget_ends_the_looks():
    decided, runner = measured(Seeding(list(range(10)), 3, min_effect=0.02))
    assert {e.seeds for view in decided.values() for e in view} == {3}
    assert runner.distinct == 12  # decided at the first look: no seed added
    open_, runner = measured(Seeding(list(range(10)), 3))  # dropout can never be decided here
    dropout = {e.component: e for e in open_["add-one-in"]}["dropout"]
    assert dropout.seeds == 10 and dropout.verdict == "not distinguishable from noise"
    bounded, runner = measured(Seeding(list(range(10)), 3, max_runs=12))
    dropout = {e.component: e for e in bounded["add-one-in"]}["dropout"]
    assert dropout.seeds == 3 and runner.distinct == 12
    assert dropout.verdict == "not distinguishable from noise"
