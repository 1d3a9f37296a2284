"""Several trials per device: trials/hour with k concurrent worker processes vs one at a time.

    python bench/trials_per_device.py --processes 1 2 4 --trials 8 --limit 20000 --epochs 2

Small CNNs leave a big GPU (or several CPU cores) partly idle. For each k this
creates a study on Optuna's journal file, then times `search worker STUDY
--processes k` finishing the same number of trials (of one fixed model: the
users' model 3), process start included. On a GPU machine add `--gpus 0` so
the k processes share GPU 0, each with 1/k of its memory.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from common import header, table  # noqa: E402

SPACE = """
from search.knobs import Float
SPACE = {{"conv": {{"depth": 2, "filters": [32, 64]}}, "bn": {{"enabled": True}},
          "head": {{"layers": 1, "units": [128]}},
          "optimizer": {{"learning_rate": Float(5e-4, 2e-3, log=True)}},
          "training": {{"epochs": {epochs}, "batch_size": 128}}}}
DATA = {{"name": "fashion_mnist", "limit": {limit}}}
"""


def search(*args: str, cwd: Path) -> None:
    subprocess.run([sys.executable, "-m", "search", *args], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def trials_per_hour(folder: Path, processes: int, trials: int, gpus: str | None) -> float:
    """Create a study (one trial, not timed), then time k workers finishing ``trials`` more."""
    name, journal = f"k{processes}", str(folder / f"k{processes}.log")
    search("run", "space.py", "--study", name, "--storage", journal, "--trials", "1",
           "--pruner", "none", cwd=folder)
    command = ["worker", name, "--storage", journal, "--trials", str(trials + 1),
               "--processes", str(processes), *(["--gpus", gpus] if gpus else [])]
    start = time.perf_counter()
    search(*command, cwd=folder)
    return trials / (time.perf_counter() - start) * 3600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--trials", type=int, default=8, help="timed trials per measurement")
    parser.add_argument("--limit", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--gpus", help="GPU ids the processes share, e.g. 0")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "space.py").write_text(SPACE.format(epochs=args.epochs, limit=args.limit))
        rates = {k: trials_per_hour(Path(folder), k, args.trials, args.gpus) for k in args.processes}
    one = rates.get(1) or next(iter(rates.values()))
    rows = [[k, f"{rate:,.0f}", f"{rate / one:.2f}x"] for k, rate in rates.items()]
    where = f"GPU {args.gpus}" if args.gpus else "this machine's CPU"
    print(header("Several trials per device") + f"\n{args.trials} trials of model 3 (2 conv + BN) "
          f"on {args.limit} Fashion-MNIST images, {args.epochs} epochs each, on {where}; process "
          "start included\n")
    print(table(["processes", "trials/hour", "vs one process"], rows))


if __name__ == "__main__":
    main()
