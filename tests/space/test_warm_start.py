"""search/space/warm_start.py: warm-start entries from a space file's WARM_START or a config
YAML, turned into the Optuna parameters of one trial each (searched knobs left out at their
baseline, fixed knobs noted), and a stored warm start checked when a worker reads it back."""

from __future__ import annotations

import re

import pytest

from conftest import write
from search.errors import SearchError
from search.knobs import Bool, Choice, Float, Int
from search.space.space import Space
from search.space.warm_start import (read_portfolio, read_warm_start, read_warm_start_file,
                                     space_warm_start,
                                     stored_warm_start_problems, warm_start_trials)

SPACE = Space.of({"conv": {"depth": Int(1, 3), "filters": Choice(16, 32)},
                  "bn": {"enabled": Bool()}, "training": {"epochs": 2}}, path="space.py")


def test_an_entry_becomes_one_trials_parameters_and_fixed_knobs_get_a_note():
    entry = {"conv": {"depth": 2, "filters": [32, 16]}, "training": {"epochs": 10}}
    trials, notes = warm_start_trials(SPACE, [("A", entry)])
    assert trials == [{"source": "A", "params": {"conv.depth": 2, "conv.filters.0": 32,
                                                 "conv.filters.1": 16, "bn.enabled": False}}]
    assert notes == ["A: 'training.epochs' is fixed at 2 in this space; the warm start's 10 is "
                     "not used."]


def test_entries_outside_the_space_are_refused_together_naming_source_and_key():
    with pytest.raises(SearchError) as caught:
        warm_start_trials(SPACE, [("A", {"conv": {"depth": 5}}), ("B", {"conv": {"filters": [8]}}),
                                  ("C", {"bnn": {"enabled": True}})])
    text = str(caught.value)
    assert "A: 'conv.depth' is 5; this space allows an int in [1, 3]." in text
    assert "B: 'conv.filters.0' is 8; this space allows one of 16, 32." in text
    assert "C: unknown component 'params.bnn' (did you mean 'bn'?)" in text


def test_a_space_files_warm_start_is_a_list_of_partial_configs():
    entries = space_warm_start(SPACE, [{"conv": {"depth": 1}}, {"bn": {"enabled": True}}])
    assert entries == [("space.py: WARM_START[0]", {"conv": {"depth": 1}}),
                       ("space.py: WARM_START[1]", {"bn": {"enabled": True}})]
    with pytest.raises(SearchError, match="space.py: WARM_START must be a list of partial "
                                          "configs .* got dict"):
        space_warm_start(SPACE, {"conv": {"depth": 1}})


def test_a_warm_start_file_is_a_config_yaml_with_params(tmp_path):
    best = write(tmp_path, "best.yaml", "params:\n  conv: {depth: 3}\nseed: 4\n"
                 "result: {val_accuracy: 0.9, trial: 2}\n")
    assert read_warm_start_file(best) == (str(best), {"conv": {"depth": 3}})
    bad = write(tmp_path, "bad.yaml", "prams: {conv: {depth: 3}}\n")
    with pytest.raises(SearchError) as caught:
        read_warm_start_file(bad)
    assert "unknown top-level key 'prams' (did you mean 'params'?)" in str(caught.value)
    assert "found none" in str(caught.value)


def test_a_stored_warm_start_must_hold_values_this_space_searches():
    assert stored_warm_start_problems(SPACE, None, "st") == []
    assert stored_warm_start_problems(SPACE, [{"source": "A", "params": {"conv.depth": 2}}],
                                      "st") == []
    problems = stored_warm_start_problems(
        SPACE, [{"source": "A", "params": {"conv.depth": "2", "training.epochs": 3}},
                {"params": {"bn.enabled": True}, "extra": 1}], "st")
    assert problems == [
        "st: 'warm_start[0]': 'conv.depth' is '2'; this space allows int [1, 3].",
        "st: 'warm_start[0]': 'training.epochs' is not a knob this space searches.",
        "st: 'warm_start[1]' must be {source, params}; got {'extra': 1, 'params': "
        "{'bn.enabled': True}}."]
    assert stored_warm_start_problems(SPACE, "x", "st") == [
        "st: 'warm_start' must be a list of {source, params} entries; got 'x'."]


def test_a_portfolio_file_gives_its_entries_params_in_order(tmp_path):
    path = write(tmp_path, "p.yaml", "entries:\n- chosen_from: digits/x/3\n  val_accuracy: {digits: 0.9}\n"
                 "  params: {conv: {depth: 2}}\n- params: {bn: {enabled: true}}\n")
    assert read_portfolio(path) == [{"conv": {"depth": 2}}, {"bn": {"enabled": True}}]
    assert read_warm_start(path) == [(f"{path}: entries[0]", {"conv": {"depth": 2}}),
                                     (f"{path}: entries[1]", {"bn": {"enabled": True}})]
    config = write(tmp_path, "best.yaml", "params: {conv: {depth: 3}}\n")
    assert read_warm_start(config) == [(str(config), {"conv": {"depth": 3}})]


def test_run_tries_each_warm_start_files_entries_before_the_space_files(tmp_path):
    import argparse
    import dataclasses

    from search.commands.run import warm_start_entries

    path = write(tmp_path, "p.yaml", "entries:\n- params: {conv: {depth: 2}}\n"
                 "- params: {bn: {enabled: true}}\n")
    space = dataclasses.replace(Space.of({"conv": {"depth": Int(1, 3)}, "bn": {"enabled": Bool()}},
                                         path="space.py"), warm_start=[{"conv": {"depth": 1}}])
    args = argparse.Namespace(warm_start=[str(path)], no_warm_start=False, no_baseline=False)
    settings = argparse.Namespace(space=space, sampler="tpe")
    assert [p for _, p in warm_start_entries(args, settings)] == [
        {"conv": {"depth": 2}}, {"bn": {"enabled": True}}, {"conv": {"depth": 1}}]
    args.no_warm_start = True
    assert len(warm_start_entries(args, settings)) == 2


@pytest.mark.parametrize("sampler, no_baseline, first", [
    ("tpe", False, {"conv": {"depth": 2, "filters": [32, 32]}, "bn": {"enabled": False}}),
    ("gp", False, {"conv": {"depth": 2, "filters": [32, 32]}, "bn": {"enabled": False}}),
    ("tpe", True, None), ("random", False, None), ("grid", False, None)])
def test_with_no_warm_start_a_model_based_search_starts_from_the_baseline(sampler, no_baseline,
                                                                           first):
    import argparse

    from search.commands.run import warm_start_entries
    from search.space.warm_start import BASELINE_SOURCE

    args = argparse.Namespace(warm_start=None, no_warm_start=True, no_baseline=no_baseline)
    settings = argparse.Namespace(space=SPACE, sampler=sampler)
    expected = [(BASELINE_SOURCE, first)] if first else []
    assert warm_start_entries(args, settings) == expected


@pytest.mark.parametrize("text, message", [
    ("entries: []\n", "'entries' must be a non-empty list"),
    ("entrys: [{params: {}}]\n", "unknown top-level key 'entrys' (did you mean 'entries'?)"),
    ("entries: [{params: 3}]\n", "entries[0] must be a mapping with a 'params' mapping; got {'params': 3}"),
    ("entries: [{params: {}, note: x}]\n", "entries[0]: unknown key 'note'"),
])
def test_a_malformed_portfolio_file_names_the_file_and_entry(tmp_path, text, message):
    with pytest.raises(SearchError, match=re.escape(message)):
        read_portfolio(write(tmp_path, "p.yaml", text))


def test_the_portfolio_made_on_development_tasks_is_a_valid_warm_start_of_spaces_cnn():
    import yaml

    from conftest import REPO
    from search.space.space import load_space

    path = REPO / "spaces" / "cnn_portfolio.yaml"
    entries = read_portfolio(path)
    trials, notes = warm_start_trials(load_space(REPO / "spaces" / "cnn.py"),
                                      [(f"entry {i}", e) for i, e in enumerate(entries)])
    assert len(trials) == len(entries) == 3 and notes == []
    raw = yaml.safe_load(path.read_text())["entries"]
    development = ("digits/", "fashion-pairs5/")  # bench/tasks.py: chosen on these only
    assert all(e["chosen_from"].startswith(development) for e in raw)
    assert all(set(e["val_accuracy"]) == {"digits", "fashion-pairs5"} for e in raw)


def test_the_baseline_entry_is_every_knobs_default_moved_inside_the_spaces_range():
    from search.space.warm_start import BASELINE_SOURCE, baseline_entry

    inside = Space.of({"conv": {"depth": Int(1, 3), "filters": Choice(16, 32)},
                       "bn": {"enabled": Bool()}}, path="space.py")
    source, partial = baseline_entry(inside)
    assert source == BASELINE_SOURCE
    assert partial == {"conv": {"depth": 2, "filters": [32, 32]}, "bn": {"enabled": False}}
    outside = Space.of({"conv": {"depth": Int(3, 5), "filters": Choice(64, 128)},
                        "optimizer": {"name": Choice("sgd", "rmsprop"),
                                      "learning_rate": Float(1e-2, 1e-1, log=True)},
                        "training": {"batch_size": Choice(100, 200, 300), "epochs": 2}},
                       path="space.py")
    _, partial = baseline_entry(outside)  # defaults: depth 2, 32 filters, adam at 1e-3, batch 64
    assert partial == {"conv": {"depth": 3, "filters": [64, 64, 64]},
                       "optimizer": {"name": "sgd", "learning_rate": 1e-2},
                       "training": {"batch_size": 100}}
    trials, notes = warm_start_trials(outside, [(source, partial)])
    assert trials[0]["params"]["conv.filters.2"] == 64 and notes == []


@pytest.mark.filterwarnings("ignore:The distribution is specified by")  # ranges off the grid
def test_the_baseline_entry_lies_on_a_knobs_step_grid_and_picks_rates_on_a_log_scale():
    from search.space.warm_start import baseline_entry

    space = Space.of({"conv": {"depth": 1, "filters": Int(8, 30, step=4)},
                      "dropout": {"enabled": True, "conv_rate": Float(0.0, 0.45, step=0.2)},
                      "optimizer": {"learning_rate": Choice(1e-4, 3e-3)},
                      "head": {"layers": 1, "units": Int(4, 34, step=8)}}, path="space.py")
    _, partial = baseline_entry(space)  # defaults: 32 filters, rate 0.25, 1e-3, 128 units
    assert partial == {"conv": {"filters": [28]}, "dropout": {"conv_rate": 0.2},
                       "head": {"units": [28]}, "optimizer": {"learning_rate": 3e-3}}
    trials, _ = warm_start_trials(space, [("baseline", partial)])
    assert stored_warm_start_problems(space, trials, "study") == []
