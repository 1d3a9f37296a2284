"""GPU path: training images/s of the users' model 3 with augmentation, one speed setting at a time.

    KERAS_BACKEND=jax python bench/gpu_path.py --limit 60000 --epochs 3 --repeats 3

Runs on whatever device the backend sees: the GPU on a GPU machine, the
CPU otherwise (the table's machine line says which). The baseline is the
engine with host data, batch 128, float32, one step per call and jit "auto";
each following row changes one setting, and the last row combines the
settings that helped. "first epoch" includes compilation; "steady" is the
median of the later epochs. Then, on JAX, the persistent compilation cache:
the first epoch of a fresh process with an empty and with a warm cache.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from common import header, table  # noqa: E402
from search.space.config import Config  # noqa: E402
from search.data.dataset import DataSpec, load_dataset  # noqa: E402
from search.model.execution import Execution, enable_compile_cache, has_accelerator  # noqa: E402
from search.model.training import release_memory, train  # noqa: E402

MODEL_3 = {"conv": {"depth": 2, "filters": [32, 64]}, "bn": {"enabled": True, "momentum": 0.9},
           "head": {"layers": 1, "units": [128]}, "flip_h": {"enabled": True},
           "translation": {"enabled": True, "factor": 0.1}}
BASELINE = {"batch_size": 128, "precision": "float32", "data": "host", "jit": "auto",
            "steps_per_execution": 1}


def variants(large_batch: int, precision: str, steps: int) -> dict[str, dict]:
    """Each changes one setting of the baseline."""
    flipped_jit = "off" if has_accelerator() or keras.backend.backend() == "jax" else "on"
    rows = {"baseline (host data, batch 128, float32)": {}, "data on device": {"data": "device"},
            f"batch {large_batch}": {"batch_size": large_batch}, precision: {"precision": precision},
            f"jit {flipped_jit}": {"jit": flipped_jit}}
    if keras.backend.backend() != "torch":  # Keras' PyTorch trainer runs one step per call
        rows[f"{steps} steps per execution"] = {"steps_per_execution": steps}
    return rows


def measure(change: dict, spec: DataSpec, data, epochs: int) -> dict[str, float]:
    setting = {**BASELINE, **change}
    params = {**MODEL_3, "training": {"epochs": epochs, "batch_size": setting["batch_size"],
                                      "precision": setting["precision"]}}
    execution = Execution(steps_per_execution=setting["steps_per_execution"], jit=setting["jit"],
                          data=setting["data"])
    result = train(Config(params, spec), data, execution=execution)
    jit_refused = setting["jit"] == "on" and not result.model.jit_compile
    release_memory()
    seconds = [h["seconds"] for h in result.history]
    return {"first": seconds[0], "steady": len(data.y_train) / statistics.median(seconds[1:] or seconds),
            "val_accuracy": result.history[-1]["val_accuracy"], "jit_refused": jit_refused}


def measure_all(changes: dict[str, dict], spec: DataSpec, data, epochs: int,
                repeats: int) -> dict[str, dict]:
    """Medians over ``repeats`` rounds; rounds are interleaved so drift hits every row alike."""
    rounds = [{name: measure(change, spec, data, epochs) for name, change in changes.items()}
              for _ in range(repeats)]
    return {name: {key: statistics.median(r[name][key] for r in rounds) if key != "jit_refused"
                   else rounds[0][name][key] for key in rounds[0][name]} for name in changes}


def combine(results: dict[str, dict], changes: dict[str, dict]) -> tuple[str, dict]:
    """Every single change that raised steady images/s by more than 5%, together."""
    base = results[next(iter(results))]["steady"]
    helped = [name for name in changes if results[name]["steady"] > 1.05 * base]
    label = "all that helped: " + (" + ".join(helped) if helped else "none (the baseline again)")
    return label, {key: value for name in helped for key, value in changes[name].items()}


def cache_probe(cache: str, limit: int) -> None:
    """Fresh process: print the seconds of one epoch with the compile cache in ``cache``."""
    os.environ["SEARCH_COMPILE_CACHE"] = cache
    enable_compile_cache(cache)
    spec = DataSpec(name="fashion_mnist", limit=limit)
    print(f"{measure({}, spec, load_dataset(spec), 1)['first']:.3f}")


def compile_cache_rows(limit: int) -> list[list[str]]:
    if keras.backend.backend() != "jax":
        return []
    seconds = []
    with tempfile.TemporaryDirectory() as cache:
        for _ in ("empty", "warm"):
            out = subprocess.run([sys.executable, __file__, "--cache-probe", cache, "--limit",
                                  str(limit)], capture_output=True, text=True, check=True).stdout
            seconds.append(float(out.strip().splitlines()[-1]))
    return [["first epoch, fresh process, empty compile cache", f"{seconds[0]:.2f}", "", ""],
            ["first epoch, fresh process, warm compile cache", f"{seconds[1]:.2f}", "", ""]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=60000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--large-batch", type=int, default=1024)
    parser.add_argument("--steps-per-execution", type=int, default=16)
    parser.add_argument("--precision", choices=("mixed_float16", "mixed_bfloat16"),
                        help="default: mixed_float16 on a GPU, mixed_bfloat16 on a CPU")
    parser.add_argument("--repeats", type=int, default=3, help="rounds; medians are reported")
    parser.add_argument("--cache-probe", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cache_probe:
        return cache_probe(args.cache_probe, args.limit)
    precision = args.precision or ("mixed_float16" if has_accelerator() else "mixed_bfloat16")
    spec = DataSpec(name="fashion_mnist", limit=args.limit)
    data = load_dataset(spec)
    changes = variants(args.large_batch, precision, args.steps_per_execution)
    results = measure_all(changes, spec, data, args.epochs, args.repeats)
    label, combined = combine(results, changes)
    results.update(measure_all({label: combined}, spec, data, args.epochs, args.repeats))
    base = results[next(iter(results))]["steady"]
    rows = [[name + (" (Keras fell back to no jit: the model is not XLA-compatible)"
                     if r["jit_refused"] else ""), f"{r['first']:.2f}", f"{r['steady']:,.0f} ({r['steady'] / base:.2f}x)",
             f"{r['val_accuracy']:.4f}"] for name, r in results.items()]
    device = "GPU" if has_accelerator() else "CPU"
    print(header("GPU path") + f"\ndevice: {device}; Fashion-MNIST {len(data.y_train)} training "
          f"images, model 3 (2 conv + BN, dense 128) with flip and shift augmentation, "
          f"{args.epochs} epochs per row; medians of {args.repeats} interleaved rounds\n")
    print(table(["setting", "first epoch s", "steady images/s (vs baseline)", "val_accuracy"],
                rows + compile_cache_rows(min(args.limit, 6000))))


if __name__ == "__main__":
    main()
