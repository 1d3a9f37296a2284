"""Batch norm's moving statistics at the start of training: Keras' layer against ours.

    python bench/batch_norm_start.py --task fashion-pairs5 --epochs 4

Trains the space's warm-start entries that use batch norm (spaces/cnn.py: our users'
hand-made models, momentum 0.99) and the same models at the knob's default momentum (0.9)
for a few epochs, once with Keras' ``BatchNormalization`` and once with the engine's
``DebiasedBatchNormalization`` (search/model/batch_norm.py), same seed, and prints each
epoch's validation accuracy beside the training accuracy. Training is the same with
either layer; only inference (validation, a pruner's rungs) differs.

``--curves`` instead reads the learning curves recorded on the task (bench/curves/, all
trained with Keras' layer): how well epoch 1 ranks the configurations' best validation
accuracy, and which of the ten best a pruner keeping the top third at epoch 1 would cut.
Development tasks only: no evaluation task is trained or read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [os.path.dirname(__file__), str(REPO)]

from common import header, table  # noqa: E402
from tasks import DEVELOPMENT  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=sorted(DEVELOPMENT), default="fashion-pairs5")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--curves", action="store_true", help="read the recorded curves only")
    args = parser.parse_args()
    print(header(f"Batch norm at the start of training: {args.task}"))
    print(curves(args.task) if args.curves else trained(args.task, args.epochs))


def trained(task: str, epochs: int) -> str:
    """Each batch-norm entry at 0.99 and 0.9, with Keras' layer and ours: accuracies by epoch."""
    import keras

    from search.data.dataset import DataSpec, load_dataset
    from search.model import network
    from search.model.training import train
    from search.space.config import Config
    from search.space.space import load_space

    raw = DEVELOPMENT[task]
    classes = tuple(tuple(c) if isinstance(c, list) else (c,) for c in raw.get("classes") or ())
    spec = DataSpec(name=raw["name"], limit=raw.get("limit"), classes=classes or None)
    data, rows = load_dataset(spec), []
    space = load_space(REPO / "spaces" / "cnn.py")
    entries = [e for e in space.warm_start if e.get("bn", {}).get("enabled")]
    ours = network.DebiasedBatchNormalization
    try:
        for number, entry in enumerate(entries):
            for momentum in (0.99, 0.9):
                for name, layer in (("Keras", keras.layers.BatchNormalization), ("ours", ours)):
                    network.DebiasedBatchNormalization = layer  # what build_model uses
                    config = Config({**entry, "bn": {"enabled": True, "momentum": momentum}},
                                    spec, seed=0)
                    history = train(config, data, stop_after=epochs).history
                    rows.append([f"entry {number + 1}", momentum, name,
                                 " ".join(f"{h['val_accuracy']:.3f}" for h in history),
                                 " ".join(f"{h['accuracy']:.3f}" for h in history)])
    finally:
        network.DebiasedBatchNormalization = ours
    return table(["model", "momentum", "layer", "validation accuracy by epoch",
                  "training accuracy by epoch"], rows)


def curves(task: str) -> str:
    """Epoch 1's ranking of the recorded configurations, and the ten best's fate at it."""
    from scipy.stats import spearmanr

    records = [json.loads(line) for line in (REPO / "bench" / "curves" / f"{task}.jsonl").open()]
    records = [r for r in records if len(r["val_accuracy"] or []) >= 5]  # trained past the rungs
    first = [r["val_accuracy"][0] for r in records]
    best = [max(r["val_accuracy"]) for r in records]
    cut = sorted(first, reverse=True)[len(first) // 3 - 1]
    rows = []
    for i in sorted(range(len(records)), key=lambda i: -best[i])[:10]:
        params = records[i]["params"]
        bn = f"momentum {params['bn.momentum']}" if params.get("bn.enabled") else "off"
        kept = "kept" if first[i] >= cut else "**cut**"
        rows.append([f"{best[i]:.3f}", f"{first[i]:.3f}", kept, bn])
    rho = spearmanr(first, best)[0]
    return (f"{len(records)} configurations trained 5 epochs or more; Spearman correlation of "
            f"epoch 1's validation accuracy with the best: {rho:.2f}; the top third at epoch 1 "
            f"starts at {cut:.3f}.\n\n"
            + table(["best validation accuracy", "at epoch 1", "top third at epoch 1",
                     "batch norm"], rows))


if __name__ == "__main__":
    main()
