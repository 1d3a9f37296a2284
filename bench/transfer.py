"""Transfer learning: Keras application backbones against the plain conv stack, same data and epochs.

    python bench/transfer.py --limit 10000 --epochs 10 --seeds 3

Every model gets the same head (dense 128), optimiser (Adam 1e-3, cosine), batch
size, epochs and data; only the feature extractor differs. Each run trains on the
training split and is tested once on the test split with its last epoch's weights.
Backbones run at ``--weights`` (``none``: from scratch; ``imagenet`` needs Keras'
cache or a download, and is reported as not measured when neither works).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from common import header, table  # noqa: E402
from search.space.config import Config  # noqa: E402
from search.data.dataset import DataSpec, load_dataset  # noqa: E402
from search.errors import SearchError  # noqa: E402
from search.report.evaluation import evaluate  # noqa: E402
from search.model.training import predict_probabilities, release_memory, train  # noqa: E402

CONV_STACK = {"conv": {"depth": 2, "filters": [32, 64]}, "bn": {"enabled": True}}


def variants(weights: str, names: list[str]) -> dict[str, dict]:
    out = {"conv stack (2 conv + BN)": CONV_STACK}
    for name in names:
        out[f"{name}, {weights}, fine-tuned"] = {"backbone": {
            "name": name, "weights": weights, "trainable_blocks": 99}}
        if weights != "none":  # a frozen random network measures nothing
            out[f"{name}, {weights}, frozen"] = {"backbone": {
                "name": name, "weights": weights, "trainable_blocks": 0}}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="fashion_mnist")
    parser.add_argument("--limit", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--weights", default="none")
    parser.add_argument("--backbones", default="mobilenet_v3_small,efficientnet_b0,resnet50")
    args = parser.parse_args()
    spec = DataSpec(name=args.data, limit=args.limit)
    data = load_dataset(spec)
    rows = []
    for label, params in variants(args.weights, args.backbones.split(",")).items():
        rows.append(measure(label, params, spec, data, args))
        print(rows[-1], flush=True)
    print(header(f"Transfer learning: {args.data}, {args.limit} images, {args.epochs} epochs"))
    print(f"{len(data.y_train)} training images, {len(data.y_val)} validation, "
          f"{len(data.test()[1])} test; head dense 128, Adam 1e-3 with cosine decay, batch "
          f"{args.batch_size}; {args.seeds} seeds each\n")
    print(table(["model", "parameters", "test accuracy (mean ± sd)", "best validation accuracy",
                 "s/epoch (median)"], rows))


def measure(label: str, params: dict, spec: DataSpec, data, args) -> list:
    tests, vals, seconds, count = [], [], [], 0
    for seed in range(args.seeds):
        config = Config({**params, "head": {"layers": 1, "units": [128]},
                         "optimizer": {"name": "adam", "learning_rate": 1e-3},
                         "schedule": {"name": "cosine"},
                         "training": {"batch_size": args.batch_size, "epochs": args.epochs}},
                        spec, seed)
        try:
            started = time.perf_counter()
            result = train(config, data)
        except SearchError as exc:
            return [label, "—", f"not measured: {exc.render().splitlines()[0][:160]}", "—", "—"]
        x_test, y_test = data.test()
        tests.append(evaluate(y_test, predict_probabilities(result.model, x_test),
                              data.class_names).accuracy)
        vals.append(result.best_val_accuracy)
        seconds += [h["seconds"] for h in result.history[1:]] or [time.perf_counter() - started]
        count = result.params_count
        release_memory()
    sd = statistics.stdev(tests) if len(tests) > 1 else 0.0
    return [label, f"{count:,}", f"{statistics.mean(tests):.4f} ± {sd:.4f}",
            f"{statistics.mean(vals):.4f}", f"{statistics.median(seconds):.1f}"]


if __name__ == "__main__":
    main()
