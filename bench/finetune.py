"""Fine-tuning a pretrained backbone: frozen, full fine-tune, discriminative rate, head first.

    python bench/finetune.py --source-epochs 10 --target-limit 2000 --epochs 12 --seeds 3

No ImageNet weights can be fetched on our machines, so the pretrained backbone is made
here, as a user with their own weights file would have it: the backbone (with a head)
trains from scratch on the source task, Fashion-MNIST classes 0-4 (30,000 images), and
its weights are saved with ``model.get_layer("backbone").save_weights``. The target task
is the other five classes (5-9), a small subset of them: every variant starts from that
file (``backbone.weights: PATH``) except the from-scratch row, and trains the same head
(dense 128), Adam at 1e-3 with cosine decay, batch 128, the same epochs. Tested once on
the target's test split with the last epoch's weights. Rows are printed as they finish
(and appended to OUT/finetune.jsonl), seed by seed, so a run cut short still reports.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from common import header, table  # noqa: E402
from search.space.config import Config  # noqa: E402
from search.data.dataset import DataSpec, load_dataset  # noqa: E402
from search.report.evaluation import evaluate  # noqa: E402
from search.model.training import predict_probabilities, release_memory, train  # noqa: E402

ALL = 99  # trainable_blocks at least the block count: the whole backbone trains


def variants(weights: str) -> dict[str, dict]:
    return {
        "from scratch": {"weights": "none", "trainable_blocks": ALL},
        "pretrained, frozen": {"weights": weights, "trainable_blocks": 0},
        "pretrained, fine-tuned at the head's rate": {"weights": weights, "trainable_blocks": ALL},
        "pretrained, lr_ratio 0.1": {"weights": weights, "trainable_blocks": ALL, "lr_ratio": 0.1},
        "pretrained, head_epochs 3": {"weights": weights, "trainable_blocks": ALL,
                                      "head_epochs": 3},
        "pretrained, head_epochs 3 + lr_ratio 0.1": {"weights": weights, "trainable_blocks": ALL,
                                                     "head_epochs": 3, "lr_ratio": 0.1},
    }


def settings(backbone: dict, spec: DataSpec, seed: int, epochs: int, batch: int) -> Config:
    return Config({"backbone": backbone, "head": {"layers": 1, "units": [128]},
                   "optimizer": {"name": "adam", "learning_rate": 1e-3},
                   "schedule": {"name": "cosine"},
                   "training": {"batch_size": batch, "epochs": epochs}}, spec, seed)


def pretrain(args: argparse.Namespace, out: Path) -> Path:
    spec = DataSpec(name=args.data, classes=tuple((c,) for c in range(5)))
    config = settings({"name": args.backbone, "weights": "none", "trainable_blocks": ALL},
                      spec, 0, args.source_epochs, args.batch_size)
    started = time.perf_counter()
    result = train(config, load_dataset(spec))
    path = out / f"{args.backbone}-source.weights.h5"
    result.model.get_layer("backbone").save_weights(str(path))
    print(f"source task ({args.data} classes 0-4): {args.source_epochs} epochs in "
          f"{time.perf_counter() - started:.0f} s, best validation accuracy "
          f"{result.best_val_accuracy:.4f}; weights in {path}", flush=True)
    release_memory()
    return path


def measure(label: str, backbone: dict, spec: DataSpec, data, seed: int,
            args: argparse.Namespace) -> dict:
    config = settings({"name": args.backbone, **backbone}, spec, seed, args.epochs,
                      args.batch_size)
    result = train(config, data)
    x_test, y_test = data.test()
    accuracy = evaluate(y_test, predict_probabilities(result.model, x_test),
                        data.class_names).accuracy
    release_memory()
    return {"variant": label, "seed": seed, "test_accuracy": round(accuracy, 4),
            "best_val": round(result.best_val_accuracy, 4),
            "seconds": round(sum(h["seconds"] for h in result.history), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="fashion_mnist")
    parser.add_argument("--backbone", default="mobilenet_v3_small")
    parser.add_argument("--source-epochs", type=int, default=10)
    parser.add_argument("--target-limit", type=int, default=2000,
                        help="images of classes 5-9 to train and validate on (0: all)")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--out", default=os.environ.get("OUT", "bench/out"))
    parser.add_argument("--weights", help="the source backbone's weights file (skips pretraining)")
    parser.add_argument("--only", type=lambda s: [int(i) for i in s.split(",")],
                        help="run only these variants (0-based) and --seeds from --first-seed; "
                             "for parallel processes")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--summary", action="store_true", help="only print OUT/finetune.jsonl")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.summary:
        return print_summary(args, [json.loads(line) for line in
                                    (out / "finetune.jsonl").read_text().splitlines()])
    weights = args.weights or pretrain(args, out)
    spec = DataSpec(name=args.data, limit=args.target_limit or None,
                    classes=tuple((c,) for c in range(5, 10)))
    data = load_dataset(spec)
    rows, chosen = [], list(variants(str(weights)).items())
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for label, backbone in [chosen[i] for i in args.only] if args.only else chosen:
            rows.append(measure(label, backbone, spec, data, seed, args))
            print(json.dumps(rows[-1]), flush=True)
            with open(out / "finetune.jsonl", "a") as handle:
                handle.write(json.dumps(rows[-1]) + "\n")
    print_summary(args, rows)


def print_summary(args: argparse.Namespace, rows: list[dict]) -> None:
    print(header(f"Fine-tuning {args.backbone}: {args.data} classes 0-4 -> 5-9"))
    print(f"target: {args.target_limit or 'all'} images of classes 5-9 (5/6 training, 1/6 "
          f"validation), their full test split; {args.epochs} epochs\n")
    print(table(["variant", "test accuracy (mean ± sd)", "best validation accuracy",
                 "seconds per run (median)"], summarise(rows)))


def summarise(rows: list[dict]) -> list[list[str]]:
    out = []
    for label in dict.fromkeys(r["variant"] for r in rows):
        mine = [r for r in rows if r["variant"] == label]
        tests = [r["test_accuracy"] for r in mine]
        sd = statistics.stdev(tests) if len(tests) > 1 else 0.0
        out.append([label, f"{statistics.mean(tests):.4f} ± {sd:.4f}",
                    f"{statistics.mean(r['best_val'] for r in mine):.4f}",
                    f"{statistics.median(r['seconds'] for r in mine):.1f}"])
    return out


if __name__ == "__main__":
    main()
