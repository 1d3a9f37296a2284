"""search/study/lifecycle.py: a study created with its provenance and resumed only with the
same setup, samplers and pruners by name, best.yaml content from a trial, and a RUNNING trial
ended and re-queued as a retry (no training)."""

from __future__ import annotations

import contextlib
import uuid

import optuna
import pytest
from optuna.distributions import IntDistribution
from optuna.trial import TrialState

from conftest import age_heartbeat, storage_for_kind
from search.data.dataset import DataSpec
from search.errors import SearchError
from search.space.config import Config
from search.knobs import Bool, Int
from search.space.space import Space, load_space
from search.study.lifecycle import (BestYamlWriter, StudySettings, best_yaml_content,
                                    default_storage, make_storage, open_study,
                                    recover_interrupted, requeue_trial, retry_stale_trials,
                                    study_dir)
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


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_running_trial_is_ended_with_its_reason_and_retried_with_its_params(storage_url):
    study = optuna.create_study(study_name=f"r{uuid.uuid4().hex[:8]}",
                                storage=make_storage(storage_url), direction="maximize")
    trial = study.ask({"conv.depth": IntDistribution(1, 3)})
    trial.set_user_attr("history", [{"val_accuracy": 0.5}])
    requeue_trial(study, study.trials[0], reason="its worker was killed")
    ended, retry = study.trials
    assert ended.state == TrialState.FAIL
    assert ended.user_attrs["fail_reason"] == "its worker was killed"
    assert retry.state == TrialState.WAITING and retry.params == ended.params
    assert retry.user_attrs["history"] == [{"val_accuracy": 0.5}]
    assert "fail_reason" not in retry.user_attrs
    assert retry.system_attrs["retry_history"] == [0]  # keeps the original's number
    requeue_trial(study, study.trials[0])  # a write retried after its commit: queued once
    assert len(study.trials) == 2
    study.tell(study.ask(), 0.7)  # the retry, told before the storage went away:
    requeue_trial(study, study.trials[1])  # nothing to re-queue
    assert len(study.trials) == 2 and study.trials[1].state == TrialState.COMPLETE


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_kill_between_the_retry_and_the_end_leaves_the_trial_running_with_its_retry(
        tmp_path, monkeypatch):
    from search.study import lifecycle

    study = optuna.create_study(storage=make_storage(f"sqlite:///{tmp_path / 's.db'}"),
                                direction="maximize")
    study.ask({"conv.depth": IntDistribution(1, 3)})

    def killed(*args):
        raise KeyboardInterrupt
    with monkeypatch.context() as patch:
        patch.setattr(lifecycle, "fail_trial", killed)
        with pytest.raises(KeyboardInterrupt):
            requeue_trial(study, study.trials[0], inherit_training=False)
    assert [t.state for t in study.trials] == [TrialState.RUNNING, TrialState.WAITING]
    assert recover_interrupted(study) == 1  # the next start only ends it: still one retry
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.WAITING]


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_stale_trial_is_retried_once_without_its_reason_and_not_if_its_worker_queued_one(
        tmp_path, monkeypatch):
    from search.study import lifecycle
    from search.study.optuna_internals import fail_trial

    storage = make_storage(f"sqlite:///{tmp_path / 's.db'}")
    study = optuna.create_study(storage=storage, direction="maximize")
    queued, bare = (study.ask({"conv.depth": IntDistribution(1, 3)}) for _ in range(2))
    bare.set_user_attr("fail_reason", "storage unavailable (...); re-queued")
    with monkeypatch.context() as patch:  # killed after queueing its retry, before its end
        patch.setattr(lifecycle, "fail_trial", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
        with pytest.raises(KeyboardInterrupt):
            requeue_trial(study, study.trials[0])
    bare.report(0.3, step=1)
    stale = storage.get_heartbeat_stale_trial_callback()
    for trial in study.trials[:2]:  # what Optuna does to a trial whose heartbeat stopped
        fail_trial(study, trial)
        stale(study, study.trials[trial.number])
    retries = [t.system_attrs["retry_history"] for t in study.trials[2:]]
    assert retries == [[0], [1]]  # one each
    assert "fail_reason" not in study.trials[3].user_attrs
    assert study.trials[3].intermediate_values == {1: 0.3}  # the scores its epochs reported
    worn = study.ask()  # the first retry, run
    study._storage.set_trial_system_attr(worn._trial_id, "retry_history", [0, 1, 2])
    fail_trial(study, study.trials[worn.number])
    stale(study, study.trials[worn.number])  # three retries behind it: not again
    assert len(study.trials) == 4


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_stale_trial_gets_its_retry_under_the_budgets_lock_before_it_ends(tmp_path, kind,
                                                                            monkeypatch):
    from search.study import lifecycle

    study = optuna.create_study(study_name=f"h{uuid.uuid4().hex[:8]}", direction="maximize",
                                storage=make_storage(storage_for_kind(kind, tmp_path)))
    stale, live = (study.ask({"conv.depth": IntDistribution(1, 3)}) for _ in range(2))
    stale.report(0.4, step=1)
    age_heartbeat(study, stale)
    study._storage.record_heartbeat(live._trial_id)
    events, real_lock, real_requeue = [], lifecycle.storage_lock, lifecycle.requeue_trial

    @contextlib.contextmanager
    def lock(name, url):
        with real_lock(name, url):
            events.append(f"lock {name}")
            try:
                yield
            finally:
                events.append("unlock")
    monkeypatch.setattr(lifecycle, "storage_lock", lock)
    monkeypatch.setattr(lifecycle, "requeue_trial",
                        lambda *a, **kw: events.append("requeue") or real_requeue(*a, **kw))
    with monkeypatch.context() as patch:  # the worker checking is killed before the end
        patch.setattr(lifecycle, "fail_trial", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
        with pytest.raises(KeyboardInterrupt):
            retry_stale_trials(study)
    assert [t.state for t in study.trials] == [TrialState.RUNNING] * 2 + [TrialState.WAITING]
    retry_stale_trials(study)  # the next check only ends it: still one retry
    ended, running, retry = study.trials
    assert (ended.state, running.state, retry.state) == (
        TrialState.FAIL, TrialState.RUNNING, TrialState.WAITING)
    assert ended.user_attrs["fail_reason"] == lifecycle.STALE_REASON
    assert "fail_reason" not in retry.user_attrs and retry.intermediate_values == {1: 0.4}
    assert retry.system_attrs["retry_history"] == [0]
    assert events == [f"lock {study.study_name}", "requeue", "unlock"] * 2
    retry_stale_trials(study)  # nothing stale left: no lock taken
    assert len(events) == 6


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_retry_that_trains_from_epoch_1_inherits_no_scores_and_no_verdicts(tmp_path):
    from search.study.subset_rung import RUNG_KEY

    study = optuna.create_study(storage=make_storage(f"sqlite:///{tmp_path / 's.db'}"),
                                direction="maximize", pruner=make_pruner("successive-halving", 9))
    trial = study.ask({"conv.depth": IntDistribution(1, 3)})
    trial.set_user_attr("history", [{"val_accuracy": 0.2}])
    trial.set_user_attr("resumed_from_epoch", 1)
    trial.report(0.2, step=1)
    trial.should_prune()  # successive halving records its verdict at rung 0 on the trial
    study._storage.set_trial_system_attr(trial._trial_id, RUNG_KEY, 0.1)
    assert any(k.startswith("completed_rung_") for k in study.trials[0].system_attrs)
    requeue_trial(study, study.trials[0], inherit_training=False)
    retry = study.trials[1]
    assert retry.params == study.trials[0].params and retry.intermediate_values == {}
    assert "history" not in retry.user_attrs and "resumed_from_epoch" not in retry.user_attrs
    assert not [k for k in retry.system_attrs if k.startswith("completed_rung_") or k == RUNG_KEY]
    assert retry.system_attrs["retry_history"] == [0]


def test_a_storage_no_backend_opens_is_refused(tmp_path):
    with pytest.raises(SearchError, match="is not supported"):
        make_storage(str(tmp_path / "study.txt"))
