"""The engine trains on every Keras backend that is installed (each in its own process)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

SCRIPT = """
import keras
from search.space.config import Config
from search.data.dataset import DataSpec, load_dataset
from search.model.execution import Execution
from search.model.training import train
spec = DataSpec(name="digits")
config = Config({"conv": {"depth": 1, "filters": [8]}, "bn": {"enabled": True},
                 "dropout": {"enabled": True}, "rotation": {"enabled": True},
                 "cutout": {"enabled": True}, "head": {"layers": 0},
                 "schedule": {"name": "cosine", "warmup_epochs": 1},
                 "optimizer": {"learning_rate": 0.005},
                 "training": {"epochs": 2, "batch_size": 32}}, spec, seed=0)
result = train(config, load_dataset(spec))
fast = train(config.with_knob("training", "precision", "mixed_bfloat16"), load_dataset(spec),
             execution=Execution(steps_per_execution=4, data="device"))
print(keras.backend.backend(), result.best_val_accuracy, fast.best_val_accuracy)
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend, module", [("tensorflow", "tensorflow"), ("jax", "jax"),
                                             ("torch", "torch")])
def test_training_runs_on_each_backend(backend, module):
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (bash .ci/run installs it)")
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          env={**os.environ, "KERAS_BACKEND": backend}, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    name, accuracy, tuned_accuracy = done.stdout.split()[-3:]
    assert name == backend and float(accuracy) > 0.3
    assert float(tuned_accuracy) > 0.3  # data on device, 4 steps per call, bfloat16


JIT_SCRIPT = """
from search.space.config import Config
from search.space.schema import AUGMENTATIONS
from search.data.dataset import DataSpec, load_dataset
from search.model.execution import Execution
from search.model.training import train
spec = DataSpec(name="digits", limit=400)
params = {name: {"enabled": True} for name in AUGMENTATIONS}
config = Config({**params, "conv": {"depth": 1, "filters": [8]}, "head": {"layers": 0},
                 "training": {"epochs": 2, "batch_size": 32}}, spec, seed=0)
compiled = train(config, load_dataset(spec))
eager = train(config, load_dataset(spec), execution=Execution(jit="off"))
print(compiled.model.jit_compile, eager.model.jit_compile)
for a, b in zip(compiled.history, eager.history):
    print(a["loss"], b["loss"])
"""


def test_on_jax_every_augmentation_trains_compiled_and_as_it_would_eagerly():
    """Keras marks rotation, zoom, translation, shear and crop as barring XLA, which on JAX
    made the whole training step run op by op (about 100 times slower on a GPU)."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed (bash .ci/run installs it)")
    done = subprocess.run([sys.executable, "-c", JIT_SCRIPT], capture_output=True, text=True,
                          env={**os.environ, "KERAS_BACKEND": "jax"}, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(("True", "False")))
    assert lines[start].split() == ["True", "False"]
    losses = [[float(v) for v in line.split()] for line in lines[start + 1:] if line.strip()]
    assert len(losses) == 2
    for compiled, eager in losses:
        assert compiled == pytest.approx(eager, rel=1e-3)
