"""Comparisons in a blocked design: seeds are blocks, variants are treatments.

Every variant of an ablation view runs with the same seeds, so the seed-to-seed
noise can be estimated from all of them at once — the residual of the two-way
additive model ``value ~ treatment + seed`` (statsmodels OLS) — instead of from
each comparison's own few paired differences: 14 variants and a control at 3
seeds give 28 residual degrees of freedom instead of 2. Each comparison is a
contrast of treatment means (variant minus control, or the four-cell contrast of
an interaction), tested with that pooled residual; Holm's step-down across the
family keeps the family-wise error at alpha under any dependence between the
tests (they share a control and the noise estimate).

When one run is an outlier (Bonferroni test on the externally studentized
residuals) or one treatment's noise stands out (Cochran's C on the residuals by
treatment) or the noise differs between treatments (Brown-Forsythe), one pooled
estimate would mislead, so each comparison is then tested on its own paired
differences, and the result says which was used.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from typing import Mapping

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from search.ablation.stats import holm, paired_effect

__all__ = ["Estimate", "compare", "HETEROGENEITY_P"]

HETEROGENEITY_P = 0.01  # Brown-Forsythe p below which pooling is abandoned for paired tests
NOISIER_P = 0.05  # Cochran's C p below which pooling is abandoned
OUTLIER_P = 0.01  # Bonferroni outlier-test p below which pooling is abandoned

Contrast = Mapping[str, float]  # treatment -> coefficient, summing to zero


@dataclass(frozen=True)
class Estimate:
    """One comparison: its contrast's estimate, interval, test and verdict."""

    n: int  # seeds with every cell of the contrast measured
    mean: float
    ci_low: float
    ci_high: float
    p_value: float
    df: float  # degrees of freedom of the noise estimate
    noise_sd: float  # sd of one run's value, as estimated
    method: str  # "pooled" or "paired"
    adjusted_p: float = 1.0
    verdict: str = ""
    paired_p: float = 1.0  # the comparison's own paired t-test, as a robustness check

    @property
    def effect_size(self) -> float:
        """The contribution in noise standard deviations (of one run)."""
        return self.mean / self.noise_sd if self.noise_sd and math.isfinite(self.noise_sd) else math.nan


def compare(runs: pd.DataFrame, contrasts: Mapping[str, Contrast], *, alpha: float,
            min_effect: float = 0.0, confidence: float = 0.95,
            family: int | None = None) -> dict[str, Estimate]:
    """Test every contrast on ``runs`` (columns treatment, seed, value; NaN values dropped).

    Verdicts: "helps"/"hurts" when the Holm-adjusted p is below ``alpha``;
    "negligible" when the interval lies inside +-``min_effect``; otherwise
    "not distinguishable from noise". ``family``: how many hypotheses Holm's correction
    counts, when some of the family are not tested here (settled as negligible earlier:
    they were not rejected, so they still count).
    """
    runs = runs[np.isfinite(runs["value"].to_numpy(dtype=float))]
    table = _Table(runs)
    differences = {name: per_seed(table, c) for name, c in contrasts.items()}
    paired = {name: _paired(differences[name], c, confidence) for name, c in contrasts.items()}
    pooled = _pooled(runs, contrasts, paired, confidence)
    results = {name: replace(e, paired_p=paired[name].p_value) for name, e in (pooled or paired).items()}
    p_values = [e.p_value for e in results.values()]
    adjusted = holm(p_values + [1.0] * max(0, (family or 0) - len(p_values)))
    return {name: replace(e, adjusted_p=p, verdict=_verdict(e, p, alpha, min_effect))
            for (name, e), p in zip(results.items(), adjusted)}


def _verdict(e: Estimate, adjusted_p: float, alpha: float, min_effect: float) -> str:
    if adjusted_p < alpha:
        return "helps" if e.mean > 0 else "hurts"
    if min_effect > 0 and -min_effect < e.ci_low and e.ci_high < min_effect:
        return "negligible"
    return "not distinguishable from noise"


class _Table:
    """Values as a seeds x treatments matrix (NaN where a cell was not run)."""

    def __init__(self, runs: pd.DataFrame) -> None:
        treatments, t_index = np.unique(runs["treatment"].to_numpy(), return_inverse=True)
        seeds, s_index = np.unique(runs["seed"].to_numpy(), return_inverse=True)
        self.columns = {t: i for i, t in enumerate(treatments)}
        self.matrix = np.full((len(seeds), len(treatments)), np.nan)
        self.matrix[s_index, t_index] = runs["value"].to_numpy(dtype=float)


def per_seed(table: _Table, contrast: Contrast) -> np.ndarray:
    """The contrast's value at every seed where all its cells were measured."""
    if any(t not in table.columns for t in contrast):
        return np.zeros(0)
    cells = table.matrix[:, [table.columns[t] for t in contrast]]
    complete = cells[np.isfinite(cells).all(axis=1)]
    return complete @ np.array(list(contrast.values()), dtype=float)


def _norm(contrast: Contrast) -> float:
    return math.sqrt(sum(w * w for w in contrast.values()))


def _paired(d: np.ndarray, contrast: Contrast, confidence: float) -> Estimate:
    e = paired_effect(d, confidence=confidence)
    noise = e.sd / _norm(contrast) if math.isfinite(e.sd) else math.nan
    return Estimate(e.n, e.mean, e.ci_low, e.ci_high, e.p_value, max(e.n - 1, 0), noise, "paired")


def _unequal_noise(fit, treatment: np.ndarray) -> bool:
    """Pooling is abandoned when one run is an outlier (Bonferroni test on the externally
    studentized residuals: heavy tails would leak one wild run into every comparison that
    shares its cell), when one treatment is noisier (Cochran's C) or when the treatments'
    noise differs (Brown-Forsythe on the residuals)."""
    residuals = fit.resid
    n, df = len(residuals), fit.df_resid - 1
    if df >= 1 and n * 2 * stats.t.sf(np.nanmax(np.abs(_studentized(fit))), df) < OUTLIER_P:
        return True
    groups = [residuals[treatment == t] for t in np.unique(treatment)]
    if _one_noisier(groups):
        return True
    groups = [g for g in groups if len(g) >= 3]
    if len(groups) < 2 or all(np.ptp(g) == 0 for g in groups):
        return False
    return float(stats.levene(*groups, center="median").pvalue) < HETEROGENEITY_P


def _one_noisier(groups: list[np.ndarray]) -> bool:
    """Cochran's C: the largest treatment variance against their sum (an F bound on its
    critical value). At 3 seeds Brown-Forsythe rarely sees one noisier variant, and one is
    enough to make the pooled test call that variant's noise an effect."""
    groups = [g for g in groups if len(g) >= 2]
    if len(groups) < 3:
        return False
    variances = np.array([np.sum(g ** 2) / (len(g) - 1) for g in groups])
    if variances.sum() <= 0:
        return False
    k, df = len(groups), float(np.median([len(g) for g in groups]) - 1)
    f = stats.f.isf(NOISIER_P / k, df, df * (k - 1))
    return float(variances.max() / variances.sum()) > 1 / (1 + (k - 1) / f)


def _studentized(fit) -> np.ndarray:
    """Externally studentized residuals (as statsmodels' OLSInfluence computes them, without
    its other diagnostics, which cost ten times as much on every look)."""
    leverage = np.einsum("ij,ji->i", fit.model.exog, fit.model.pinv_wexog)
    residuals, df = fit.resid, fit.df_resid - 1
    sigma2 = (fit.ssr - residuals ** 2 / (1 - leverage)) / df
    with np.errstate(divide="ignore", invalid="ignore"):
        return residuals / np.sqrt(sigma2 * (1 - leverage))


def _pooled(runs: pd.DataFrame, contrasts: Mapping[str, Contrast], paired: dict[str, Estimate],
            confidence: float) -> dict[str, Estimate] | None:
    """OLS of value on treatment and seed dummies; None when no residual is left to pool."""
    treatments = sorted(runs["treatment"].unique())
    seeds = sorted(runs["seed"].unique())
    if len(treatments) < 2:
        return None
    treatment, seed = runs["treatment"].to_numpy(), runs["seed"].to_numpy()
    names = ["const"] + [f"t:{t}" for t in treatments[1:]] + [f"s:{s}" for s in seeds[1:]]
    design = np.column_stack([np.ones(len(runs))] + [treatment == t for t in treatments[1:]] +
                             [seed == s for s in seeds[1:]]).astype(float)
    with warnings.catch_warnings():  # rank-deficient designs: contrasts without pairs use paired
        warnings.simplefilter("ignore")
        fit = sm.OLS(runs["value"].to_numpy(dtype=float), design).fit()
    if fit.df_resid < 1 or not fit.scale > 0 or _unequal_noise(fit, treatment):
        return None
    out = {}
    for name, contrast in contrasts.items():
        if any(t not in treatments for t in contrast) or paired[name].n < 1:
            out[name] = paired[name]  # no seed with every cell measured: nothing to estimate
            continue
        weights = np.zeros(len(names))
        for t, w in contrast.items():
            if t != treatments[0]:
                weights[names.index(f"t:{t}")] = w
        test = fit.t_test(weights)
        low, high = test.conf_int(alpha=1 - confidence)[0]
        out[name] = Estimate(paired[name].n, float(test.effect[0]), float(low), float(high),
                             float(test.pvalue), float(fit.df_resid), math.sqrt(fit.scale), "pooled")
    return out
