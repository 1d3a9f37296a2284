"""The Slurm jobs a study records: one user attribute per job array (``slurm_job:ID``),
written by ``slurm`` when it submits and by a worker started inside a Slurm job, read by
``status``."""

from __future__ import annotations

import os
import re

from search.errors import shown

__all__ = ["SLURM_JOB_PREFIX", "submitted_jobs", "record_own_job"]

# One user attribute per submitted job array ("slurm_job:1234"), so two submissions at once
# both stay recorded (a single list would be read, extended and written back by each).
SLURM_JOB_PREFIX = "slurm_job:"
OLD_JOBS_ATTR = "slurm_jobs"  # the one list earlier versions kept, still read


def submitted_jobs(user_attrs: dict, study_name: str) -> tuple[list[dict], list[str]]:
    """The job arrays ``slurm`` submitted for the study, oldest first, from its user
    attributes, and a sentence for each attribute that is not what ``slurm`` writes."""
    old = user_attrs.get(OLD_JOBS_ATTR, [])
    records = [(OLD_JOBS_ATTR, record) for record in old] if isinstance(old, list) else \
        [(OLD_JOBS_ATTR, old)]
    records += [(key, value) for key, value in user_attrs.items()
                if key.startswith(SLURM_JOB_PREFIX)]
    jobs, problems = [], []
    for key, record in records:
        job = record.get("job") if isinstance(record, dict) else None
        if isinstance(job, (str, int)) and re.fullmatch(r"[0-9]{1,20}", str(job)):
            jobs.append(record)
        else:
            problems.append(f"study '{study_name}': the stored Slurm job record '{key}' is "
                            f"{shown(record)}, not a submitted job array's id; not shown.")
    return sorted(jobs, key=lambda record: int(record["job"])), problems


def record_own_job(study, environ: dict | None = None) -> None:
    """Inside a Slurm job (``SLURM_ARRAY_JOB_ID``, else ``SLURM_JOB_ID``), record that job as
    the study's, as ``slurm`` records what it submits: a sweep script resubmitted by hand with
    ``sbatch`` then shows in ``status`` too. A job already recorded is left as it is."""
    from search.study.storage_retry import with_storage_retry

    environ = os.environ if environ is None else environ
    ids = [environ.get(name, "") for name in ("SLURM_ARRAY_JOB_ID", "SLURM_JOB_ID")]
    job = next((i for i in ids if re.fullmatch(r"[0-9]{1,20}", i)), None)
    if job is None or SLURM_JOB_PREFIX + job in study.user_attrs:
        return
    count = environ.get("SLURM_ARRAY_TASK_COUNT", "1")
    record = {"job": job, "workers": int(count) if re.fullmatch(r"[0-9]{1,9}", count) else None,
              "script": None}
    with_storage_retry(study.set_user_attr, SLURM_JOB_PREFIX + job, record,
                       what="recording the Slurm job")
