"""The one exception type a user sees: a problem they can fix, printed without a traceback."""

from __future__ import annotations

import reprlib
from typing import Any

__all__ = ["SearchError", "shown", "MAX_PROBLEM_CHARS"]

MAX_PROBLEM_CHARS = 600  # a message quotes what it was given, but never all of a huge value
MAX_PROBLEMS = 40
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 80
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 6
_REPR.maxlevel = 3
_REPR.maxlong = 40


def shown(value: Any) -> str:
    """``repr(value)``, shortened: a message quotes a value, never megabytes of it.

    >>> shown([[0] * 100] * 100)
    '[[0, 0, 0, 0, 0, 0, ...], [0, 0, 0, 0, 0, 0, ...], [0, 0, 0, 0, 0, 0, ...], [0, 0, 0, 0, 0, 0, ...], [0, 0, 0, 0, 0, 0, ...], [0, 0, 0, 0, 0, 0, ...], ...]'
    """
    if isinstance(value, int) and value.bit_length() > 1000:
        return f"<an int of about {int(value.bit_length() * 0.30103)} digits>"
    try:
        return _REPR.repr(value)
    except (RecursionError, ValueError, OverflowError):  # an int too long to print, a deep cycle
        return f"<{type(value).__name__}>"


def _bounded(problem: str) -> str:
    problem = str(problem)
    if len(problem) <= MAX_PROBLEM_CHARS:
        return problem
    return problem[:MAX_PROBLEM_CHARS] + f" … ({len(problem) - MAX_PROBLEM_CHARS} more characters)"


class SearchError(Exception):
    """A user-facing error; ``problems`` are full sentences, reported all at once.

    Each problem should say what happened, what was expected and how to fix it,
    e.g. ``spaces/cnn.py: 'dropout.conv_rate' must be a float in [0, 1); got 1.5.``
    Each is cut at ``MAX_PROBLEM_CHARS``, so a message stays readable whatever it quotes.
    """

    def __init__(self, problems: str | list[str], *, hint: str | None = None) -> None:
        raw = [problems] if isinstance(problems, str) else list(problems)
        self.problems = [_bounded(p) for p in raw[:MAX_PROBLEMS]]
        if len(raw) > MAX_PROBLEMS:
            self.problems.append(f"… and {len(raw) - MAX_PROBLEMS} more problems of the same input.")
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        lines = self.problems[:1] if len(self.problems) == 1 else [
            f"{len(self.problems)} problems:", *(f"  - {p}" for p in self.problems)]
        if self.hint:
            lines.append(self.hint)
        return "\n".join(lines)
