"""search/study/runner.py: the most epochs a trial can train, the guard against consecutive
failures, warm-start planning notes, and a real run of one trial on scikit-learn digits (one
epoch) that stops at its trial budget."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState
from rich.console import Console

from conftest import write
from search.data.dataset import DataSpec
from search.knobs import Choice, Float, Int
from search.space.space import Space, load_space
from search.study.lifecycle import StudySettings, default_storage
from search.study.retries import DISCARDED_CHECKPOINT
from search.study.runner import (FailureGuard, RunOptions, checkpoint_root, max_epochs, plan_warm_start,
                                 run_study)
from search.yaml_files import read_yaml

ONE_EPOCH = '''
from search.knobs import Float
SPACE = {"conv": {"depth": 1, "filters": 8}, "head": {"layers": 0},
         "optimizer": {"learning_rate": Float(1e-3, 1e-2)},
         "training": {"batch_size": 64, "epochs": 1}}
DATA = {"name": "digits"}
'''


def settings(space: Space, root, **kw) -> StudySettings:
    return StudySettings(name="t", space=space, data=DataSpec(name="digits"),
                         storage=default_storage("t", root), root=root, **kw)


def test_max_epochs_is_the_most_any_trial_can_train(tmp_path):
    for knob, most in ((Int(2, 9), 9), (Choice(3, 12, 5), 12), (4, 4)):
        assert max_epochs(settings(Space.of({"training": {"epochs": knob}}), tmp_path)) == most
    assert max_epochs(settings(Space.of({"bn": {"enabled": True}}), tmp_path)) == 10  # baseline


def frozen(state: TrialState) -> optuna.trial.FrozenTrial:
    value = 0.5 if state == TrialState.COMPLETE else None
    return optuna.trial.create_trial(state=state, value=value)


def test_the_failure_guard_trips_only_on_consecutive_failures():
    guard = FailureGuard(2)
    for state in (TrialState.FAIL, TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED):
        guard(None, frozen(state))
    assert not guard.tripped and guard.streak == 0
    guard(None, frozen(TrialState.FAIL))
    guard(None, frozen(TrialState.FAIL))
    assert guard.tripped and guard.streak == 2
    never = FailureGuard(0)
    for _ in range(5):
        never(None, frozen(TrialState.FAIL))
    assert not never.tripped


def test_an_attempt_ended_by_an_unreadable_checkpoint_is_no_failure_of_the_space():
    guard = FailureGuard(2)
    why = "its checkpoint did not load (...); trained from epoch 1 again"
    restart = {"restart_reason": why, DISCARDED_CHECKPOINT: why}
    for _ in range(3):
        guard(None, optuna.trial.create_trial(state=TrialState.FAIL, user_attrs=restart))
    guard(None, optuna.trial.create_trial(state=TrialState.FAIL, user_attrs={  # retried the
        **restart, "fail_reason": "storage unavailable (...); re-queued"}))  # ordinary way
    assert guard.streak == 0
    guard(None, optuna.trial.create_trial(  # its clean retry failing is a failure again
        state=TrialState.FAIL, user_attrs={"restart_reason": why, "fail_reason": "out of memory"}))
    assert guard.streak == 1
    guard(None, optuna.trial.create_trial(state=TrialState.COMPLETE, value=0.5,
                                          user_attrs={"restart_reason": why}))  # trained: resets
    assert guard.streak == 0


def test_warm_starts_are_checked_and_the_user_told_what_will_not_run(tmp_path):
    space = Space.of({"conv": {"depth": Int(1, 3)}, "training": {"epochs": 2}}, path="s.py")
    entries = [("A", {"conv": {"depth": 2}, "training": {"epochs": 5}}),
               ("B", {"conv": {"depth": 3}})]
    console = Console(record=True, width=300)
    trials = plan_warm_start(settings(space, tmp_path), RunOptions(trials=1, warm_start=entries),
                             console)
    assert [t["params"] for t in trials] == [{"conv.depth": 2}, {"conv.depth": 3}]
    text = console.export_text()
    assert "note: A: 'training.epochs' is fixed at 2 in this space" in text
    assert "2 warm-start configs but --trials 1: the last 1 will not run" in text
    console = Console(record=True, width=300)
    grid = settings(space, tmp_path, sampler="grid")
    assert plan_warm_start(grid, RunOptions(warm_start=entries), console) == []
    assert "--sampler grid runs its grid only" in console.export_text()


def test_a_run_trains_its_budget_writes_best_yaml_and_a_rerun_has_nothing_left(tmp_path,
                                                                                monkeypatch):
    mark = tmp_path / "slurm" / "progress" / "7_1"  # as a sweep's task names it
    monkeypatch.setenv("SEARCH_PROGRESS_FILE", str(mark))
    space = load_space(write(tmp_path, "one.py", ONE_EPOCH))
    assert isinstance(space.knobs["optimizer"]["learning_rate"], Float)
    console = Console(record=True, width=300)
    run = settings(space, tmp_path, sampler="random")
    study = run_study(run, RunOptions(trials=1, owns_budget=True), console)
    [trial] = study.trials
    assert trial.state == TrialState.COMPLETE and 0 <= trial.value <= 1
    assert trial.user_attrs["best_epoch"] == 1 and len(trial.user_attrs["history"]) == 1
    assert study.user_attrs["budget"]["trials"] == 1
    assert study.user_attrs["last_run"]["trials"] == 1
    best = read_yaml(tmp_path / "t" / "best.yaml")
    assert best["result"]["trial"] == 0 and best["result"]["val_accuracy"] == trial.value
    assert not any((tmp_path / "t" / "checkpoints").glob("*"))  # removed once stored
    assert mark.is_file()  # the Slurm task sees progress: its epoch (and trial) ended
    console = Console(record=True, width=300)
    again = run_study(run, RunOptions(trials=1, owns_budget=True), console)
    assert len(again.trials) == 1
    assert "study 't' has 1 of its 1 trials; nothing left to run." in console.export_text()


def test_checkpoints_live_in_the_study_folder_unless_a_shared_folder_is_given(tmp_path):
    study = settings(Space.of({"conv": {"depth": 1}}), tmp_path)
    assert checkpoint_root(study, RunOptions()) == study.directory / "checkpoints"
    shared = RunOptions(checkpoint_dir=tmp_path / "shared")
    assert checkpoint_root(study, shared) == tmp_path / "shared" / study.name
