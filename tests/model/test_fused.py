"""search/model/fused.py: k seeds trained as towers of one program are, seed by seed, the
models those seeds train alone (with their batches in the seed's own order), on TensorFlow
and on JAX (side by side, and stacked under jax.vmap); each tower keeps its own history and
its own stop."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from search.data.dataset import DataSpec, load_dataset
from search.model.fused import (TowerRecorder, fusion_obstacle, tower_row, train_fused,
                                train_seeds)
from search.space.config import Config

# Printed as JSON: for every seed, the largest difference between its solo and fused epochs.
EQUIVALENCE = """
import json, keras
from search.space.config import Config
from search.data.dataset import DataSpec, load_dataset
from search.model.execution import Execution
from search.model.training import train
from search.model.fused import train_fused
spec = DataSpec(name="digits")
config = Config({"conv": {"depth": 1, "filters": [8]}, "bn": {"enabled": True},
                 "dropout": {"enabled": True}, "rotation": {"enabled": True},
                 "l2": {"enabled": True}, "head": {"layers": 0},
                 "schedule": {"name": "cosine", "warmup_epochs": 1},
                 "optimizer": {"learning_rate": 0.005},
                 "training": {"epochs": EPOCHS, "batch_size": 32}}, spec, seed=0)
data, seeds = load_dataset(spec), SEEDS
solo = [train(config.replace(seed=s), data, execution=Execution(data="device")).history
        for s in seeds]
fused = [t.result.history for t in train_fused(config, data, seeds, vmap=VMAP)]
def gap(key, a, b):
    return max(abs(x[key] - y[key]) / (abs(x[key]) if key == "loss" else 1) for x, y in zip(a, b))
print(json.dumps({"backend": keras.backend.backend(),
                  "epochs": [[len(a), len(b)] for a, b in zip(solo, fused)],
                  "gaps": {k: max(gap(k, a, b) for a, b in zip(solo, fused))
                           for k in ("accuracy", "val_accuracy", "val_loss", "loss")}}))
"""

# The stated tolerance: validation metrics and training accuracy to 1e-4 (on this CPU they
# are equal); the training loss to 2% relative: a solo run's is the mean over the epoch of
# the loss with the weight penalty of each step, a tower's adds the epoch-end penalty.
TOLERANCE = {"accuracy": 1e-4, "val_accuracy": 1e-4, "val_loss": 1e-4, "loss": 0.02}


def _equivalence(backend: str, epochs: int, seeds: list[int], vmap: bool = False) -> dict:
    script = EQUIVALENCE.replace("EPOCHS", str(epochs)).replace("SEEDS", repr(seeds)).replace(
        "VMAP", repr(vmap))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, "KERAS_BACKEND": backend}, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _check(found: dict, backend: str, epochs: int, seeds: list[int]) -> None:
    assert found["backend"] == backend
    assert found["epochs"] == [[epochs, epochs]] * len(seeds)
    for key, limit in TOLERANCE.items():
        assert found["gaps"][key] <= limit, (key, found)


def test_each_tower_is_the_model_its_seed_trains_alone_on_tensorflow():
    _check(_equivalence("tensorflow", 2, [0, 1, 2]), "tensorflow", 2, [0, 1, 2])


@pytest.mark.slow
def test_each_tower_is_the_model_its_seed_trains_alone_on_jax():
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed (bash .ci/run installs it)")
    _check(_equivalence("jax", 2, [3, 4]), "jax", 2, [3, 4])
    _check(_equivalence("jax", 2, [3, 4], vmap=True), "jax", 2, [3, 4])  # stacked


# Printed as JSON: on JAX, whether the towers ran under jax.vmap, what each tower's own model
# scores after training against its last recorded epoch, and the backbone's stacked variables.
VMAPPED = """
import json, keras
import search.model.fused as fused
from search.data.dataset import DataSpec, load_dataset
from search.model.backbone import backbone_variables
from search.model.execution import Execution
from search.space.config import Config
made, real = [], fused.vmapped_model
fused.vmapped_model = lambda *a, **k: made.append(real(*a, **k)) or made[-1]
spec = DataSpec(name="digits")
config = Config({"conv": {"depth": 1, "filters": [8]}, "bn": {"enabled": True},
                 "dropout": {"enabled": True}, "head": {"layers": 0},
                 "training": {"epochs": 2, "batch_size": 32}}, spec, seed=0)
data = load_dataset(spec)
results = fused.train_fused(config, data, [1, 2], vmap=True,
                            tower_stop=lambda t, e, row: t == 1 and e == 0)
model = results[0].result.model
model.compile(loss="categorical_crossentropy", metrics=["accuracy"])
scored = model.evaluate(data.x_val, keras.utils.to_categorical(data.y_val, data.n_classes),
                        verbose=0)[1]
small = DataSpec(name="digits", limit=120)
net = Config({"backbone": {"name": "mobilenet_v3_small", "weights": "none", "trainable_blocks": 11,
                           "lr_ratio": 0.1}, "head": {"layers": 0}}, small)
towers = [fused._tower(net, load_dataset(small), s, i, None) for i, s in enumerate((0, 1))]
both, backbone, _ = real(towers, towers[0].input_shape[1:], ["tower_0", "tower_1"],
                         backbone_variables(towers[0]))
fused._compile(both, 2, backbone, net, 2, Execution().compile_options())
both.optimizer.build(both.trainable_variables)
print(json.dumps({"vmapped": len(made), "epochs": [len(r.result.history) for r in results],
                  "scored": float(scored), "recorded": results[0].result.history[-1]["val_accuracy"],
                  "backbone": len(backbone) == len(backbone_variables(towers[0])) > 0 and
                  both.optimizer.backbone_keys == {both.optimizer._var_key(v) for v in backbone},
                  "note": fused.fused_note(2)}))
"""


SPEC = DataSpec(name="digits")
SMALL = {"conv": {"depth": 1, "filters": [4]}, "head": {"layers": 0},
         "training": {"epochs": 3, "batch_size": 64}}


@pytest.mark.slow
def test_on_jax_the_towers_run_under_vmap_and_each_gets_its_own_weights_back():
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed (bash .ci/run installs it)")
    done = subprocess.run([sys.executable, "-c", VMAPPED], capture_output=True, text=True,
                          env={**os.environ, "KERAS_BACKEND": "jax"}, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["vmapped"] == 1 and found["epochs"] == [2, 1]  # one stopped, one went on
    assert abs(found["scored"] - found["recorded"]) <= 1e-4  # its own model is its last epoch
    assert found["backbone"]  # a backbone's stacked weights learn at the backbone's rate
    assert found["note"] == "fused: 2 seeds trained as one program on jax"  # no accelerator:
    # by default the towers stay side by side on a CPU, where stacking was twice as slow


def test_a_tower_stopped_early_keeps_its_own_history_while_the_others_go_on():
    data = load_dataset(SPEC)
    config = Config(SMALL, SPEC, seed=0)
    towers = train_fused(config, data, [5, 6, 7], tower_stop=lambda tower, epoch, row:
                         tower == 1 and epoch == 0)
    assert [t.seed for t in towers] == [5, 6, 7]
    assert [len(t.result.history) for t in towers] == [3, 1, 3]
    assert all({"accuracy", "val_accuracy", "loss", "seconds"} <= set(t.result.history[0])
               for t in towers)


def test_a_diverged_tower_is_recorded_apart_and_training_ends_when_none_runs():
    recorder = TowerRecorder(2)
    recorder.set_model(_Model())
    logs = {"0/tower_0_loss": float("nan"), "tower_0_accuracy": 0.1, "1/tower_1_loss": 0.5,
            "tower_1_accuracy": 0.8, "val_tower_1_accuracy": 0.7, "val_1/tower_1_loss": 0.6}
    recorder.on_epoch_begin(0)
    recorder.on_epoch_end(0, logs)
    assert recorder.diverged == {0: "loss became nan at epoch 1"}
    assert recorder.running == [False, True] and not recorder.model.stop_training
    recorder.on_epoch_begin(1)
    recorder.on_epoch_end(1, {**logs, "1/tower_1_loss": float("inf")})
    assert recorder.running == [False, False] and recorder.model.stop_training
    assert [len(h) for h in recorder.histories] == [1, 2]


class _ConstantRate:
    learning_rate = 0.01


class _Model:
    """What the recorder reads of the fused model: its optimiser's rate and the stop flag."""

    stop_training = False
    optimizer = _ConstantRate()


def test_tower_rows_use_the_names_of_a_solo_run():
    logs = {"0/tower_0_loss": 1.0, "tower_0_accuracy": 0.5, "val_0/tower_0_loss": 2.0,
            "val_tower_0_accuracy": 0.4, "1/tower_1_loss": 9.0, "loss": 10.0}
    assert tower_row(logs, 0) == {"loss": 1.0, "accuracy": 0.5, "val_loss": 2.0,
                                  "val_accuracy": 0.4}
    alone = {"loss": 1.0, "accuracy": 0.5, "val_accuracy": 0.4, "learning_rate": 0.1}
    assert tower_row(alone, 0, towers=1) == {"loss": 1.0, "accuracy": 0.5, "val_accuracy": 0.4}


def test_what_cannot_be_fused_is_named_and_trained_one_seed_after_another():
    plateau = Config({**SMALL, "schedule": {"name": "plateau"}}, SPEC, seed=0)
    assert "plateau" in fusion_obstacle(plateau)
    assert "loss scale" in fusion_obstacle(
        Config({**SMALL, "training": {**SMALL["training"], "precision": "mixed_float16"}}, SPEC))
    assert fusion_obstacle(Config(SMALL, SPEC)) is None
    with pytest.raises(ValueError, match="plateau"):
        train_fused(plateau, load_dataset(SPEC), [0, 1])
    with pytest.raises(ValueError, match="distinct seeds"):
        train_fused(Config(SMALL, SPEC), load_dataset(SPEC), [1, 1])
    short = plateau.with_knob("training", "epochs", 1)
    results, how = train_seeds(short, load_dataset(SPEC), [0, 1])
    assert how.startswith("one seed after another (the plateau schedule")
    assert [r.seed for r in results] == [0, 1] and all(r.result for r in results)


def test_one_seed_alone_in_a_fused_program_is_its_solo_run_weight_penalty_included():
    from search.model.execution import Execution
    from search.model.training import train

    short = Config({**SMALL, "l2": {"enabled": True, "factor": 0.01},
                    "training": {**SMALL["training"], "epochs": 1}}, SPEC, seed=4)
    (tower,) = train_fused(short, load_dataset(SPEC), [4])
    (alone,) = train(short, load_dataset(SPEC), execution=Execution(data="device")).history
    for key in ("accuracy", "val_accuracy", "val_loss"):
        assert abs(tower.result.history[0][key] - alone[key]) <= 1e-4, key
    assert abs(tower.result.history[0]["loss"] / alone["loss"] - 1) <= 0.02


def test_every_towers_backbone_learns_at_the_backbones_own_rate():
    from search.model.backbone import backbone_variables
    from search.model.execution import Execution
    from search.model.fused import _compile, _fused_model, _tower

    spec = DataSpec(name="digits", limit=120)
    config = Config({"backbone": {"name": "mobilenet_v3_small", "weights": "none",
                                  "trainable_blocks": 11, "lr_ratio": 0.1, "head_epochs": 1},
                     "head": {"layers": 0}, "training": {"epochs": 2, "batch_size": 64}}, spec)
    data = load_dataset(spec)
    towers = [_tower(config, data, seed, i, None) for i, seed in enumerate((0, 1))]
    model = _fused_model(towers, None, data.input_shape)
    _compile(model, 2, [v for t in towers for v in backbone_variables(t)], config, 2,
             Execution().compile_options())
    model.optimizer.build(model.trainable_variables)
    expected = {model.optimizer._var_key(v) for t in towers for v in backbone_variables(t)}
    assert len(expected) == 2 * len(backbone_variables(towers[0])) > 0
    assert model.optimizer.backbone_keys == expected  # both backbones, and no head
    assert model.optimizer.backbone_lr_ratio == 0.1 and model.optimizer.backbone_frozen_steps == 2


class ResourceExhaustedError(RuntimeError):
    """Named as TensorFlow names a device that ran out of memory."""


def test_out_of_memory_is_recognised_on_every_backend():
    from search.model.fused import out_of_memory

    assert out_of_memory(ResourceExhaustedError("OOM when allocating tensor"))
    assert out_of_memory(RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate"))
    assert out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert out_of_memory(MemoryError())
    assert not out_of_memory(ValueError("shapes (3,) and (4,) are incompatible"))


def test_a_fused_program_that_does_not_fit_trains_its_seeds_one_by_one(monkeypatch):
    import search.model.fused as fused

    from conftest import out_of_memory_when_fused

    asked: list[list[int]] = []
    monkeypatch.setattr(fused, "train_fused", out_of_memory_when_fused(
        fused.train_fused, asked, ResourceExhaustedError("OOM when allocating tensor [3,64,8,8]")))
    config = Config({**SMALL, "training": {**SMALL["training"], "epochs": 1}}, SPEC, seed=0)
    results, how = train_seeds(config, load_dataset(SPEC), [0, 1])
    assert how == "one seed after another (the fused program did not fit in memory)"
    assert asked == [[0, 1], [0], [1]] and [r.seed for r in results] == [0, 1]
    assert all(r.result and len(r.result.history) == 1 for r in results)
    monkeypatch.setattr(fused, "train_fused", lambda *a, **k: (_ for _ in ()).throw(
        ValueError("not a memory problem")))
    with pytest.raises(ValueError, match="not a memory problem"):  # anything else is raised
        train_seeds(config, load_dataset(SPEC), [0, 1])


STACKED_AUGMENTED = """
import json
from search.space.config import Config
from search.space.schema import AUGMENTATIONS
from search.data.dataset import DataSpec, load_dataset
from search.model.fused import train_fused
spec = DataSpec(name="digits", limit=300)
params = {name: {"enabled": True} for name in AUGMENTATIONS}
config = Config({**params, "conv": {"depth": 1, "filters": [4]}, "head": {"layers": 0},
                 "training": {"epochs": 2, "batch_size": 32}}, spec, seed=0)
print(json.dumps({str(vmap): [[h["loss"] for h in t.result.history]
                              for t in train_fused(config, load_dataset(spec), [1, 2], vmap=vmap)]
                  for vmap in (True, False)}))
"""


@pytest.mark.slow
def test_on_jax_every_augmentation_trains_the_same_stacked_under_vmap_as_side_by_side():
    """Under jax.vmap each tower draws its own crop corner and elastic field: the draws
    become batched, and must still be the ones its side-by-side tower makes."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed (bash .ci/run installs it)")
    done = subprocess.run([sys.executable, "-c", STACKED_AUGMENTED], capture_output=True,
                          text=True, env={**os.environ, "KERAS_BACKEND": "jax"}, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    losses = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(losses["True"]) == 2 and all(len(tower) == 2 for tower in losses["True"])
    for stacked, side_by_side in zip(losses["True"], losses["False"]):
        assert stacked == pytest.approx(side_by_side, rel=1e-4)
