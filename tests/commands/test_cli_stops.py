"""Stopping the CLI as a user does (SIGTERM, Ctrl-C): the running trial or run is kept and
re-queued, and rerunning the same command resumes it."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys

import pytest

from conftest import write


def sigterm_when(process: subprocess.Popen, ready, timeout: float = 300) -> tuple[str, str]:
    """SIGTERM ``process`` once ``ready()`` holds; its output. Fails if the process ended or
    ``timeout`` passed first."""
    import signal
    import time

    deadline, held = time.monotonic() + timeout, False
    while not held and time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(Exception):  # nothing written yet
            held = bool(ready())
        time.sleep(0 if held else 0.2)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert held, f"the condition never held before the process ended or {timeout} s\n{err}"
    return out, err


@pytest.mark.slow
def test_sigterm_requeues_the_trial_and_the_rerun_resumes_it(tmp_path):
    import optuna

    from search.study.checkpoint import checkpoint_epoch

    space = write(tmp_path, "long.py", "SPACE = {'conv': {'depth': 1, 'filters': 8}, 'head': "
                  "{'layers': 0}, 'training': {'epochs': 25, 'batch_size': 16}}\n"
                  "DATA = {'name': 'digits'}\n")
    command = [sys.executable, "-m", "search", "run", str(space), "--study", "t", "--trials", "1",
               "--pruner", "none"]
    process = subprocess.Popen(command, cwd=tmp_path, text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    db = f"sqlite:///{tmp_path / 'studies/t/study.db'}"
    checkpoint = tmp_path / "studies/t/checkpoints/trial-0"  # (reading the database while the
    out, err = sigterm_when(process, lambda: (checkpoint_epoch(checkpoint) or 0) >= 2)  # run
    # creates it would race its table creation)
    assert process.returncode == 130, err
    assert "Rerun the same command to resume" in err and "Traceback" not in err
    first, retry = optuna.load_study(study_name="t", storage=db).trials
    assert first.state.name == "FAIL" and first.user_attrs["fail_reason"].startswith("interrupted")
    assert retry.state.name == "WAITING" and retry.system_attrs["retry_history"] == [0]
    assert (tmp_path / "studies/t/checkpoints/trial-0").is_dir()  # kept for the retry

    rerun = subprocess.run(command, cwd=tmp_path, text=True, capture_output=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    trials = optuna.load_study(study_name="t", storage=db).trials
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE"]  # the budget of 1 holds
    resumed = trials[1]
    assert resumed.user_attrs["resumed_from_epoch"] >= 2
    assert len(resumed.user_attrs["history"]) == 25 and "fail_reason" not in resumed.user_attrs
    assert not (tmp_path / "studies/t/checkpoints/trial-0").exists()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_sigterm_during_ablate_keeps_the_runs_checkpoint_and_the_rerun_resumes_it(tmp_path, backend):
    import glob
    import os
    from pathlib import Path

    import optuna

    from search.study.checkpoint import checkpoint_epoch

    model = "  conv: {depth: 1, filters: [8]}\n  head: {layers: 0}\n  training: {epochs: 12, batch_size: 16}\n"
    write(tmp_path, "ab.yaml", "study: ab\ndata: {name: digits}\nseeds: 2\npath_seeds: 1\n"
          "interactions: 0\nbaseline:\n" + model + "reference:\n" + model + "  bn: {enabled: true}\n")
    command = [sys.executable, "-m", "search", "ablate", "ab.yaml"]
    env = {**os.environ, "KERAS_BACKEND": backend}
    process = subprocess.Popen(command, cwd=tmp_path, text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env)
    checkpoints = str(tmp_path / "studies/ab/ablation/checkpoints/*")
    out, err = sigterm_when(process, lambda: any(  # a run's checkpoint holds 2 finished epochs
        (checkpoint_epoch(Path(folder)) or 0) >= 2 for folder in glob.glob(checkpoints)))
    assert process.returncode == 130, err
    assert "Rerun the same command to resume" in err and "Traceback" not in err
    db = f"sqlite:///{tmp_path / 'studies/ab/study.db'}"
    runs = optuna.load_study(study_name="ab.ablation", storage=db).trials
    # the two seeds of a variant train as one fused program: both are released, the rest done
    assert [r.state.name for r in runs[-2:]] == ["FAIL", "FAIL"]
    assert all(r.user_attrs["interrupted"] for r in runs[-2:])
    assert all(r.state.name == "COMPLETE" for r in runs[:-2])
    kept = [Path(folder) for folder in glob.glob(checkpoints)]  # the interrupted group's stays
    assert len(kept) == 1 and checkpoint_epoch(kept[0]) >= 2
    assert (kept[0] / "history.json").is_file()

    rerun = subprocess.run(command, cwd=tmp_path, text=True, capture_output=True, timeout=600,
                           env=env)
    assert rerun.returncode == 0, rerun.stderr
    resumed = re.search(r"resuming run \w+ \(seed \d+\) from its checkpoint at epoch (\d+)",
                        rerun.stdout)
    assert resumed and int(resumed.group(1)) >= 2, rerun.stdout
    said = " ".join(rerun.stdout.split())
    assert f"fused: 2 seeds trained as one program on {backend}" in said
    assert "jax.vmap" not in said  # no accelerator here: side by side on every backend
    runs = optuna.load_study(study_name="ab.ablation", storage=db).trials
    assert [r.state.name for r in runs].count("COMPLETE") == 4  # 2 variants x 2 seeds, once each
    assert not glob.glob(checkpoints)


def test_a_stop_that_python_swallowed_is_still_honoured(tmp_path, monkeypatch):
    """A KeyboardInterrupt raised while Python runs a weakref callback is printed as
    "Exception ignored" and lost; the stop flag still ends the trial at the next training
    step, re-queues it, and starts no other trial."""
    import keras
    import optuna
    from rich.console import Console

    from search.study import progress, runner, stop_signal
    from search.data.dataset import DataSpec
    from search.space.space import load_space
    from search.study.lifecycle import StudySettings, default_storage

    class SwallowedStop(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if not stop_signal.StopSignal.requested:
                try:
                    stop_signal.StopSignal.handler(15, None)
                except KeyboardInterrupt:  # what Python does with it inside a weakref callback
                    pass

    original = progress.LiveProgress.keras_callbacks
    monkeypatch.setattr(progress.LiveProgress, "keras_callbacks",
                        lambda self, label, params: original(self, label, params) + [SwallowedStop()])
    space = write(tmp_path, "s.py", "SPACE = {'conv': {'depth': 1, 'filters': 8}, 'head': "
                  "{'layers': 0}, 'training': {'epochs': 3, 'batch_size': 16}}\n")
    settings = StudySettings(name="w", space=load_space(space), data=DataSpec(name="digits"),
                             storage=default_storage("w", tmp_path / "studies"),
                             root=tmp_path / "studies", pruner="none")
    with pytest.raises(KeyboardInterrupt):
        runner.run_study(settings, runner.RunOptions(trials=3), Console(file=open("/dev/null", "w")))
    trials = optuna.load_study(study_name="w", storage=str(settings.storage)).trials
    assert [t.state.name for t in trials] == ["FAIL", "WAITING"]  # interrupted, re-queued
    assert trials[0].user_attrs["fail_reason"].startswith("interrupted")
