"""Engine overhead: one trial through the engine vs a hand-written model.fit, side by side.

    python bench/engine_overhead.py --limit 20000 --epochs 2 --repeats 3

The model is the users' model 3 (2 conv + BN, dense 128) on Fashion-MNIST.
"plain" is the notebook way: keras.Sequential, compile, fit with validation at
the training batch size. "engine" is `search.model.training.train` (what every trial
runs); "engine+trial" adds the Optuna trial around it (in-memory storage).
Throughput counts training images per second of wall time, validation included.Both use one-hot labels and the same loss, so only the training loop differs.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import optuna  # noqa: E402

from common import header, median_spread, table, timed  # noqa: E402
from search.space.config import Config  # noqa: E402
from search.data.dataset import DataSpec, load_dataset  # noqa: E402
from search.space.space import Space  # noqa: E402
from search.model import training  # noqa: E402
from search.model.training import release_memory, train  # noqa: E402
from search.study.trial import Objective  # noqa: E402

PARAMS = {"conv": {"depth": 2, "filters": [32, 64]}, "bn": {"enabled": True, "momentum": 0.9},
          "head": {"layers": 1, "units": [128]}}


def plain_fit(data, batch: int, epochs: int) -> None:
    keras.utils.set_random_seed(0)
    layers = keras.layers
    inputs = keras.Input(data.input_shape)
    x = inputs
    for filters in (32, 64):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.Activation("relu")(layers.BatchNormalization(momentum=0.9)(x))
        x = layers.MaxPooling2D(2)(x)
    x = layers.Dense(128, use_bias=False)(layers.Flatten()(x))
    x = layers.Activation("relu")(layers.BatchNormalization(momentum=0.9)(x))
    model = keras.Model(inputs, layers.Dense(10, activation="softmax")(x))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(data.x_train, keras.utils.to_categorical(data.y_train, 10), batch_size=batch,
              epochs=epochs, validation_data=(data.x_val, keras.utils.to_categorical(data.y_val, 10)),
              verbose=0)
    release_memory()


def engine_fit(config: Config, data) -> None:
    train(config, data)
    release_memory()


def engine_small_eval_batch(config: Config, data) -> None:
    """The engine with validation at the training batch size, as a plain fit does."""
    saved = training.EVAL_BATCH_SIZE
    training.EVAL_BATCH_SIZE = config.get("training", "batch_size")
    try:
        engine_fit(config, data)
    finally:
        training.EVAL_BATCH_SIZE = saved


def engine_trial(config: Config) -> None:
    objective = Objective(Space.of(config.params), config.data)
    optuna.create_study(direction="maximize").optimize(objective, n_trials=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = DataSpec(name="fashion_mnist", limit=args.limit)
    data = load_dataset(spec)
    config = Config({**PARAMS, "training": {"batch_size": args.batch, "epochs": args.epochs}}, spec)
    runs = {"plain model.fit": lambda: plain_fit(data, args.batch, args.epochs),
            "engine (search.model.training.train)": lambda: engine_fit(config, data),
            "engine, validation batch = training batch": lambda: engine_small_eval_batch(config, data),
            "engine + Optuna trial": lambda: engine_trial(config)}
    engine_fit(config, data)  # warm-up: first graph build and data cache
    seconds = {name: [] for name in runs}
    for _ in range(args.repeats):  # interleaved, so drift hits every variant alike
        for name, run in runs.items():
            seconds[name].append(timed(run))
    images = len(data.y_train) * args.epochs
    base = sorted(seconds["plain model.fit"])[len(seconds["plain model.fit"]) // 2]
    rows = [[name, median_spread([images / s for s in values]),
             f"{sorted(values)[len(values) // 2] / base:.2f}"] for name, values in seconds.items()]
    print(header("Engine overhead") + f"\n{len(data.y_train)} training images x {args.epochs} epochs, "
          f"batch {args.batch}, {args.repeats} repeats; ratio = engine time / plain time (≤ 1.0 is "
          "the goal)\n")
    print(table(["variant", "images/s (median, min, max)", "time ratio vs plain"], rows))


if __name__ == "__main__":
    main()
