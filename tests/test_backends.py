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


AUGMENT_SCRIPT = """
import json, sys
import keras
import numpy as np
from search.space.config import Config
from search.space.schema import AUGMENTATIONS
from search.data.dataset import DataSpec, load_dataset
from search.model.augmentation import RandomElastic
from search.model.execution import Execution
from search.model.training import train
from search.report.refit import load_refit_model
spec = DataSpec(name="digits", limit=400)
params = {name: {"enabled": True} for name in AUGMENTATIONS}
config = Config({**params, "conv": {"depth": 1, "filters": [8]}, "head": {"layers": 0},
                 "training": {"epochs": 2, "batch_size": 32}}, spec, seed=0)
compiled = train(config, load_dataset(spec))
compiled.model.save(sys.argv[1])
row = {"jit": compiled.model.jit_compile, "losses": [h["loss"] for h in compiled.history],
       "loaded_jit": load_refit_model(sys.argv[1]).jit_compile}
if keras.backend.backend() == "jax":
    eager = train(config, load_dataset(spec), execution=Execution(jit="off"))
    row["eager_jit"], row["eager_losses"] = eager.model.jit_compile, [h["loss"] for h in eager.history]
constant = np.broadcast_to((np.arange(16) / 16)[:, None, None, None], (16, 28, 28, 1)).astype("float32")
noise = np.random.default_rng(0).random((16, 28, 28, 1)).astype("float32")
elastic = RandomElastic(1.0, 1.0, (0.0, 1.0), seed=1)
row["constant_kept"] = bool(np.allclose(np.asarray(elastic(constant, training=True)), constant, atol=1e-5))
row["noise_moved"] = not np.allclose(np.asarray(elastic(noise, training=True)), noise)
print(json.dumps(row))
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_every_augmentation_trains_on_the_other_backends(backend, tmp_path):
    """On JAX compiled (Keras marks rotation, zoom, translation, shear and crop as barring
    XLA, which made the whole training step run op by op there, about 100 times slower on a
    GPU), as it would eagerly, and still compiled once saved and loaded; on PyTorch it runs."""
    import json

    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed (bash .ci/run installs it)")
    done = subprocess.run([sys.executable, "-c", AUGMENT_SCRIPT, str(tmp_path / "m.keras")],
                          capture_output=True, text=True, env={**os.environ, "KERAS_BACKEND": backend},
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    row = json.loads(done.stdout.strip().splitlines()[-1])
    assert row["constant_kept"] and row["noise_moved"]
    assert len(row["losses"]) == 2 and all(0 < loss < 10 for loss in row["losses"])
    if backend == "jax":
        assert row["jit"] is True and row["loaded_jit"] is True and row["eager_jit"] is False
        assert row["losses"] == pytest.approx(row["eager_losses"], rel=1e-3)
