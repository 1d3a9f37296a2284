"""`python -m search train CONFIG.yaml`: retrain a config, or refit it on train+validation
and test it once; ``--probe knn`` adds a k-nearest-neighbours probe on its features."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from search.errors import SearchError
from search.space.config import Config

__all__ = ["train"]


def train(args: argparse.Namespace, console: Console) -> int:
    """Retrain a config file (``--probe`` adds a k-NN probe), or with ``--refit`` fit it on
    train+validation, test it once and save the model; return 0."""
    from search.data.dataset import load_dataset
    from search.report.refit import refit_and_save
    from search.study.runner import print_device
    from search.model.training import train as fit

    config, result = Config.from_yaml(args.config)
    if args.data_dir:
        config = config.replace(data=dataclasses.replace(config.data, path=args.data_dir))
    if args.epochs:
        config = config.with_knob("training", "epochs", args.epochs)
    repeats = getattr(args, "repeats", None) or 1
    if repeats > 1 and (args.refit or args.probe):
        raise SearchError(f"--repeats {repeats}: retrains and compares seeds on the validation "
                          f"split; it does not combine with --{'refit' if args.refit else 'probe'}.")
    print_device(console)
    data = load_dataset(config.data)
    if repeats > 1:
        finished = _train_repeats(console, args.config, config, data, repeats,
                                  fuse=not args.no_fuse, stored=result)
        return 0 if finished else 1
    if not args.refit:
        outcome = fit(config, data, verbose=2)
        _report_retrain(console, outcome, result)
        if args.probe:
            _print_probe(console, outcome.model, data, "validation")
        return 0
    model_path = Path(args.output) if args.output else Path(args.config).with_suffix(".keras")
    refit = refit_and_save(config, result, model_path, epochs=args.epochs)
    console.print(_test_table(refit.report, len(refit.probabilities), refit.epochs))
    console.print(f"model saved to {model_path}")
    if args.probe:
        from search.report.refit import load_refit_model

        _print_probe(console, load_refit_model(model_path), data, "test")
    return 0


def _train_repeats(console: Console, path: str, config: Config, data: Any, repeats: int, *,
                   fuse: bool, stored: dict[str, Any]) -> bool:
    """Train ``repeats`` seeds from the config's own; one line per seed, then mean and sd.
    False when every seed diverged."""
    import numpy as np

    from search.model.fused import train_seeds
    from search.model.network import ImpossibleNetwork

    seeds = [config.seed + i for i in range(repeats)]
    console.print(f"training seeds {seeds[0]}..{seeds[-1]} of {config.digest()[:10]}")
    try:
        results, how = train_seeds(config, data, seeds, fuse=fuse)
    except ImpossibleNetwork as exc:
        raise SearchError(f"{path}: {exc}") from None
    console.print(how)
    caption = ("seconds: each seed's share of the fused program's time" if how.startswith("fused")
               else "seconds: each seed's own training time")
    table = Table(title=f"{repeats} seeds", caption=caption)
    for column in ("seed", "best val_accuracy", "best epoch", "epochs", "seconds"):
        table.add_column(column)
    for outcome in results:
        if outcome.result is None:
            table.add_row(str(outcome.seed), f"diverged: {outcome.failure}", "", "", "")
            continue
        run = outcome.result
        table.add_row(str(outcome.seed), f"{run.best_val_accuracy:.4f}", str(run.best_epoch + 1),
                      str(len(run.history)), f"{sum(h['seconds'] for h in run.history):.1f}")
    console.print(table)
    scores = np.array([outcome.best_val_accuracy for outcome in results])
    scores = scores[np.isfinite(scores)]
    if len(scores) == 0:
        console.print("every seed diverged")
        return False
    spread = f" ± {scores.std(ddof=1):.4f} (sd)" if len(scores) > 1 else ""
    line = f"mean best val_accuracy over {len(scores)} seeds {scores.mean():.4f}{spread}"
    if stored.get("val_accuracy") is not None:
        line += f"; the search trial scored {stored['val_accuracy']:.4f}"
    console.print(line)
    return True


def _print_probe(console: Console, model: Any, data: Any, split: str) -> None:
    """kNN on the penultimate features: neighbours from what the model trained on (train, or
    train+validation for a refit), scored on the split it never saw, beside the softmax head
    of the same weights on the same images."""
    import numpy as np

    from search.report.probe import knn_probe
    from search.model.training import predict_probabilities

    if split == "validation":
        reference, scored = (data.x_train, data.y_train), (data.x_val, data.y_val)
    else:
        reference = (np.concatenate([data.x_train, data.x_val]),
                     np.concatenate([data.y_train, data.y_val]))
        scored = data.test()
    probe = knn_probe(model, reference, scored, data.class_names)
    head_accuracy = float(np.mean(predict_probabilities(model, scored[0]).argmax(1) == scored[1]))
    console.print(f"kNN probe (k={probe.k}, penultimate layer, {probe.reference_images} reference "
                  f"images): {split} accuracy {probe.accuracy:.4f} (softmax head "
                  f"{head_accuracy:.4f}, difference {probe.accuracy - head_accuracy:+.4f})")


def _report_retrain(console: Console, outcome: Any, result: dict[str, Any]) -> None:
    stored = result.get("val_accuracy")
    line = (f"retrained: best val_accuracy {outcome.best_val_accuracy:.4f} at epoch "
            f"{outcome.best_epoch + 1}")
    if stored is not None:
        line += f" (the search trial scored {stored:.4f}; difference " \
                f"{outcome.best_val_accuracy - stored:+.4f})"
    console.print(line)


def _test_table(report: dict[str, Any], n_test: int, epochs: int) -> Table:
    table = Table(title=f"test accuracy {report['accuracy']:.4f}",
                  caption=f"{n_test} test images; refit on train+validation for {epochs} epochs")
    table.add_column("class")
    table.add_column("accuracy")
    for name, value in report["per_class"].items():
        table.add_row(name, f"{value:.4f}")
    return table
