"""Record real learning curves once, for the replay test-bed (bench/search_replay.py).

    python bench/record_curves.py --task fashion-pairs5 --trials 60 --workers 2

Each worker runs the engine exactly as a user would, on one pinned core: random
configurations of ``spaces/cnn.py``, no pruning, no warm start, every epoch of every
trial trained (``run --sampler random --pruner none --no-warm-start``). A trial the
engine itself stops (an impossible network, a model stuck at chance) is kept with
the epochs it ran. Each trial's Optuna parameters, per-epoch validation accuracy and
seconds, and its wall time (model build and compile included) are then written to
``bench/curves/TASK.jsonl``, one line per trial: the data the replay's surrogate is
fitted to. Rerunning adds trials to the same studies (new seeds give new configs).

Only *development* tasks are recorded (see bench/tasks.py): the replay chooses the
engine's defaults, so it must never see an evaluation task.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(Path(__file__).resolve().parent), str(REPO)]

from tasks import DEVELOPMENT, data_flags  # noqa: E402

CURVES = REPO / "bench" / "curves"


def main() -> None:
    args = parse_args()
    root = Path(args.out or REPO / "bench" / "out" / "curves").resolve()
    root.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        codes = list(pool.map(lambda w: record(args, root, w), range(args.workers)))
    rows = [row for w in range(args.workers) for row in trial_rows(root, study_name(args.task, w))]
    CURVES.mkdir(exist_ok=True)
    target = CURVES / f"{args.task}.jsonl"
    target.write_text("".join(json.dumps(row) + "\n" for row in rows))
    print(f"{len(rows)} trials in {target} (worker exit codes {codes})")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=sorted(DEVELOPMENT), required=True)
    parser.add_argument("--trials", type=int, default=60, help="finished trials per worker")
    parser.add_argument("--workers", type=int, default=2, help="one pinned core each")
    parser.add_argument("--timeout", help="stop each worker after this long (e.g. 90m)")
    parser.add_argument("--out", help="where the studies live (default bench/out/curves)")
    return parser.parse_args()


def study_name(task: str, worker: int) -> str:
    return f"curves-{task}-{worker}"


def record(args: argparse.Namespace, root: Path, worker: int) -> int:
    """One worker's study: random configurations trained to their last epoch."""
    command = ["taskset", "-c", str(worker % (os.cpu_count() or 1)), sys.executable, "-m",
               "search", "run", str(REPO / "spaces" / "cnn.py"), "--study",
               study_name(args.task, worker), "--studies-dir", str(root), "--seed",
               str(1000 + worker), "--sampler", "random", "--pruner", "none",
               "--no-warm-start", "--trials", str(args.trials), "--max-failures", "0",
               *data_flags(DEVELOPMENT[args.task])]
    if args.timeout:
        command += ["--timeout", args.timeout]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "OMP_NUM_THREADS": "1",
           "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
    log = root / f"{study_name(args.task, worker)}.log"
    with open(log, "a") as handle:
        return subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env=env).returncode


def trial_rows(root: Path, name: str) -> list[dict]:
    """Every finished trial of one recording study, as plain JSON values."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{root / name / 'study.db'}")
    rows = []
    for trial in study.trials:
        if trial.state.name not in ("COMPLETE", "PRUNED") or not trial.datetime_complete:
            continue
        history = trial.user_attrs.get("history", [])
        rows.append({
            "study": name, "number": trial.number, "state": trial.state.name,
            "reason": trial.user_attrs.get("prune_reason"),
            "params": trial.params,
            "epochs": trial.user_attrs.get("config", {}).get("params", {}).get(
                "training", {}).get("epochs"),
            "val_accuracy": [h.get("val_accuracy") for h in history],
            "seconds": [h.get("seconds") for h in history],
            "wall_seconds": (trial.datetime_complete - trial.datetime_start).total_seconds(),
            "params_count": trial.user_attrs.get("params_count"),
        })
    return rows


if __name__ == "__main__":
    main()
