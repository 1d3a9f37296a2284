from __future__ import annotations

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState
from rich.console import Console

import search.study.trial as trial_module
from search.space.config import Config
from search.data.dataset import DataSpec, load_dataset
from search.errors import SearchError
from search.study.runner import RunOptions, run_study
from search.space.space import load_space
from search.study.lifecycle import StudySettings, default_storage, redact

QUIET = Console(file=open("/dev/null", "w"))


def settings_for(tmp_path, space_file, **kw) -> StudySettings:
    space = load_space(space_file)
    return StudySettings(name="t", space=space, data=DataSpec(name="digits"),
                         storage=default_storage("t", tmp_path), root=tmp_path, **kw)


@pytest.mark.slow
def test_run_resume_and_best_yaml(tmp_path, tiny_space_file):
    settings = settings_for(tmp_path, tiny_space_file, pruner="none")
    study = run_study(settings, RunOptions(trials=3), QUIET)
    assert len(study.trials) == 3
    best = Config.from_yaml(tmp_path / "t" / "best.yaml")
    assert best[1]["trial"] == study.best_trial.number
    assert best[1]["val_accuracy"] == pytest.approx(study.best_value)
    attrs = study.best_trial.user_attrs
    assert {"config", "history", "params_count", "seconds_per_epoch", "best_epoch"} <= set(attrs)
    assert len(attrs["history"]) == 2

    again = run_study(settings, RunOptions(trials=5), QUIET)  # same command, bigger budget
    assert len(again.trials) == 5
    assert [t.value for t in again.trials[:3]] == [t.value for t in study.trials[:3]]
    assert run_study(settings, RunOptions(trials=5), QUIET).trials.__len__() == 5  # nothing more


def test_resume_with_changed_space_is_refused_with_the_difference(tmp_path, tiny_space_file):
    settings = settings_for(tmp_path, tiny_space_file, pruner="none")
    run_study(settings, RunOptions(trials=1), QUIET)
    changed = settings_for(tmp_path, tiny_space_file, pruner="none")
    changed.space = changed.space.with_fixed({"training.epochs": 5})
    with pytest.raises(SearchError) as info:
        run_study(changed, RunOptions(trials=2), QUIET)
    assert "space 'training.epochs': stored fixed 2, now fixed 5" in str(info.value)


@pytest.mark.slow
def test_impossible_networks_are_pruned_with_reason_and_study_goes_on(tmp_path):
    space_file = tmp_path / "deep.py"
    space_file.write_text("from search.knobs import Int\nSPACE = {'conv': {'depth': Int(3, 5), "
                          "'filters': 8, 'padding': 'valid'}, 'training': {'epochs': 1}}\n")
    settings = settings_for(tmp_path, space_file, pruner="none", sampler="random")
    study = run_study(settings, RunOptions(trials=4), QUIET)
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert pruned and all("block" in t.user_attrs["prune_reason"] for t in pruned)
    assert len(study.trials) == 4


@pytest.mark.slow
def test_failed_trials_record_reason_and_guard_stops_the_run(tmp_path, tiny_space_file, monkeypatch):
    data = load_dataset(DataSpec(name="digits"))
    x = data.x_train.copy()
    x[::5] = np.inf
    broken = type(data)(data.spec, x, data.y_train, data.x_val, data.y_val, data.class_names,
                        *data.test())
    monkeypatch.setattr(trial_module, "load_dataset", lambda spec: broken)
    settings = settings_for(tmp_path, tiny_space_file, pruner="none")
    with pytest.raises(SearchError, match="stopped after 2 consecutive failed trials"):
        run_study(settings, RunOptions(trials=5, max_failures=2), QUIET)
    study = optuna.load_study(study_name="t", storage=settings.storage.secret())
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert len(failed) == 2
    assert failed[0].user_attrs["fail_reason"].startswith("diverged: loss became nan")


@pytest.mark.slow
def test_too_large_networks_are_pruned(tmp_path, tiny_space_file):
    settings = settings_for(tmp_path, tiny_space_file, pruner="none", max_params=100)
    study = run_study(settings, RunOptions(trials=2), QUIET)
    assert all("network too large" in t.user_attrs["prune_reason"] for t in study.trials)


def test_passwords_are_redacted():
    assert redact("postgresql://me:s3cret@db:5432/x") == "postgresql://me:***@db:5432/x"


@pytest.mark.parametrize("sampler", ["random", "cmaes", "gp", "grid"])
@pytest.mark.slow
def test_every_sampler_runs(tmp_path, sampler):
    if sampler == "gp":
        pytest.importorskip("torch")
    space_file = tmp_path / "grid.py"
    space_file.write_text("from search.knobs import Choice, Float\nSPACE = {'conv': {'depth': 1, "
                          "'filters': Choice(4, 8)}, 'head': {'layers': 0}, 'optimizer': "
                          "{'learning_rate': Float(0.001, 0.01, step=0.003)}, 'training': "
                          "{'epochs': 1}}\n")
    settings = settings_for(tmp_path, space_file, pruner="none", sampler=sampler)
    study = run_study(settings, RunOptions(trials=2), QUIET)
    assert len(study.trials) == 2 and all(t.state == TrialState.COMPLETE for t in study.trials)


@pytest.mark.slow
def test_optuna_dashboard_reads_the_study(tmp_path, tiny_space_file):
    import json
    from wsgiref.util import setup_testing_defaults

    optuna_dashboard = pytest.importorskip("optuna_dashboard")
    from search.study.lifecycle import make_storage

    settings = settings_for(tmp_path, tiny_space_file, pruner="none")
    run_study(settings, RunOptions(trials=2), QUIET)
    app = optuna_dashboard.wsgi(make_storage(settings.storage))

    def get(path: str) -> dict:
        environ: dict = {}
        setup_testing_defaults(environ)
        environ.update(PATH_INFO=path, REQUEST_METHOD="GET")
        return json.loads(b"".join(app(environ, lambda status, headers, *rest: None)))

    summaries = get("/api/studies")["study_summaries"]
    assert [s["study_name"] for s in summaries] == ["t"]
    trials = get(f"/api/studies/{summaries[0]['study_id']}")["trials"]
    assert len(trials) == 2 and {t["state"] for t in trials} == {"Complete"}


@pytest.mark.parametrize("error, reason", [
    (MemoryError(), "out of memory: MemoryError"),
    (RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"), "out of memory: RuntimeError"),
    (RuntimeError("RESOURCE_EXHAUSTED: OOM when allocating tensor"), "out of memory: RuntimeError"),
    (ValueError("bad shape"), "error during training: ValueError: bad shape"),
])
def test_training_failures_are_classified(error, reason):
    from search.model.training import describe_failure

    assert describe_failure(error).startswith(reason)


class AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study, trial) -> bool:
        return True


@pytest.mark.parametrize("epochs, state", [(2, TrialState.PRUNED), (1, TrialState.COMPLETE)])
def test_a_trial_that_finished_its_last_epoch_is_never_pruned(epochs, state):
    from search.space.space import Space
    from search.study.trial import Objective

    space = Space.of({"conv": {"depth": 1, "filters": [8]}, "head": {"layers": 0},
                      "training": {"epochs": epochs}})
    study = optuna.create_study(direction="maximize", pruner=AlwaysPrune())
    study.optimize(Objective(space, DataSpec(name="digits")), n_trials=1)
    trial = study.trials[0]
    assert trial.state == state and len(trial.user_attrs["history"]) == 1
    assert ("prune_reason" in trial.user_attrs) == (state == TrialState.PRUNED)


@pytest.mark.slow
def test_processes_opening_a_new_database_at_once_all_succeed(tmp_path):
    """Each process creates the tables it finds missing; without the storage's lock all but
    one of six failed with "table studies already exists"."""
    import subprocess
    import sys
    import time

    script = ("import os, sys, time\nfrom search.study.lifecycle import make_storage\n"
              "open(sys.argv[2] + '.ready' + sys.argv[3], 'w').close()\n"
              "while not os.path.exists(sys.argv[2]): time.sleep(0.001)\n"
              "make_storage(sys.argv[1])\n")
    url, go = f"sqlite:///{tmp_path / 'new.db'}", str(tmp_path / "go")
    processes = [subprocess.Popen([sys.executable, "-c", script, url, go, str(i)], text=True,
                                  stderr=subprocess.PIPE) for i in range(6)]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("go.ready*"))) < 6:  # all imported: start them together
        assert time.monotonic() < deadline and all(p.poll() is None for p in processes)
        time.sleep(0.01)
    open(go, "w").close()
    errors = [p.communicate(timeout=120)[1] for p in processes]
    assert [p.returncode for p in processes] == [0] * 6, errors
