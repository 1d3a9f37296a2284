"""Pairwise interactions among the leading components, from leave-two-out runs.

For components a and b of the reference, the interaction is
``f(ref) - f(ref - a) - f(ref - b) + f(ref - a - b)``: what the two give together
beyond the sum of what each gives alone (positive: they help more together,
like dropout that only helps with batch normalisation). The pairs are chosen
from the leave-one-out ranking, so they are measured on fresh seeds: choosing
them on the same runs would bias their test (the runs that made a component
look strong would enter its interaction too). All leave-two-out runs share those
seeds, so the noise is pooled over them (``blocked_stats``), with Holm's
correction across the pairs.
"""

from __future__ import annotations

from itertools import combinations

import pandas as pd

from search.ablation.configs import with_component
from search.ablation.runs import Runner, jobs
from search.ablation.views import ComponentEffect
from search.ablation.blocked_stats import compare

__all__ = ["measure_interactions", "pair_label"]

VIEW = "interaction"


def pair_label(a: str, b: str) -> str:
    """The label of the pair (a, b) in tables and run rows: ``a x b``."""
    return f"{a} x {b}"


def leading(effects: list[ComponentEffect], k: int) -> list[str]:
    """The k components with the largest leave-one-out contribution in size."""
    ranked = sorted(effects, key=lambda e: -abs(e.effect.mean) if e.effect.mean == e.effect.mean else 0)
    return [e.component for e in ranked[:k]]


def cells(plan, top: list[str]) -> dict[str, object]:
    """Label -> config: the reference, each leading component left out, each pair left out."""
    out = {"reference": plan.reference}
    for a in top:
        out[a] = with_component(plan.reference, plan.baseline, a)
    for a, b in combinations(top, 2):
        out[pair_label(a, b)] = with_component(out[a], plan.baseline, b)
    return out


def measure_interactions(plan, runner: Runner, loo: list[ComponentEffect]) -> list[ComponentEffect]:
    """Interactions of the ``plan.interactions`` leading components, largest in size first.

    Measured on ``plan.interaction_seeds``; empty when fewer than two components lead."""
    chosen = set(leading(loo, plan.interactions))
    top = [c for c in plan.components if c in chosen]  # pairs named in the plan's order
    if len(top) < 2:
        return []
    configs, seeds = cells(plan, top), plan.interaction_seeds
    runner.prepare([job for label, c in configs.items() for job in jobs(c, seeds, VIEW, label)])
    rows = [(label, s, v) for label, c in configs.items()
            for s, v in zip(seeds, runner.values(c, seeds, VIEW, label))]
    contrasts = {pair_label(a, b): {"reference": 1.0, a: -1.0, b: -1.0, pair_label(a, b): 1.0}
                 for a, b in combinations(top, 2)}
    results = compare(pd.DataFrame(rows, columns=["treatment", "seed", "value"]), contrasts,
                      alpha=plan.alpha)
    effects = [ComponentEffect(name, e, len(seeds)) for name, e in results.items()]
    return sorted(effects, key=lambda e: -abs(e.effect.mean) if e.effect.mean == e.effect.mean else 0)
