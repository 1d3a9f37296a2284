"""A study's life: settings and storage, create-or-load under a lock, samplers and pruners,
budgets that bind every worker, retries and the database's clock, the run loop and its
trials, stops and deadlines, workers, the KerasTuner engine, and every use of Optuna's
internals (``optuna_internals``, pinned by a test to the Optuna version).

Kept import-light on purpose: the CLI imports the storage helpers before it picks the
Keras backend, so nothing here imports Keras at package level.
"""

from __future__ import annotations

from search._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "StudySettings": "lifecycle", "open_study": "lifecycle", "make_sampler": "algorithms",
    "make_pruner": "algorithms", "default_storage": "lifecycle", "RunOptions": "runner",
    "run_study": "runner", "Objective": "trial", "run_trial": "trial", "TrialBudget": "budget",
    "StudyBudget": "budget", "set_study_budget": "budget", "StorageUnavailable": "storage_retry",
    "with_storage_retry": "storage_retry", "WorkerPlan": "workers", "spawn_workers": "workers",
    "run_keras_tuner": "kerastuner", "StopSignal": "stop_signal",
})
