"""Keras models: shapes planned before building, augmentation, conv blocks or a backbone, the
head; optimisers and schedules; training with its per-epoch record, alone or k seeds fused
into one program; where it runs."""

from __future__ import annotations

from search._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "ImpossibleNetwork": "network", "plan_feature_maps": "network", "build_model": "network",
    "TrainResult": "training", "TrainingDiverged": "training", "train": "training",
    "release_memory": "training", "plan_backbone": "backbone", "check_weights": "backbone",
    "Execution": "execution", "configure": "execution", "device_report": "devices",
    "train_fused": "fused", "train_seeds": "fused", "fusion_obstacle": "fused",
})
