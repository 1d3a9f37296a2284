"""search/commands/{space,run,status,export,worker}.py: the space table, `status` and `export` on a study built here (no
training), options the KerasTuner engine cannot honour refused before anything runs, and the
worker plan made from the flags."""

from __future__ import annotations

import csv

import optuna
import pytest
from optuna.distributions import IntDistribution
from rich.console import Console

from search.commands.cli import build_parser
from search.commands.export import export
from search.commands.run import run
from search.commands.space import space_table
from search.commands.status import status
from search.commands.worker import worker_plan
from search.data.dataset import DataSpec
from search.errors import SearchError
from search.knobs import Bool, Int
from search.space.config import Config
from search.space.space import Space
from search.study.lifecycle import default_storage, make_storage
from search.yaml_files import read_yaml


def args(*argv):
    return build_parser().parse_args([str(a) for a in argv])


def text_of(renderable) -> str:
    console = Console(record=True, width=250)
    console.print(renderable)
    return console.export_text()


def make_study(root) -> optuna.Study:
    storage = make_storage(default_storage("s", root))
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    study.set_user_attr("keras_backend", "tensorflow")
    for depth, value in ((1, 0.81), (2, 0.93)):
        config = Config({"conv": {"depth": depth, "filters": [8] * depth}}, DataSpec(name="digits"))
        study.add_trial(optuna.trial.create_trial(
            params={"conv.depth": depth}, distributions={"conv.depth": IntDistribution(1, 2)},
            value=value, user_attrs={"config": config.to_dict(), "best_epoch": 2,
                                     "history": [{"val_accuracy": value}] * 3,
                                     "params_count": 1000 * depth, "seconds_per_epoch": 0.5}))
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.PRUNED))
    return study


def test_the_space_table_lists_every_knob_and_marks_the_searched_ones():
    space = Space.of({"conv": {"depth": Int(1, 3)}, "bn": {"enabled": Bool()},
                      "training": {"epochs": 2}})
    text = text_of(space_table(space))
    assert f"<memory>: 2 searched knobs (digest {space.digest()})" in text
    depth = next(line for line in text.splitlines() if "│ depth " in line)
    assert "yes" in depth and "number of conv blocks" in depth
    momentum = next(line for line in text.splitlines() if "│ momentum " in line)
    assert "enabled in [True]" in momentum  # active only when bn is on
    epochs = next(line for line in text.splitlines() if "│ epochs " in line)
    assert "yes" not in epochs  # fixed


def test_status_shows_the_trials_and_the_best(tmp_path):
    make_study(tmp_path)
    console = Console(record=True, width=250)
    assert status(args("status", "s", "--studies-dir", tmp_path), console) == 0
    text = console.export_text()
    assert "study 's'" in text and "COMPLETE" in text and "PRUNED" in text
    assert "best val_accuracy 0.9300 (trial 1, epoch 2): conv.depth=2" in text


def test_export_writes_the_top_configs_best_first_and_every_trial(tmp_path):
    make_study(tmp_path)
    out = tmp_path / "export"
    assert export(args("export", "s", "--studies-dir", tmp_path, "--top", "1", "--out", out),
                  Console(record=True)) == 0
    assert sorted(p.name for p in out.iterdir()) == ["top01-trial1.yaml", "trials.csv"]
    best = read_yaml(out / "top01-trial1.yaml")
    assert best["params"]["conv"]["depth"] == 2 and best["result"]["val_accuracy"] == 0.93
    assert best["result"]["epochs_trained"] == 3 and best["study"] == "s"
    with open(out / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["state"] for r in rows] == ["COMPLETE", "COMPLETE", "PRUNED"]


@pytest.mark.parametrize("extra, refused", [
    (["--sampler", "tpe"], "--sampler"), (["--processes", "2"], "--processes"),
    (["--tensorboard"], "--tensorboard"),
])
def test_the_keras_tuner_engine_refuses_the_optuna_options(tmp_path, tiny_space_file, extra,
                                                           refused):
    with pytest.raises(SearchError, match=f"does not take {refused}"):
        run(args("run", tiny_space_file, "--engine", "keras-tuner", "--studies-dir", tmp_path,
                 *extra), Console(record=True))
    assert not (tmp_path / "tiny").exists()


def test_the_worker_plan_carries_the_flags_each_worker_needs(tmp_path):
    parsed = args("worker", "s", "--processes", "2", "--gpus", "0,1", "--jit", "off",
                  "--studies-dir", tmp_path)
    plan = worker_plan(parsed, "s", default_storage("s", tmp_path), 8, 60.0)
    assert plan.total == 4 and plan.devices() == ["0", "1"]
    assert plan.command()[1:] == [  # flags not given (--steps-per-execution) are left out
        "-m", "search", "worker", "s", "--studies-dir", str(tmp_path), "--trials", "8",
        "--timeout", "60.0", "--max-failures", "5", "--jit", "off"]
