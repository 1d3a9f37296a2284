"""`space FILE`: the space as a table of every knob, searched or fixed."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from search.knobs import Fixed
from search.space.schema import describe_when
from search.space.space import Space, load_space

__all__ = ["show_space", "space_table"]


def show_space(args: argparse.Namespace, console: Console) -> int:
    """`space`: print the space file as a table; return 0."""
    space = load_space(args.file)
    console.print(space_table(space))
    return 0


def space_table(space: Space) -> Table:
    """A table of every knob of ``space``: component, values, condition and meaning."""
    table = Table(title=f"{space.path}: {len(space.searched())} searched knobs "
                        f"(digest {space.digest()})")
    for column in ("component", "knob", "searched", "values", "when", "what"):
        table.add_column(column, overflow="fold")
    for comp, name, spec, knob in space.entries():
        searched = "" if isinstance(knob, Fixed) else "yes"
        when = describe_when(spec.when) if spec.when else (
            f"one per {spec.per}" if spec.per else "")
        table.add_row(comp, name, searched, knob.describe(), when, spec.doc,
                      style=None if searched else "dim")
    return table
