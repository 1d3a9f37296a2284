"""A search space: the user's knobs for each component, validated against the schema.

A space file is Python that defines ``SPACE`` (component -> knob -> Knob or
fixed value) and optionally ``DATA`` (the default data spec for this space) and
``WARM_START`` (known-good partial configs tried first; search/space/warm_start.py).
It runs in a fresh namespace (``runpy``), so loading never touches globals.
Knobs it leaves out keep the schema's baseline value.
"""

from __future__ import annotations

import hashlib
import runpy
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import optuna

from search.errors import SearchError
from search.yaml_files import read_text
from search.knobs import Fixed, Float, Int, Knob, knob_from_json, knob_to_json
from search.space.schema import COMPONENTS, KnobSpec
from search.space.structure import ANY_VALUE, never_active, structure_problems

__all__ = ["Space", "load_space", "space_from_json"]


@dataclass(frozen=True)
class Space:
    """Validated knobs per component; ``source`` is the file text kept for provenance."""

    knobs: dict[str, dict[str, Knob]]
    path: str = "<memory>"
    source: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    warm_start: Any = ()  # the file's WARM_START, checked by search.space.warm_start

    @classmethod
    def of(cls, raw: dict[str, dict[str, Any]], *, path: str = "<memory>") -> Space:
        """A validated space from a dict like a space file's SPACE (plain values are fixed)."""
        problems = structure_problems(raw)
        knobs = _known_knobs(raw)
        _raise_problems(path, problems + _check_values(knobs) or _never_active(knobs))
        return cls(knobs, path)

    def entries(self) -> Iterator[tuple[str, str, KnobSpec, Knob]]:
        """Every (component, knob, spec, knob) in schema order, searched or fixed."""
        for comp_name, component in COMPONENTS.items():
            for knob_name, spec in component.knobs.items():
                knob = self.knobs.get(comp_name, {}).get(knob_name, Fixed(spec.default))
                yield comp_name, knob_name, spec, knob

    def searched(self) -> list[str]:
        """The ``component.knob`` names of the searched (not fixed) knobs, in schema order."""
        return [f"{c}.{k}" for c, k, _, knob in self.entries() if not isinstance(knob, Fixed)]

    def sample(self, trial: optuna.Trial) -> dict[str, dict[str, Any]]:
        """Draw a full parameter set; conditional knobs are only asked when active."""
        params: dict[str, dict[str, Any]] = {}
        for comp_name, knob_name, spec, knob in self.entries():
            values = params.setdefault(comp_name, {})
            if spec.is_active(values, params):
                values[knob_name] = _draw(trial, f"{comp_name}.{knob_name}", spec, knob, values)
        return params

    def with_fixed(self, overrides: dict[str, Any]) -> Space:
        """A copy where ``component.knob`` keys are pinned to values (e.g. ``--epochs``)."""
        knobs = {c: dict(k) for c, k in self.knobs.items()}
        for key, value in overrides.items():
            comp, knob = key.split(".")
            knobs.setdefault(comp, {})[knob] = Fixed(value)
        space = Space(knobs, self.path, self.source, self.data, self.warm_start)
        _raise_problems(space.path, _check_values(space.knobs))
        return space

    def to_json(self) -> dict[str, dict[str, str]]:
        """The space as data (component -> knob -> JSON text), for storing in a study.

        Searched knobs use Optuna's own distribution JSON; fixed ones ``{"fixed": value}``.
        :func:`space_from_json` reads it back without executing anything.
        """
        return {c: {k: knob_to_json(knob) for k, knob in knobs.items()}
                for c, knobs in self.knobs.items()}

    def canonical(self) -> dict[str, str]:
        """One line per knob; the space's identity for resume checks and hashing. A space
        without a backbone leaves the backbone's knobs out, and a knob ``added_later`` is left
        out at its fixed default, so the digest of a space written before them stays."""
        no_backbone = self.knobs.get("backbone", {}).get("name", Fixed("none")) == Fixed("none")
        return {f"{c}.{k}": knob.describe() for c, k, spec, knob in self.entries()
                if not (c == "backbone" and no_backbone)
                and not (spec.added_later and knob == Fixed(spec.default))}

    def digest(self) -> str:
        """The first 16 hex digits of the SHA-256 of :meth:`canonical`: the space's identity."""
        text = "\n".join(f"{k}: {v}" for k, v in self.canonical().items())
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def grid(self) -> dict[str, list[Any]]:
        """Optuna GridSampler's search space; every searched knob must be finite."""
        grid, problems = {}, []
        for comp, name, spec, knob in self.entries():
            if isinstance(knob, Fixed):
                continue
            values = knob.candidates()
            if values is None:
                problems.append(f"'{comp}.{name}' is {knob.describe()}, which has no "
                                "finite grid; give it a step or use Choice(...) for --sampler grid")
            for key in self._param_names(comp, name, spec):
                grid[key] = values
        _raise_problems(self.path, problems)
        return grid

    def _param_names(self, comp: str, name: str, spec: KnobSpec) -> list[str]:
        """Per-block knobs get one grid axis per block the space can have (not the schema's)."""
        if not spec.per:
            return [f"{comp}.{name}"]
        count = self.knobs.get(comp, {}).get(spec.per)
        most = COMPONENTS[comp].knobs[spec.per].default if count is None else max(
            count.values_for_check())
        return [f"{comp}.{name}.{i}" for i in range(int(most))]


def _draw(trial: optuna.Trial, key: str, spec: KnobSpec, knob: Knob, siblings: dict) -> Any:
    if not spec.per:
        return knob.suggest(trial, key)
    count = int(siblings[spec.per])
    if isinstance(knob, Fixed) and isinstance(knob.value, list):
        return list(knob.value[:count]) + [knob.value[-1]] * (count - len(knob.value))
    return [knob.suggest(trial, f"{key}.{i}") for i in range(count)]


def space_from_json(stored: Any, *, source: str, text: str = "") -> Space:
    """Rebuild a space stored by :meth:`Space.to_json`, checked like a space file.

    Nothing stored is executed: each knob is parsed as data and validated.
    """
    if not isinstance(stored, dict) or not all(isinstance(v, dict) for v in stored.values()):
        raise SearchError(f"{source}: the stored space must map components to knobs; got "
                          f"{type(stored).__name__}.")
    raw, problems = {}, []
    for comp, knobs in stored.items():
        raw[comp] = {}
        for name, text_value in knobs.items():
            try:
                raw[comp][name] = knob_from_json(text_value)
            except ValueError as exc:
                problems.append(f"'{comp}.{name}': {exc}")
    problems += structure_problems(raw)
    knobs = _known_knobs(raw)
    _raise_problems(source, problems + _check_values(knobs))
    return Space(knobs, source, text)


def load_space(path: str | Path) -> Space:
    """Run a space file and validate it; every problem is reported in one SearchError."""
    path = Path(path)
    if not path.is_file():
        raise SearchError(f"{path}: space file not found.",
                          hint="Pass a file such as spaces/cnn.py that defines SPACE = {...}.")
    source = read_text(path, what="space")
    namespace = _execute(path)
    if "SPACE" not in namespace:
        raise SearchError(f"{path}: defines no SPACE; expected SPACE = {{component: {{knob: value}}}}.")
    raw, data = namespace["SPACE"], namespace.get("DATA", {})
    problems = structure_problems(raw) if isinstance(raw, dict) else [
        f"SPACE must be a dict of components; got {type(raw).__name__}"]
    if not isinstance(data, dict):
        problems.append(f"DATA must be a dict of data options; got {type(data).__name__}")
    knobs = _known_knobs(raw) if isinstance(raw, dict) else {}
    _raise_problems(str(path), problems + _check_values(knobs) or _never_active(knobs))
    return Space(knobs, str(path), source, dict(data), namespace.get("WARM_START", ()))


def _known_knobs(raw: dict) -> dict[str, dict[str, Knob]]:
    """The entries that name a real component and knob (the rest is reported separately)."""
    return {c: {k: _as_knob(v) for k, v in comp.items() if k in COMPONENTS[c].knobs}
            for c, comp in raw.items() if c in COMPONENTS and isinstance(comp, dict)}


def _execute(path: Path) -> dict[str, Any]:
    try:
        return runpy.run_path(str(path), run_name="search_space")
    except SyntaxError as exc:
        raise SearchError(f"{path}:{exc.lineno}: syntax error: {exc.msg}.") from None
    except Exception as exc:  # any error in user code becomes one readable line
        line = next((f.lineno for f in reversed(traceback.extract_tb(exc.__traceback__))
                     if f.filename == str(path)), "?")
        raise SearchError(f"{path}:{line}: {type(exc).__name__}: {exc}") from None


def _as_knob(value: Any) -> Knob:
    return value if isinstance(value, Knob) else Fixed(value)


def _check_values(knobs: dict[str, dict[str, Knob]]) -> list[str]:
    problems = []
    for comp, comp_knobs in knobs.items():
        for name, knob in comp_knobs.items():
            problems += _knob_problems(f"{comp}.{name}", COMPONENTS[comp].knobs[name], knob)
    return problems


def _never_active(knobs: dict[str, dict[str, Knob]]) -> list[str]:
    """Knobs the space sets that no trial could use: fixed switches rule them out."""
    values = {c: {k: knob.value if isinstance(knob, Fixed) else ANY_VALUE
                  for k, knob in comp.items()} for c, comp in knobs.items()}
    return [f"'{key}' has no effect: {why}; remove it or change that switch"
            for key, why in never_active(values)]


def _knob_problems(key: str, spec: KnobSpec, knob: Knob) -> list[str]:
    own = knob.problems()
    if own:
        return [f"'{key}': {p}" for p in own]
    if isinstance(knob, (Int, Float)) and spec.type not in (int, float):
        return [f"'{key}' must be {spec.allowed()}; use Choice(...) or a plain value, not "
                f"{type(knob).__name__}(...)"]
    if isinstance(knob, Float) and spec.type is int:
        return [f"'{key}' must be {spec.allowed()}; got {knob.describe()} (use Int(...))"]
    values = knob.values_for_check()
    if spec.per and isinstance(knob, Fixed) and isinstance(knob.value, list):
        values = knob.value or [None]
    return [p for p in (spec.problem(key, v) for v in values) if p][:1]


def _raise_problems(path: str, problems: list[str]) -> None:
    if problems:
        raise SearchError([f"{path}: {p}." for p in problems],
                          hint="Run `python -m search space FILE` to see every component and knob.")
