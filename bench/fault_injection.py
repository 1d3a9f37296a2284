"""Fault injection: kill, interrupt or cut the storage of a running study, resume, count losses.

    python bench/fault_injection.py --kills 8 --trials 6 --epochs 6 --limit 3000
    python bench/fault_injection.py --faults term --kills 6 ...
    python bench/fault_injection.py --faults term,restart --storage postgresql://... \
        --restart-command "service postgresql restart"

Each round starts `python -m search run` and, after a random delay, injects one
fault: SIGKILL ("kill"), SIGTERM ("term": the trial must be re-queued and resume
from its checkpoint) or a storage restart ("restart": the run must ride it out;
it is then ended with SIGTERM). After each round every trial that was COMPLETE
before must still be COMPLETE with the same value. A final run finishes the
study. Printed figures: faults, completed trials lost, trials resumed from a
checkpoint, epochs resumed rather than retrained, epochs redone (trained before
a fault but not checkpointed), restarts survived, the study's trials against its
budget, and trials left RUNNING. (SIGKILL on PostgreSQL and on a journal file is
left out: a killed worker's trial is retried only once its heartbeat is 2 minutes stale.)
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


def _command(space: Path, storage: str, args: argparse.Namespace) -> list[str]:
    return [sys.executable, "-m", "search", "run", str(space), "--study", args.study, "--trials",
            str(args.trials), "--epochs", str(args.epochs), "--pruner", "none", "--data", args.data,
            "--limit", str(args.limit), "--storage", storage]


def _complete(storage: str, name: str) -> dict[int, float]:
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except Exception:  # no database or no study yet
        return {}
    return {t.number: t.value for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))}


def _inject(fault: str, process: subprocess.Popen, args: argparse.Namespace,
            rng: random.Random) -> bool:
    """One fault; True when the run survived a storage restart (still training after it)."""
    if fault == "restart":
        subprocess.run(args.restart_command, shell=True, check=True, capture_output=True)
        time.sleep(rng.uniform(args.min_delay, args.max_delay))  # an epoch write or more
        survived = process.poll() is None
        process.send_signal(signal.SIGTERM)
        return survived
    process.send_signal(signal.SIGKILL if fault == "kill" else signal.SIGTERM)
    return False


def run(args: argparse.Namespace) -> dict[str, int]:
    folder = Path(args.workdir or tempfile.mkdtemp(prefix="faults-"))
    folder.mkdir(parents=True, exist_ok=True)
    space = folder / "faults_space.py"
    space.write_text(SPACE)
    storage = args.storage or f"sqlite:///{folder / 'studies' / args.study / 'study.db'}"
    faults = args.faults.split(",")
    rng, lost, injected, survived = random.Random(args.seed), 0, 0, 0
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for round_ in range(args.kills):
        before = _complete(storage, args.study)
        log = folder / f"round{round_}.log"
        with log.open("w") as out:
            process = subprocess.Popen(_command(space, storage, args), cwd=folder, env=env,
                                       stdout=out, stderr=subprocess.STDOUT)
            time.sleep(rng.uniform(args.min_delay, args.max_delay))
            if process.poll() is None:
                survived += _inject(rng.choice(faults), process, args, rng)
                injected += 1
            else:
                print(f"round {round_}: the run ended on its own (exit {process.returncode}) "
                      f"before the fault; see {log}", file=sys.stderr)
            process.wait()
        after = _complete(storage, args.study)
        lost += sum(1 for n, v in before.items() if after.get(n) != v)
    final = subprocess.run(_command(space, storage, args), cwd=folder, env=env, capture_output=True,
                           text=True)
    if final.returncode != 0:
        raise SystemExit(f"final run failed:\n{final.stderr[-2000:]}")
    return {"faults": injected, "completed_trials_lost": lost, "restarts_survived": survived,
            **_resume_figures(storage, args.study, args.trials)}


def _resume_figures(storage: str, name: str, trials: int) -> dict[str, int]:
    study = optuna.load_study(study_name=name, storage=storage)
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
    parser.add_argument("--faults", default="kill", help="comma-separated: kill, term, restart")
    parser.add_argument("--storage", help="default: an SQLite file in the work folder")
    parser.add_argument("--study", default="faults")
    parser.add_argument("--restart-command", default="service postgresql restart",
                        help="restarts the storage server (for the restart fault)")
    figures = run(parser.parse_args(argv))
    print("| " + " | ".join(figures) + " |")
    print("|" + "---|" * len(figures))
    print("| " + " | ".join(str(v) for v in figures.values()) + " |")
    return 0 if figures["completed_trials_lost"] == 0 and figures["left_running"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
