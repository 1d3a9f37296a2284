"""Checks of a component structure against the schema, in one wording everywhere.

Unknown components and knobs (``structure_problems``) and knobs given where they can
have no effect (``never_active``), for space files, configs, warm starts and stored spaces.
"""

from __future__ import annotations

from typing import Any

from search.errors import shown
from search.inputs import did_you_mean
from search.space.schema import COMPONENTS, KnobSpec, describe_when

__all__ = ["ANY_VALUE", "never_active", "structure_problems"]


ANY_VALUE = object()  # a searched knob in ``never_active``: it may take a value that activates


def never_active(params: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    """``(component.knob, why)`` for each knob given in ``params`` that can have no effect: its
    switch's value (given, or the baseline's) rules its condition out; a switch at ``ANY_VALUE``
    rules nothing out. Such a knob would be silently ignored: callers report it as a mistake."""
    found = []
    for comp, given in params.items():
        values: dict[str, Any] = {}
        inactive: dict[str, str] = {}  # knob -> why, so a chain names its first cause
        for name, spec in COMPONENTS[comp].knobs.items():
            switch = _switch_value(spec, values, params)
            if switch is ANY_VALUE or spec.is_active(values, params):
                values[name] = given.get(name, spec.default)
                continue
            qualified = spec.when[0] if "." in spec.when[0] else f"{comp}.{spec.when[0]}"
            if switch is None:
                state = f"itself inactive, as {inactive[spec.when[0]]}"
            else:
                owner, knob = qualified.split(".")
                state = repr(switch) + ("" if knob in params.get(owner, {}) else " (its baseline)")
            inactive[name] = f"{qualified} is {state}"
            if name in given:
                found.append((f"{comp}.{name}", f"it applies only when "
                              f"{describe_when((qualified, spec.when[1]))}, and {inactive[name]}"))
    return found


def _switch_value(spec: KnobSpec, values: dict[str, Any], params: dict[str, dict]) -> Any:
    if spec.when is None:
        return None
    switch = spec.when[0]
    if "." not in switch:
        return values.get(switch)
    comp, knob = switch.split(".")
    return params.get(comp, {}).get(knob, COMPONENTS[comp].knobs[knob].default)


def structure_problems(raw: dict, *, prefix: str = "") -> list[str]:
    """Unknown components, components that are not mappings, and unknown knobs, in one
    wording for space files, configs, warm starts and stored spaces (``prefix``: where the
    components sit, e.g. ``params.``). Sentences without the source and final full stop."""
    problems = []
    for comp, knobs in raw.items():
        if comp not in COMPONENTS:
            problems.append(f"unknown component '{prefix}{comp}'{did_you_mean(comp, COMPONENTS)}; "
                            f"allowed: {', '.join(COMPONENTS)}")
        elif not isinstance(knobs, dict):
            problems.append(f"'{prefix}{comp}' must be a mapping of knobs; got {shown(knobs)}")
        else:
            allowed = COMPONENTS[comp].knobs
            problems += [f"unknown knob '{prefix}{comp}.{k}'{did_you_mean(k, allowed)}; '{comp}' "
                         f"has: {', '.join(allowed)}" for k in knobs if k not in allowed]
    return problems
