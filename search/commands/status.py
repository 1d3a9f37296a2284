"""`status STUDY`: one screen on a study, with its Slurm array tasks when it has any."""

from __future__ import annotations

import argparse
from collections import Counter

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from search.commands.requests import load_existing_study
from search.commands.slurm_jobs import submitted_jobs
from search.report.status import status_panel

__all__ = ["status", "slurm_table"]


def status(args: argparse.Namespace, console: Console) -> int:
    """`status`: print the study's status panel (and its Slurm tasks); return 0."""
    study = load_existing_study(args.study, args.storage, args.studies_dir)
    jobs, problems = submitted_jobs(study.user_attrs, study.study_name)
    console.print(status_panel(study))
    for problem in problems:
        console.print(f"warning: {escape(problem)}", soft_wrap=True)
    if jobs:
        from search.cluster.scheduler import array_tasks

        tasks = array_tasks([str(job["job"]) for job in jobs])
        if isinstance(tasks, str):
            console.print(f"Slurm jobs {', '.join(str(j['job']) for j in jobs)}: {tasks}")
        else:
            console.print(slurm_table(jobs, tasks))
    return 0


def slurm_table(jobs: list[dict], tasks: list) -> Table:
    """One row per array task Slurm still knows: state, why it waits, how often requeued."""
    counts = Counter(task.state for task in tasks)
    summary = ", ".join(f"{n} {state.lower()}" for state, n in sorted(counts.items())) or \
        "none left in Slurm's queue"
    table = Table(title=f"Slurm jobs {', '.join(str(j['job']) for j in jobs)}: {summary}",
                  title_justify="left")
    for column in ("task", "state", "reason", "requeued"):
        table.add_column(column)
    for task in tasks:
        table.add_row(task.job, task.state, "" if task.reason == "None" else task.reason,
                      str(task.restarts))
    return table
