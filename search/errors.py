"""One vocabulary for what goes wrong, four kinds, each with its own path and exit status.

- :class:`SearchError`: the user's mistake (a file, a flag, a stored setting). One message
  naming the file, the key, what is allowed and what was received; exit status 2.
- :class:`TrialFailure`: a trial's own failure (NaN loss, an impossible network, out of
  memory). Recorded on the trial as PRUNED or FAIL with its reason; the study goes on.
- :class:`Interrupted`: SIGTERM or Ctrl-C. The running trial keeps its checkpoint and is
  re-queued; exit status 130. A ``KeyboardInterrupt``, so no ``except Exception`` swallows it.
- :class:`InfrastructureError`: the storage or the disk stays away after retries. The run
  stops cleanly with nothing lost; exit status 75.

All four share the mixin :class:`Failure`, which names the kind and its exit status.
"""

from __future__ import annotations

import reprlib
from typing import Any

__all__ = ["Failure", "SearchError", "TrialFailure", "Interrupted", "InfrastructureError",
           "EXIT_USER_ERROR", "EXIT_INTERRUPTED", "EXIT_INFRASTRUCTURE", "shown", "MAX_PROBLEM_CHARS"]

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_INFRASTRUCTURE = 75  # EX_TEMPFAIL: try again later

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


class Failure:
    """The common base of the four kinds (a mixin: each kind also derives from the built-in
    exception its handlers expect)."""

    kind: str = ""
    exit_status: int | None = None


class SearchError(Failure, Exception):
    """A user-facing error; ``problems`` are full sentences, reported all at once.

    Each problem should say what happened, what was expected and how to fix it,
    e.g. ``spaces/cnn.py: 'dropout.conv_rate' must be a float in [0, 1); got 1.5.``
    Each is cut at ``MAX_PROBLEM_CHARS``, so a message stays readable whatever it quotes.
    """

    kind, exit_status = "user error", EXIT_USER_ERROR

    def __init__(self, problems: str | list[str], *, hint: str | None = None) -> None:
        raw = [problems] if isinstance(problems, str) else list(problems)
        self.problems = [_bounded(p) for p in raw[:MAX_PROBLEMS]]
        if len(raw) > MAX_PROBLEMS:
            self.problems.append(f"… and {len(raw) - MAX_PROBLEMS} more problems of the same input.")
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        """The message: the one problem, or a count and a bulleted list, then the hint."""
        lines = self.problems[:1] if len(self.problems) == 1 else [
            f"{len(self.problems)} problems:", *(f"  - {p}" for p in self.problems)]
        if self.hint:
            lines.append(self.hint)
        return "\n".join(lines)


class TrialFailure(Failure, Exception):
    """A trial's own failure: the trial is recorded with the message as its reason (PRUNED
    for a network that cannot be built, FAIL otherwise) and the study goes on."""

    kind = "trial failure"


class Interrupted(Failure, KeyboardInterrupt):
    """SIGTERM or Ctrl-C during a run: the running trial keeps its checkpoint and is
    re-queued, every finished one is kept, and the command exits with status 130."""

    kind, exit_status = "interruption", EXIT_INTERRUPTED


class InfrastructureError(Failure, Exception):
    """The storage or the disk is away after every retry: the run stops with nothing lost
    (the running trial is re-queued) and the command exits with status 75."""

    kind, exit_status = "infrastructure", EXIT_INFRASTRUCTURE
