"""The backbone's own learning rate: ``backbone.lr_ratio`` scales its step, ``head_epochs``
holds it still while the head trains alone, on every installed Keras backend."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from conftest import REPO, write
from search.model.backbone import backbone_variables
from search.space.config import Config
from search.data.dataset import DataSpec, load_dataset
from search.report.refit import load_refit_model, refit_and_save
from search.space.space import load_space
from search.model.training import train

TINY = DataSpec(name="digits", limit=120)  # 8x8 gray: resized to 32x32 RGB inside the model


def config(optimizer: dict, epochs: int = 1, **knobs) -> Config:
    return Config({"backbone": {"name": "mobilenet_v3_small", "weights": "none",
                                "trainable_blocks": 11, **knobs},
                   "head": {"layers": 1, "units": [16]}, "optimizer": optimizer,
                   "training": {"epochs": epochs, "batch_size": 512}}, TINY, 0)


class Snapshots(keras.callbacks.Callback):
    """The backbone's and the head's trainable weights before training and after each epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone: list[list[np.ndarray]] = []
        self.head: list[np.ndarray] = []

    def on_train_begin(self, logs=None) -> None:
        self._take()

    def on_epoch_end(self, epoch, logs=None) -> None:
        self._take()

    def _take(self) -> None:
        self.backbone.append([keras.ops.convert_to_numpy(v) for v in backbone_variables(self.model)])
        self.head.append(keras.ops.convert_to_numpy(self.model.trainable_variables[-2]))


def changes(before: list[np.ndarray], after: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([(b - a).ravel() for a, b in zip(before, after)])


@pytest.mark.slow
def test_head_epochs_hold_the_backbone_still_then_let_it_train():
    snapshots, data = Snapshots(), load_dataset(TINY)
    train(config({"name": "adamw", "learning_rate": 0.01, "weight_decay": 0.01}, epochs=3,
                 head_epochs=2), data, callbacks=[snapshots])  # weight decay held too
    first, second, third = (changes(snapshots.backbone[i], snapshots.backbone[i + 1])
                            for i in range(3))
    assert not first.any() and not second.any()  # two epochs (one step each): head alone
    assert np.abs(third).max() > 1e-4  # then the backbone trains
    assert np.abs(snapshots.head[1] - snapshots.head[0]).max() > 1e-4  # the head from the start


@pytest.mark.slow
def test_lr_ratio_scales_the_backbone_step_and_not_the_heads():
    """One SGD step (no momentum, all data in one batch) from the same weights: the backbone's
    step is ``lr_ratio`` times as long, the head's is the same."""
    data, runs = load_dataset(TINY), {}
    for ratio in (1.0, 0.1):
        runs[ratio] = Snapshots()
        train(config({"name": "sgd", "learning_rate": 0.05, "momentum": 0.0}, lr_ratio=ratio),
              data, callbacks=[runs[ratio]])
    full, scaled = (changes(runs[r].backbone[0], runs[r].backbone[1]) for r in (1.0, 0.1))
    assert np.abs(full).max() > 1e-5
    np.testing.assert_allclose(scaled, 0.1 * full, rtol=1e-3, atol=1e-7)
    np.testing.assert_allclose(runs[0.1].head[1] - runs[0.1].head[0],
                               runs[1.0].head[1] - runs[1.0].head[0], rtol=1e-3, atol=1e-7)


@pytest.mark.slow
def test_a_model_trained_with_backbone_rates_saves_and_loads_back(tmp_path):
    tuned = config({"name": "adamw", "learning_rate": 0.01}, epochs=2, lr_ratio=0.1,
                   head_epochs=1)
    outcome = refit_and_save(tuned, {}, tmp_path / "m.keras", verbose=0)
    loaded = load_refit_model(tmp_path / "m.keras")
    compiled = keras.saving.load_model(tmp_path / "m.keras")  # the optimiser deserialises too
    assert type(compiled.optimizer).__name__ == "BackboneAdamW"
    assert compiled.optimizer.get_config()["backbone_lr_ratio"] == 0.1
    # trained further, the loaded model still finds its backbone's variables (by their paths)
    assert len(compiled.optimizer.backbone_keys) == len(backbone_variables(compiled)) > 0
    x_test, _ = outcome.data.test()
    np.testing.assert_allclose(loaded.predict(x_test[:8], verbose=0),
                               outcome.model.predict(x_test[:8], verbose=0), atol=1e-5)


def test_the_backbone_rate_knobs_change_a_fine_tuned_configs_identity_only():
    plain = config({"name": "adam"})
    assert plain.digest() != config({"name": "adam"}, lr_ratio=0.1).digest()
    assert plain.digest() != config({"name": "adam"}, head_epochs=2).digest()
    assert plain.digest() == config({"name": "adam"}, lr_ratio=1, head_epochs=0).digest()
    assert "lr_ratio" not in Config({}).canonical_params().get("backbone", {})
    pretrained = config({"name": "adam"}, weights="/w.weights.h5").canonical_params()["backbone"]
    assert pretrained["batch_norm"] == "inference"  # not the model runs before that trained
    assert "batch_norm" not in plain.canonical_params()["backbone"]  # from scratch: as before
    frozen = config({"name": "adam"}, trainable_blocks=0)
    assert frozen.digest() == config({"name": "adam"}, trainable_blocks=0, lr_ratio=0.1,
                                     head_epochs=2).digest()  # nothing to fine-tune: inactive


def test_backbone_configs_written_before_the_rate_knobs_keep_their_digest():
    """The digest this config had before ``lr_ratio``/``head_epochs`` existed: studies and
    ablations of fine-tuned backbones made then still resume."""
    assert config({"name": "adam"}).digest() == "496dafb7ebbb"


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_head_epochs_and_lr_ratio_on_other_backends(backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed (bash .ci/run installs it)")
    script = ("import test_backbone_rate as t\n"
              "t.test_head_epochs_hold_the_backbone_still_then_let_it_train()\n"
              "t.test_lr_ratio_scales_the_backbone_step_and_not_the_heads()\n"
              "import tempfile, pathlib\n"
              "t.test_a_model_trained_with_backbone_rates_saves_and_loads_back("
              "pathlib.Path(tempfile.mkdtemp()))\nprint('ok')")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=os.path.dirname(__file__), timeout=600,
                          env={**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": os.pathsep.join((str(REPO), str(REPO / "tests")))})
    assert done.returncode == 0 and done.stdout.split()[-1:] == ["ok"], done.stderr[-3000:]


def test_backbone_spaces_written_before_the_rate_knobs_keep_their_digest(tmp_path):
    text = ('from search.knobs import Choice, Int\nSPACE = {"backbone": {"name": '
            '"mobilenet_v3_small", "weights": "none", "trainable_blocks": Int(0, 11)},\n'
            '         "head": {"layers": 1, "units": Choice(16, 32)}}\n')
    before = load_space(write(tmp_path, "before.py", text))
    spelt = load_space(write(tmp_path, "spelt.py", text.replace(
        '"trainable_blocks"', '"lr_ratio": 1.0, "head_epochs": 0, "trainable_blocks"')))
    assert before.digest() == spelt.digest() == "dee115885b09d7f3"
