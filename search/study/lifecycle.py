"""A study: Optuna storage plus the provenance needed to resume it safely.

Storage is Optuna's, unchanged (a journal file only gets a kernel lock for appends,
see search/study/journal_lock.py), so ``optuna`` CLI commands and
optuna-dashboard read our studies. Everything a resume must match (the space,
the data spec, the metric and direction, the seed) is stored in the study's
user attributes and compared before any new trial starts.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from search import __version__
from search.study.locks import storage_lock
from search.study.journal_lock import JournalFileFlock
from search.space.config import Config, write_yaml_atomic
from search.data.dataset import DataSpec
from search.errors import SearchError, shown
from search.inputs import DEFAULT_PRUNER, DEFAULT_SAMPLER
from search.study.liveness import HEARTBEAT_SECONDS, STALE_SECONDS
from search.study.retries import retry_stale
from search.study.storage_retry import first_line
from search.space.space import Space
from search.storage_url import ALLOWED, RDB_SCHEMES, StorageURL, redact

__all__ = ["StudySettings", "open_study", "best_yaml_content", "study_dir", "default_storage",
           "redact", "make_storage", "BestYamlWriter", "quiet_optuna"]

METRIC, DIRECTION = "val_accuracy", "maximize"


def study_dir(name: str, root: str | Path = "studies") -> Path:
    """The folder of study ``name`` under ``root``."""
    return Path(root) / name


def default_storage(name: str, root: str | Path = "studies") -> StorageURL:
    """The study's own SQLite database, ``study.db`` in its folder."""
    return StorageURL(f"sqlite:///{study_dir(name, root) / 'study.db'}")


@dataclass
class StudySettings:
    """How a study is run; the provenance part must match on every resume."""

    name: str
    space: Space
    data: DataSpec
    storage: StorageURL
    root: Path = Path("studies")
    seed: int = 0
    sampler: str = DEFAULT_SAMPLER
    pruner: str = DEFAULT_PRUNER
    max_params: int = 5_000_000
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def directory(self) -> Path:
        """The study's folder under ``root``."""
        return study_dir(self.name, self.root)

    def provenance(self) -> dict[str, Any]:
        """What is stored with the study and checked on every resume: space, data, seed,
        metric, version, backend and run options."""
        return {
            "space_digest": self.space.digest(),
            "space_canonical": self.space.canonical(),
            "space": self.space.to_json(),  # what workers rebuild the space from (data)
            "space_path": self.space.path,
            "space_text": self.space.source,  # provenance only: never executed
            "data": self.data.to_dict(),
            "seed": self.seed,
            "metric": METRIC,
            "direction": DIRECTION,
            "search_version": __version__,
            "keras_backend": _backend(),
            "run_options": {"sampler": self.sampler, "pruner": self.pruner,
                            "max_params": self.max_params, "overrides": self.overrides},
        }


def _backend() -> str:
    import keras  # here, not at the top: a worker reads its study before choosing the backend

    return keras.backend.backend()


SCHEMA_LOCK = "search/tables"  # the lock's name: one per database, whatever the study


def make_storage(url: StorageURL | str) -> optuna.storages.BaseStorage:
    """RDB storage with heartbeats (stale RUNNING trials are retried, then ended).

    A URL no storage here opens (``file:///x.log``) is refused before anything is created;
    a driver's error is shown with the URL's password hidden, even where it quotes it alone.
    """
    url = StorageURL(url)
    if url.startswith(RDB_SCHEMES):
        if url.sqlite_file:
            url.sqlite_file.parent.mkdir(parents=True, exist_ok=True)
        kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {
            "pool_pre_ping": True}
        try:  # under the storage's lock: processes opening a new database at once would race
            with storage_lock(SCHEMA_LOCK, url):  # to create its tables ("already exists")
                return optuna.storages.RDBStorage(
                    url.secret(), engine_kwargs=kwargs, heartbeat_interval=HEARTBEAT_SECONDS, grace_period=STALE_SECONDS,
                    heartbeat_stale_trial_callback=retry_stale)
        except Exception as exc:
            raise SearchError(f"storage {url}: cannot open ({url.redact(first_line(exc))}).",
                              hint="Check the URL, that the server is up, and the credentials.") from None
    if url.journal_file:
        url.journal_file.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(
            str(url.journal_file), lock_obj=JournalFileFlock(url.journal_file)))
    raise SearchError(f"storage '{url}' is not supported; {ALLOWED}.")


def open_study(settings: StudySettings) -> optuna.Study:
    """Create the study, or load it and refuse if its provenance differs."""
    quiet_optuna()
    storage = make_storage(settings.storage)
    # Under the study's lock, so two `run`s starting together create it once, provenance whole.
    with storage_lock(settings.name, settings.storage):
        try:
            study = optuna.load_study(study_name=settings.name, storage=storage)
        except KeyError:
            study = optuna.create_study(study_name=settings.name, storage=storage,
                                        direction=DIRECTION)
            for key, value in settings.provenance().items():
                study.set_user_attr(key, value)
            return study
    _check_resume(study, settings)
    if "space" not in study.user_attrs:  # created by an older version: let workers join it
        study.set_user_attr("space", settings.space.to_json())
    return study


def _check_resume(study: optuna.Study, settings: StudySettings) -> None:
    stored, current = study.user_attrs, settings.provenance()
    if study.direction != optuna.study.StudyDirection.MAXIMIZE:
        raise SearchError(f"study '{settings.name}' stores direction {study.direction.name}, "
                          f"but this run maximises {METRIC}.")
    differences = _space_diff(stored.get("space_canonical", {}), current["space_canonical"])
    differences += [f"{key}: stored {shown(stored.get(key))}, now {shown(current[key])}"
                    for key in ("data", "seed", "metric", "direction") if stored.get(key) != current[key]]
    if differences:
        raise SearchError(
            [f"study '{settings.name}' was created with a different setup, so resuming it would "
             "mix incomparable trials:"] + differences,
            hint="Use a new --study name, or run with the original space file and options.")


def _space_diff(stored: Any, current: dict[str, str]) -> list[str]:
    stored = stored if isinstance(stored, dict) else {}
    keys = sorted(set(stored) | set(current))
    return [f"space '{k}': stored {stored.get(k, 'absent')}, now {current.get(k, 'absent')}"
            for k in keys if stored.get(k) != current.get(k)]


def best_yaml_content(study: optuna.Study, trial: FrozenTrial) -> dict[str, Any]:
    """Everything ``train`` needs to rebuild the trial, plus what it scored."""
    config = Config.from_dict(trial.user_attrs.get("config"), activity=False, source=(
        f"study '{study.study_name}' trial {trial.number} (stored config)")).without_inactive()
    return {
        "study": study.study_name,
        "search_version": __version__,
        **config.to_dict(),
        "result": {
            "trial": trial.number,
            METRIC: trial.value,
            "best_epoch": trial.user_attrs.get("best_epoch"),
            "epochs_trained": len(trial.user_attrs.get("history", [])),
            "params_count": trial.user_attrs.get("params_count"),
            "seconds_per_epoch": trial.user_attrs.get("seconds_per_epoch"),
            "keras_backend": study.user_attrs.get("keras_backend"),
        },
    }


class BestYamlWriter:
    """Study callback: rewrite best.yaml whenever a new best trial completes."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if trial.state != TrialState.COMPLETE or study.best_trial.number != trial.number:
            return
        write_yaml_atomic(self.path, best_yaml_content(study, trial))


def quiet_optuna() -> None:
    """Our progress display reports every trial and its failure reason; Optuna's own per-trial
    lines (and the tracebacks it logs for failed trials) would duplicate it."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
