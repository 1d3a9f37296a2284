"""Ablation: what each component contributes, measured by retraining with paired seeds
(leave-one-out, add-one-in, ladder, path, interactions) and blocked-design statistics."""

from __future__ import annotations

from search._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "AblationPlan": "engine", "AblationResult": "engine", "run_ablation": "engine",
    "OptunaRunStore": "store", "KerasObjective": "objective", "show_result": "report",
    "write_ablation_report": "report", "describe_plan": "plan",
})
