"""A benchmark's runs of `python -m search`, each pinned to its lent cores: its epoch lines
time-stamped as they arrive, a refit tested once, and a stop that ends them all cleanly."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STOP = threading.Event()  # a stop was asked for: no search starts, none is refit
LIVE: set[subprocess.Popen] = set()  # the searches and refits running now
EPOCH_LINE = re.compile(r"^(trial \d+) epoch (\d+)/\d+: val_accuracy ([0-9.na]+)")


def environment(cores: list[int]) -> dict[str, str]:
    threads = str(len(cores))
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "OMP_NUM_THREADS": threads,
            "PYTHONUNBUFFERED": "1",  # epoch lines are time-stamped as they arrive
            "TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": "1",
            "PYTHONPATH": str(REPO)}


def stop_searches(signum: int, frame: object) -> None:
    """A stop (SIGTERM, Ctrl-C): every running search is stopped (cleanly: `search` takes
    SIGTERM as a stop), no further one starts, and the benchmark exits once they have."""
    STOP.set()
    for process in list(LIVE):
        process.terminate()
    raise SystemExit(128 + signum)


def timed_run(command: list[str], cores: list[int], log: Path) -> tuple[list, Path]:
    """Run `python -m search COMMAND` pinned to ``cores`` (holding their locks too, so the
    cores stay taken while it runs); every epoch line with its time."""
    if STOP.is_set():
        raise SystemExit("stopped")
    started, epochs = time.time(), []
    process = subprocess.Popen(
        ["taskset", "-c", ",".join(map(str, cores)), sys.executable, "-m", "search", *command],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment(cores),
        cwd=log.parent, pass_fds=getattr(cores, "fds", ()))
    LIVE.add(process)
    try:
        if STOP.is_set():  # stopped while it started
            process.terminate()
        with open(log, "w", buffering=1) as handle:  # line by line: the log can be followed
            for line in process.stdout:
                handle.write(line)
                match = EPOCH_LINE.match(line)
                if match and match.group(3) != "nan":
                    epochs.append((time.time() - started, match.group(1),
                                   int(match.group(2)), float(match.group(3))))
    except BaseException:  # the log could not be written, say: the search ends too
        process.terminate()
        raise
    finally:
        process.wait()
        LIVE.discard(process)
    if STOP.is_set():
        raise SystemExit("stopped")
    if process.wait():
        print(f"warning: `search {' '.join(command[:2])}` exited {process.returncode}; see {log}",
              flush=True)
    return epochs, log


def refit(config: Path, cores: list[int], folder: Path) -> tuple[float | None, float]:
    """`train CONFIG --refit`; the test accuracy it wrote, and how long it took."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    started = time.time()
    timed_run(["train", str(config), "--refit", "--output", str(folder / "model.keras")], cores,
              folder / "refit.log")
    tested = folder / "model.test.yaml"
    accuracy = yaml.safe_load(tested.read_text())["accuracy"] if tested.exists() else None
    return accuracy, round(time.time() - started, 1)


def best_so_far(epochs: list) -> list[list[float]]:
    curve, best = [], -1.0
    for seconds, _, _, value in epochs:
        if value > best:
            best = value
            curve.append([round(seconds, 1), value])
    return curve

