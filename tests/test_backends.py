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
