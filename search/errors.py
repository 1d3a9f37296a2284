"""The one exception type a user sees: a problem they can fix, printed without a traceback."""

from __future__ import annotations


class SearchError(Exception):
    """A user-facing error; ``problems`` are full sentences, reported all at once.

    Each problem should say what happened, what was expected and how to fix it,
    e.g. ``spaces/cnn.py: 'dropout.conv_rate' must be a float in [0, 1); got 1.5.``
    """

    def __init__(self, problems: str | list[str], *, hint: str | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        lines = self.problems[:1] if len(self.problems) == 1 else [
            f"{len(self.problems)} problems:", *(f"  - {p}" for p in self.problems)]
        if self.hint:
            lines.append(self.hint)
        return "\n".join(lines)
