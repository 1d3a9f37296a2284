"""Data sets: what to load (``DataSpec``), the readers of IDX, npz and CIFAR-10 files (data only,
never code), checks, class merges and subsets, normalisation and the stratified split."""

from __future__ import annotations

from search._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "DataSpec": "dataset", "Dataset": "dataset", "load_dataset": "dataset",
    "CLASS_PRESETS": "dataset", "load_raw": "files",
})
