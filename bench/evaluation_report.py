"""The evaluation's standing over every task at once: each contender's mean test accuracy
per task (and each repetition's), how often a search's best was a sampled trial, and the
goals of the search-quality protocol checked on the repetitions measured so far.

    python bench/evaluation_report.py bench/figures/search-quality-rerun-*.jsonl
    python bench/evaluation_report.py FILES --repetition lookalike4 0   # one repetition's table

Each file holds one task's rows of bench/search_quality.py (its ``results.jsonl``). Two
contenders are compared on the repetitions both have, so a task part-way through a
repetition is never judged on unequal terms, and a goal is judged (met or missed) only
once 3 tasks have 3 such repetitions for it. The goals: ours ≥ the portfolio alone + 0.3
points (mean test accuracy) on at least 2 of 3 tasks; ours' best a sampled trial in at
least a third of its repetitions; without a warm start, ≥ Optuna random + 0.5 and ≥
KerasTuner Hyperband + 0.5 points (read strictly: on each of the 3 tasks; the mean over
tasks is shown too) and ≥ the hand-made model on at least 2 of 3 tasks.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from common import table

ORDER = ("ours", "ours-cold-baseline", "ours-cold", "portfolio", "warm-start", "hand",
         "kt-hyperband", "kt-bayesian", "random")
SEARCHES = ("ours", "ours-cold-baseline", "ours-cold", "random")  # with an Optuna study
COLD = (("ours-cold-baseline", "without a warm start, the baseline model first"),
        ("ours-cold", "cold, nothing enqueued"))


def load(paths: list[str]) -> dict[str, dict[str, dict[int, dict]]]:
    """task → contender → repetition → row (a file not there yet is skipped, with a note)."""
    tasks: dict[str, dict[str, dict[int, dict]]] = {}
    for path in paths:
        if not Path(path).exists():
            print(f"note: {path} is not there yet; its task is left out", file=sys.stderr)
            continue
        for line in Path(path).read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                tasks.setdefault(row["task"], {}).setdefault(row["contender"], {})[row["rep"]] = row
    return tasks


def scores(runs: dict[int, dict]) -> dict[int, float]:
    """Repetition → test accuracy, for the runs that have one."""
    return {rep: r["test_accuracy"] for rep, r in runs.items() if r.get("test_accuracy") is not None}


def paired(task: dict[str, dict[int, dict]], a: str, b: str) -> list[tuple[float, float]]:
    """(a, b) test accuracies over the repetitions both have."""
    sa, sb = scores(task.get(a, {})), scores(task.get(b, {}))
    return [(sa[rep], sb[rep]) for rep in sorted(sa.keys() & sb.keys())]


def standing_table(tasks: dict) -> str:
    """Contender × task: mean test accuracy, each repetition's in brackets."""
    names = [n for n in ORDER if any(n in t for t in tasks.values())]
    rows = []
    for name in names:
        cells = []
        for task in tasks.values():
            values = [v for _, v in sorted(scores(task.get(name, {})).items())]
            cells.append(f"{statistics.mean(values):.4f} ({', '.join(f'{v:.4f}' for v in values)})"
                         if values else "—")
        rows.append([name, *cells, sampled_text(tasks, name)])
    headers = ["contender", *(f"{t} (repetitions: {repetitions(tasks[t])})" for t in tasks),
               "best from a sampled trial"]
    return table(headers, rows)


def repetitions(task: dict[str, dict[int, dict]]) -> int:
    """Repetitions every contender of the task has finished."""
    return min((len(scores(runs)) for runs in task.values()), default=0)


def sampled_counts(tasks: dict, name: str) -> tuple[int, int]:
    """(searches whose best was a sampled trial, searches) over every task; a search that
    does not say (no complete trial) counts as not sampled."""
    runs = [r for t in tasks.values() for r in t.get(name, {}).values()]
    return sum(bool(r.get("best_sampled")) for r in runs), len(runs)


def sampled_text(tasks: dict, name: str) -> str:
    hits, total = sampled_counts(tasks, name)
    return f"{hits} of {total}" if name in SEARCHES and total else "—"


def margin(tasks: dict, a: str, b: str) -> dict[str, tuple[float, int, int]]:
    """task → (mean a − b in points, a ahead in, repetitions compared)."""
    out = {}
    for name, task in tasks.items():
        pairs = paired(task, a, b)
        if pairs:
            out[name] = (round(statistics.mean(x - y for x, y in pairs) * 100, 6),
                         sum(x > y for x, y in pairs), len(pairs))
    return out


def margin_text(margins: dict[str, tuple[float, int, int]]) -> str:
    if not margins:
        return "no paired repetition yet"
    overall = statistics.mean(m for m, _, _ in margins.values())
    return "; ".join([*(f"{task} {m:+.2f} (ahead in {k} of {n})"
                        for task, (m, k, n) in margins.items()),
                      f"mean over tasks {overall:+.2f}"])


def judged(margins: dict[str, tuple[float, int, int]]) -> bool:
    """Whether a comparison has 3 tasks with 3 repetitions each behind it."""
    return sum(n >= 3 for _, _, n in margins.values()) >= 3


def check(label: str, margins: dict, need: float, tasks_needed: int) -> str:
    """One goal: ``margins`` ≥ ``need`` points on at least ``tasks_needed`` of 3 tasks."""
    good = sum(m >= need for m, _, _ in margins.values())
    result = verdict(good >= tasks_needed, judged(margins))
    return (f"{label} on {tasks_needed} of 3 tasks: **{result}**, on {good} of {len(margins)} "
            f"({margin_text(margins)})")


def goal_lines(tasks: dict) -> list[str]:
    """Each goal of the protocol: met or missed once judged, else where it stands so far."""
    lines = ["- " + check("ours ≥ the portfolio alone + 0.3 points", margin(
        tasks, "ours", "portfolio"), 0.3, 2),
             "- (what the search adds after ours' own warm start, the space's WARM_START: "
             + check("ours ≥ that warm start alone + 0.3 points", margin(
                 tasks, "ours", "warm-start"), 0.3, 2) + ")"]
    hits, total = sampled_counts(tasks, "ours")
    enough = sum(len(t.get("ours", {})) >= 3 for t in tasks.values()) >= 3
    lines.append(f"- ours' best from a sampled trial in at least a third of the repetitions: "
                 f"**{verdict(3 * hits >= total > 0, enough)}**, {hits} of {total}.")
    for name, what in COLD:
        parts = [check("≥ Optuna random + 0.5", margin(tasks, name, "random"), 0.5, 3),
                 check("≥ KerasTuner Hyperband + 0.5", margin(tasks, name, "kt-hyperband"), 0.5, 3),
                 check("≥ the hand-made model", margin(tasks, name, "hand"), 0.0, 2)]
        lines.append(f"- {what}:\n  - " + "\n  - ".join(parts))
    return lines


LABELS = {"ours": "ours (the default)",
          "ours-cold-baseline": "ours, no warm start: the baseline model first",
          "ours-cold": "ours cold: nothing enqueued", "portfolio": "the portfolio alone",
          "warm-start": "ours' own warm start alone (the space's WARM_START)",
          "hand": "the users' hand-made model",
          "kt-hyperband": "KerasTuner Hyperband, cold, budget-fitted",
          "kt-bayesian": "KerasTuner Bayesian, cold", "random": "Optuna random, no pruning"}


def repetition_table(tasks: dict, task: str, rep: int) -> str:
    """One task-repetition, a row per contender measured: test accuracy (the best in bold),
    best validation, its trials and whether its best was a sampled trial."""
    runs = {name: tasks.get(task, {}).get(name, {}).get(rep) for name in ORDER}
    runs = {name: run for name, run in runs.items() if run and run.get("test_accuracy") is not None}
    top = max((run["test_accuracy"] for run in runs.values()), default=None)
    rows = [[LABELS[name], _bold(f"{run['test_accuracy']:.4f}", run["test_accuracy"] == top),
             "—" if run.get("best_val") is None else f"{run['best_val']:.4f}", _trials(run),
             {True: "yes", False: "no"}.get(run.get("best_sampled"), "—")
             if name in SEARCHES else "—"]
            for name, run in runs.items()]
    return table(["contender", "test accuracy", "best validation",
                  "trials (complete / pruned / never trained)", "best from a sampled trial"], rows)


def _bold(text: str, bold: bool) -> str:
    return f"**{text}**" if bold else text


def _trials(run: dict) -> str:
    outcomes = run.get("outcomes")
    if outcomes:
        return f"{outcomes['complete']} / {outcomes['pruned']} / {outcomes['never trained']}"
    return f"{run['trials']} trained" if run.get("best_val") is not None else "—"


def verdict(ok: bool, done: bool) -> str:
    return ("met" if ok else "missed") if done else "not judged yet"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="+", help="one results.jsonl per task")
    parser.add_argument("--repetition", nargs=2, metavar=("TASK", "REP"),
                        help="print only this task-repetition's table")
    args = parser.parse_args()
    tasks = load(args.rows)
    if args.repetition:
        task, rep = args.repetition
        if task not in tasks or not rep.isdigit():
            parser.error(f"--repetition TASK REP: TASK is one of {', '.join(sorted(tasks))} "
                         f"(got {task!r}) and REP a repetition number (got {rep!r})")
        print(repetition_table(tasks, task, int(rep)))
        return
    print(standing_table(tasks), "", "Goals, on the repetitions measured so far:",
          *goal_lines(tasks), sep="\n")


if __name__ == "__main__":
    main()
