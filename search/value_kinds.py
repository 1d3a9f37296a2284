"""The named kinds of input value an engine option may be (``Option.type``): a duration, a
study name, a storage URL, Slurm's time limits, names and sbatch lines, ... each with the
check that accepts it or says, in a ValueError, what is allowed."""

from __future__ import annotations

import math
import re
from typing import Any, Callable

__all__ = ["KINDS", "parse_duration", "check_study_name", "MAX_DURATION", "SBATCH_OWN"]

MAX_DURATION = 366 * 24 * 3600.0
STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def parse_duration(value: Any) -> float:
    """90, '90', '90s', '30m', '8h', '1h30m' -> seconds; must be more than zero."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value) if isinstance(value, float) or abs(value) < 10**18 else math.inf
    elif isinstance(value, str):
        parts = re.fullmatch(r"\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*"
                             r"(?:(\d+(?:\.\d+)?)s?)?\s*", value)
        if not value.strip() or not parts or not any(parts.groups()):
            raise ValueError("not a duration; use e.g. 90s, 30m, 8h or 1h30m")
        hours, minutes, secs = (float(g) if g else 0.0 for g in parts.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    else:
        raise ValueError("not a duration; use e.g. 90s, 30m, 8h or 1h30m")
    if math.isnan(seconds) or seconds <= 0:
        raise ValueError("a time limit must be more than zero; leave it out for no limit")
    if seconds > MAX_DURATION:
        raise ValueError("a time limit must be at most 366 days; leave it out for no limit")
    return seconds


def check_study_name(name: Any) -> str:
    """A study name is one safe path component: it names the folder studies/NAME."""
    if not isinstance(name, str) or not STUDY_NAME.fullmatch(name) or ".." in name:
        raise ValueError("letters, digits, '.', '_' and '-', starting with a letter or digit, at "
                         "most 100 characters, no '..'")
    return name


def _check_gpus(value: Any) -> None:
    ids = str(value).split(",")
    if not all(re.fullmatch(r"\d+", i.strip()) for i in ids) or len(set(ids)) != len(ids):
        raise ValueError("distinct GPU ids separated by commas, e.g. 0,1,2,3")


def _check_storage(value: Any) -> None:
    _check_text(value)
    if not value.startswith(("sqlite:///", "postgresql", "mysql")) and \
            not value.endswith((".log", ".journal")):
        raise ValueError("use sqlite:///path.db, postgresql://user:password@host/db, or a journal "
                         "file path ending in .log")


def _check_seed_count(value: Any) -> None:
    if value == "auto":
        return
    try:
        count = int(value)
    except (TypeError, ValueError):
        raise ValueError("an integer or 'auto'") from None
    if isinstance(value, (bool, float)) or not 2 <= count <= 100:
        raise ValueError("paired statistics need at least 2 seeds; at most 100")


def _check_text(value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a non-empty string")


SLURM_TIME = re.compile(r"\d+(:\d{1,2}){0,2}|\d+-\d{1,2}(:\d{1,2}){0,2}|unlimited|infinite",
                        re.IGNORECASE)  # Slurm's own forms
SBATCH_OWN = ("--array", "--output", "--error", "--open-mode", "--signal", "--requeue",
              "--no-requeue", "--job-name", "--export", "--export-file", "--wrap", "--chdir",
              "--ntasks", "--time", "--wait", "--test-only", "--parsable", "--clusters")


def _check_slurm_time(value: Any) -> None:
    """Slurm's forms (minutes, MM:SS, HH:MM:SS, D-HH[:MM[:SS]]) or a duration such as 8h."""
    text = str(value).strip()
    if not SLURM_TIME.fullmatch(text):
        parse_duration(text)


def _check_pattern(pattern: str, example: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if not isinstance(value, str) or not re.fullmatch(pattern, value):
            raise ValueError(example)
    return check


def _check_sbatch_line(value: Any) -> None:
    _check_pattern(r"--[a-z][a-z0-9-]*(=[^\x00-\x1f]*)?", "one option, e.g. --constraint=a100")(value)
    name = value.split("=")[0]
    if any(own.startswith(name) for own in SBATCH_OWN):  # sbatch takes abbreviations too
        raise ValueError(f"the sweep script sets {', '.join(SBATCH_OWN)} itself (a time limit: "
                         "this command's own --time)")


KINDS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "duration": (parse_duration, "a duration > 0 (seconds, or text such as 90s, 30m, 8h)"),
    "study_name": (check_study_name, "a study name"),
    "gpus": (_check_gpus, "a list of GPU ids"),
    "text": (_check_text, "a non-empty string"),
    "seed_count": (_check_seed_count, "an integer in [2, 100] or 'auto'"),
    "storage": (_check_storage, "an Optuna storage URL"),
    "slurm_time": (_check_slurm_time, "a Slurm time limit (minutes, HH:MM:SS, D-HH:MM) or a "
                                      "duration such as 8h"),
    "slurm_mem": (_check_pattern(r"[1-9]\d*[KMGT]?", "e.g. 16G or 4000M"), "Slurm's memory size"),
    "slurm_name": (_check_pattern(r"[A-Za-z0-9_.+-]+(,[A-Za-z0-9_.+-]+)*", "e.g. gpu or gpu,long"),
                   "a Slurm name"),
    "sbatch_line": (_check_sbatch_line, "an sbatch option"),
    "env_name": (_check_pattern(r"[A-Za-z_][A-Za-z0-9_]*", "e.g. SEARCH_DB_URL"),
                 "an environment variable name"),
}
