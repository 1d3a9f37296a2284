"""`space FILE`: the space as a table of every knob, searched or fixed."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from search.knobs import Fixed
from search.space.schema import describe_when
from search.space.space import Space, load_space

__all__ = ["show_space", "space_table", "first_trials"]


def show_space(args: argparse.Namespace, console: Console) -> int:
    """`space`: print the space file as a table; return 0."""
    space = load_space(args.file)
    console.print(space_table(space))
    console.print(first_trials(space), soft_wrap=True)
    return 0


def first_trials(space: Space) -> str:
    """What a search of ``space`` tries before its sampler's own picks: the space's
    WARM_START entries, else (and with ``--no-warm-start``) the baseline model."""
    from search.space.warm_start import baseline_entry

    _, partial = baseline_entry(space)
    knobs = ", ".join(f"{comp}.{name}={value}" for comp, values in partial.items()
                      for name, value in values.items())
    entries = space.warm_start if isinstance(space.warm_start, (list, tuple)) else ()
    start = (f"tried first: the {len(entries)} WARM_START entries. With --no-warm-start, "
             if entries else "tried first (no WARM_START): ")
    return start + ("TPE, GP and CMA-ES try the baseline model, every knob at its default: "
                    f"{knobs or 'nothing searched'}.")


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
