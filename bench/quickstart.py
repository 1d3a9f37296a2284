"""The README's first command, timed from a fresh clone over several seeds.

Clones the repository's committed tree into a temporary folder (nothing of this
checkout's studies comes along), runs the quickstart `run` there once per seed and
prints each run's wall time, trial states and best validation accuracy, then the
worst time: the figure the README states.

    python bench/quickstart.py --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import header  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = ("run spaces/cnn.py --study quickstart --limit 10000 --trials 12 --epochs 4 "
              "--timeout 3m")


def run_seed(clone: Path, seed: int, command: str) -> dict:
    """One quickstart in ``clone`` with ``--seed``; its study folder is removed first."""
    subprocess.run(["rm", "-rf", str(clone / "studies" / "quickstart")], check=True)
    argv = [sys.executable, "-m", "search", *shlex.split(command), "--seed", str(seed)]
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=clone, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    return {"seed": seed, "seconds": seconds, "status": done.returncode, **_summary(clone)}


def _summary(clone: Path) -> dict:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name="quickstart",
                              storage=f"sqlite:///{clone}/studies/quickstart/study.db")
    states = [t.state.name for t in study.trials]
    best = max((t.value for t in study.trials if t.value is not None), default=float("nan"))
    return {"trials": len(states), "complete": states.count("COMPLETE"),
            "pruned": states.count("PRUNED"), "failed": states.count("FAIL"), "best": best}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--command", default=QUICKSTART, help="the `search` arguments to time")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "search"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        rows = [run_seed(clone, seed, args.command) for seed in args.seeds]
    print(header("Quickstart from a fresh clone"))
    print(f"`python -m search {args.command} --seed N`\n")
    print("| seed | wall s | exit | trials | complete | pruned | failed | best val_accuracy |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['seed']} | {r['seconds']:.0f} | {r['status']} | {r['trials']} | "
              f"{r['complete']} | {r['pruned']} | {r['failed']} | {r['best']:.4f} |")
    print(f"\nworst: {max(r['seconds'] for r in rows):.0f} s; median: "
          f"{sorted(r['seconds'] for r in rows)[len(rows) // 2]:.0f} s")


if __name__ == "__main__":
    main()
