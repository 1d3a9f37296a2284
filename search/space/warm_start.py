"""Known-good configurations tried first: a space file's ``WARM_START`` and ``run --warm-start``.

A search of a few minutes cannot afford to spend them on random start-up
trials while the model its users already trust sits unused. Warm-start entries
are partial configs (``{"conv": {"depth": 2, "filters": [32, 64]}, ...}``);
every searched knob they leave out takes its baseline ("off") value, so an
entry means exactly the model it describes. They become the study's first
trials (one per trial slot, shared exactly by every worker through the trial
budget), and the sampler learns from them like from any other trial.

With no entry at all, a model-based search starts from ``baseline_entry``: the space's
baseline model, every searched knob at its default (moved inside the knob's range).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

from search.space.config import TOP_KEYS, check_params, read_yaml, result_problems
from search.errors import SearchError, shown
from search.inputs import unknown_keys
from search.knobs import Choice, Fixed, Int, is_finite_number
from search.space.schema import COMPONENTS
from search.space.structure import never_active
from search.space.space import Space

__all__ = ["WarmStart", "warm_start_trials", "read_warm_start", "read_warm_start_file",
           "space_warm_start", "read_portfolio", "baseline_entry", "BASELINE_SOURCE"]

PORTFOLIO_ENTRY_KEYS = ("params", "chosen_from", "val_accuracy")

WarmStart = tuple[str, dict[str, dict[str, Any]]]  # (where it came from, partial params)


def space_warm_start(space: Space, raw: Any) -> list[WarmStart]:
    """A space file's ``WARM_START``: a list of partial params (checked when the study starts)."""
    if not isinstance(raw, (list, tuple)) or not all(isinstance(e, dict) for e in raw):
        raise SearchError(f"{space.path}: WARM_START must be a list of partial configs "
                          "({component: {knob: value}}); got "
                          f"{type(raw).__name__}.")
    return [(f"{space.path}: WARM_START[{i}]", entry) for i, entry in enumerate(raw)]


def read_portfolio(path: str | Path) -> list[dict[str, dict[str, Any]]]:
    """A portfolio file's entries' params, in order, for a space file's ``WARM_START``
    (``WARM_START = read_portfolio(Path(__file__).with_name("cnn_portfolio.yaml"))``).

    The file holds ``entries:``, each with ``params`` (a partial config) and, from the
    procedure that made it, ``chosen_from`` and ``val_accuracy``."""
    raw = read_yaml(path)
    problems = unknown_keys(str(path), raw, ("entries",), "top-level key")
    entries = raw.get("entries")
    if not isinstance(entries, list) or not entries:
        problems.append(f"{path}: 'entries' must be a non-empty list of {{params: ...}}; got "
                        f"{shown(entries)}.")
        entries = []
    for i, entry in enumerate(entries):
        where = f"{path}: entries[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("params"), dict):
            problems.append(f"{where} must be a mapping with a 'params' mapping; got {shown(entry)}.")
            continue
        problems += unknown_keys(where, entry, PORTFOLIO_ENTRY_KEYS)
    if problems:
        raise SearchError(problems)
    return [entry["params"] for entry in entries]


def read_warm_start(path: str | Path) -> list[WarmStart]:
    """``--warm-start FILE``: a config YAML (one entry, like a study's best.yaml) or a
    portfolio file (``entries:``, as bench/portfolio.py writes; one entry each, in order)."""
    raw = read_yaml(path)
    if isinstance(raw, dict) and "entries" in raw:
        return [(f"{path}: entries[{i}]", params) for i, params in enumerate(read_portfolio(path))]
    return [read_warm_start_file(path)]


def read_warm_start_file(path: str | Path) -> WarmStart:
    """``--warm-start FILE``: a config YAML such as a study's best.yaml (its ``params``)."""
    raw = read_yaml(path)
    params = raw.get("params")
    problems = unknown_keys(str(path), raw, TOP_KEYS, "top-level key")
    problems += result_problems(raw.get("result"), str(path))
    if not isinstance(params, dict):
        problems.append(f"{path}: a warm-start file is a config YAML with a 'params' mapping "
                        "(like a study's best.yaml); found none.")
    if problems:
        raise SearchError(problems)
    return str(path), params


def warm_start_trials(space: Space, entries: Sequence[WarmStart]) -> tuple[list[dict], list[str]]:
    """Each entry as the Optuna parameters of one trial, and notes for the user.

    Raises SearchError naming the source and key for an unknown knob or a value the
    space does not allow. A knob the space fixes cannot be warm-started: the fixed
    value wins and a note says so (e.g. ``--epochs 3`` over an entry's 10 epochs).
    """
    trials, notes, problems = [], [], []
    for source, partial in entries:
        structural = check_params(partial, source, activity=False)  # judged in this space:
        if structural:
            problems += structural
            continue
        replay = _Replay(source, partial)
        sampled = space.sample(replay)
        refused, unused = _inactive(source, partial, sampled)
        problems += replay.problems + refused
        notes += _fixed_notes(space, source, partial) + unused
        trials.append({"source": source, "params": replay.asked})
    if problems:
        raise SearchError(problems, hint="A warm start must lie inside the space: run "
                                         "`python -m search space FILE` to see what it allows.")
    return trials, notes


def _inactive(source: str, partial: dict,
              sampled: dict[str, dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Knobs of the entry that its trial would not use: refused when the entry's own switches
    (the space's values where it gives none) rule them out; a note when only a switch that
    the space fixes differently does (the space wins, as for any knob it fixes)."""
    unused = {c: {k: v for k, v in knobs.items() if k not in sampled.get(c, {})}
              for c, knobs in partial.items()}
    own = {c: {**sampled.get(c, {}), **partial.get(c, {})} for c in {*sampled, *partial}}
    refused = {key: why for key, why in never_active(own)
               if key.split(".")[1] in unused.get(key.split(".")[0], {})}
    in_space = {c: {**sampled.get(c, {}), **unused.get(c, {})} for c in {*sampled, *unused}}
    return ([f"{source}: '{key}' has no effect: {why}; remove it from the entry."
             for key, why in refused.items()],
            [f"{source}: '{key}' is not used in this space: {why}." for key, why
             in never_active(in_space) if key not in refused])


def _fixed_notes(space: Space, source: str, partial: dict) -> list[str]:
    notes = []
    for comp, knobs in partial.items():
        for name, value in knobs.items():
            knob = space.knobs.get(comp, {}).get(name, Fixed(COMPONENTS[comp].knobs[name].default))
            if isinstance(knob, Fixed) and knob.value != value:
                notes.append(f"{source}: '{comp}.{name}' is fixed at {shown(knob.value)} in this "
                             f"space; the warm start's {shown(value)} is not used.")
    return notes


class _Replay:
    """Optuna's suggest API answered from a partial config, checking each answer."""

    def __init__(self, source: str, partial: dict[str, dict[str, Any]]) -> None:
        self.source, self.partial = source, partial
        self.asked: dict[str, Any] = {}
        self.problems: list[str] = []

    def _value(self, name: str) -> Any:
        comp, knob, *block = name.split(".")
        spec = COMPONENTS[comp].knobs[knob]
        value = self.partial.get(comp, {}).get(knob, spec.default)
        if block and isinstance(value, list):  # per-block lists repeat their last entry
            value = value[min(int(block[0]), len(value) - 1)] if value else spec.default
        return value

    def _answer(self, name: str, value: Any, ok: bool, allowed: str) -> Any:
        if not ok:
            self.problems.append(f"{self.source}: '{name}' is {shown(value)}; this space allows "
                                 f"{allowed}.")
        self.asked[name] = value
        return value

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1,
                    log: bool = False) -> int:
        value = self._value(name)
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high \
            and (value - low) % step == 0
        return self._answer(name, value, ok, f"an int in [{low}, {high}]" + (
            f" in steps of {step}" if step != 1 else ""))

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False,
                      step: float | None = None) -> float:
        value = self._value(name)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= high
        return self._answer(name, float(value) if ok else value, ok, f"a number in [{low}, {high}]")

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        value = self._value(name)
        ok = any(value == c and type(value) is type(c) for c in choices) or (
            isinstance(value, int) and not isinstance(value, bool)
            and any(isinstance(c, float) and value == c for c in choices))
        match = next((c for c in choices if c == value), value)
        return self._answer(name, match, ok, "one of " + ", ".join(map(repr, choices)))


BASELINE_SOURCE = "the space's baseline model (every knob at its default)"


def baseline_entry(space: Space) -> WarmStart:
    """The space's baseline model as a warm-start entry: every searched knob at its default
    (the value a knob left out takes, as ``python -m search space`` lists it), or the allowed
    value nearest that default where the space's range leaves it out. A model-based search
    with nothing else to start from tries it first, as SMAC tries a configuration space's
    default configuration and Syne Tune its midpoint."""
    nearest = _Nearest()
    space.sample(nearest)
    partial: dict[str, dict[str, Any]] = {}
    for name, value in nearest.asked.items():  # asked in block order: conv.filters.0, .1, ...
        comp, knob, *block = name.split(".")
        if block:
            partial.setdefault(comp, {}).setdefault(knob, []).append(value)
        else:
            partial.setdefault(comp, {})[knob] = value
    return BASELINE_SOURCE, partial


class _Nearest(_Replay):
    """Optuna's suggest API answered with each knob's default, moved to the nearest value the
    knob allows (on its step grid; nearest on a log scale among positive number choices)."""

    def __init__(self) -> None:
        super().__init__(BASELINE_SOURCE, {})

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1,
                    log: bool = False) -> int:
        return self._answer(name, int(_on_grid(self._value(name), low, high, step)), True, "")

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False,
                      step: float | None = None) -> float:
        return self._answer(name, float(_on_grid(self._value(name), low, high, step)), True, "")

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        value = self._value(name)
        same = [c for c in choices if c == value and isinstance(c, bool) == isinstance(value, bool)]
        numbers = [c for c in choices if is_finite_number(c)]
        if not same and numbers and is_finite_number(value):
            scale = math.log if value > 0 and min(numbers) > 0 else float
            same = [min(numbers, key=lambda c: abs(scale(c) - scale(value)))]
        return self._answer(name, (same or list(choices))[0], True, "")


def _on_grid(value: float, low: float, high: float, step: float | None) -> float:
    """``value`` clamped to [low, high] and, with a step, moved to the nearest point of the
    grid ``low + k * step`` that lies inside the range."""
    value = min(max(value, low), high)
    if not step:
        return value
    last = math.floor((high - low) / step + 1e-9)
    return low + min(max(round((value - low) / step), 0), last) * step


def stored_warm_start_problems(space: Space, raw: Any, source: str) -> list[str]:
    """A study's stored warm start (``[{source, params}]``, written by ``run``) read back by a
    worker: each parameter must be one the space searches, with a value inside its range."""
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        return [f"{source}: 'warm_start' must be a list of {{source, params}} entries; got "
                f"{shown(raw)}."]
    problems = []
    for i, entry in enumerate(raw):
        where = f"{source}: 'warm_start[{i}]'"
        params = entry.get("params")
        if not isinstance(params, dict) or set(entry) - {"source", "params"}:
            problems.append(f"{where} must be {{source, params}}; got {shown(entry)}.")
            continue
        problems += [f"{where}: {p}" for p in map(lambda kv: _stored_param_problem(space, *kv),
                                                   params.items()) if p]
    return problems


def _stored_param_problem(space: Space, name: Any, value: Any) -> str | None:
    comp, knob_name, *_ = (str(name).split(".") + ["", ""])
    knob = space.knobs.get(comp, {}).get(knob_name)
    if knob is None or isinstance(knob, Fixed):
        return f"{shown(str(name))} is not a knob this space searches."
    distribution = knob.distribution()
    try:
        inside = _same_kind(knob, value) and distribution._contains(
            distribution.to_internal_repr(value))
    except (TypeError, ValueError, OverflowError):
        inside = False
    return None if inside else (f"'{name}' is {shown(value)}; this space allows "
                                f"{knob.describe()}.")


def _same_kind(knob: Any, value: Any) -> bool:
    """Optuna's internal form accepts '2' for an int; a stored parameter must be the value."""
    if isinstance(knob, Choice):
        return any(value == c and type(value) is type(c) for c in knob.values)
    wanted = int if isinstance(knob, Int) else (int, float)
    return isinstance(value, wanted) and not isinstance(value, bool)
