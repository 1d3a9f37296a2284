"""Storage overhead: per-trial cost of Optuna's storage with a trivial objective.

    python bench/storage_overhead.py --trials 40 --workers 1 4 8 [--postgres URL]

Each worker is a process running study.optimize on the same study, through
`search.study.lifecycle.make_storage` (heartbeats on, as in real runs), with an
objective that does nothing but suggest two parameters. SQLite is measured at
one worker (more are refused by design); the journal file and PostgreSQL at each
worker count.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(__file__))

from common import header, table  # noqa: E402


def _work(url: str, name: str, trials: int, results) -> None:
    import optuna

    from search.study.lifecycle import make_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=name, storage=make_storage(url))
    start = time.perf_counter()
    study.optimize(lambda t: t.suggest_float("x", 0, 1) + t.suggest_int("y", 0, 9), n_trials=trials)
    results.put(time.perf_counter() - start)


def measure(url: str, workers: int, trials: int) -> float:
    import optuna

    from search.study.lifecycle import make_storage

    name = f"bench-{uuid.uuid4().hex[:8]}"
    optuna.create_study(study_name=name, storage=make_storage(url))
    results = multiprocessing.Queue()
    processes = [multiprocessing.Process(target=_work, args=(url, name, trials // workers, results))
                 for _ in range(workers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    slowest = max(results.get() for _ in processes)
    return 1000 * slowest / (trials // workers * workers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--postgres", help="a PostgreSQL URL to include")
    args = parser.parse_args()
    folder = tempfile.mkdtemp()
    storages = {"sqlite": f"sqlite:///{folder}/bench.db", "journal file": f"{folder}/bench.log"}
    if args.postgres:
        storages["postgresql"] = args.postgres
    rows = []
    for kind, url in storages.items():
        for workers in ([1] if kind == "sqlite" else args.workers):
            rows.append([kind, workers, f"{measure(url, workers, args.trials):.1f}"])
    print(header("Storage overhead") + f"\n{args.trials} trivial trials per measurement; wall "
          "milliseconds per trial: the slowest worker's optimize() time over all trials (process "
          "start excluded), i.e. the inverse of the study's throughput\n")
    print(table(["storage", "workers", "ms per trial"], rows))


if __name__ == "__main__":
    main()
