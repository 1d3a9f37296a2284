"""Every GPU figure the README needs, in one call, each written the moment it is measured.

    bash bench/device_run.sh all                  # on the GPU machine (prepared beforehand)
    python bench/device_all.py --size tiny        # the CPU rehearsal CI runs end to end

Rows, in order, each one JSON line appended to ``--out`` as soon as it is measured (a run
cut short keeps what it has; ``--missing FILE`` reruns only the sections FILE did not
finish):

- ``seed_model``: training images/s of the users' model 3 (bench/gpu_path.py), the
  baseline and then one speed setting at a time (data on device, a large batch, mixed
  bfloat16, jit, steps per execution; jit off on JAX with a GPU is not run again: it ran
  at 625 images/s on the first GPU run);
- ``processes``: trials per hour with 1, 2, 4, 8 worker processes sharing the device
  (bench/trials_per_device.py);
- ``fused``: k seeds of model 3 trained as one program against the same k one after
  another, k = 1, 4, 8, 16 (bench/fused.py; the sequential side times two seeds alone and
  scales to k);
- ``sweep``: a timed search of spaces/cnn.py on full Fashion-MNIST, its best config refit
  on train+validation and tested once.

Each section has until the call's end (``--budget``, seconds of wall time for the whole
call) less what the sections after it need (``NEEDS``). Before each row it checks that
the time left holds the section's longest row so far (the sweep: its search's 4 minutes;
its refits use the slack between ``--budget`` and the job's limit) and writes a
``skipped`` line instead of starting what cannot finish, so a slow section overruns its
share by at most one row's misjudgement (the first GPU run lost three sections to one).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parent.parent
SIZES = {  # what each section runs at; "tiny" is the CPU rehearsal
    "full": {"limit": 60000, "epochs": 3, "processes": [1, 2, 4, 8], "trials": 8,
             "process_limit": 20000, "fused": [1, 4, 8, 16], "fused_limit": 10000,
             "side_by_side": 8, "sweep": "4m", "large_batch": 1024,
             "settings": None},
    "tiny": {"limit": 600, "epochs": 2, "processes": [1], "trials": 1, "process_limit": 600,
             "fused": [2], "fused_limit": 300, "side_by_side": 2,
             "sweep": "20s", "large_batch": 256,
             "settings": 2},  # the baseline and data on device (bench/gpu_path.py's test runs all)
}
# Seconds each section is kept at full size; together the default --budget.
NEEDS = {"seed_model": 60, "processes": 120, "fused": 60, "sweep": 300}
# Measured on the first GPU run (an H200, 2026-12-04): without jit, JAX dispatches every
# operation alone; a row of it would take minutes and measure only that.
EAGER_JAX_GPU = "625 images/s on an H200 (bench/RESULTS.md, the first GPU run)"


class OutOfTime(Exception):
    """A section reached the time the sections after it need."""


def main() -> None:
    args = parse_args()
    size = SIZES[args.size]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = _sections_in(Path(args.missing)) if args.missing else set()
    sections = [(name, measure) for name, measure in (("seed_model", seed_model),
                ("processes", processes), ("fused", fused), ("sweep", sweep)) if name not in done]
    deadline = time.monotonic() + args.budget
    for index, (name, measure) in enumerate(sections):
        later = sum(NEEDS[after] for after, _ in sections[index + 1:]) if args.size == "full" else 0
        emit = _Emitter(out, name, deadline - later)
        try:
            emit.check("section", need=0)
            measure(size, emit)
            write(out, {"section": name, "complete": True})  # what --missing looks for
        except OutOfTime as stop:
            write(out, {"section": name, "skipped": str(stop)})
        except Exception as exc:  # one broken section must not cost the others
            write(out, {"section": name, "error": f"{type(exc).__name__}: {exc}"[:500]})


class _Emitter:
    """Writes a section's rows; ``check`` before each row stops the section at its time."""

    def __init__(self, out: Path, section: str, until: float) -> None:
        self.out, self.section, self.until = out, section, until
        self.longest, self._started = 0.0, None  # seconds of the section's longest row so far

    def __call__(self, row: dict) -> None:
        write(self.out, {"section": self.section, **row})
        if self._started is not None:
            self.longest = max(self.longest, time.monotonic() - self._started)

    def check(self, what: str, need: float | None = None) -> None:
        """Raise OutOfTime unless ``need`` seconds are left (default: the longest row so far)."""
        left = self.until - time.monotonic()
        if left <= 0 or left < (self.longest if need is None else need):
            raise OutOfTime(f"out of time before {what}: the sections after it need the rest")
        self._started = time.monotonic()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--out", default=os.path.join(os.environ.get("OUT", "bench/out"),
                                                      "device.jsonl"))
    parser.add_argument("--missing", help="a device.jsonl of an earlier call: skip what it has")
    parser.add_argument("--budget", type=float, default=540, help="seconds for the whole call")
    return parser.parse_args()


def write(out: Path, row: dict) -> None:
    """Append one measured row, with where and when, and show it."""
    import keras

    from search.model.execution import has_accelerator

    row = {**row, "device": "GPU" if has_accelerator() else "CPU", "backend": keras.backend.backend(),
           "host": platform.node(), "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    with out.open("a") as handle:
        handle.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)


def _sections_in(path: Path) -> set[str]:
    if not path.exists():
        return set()
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {r["section"] for r in rows if r.get("complete")}  # a cut section is measured again


def seed_model(size: dict, emit) -> None:
    """Images/s of model 3: the baseline, then one speed setting at a time."""
    from gpu_path import measure, variants

    import keras

    from search.data.dataset import DataSpec, load_dataset
    from search.model.execution import has_accelerator

    spec = DataSpec(name="fashion_mnist", limit=size["limit"])
    data = load_dataset(spec)
    settings = list(variants(size["large_batch"], "mixed_bfloat16", 16).items())[:size["settings"]]
    for label, change in settings:
        if change.get("jit") == "off" and keras.backend.backend() == "jax" and has_accelerator():
            emit({"setting": label, "skipped": f"measured before: {EAGER_JAX_GPU}"})
            continue
        emit.check(label)
        result = measure(change, spec, data, size["epochs"])
        emit({"setting": label, "images_per_s": round(result["steady"]),
              "first_epoch_s": round(result["first"], 2), "images": len(data.y_train),
              "val_accuracy": round(result["val_accuracy"], 4)})


def processes(size: dict, emit) -> None:
    """Trials per hour with k worker processes sharing the device."""
    from trials_per_device import SPACE, trials_per_hour

    gpus = "0" if _has_gpu() else None
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "space.py").write_text(SPACE.format(epochs=1, limit=size["process_limit"]))
        for k in size["processes"]:
            emit.check(f"{k} processes")
            emit({"processes": k, "trials_per_hour": round(trials_per_hour(Path(folder), k,
                                                                           size["trials"], gpus)),
                  "trials": size["trials"], "images": size["process_limit"]})


def fused(size: dict, emit) -> None:
    """k seeds of model 3 as one fused program against the same k one after another
    (bench/fused.py), k = 1, 4, 8, 16; at k = 8 (2 in the rehearsal) on JAX also the
    towers side by side against the default jax.vmap layout."""
    from fused import measure

    from search.data.dataset import DataSpec, load_dataset

    spec = DataSpec(name="fashion_mnist", limit=size["fused_limit"])
    data = load_dataset(spec)
    for k in size["fused"]:
        emit.check(f"k = {k}")
        row = measure(k, spec, data, size["epochs"], timed_alone=2,
                      side_by_side=k == size["side_by_side"])
        emit({"k": k, **{key: round(value, 4) for key, value in row.items() if value is not None},
              "images": len(data.y_train), "epochs": size["epochs"]})


def sweep(size: dict, emit) -> None:
    """A timed search of spaces/cnn.py on full Fashion-MNIST and the users' hand-made model
    (studies/fashion-hand.yaml), each refit on train+validation and tested once."""
    import yaml

    from search.inputs import parse_duration

    tiny = size is SIZES["tiny"]
    # the search's own minutes; the refits after it fit in the slack before the job's limit
    emit.check("the sweep", need=0 if tiny else parse_duration(size["sweep"]))
    with tempfile.TemporaryDirectory() as folder:
        limit = ["--limit", str(size["limit"]), "--epochs", "2"] if tiny else []
        started = time.monotonic()
        _search(["run", str(REPO / "spaces/cnn.py"), "--study", "sweep", "--timeout",
                 size["sweep"], "--storage", f"{folder}/sweep.log", *limit], folder)
        searched = time.monotonic() - started
        hand = yaml.safe_load((REPO / "studies/fashion-hand.yaml").read_text())
        if tiny:
            hand["data"]["limit"], hand["params"]["training"]["epochs"] = size["limit"], 2
        Path(folder, "hand.yaml").write_text(yaml.safe_dump(hand))
        tested = {}
        for name, config in (("search", "studies/sweep/best.yaml"), ("hand", "hand.yaml")):
            _search(["train", config, "--refit", "--output", f"{folder}/{name}.keras"], folder)
            tested[name] = yaml.safe_load(Path(folder, f"{name}.test.yaml").read_text())["accuracy"]
        emit({"budget": size["sweep"], "search_s": round(searched),
              "test_accuracy": round(tested["search"], 4),
              "hand_made_test_accuracy": round(tested["hand"], 4)})


def _search(argv: list[str], cwd: str) -> None:
    done = subprocess.run([sys.executable, "-m", "search", *argv], cwd=cwd, text=True,
                          capture_output=True)
    if done.returncode:
        raise RuntimeError(f"search {argv[0]} exited {done.returncode}: {done.stderr[-400:]}")


def _has_gpu() -> bool:
    from search.model.execution import has_accelerator

    return has_accelerator()


if __name__ == "__main__":
    main()
