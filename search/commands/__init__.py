"""The command line: one module per verb (parse, typed request, engine, render) and the
requests they build from flags, study and ablation files, and stored studies."""

from __future__ import annotations

from search._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "main": "cli", "build_parser": "cli", "EXIT_STORAGE_UNAVAILABLE": "cli",
})
