"""`export STUDY`: the top trials' configs as YAML and every trial as CSV."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from search.space.config import write_yaml_atomic
from search.commands.requests import load_existing_study

__all__ = ["export"]


def export(args: argparse.Namespace, console: Console) -> int:
    """`export`: write the top trials' configs and trials.csv to ``--out``; return 0."""
    from optuna.trial import TrialState

    from search.study.lifecycle import best_yaml_content, study_dir

    study = load_existing_study(args.study, args.storage, args.studies_dir)
    out = Path(args.out) if args.out else study_dir(args.study, args.studies_dir) / "export"
    out.mkdir(parents=True, exist_ok=True)
    complete = sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)),
                      key=lambda t: -t.value)[: args.top]
    for rank, trial in enumerate(complete, start=1):
        write_yaml_atomic(out / f"top{rank:02d}-trial{trial.number}.yaml",
                          best_yaml_content(study, trial))
    frame = study.trials_dataframe(attrs=("number", "value", "state", "params", "user_attrs",
                                          "datetime_start", "duration"))
    frame.to_csv(out / "trials.csv", index=False)
    console.print(f"wrote {len(complete)} configs and trials.csv ({len(frame)} trials) to {out}")
    return 0
