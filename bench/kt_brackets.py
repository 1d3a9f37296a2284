"""KerasTuner Hyperband's bracket schedule fitted to a time budget, for a fair contender.

KerasTuner's Hyperband (factor 3) runs its most exploratory bracket first. With the space's
own ``max_epochs`` (20 in spaces/cnn.py) one iteration of all brackets is far longer than
a 20-minute search on one core, so the search ends inside its first bracket: random search
at 1-2 epochs, never Hyperband. Fitted here: the largest ``max_epochs`` (at most the
space's) whose whole iteration, every bracket, is projected to fit the budget at the
median seconds per epoch recorded on a development task (bench/curves/), scaled by the
number of training images. ``iteration_epochs`` follows KerasTuner's own oracle
(``_get_num_brackets``, ``_get_size``, ``_get_epochs``): a continuation trains only the
epochs its parent has not.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

__all__ = ["iteration_epochs", "fitted_max_epochs", "epoch_seconds"]

CURVES = Path(__file__).resolve().parent / "curves"


def _brackets(max_epochs: int, factor: int, min_epochs: int = 1) -> int:
    epochs, count = max_epochs, 0
    while epochs >= min_epochs:
        epochs, count = epochs / factor, count + 1
    return count


def iteration_epochs(max_epochs: int, factor: int = 3) -> int:
    """Epochs one Hyperband iteration trains, summed over its brackets and rounds."""
    end = math.ceil(1 + math.log(max_epochs, factor))
    total = 0
    for bracket in range(_brackets(max_epochs, factor)):
        before = 0
        for round_ in range(bracket + 1):
            size = math.ceil(end / (bracket + 1) * factor ** (bracket - round_))
            epochs = math.ceil(max_epochs / factor ** (bracket - round_))
            total += size * (epochs - before)
            before = epochs
    return total


def fitted_max_epochs(space_max: int, budget_s: float, epoch_s: float, factor: int = 3) -> int:
    """The largest ``max_epochs`` <= ``space_max`` whose iteration fits ``budget_s``."""
    fitting = [m for m in range(1, space_max + 1) if iteration_epochs(m, factor) * epoch_s <= budget_s]
    return max(fitting, default=1)


def epoch_seconds(task: str, images: int) -> float:
    """Seconds per epoch of ``images`` training images: the median over the epochs recorded on
    development task ``task`` (its first epochs left out: they carry compilation), per image
    of that task's training split."""
    from search.data.dataset import DataSpec
    from tasks import DEVELOPMENT

    rows = [json.loads(line) for line in (CURVES / f"{task}.jsonl").read_text().splitlines()]
    spec = DataSpec(**DEVELOPMENT[task])
    trained = spec.limit * (1 - spec.val_fraction)
    return statistics.median(s for row in rows for s in row["seconds"][1:]) / trained * images
