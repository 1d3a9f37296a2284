"""A package's public names, imported on first use (PEP 562).

The CLI chooses the Keras backend before Keras is imported, so a package's face must
not import its modules eagerly: ``from search.model import train`` imports
``search.model.training`` only when ``train`` is asked for.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any, Callable

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], list[str]]:
    """``__getattr__`` and ``__all__`` for ``package``: ``exports`` maps a name to its module."""
    def getattr_(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(f"{package}.{exports[name]}"), name)
    return getattr_, sorted(exports)
