"""A Config: one sampled point of a space plus its data spec and seed.

It is plain data that round-trips through YAML (safe_load only) and hashes
the same way on every machine, so ``train best.yaml`` rebuilds the trial's model.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from search.data.dataset import DataSpec
from search.errors import SearchError, shown
from search.inputs import check_values, unknown_keys
from search.space.schema import COMPONENTS, KnobSpec
from search.space.structure import never_active, structure_problems
from search.yaml_files import read_yaml, write_yaml_atomic

NO_BACKBONE_VALUES = {"name": "none"}  # the backbone component of a plain conv stack

__all__ = ["Config", "read_yaml", "write_yaml_atomic"]

TOP_KEYS = ("params", "data", "seed", "result", "study", "search_version")


@dataclass(frozen=True)
class Config:
    """``params`` is component -> knob -> value (inactive knobs absent)."""

    params: dict[str, dict[str, Any]]
    data: DataSpec = field(default_factory=DataSpec)
    seed: int = 0

    def get(self, component: str, knob: str) -> Any:
        """The knob's value, or its baseline when the config leaves it out."""
        spec = COMPONENTS[component].knobs[knob]
        value = self.params.get(component, {}).get(knob)
        if spec.per:
            count = int(self.get(component, spec.per))
            values = list(value) if isinstance(value, list) else [spec.default if value is None
                                                                   else value]
            return (values + values[-1:] * count)[:count] if values else []
        return spec.default if value is None else value

    def enabled(self, component: str) -> bool:
        """Whether ``component`` is switched on (its ``enabled`` knob, or the baseline's)."""
        return bool(self.get(component, "enabled"))

    def replace(self, *, params: dict | None = None, seed: int | None = None,
                data: DataSpec | None = None) -> Config:
        """A copy with new ``params``, ``seed`` or ``data``; the others are kept."""
        return Config(params if params is not None else self.params,
                      data or self.data, self.seed if seed is None else seed)

    def with_knob(self, component: str, knob: str, value: Any) -> Config:
        """A copy with ``component.knob`` set to ``value`` (the params are copied, not shared)."""
        params = {c: dict(v) for c, v in self.params.items()}
        params.setdefault(component, {})[knob] = value
        return self.replace(params=params)

    def without_inactive(self) -> Config:
        """The same model without the knobs it does not use (an older version stored some)."""
        unused = {tuple(key.split(".")) for key, _ in never_active(self.params)}
        return self.replace(params={c: {k: v for k, v in knobs.items() if (c, k) not in unused}
                                    for c, knobs in self.params.items()})

    def to_dict(self) -> dict[str, Any]:
        """The config as plain YAML values: params, data and seed."""
        return {"params": self.params, "data": self.data.to_dict(), "seed": self.seed}

    def canonical_params(self) -> dict[str, dict[str, Any]]:
        """Every component's active knobs with defaults filled in (but a knob ``added_later``
        left out at its default), per-block lists at their count and numbers in the knob's own
        type: equal models give equal dicts."""
        out: dict[str, dict[str, Any]] = {}
        for comp_name, component in COMPONENTS.items():
            values: dict[str, Any] = {}
            for knob, spec in component.knobs.items():
                if spec.is_active(values, self.params):
                    values[knob] = _canonical(spec, self.get(comp_name, knob))
            identity = _identity(comp_name, component.knobs, values)
            if identity != NO_BACKBONE_VALUES or comp_name != "backbone":  # a conv stack's
                out[comp_name] = identity  # identity predates backbones: keep its digest
        return out

    def digest(self) -> str:
        """The identity of the trained model: the same for configs that build and train it alike
        (``1`` and ``1.0``, a default left out or written out, an inactive knob or none)."""
        content = {"params": self.canonical_params(), "data": self.data.to_dict(), "seed": self.seed}
        text = json.dumps(content, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @classmethod
    def from_dict(cls, raw: Any, *, source: str, activity: bool = True) -> Config:
        """``activity=False`` for configs the engine stored itself (a trial's): checked as
        written, without refusing a knob an older version still treated as active."""
        if not isinstance(raw, dict):
            raise SearchError(f"{source}: expected a mapping with 'params', 'data' and 'seed'; "
                              f"got {type(raw).__name__}.")
        problems = [f"{source}: unknown top-level key '{k}'; allowed: {', '.join(TOP_KEYS)}."
                    for k in raw if k not in TOP_KEYS]
        params = raw.get("params")
        if not isinstance(params, dict):
            problems.append(f"{source}: 'params' must be a mapping of components; got {shown(params)}.")
        else:
            problems += check_params(params, source, activity=activity)
        problems += check_values(source, {"seed": raw.get("seed", 0)})
        problems += result_problems(raw.get("result"), source)
        if problems:
            raise SearchError(problems)
        return cls(params, DataSpec.from_dict(raw.get("data") or {}, source=source),
                   raw.get("seed", 0))

    @classmethod
    def from_yaml(cls, path: str | Path) -> tuple[Config, dict[str, Any]]:
        """The config and the file's ``result`` section (metrics of the trial it came from)."""
        raw = read_yaml(path)
        return cls.from_dict(raw, source=str(path)), (raw.get("result") or {})


def check_params(params: dict, source: str, *, activity: bool = True) -> list[str]:
    """Unknown components and knobs, values outside a knob's domain and (with ``activity``) knobs
    whose condition the given switches, or their baselines, rule out: they would be ignored."""
    problems = [f"{source}: {p}." for p in structure_problems(params, prefix="params.")]
    for comp, knobs in params.items():
        if comp not in COMPONENTS or not isinstance(knobs, dict):
            continue
        for name, value in knobs.items():
            spec = COMPONENTS[comp].knobs.get(name)
            if spec is not None and not _value_ok(spec, value):
                what = f"a list of {spec.allowed()}" if spec.per else spec.allowed()
                problems.append(f"{source}: 'params.{comp}.{name}' must be {what}; got {shown(value)}.")
    if activity and not problems:
        problems += [f"{source}: 'params.{key}' has no effect: {why}; remove it or change "
                     "that switch." for key, why in never_active(params)]
    return problems


def _identity(component: str, specs: dict[str, KnobSpec], values: dict[str, Any]) -> dict[str, Any]:
    """A component's active values as its part of a config's identity: a knob ``added_later``
    is left out at its default; a pretrained backbone is marked as keeping its batch norm in
    inference mode (runs from before, which trained it, are not the same model)."""
    identity = {k: v for k, v in values.items()
                if not (specs[k].added_later and v == specs[k].default)}
    if component == "backbone" and identity.get("weights", "none") != "none":
        identity["batch_norm"] = "inference"
    return identity


def _canonical(spec: KnobSpec, value: Any) -> Any:
    if isinstance(value, list):
        return [_canonical(spec, v) for v in value]
    return float(value) if spec.type is float and not isinstance(value, bool) else value


RESULT_KEYS: dict[str, tuple[type, ...]] = {
    "trial": (int, str), "val_accuracy": (float, int), "best_epoch": (int,),
    "epochs_trained": (int,), "params_count": (int,), "seconds_per_epoch": (float, int),
    "keras_backend": (str,), "engine": (str,), "oracle": (str,)}


def result_problems(result: Any, source: str) -> list[str]:
    """A config file's ``result`` section (what the trial scored) is checked like the rest:
    ``train`` compares against it and ``--refit`` trains for its ``best_epoch``."""
    if result is None:
        return []
    if not isinstance(result, dict):
        return [f"{source}: 'result' must be a mapping of the trial's figures (as `search run` "
                f"writes it); got {shown(result)}."]
    problems = unknown_keys(source, result, RESULT_KEYS, "result key")
    for key, kinds in RESULT_KEYS.items():
        value = result.get(key)
        if value is not None and not _result_value_ok(key, value, kinds):
            problems.append(f"{source}: 'result.{key}' must be {_RESULT_ALLOWED[key]}; got "
                            f"{shown(value)}.")
    return problems


_RESULT_ALLOWED = {"trial": "a trial number or id", "val_accuracy": "a number in [0, 1]",
                   "best_epoch": "an int in [1, 1000]", "epochs_trained": "an int in [0, 1000]",
                   "params_count": "an int >= 0", "seconds_per_epoch": "a number >= 0",
                   "keras_backend": "a string", "engine": "a string", "oracle": "a string"}


def _result_value_ok(key: str, value: Any, kinds: tuple[type, ...]) -> bool:
    if isinstance(value, bool) or not isinstance(value, kinds):
        return False
    if isinstance(value, str):
        return len(value) <= 200
    low, high = {"val_accuracy": (0, 1), "best_epoch": (1, 1000), "epochs_trained": (0, 1000),
                 "trial": (0, 10**9)}.get(key, (0, 10**15))
    try:
        return low <= float(value) <= high
    except OverflowError:
        return False


def _value_ok(spec: KnobSpec, value: Any) -> bool:
    if spec.per:
        return isinstance(value, list) and all(spec.accepts(v) for v in value)
    return spec.accepts(value)
