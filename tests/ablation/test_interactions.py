"""search/ablation/interactions.py: the leading components, the leave-two-out cells, and a
planted pairwise interaction found on a synthetic objective (no training)."""

from __future__ import annotations

import zlib

import numpy as np

from search.ablation.blocked_stats import Estimate
from search.ablation.engine import AblationPlan, views
from search.ablation.interactions import cells, leading, measure_interactions, pair_label
from search.ablation.runs import MemoryRunStore, Runner
from search.ablation.views import ComponentEffect, measure_views
from search.space.config import Config

REFERENCE = Config({"bn": {"enabled": True}, "dropout": {"enabled": True},
                    "l2": {"enabled": True}})
TOGETHER = 0.04  # what bn and dropout add together beyond each alone


def objective(config: Config) -> float:
    rng = np.random.default_rng(zlib.crc32(config.digest().encode()))
    block = np.random.default_rng(config.seed).normal(0, 0.01)
    bn, dropout = config.enabled("bn"), config.enabled("dropout")
    return 0.8 + block + 0.03 * bn + 0.03 * dropout + TOGETHER * (bn and dropout) + \
        rng.normal(0, 0.002)


def plan(interactions: int) -> AblationPlan:
    return AblationPlan(REFERENCE, Config({}), ["bn", "dropout", "l2"], [0, 1, 2],
                        interactions=interactions, interaction_seeds=[100, 101, 102, 103])


def effect(component: str, mean: float) -> ComponentEffect:
    estimate = Estimate(3, mean, mean - 1, mean + 1, 0.5, 2, 1.0, "paired")
    return ComponentEffect(component, estimate, 3)


def test_leading_ranks_by_size_whatever_the_sign_and_nan_last():
    effects = [effect("a", 0.01), effect("b", -0.05), effect("c", float("nan")), effect("d", 0.03)]
    assert leading(effects, 2) == ["b", "d"]
    assert leading(effects, 4)[-1] == "c"
    assert pair_label("bn", "dropout") == "bn x dropout"


def test_cells_leave_out_each_leading_component_and_each_pair():
    made = cells(plan(2), ["bn", "dropout"])
    assert list(made) == ["reference", "bn", "dropout", "bn x dropout"]
    assert made["reference"] is REFERENCE
    assert not made["bn"].enabled("bn") and made["bn"].enabled("dropout")
    pair = made["bn x dropout"]
    assert not pair.enabled("bn") and not pair.enabled("dropout") and pair.enabled("l2")


def measure(interactions: int) -> tuple[list[ComponentEffect], Runner]:
    p = plan(interactions)
    runner = Runner(objective, MemoryRunStore(), None)
    loo = measure_views(views(p), runner, p.seeding())["leave-one-out"]
    return measure_interactions(p, runner, loo), runner


def test_a_planted_interaction_is_found_and_the_null_pairs_are_not():
    found, runner = measure(3)
    by_pair = {e.component: e for e in found}
    assert set(by_pair) == {"bn x dropout", "bn x l2", "dropout x l2"}
    assert found[0].component == "bn x dropout"  # ranked by size
    assert by_pair["bn x dropout"].verdict == "helps" and by_pair["bn x dropout"].seeds == 4
    assert abs(by_pair["bn x dropout"].effect.mean - TOGETHER) < 0.01
    assert all(e.verdict not in ("helps", "hurts") for e in found[1:])
    interaction_rows = [r for r in runner.runs if r["view"] == "interaction"]
    assert {r["seed"] for r in interaction_rows} == {100, 101, 102, 103}  # fresh seeds


def test_fewer_than_two_leading_components_measure_nothing():
    found, runner = measure(1)
    assert found == [] and not [r for r in runner.runs if r["view"] == "interaction"]
