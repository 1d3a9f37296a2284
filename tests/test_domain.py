"""search/domain.py: a domain's type, bounds and choices, described as people write them,
checked in one sentence, with a "did you mean" for a misspelt choice."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from search.domain import Domain, did_you_mean


@dataclass(frozen=True)
class Plain(Domain):
    type: Any
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[Any, ...] | None = None


def test_did_you_mean_suggests_the_closest_option_or_nothing():
    assert did_you_mean("tpee", ["tpe", "random", "cmaes"]) == " (did you mean 'tpe'?)"
    assert did_you_mean("zzzz", ["tpe", "random"]) == ""


def test_a_domain_writes_its_bounds_as_people_do():
    assert Plain(int, 0, 2**31 - 1).allowed() == "an int in [0, 2147483647]"
    assert Plain(float, 1e-8).allowed() == "a float >= 1e-08"
    assert Plain(float, 0, 1, True, True).allowed() == "a float in (0, 1)"
    assert Plain(str, choices=("a", "b")).allowed() == "one of 'a', 'b'"


def test_a_domain_checks_type_range_and_choices_in_one_sentence():
    rate = Plain(float, 0, 1, high_open=True)
    assert rate.accepts(0) and rate.accepts(0.5) and not rate.accepts(1.0)
    assert not rate.accepts(True) and not rate.accepts(math.nan) and not rate.accepts(10**400)
    assert rate.problem("rate", 2) == "'rate' must be a float in [0, 1); got 2"
    name = Plain(str, choices=("adam", "sgd"))
    assert name.problem("name", "adma") == "'name' must be one of 'adam', 'sgd'; got 'adma' " \
        "(did you mean 'adam'?)"
    assert name.problem("name", "sgd") is None
