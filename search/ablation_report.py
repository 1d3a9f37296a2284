"""Ablation outputs: a rich table, and report.md, runs.csv, deltas.png, path.png on disk."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from rich.table import Table

from .ablation import AblationResult, ComponentEffect
from .importance import ImportanceView
from .plotting import pyplot, save

__all__ = ["effects_table", "write_ablation_report"]


def _pct(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{100 * value:+.2f}"


def _mean_sd(values: Sequence[float]) -> str:
    v = np.asarray([x for x in values if math.isfinite(x)])
    if not len(v):
        return "n/a"
    return f"{100 * v.mean():.2f} ± {100 * v.std(ddof=1):.2f}" if len(v) > 1 else f"{100 * v[0]:.2f}"


def _rows(effects: list[ComponentEffect]) -> list[list[str]]:
    return [[e.component, _pct(e.effect.mean), f"[{_pct(e.effect.ci_low)}, {_pct(e.effect.ci_high)}]",
             f"{e.effect.effect_size:.2f}" if math.isfinite(e.effect.effect_size) else "n/a",
             f"{e.effect.p_value:.3g}", f"{e.adjusted_p:.3g}", str(e.effect.n), e.verdict]
            for e in effects]


HEADERS = ["component", "contribution (pts)", "95% CI", "effect size d", "p", "p (Holm)", "n",
           "verdict"]


def effects_table(title: str, effects: list[ComponentEffect]) -> Table:
    table = Table(title=title)
    for header in HEADERS:
        table.add_column(header, overflow="fold")
    for row in _rows(effects):
        style = {"helps": "green", "hurts": "red"}.get(row[-1])
        table.add_row(*row, style=style)
    return table


def _markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def write_ablation_report(result: AblationResult, views: list[ImportanceView], out: Path,
                          *, title: str, command: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(result.runs).to_csv(out / "runs.csv", index=False)
    paths = [out / "runs.csv", _plot_deltas(result, out / "deltas.png"),
             _plot_path(result, out / "path.png")]
    (out / "report.md").write_text(_markdown(result, views, title, command))
    return [out / "report.md", *paths]


def _markdown(result: AblationResult, views: list[ImportanceView], title: str, command: str) -> str:
    plan = result.plan
    parts = [
        f"# Ablation: {title}", "", f"Command: `{command}`", "",
        f"Seeds per variant: {len(plan.seeds)} (paired with the reference/baseline run of the same "
        f"seed). Contributions are validation-accuracy points; positive means the component "
        f"helps. p-values: two-sided paired t-test, Holm-corrected across components "
        f"(alpha {plan.alpha}).", "",
        f"Reference: {_mean_sd(result.reference)}%. Baseline: {_mean_sd(result.baseline)}%.", "",
        "## 1. Importance from the search", "",
    ]
    if not views:
        parts += ["No search trials in this study (an ablation definition), so no importance "
                  "from the search; run `search run` on the same study name to get it.", ""]
    for view in views:
        parts += [f"**{view.method}** ({view.note})", ""]
        if view.components:
            parts += [_markdown_table(["component", "importance"],
                                      [[c, f"{v:.3f}"] for c, v in view.components.items()]), ""]
    parts += ["## 2. Leave-one-out (reference minus the component)", "",
              _markdown_table(HEADERS, _rows(result.leave_one_out)), "",
              "## 2. Add-one-in (baseline plus the component)", "",
              _markdown_table(HEADERS, _rows(result.add_one_in)), "",
              "### Cumulative ladder", "",
              _markdown_table(["step", "val accuracy % (mean ± sd)"],
                              [["baseline", _mean_sd(result.baseline)]] +
                              [[f"+ {name}", _mean_sd(v)] for name, v in result.ladder]), "",
              "## 3. Ablation path (greedy, baseline to reference)", "",
              _markdown_table(["step", "flipped", "val accuracy % (mean ± sd)"],
                              [[str(i), name, _mean_sd(v)] for i, (name, v) in
                               enumerate(result.path, start=1)]), "",
              "![contributions](deltas.png) ![path](path.png)", ""]
    return "\n".join(parts)


def _plot_deltas(result: AblationResult, path: Path) -> Path:
    height = 0.5 * len(result.plan.components) + 2
    fig, axes = pyplot().subplots(1, 2, figsize=(11, height))
    for ax, (name, effects) in zip(axes, (("leave-one-out", result.leave_one_out),
                                          ("add-one-in", result.add_one_in))):
        labels = [e.component for e in effects][::-1]
        means = np.array([100 * e.effect.mean for e in effects][::-1])
        low = np.array([100 * e.effect.ci_low for e in effects][::-1])
        high = np.array([100 * e.effect.ci_high for e in effects][::-1])
        errors = np.nan_to_num(np.vstack([means - low, high - means]), posinf=0.0, neginf=0.0)
        ax.errorbar(means, range(len(labels)), xerr=errors, fmt="o", capsize=4)
        ax.axvline(0, color="grey", linewidth=1)
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("contribution to validation accuracy (points, 95% CI)")
        ax.set_title(name)
    return save(fig, path)


def _plot_path(result: AblationResult, path: Path) -> Path:
    labels = ["baseline"] + [f"+{name}" for name, _ in result.path]
    series = [result.baseline] + [v for _, v in result.path]
    means = [100 * np.nanmean(v) for v in series]
    fig, ax = pyplot().subplots(figsize=(max(6, len(labels)), 4))
    ax.plot(range(len(labels)), means, marker="o")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_xlabel("component flipped (greedy order)")
    ax.set_title("ablation path from baseline to reference")
    return save(fig, path)
