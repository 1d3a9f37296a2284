"""search/inputs.py: the one constraint table. Durations, study names, domains and their
descriptions, "did you mean", checks of a mapping against the table, and argparse types made
from it."""

from __future__ import annotations

import argparse
import math

import pytest

from search.inputs import (OPTIONS, Option, arg_type, check_study_name, check_values,
                           parse_duration, parsed, unknown_keys)


@pytest.mark.parametrize("value, seconds", [
    (90, 90.0), ("90", 90.0), ("90s", 90.0), ("30m", 1800.0), ("8h", 28800.0),
    ("1h30m", 5400.0), (" 1h 30m 15s ", 5415.0), (2.5, 2.5), ("0.5h", 1800.0),
])
def test_parse_duration_reads_seconds_and_units(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value, message", [
    ("", "not a duration"), ("abc", "not a duration"), ("5d", "not a duration"),
    (True, "not a duration"), (None, "not a duration"), (0, "more than zero"),
    ("0s", "more than zero"), (-3, "more than zero"), (math.nan, "more than zero"),
    ("9000h", "at most 366 days"), (10**30, "at most 366 days"),
])
def test_parse_duration_refuses_what_is_no_time_limit(value, message):
    with pytest.raises(ValueError, match=message):
        parse_duration(value)


def test_unknown_keys_suggest_the_closest_allowed_key():
    assert unknown_keys("f.yaml", {"trails": 3, "seed": 1}, ["trials", "seed"]) == [
        "f.yaml: unknown key 'trails' (did you mean 'trials'?); allowed: trials, seed."]


def test_a_domain_describes_itself_as_people_write_bounds():
    assert Option(int, "", low=0, high=2**31 - 1).allowed() == "an int in [0, 2147483647]"
    assert Option(float, "", low=0, high=1, low_open=True, high_open=True).allowed() == \
        "a float in (0, 1)"
    assert Option(float, "", low=1e-8).allowed() == "a float >= 1e-08"
    assert Option(int, "", low=0, low_open=True).allowed() == "an int > 0"
    assert Option(str, "").allowed() == "a string"
    assert OPTIONS["sampler"].allowed() == "one of 'tpe', 'tpe-local', 'random', 'cmaes', 'gp', 'grid'"


def test_a_domain_accepts_only_its_type_range_and_choices():
    alpha = OPTIONS["alpha"]  # a float in (0, 0.5]
    assert alpha.accepts(0.05) and alpha.accepts(0.5)
    assert not alpha.accepts(0) and not alpha.accepts(0.6) and not alpha.accepts(math.inf)
    assert not OPTIONS["trials"].accepts(True) and not OPTIONS["trials"].accepts(2.0)
    assert OPTIONS["min_effect"].accepts(1)  # an int is a float here
    assert OPTIONS["sampler"].problem("sampler", "tpee") == \
        "'sampler' must be one of 'tpe', 'tpe-local', 'random', 'cmaes', 'gp', 'grid'; got 'tpee' " \
        "(did you mean 'tpe'?)"


def test_check_values_reports_each_bad_value_with_its_source():
    raw = {"trials": 0, "seed": 3, "timeout": "soon", "unrelated": object()}
    problems = check_values("study.yaml", raw)
    assert len(problems) == 2
    assert problems[0].startswith("study.yaml: 'trials' must be an int in [1, ")
    assert problems[1].startswith("study.yaml: 'timeout' must be a duration > 0")
    assert check_values("x", {"trials": 0}, names=("seed",)) == []
    assert parsed({"timeout": "2m", "seeds": "4", "other": "kept"}) == {
        "timeout": 120.0, "seeds": 4, "other": "kept"}


@pytest.mark.parametrize("name, ok", [
    ("cnn", True), ("a.b_c-1", True), ("x" * 100, True), ("x" * 101, False), ("..", False),
    ("a..b", False), ("-a", False), ("a/b", False), ("", False), (3, False),
])
def test_a_study_name_is_one_safe_path_component(name, ok):
    if ok:
        assert check_study_name(name) == name
    else:
        with pytest.raises(ValueError, match="letters, digits"):
            check_study_name(name)


def test_argparse_types_check_like_the_table_and_parse_to_engine_form():
    assert arg_type("timeout")("1h30m") == 5400.0
    assert arg_type("trials")("7") == 7
    with pytest.raises(argparse.ArgumentTypeError, match="'seven' is not an integer"):
        arg_type("trials")("seven")
    with pytest.raises(argparse.ArgumentTypeError, match="'--trials' must be an int in"):
        arg_type("trials", "--trials")("0")
    with pytest.raises(argparse.ArgumentTypeError, match="did you mean 'median'"):
        arg_type("pruner")("medain")
