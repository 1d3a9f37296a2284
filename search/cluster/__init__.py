"""Sweeps on a cluster: the Slurm job array that runs a study's workers (its script, its
submission, its tasks' states) and the check that a path is on a shared filesystem."""

from __future__ import annotations

from search._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "SlurmResources": "sbatch", "SweepJob": "sbatch", "sweep_script": "sbatch",
    "slurm_time": "sbatch", "submit": "scheduler", "array_tasks": "scheduler",
    "ArrayTask": "scheduler", "shared_path_problem": "shared_fs",
})
