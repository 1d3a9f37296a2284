"""The one constraint table: every value a user or a stored study hands the engine.

In the spirit of scikit-learn's ``_parameter_constraints``, each input is declared
once, here, and checked by the same declaration wherever it enters: a command-line
flag (argparse types are made from it), a study or ablation YAML file, or a value
read back from a study's storage. Knobs (``search/schema.py``) share the same
:class:`Domain` checks. Every problem names where the value came from, the key,
what is allowed and what was received; unknown names get a "did you mean".
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from search.storage_url import redact
from search.domain import Domain, did_you_mean
from search.errors import shown
from search.value_kinds import KINDS, check_study_name, parse_duration

__all__ = ["Domain", "Option", "OPTIONS", "check_values", "parsed", "arg_help", "unknown_keys", "did_you_mean",
           "parse_duration", "check_study_name", "arg_type", "SAMPLERS", "MODEL_BASED", "PRUNERS",
           "ENGINES",
           "DATASETS", "NORMALIZATIONS", "JIT_MODES", "PLACEMENTS"]

SAMPLERS = ("tpe", "tpe-local", "random", "cmaes", "gp", "grid")
MODEL_BASED = ("tpe", "tpe-local", "gp", "cmaes")  # with no warm start, they try the baseline
PRUNERS = ("hyperband", "median", "successive-halving", "successive-halving-subset", "none")
DEFAULT_SAMPLER, DEFAULT_PRUNER = "tpe", "successive-halving"  # chosen on development tasks (bench/RESULTS.md)
ENGINES = ("optuna", "keras-tuner", "keras-tuner-bayesian")
DATASETS = ("fashion_mnist", "mnist", "cifar10", "digits", "npz")
NORMALIZATIONS = ("scale", "zscore", "per_channel")
JIT_MODES = ("auto", "on", "off")
PLACEMENTS = ("auto", "device", "host")
MAX_COUNT = 10**9  # trials, runs, images: more than any search will see, small enough to print


@dataclass(frozen=True)
class Option(Domain):
    """One engine option (a flag, a study-file key or a stored setting).

    ``type`` may also be a named kind whose check is a function: ``duration``
    (seconds > 0, or text such as 8h), ``study_name``, ``gpus``, ``text``.
    """

    type: Any
    doc: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[Any, ...] | None = None

    def problem(self, key: str, value: Any) -> str | None:
        """Like :meth:`Domain.problem`, with a named kind checked by its own function."""
        special = KINDS.get(self.type) if isinstance(self.type, str) else None
        if special is None:
            return super().problem(key, value)
        try:
            special[0](value)
        except ValueError as exc:
            quoted = redact(value) if isinstance(value, str) else value
            return f"'{key}' must be {special[1]}; got {shown(quoted)} ({exc})"
        return None

    def parse(self, value: Any) -> Any:
        """The checked value in its engine form (a duration becomes seconds)."""
        if self.type == "duration":
            return parse_duration(value)
        if self.type == "seed_count" and value != "auto":
            return int(value)
        return value


OPTIONS: dict[str, Option] = {
    "study": Option("study_name", "study name (default: the file's stem)"),
    "space": Option("text", "the space file, e.g. spaces/cnn.py"),
    "trials": Option(int, "total finished trials for the study, across all workers", low=1, high=MAX_COUNT),
    "timeout": Option("duration", "search for this long, e.g. 20m or 8h (a running trial stops "
                      "at the deadline and keeps its best epoch)"),
    "warm_start": Option("text", "a config YAML (e.g. another study's best.yaml) or a portfolio "
                         "file (entries:) tried first; repeatable, before the space file's WARM_START"),
    "sampler": Option(str, "Optuna sampler", choices=SAMPLERS),
    "pruner": Option(str, "Optuna pruner", choices=PRUNERS),
    "engine": Option(str, "optuna, or KerasTuner's Hyperband or Bayesian optimisation over the same space", choices=ENGINES),
    "seed": Option(int, "study seed (data split and trial seeds derive from it)", low=0,
                   high=2**31 - 1),
    "epochs": Option(int, "fix every trial's epochs to N", low=1, high=1000),
    "max_params": Option(int, "prune networks with more trainable weights than this (a frozen "
                        "backbone does not count)", low=1, high=10**12),
    "max_failures": Option(int, "stop after this many consecutive failed trials (0: never)", low=0, high=MAX_COUNT),
    "storage": Option("storage", "Optuna storage URL (default sqlite:///studies/STUDY/study.db)"),
    "processes": Option(int, "concurrent trial processes (per GPU with --gpus)", low=1, high=256),
    "gpus": Option("gpus", "comma-separated GPU ids"),
    "workers": Option(int, "Slurm array tasks, one worker each", low=1, high=10000),
    "cpus_per_worker": Option(int, "CPU cores per worker (--cpus-per-task)", low=1, high=1024),
    "gpus_per_worker": Option(int, "GPUs per worker (--gpus-per-task; 0: none)", low=0, high=64),
    "mem": Option("slurm_mem", "memory per worker, e.g. 16G"),
    "slurm_time": Option("slurm_time", "each array task's time limit, e.g. 8:00:00 or 8h; at the "
                         "limit the running trial is re-queued and the task requeued"),
    "partition": Option("slurm_name", "Slurm partition"),
    "account": Option("slurm_name", "Slurm account"),
    "qos": Option("slurm_name", "Slurm quality of service"),
    "sbatch": Option("sbatch_line", "one more #SBATCH option, e.g. --constraint=a100 (repeatable)"),
    "storage_env": Option("env_name", "read the storage URL from this environment variable, so "
                          "its password is on no command line"),
    "signal_lead": Option(int, "seconds before the time limit at which Slurm asks the worker to "
                          "stop (--signal=B:USR2@N)", low=10, high=3600),
    "max_stalled_requeues": Option(int, "requeues in a row of a task whose starts finished no "
                                   "epoch or trial (default 3)", low=0, high=MAX_COUNT),
    "released_slots": Option(int, "claimed trial slots whose worker stopped before running "
                             "them (kept by the study's budget)", low=0, high=MAX_COUNT),
    "top": Option(int, "how many configs to export", low=1, high=MAX_COUNT),
    "seeds": Option("seed_count", "seeds per variant (at least 2), or 'auto': start with 3 and "
                    "add seeds only to the comparisons still undecided"),
    "max_seeds": Option(int, "with --seeds auto: the most seeds one comparison may get", low=3,
                        high=100),
    "max_runs": Option(int, "with --seeds auto: add no seeds once the two views would use more "
                            "distinct runs than this (ladder, path and interactions come on top)",
                       low=1, high=MAX_COUNT),
    "max_time": Option("duration", "with --seeds auto: add no seeds after this long, e.g. 2h"),
    "min_effect": Option(float, "contributions smaller than this many accuracy points are called "
                                "negligible once their interval shows it (0: never)", low=0, high=100),
    "interactions": Option(int, "measure the pairwise interactions of this many leading "
                                "components (0: none; 1 is no pair)", low=0, high=8),
    "path_seeds": Option(int, "seeds per ablation-path step", low=1, high=100),
    "alpha": Option(float, "family-wise significance level", low=0, high=0.5, low_open=True),
    "steps_per_execution": Option(int, "training steps per compiled call", low=1, high=10000),
    "jit": Option(str, "XLA compilation", choices=JIT_MODES),
    "backend": Option(str, "Keras backend (default: the study's, else tensorflow)",
                      choices=("tensorflow", "jax", "torch")),
    "repeats": Option(int, "train the config at N seeds (its own and the next N-1), fused into one "
                      "program where it can be; one line per seed, then mean and sd", low=1, high=64),
    "probe": Option(str, "also score k-nearest neighbours on the penultimate layer's features",
                    choices=("knn",)),
    "data_placement": Option(str, "where training images live", choices=PLACEMENTS),
    "limit": Option(int, "use at most N train (and N test) images", low=20, high=MAX_COUNT),
    "data_name": Option(str, "data set", choices=DATASETS),
    "normalize": Option(str, "normalisation", choices=NORMALIZATIONS),
    "val_fraction": Option(float, "validation share of the training pool", low=0, high=1,
                           low_open=True, high_open=True),
}


def unknown_keys(source: str, raw: dict, allowed: Iterable[str], what: str = "key") -> list[str]:
    """One problem per key of ``raw`` not in ``allowed``, with the closest allowed key."""
    allowed = list(allowed)
    return [f"{source}: unknown {what} '{k}'{did_you_mean(k, allowed)}; allowed: "
            f"{', '.join(allowed)}." for k in raw if k not in allowed]


def check_values(source: str, raw: dict[str, Any], names: Iterable[str] | None = None) -> list[str]:
    """Problems of each present value of ``raw`` against OPTIONS (``names``: which keys)."""
    keys = [k for k in (names if names is not None else raw) if k in raw and k in OPTIONS]
    found = (OPTIONS[k].problem(k, raw[k]) for k in keys)
    return [f"{source}: {p}." for p in found if p]


def parsed(raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` (already checked) with each table value in engine form (durations in seconds)."""
    return {k: OPTIONS[k].parse(v) if k in OPTIONS else v for k, v in raw.items()}


def arg_type(name: str, label: str | None = None) -> Callable[[str], Any]:
    """An argparse ``type=`` from the table: same check, same message as in a YAML file."""
    option, label = OPTIONS[name], label or name

    def parse(text: str) -> Any:
        value: Any = text
        if option.type is int:
            try:
                value = int(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
        elif option.type is float:
            try:
                value = float(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
        problem = option.problem(label, value)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return option.parse(value)
    parse.__name__ = name  # argparse names the type in its messages
    return parse


def arg_help(name: str, label: str | None = None) -> dict[str, Any]:
    """``help`` and, for choices, a ``metavar`` listing them (argparse's own choices would
    reject a misspelling without a "did you mean")."""
    option = OPTIONS[name]
    extra = {"metavar": "{" + ",".join(option.choices) + "}"} if option.choices else {}
    return {"type": arg_type(name, label), "help": option.doc, **extra}
