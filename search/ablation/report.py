"""Ablation outputs: a rich table, and report.md, runs.csv, deltas.png, path.png on disk."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from rich.markup import escape
from rich.table import Table

from search.ablation.engine import AblationResult
from search.ablation.views import ComponentEffect
from search.report.importance import ImportanceView, importance_sections
from search.report.plotting import pyplot, save
from search.report.render import Section

__all__ = ["effects_table", "show_result", "write_ablation_report", "trainings_line"]


def _pct(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{100 * value:+.2f}"


def _mean_sd(values: Sequence[float]) -> str:
    v = np.asarray([x for x in values if math.isfinite(x)])
    if not len(v):
        return "n/a"
    return f"{100 * v.mean():.2f} ± {100 * v.std(ddof=1):.2f}" if len(v) > 1 else f"{100 * v[0]:.2f}"


def _rows_md(effects: list[ComponentEffect]) -> list[list[str]]:
    return [row[:6] + [f"{e.effect.paired_p:.3g}"] + row[6:] for e, row in zip(effects, _rows(effects))]


def _test(e: ComponentEffect) -> str:
    return f"{e.effect.method} (df {e.effect.df:.0f})"


def _rows(effects: list[ComponentEffect]) -> list[list[str]]:
    return [[e.component, _pct(e.effect.mean), f"[{_pct(e.effect.ci_low)}, {_pct(e.effect.ci_high)}]",
             f"{e.effect.effect_size:.1f}" if math.isfinite(e.effect.effect_size) else "n/a",
             f"{e.effect.p_value:.3g}", f"{e.adjusted_p:.3g}", _seeds(e), _test(e), e.verdict]
            for e in effects]


def _seeds(e: ComponentEffect) -> str:
    """The seeds run; those whose runs diverged (NaN, left out of the estimate) named."""
    lost = e.seeds - e.effect.n
    return f"{e.seeds} ({lost} diverged)" if lost > 0 else str(e.seeds)


HEADERS = ["component", "contribution (pts)", "95% CI", "in noise sd", "p", "p (Holm)", "seeds",
           "test", "verdict"]
HEADERS_MD = HEADERS[:6] + ["p (paired only)"] + HEADERS[6:]


def trainings_line(result: AblationResult) -> str:
    """One sentence: trainings done here, distinct runs, and results used."""
    return (f"Trainings: {result.trained} in this run for {result.distinct_runs} distinct runs; "
            f"{len(result.runs)} results used (a run shared by two views is trained once).")


def show_result(result: AblationResult, views: list[ImportanceView], console) -> None:
    """The verdicts on the terminal: importance from the search, both views, interactions."""
    for view in views:
        console.print(f"[bold]{escape(view.method)}[/] importance: {escape(view.note)}", markup=True)
        for comp, value in list(view.components.items())[:8]:
            console.print(f"  {comp:<14} {value:.3f}")
    console.print(effects_table("leave-one-out: reference minus each component", result.leave_one_out))
    console.print(effects_table("add-one-in: baseline plus each component", result.add_one_in))
    if result.interactions:
        console.print(effects_table("interactions: what two components give together beyond "
                                    "each alone", result.interactions))
    if result.path_stopped:
        console.print(f"path: {len(result.path_stopped)} components within noise flipped in one step")
    console.print(trainings_line(result))


def effects_table(title: str, effects: list[ComponentEffect]) -> Table:
    """A rich table of ``effects``, one row per component, green for helps, red for hurts."""
    table = Table(title=title)
    for header in HEADERS:
        table.add_column(header, overflow="fold")
    for row in _rows(effects):
        style = {"helps": "green", "hurts": "red"}.get(row[-1])
        table.add_row(*(escape(cell) for cell in row), style=style)
    return table


def write_ablation_report(result: AblationResult, views: list[ImportanceView], out: Path,
                          *, title: str, command: str) -> list[Path]:
    """index.html (self-contained) and report.md, plus runs.csv and the two plots."""
    from search.report.render import write_report

    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(result.runs).to_csv(out / "runs.csv", index=False)
    plots = [_plot_deltas(result, out / "deltas.png"), _plot_path(result, out / "path.png")]
    html_path, md_path = write_report(_sections(result, views, command, plots), out,
                                      f"Ablation: {title}")
    return [md_path, html_path, out / "runs.csv", *plots]


def _method(result: AblationResult) -> str:
    plan = result.plan
    seeds = (f"adaptive: {plan.seeding().start} seeds at first, more only for comparisons still "
             f"undecided, up to {len(plan.seeds)} (looks at {plan.seeding().schedule}, alpha "
             f"{plan.alpha} spent equally over them)" if plan.adaptive else f"{len(plan.seeds)} fixed")
    return (f"Seeds per variant: {seeds}. Every variant of a view runs with the same seeds, so "
            "each view is a blocked design: the seed-to-seed noise is pooled over all its "
            "variants (two-way ANOVA residual, column 'test': pooled, with its degrees of "
            "freedom), unless one run is an outlier or the noise differs between variants; then "
            "each comparison uses its own paired differences (test: paired). 'p (paired only)' is "
            "that per-pair test for every row, for comparison. p (Holm): corrected across the "
            f"view's components, family-wise alpha {plan.alpha}. 'negligible': the interval lies "
            f"within +-{100 * plan.min_effect:.2f} points. Contributions are validation-accuracy "
            "points; positive means the component helps; 'in noise sd' divides by one run's "
            "noise sd. " + trainings_line(result))


def _effects(title: str, effects: list[ComponentEffect], text: str = "") -> Section:
    return Section(title, text=text, table=[HEADERS_MD] + _rows_md(effects))


def _sections(result: AblationResult, views: list[ImportanceView], command: str,
              plots: list[Path]) -> list[Section]:
    sections = [Section("Method", text=f"Command: {command}. {_method(result)} Reference: "
                        f"{_mean_sd(result.reference)}%. Baseline: {_mean_sd(result.baseline)}%.")]
    sections += importance_sections(views)
    sections += [_effects("Leave-one-out (reference minus the component)", result.leave_one_out),
                 _effects("Add-one-in (baseline plus the component)", result.add_one_in),
                 Section("Cumulative ladder", table=[["step", "val accuracy % (mean ± sd)"],
                                                     ["baseline", _mean_sd(result.baseline)]] +
                         [[f"+ {name}", _mean_sd(v)] for name, v in result.ladder])]
    if result.interactions:
        sections.append(_effects(
            "Interactions (leave-two-out, fresh seeds)", result.interactions,
            "f(ref) - f(ref - a) - f(ref - b) + f(ref - a - b): positive means the two help more "
            "together than the sum of each alone."))
    stopped = (f" {len(result.path_stopped)} components within noise in both views were "
               "flipped together in the last step." if result.path_stopped else "")
    sections.append(Section("Ablation path (greedy, baseline to reference)", text=stopped.strip(),
                            table=[["step", "flipped", "val accuracy % (mean ± sd)"]] +
                            [[str(i), name, _mean_sd(v)] for i, (name, v) in
                             enumerate(result.path, start=1)], images=plots))
    return sections


def _plot_deltas(result: AblationResult, path: Path) -> Path:
    height = 0.5 * len(result.plan.components) + 2
    fig, axes = pyplot().subplots(1, 2, figsize=(11, height))
    for ax, (name, effects) in zip(axes, (("leave-one-out", result.leave_one_out),
                                          ("add-one-in", result.add_one_in))):
        labels = [e.component for e in effects][::-1]
        means = np.array([100 * e.effect.mean for e in effects][::-1])
        low = np.array([100 * e.effect.ci_low for e in effects][::-1])
        high = np.array([100 * e.effect.ci_high for e in effects][::-1])
        _draw_intervals(ax, means, low, high)
        ax.axvline(0, color="grey", linewidth=1)
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("contribution to validation accuracy (points, 95% CI)")
        ax.set_title(name)
    return save(fig, path)


def _draw_intervals(ax, means: np.ndarray, low: np.ndarray, high: np.ndarray) -> None:
    """Each estimate with its interval; one without (noise unknown) as a hollow point."""
    rows, known = np.arange(len(means)), np.isfinite(low) & np.isfinite(high)
    ax.errorbar(means[known], rows[known], capsize=4, fmt="o",
                xerr=np.vstack([means - low, high - means])[:, known])
    if not known.all():
        ax.plot(means[~known], rows[~known], "o", fillstyle="none", label="no interval")
        ax.legend(loc="lower right")


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
