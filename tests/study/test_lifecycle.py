"""search/study/lifecycle.py: a study created with its provenance and resumed only with the
same setup, samplers and pruners by name, best.yaml content from a trial, storages by URL."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import IntDistribution

from search.data.dataset import DataSpec
from search.errors import SearchError
from search.space.config import Config
from search.knobs import Bool, Int
from search.space.space import Space, load_space
from search.study.lifecycle import (BestYamlWriter, StudySettings, best_yaml_content,
                                    default_storage, make_storage, open_study, study_dir)
from search.study.algorithms import make_pruner, make_sampler
from search.yaml_files import read_yaml


def settings(tmp_path, space_file, **kw) -> StudySettings:
    return StudySettings(name="t", space=load_space(space_file), data=DataSpec(name="digits"),
                         storage=default_storage("t", tmp_path), root=tmp_path, **kw)


def test_a_studys_folder_and_default_storage():
    assert str(study_dir("cnn", "runs")) == "runs/cnn"
    assert default_storage("cnn", "runs").secret() == "sqlite:///runs/cnn/study.db"


def test_a_new_study_stores_its_provenance_and_resumes_only_with_the_same_setup(
        tmp_path, tiny_space_file):
    first = settings(tmp_path, tiny_space_file)
    study = open_study(first)
    attrs = study.user_attrs
    assert attrs["space_digest"] == first.space.digest() and attrs["seed"] == 0
    assert attrs["data"] == DataSpec(name="digits").to_dict() and attrs["metric"] == "val_accuracy"
    assert attrs["run_options"]["sampler"] == "tpe" and "SPACE" in attrs["space_text"]
    assert open_study(first)._study_id == study._study_id  # resumed
    with pytest.raises(SearchError) as caught:
        open_study(settings(tmp_path, tiny_space_file, seed=3))
    assert "created with a different setup" in str(caught.value)
    assert "seed: stored 0, now 3" in str(caught.value)


def test_samplers_and_pruners_are_made_by_name(tmp_path, tiny_space_file):
    space = load_space(tiny_space_file)
    assert isinstance(make_sampler("tpe", space, 1), optuna.samplers.TPESampler)
    assert isinstance(make_sampler("random", space, 1), optuna.samplers.RandomSampler)
    grid = Space.of({"conv": {"depth": Int(1, 2)}, "bn": {"enabled": Bool()}})
    assert isinstance(make_sampler("grid", grid, 1), optuna.samplers.GridSampler)
    hyperband = make_pruner("hyperband", 7)
    assert isinstance(hyperband, optuna.pruners.HyperbandPruner)
    assert hyperband._max_resource == 7
    assert isinstance(make_pruner("median", 7), optuna.pruners.MedianPruner)
    assert isinstance(make_pruner("none", 7), optuna.pruners.NopPruner)


def test_the_grid_sampler_refuses_a_continuous_knob_naming_the_file_once(tiny_space_file):
    with pytest.raises(SearchError) as caught:
        make_sampler("grid", load_space(tiny_space_file), 1)
    assert caught.value.problems == [
        f"{tiny_space_file}: 'optimizer.learning_rate' is float [0.001, 0.01] log, which has no "
        "finite grid; give it a step or use Choice(...) for --sampler grid."]


def completed(study: optuna.Study, value: float, depth: int) -> None:
    config = Config({"conv": {"depth": depth, "filters": [8] * depth}}, DataSpec(name="digits"), 5)
    study.add_trial(optuna.trial.create_trial(
        value=value, params={"conv.depth": depth},
        distributions={"conv.depth": IntDistribution(1, 3)},
        user_attrs={"config": config.to_dict(), "best_epoch": 2, "params_count": 99,
                    "history": [{}, {}], "seconds_per_epoch": 1.5}))


def test_best_yaml_holds_what_train_needs_and_is_rewritten_only_for_a_new_best(tmp_path):
    study = optuna.create_study(study_name="s", direction="maximize",
                                storage=optuna.storages.InMemoryStorage())
    study.set_user_attr("keras_backend", "jax")
    completed(study, 0.8, 2)
    content = best_yaml_content(study, study.trials[0])
    assert content["study"] == "s" and content["seed"] == 5
    assert content["params"]["conv"] == {"depth": 2, "filters": [8, 8]}
    assert content["result"] == {"trial": 0, "val_accuracy": 0.8, "best_epoch": 2,
                                 "epochs_trained": 2, "params_count": 99,
                                 "seconds_per_epoch": 1.5, "keras_backend": "jax"}
    writer = BestYamlWriter(tmp_path / "best.yaml")
    writer(study, study.trials[0])
    completed(study, 0.7, 3)
    writer(study, study.trials[1])  # not a new best: best.yaml keeps trial 0
    assert read_yaml(tmp_path / "best.yaml")["result"]["trial"] == 0
    completed(study, 0.9, 3)
    writer(study, study.trials[2])
    assert read_yaml(tmp_path / "best.yaml")["params"]["conv"]["depth"] == 3


def test_a_storage_no_backend_opens_is_refused(tmp_path):
    with pytest.raises(SearchError, match="is not supported"):
        make_storage(str(tmp_path / "study.txt"))
