"""What a command is asked to do, resolved and checked before anything trains.

A study comes from a space file or a study definition (YAML) plus flags, or, for
a worker, from what the study stored when it was created; an ablation comes from
a study or an ablation definition (YAML) plus flags. Every value passes the one
constraint table (``search/inputs.py``) wherever it came from, and every problem
is reported together. Nothing stored in a study is executed.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
import os
from pathlib import Path
from typing import Any

from search.space.config import read_yaml
from search.data.dataset import DataSpec
from search.errors import SearchError, shown
from search.inputs import (DEFAULT_PRUNER, DEFAULT_SAMPLER, OPTIONS, check_study_name, check_values,
                           did_you_mean, parsed, unknown_keys)
from search.space.space import Space, load_space, space_from_json
from search.space.warm_start import stored_warm_start_problems
from search.storage_url import STORAGE_ENV, StorageURL, redact, studies_dir_problem

__all__ = ["RunRequest", "run_request", "settings_from_args", "settings_from_study", "load_existing_study",
           "storage_for", "check_studies_dir", "stored_backend", "STUDY_KEYS"]

STUDY_KEYS = ("space", "study", "data", "trials", "timeout", "sampler", "pruner", "seed", "epochs",
              "max_params", "storage")
DATA_FLAGS = {"data": "name", "data_dir": "path", "limit": "limit", "classes": "classes",
              "normalize": "normalize", "val_fraction": "val_fraction"}
RUN_OPTION_KEYS = ("sampler", "pruner", "max_params", "overrides")


def storage_for(name: str, given: Any, root: str | Path, *, flag: str = "--storage") -> StorageURL:
    """The storage URL: given, else $SEARCH_STORAGE (how spawned workers get it), else SQLite.

    Refused before anything is created: a studies folder that is a file, a URL no storage
    here opens, a SQLite or journal file in a folder that does not exist (``flag`` names
    where the value came from in the message).
    """
    from search.study.lifecycle import default_storage

    check_studies_dir(root, name)
    if not given and os.environ.get(STORAGE_ENV):
        given, flag = os.environ[STORAGE_ENV], f"${STORAGE_ENV}"
        problem = OPTIONS["storage"].problem(flag, given)
        if problem:
            raise SearchError(f"environment: {problem}.")
    if not given:
        return default_storage(name, root)
    url = StorageURL(given)
    problem = url.location_problem(Path(root), Path(root) / name)
    if problem:
        raise SearchError(f"{flag} '{url}': {problem}.")
    return url


def check_studies_dir(root: str | Path, name: str | None = None, *, writable: bool = False) -> None:
    """Refuse a studies folder that is a file or lies under one, or (``writable``) that this
    user cannot write to: a clear message instead of a traceback once a trial has run."""
    problem = studies_dir_problem(Path(root), name, writable=writable)
    if problem:
        raise SearchError(f"--studies-dir '{root}': {problem}.",
                          hint="Pass a folder you can write to (it is created if missing), "
                               "e.g. --studies-dir studies.")


# -- run: a space file or study definition, plus flags -------------------------------------------

def _study_file(path: Path) -> dict[str, Any]:
    raw = read_yaml(path)
    problems = unknown_keys(str(path), raw, STUDY_KEYS)
    if "space" not in raw:
        problems.append(f"{path}: a study definition needs 'space: spaces/FILE.py'.")
    problems += check_values(str(path), raw, STUDY_KEYS)
    if isinstance(raw.get("space"), str) and not Path(raw["space"]).is_file():
        problems.append(f"{path}: 'space' names {raw['space']}, which is not a file; give the "
                        "space file's path (relative to where you run the command).")
    if "data" in raw and not isinstance(raw["data"], dict):
        problems.append(f"{path}: 'data' must be a mapping; got {type(raw['data']).__name__}.")
    if problems:
        raise SearchError(problems)
    return parsed(raw)


def _merged(defaults: dict[str, Any], args: argparse.Namespace, key: str, fallback: Any) -> Any:
    value = getattr(args, key, None)
    return value if value is not None else defaults.get(key, fallback)


def _data_spec(space: Space, study: dict[str, Any], args: argparse.Namespace, source: str) -> DataSpec:
    raw = {**space.data, **(study.get("data") or {})}
    raw.update({field: getattr(args, flag) for flag, field in DATA_FLAGS.items()
                if getattr(args, flag, None) is not None})
    if getattr(args, "class_names", None):
        raw["class_names"] = [s.strip() for s in args.class_names.split(",")]
    raw.setdefault("seed", _merged(study, args, "seed", 0))
    return DataSpec.from_dict(raw, source=source)


def _study_name(study: dict[str, Any], args: argparse.Namespace, path: Path) -> str:
    name = _merged(study, args, "study", path.stem)
    try:
        return check_study_name(name)
    except ValueError as exc:
        raise SearchError(f"{path}: the study name '{name}' (from the file name) is not usable as "
                          f"a folder name: {exc}.", hint="Pass --study NAME.") from None


@dataclass(frozen=True)
class RunRequest:
    """What `run` was asked for: the study's settings, its trial and time budget, and which
    keys the study file set (flags win over the file, the file over the defaults)."""

    settings: Any  # StudySettings (search.study.lifecycle, imported with the command)
    trials: int | None
    timeout: float | None
    file_keys: frozenset[str]


def run_request(args: argparse.Namespace) -> RunRequest:
    """A space file or study YAML plus the command line, resolved and checked."""
    settings, study = settings_from_args(args)
    return RunRequest(settings, _merged(study, args, "trials", None),
                      _merged(study, args, "timeout", None), frozenset(study))


def settings_from_args(args: argparse.Namespace):
    """Resolve space file or study YAML plus CLI flags (flags win) into StudySettings, and the
    study file's checked keys."""
    from search.study.lifecycle import StudySettings

    path = Path(args.file)
    study = _study_file(path) if path.suffix in (".yaml", ".yml") else {}
    space = load_space(study.get("space", path))
    epochs = _merged(study, args, "epochs", None)
    overrides = {"training.epochs": epochs} if epochs is not None else {}
    space = space.with_fixed(overrides)
    name = _study_name(study, args, path)
    root = Path(args.studies_dir)
    check_studies_dir(root, name, writable=True)
    flag = "--storage" if getattr(args, "storage", None) else f"{path}: 'storage'"
    return StudySettings(
        name=name, space=space, data=_data_spec(space, study, args, str(path)),
        storage=storage_for(name, _merged(study, args, "storage", None), root, flag=flag),
        root=root,
        seed=_merged(study, args, "seed", 0), sampler=_merged(study, args, "sampler", DEFAULT_SAMPLER),
        pruner=_merged(study, args, "pruner", DEFAULT_PRUNER),
        max_params=_merged(study, args, "max_params", 5_000_000), overrides=overrides,
    ), study


# -- worker: what the study stored ---------------------------------------------------------------

def load_existing_study(name: str, storage: Any, root: str | Path):
    """The stored study; SearchError if its database, journal or name is missing or unreadable."""
    import optuna

    from search.study.lifecycle import make_storage, quiet_optuna

    quiet_optuna()
    url = storage_for(name, storage, root)
    if url.sqlite_file and not url.sqlite_file.exists():
        raise SearchError(f"no study database at {redact(str(url.sqlite_file))}; run "
                          f"`python -m search run ... --study {name}` first, or pass --storage.")
    if url.journal_file and not url.journal_file.is_file():
        raise SearchError(f"no journal file at {url}; run `python -m search run ... --study "
                          f"{name} --storage {url}` first, or check the path.")
    try:
        study = optuna.load_study(study_name=name, storage=make_storage(url))
        study.user_attrs  # read once here, so a tampered attribute is named as the study's
        return study
    except RecursionError:
        raise SearchError(f"study '{name}' (stored settings): an attribute is nested too deeply "
                          "to read; the study was changed by something other than this engine."
                          ) from None
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(make_storage(url))]
        raise SearchError(f"no study named '{name}' in {url}; it has: "
                          f"{', '.join(names) or 'no studies'}{did_you_mean(name, names)}.") from None


def stored_backend(name: str, storage: Any, root: str | Path) -> str | None:
    """The Keras backend the study was created with (read before Keras is imported)."""
    backend = load_existing_study(name, storage, root).user_attrs.get("keras_backend")
    problem = OPTIONS["backend"].problem("keras_backend", backend) if backend is not None else None
    if problem:
        raise SearchError(f"study '{name}' (stored settings): {problem}.")
    return backend


def _stored_options(attrs: dict[str, Any], source: str) -> dict[str, Any]:
    """The stored run options and seed, checked like a study file's."""
    options = attrs.get("run_options", {})
    if not isinstance(options, dict):
        raise SearchError(f"{source}: 'run_options' must be a mapping; got {shown(options)}.")
    problems = unknown_keys(source, options, RUN_OPTION_KEYS, "run option")
    values = {**options, "seed": attrs.get("seed", 0)}
    problems += check_values(source, values, ("sampler", "pruner", "max_params", "seed"))
    overrides = options.get("overrides", {})
    if not isinstance(overrides, dict) or any(k != "training.epochs" for k in overrides):
        problems.append(f"{source}: 'overrides' may only fix training.epochs; got {shown(overrides)}.")
    if problems:
        raise SearchError(problems, hint="The study's stored settings were changed by hand; "
                                         "recreate the study with `search run`.")
    return values


def settings_from_study(name: str, storage: Any, root: str | Path):
    """Rebuild StudySettings from what the study stored when it was created (data, never code)."""
    from search.study.lifecycle import StudySettings

    study = load_existing_study(name, storage, root)
    attrs, source = study.user_attrs, f"study '{name}' (stored settings)"
    if "space" not in attrs:
        raise SearchError(f"study '{name}' stores no declarative space (it was not created by "
                          "`search run`, or by an older version); workers cannot join it.",
                          hint="Run `python -m search run SPACE_FILE --study NAME` once: it adds "
                               "the space to the study, and workers can join from then on.")
    options = _stored_options(attrs, source)
    space = space_from_json(attrs["space"], source=source, text=str(attrs.get("space_text", "")))
    space = space.with_fixed(options.get("overrides", {}))
    warm = stored_warm_start_problems(space, attrs.get("warm_start"), source)
    if warm:
        raise SearchError(warm, hint="The study's stored settings were changed by hand; "
                                     "recreate the study with `search run`.")
    return StudySettings(
        name=name, space=Space(space.knobs, str(attrs.get("space_path", source)), space.source),
        data=DataSpec.from_dict(attrs.get("data"), source=source),
        storage=storage_for(name, storage, root), root=Path(root), seed=options["seed"],
        sampler=options.get("sampler", DEFAULT_SAMPLER),
        pruner=options.get("pruner", DEFAULT_PRUNER),
        max_params=options.get("max_params", 5_000_000), overrides=options.get("overrides", {}))
