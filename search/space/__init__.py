"""The search space: knobs as data (``search.knobs``), the schema of every component the
engine can build, space files, configs (one sampled point, YAML round trip, digest) and
warm starts."""

from __future__ import annotations

from search._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "KnobSpec": "schema", "Component": "schema", "COMPONENTS": "schema",
    "AUGMENTATIONS": "schema", "BACKBONES": "schema", "knob_spec": "schema",
    "never_active": "structure", "structure_problems": "structure", "Space": "space", "load_space": "space",
    "space_from_json": "space", "Config": "config", "WarmStart": "warm_start",
    "warm_start_trials": "warm_start", "read_warm_start_file": "warm_start",
    "read_warm_start": "warm_start",
    "space_warm_start": "warm_start",
})
