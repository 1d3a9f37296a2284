"""Backends: the same trial on Keras' TensorFlow, JAX and PyTorch backends, side by side.

    python bench/backends.py --limit 20000 --epochs 2 --repeats 2

Each backend runs in its own process (KERAS_BACKEND is read at import). The
trial is the users' model 3 (2 conv + BN, dense 128) through search.model.training.train;
the first epoch (graph building / compilation) is reported apart from the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))

from common import header, median_spread, table  # noqa: E402

CHILD = """
import json, sys, time
from search.space.config import Config
from search.data.dataset import DataSpec, load_dataset
from search.model.training import train, release_memory
limit, epochs, repeats = map(int, sys.argv[1:4])
spec = DataSpec(name="fashion_mnist", limit=limit)
data = load_dataset(spec)
config = Config({"conv": {"depth": 2, "filters": [32, 64]}, "bn": {"enabled": True},
                 "head": {"layers": 1, "units": [128]},
                 "training": {"batch_size": 128, "epochs": epochs}}, spec)
first, rest, accuracy = [], [], []
for _ in range(repeats):
    result = train(config, data)
    first.append(len(data.y_train) / result.history[0]["seconds"])
    rest += [len(data.y_train) / h["seconds"] for h in result.history[1:]]
    accuracy.append(result.best_val_accuracy)
    release_memory()
print("RESULT" + json.dumps({"first": first, "rest": rest, "accuracy": accuracy}))
"""


def run_backend(backend: str, args: argparse.Namespace) -> dict | str:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-c", CHILD, str(args.limit), str(args.epochs),
                           str(args.repeats)], env=env, capture_output=True, text=True)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT"):
            return json.loads(line[len("RESULT"):])
    return (done.stderr.strip().splitlines() or ["no output"])[-1][:120]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax", "torch"])
    args = parser.parse_args()
    rows = []
    for backend in args.backends:
        result = run_backend(backend, args)
        if isinstance(result, str):
            rows.append([backend, "failed", result, ""])
            continue
        rows.append([backend, median_spread(result["first"]), median_spread(result["rest"]) if
                     result["rest"] else "-", f"{max(result['accuracy']):.4f}"])
    print(header("Backends") + f"\n{int(args.limit * 5 / 6)} training images, batch 128, "
          f"{args.epochs} epochs x {args.repeats} repeats; training images/s (validation included)\n")
    print(table(["backend", "first epoch img/s", "later epochs img/s", "val_accuracy"], rows))


if __name__ == "__main__":
    main()
