"""search/ablation/report.py: an ablation's result (on a synthetic objective, no training) as
a terminal table and summary, and as report.md, index.html, runs.csv and two plots."""

from __future__ import annotations

import csv
import zlib

import numpy as np
from rich.console import Console

from search.ablation.engine import AblationPlan, run_ablation
from search.ablation.report import effects_table, show_result, trainings_line, write_ablation_report
from search.space.config import Config

REFERENCE = Config({"bn": {"enabled": True}, "dropout": {"enabled": True}})


def objective(config: Config) -> float:
    rng = np.random.default_rng(zlib.crc32(config.digest().encode()))
    return 0.8 + 0.05 * config.enabled("bn") + rng.normal(0, 0.002)


def result():
    plan = AblationPlan(REFERENCE, Config({}), ["bn", "dropout"], [0, 1, 2], min_effect=0.02)
    return run_ablation(plan, objective)


def test_the_terminal_shows_both_views_and_the_trainings():
    done = result()
    assert trainings_line(done) == (
        f"Trainings: {done.trained} in this run for {done.distinct_runs} distinct runs; "
        f"{len(done.runs)} results used (a run shared by two views is trained once).")
    console = Console(record=True, width=250)
    show_result(done, [], console)
    text = console.export_text()
    assert "leave-one-out: reference minus each component" in text
    assert "add-one-in: baseline plus each component" in text
    bn = next(line for line in text.splitlines() if "│ bn " in line).split("│")
    assert abs(float(bn[2]) - 5.0) < 1.0  # in accuracy points, signed
    assert bn[-2].strip() == "helps" and bn[-3].strip() == "pooled (df 4)"
    assert "negligible" in next(line for line in text.splitlines() if "│ dropout " in line)
    assert text.strip().endswith("(a run shared by two views is trained once).")


def test_a_comparison_with_diverged_runs_says_how_many():
    def diverging(config: Config) -> float:  # without dropout, the run at seed 1 diverges
        if config.seed == 1 and config.enabled("bn") and not config.enabled("dropout"):
            return float("nan")
        return objective(config)

    plan = AblationPlan(REFERENCE, Config({}), ["bn", "dropout"], [0, 1, 2], min_effect=0.02)
    console = Console(record=True, width=250)
    show_result(run_ablation(plan, diverging), [], console)
    text = console.export_text().split("add-one-in")[0]  # leave-one-out: reference - dropout
    assert "│ 3 (1 diverged) │" in next(line for line in text.splitlines() if "│ dropout " in line)
    assert "diverged" not in next(line for line in text.splitlines() if "│ bn " in line)


def test_a_component_name_is_shown_as_written_not_as_markup():
    effect = result().leave_one_out[0]
    effect.component = "[red]bn[/red]"
    console = Console(record=True, width=250)
    console.print(effects_table("t", [effect]))
    assert "[red]bn[/red]" in console.export_text()


def test_the_report_files_hold_the_command_every_view_and_every_run(tmp_path):
    done = result()
    files = write_ablation_report(done, [], tmp_path / "ablation", title="abl",
                                  command="python -m search ablate abl")
    out = tmp_path / "ablation"
    assert files == [out / "report.md", out / "index.html", out / "runs.csv", out / "deltas.png",
                     out / "path.png"]
    assert all(f.is_file() and f.stat().st_size for f in files)
    md = (out / "report.md").read_text()
    assert md.startswith("# Ablation: abl")
    for heading in ("## Method", "## Leave-one-out", "## Add-one-in", "## Cumulative ladder",
                    "## Ablation path"):
        assert heading in md
    assert "Command: python -m search ablate abl." in md and "3 fixed" in md
    with open(out / "runs.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(done.runs) and set(rows[0]) == {"view", "component", "seed", "value",
                                                           "run"}


def test_an_estimate_without_an_interval_is_drawn_hollow_not_as_a_certain_point():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    from search.ablation.report import _draw_intervals

    fig, ax = pyplot.subplots()
    _draw_intervals(ax, np.array([1.0, 2.0]), np.array([0.5, -np.inf]), np.array([1.5, np.inf]))
    hollow = [line for line in ax.lines if line.get_fillstyle() == "none"]
    assert len(hollow) == 1 and list(hollow[0].get_ydata()) == [1]  # the second row
    assert ax.get_legend().get_texts()[0].get_text() == "no interval"
    pyplot.close(fig)
