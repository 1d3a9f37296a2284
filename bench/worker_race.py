"""Three workers share one study, over and over: how often does a round lose a trial slot?

    python bench/worker_race.py --rounds 90
    python bench/worker_race.py --rounds 90 --sources . /path/to/older/checkout
    python bench/worker_race.py --rounds 30 --storage postgresql://user:pw@host/db

Each round is what tests/study/test_workers.py does once: `run --trials 1` creates the
study, then three `worker --trials 8` processes share it. A round is clean when
all four processes exit 0 and the study holds exactly 8 trials, all COMPLETE and
all taken from the budget's queue (an enqueued slot). Counted otherwise: rounds
with a slot left unrun (WAITING or RUNNING at the end), rounds where a worker
ran a trial outside the budget (created by Optuna itself, not a slot), and
rounds where a process failed. With several ``--sources`` (checkouts of this
project) the rounds alternate between them, so they share the machine's noise.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path[:0] = [os.path.dirname(__file__), str(Path(__file__).resolve().parents[1])]
from common import header  # noqa: E402

SPACE = """
from search.knobs import Float
SPACE = {"conv": {"depth": 1, "filters": 8}, "head": {"layers": 0},
         "optimizer": {"learning_rate": Float(1e-3, 1e-2, log=True)}, "training": {"epochs": 1}}
DATA = {"name": "digits"}
"""
STATES = """
import json, sys, optuna
from search.study.lifecycle import make_storage
optuna.logging.set_verbosity(optuna.logging.ERROR)
study = optuna.load_study(study_name=sys.argv[1], storage=make_storage(sys.argv[2]))
print(json.dumps([[t.state.name, "fixed_params" in t.system_attrs] for t in study.trials]))
"""
WORKERS, TRIALS = 3, 8


def one_round(source: Path, storage: str | None, folder: Path) -> dict:
    """Run one round against the checkout at ``source``; its outcome as counts."""
    env = {**os.environ, "PYTHONPATH": str(source), "TF_CPP_MIN_LOG_LEVEL": "2"}
    (folder / "w.py").write_text(SPACE)
    name, url = f"r{uuid.uuid4().hex[:8]}", storage or str(folder / f"{uuid.uuid4().hex[:6]}.log")

    def search(*args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "search", *args], cwd=folder, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    start = time.perf_counter()
    codes = [search("run", "w.py", "--study", name, "--storage", url, "--trials", "1",
                    "--pruner", "none").wait(timeout=900)]
    workers = [search("worker", name, "--storage", url, "--trials", str(TRIALS))
               for _ in range(WORKERS)] if codes[0] == 0 else []
    codes += [w.wait(timeout=900) for w in workers]
    seconds = time.perf_counter() - start
    read = subprocess.run([sys.executable, "-c", STATES, name, url], env=env, capture_output=True,
                          text=True, timeout=300)
    trials = json.loads(read.stdout) if read.returncode == 0 else []
    return {"failed_process": any(codes) or read.returncode != 0,
            "slot_left": any(state in ("WAITING", "RUNNING") for state, _ in trials),
            "outside_budget": any(not slot for _, slot in trials),
            "wrong_total": len(trials) != TRIALS, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="rounds per source")
    parser.add_argument("--sources", nargs="+", default=["."], help="checkouts to run, alternating")
    parser.add_argument("--storage", help="a PostgreSQL URL (default: a journal file per round)")
    args = parser.parse_args()
    sources = [Path(s).resolve() for s in args.sources]
    results: dict[Path, list[dict]] = {s: [] for s in sources}
    with tempfile.TemporaryDirectory() as folder:
        for index in range(args.rounds):
            for source in sources:
                outcome = one_round(source, args.storage, Path(folder))
                results[source].append(outcome)
                print(json.dumps({"round": index, "source": str(source), **outcome}),
                      file=sys.stderr, flush=True)
    print(header(f"{WORKERS} workers sharing one study of {TRIALS} trials, "
                 f"{'PostgreSQL' if args.storage else 'a journal file'}"))
    print("| source | rounds | clean | slot left unrun | trial outside the budget | wrong total "
          "| process failed | seconds per round (median) |")
    print("|---|---|---|---|---|---|---|---|")
    for source, outcomes in results.items():
        count = {key: sum(o[key] for o in outcomes) for key in
                 ("slot_left", "outside_budget", "wrong_total", "failed_process")}
        clean = sum(not any(o[key] for key in count) for o in outcomes)
        print(f"| {_describe(source)} | {len(outcomes)} | {clean} | {count['slot_left']} | "
              f"{count['outside_budget']} | {count['wrong_total']} | {count['failed_process']} | "
              f"{statistics.median(o['seconds'] for o in outcomes):.1f} |")


def _describe(source: Path) -> str:
    commit = subprocess.run(["git", "-C", str(source), "log", "-1", "--format=%h"],
                            capture_output=True, text=True).stdout.strip()
    return f"{source.name} ({commit})" if commit else source.name


if __name__ == "__main__":
    main()
