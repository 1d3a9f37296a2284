"""search/ablation/objective.py: an ablation run's Keras objective on scikit-learn digits (one
epoch): its score, its checkpoint and history kept until ``forget``, a resume from them, and
NaN for a network that cannot be built."""

from __future__ import annotations

import json
import math

import pytest

from search.ablation.objective import GROUP_PREFIX, HISTORY, MEMBERS, KerasObjective
from search.data.dataset import DataSpec
from search.space.config import Config
from search.study.checkpoint import checkpoint_epoch

CONFIG = Config({"conv": {"depth": 1, "filters": 8}, "head": {"layers": 0},
                 "training": {"epochs": 1}}, DataSpec(name="digits"), seed=5)


def test_a_run_scores_keeps_its_checkpoint_and_resumes_from_it(tmp_path):
    resumed: list[tuple[str, int]] = []
    objective = KerasObjective(tmp_path, on_resume=lambda c, epochs: resumed.append(
        (c.digest(), epochs)), fuse=False)  # the engine's own path, as in a search
    value = objective(CONFIG)
    assert 0.0 <= value <= 1.0
    folder = tmp_path / CONFIG.digest()
    assert checkpoint_epoch(folder) == 1
    history = json.loads((folder / HISTORY).read_text())
    assert len(history) == 1 and history[0]["val_accuracy"] == value
    assert objective(CONFIG) == value  # every epoch was done: resumed, nothing retrained
    assert resumed == [(CONFIG.digest(), 1)]
    objective.forget(CONFIG.digest())
    assert not folder.exists()


def test_a_checkpoint_without_its_history_starts_the_run_over(tmp_path):
    folder = tmp_path / CONFIG.digest()
    folder.mkdir()
    (folder / "training_metadata.json").write_text(json.dumps({"epoch": 1}))
    resumed: list = []
    value = KerasObjective(tmp_path, on_resume=lambda *a: resumed.append(a), fuse=False)(CONFIG)
    assert resumed == [] and 0.0 <= value <= 1.0
    assert len(json.loads((folder / HISTORY).read_text())) == 1  # trained afresh


def test_a_checkpoint_that_does_not_load_starts_the_run_over(tmp_path, monkeypatch):
    import keras

    from search.model import network

    config = Config({**CONFIG.params, "bn": {"enabled": True}}, CONFIG.data, seed=5)
    with monkeypatch.context() as patch:  # written by Keras' batch-norm layer: it cannot load
        patch.setattr(network, "DebiasedBatchNormalization", keras.layers.BatchNormalization)
        KerasObjective(tmp_path / "old", fuse=False)(config)
    KerasObjective(tmp_path / "fresh", fuse=False)(config)
    told: list[str] = []
    KerasObjective(tmp_path / "old", fuse=False,
                   on_restart=lambda c, why: told.append(why))(config)
    assert len(told) == 1 and "checkpoint did not load" in told[0]
    old, fresh = (json.loads((tmp_path / root / config.digest() / HISTORY).read_text())
                  for root in ("old", "fresh"))
    assert len(old) == 1 and old[0]["loss"] == pytest.approx(fresh[0]["loss"], rel=1e-3)


def test_a_fused_group_whose_checkpoint_does_not_load_starts_over(tmp_path, monkeypatch):
    import keras

    from search.model import network

    configs = [Config({**CONFIG.params, "bn": {"enabled": True}}, CONFIG.data, seed=s)
               for s in (5, 6)]
    assert KerasObjective(fuse=True).fuses(configs)
    with monkeypatch.context() as patch:  # written by Keras' batch-norm layer: it cannot load
        patch.setattr(network, "DebiasedBatchNormalization", keras.layers.BatchNormalization)
        KerasObjective(tmp_path / "old", fuse=True).train_group(configs)
    fresh = KerasObjective(tmp_path / "fresh", fuse=True).train_group(configs)
    told: list[str] = []
    again = KerasObjective(tmp_path / "old", fuse=True, on_group=lambda c, how: told.append(how),
                           on_restart=lambda c, why: told.append(why)).train_group(configs)
    assert again == pytest.approx(fresh, abs=0.01)
    assert told[0].startswith("fused: 2 seeds") and len(told) == 3  # told once, each seed's restart
    assert all("checkpoint did not load" in why for why in told[1:])
    group = next((tmp_path / "old").iterdir())
    assert checkpoint_epoch(group) == 1 and len(json.loads((group / HISTORY).read_text())[
        "histories"][0]) == 1


def test_without_a_checkpoint_root_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert 0.0 <= KerasObjective()(CONFIG) <= 1.0
    assert list(tmp_path.iterdir()) == []
    KerasObjective().forget("anything")  # nothing to remove, no error


def test_a_network_that_cannot_be_built_scores_nan():
    impossible = CONFIG.with_knob("conv", "depth", 5).with_knob("conv", "pooling", "max")
    assert math.isnan(KerasObjective()(impossible))  # 8x8 images: pooled to nothing


def test_only_checkpoints_of_stored_runs_are_removed(tmp_path):
    for key in ("stored", "open"):
        (tmp_path / key).mkdir()
    (tmp_path / "a-file").write_text("kept")
    KerasObjective(tmp_path).forget_stored(lambda key: key in ("stored", "a-file"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "open"]


def test_the_seeds_of_one_config_train_fused_resume_and_are_cleaned_up(tmp_path):
    told: list[str] = []
    resumed: list[tuple[int, int]] = []
    objective = KerasObjective(tmp_path, on_group=lambda configs, how: told.append(how),
                               on_resume=lambda c, epochs: resumed.append((c.seed, epochs)),
                               fuse=True)
    configs = [CONFIG.replace(seed=s) for s in (5, 6)]
    assert objective.fuses(configs) and objective.fuses(configs[:1])  # one seed: one tower
    values = objective.train_group(configs)
    assert told == ["fused: 2 seeds trained as one program on tensorflow"]
    alone = KerasObjective()  # a lone seed: a program of one tower over its own batch stream
    assert values == [alone(c) for c in configs]  # each seed: the model it
    assert told == ["fused: 2 seeds trained as one program on tensorflow"]  # trains alone, told nothing
    group = [p for p in tmp_path.iterdir() if p.name.startswith(GROUP_PREFIX)]
    assert len(group) == 1 and checkpoint_epoch(group[0]) == 1
    assert json.loads((group[0] / MEMBERS).read_text()) == [c.digest() for c in configs]
    assert objective.train_group(configs) == values  # every epoch was done: resumed
    assert resumed == [(5, 1), (6, 1)]
    objective.forget(configs[0].digest())
    assert group[0].exists()  # one of its runs is not stored yet
    objective.forget(configs[1].digest())
    assert not group[0].exists() and not any(tmp_path.iterdir())


def test_fusion_turned_off_or_impossible_is_told_with_the_reason():
    told: list[str] = []
    configs = [CONFIG.replace(seed=s) for s in (5, 6)]
    assert not KerasObjective(fuse=False, on_group=lambda c, how: told.append(how)).fuses(configs)
    plateau = [c.with_knob("schedule", "name", "plateau") for c in configs]
    assert not KerasObjective(on_group=lambda c, how: told.append(how), fuse=True).fuses(plateau)
    assert told == ["one seed after another (fusion was turned off)",
                    "one seed after another (the plateau schedule follows each seed's own "
                    "validation loss)"]


def test_an_ablation_fuses_by_default_and_runs_that_cannot_keep_the_engines_placement():
    told: list[str] = []
    objective = KerasObjective(on_group=lambda c, how: told.append(how))
    assert objective.fuses([CONFIG.replace(seed=s) for s in (5, 6)]) and told == []
    assert objective.execution.data == "auto"  # runs trained alone: as in a search


def test_a_group_that_does_not_fit_in_memory_trains_its_seeds_one_by_one(tmp_path, monkeypatch):
    import search.ablation.objective as objective_module

    from conftest import out_of_memory_when_fused

    asked: list[list[int]] = []
    told: list[str] = []
    monkeypatch.setattr(objective_module, "train_fused", out_of_memory_when_fused(
        objective_module.train_fused, asked,
        RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate")))
    objective = KerasObjective(tmp_path, on_group=lambda configs, how: told.append(how))
    configs = [CONFIG.replace(seed=s) for s in (5, 6)]
    values = objective.train_group(configs)
    assert asked == [[5, 6], [5], [6]] and all(0.0 <= v <= 1.0 for v in values)
    assert told == ["fused: 2 seeds trained as one program on tensorflow",
                    "one seed after another (the fused program did not fit in memory)"]
    for config in configs:
        objective.forget(config.digest())
    assert not any(tmp_path.iterdir())  # the group's and the seeds' checkpoints are gone
