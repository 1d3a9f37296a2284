"""Fused training: k seeds of the users' model 3 as one program against the same k trained
one after another, side by side in one process.

    python bench/fused.py --k 1 4 8 --limit 4000 --epochs 2 --repeats 3
    KERAS_BACKEND=jax python bench/fused.py --k 1 4 8 16 --limit 60000 --epochs 3   # a GPU

Both sides train the very same k models (each seed's batches in its own order, data
placement "device"), so the ratio is time alone. Each repetition runs the sequential side
and the fused one, in turn first (odd repetitions start with the fused side, so warm-up
favours neither), then times two seeds alone with the engine's default data placement
(host arrays on a CPU: other batch orders, so other models, but the speed a plain sequential
run gets), scaled to k; times are wall seconds of the whole training (compilation included,
as a trial pays it) and the table gives the median and the range over repetitions. The
best validation accuracies of the two sides are printed too, as a check that they agree.
On JAX with an accelerator the fused side stacks the towers under ``jax.vmap`` (on a CPU they
stay side by side); ``--side-by-side`` makes the fused side stacked and also times the towers
side by side in one program (the layout TensorFlow and PyTorch use).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from common import header, table  # noqa: E402
from gpu_path import MODEL_3  # noqa: E402
from search.data.dataset import DataSpec, load_dataset  # noqa: E402
from search.model.execution import Execution  # noqa: E402
from search.model.fused import train_fused  # noqa: E402
from search.model.training import release_memory, train  # noqa: E402
from search.space.config import Config  # noqa: E402


def config(epochs: int, spec: DataSpec) -> Config:
    """Model 3 with its augmentation, batch 128, ``epochs`` epochs."""
    return Config({**MODEL_3, "training": {"epochs": epochs, "batch_size": 128}}, spec)


def measure(k: int, spec: DataSpec, data, epochs: int, timed_alone: int | None = None,
            fused_first: bool = False, side_by_side: bool = False) -> dict[str, float]:
    """Wall seconds of k seeds trained one after another and as one fused program (in the
    order ``fused_first`` says; alternate it over repetitions), then of two seeds alone with
    the default placement, scaled to k.

    ``timed_alone``: train only that many of the k seeds alone and scale their time to k
    (the device script's budget cannot hold 29 solo runs); None trains all k.
    ``side_by_side``: on JAX, also time the towers side by side (``vmap=False``), the
    layout the other backends use, against the default ``jax.vmap`` one."""
    base, execution = config(epochs, spec), Execution(data="device")
    seeds = list(range(k))
    solo = seeds[:timed_alone] if timed_alone else seeds

    def sequential() -> tuple[float, list[float]]:
        started, alone = time.perf_counter(), []
        for seed in solo:
            alone.append(train(base.replace(seed=seed), data,
                               execution=execution).best_val_accuracy)
            release_memory()
        return (time.perf_counter() - started) * k / len(solo), alone

    def fused(vmap: bool | None = None) -> tuple[float, list[float]]:
        started = time.perf_counter()
        towers = train_fused(base, data, seeds, execution=execution, vmap=vmap)
        seconds = time.perf_counter() - started
        release_memory()
        return seconds, [t.best_val_accuracy for t in towers]

    stacked = True if side_by_side and keras.backend.backend() == "jax" else None
    if fused_first:
        (fused_s, together), (sequential_s, alone) = fused(stacked), sequential()
    else:
        (sequential_s, alone), (fused_s, together) = sequential(), fused(stacked)
    started = time.perf_counter()  # the engine's default placement: other batch orders, so
    for seed in seeds[:2]:  # other models; timed on two seeds and scaled to k
        train(base.replace(seed=seed), data, execution=Execution())
        release_memory()
    default = (time.perf_counter() - started) * k / min(k, 2)
    gap = max(abs(a - b) for a, b in zip(alone, together))
    towers_s = fused(vmap=False)[0] if side_by_side and keras.backend.backend() == "jax" else None
    return {"sequential_s": sequential_s, "fused_s": fused_s, "speedup": sequential_s / fused_s,
            "towers_s": towers_s,
            "sequential_default_s": default, "speedup_vs_default": default / fused_s,
            "max_accuracy_gap": gap, "timed_alone": len(solo)}


def main() -> None:
    """Measure each k over the repetitions and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--limit", type=int, default=4000, help="Fashion-MNIST images")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--side-by-side", action="store_true",
                        help="on JAX, also time the towers side by side instead of jax.vmap")
    args = parser.parse_args()
    spec = DataSpec(name="fashion_mnist", limit=args.limit)
    data = load_dataset(spec)
    print(header(f"fused training, model 3, {len(data.y_train)} training images, "
                 f"{args.epochs} epochs, {args.repeats} repetitions"))
    rows = []
    for k in args.k:
        runs = [measure(k, spec, data, args.epochs, fused_first=bool(i % 2),
                        side_by_side=args.side_by_side) for i in range(args.repeats)]
        speedups = [r["speedup"] for r in runs]
        versus_default = [r["speedup_vs_default"] for r in runs]
        rows.append([k, f"{statistics.median(r['sequential_s'] for r in runs):.1f}",
                     f"{statistics.median(r['fused_s'] for r in runs):.1f}",
                     f"{statistics.median(speedups):.2f} ({min(speedups):.2f}-{max(speedups):.2f})",
                     f"{statistics.median(versus_default):.2f} ({min(versus_default):.2f}-"
                     f"{max(versus_default):.2f})",
                     f"{max(r['max_accuracy_gap'] for r in runs):.4f}"])
        if runs[0]["towers_s"] is not None:
            ratios = [r["towers_s"] / r["fused_s"] for r in runs]
            rows[-1].append(f"{statistics.median(r['towers_s'] for r in runs):.1f}; "
                            f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})")
        print(f"k={k}: {rows[-1]}", flush=True)
    extra = ["towers side by side, s; side by side / vmap (range)"] if len(rows[0]) > 6 else []
    print(table(["k", "k sequential, s", "fused, s", "sequential / fused (range)",
                 "default placement sequential / fused", "largest accuracy gap", *extra], rows))


if __name__ == "__main__":
    main()
