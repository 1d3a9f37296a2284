"""What a study shows: its views (importance, history), the best model's refit and test
evaluation, the kNN probe, the status screen, rendered as HTML and Markdown."""

from __future__ import annotations

from search._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "study_sections": "study_report", "model_sections": "study_report", "Section": "render",
    "write_report": "render", "RefitOutcome": "refit", "refit_and_save": "refit",
    "load_refit_model": "refit", "status_panel": "status", "eta_seconds": "status",
    "ImportanceView": "importance", "importance_views": "importance",
    "TestEvaluation": "evaluation", "evaluate": "evaluation", "ProbeResult": "probe",
    "knn_probe": "probe",
})
