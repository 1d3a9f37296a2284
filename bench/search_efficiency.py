"""Search efficiency: time and epochs until a search first reaches a target validation accuracy.

    python bench/search_efficiency.py --limit 6000 --target 0.85 --budget 90 --repeats 3

Three searches over the same space and data, each with the same wall-clock
budget per repetition: Optuna TPE with Hyperband pruning (our default),
Optuna random search without pruning, and KerasTuner's Hyperband through
`--engine keras-tuner`'s code path. Every training epoch of every trial is
logged; the first epoch whose validation accuracy reaches the target gives
the time and the number of epochs trained so far (all trials counted).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import optuna  # noqa: E402

from common import header, table  # noqa: E402
from search.data.dataset import DataSpec, load_dataset  # noqa: E402
from search.study.kerastuner import run_keras_tuner  # noqa: E402
from search.knobs import Bool, Choice, Float, Int  # noqa: E402
from search.space.space import Space  # noqa: E402
from search.study.algorithms import make_pruner, make_sampler  # noqa: E402
from search.study.trial import Objective, TrialFailed  # noqa: E402

EPOCHS = 6
KNOBS = {
    "conv": {"depth": Int(1, 3), "filters": Choice(16, 32, 64), "kernel": Choice(3, 5)},
    "bn": {"enabled": Bool()},
    "dropout": {"enabled": Bool(), "conv_rate": Float(0.0, 0.4)},
    "head": {"layers": Int(0, 1), "units": Choice(64, 128)},
    "optimizer": {"name": Choice("adam", "sgd"), "learning_rate": Float(1e-4, 1e-1, log=True)},
    "training": {"batch_size": Choice(64, 128), "epochs": EPOCHS},
}
EVENTS: list[tuple[float, float]] = []  # (time, val_accuracy) of every epoch, all trials


class Deadline(BaseException):
    """Ends a search at its budget (BaseException: KerasTuner would swallow an Exception)."""


class EpochLog(keras.callbacks.Callback):
    def __init__(self, deadline: float) -> None:
        super().__init__()
        self.deadline = deadline

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        EVENTS.append((time.perf_counter(), float((logs or {}).get("val_accuracy", 0.0))))

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if time.perf_counter() > self.deadline:
            raise Deadline


def _optuna(space: Space, spec: DataSpec, seed: int, budget: float, *, pruned: bool) -> None:
    deadline = time.perf_counter() + budget
    study = optuna.create_study(
        direction="maximize", sampler=make_sampler("tpe" if pruned else "random", space, seed),
        pruner=make_pruner("hyperband" if pruned else "none", EPOCHS))
    objective = Objective(space, spec, seed, extra_callbacks=lambda t, c: [EpochLog(deadline)])
    try:
        study.optimize(objective, timeout=budget, catch=(TrialFailed,))
    except Deadline:
        pass


def _keras_tuner(space: Space, spec: DataSpec, seed: int, budget: float) -> None:
    deadline = time.perf_counter() + budget
    with tempfile.TemporaryDirectory() as folder:
        try:
            run_keras_tuner(space, load_dataset(spec), Path(folder), name="bench", max_epochs=EPOCHS,
                            seed=seed, callbacks_for=lambda label, params: [EpochLog(deadline)])
        except Deadline:
            pass


def reach(start: float, target: float) -> tuple[float | None, int | None, float]:
    best = max((v for _, v in EVENTS), default=0.0)
    for index, (moment, value) in enumerate(EVENTS, start=1):
        if value >= target:
            return moment - start, index, best
    return None, None, best


def _summary(values: list[float | None]) -> str:
    hits = [v for v in values if v is not None]
    if not hits:
        return f"not reached (0/{len(values)})"
    text = f"{statistics.median(hits):.0f} [{min(hits):.0f}-{max(hits):.0f}]"
    return text + (f" ({len(hits)}/{len(values)} reached)" if len(hits) < len(values) else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=6000)
    parser.add_argument("--target", type=float, default=0.85)
    parser.add_argument("--budget", type=float, default=90.0, help="seconds per search")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    spec = DataSpec(name="fashion_mnist", limit=args.limit)
    load_dataset(spec)
    space = Space.of(KNOBS)
    methods = {"optuna TPE + Hyperband pruning": lambda s: _optuna(space, spec, s, args.budget, pruned=True),
               "optuna random, no pruning": lambda s: _optuna(space, spec, s, args.budget, pruned=False),
               "KerasTuner Hyperband": lambda s: _keras_tuner(space, spec, s, args.budget)}
    results = {name: [] for name in methods}
    for seed in range(args.repeats):
        for name, search in methods.items():
            EVENTS.clear()
            start = time.perf_counter()
            search(seed)
            results[name].append(reach(start, args.target))
    rows = [[name, _summary([r[0] for r in runs]), _summary([r[1] for r in runs]),
             f"{statistics.median(r[2] for r in runs):.4f}"] for name, runs in results.items()]
    print(header("Search efficiency") + f"\nFashion-MNIST {args.limit} images, target validation "
          f"accuracy {args.target}, {args.budget:.0f} s per search, {args.repeats} repetitions; "
          "median [min-max]\n")
    print(table(["search", "seconds to target", "epochs to target", "best val_accuracy (median)"],
                rows))


if __name__ == "__main__":
    main()
