"""search/study/trial.py: trial seeds, the epoch a checkpoint holds, and one trial asked,
trained on scikit-learn digits (one epoch) and told, with every way it ends recorded on it:
complete, pruned as impossible or too large, and a retry keeping its original's seed."""

from __future__ import annotations

import contextlib
import json

import optuna
import pytest
from optuna.trial import TrialState

from search.data.dataset import DataSpec
from search.space.space import Space
from search.study.lifecycle import make_storage
from search.study.retries import DISCARDED_CHECKPOINT, is_restart_attempt, requeue_trial
from search.study.checkpoint import checkpoint_epoch
from search.study.storage_retry import StorageUnavailable
from search.study.trial import Objective, run_trial, trial_seed

ONE_EPOCH = {"conv": {"depth": 1, "filters": 8}, "head": {"layers": 0},
             "training": {"batch_size": 64, "epochs": 1}}


def test_a_trial_seed_is_stable_and_differs_by_study_seed_and_number():
    seed = trial_seed("cnn", 0, 3)
    assert seed == trial_seed("cnn", 0, 3) and 0 <= seed < 2**31
    others = {trial_seed("cnn", 1, 3), trial_seed("cnn", 0, 4), trial_seed("mlp", 0, 3)}
    assert len(others | {seed}) == 4


def test_the_epoch_a_checkpoint_holds_comes_from_its_metadata_or_the_backup(tmp_path):
    assert checkpoint_epoch(tmp_path) is None
    (tmp_path / "training_metadata.json.bkp").write_text(json.dumps({"epoch": 2}))
    assert checkpoint_epoch(tmp_path) == 2  # the copy Keras keeps mid-write
    (tmp_path / "training_metadata.json").write_text('{"epo')  # cut short by a kill
    assert checkpoint_epoch(tmp_path) == 2
    (tmp_path / "training_metadata.json").write_text(json.dumps({"epoch": 3}))
    assert checkpoint_epoch(tmp_path) == 3


def new_study(tmp_path) -> optuna.Study:
    return optuna.create_study(study_name="t", direction="maximize",
                               storage=make_storage(f"sqlite:///{tmp_path / 'study.db'}"))


def objective(tmp_path, space: dict, **kw) -> Objective:
    return Objective(Space.of(space), DataSpec(name="digits"), study_seed=1,
                     checkpoint_root=tmp_path / "checkpoints", **kw)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_trained_trial_is_recorded_and_its_checkpoint_removed(tmp_path):
    study, seen = new_study(tmp_path), []
    frozen = run_trial(study, objective(tmp_path, ONE_EPOCH), [lambda s, t: seen.append(t.number)])
    assert frozen.state == TrialState.COMPLETE and 0 <= frozen.value <= 1 and seen == [0]
    attrs = frozen.user_attrs
    assert attrs["config"]["seed"] == trial_seed("t", 1, 0)
    assert attrs["config"]["params"]["conv"]["depth"] == 1
    assert len(attrs["history"]) == 1 and attrs["best_epoch"] == 1
    assert attrs["params_count"] > 0 and attrs["seconds_per_epoch"] > 0
    assert list(frozen.intermediate_values) == [1]  # reported after epoch 1, for the pruner
    assert abs(frozen.intermediate_values[1] - frozen.value) < 1e-5
    assert not (tmp_path / "checkpoints" / "trial-0").exists()


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
@pytest.mark.parametrize("conv, max_params, reason", [
    ({"depth": 5, "filters": 8, "pooling": "max"}, 5_000_000, "impossible network: block 4"),
    ({"depth": 1, "filters": 8}, 10, "network too large: "),
])
def test_a_network_that_cannot_train_here_is_pruned_with_its_reason(tmp_path, conv, max_params,
                                                                    reason):
    space = {**ONE_EPOCH, "conv": conv}
    frozen = run_trial(new_study(tmp_path), objective(tmp_path, space, max_params=max_params))
    assert frozen.state == TrialState.PRUNED
    assert frozen.user_attrs["prune_reason"].startswith(reason)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_retry_keeps_the_seed_and_checkpoint_folder_of_the_trial_it_retries(tmp_path):
    study = new_study(tmp_path)
    first = study.ask()
    trial_objective = objective(tmp_path, ONE_EPOCH)
    original = trial_objective.config_for(first)
    requeue_trial(study, study.trials[0], reason="worker killed")
    retry = study.ask()  # the WAITING retry
    assert retry.number == 1
    assert trial_objective.config_for(retry).seed == original.seed == trial_seed("t", 1, 0)
    assert trial_objective.checkpoint_dir(retry) == tmp_path / "checkpoints" / "trial-0"


class _AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study, trial) -> bool:
        return True


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_the_epoch_a_trial_is_pruned_on_is_shown_before_it_ends(tmp_path):
    from rich.console import Console

    from search.study.progress import EpochLines

    console = Console(record=True, width=200, force_terminal=False)
    study = optuna.create_study(study_name="t", direction="maximize", pruner=_AlwaysPrune(),
                                storage=make_storage(f"sqlite:///{tmp_path / 'study.db'}"))
    shown = objective(tmp_path, {**ONE_EPOCH, "training": {"batch_size": 64, "epochs": 2}},
                      extra_callbacks=lambda trial, config: [EpochLines(console, "trial 0")])
    frozen = run_trial(study, shown)
    assert frozen.state == TrialState.PRUNED and list(frozen.intermediate_values) == [1]
    assert console.export_text().startswith("trial 0 epoch 1/2: val_accuracy")


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_retry_whose_checkpoint_does_not_load_trains_from_epoch_1_again(tmp_path, monkeypatch):
    import keras

    from search.data.dataset import load_dataset
    from search.model import network
    from search.model.training import train
    from search.study.progress import trial_line
    from search.study.stop_signal import backup_and_restore

    space = {**ONE_EPOCH, "bn": {"enabled": True},
             "training": {"batch_size": 64, "epochs": 2}}
    study, trial_objective = new_study(tmp_path), objective(tmp_path, space)
    first = study.ask()
    folder = trial_objective.checkpoint_dir(first)
    # one epoch checkpointed by the layout before batch norm's statistics were corrected:
    # Keras' own layer, one variable fewer than the engine's
    with monkeypatch.context() as patch:
        patch.setattr(network, "DebiasedBatchNormalization", keras.layers.BatchNormalization)
        train(trial_objective.config_for(first), load_dataset(DataSpec(name="digits")),
              callbacks=[backup_and_restore(str(folder))], stop_after=1)
    assert checkpoint_epoch(folder) == 1

    def storage_away(reason: str) -> None:
        raise StorageUnavailable("noting the unreadable checkpoint failed")
    with pytest.raises(StorageUnavailable):  # the note cannot be written: the files stay
        train(trial_objective.config_for(first), load_dataset(DataSpec(name="digits")),
              callbacks=[backup_and_restore(str(folder), storage_away)])
    assert checkpoint_epoch(folder) == 1
    first.set_user_attr("history", [{"val_accuracy": 0.123}])
    first.report(0.123, step=1)  # the old layout's score, which must not judge the new model
    requeue_trial(study, study.trials[0], reason="worker killed")

    held = []

    @contextlib.contextmanager
    def budget_lock():  # the retry is queued and the attempt ended while the lock is held
        held.append(len(study.trials))
        yield
        held.append(study.trials[1].state)
    attempt = run_trial(study, trial_objective, lock=budget_lock)  # its checkpoint does not load
    assert held == [2, TrialState.FAIL] and len(study.trials) == 3
    assert attempt.state == TrialState.FAIL and attempt.intermediate_values == {1: 0.123}
    assert "checkpoint did not load" in attempt.user_attrs["restart_reason"]
    assert attempt.user_attrs[DISCARDED_CHECKPOINT] == attempt.user_attrs["restart_reason"]
    assert "STARTS OVER[/] its checkpoint did not load" in trial_line(study, attempt)  # as shown
    assert not folder.exists()
    retry = run_trial(study, trial_objective)  # the clean retry: nothing of it inherited
    assert retry.state == TrialState.COMPLETE, retry.user_attrs.get("fail_reason")
    assert retry.number == 2 and retry.user_attrs["config"]["seed"] == trial_seed("t", 1, 0)
    assert "checkpoint did not load" in retry.user_attrs["restart_reason"]  # says why
    assert "resumed_from_epoch" not in retry.user_attrs and DISCARDED_CHECKPOINT not in retry.user_attrs
    history = retry.user_attrs["history"]
    assert len(history) == 2 and retry.intermediate_values[1] == pytest.approx(
        history[0]["val_accuracy"], abs=1e-5) != 0.123
    # the model a first attempt trains, from its first weights
    fresh = run_trial(new_study(tmp_path / "fresh"), objective(tmp_path / "fresh", space))
    assert fresh.user_attrs["config"]["seed"] == retry.user_attrs["config"]["seed"]
    assert history[0]["loss"] == pytest.approx(fresh.user_attrs["history"][0]["loss"], rel=1e-3)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_restart_removes_the_files_before_its_retry_is_queued_and_survives_the_storage_going(
        tmp_path, monkeypatch):
    from search.study import retries
    from search.study.optuna_internals import get_trial

    study, trial_objective = new_study(tmp_path), objective(tmp_path, ONE_EPOCH)
    first = study.ask()
    first.set_user_attr(DISCARDED_CHECKPOINT, "its checkpoint did not load (...)")
    folder = trial_objective.checkpoint_dir(first)
    folder.mkdir(parents=True)
    (folder / "latest.weights.h5").write_text("an older layout")
    requeue_trial(study, study.trials[0], reason="its worker was killed mid-trial")
    seen = []

    def storage_goes(*args):  # the storage goes away once the clean retry is queued
        seen.append((folder.exists(), len(study.trials)))
        raise StorageUnavailable("ending the trial failed")
    with monkeypatch.context() as patch:
        patch.setattr(retries, "fail_trial", storage_goes)
        with pytest.raises(StorageUnavailable):
            run_trial(study, trial_objective)
    assert seen == [(False, 3)]  # the files were gone before the retry was queued
    attempt = study.trials[1]
    assert attempt.state == TrialState.RUNNING and trial_objective.interrupted == attempt._trial_id
    requeue_trial(study, get_trial(study, attempt._trial_id))  # the runner, storage back
    assert [t.state for t in study.trials[1:]] == [TrialState.FAIL, TrialState.WAITING]
    assert is_restart_attempt(study.trials[1])
    assert DISCARDED_CHECKPOINT not in study.trials[2].user_attrs  # the clean retry, once


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_an_attempt_that_noted_its_checkpoint_unreadable_starts_over_however_it_is_retried(
        tmp_path):
    space = {**ONE_EPOCH, "training": {"batch_size": 64, "epochs": 2}}
    study, trial_objective = new_study(tmp_path), objective(tmp_path, space)
    first = study.ask()
    first.set_user_attr("history", [{"val_accuracy": 0.123}])
    first.report(0.123, step=1)  # the old model's score
    first.set_user_attr(DISCARDED_CHECKPOINT, "its checkpoint did not load (...)")
    # killed after the note, before its tell: re-queued the ordinary way, inheriting it all
    requeue_trial(study, study.trials[0], reason="its worker was killed mid-trial")
    attempt = run_trial(study, trial_objective)
    assert is_restart_attempt(attempt) and "seconds_per_epoch" not in attempt.user_attrs
    assert attempt.user_attrs["restart_reason"] == "its checkpoint did not load (...)"
    retry = run_trial(study, trial_objective)  # the clean retry: trained, judged on its own
    assert retry.state == TrialState.COMPLETE and DISCARDED_CHECKPOINT not in retry.user_attrs
    assert retry.intermediate_values[1] == pytest.approx(
        retry.user_attrs["history"][0]["val_accuracy"], abs=1e-5) != 0.123
