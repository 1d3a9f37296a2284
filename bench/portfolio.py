"""The warm-start portfolio, made by a rerunnable procedure on development tasks only.

    python bench/portfolio.py --candidates 6 --size 3

Greedy portfolio construction, as in Auto-sklearn 2.0 (Feurer et al., 2022):

1. Candidates: the ``--candidates`` best recorded configurations (best-epoch validation
   accuracy) of each development task (bench/curves/TASK.jsonl, random configurations
   of spaces/cnn.py recorded by bench/record_curves.py).
2. Every candidate is scored on every development task by validation accuracy: its
   recorded score on its own task, real training (the engine's path, seed 0) on the
   others. Scores are kept in bench/out/portfolio/scores.jsonl, so a rerun trains only
   what is missing.
3. Scores are normalised per task to [0, 1] (worst to best candidate). Starting empty,
   the candidate that most raises the mean over tasks of the portfolio's best normalised
   score is added, until ``--size`` entries (ties go to the cheaper candidate).

Test scores are never read, and no evaluation task is touched. The result is written to
spaces/cnn_portfolio.yaml, a warm-start file for ``run --warm-start`` (not the space's
default WARM_START: bench/warm_start_choice.py decides that).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [os.path.dirname(__file__), str(REPO)]

from replay_surrogate import load_curves  # noqa: E402
from tasks import DEVELOPMENT  # noqa: E402

SCORES = REPO / "bench" / "out" / "portfolio" / "scores.jsonl"
TARGET = REPO / "spaces" / "cnn_portfolio.yaml"


def main() -> None:
    args = parse_args()
    candidates = pick_candidates(args.candidates)
    scores = score_all(candidates)
    chosen = greedy(candidates, scores, args.size)
    write_portfolio(chosen, scores, " ".join(sys.argv[1:]))
    for c in chosen:
        print(c["key"], {t: round(scores[(c["key"], t)], 4) for t in DEVELOPMENT})
    print(f"wrote {TARGET.relative_to(REPO)}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=int, default=6, help="best recorded per task")
    parser.add_argument("--size", type=int, default=3, help="portfolio entries")
    return parser.parse_args()


def pick_candidates(per_task: int) -> list[dict[str, Any]]:
    """The best complete configurations of each development task, with their own scores."""
    out = []
    for task in DEVELOPMENT:
        rows = [r for r in load_curves(task) if r["state"] == "COMPLETE" and r["val_accuracy"]]
        rows.sort(key=lambda r: -max(r["val_accuracy"]))
        for row in rows[:per_task]:
            out.append({"key": f"{task}/{row['study']}/{row['number']}", "task": task,
                        "params": nested(row["params"]), "own": max(row["val_accuracy"]),
                        "seconds": sum(row["seconds"])})
    return out


def nested(flat: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Optuna's ``component.knob[.block]`` parameters as a config's nested params."""
    out: dict[str, dict[str, Any]] = {}
    for name, value in sorted(flat.items(), key=lambda kv: _order(kv[0])):
        component, knob, *block = name.split(".")
        if block:
            out.setdefault(component, {}).setdefault(knob, []).append(value)
        else:
            out.setdefault(component, {})[knob] = value
    return out


def _order(name: str) -> tuple:
    parts = name.split(".")
    return (parts[0], parts[1], int(parts[2]) if len(parts) > 2 else -1)


def score_all(candidates: list[dict[str, Any]]) -> dict[tuple[str, str], float]:
    """Validation accuracy of every candidate on every development task."""
    scores = _stored()
    for c in candidates:
        scores[(c["key"], c["task"])] = c["own"]
        for task in DEVELOPMENT:
            if (c["key"], task) not in scores:
                scores[(c["key"], task)] = train_on(c["params"], task)
                SCORES.parent.mkdir(parents=True, exist_ok=True)
                with open(SCORES, "a") as handle:
                    handle.write(json.dumps({"key": c["key"], "task": task,
                                             "val_accuracy": scores[(c["key"], task)]}) + "\n")
    return scores


def _stored() -> dict[tuple[str, str], float]:
    if not SCORES.exists():
        return {}
    rows = [json.loads(line) for line in SCORES.read_text().splitlines() if line.strip()]
    return {(r["key"], r["task"]): r["val_accuracy"] for r in rows}


def train_on(params: dict[str, Any], task: str) -> float:
    """Best-epoch validation accuracy of ``params`` trained on ``task`` (0 if it cannot be
    built or diverges there), through the engine's own training path."""
    from search.ablation.objective import KerasObjective
    from search.space.config import Config

    config = Config.from_dict({"params": params, "data": DEVELOPMENT[task]},
                              source=f"portfolio candidate on {task}")
    value = KerasObjective(fuse=False)(config)  # the path a search trial takes
    print(f"  trained on {task}: {value:.4f}", flush=True)
    return 0.0 if np.isnan(value) else float(value)


def greedy(candidates: list[dict[str, Any]], scores: dict[tuple[str, str], float],
           size: int, tasks: list[str] | None = None) -> list[dict[str, Any]]:
    """Auto-sklearn 2.0's greedy portfolio over per-task normalised scores (on ``tasks``,
    all development tasks by default)."""
    tasks = list(tasks or DEVELOPMENT)
    matrix = np.array([[scores[(c["key"], t)] for t in tasks] for c in candidates])
    low, high = matrix.min(axis=0), matrix.max(axis=0)
    normal = (matrix - low) / np.where(high > low, high - low, 1.0)
    chosen: list[int] = []
    best = np.zeros(len(tasks))
    while len(chosen) < min(size, len(candidates)):
        gains = [(np.maximum(best, normal[i]).mean(), -candidates[i]["seconds"], i)
                 for i in range(len(candidates)) if i not in chosen]
        _, _, pick = max(gains)
        chosen.append(pick)
        best = np.maximum(best, normal[pick])
    return [candidates[i] for i in chosen]


def portfolio_without(task: str, size: int = 3, per_task: int = 6) -> list[dict[str, Any]]:
    """The greedy portfolio over the *other* development tasks' recorded candidates and
    their own scores: nothing in it was chosen on ``task`` (leave-one-task-out).

    With two development tasks the others are one task, so after its best candidate every
    further entry adds nothing to the greedy's objective and the ties go to the cheapest
    candidates: the second and third entries are the other task's two cheapest of its
    ``per_task`` best, not its next best."""
    others = [t for t in DEVELOPMENT if t != task]
    if len(others) != 1:
        raise SystemExit("a leave-one-task-out portfolio over several development tasks needs "
                         "their cross-task scores (score_all), not only their own")
    pool = [c for c in pick_candidates(per_task) if c["task"] in others]
    own = {(c["key"], c["task"]): c["own"] for c in pool}
    return greedy(pool, own, size, tasks=others)


def write_portfolio(chosen: list[dict[str, Any]], scores: dict, command: str) -> None:
    import yaml

    entries = [{"chosen_from": c["key"],
                "val_accuracy": {t: round(scores[(c["key"], t)], 4) for t in DEVELOPMENT},
                "params": c["params"]} for c in chosen]
    header = ("# The warm-start portfolio of spaces/cnn.py, made on development tasks only by\n"
              f"#   python bench/portfolio.py {command}\n"
              "# (greedy portfolio construction over validation scores; see bench/portfolio.py).\n"
              "# Do not edit by hand: rerun the procedure.\n")
    TARGET.write_text(header + yaml.safe_dump({"entries": entries}, sort_keys=False))


if __name__ == "__main__":
    main()
