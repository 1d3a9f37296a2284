"""The configs an ablation compares: which components differ between reference and
baseline, and one config with a component (or an ``a+b`` group) taken from another."""

from __future__ import annotations

from typing import Sequence

from search.space.config import Config

__all__ = ["differing_components", "with_component", "changes_both_ways", "changed_sides"]


def differing_components(reference: Config, baseline: Config, *,
                         exclude: Sequence[str] = ("training",)) -> list[str]:
    """Components whose swap changes a model both ways (leave-one-out and add-one-in), in
    schema order: knobs inactive on either side (the conv stack under a backbone) are no
    difference, as a variant equal to its control measures nothing."""
    from search.space.schema import COMPONENTS

    return [name for name in COMPONENTS if name not in exclude
            and _component(reference, name) != _component(baseline, name)
            and changes_both_ways(reference, baseline, name)]


def changed_sides(reference: Config, baseline: Config, unit: str) -> tuple[bool, bool]:
    """Whether taking ``unit`` from the baseline changes the reference (leave-one-out), and
    whether taking it from the reference changes the baseline (add-one-in)."""
    return (with_component(reference, baseline, unit).digest() != reference.digest(),
            with_component(baseline, reference, unit).digest() != baseline.digest())


def changes_both_ways(reference: Config, baseline: Config, unit: str) -> bool:
    """Whether ``unit`` changes the model in both views (see :func:`changed_sides`)."""
    return all(changed_sides(reference, baseline, unit))


def _component(config: Config, name: str) -> dict:
    from search.space.schema import COMPONENTS

    values: dict = {}  # in schema order: a knob is active by the active knobs before it
    for knob, spec in COMPONENTS[name].knobs.items():
        if spec.is_active(values, config.params):
            values[knob] = config.get(name, knob)
    return values


def with_component(target: Config, source: Config, unit: str) -> Config:
    """``target`` with the component (or ``a+b`` group of components) taken from ``source``."""
    params = {c: dict(v) for c, v in target.params.items()}
    for name in unit.split("+"):
        params[name] = _component(source, name)
    return target.replace(params=params)
