"""What a value may be: a type, bounds and choices, described and checked in one wording.

Shared by the engine's options (``search/inputs.py``) and the knobs of a search space
(``search/space/schema.py``), so a bad flag, study-file key or knob value gets the same
sentence: the key, what is allowed, what was received, and a "did you mean" for a misspelt
choice.
"""

from __future__ import annotations

import difflib
import math
from typing import Any, Iterable

from search.errors import shown

__all__ = ["Domain", "did_you_mean"]


class Domain:
    """Type, bounds and choices; the subclass (a dataclass) provides the attributes."""

    type: type
    low: float | None
    high: float | None
    low_open: bool
    high_open: bool
    choices: tuple[Any, ...] | None

    def allowed(self) -> str:
        """Human description of the domain, for error messages."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        name = {int: "an int", float: "a float", bool: "a bool", str: "a string"}[self.type]
        if self.low is None and self.high is None:
            return name
        if self.high is None:
            return f"{name} {'>' if self.low_open else '>='} {_bound(self.low)}"
        left = "(" if self.low_open else "["
        right = ")" if self.high_open else "]"
        return f"{name} in {left}{_bound(self.low)}, {_bound(self.high)}{right}"

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` has the type (an int counts as a float) and lies in the domain."""
        if self.type is bool:
            return isinstance(value, bool)
        if isinstance(value, bool):
            return False
        if self.type is float and isinstance(value, int):
            try:
                value = float(value)
            except OverflowError:  # an int beyond any float
                return False
        if not isinstance(value, self.type):
            return False
        if self.choices is not None:
            return value in self.choices
        if self.type is float and not math.isfinite(value):
            return False
        return self._in_range(value)

    def _in_range(self, value: float) -> bool:
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below

    def problem(self, key: str, value: Any) -> str | None:
        """``'key' must be ...; got ...`` with a "did you mean" for a misspelt choice."""
        if self.accepts(value):
            return None
        hint = did_you_mean(value, self.choices) if self.choices and isinstance(value, str) else ""
        return f"'{key}' must be {self.allowed()}; got {shown(value)}{hint}"


def _bound(value: float) -> str:
    """A bound as people write it: 2147483647, not 2.14748e+09; 1e-08, not 0.00000001."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e16 else f"{value:g}"


def did_you_mean(word: Any, options: Iterable[Any]) -> str:
    """`` (did you mean 'x'?)`` for the option closest to ``word``, or an empty string."""
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
