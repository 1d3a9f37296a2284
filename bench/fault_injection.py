"""Fault injection: SIGKILL a running study at random moments, resume it, count what was lost.

    python bench/fault_injection.py --kills 8 --trials 6 --epochs 6 --limit 3000

Each round starts `python -m search run`, kills it with SIGKILL after a random
delay, then checks that every trial that was COMPLETE before is still COMPLETE
with the same value. A final run finishes the study. Printed figures: kills,
completed trials lost, trials resumed from a checkpoint, epochs resumed rather
than retrained, and epochs redone (trained before a kill but not checkpointed).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

SPACE = """
from search.knobs import Choice, Float
SPACE = {"conv": {"depth": 2, "filters": Choice(16, 32)},
         "optimizer": {"learning_rate": Float(1e-3, 1e-2, log=True)},
         "training": {"batch_size": 64}}
"""


def _command(space: Path, args: argparse.Namespace) -> list[str]:
    return [sys.executable, "-m", "search", "run", str(space), "--study", "faults", "--trials",
            str(args.trials), "--epochs", str(args.epochs), "--pruner", "none", "--data", args.data,
            "--limit", str(args.limit)]


def _complete(storage: str) -> dict[int, float]:
    if not Path(storage[len("sqlite:///"):]).exists():
        return {}
    try:
        study = optuna.load_study(study_name="faults", storage=storage)
    except KeyError:
        return {}
    return {t.number: t.value for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))}


def run(args: argparse.Namespace) -> dict[str, int]:
    folder = Path(args.workdir or tempfile.mkdtemp(prefix="faults-"))
    space = folder / "faults_space.py"
    space.write_text(SPACE)
    storage = f"sqlite:///{folder / 'studies/faults/study.db'}"
    rng, lost, kills = random.Random(args.seed), 0, 0
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for _ in range(args.kills):
        before = _complete(storage)
        process = subprocess.Popen(_command(space, args), cwd=folder, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(args.min_delay, args.max_delay))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
        after = _complete(storage)
        lost += sum(1 for n, v in before.items() if after.get(n) != v)
    final = subprocess.run(_command(space, args), cwd=folder, env=env, capture_output=True, text=True)
    if final.returncode != 0:
        raise SystemExit(f"final run failed:\n{final.stderr[-2000:]}")
    return {"kills": kills, "completed_trials_lost": lost, **_resume_figures(storage, args.trials)}


def _resume_figures(storage: str, trials: int) -> dict[str, int]:
    study = optuna.load_study(study_name="faults", storage=storage)
    system = {t.number: study._storage.get_trial_system_attrs(t._trial_id) for t in study.trials}
    retries = [t for t in study.trials if system[t.number].get("retry_history")]
    killed = {t.number: t for t in study.trials if t.state == optuna.trial.TrialState.FAIL}
    resumed = [t for t in retries if t.user_attrs.get("resumed_from_epoch")]
    redone = 0
    for t in retries:
        parent = killed.get(system[t.number]["retry_history"][-1])
        if parent is not None:
            redone += len(parent.user_attrs.get("history", [])) - t.user_attrs.get(
                "resumed_from_epoch", 0)
    origins = {system[t.number].get("retry_history", [t.number])[0] for t in study.trials}
    running = [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]
    return {"retried_trials": len(retries), "resumed_from_checkpoint": len(resumed),
            "epochs_resumed": sum(t.user_attrs.get("resumed_from_epoch", 0) for t in resumed),
            "epochs_redone": max(redone, 0), "study_trials": len(origins),
            "budget": trials, "left_running": len(running)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=8)
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--limit", type=int, default=3000)
    parser.add_argument("--data", default="fashion_mnist")
    parser.add_argument("--min-delay", type=float, default=8.0)
    parser.add_argument("--max-delay", type=float, default=25.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir")
    figures = run(parser.parse_args(argv))
    print("| " + " | ".join(figures) + " |")
    print("|" + "---|" * len(figures))
    print("| " + " | ".join(str(v) for v in figures.values()) + " |")
    return 0 if figures["completed_trials_lost"] == 0 and figures["left_running"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
