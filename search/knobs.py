"""Typed search-space knobs: the values a space file writes for each tunable setting.

A knob is data, like Optuna's distributions. It does not raise when built, so a
space file with several mistakes can be reported in one message: the space
loader calls :meth:`Knob.problems` on every knob and collects the answers.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import optuna
from search.errors import shown
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
    json_to_distribution,
)

__all__ = ["Knob", "Int", "Float", "Choice", "Bool", "Fixed", "knob_to_json", "knob_from_json",
           "is_finite_number"]


class Knob:
    """A searchable setting. Subclasses map onto one Optuna distribution."""

    def problems(self) -> list[str]:
        """Sentences (without the file/key prefix) saying what is wrong, if anything."""
        return []

    def distribution(self) -> BaseDistribution:
        """The Optuna distribution this knob stands for."""
        raise NotImplementedError

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        """The value of this knob for ``trial``, sampled under the parameter ``name``."""
        raise NotImplementedError

    def candidates(self) -> list[Any] | None:
        """Every value the knob can take, when finite (used by the grid sampler)."""
        return None

    def describe(self) -> str:
        """A short summary of the values, for the space table."""
        raise NotImplementedError

    def values_for_check(self) -> list[Any]:
        """Values checked against the schema's allowed domain (bounds or choices)."""
        return []


def is_finite_number(value: Any) -> bool:
    """An int or float (not a bool) that is finite."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond any float
        return False


@dataclass(frozen=True)
class Int(Knob):
    """An integer in [low, high], both included; ``log=True`` samples on a log scale."""

    low: int
    high: int
    step: int = 1
    log: bool = False

    def problems(self) -> list[str]:
        """Bounds that are not ints, low > high, step < 1, or log=True with low < 1 or step != 1."""
        found = [f"bound {name}={shown(value)} must be an int"
                 for name, value in (("low", self.low), ("high", self.high), ("step", self.step))
                 if not isinstance(value, int) or isinstance(value, bool)]
        if found:
            return found
        if self.low > self.high:
            found.append(f"low ({self.low}) must be <= high ({self.high})")
        if self.step < 1:
            found.append(f"step must be >= 1; got {self.step}")
        if self.log and self.low < 1:
            found.append(f"log=True needs low >= 1; got low={self.low}")
        if self.log and self.step != 1:
            found.append("log=True cannot be combined with step != 1")
        return found

    def distribution(self) -> BaseDistribution:
        """An ``IntDistribution`` with the same bounds, step and scale."""
        return IntDistribution(self.low, self.high, log=self.log, step=self.step)

    def suggest(self, trial: optuna.Trial, name: str) -> int:
        """An int from ``trial.suggest_int`` with the same bounds, step and scale."""
        return trial.suggest_int(name, self.low, self.high, step=self.step, log=self.log)

    def candidates(self) -> list[Any]:
        """Every value from low to high, both included, by step."""
        return list(range(self.low, self.high + 1, self.step))

    def describe(self) -> str:
        """``int [low, high]``, then ``log`` and the step when they apply."""
        return f"int [{self.low}, {self.high}]" + (" log" if self.log else "") + (
            f" step {self.step}" if self.step != 1 else "")

    def values_for_check(self) -> list[Any]:
        """The two bounds."""
        return [self.low, self.high]


@dataclass(frozen=True)
class Float(Knob):
    """A float in [low, high]; ``log=True`` samples on a log scale (needs low > 0)."""

    low: float
    high: float
    log: bool = False
    step: float | None = None

    def problems(self) -> list[str]:
        """Bounds that are not finite numbers, low > high, a step <= 0, or log=True with
        low <= 0 or a step."""
        found = [f"bound {name}={shown(value)} must be a finite number"
                 for name, value in (("low", self.low), ("high", self.high))
                 if not is_finite_number(value)]
        if found:
            return found
        if self.low > self.high:
            found.append(f"low ({self.low}) must be <= high ({self.high})")
        if self.log and self.low <= 0:
            found.append(f"log=True needs low > 0; got low={self.low}")
        if self.step is not None and (not is_finite_number(self.step) or self.step <= 0):
            found.append(f"step must be a positive number; got {shown(self.step)}")
        if self.log and self.step is not None:
            found.append("log=True cannot be combined with a step")
        return found

    def distribution(self) -> BaseDistribution:
        """A ``FloatDistribution`` with the same bounds, scale and step."""
        return FloatDistribution(float(self.low), float(self.high), log=self.log, step=self.step)

    def suggest(self, trial: optuna.Trial, name: str) -> float:
        """A float from ``trial.suggest_float`` with the same bounds, scale and step."""
        return trial.suggest_float(name, self.low, self.high, log=self.log, step=self.step)

    def candidates(self) -> list[Any] | None:
        """The grid from low to high by step (rounded to 12 decimals); None without a step."""
        if self.step is None:
            return None
        count = int(round((self.high - self.low) / self.step))
        return [round(self.low + i * self.step, 12) for i in range(count + 1)]

    def describe(self) -> str:
        """``float [low, high]``, then ``log`` and the step when they apply."""
        return f"float [{self.low:g}, {self.high:g}]" + (" log" if self.log else "") + (
            f" step {self.step:g}" if self.step else "")

    def values_for_check(self) -> list[Any]:
        """The two bounds."""
        return [self.low, self.high]


@dataclass(frozen=True, init=False)
class Choice(Knob):
    """One of a list of values (numbers, strings or booleans): ``Choice(3, 5)``."""

    values: tuple[Any, ...]

    def __init__(self, *values: Any) -> None:
        if len(values) == 1 and isinstance(values[0], (list, tuple)):
            values = tuple(values[0])
        object.__setattr__(self, "values", tuple(values))

    def problems(self) -> list[str]:
        """No values, values that are not numbers, strings, booleans or None, or repeats."""
        found = []
        if not self.values:
            found.append("Choice() needs at least one value")
        bad = [v for v in self.values if not (v is None or isinstance(v, (bool, int, float, str)))]
        if bad:
            found.append(f"choices must be numbers, strings, booleans or None; got {shown(bad)}")
        elif len(set(self.values)) != len(self.values):
            found.append(f"choices must not repeat; got {shown(list(self.values))}")
        return found

    def distribution(self) -> BaseDistribution:
        """A ``CategoricalDistribution`` over the values."""
        return CategoricalDistribution(self.values)

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        """One of the values, from ``trial.suggest_categorical``."""
        return trial.suggest_categorical(name, self.values)

    def candidates(self) -> list[Any]:
        """The values, in their order."""
        return list(self.values)

    def describe(self) -> str:
        """``one of a, b, c``."""
        return "one of " + ", ".join(map(str, self.values))

    def values_for_check(self) -> list[Any]:
        """The values."""
        return list(self.values)


def Bool() -> Choice:  # noqa: N802 - reads like the other knob constructors
    """Search both ``False`` and ``True``."""
    return Choice(False, True)


@dataclass(frozen=True)
class Fixed(Knob):
    """A value that is not searched; plain values in a space file mean the same."""

    value: Any

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        """The fixed value; nothing is sampled from the trial."""
        return self.value

    def describe(self) -> str:
        """``fixed`` and the value's repr."""
        return f"fixed {self.value!r}"

    def values_for_check(self) -> list[Any]:
        """The fixed value."""
        return [self.value]


def knob_to_json(knob: Knob) -> str:
    """Optuna's distribution JSON for a searched knob; ``{"fixed": value}`` for a fixed one."""
    if isinstance(knob, Fixed):
        return json.dumps({"fixed": knob.value})
    return distribution_to_json(knob.distribution())


def knob_from_json(text: Any) -> Knob:
    """The knob stored by :func:`knob_to_json`; ValueError (with the reason) for anything else.

    Only data is parsed: Optuna's three distribution types, or a fixed JSON value.
    """
    if not isinstance(text, str):
        raise ValueError(f"expected a JSON string; got {type(text).__name__}")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg})") from None
    if isinstance(raw, dict) and set(raw) == {"fixed"}:
        return Fixed(raw["fixed"])
    try:
        distribution = json_to_distribution(text)
    except Exception as exc:  # Optuna raises ValueError, KeyError or TypeError on bad JSON
        raise ValueError(f"not a knob ({type(exc).__name__}: {exc})") from None
    return _knob_of(distribution)


def _knob_of(distribution: BaseDistribution) -> Knob:
    if isinstance(distribution, IntDistribution):
        return Int(distribution.low, distribution.high, step=distribution.step, log=distribution.log)
    if isinstance(distribution, FloatDistribution):
        return Float(distribution.low, distribution.high, log=distribution.log, step=distribution.step)
    if isinstance(distribution, CategoricalDistribution):
        return Choice(*distribution.choices)
    raise ValueError(f"not a knob: {type(distribution).__name__}")
