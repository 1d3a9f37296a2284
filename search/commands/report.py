"""`report STUDY`: the study's HTML and Markdown report, with the refit best model's views."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console

from search.space.config import Config, read_yaml
from search.commands.requests import load_existing_study

__all__ = ["report"]


def report(args: argparse.Namespace, console: Console) -> int:
    """`report`: write the study's HTML and Markdown report, with the refit model's views
    unless ``--no-model``; return 0."""
    from search.report.study_report import model_sections, study_sections, write_report
    from search.study.lifecycle import study_dir

    study = load_existing_study(args.study, args.storage, args.studies_dir)
    folder = study_dir(args.study, args.studies_dir)
    out = folder / "report"
    out.mkdir(parents=True, exist_ok=True)
    sections = study_sections(study, out)
    if not args.no_model:
        model_path = _current_refit_model(study, folder, console)
        if model_path is not None:
            sections += model_sections(study, model_path, out, study.best_trial.user_attrs["history"])
    html_path, md_path = write_report(sections, out, f"search report: {args.study}")
    console.print(f"wrote {html_path} and {md_path}")
    return 0


def _current_refit_model(study: Any, folder: Path, console: Console) -> Path | None:
    """best.keras if it was refit from the current best trial; refit it otherwise."""
    from search.report.refit import refit_and_save
    from search.study.lifecycle import best_yaml_content

    try:
        best = study.best_trial
    except ValueError:
        console.print("no complete trial yet: model views skipped")
        return None
    model_path, tested = folder / "best.keras", folder / "best.test.yaml"
    if model_path.exists() and tested.exists() and read_yaml(tested).get("trial") == best.number:
        return model_path
    console.print(f"refitting trial {best.number} on train+validation for the model views ...")
    content = best_yaml_content(study, best)
    config = Config.from_dict(content, source=f"trial {best.number}")
    refit_and_save(config, content["result"], model_path, verbose=0)
    return model_path
