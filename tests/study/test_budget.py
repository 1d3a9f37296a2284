"""A search bounded by time: warm-start configs first, trials stopped at the deadline, the
KerasTuner engines on the same training path and clock, and progress lines in a log."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import optuna
import pytest
import yaml

from conftest import REPO, write
from search.study.budget import set_study_budget
from search.errors import SearchError
from search.space.space import Space, load_space
from search.space.warm_start import space_warm_start, warm_start_trials
from search.knobs import Bool, Choice, Float, Int


def search(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "search", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


SPACE = Space.of({
    "conv": {"depth": Int(1, 3), "filters": Choice(8, 16, 32)},
    "bn": {"enabled": Bool()},
    "dropout": {"enabled": Bool(), "conv_rate": Float(0.0, 0.5)},
    "optimizer": {"learning_rate": Float(1e-4, 1e-2, log=True)},
    "training": {"epochs": 3},
})


def test_a_warm_start_is_the_model_it_describes_with_every_other_knob_at_baseline():
    trials, notes = warm_start_trials(SPACE, [("mine", {"conv": {"depth": 2, "filters": [16, 32]},
                                                        "dropout": {"enabled": True,
                                                                    "conv_rate": 0.25}})])
    assert trials == [{"source": "mine", "params": {
        "conv.depth": 2, "conv.filters.0": 16, "conv.filters.1": 32, "bn.enabled": False,
        "dropout.enabled": True, "dropout.conv_rate": 0.25, "optimizer.learning_rate": 1e-3}}]
    assert notes == []


def test_a_warm_start_outside_the_space_names_the_source_key_and_what_is_allowed():
    with pytest.raises(SearchError) as error:
        warm_start_trials(SPACE, [("best.yaml", {"conv": {"depth": 5, "filters": [64]}}),
                                  ("other.yaml", {"convs": {"depth": 1}})])
    text = error.value.render()
    assert "best.yaml: 'conv.depth' is 5; this space allows an int in [1, 3]" in text
    assert "best.yaml: 'conv.filters.0' is 64; this space allows one of 8, 16, 32" in text
    assert "other.yaml: unknown component 'params.convs'" in text


def test_a_knob_the_space_fixes_keeps_its_value_and_a_note_says_so():
    _, notes = warm_start_trials(SPACE, [("mine", {"training": {"epochs": 10}})])
    assert notes == ["mine: 'training.epochs' is fixed at 3 in this space; the warm start's 10 "
                     "is not used."]


def test_a_space_file_with_a_malformed_warm_start_is_refused(tmp_path):
    space = load_space(write(tmp_path, "s.py", "SPACE = {}\nWARM_START = {'conv': {}}\n"))
    with pytest.raises(SearchError, match="s.py: WARM_START must be a list of partial configs"):
        space_warm_start(space, space.warm_start)


def test_the_default_space_warm_starts_with_our_users_hand_made_models():
    space = load_space(REPO / "spaces" / "cnn.py")
    trials, notes = warm_start_trials(space, space_warm_start(space, space.warm_start))
    assert [t["params"]["conv.depth"] for t in trials] == [2, 2, 3] and not notes
    assert trials[0]["params"]["bn.enabled"] and not trials[0]["params"]["rotation.enabled"]


def test_a_timeout_alone_sets_no_trial_cap_and_no_budget_at_all_keeps_twenty():
    study = optuna.create_study()
    assert set_study_budget(study, None, 60).trials is None
    assert set_study_budget(optuna.create_study(), None, None).trials == 20
    assert set_study_budget(optuna.create_study(), 7, 60).trials == 7
    # the grid sampler repeats points once its grid is done: it keeps the cap
    assert set_study_budget(optuna.create_study(), None, 60, uncapped=False).trials == 20


@pytest.mark.slow
def test_warm_start_files_run_first_then_the_sampler_and_a_log_shows_every_epoch(
        tmp_path, tiny_space_file):
    write(tmp_path, "mine.yaml", "params:\n  conv: {depth: 2, filters: [16, 8]}\n"
          "  optimizer: {learning_rate: 0.005}\n")
    out = search("run", str(tiny_space_file), "--study", "w", "--trials", "3", "--warm-start",
                 "mine.yaml", "--pruner", "none", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    trials = optuna.load_study(study_name="w", storage="sqlite:///" + str(
        tmp_path / "studies/w/study.db")).trials
    assert trials[0].params == {"conv.depth": 2, "conv.filters.0": 16, "conv.filters.1": 8,
                                "bn.enabled": False, "head.layers": 1,
                                "optimizer.learning_rate": 0.005}
    assert trials[0].user_attrs["warm_start"] == "mine.yaml"
    assert "warm_start" not in trials[1].user_attrs
    for number in range(3):  # not a terminal: one line per epoch, with the best so far and ETA
        assert f"trial {number} epoch 2/2: val_accuracy" in out.stdout
    assert "s/epoch, ETA" in out.stdout


LONG = ("SPACE = {'conv': {'depth': 1, 'filters': 8}, 'head': {'layers': 0}, "
        "'training': {'epochs': 1000, 'batch_size': 32}}\nDATA = {'name': 'digits'}\n")


def study_trials(tmp_path, name):
    return optuna.load_study(study_name=name, storage="sqlite:///" + str(
        tmp_path / "studies" / name / "study.db")).trials


@pytest.mark.slow
def test_a_warm_start_running_at_the_deadline_stops_there_and_keeps_its_epochs(tmp_path):
    space = write(tmp_path, "s.py", LONG)
    write(tmp_path, "mine.yaml", "params:\n  conv: {depth: 1, filters: [8]}\n")
    started = time.time()
    out = search("run", str(space), "--study", "d", "--timeout", "8s", "--pruner", "none",
                 "--warm-start", "mine.yaml", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    trial = study_trials(tmp_path, "d")[0]
    assert trial.state.name == "COMPLETE" and trial.user_attrs["warm_start"] == "mine.yaml"
    assert 1 <= trial.user_attrs["stopped_at_deadline"] == len(trial.user_attrs["history"]) < 1000
    assert time.time() - started < 120  # 1000 epochs would take minutes


@pytest.mark.slow
def test_a_sampled_trial_too_costly_for_the_budget_is_cut_within_its_first_epoch_apart(tmp_path):
    out = search("run", str(write(tmp_path, "s.py", LONG)), "--study", "c", "--timeout", "10s",
                 "--trials", "1", "--pruner", "none", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    trial = study_trials(tmp_path, "c")[0]  # FAIL, so no sampler learns it as a bad score
    assert trial.state.name == "FAIL" and len(trial.user_attrs.get("history", [])) <= 1
    assert re.match(r"too costly for the search's budget: epochs [12]-1000 projected at",
                    trial.user_attrs["cost_cut"])
    assert "fail_reason" not in trial.user_attrs and "CUT FOR COST" in out.stdout


@pytest.mark.slow
def test_a_resumed_study_runs_a_new_warm_start_once_and_never_repeats_one(
        tmp_path, tiny_space_file):
    write(tmp_path, "a.yaml", "params:\n  conv: {depth: 1, filters: [16]}\n")
    write(tmp_path, "b.yaml", "params:\n  conv: {depth: 2, filters: [8, 8]}\n")
    first = search("run", str(tiny_space_file), "--study", "r", "--trials", "2", "--warm-start",
                   "a.yaml", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    again = search("run", str(tiny_space_file), "--study", "r", "--trials", "4", "--warm-start",
                   "b.yaml", "--warm-start", "a.yaml", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    sources = [t.user_attrs.get("warm_start") for t in study_trials(tmp_path, "r")]
    assert sources == ["a.yaml", None, "b.yaml", None]


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["keras-tuner", "keras-tuner-bayesian"])
def test_keras_tuner_engines_honour_the_timeout_and_train_through_the_same_path(
        tmp_path, tiny_space_file, engine):
    out = search("run", str(tiny_space_file), "--engine", engine, "--study", "kt",
                 "--timeout", "10s", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    best = yaml.safe_load((tmp_path / "studies/kt/best.yaml").read_text())
    assert best["result"]["engine"] == "keras-tuner" and best["result"]["val_accuracy"] > 0.2
    assert "epoch 1/2: val_accuracy" in out.stdout  # our progress lines, from train()
    # best.yaml's best epoch is the epoch of the trial's best score (refit trains that many)
    trial = int(best["result"]["trial"])
    scores = {int(m.group(1)): float(m.group(2)) for m in re.finditer(
        rf"^trial {trial} epoch (\d+)/\d+: val_accuracy ([0-9.]+)", out.stdout, re.M)}
    assert best["result"]["best_epoch"] == max(scores, key=lambda e: (scores[e], -e))
    out = search("run", str(tiny_space_file), "--engine", engine, "--study", "big",
                 "--trials", "2", "--max-params", "10", cwd=tmp_path)
    assert out.returncode == 2 and "network too large" in out.stdout
    assert "KerasTuner finished no trial successfully" in out.stderr
    assert "Traceback" not in out.stdout + out.stderr


def test_a_warm_start_knob_this_space_leaves_inactive_is_refused_not_ignored():
    with pytest.raises(SearchError) as error:
        warm_start_trials(SPACE, [("mine", {"dropout": {"enabled": False, "conv_rate": 0.3}}),
                                  ("other", {"optimizer": {"momentum": 0.5}})])
    text = " ".join(error.value.render().split())
    assert "mine: 'dropout.conv_rate' has no effect: it applies only when " \
           "dropout.enabled in [True], and dropout.enabled is False; remove it from the entry." in text
    assert "other: 'optimizer.momentum' has no effect" in text


def test_a_warm_start_knob_left_inactive_by_a_switch_the_space_fixes_gets_a_note():
    """The space wins over the entry's switch, as for any knob it fixes: e.g. a best.yaml
    with dropout on, warm-starting a space that fixes dropout off."""
    space = Space.of({"dropout": {"enabled": False}, "optimizer": {"name": "adam"},
                      "training": {"epochs": 3}})
    trials, notes = warm_start_trials(space, [("best.yaml", {
        "dropout": {"enabled": True, "conv_rate": 0.2},
        "optimizer": {"name": "sgd", "momentum": 0.9}})])
    assert len(trials) == 1
    assert "best.yaml: 'dropout.conv_rate' is not used in this space: it applies only when " \
           "dropout.enabled in [True], and dropout.enabled is False." in notes
    assert "best.yaml: 'optimizer.momentum' is not used in this space: it applies only when " \
           "optimizer.name in ['sgd', 'rmsprop'], and optimizer.name is 'adam'." in notes
