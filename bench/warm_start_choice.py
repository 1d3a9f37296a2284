"""Which warm start should the default search begin with? Decided on development tasks only.

    python bench/warm_start_choice.py

Two warm starts compete: spaces/cnn.py's WARM_START (our users' hand-made models) and
the portfolio procedure of bench/portfolio.py. The portfolio is made from development
tasks, so judging it on one of them would be in-sample. Each development task T is
therefore judged leave-one-task-out: the portfolio is rebuilt from the *other*
development tasks' candidates and scores only (the same greedy construction), and both
warm starts are trained on T through the engine's own trial path (seed 0).

Reported per task: each warm start's best validation accuracy and its summed training
seconds (cached in bench/out/portfolio/warm_start_choice.jsonl, keyed by each entry's
parameters, so a rerun trains only what is missing or changed). No test score is read;
no evaluation task is trained on. (The hand-made models themselves came from our users'
work on Fashion-MNIST, one of them tuned on a 10,000-image subset: see spaces/cnn.py.)

How this decides: the default changes only when the challenger is ahead on one
development task and not behind on the other (the rule successive halving was adopted
by) in the replay of the whole search after each warm start (bench/search_replay.py,
contenders ``ours`` and ``ours-portfolio``, 100 repetitions); the real-training scores
here, one seed each, check that the surrogate's verdict does not contradict real training.

With two development tasks the leave-one-task-out portfolio is the other task's best
candidate followed by its two cheapest (bench/portfolio.py: ``portfolio_without``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [os.path.dirname(__file__), str(REPO)]

from common import header, table  # noqa: E402
from portfolio import SCORES, portfolio_without, train_on  # noqa: E402
from tasks import DEVELOPMENT  # noqa: E402

CACHE = SCORES.parent / "warm_start_choice.jsonl"


def main() -> None:
    args = parse_args()
    hand = hand_entries()
    rows = []
    for task in DEVELOPMENT:
        loo = portfolio_without(task, args.size, args.candidates)
        rows.append(judge(task, "portfolio (leave-one-task-out)", loo))
        rows.append(judge(task, "hand-made (spaces/cnn.py)", hand))
    print(header("Warm start: hand-made models against the leave-one-task-out portfolio"))
    print(table(["task", "warm start", "entries (score each)", "best", "seconds"], rows))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=int, default=6, help="best recorded per task")
    parser.add_argument("--size", type=int, default=3, help="portfolio entries")
    return parser.parse_args()


def hand_entries() -> list[dict[str, Any]]:
    """spaces/cnn.py's WARM_START as portfolio-style candidates."""
    from search.space.space import load_space

    space = load_space(REPO / "spaces" / "cnn.py")
    return [{"key": f"hand/{i}/{_digest(params)}", "task": None, "params": params}
            for i, params in enumerate(space.warm_start)]


def _digest(params: dict[str, Any]) -> str:
    """A short hash of an entry's params: an edited entry is trained anew, not read from
    the cache under its old score."""
    return hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]


def judge(task: str, name: str, entries: list[dict[str, Any]]) -> list[str]:
    """One table row: every entry trained on ``task`` (cached), its best and its cost."""
    trained = [score_on(entry, task) for entry in entries]
    shown = ", ".join(f"{e['key']} {v:.4f}" for e, (v, _) in zip(entries, trained))
    return [task, name, shown, f"{max(v for v, _ in trained):.4f}",
            f"{sum(s for _, s in trained):.0f}"]


def score_on(entry: dict[str, Any], task: str) -> tuple[float, float]:
    """Validation accuracy and training seconds of ``entry`` on ``task``, trained once."""
    cached = _cached()
    if (entry["key"], task) in cached:
        return cached[(entry["key"], task)]
    start = time.perf_counter()
    value = train_on(entry["params"], task)
    spent = time.perf_counter() - start
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    with open(CACHE, "a") as handle:
        handle.write(json.dumps({"key": entry["key"], "task": task, "val_accuracy": value,
                                 "seconds": spent}) + "\n")
    return value, spent


def _cached() -> dict[tuple[str, str], tuple[float, float]]:
    if not CACHE.exists():
        return {}
    rows = [json.loads(line) for line in CACHE.read_text().splitlines() if line.strip()]
    return {(r["key"], r["task"]): (r["val_accuracy"], r["seconds"]) for r in rows}


if __name__ == "__main__":
    main()
