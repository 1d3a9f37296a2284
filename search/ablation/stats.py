"""Paired statistics: mean difference, t interval, paired t-test, effect size; Holm's correction."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats

__all__ = ["PairedEffect", "paired_effect", "holm"]


@dataclass(frozen=True)
class PairedEffect:
    """Effect of one change, measured as per-seed differences (variant minus reference)."""

    n: int
    mean: float
    sd: float
    ci_low: float
    ci_high: float
    p_value: float
    effect_size: float  # Cohen's d_z: mean difference over the sd of the differences


def paired_effect(deltas: Sequence[float], *, confidence: float = 0.95) -> PairedEffect:
    """t-based interval and two-sided one-sample t-test on paired differences.

    With fewer than two pairs nothing can be said (p = 1, infinite interval).
    Identical differences (sd 0) happen by chance with a discrete metric and few
    seeds; the noise cannot be estimated then, so no significance is claimed (p = 1) and
    the interval is infinite.
    """
    d = np.asarray(deltas, dtype=float)
    n, mean = len(d), float(d.mean()) if len(d) else math.nan
    if n < 2:
        return PairedEffect(n, mean, math.nan, -math.inf, math.inf, 1.0, math.nan)
    sd = float(d.std(ddof=1))
    if sd == 0.0:  # no interval either: a zero-width one would pass for "negligible"
        return PairedEffect(n, mean, 0.0, -math.inf, math.inf, 1.0, math.nan)
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    p = float(stats.ttest_1samp(d, 0.0).pvalue)
    return PairedEffect(n, mean, sd, mean - half, mean + half, p, mean / sd)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (controls the family-wise error rate)."""
    order = np.argsort(p_values)
    m = len(p_values)
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted
