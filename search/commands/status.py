"""`status STUDY`: one screen on a study."""

from __future__ import annotations

import argparse

from rich.console import Console

from search.commands.requests import load_existing_study
from search.report.status import status_panel

__all__ = ["status"]


def status(args: argparse.Namespace, console: Console) -> int:
    """`status`: print the study's status panel; return 0."""
    study = load_existing_study(args.study, args.storage, args.studies_dir)
    console.print(status_panel(study))
    return 0
