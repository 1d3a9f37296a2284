"""The search-quality benchmark's tables and figure (bench/search_quality.py)."""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from common import header, table

CONTENDERS_COLOURS = ("C0", "C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9")


def summary(args: argparse.Namespace, results: list[dict], out: Path) -> str:
    """The contender table, how often each search's best came from a sampled trial, and
    ours against each other contender repetition by repetition."""
    lines = [header(f"Search quality: {args.task}, {args.budget / 60:g} minutes per search"), ""]
    by = {name: sorted((r for r in results if r["contender"] == name), key=lambda r: r["rep"])
          for name in args.contenders}
    rows = []
    for name, runs in by.items():
        tests = [r["test_accuracy"] for r in runs if r["test_accuracy"] is not None]
        sampled = [s for s in (r["best_sampled"] if "best_sampled" in r else best_sampled(out, r)
                               for r in runs) if s is not None]
        rows.append([name, len(runs), spread(tests), f"{min(tests, default=0):.4f}–"
                     f"{max(tests, default=0):.4f}", spread([r["best_val"] for r in runs
                                                           if r["best_val"] is not None]),
                     median([r["trials"] for r in runs]), median([r["epochs"] for r in runs
                                                                 if r["epochs"] is not None]),
                     f"{sum(sampled)} of {len(sampled)}" if sampled else "—"])
    lines.append(table(["contender", "repetitions", "test accuracy (mean ± sd)", "range",
                        "best validation accuracy", "trials that trained (median)",
                        "epochs (median)", "best from a sampled trial"], rows))
    ours = {r["rep"]: r["test_accuracy"] for r in by.get("ours", [])}
    wins = []
    for name, runs in by.items():
        if name == "ours" or not ours:
            continue
        pairs = [(ours[r["rep"]], r["test_accuracy"]) for r in runs if r["rep"] in ours
                 and None not in (ours[r["rep"]], r["test_accuracy"])]
        ahead = sum(a > b for a, b in pairs)
        diff = statistics.mean(a - b for a, b in pairs) * 100 if pairs else float("nan")
        wins.append([name, f"{ahead} of {len(pairs)}", f"{diff:+.2f}"])
    if wins:
        lines += ["", table(["ours against", "ours ahead in", "mean difference (points)"], wins)]
    return "\n".join(lines + outcome_table(by, out))


def best_sampled(out: Path, result: dict) -> bool | None:
    """Whether the search's best trial was sampled (not a warm-start entry); None for
    the hand-made model and searches without an Optuna study (KerasTuner keeps none)."""
    import optuna

    db = out / "studies" / f"{result['contender']}-r{result['rep']}" / "study.db"
    if result["contender"] == "hand" or not db.exists():
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(study_name=None, storage=f"sqlite:///{db}")
        return not study.best_trial.user_attrs.get("warm_start")
    except ValueError:  # no complete trial
        return None


OUTCOMES = ("complete", "pruned", "never trained", "cut for cost", "failed")


def trial_outcomes(out: Path, result: dict) -> dict[str, int] | None:
    """How the search's trials ended (``OUTCOMES``: never trained = an impossible or too
    large network, ended before its first step); None without an Optuna study."""
    import optuna

    db = out / "studies" / f"{result['contender']}-r{result['rep']}" / "study.db"
    if result["contender"] == "hand" or not db.exists():
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    counts = dict.fromkeys(OUTCOMES, 0)
    for trial in optuna.load_study(study_name=None, storage=f"sqlite:///{db}").trials:
        reason = str(trial.user_attrs.get("prune_reason", ""))
        if trial.user_attrs.get("cost_cut"):
            counts["cut for cost"] += 1
        elif trial.state == optuna.trial.TrialState.COMPLETE:
            counts["complete"] += 1
        elif reason.startswith(("impossible network", "network too large")):
            counts["never trained"] += 1
        elif trial.state == optuna.trial.TrialState.PRUNED:
            counts["pruned"] += 1
        else:
            counts["failed"] += 1
    return counts


def outcome_table(by: dict[str, list[dict]], out: Path) -> list[str]:
    """Median trial outcomes per contender over its repetitions (Optuna searches only)."""
    rows = []
    for name, runs in by.items():
        counts = [r["outcomes"] if "outcomes" in r else trial_outcomes(out, r) for r in runs]
        counts = [c for c in counts if c]
        if counts:
            rows.append([name, *(median([c[key] for c in counts]) for key in OUTCOMES)])
    return ["", table(["trials' outcome (median)", *OUTCOMES], rows)] if rows else []


def spread(values: list[float]) -> str:
    if not values:
        return "—"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} ± {sd:.4f}"


def median(values: list) -> str:
    return f"{statistics.median(values):g}" if values else "—"


def draw(results: list[dict], path: str, budget: float) -> None:
    """Best-so-far validation accuracy against minutes: one line per search, colour per contender."""
    from search.report.plotting import pyplot

    plt = pyplot()
    figure, axis = plt.subplots(figsize=(8, 5))
    names = sorted({r["contender"] for r in results})
    colours = dict(zip(names, CONTENDERS_COLOURS))
    for r in results:
        if r["curve"]:
            xs = [t / 60 for t, _ in r["curve"]] + [budget / 60]
            ys = [v for _, v in r["curve"]] + [r["curve"][-1][1]]
            axis.step(xs, ys, where="post", color=colours[r["contender"]], alpha=0.7,
                      label=r["contender"] if r["rep"] == 0 else None)
    axis.set(xlabel="minutes", ylabel="best validation accuracy so far", ylim=(0.8, None))
    axis.legend()
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)
