"""Ablation runs kept as tagged Optuna trials.

Runs live in a sibling study ``<study>.ablation`` in the same storage, so the
search's own trials (and its samplers and importance) never see them, while
`optuna` tools and the dashboard still do. A run is found again by its config
digest, so a killed ablation resumes with every finished run kept.
"""

from __future__ import annotations

import contextlib
import math
import threading
import warnings
from typing import Iterator

import optuna
from optuna.trial import FrozenTrial, TrialState

from search.study.stop_signal import StopSignal
from search.study.locks import storage_lock
from search.study.optuna_internals import fail_trial, set_trial_user_attr
from search.study.storage_clock import storage_now
from search.space.config import Config

__all__ = ["OptunaRunStore", "ablation_study_name"]


def ablation_study_name(study: str) -> str:
    """The name of the sibling study that holds ``study``'s ablation runs."""
    return f"{study}.ablation"


class OptunaRunStore:
    """RunStore over an Optuna study: one trial per run, shareable by several workers.

    A worker claims a run by creating its RUNNING trial under the storage lock;
    while it trains, a heartbeat attribute is refreshed, so the claim of a
    killed worker goes stale after ``STALE_SECONDS`` and another worker takes it.
    Diverged runs are kept as FAIL with ``nan_value`` so nobody retrains them.
    """

    HEARTBEAT_SECONDS = 20
    STALE_SECONDS = 120

    def __init__(self, storage: optuna.storages.BaseStorage, study: str, url: str) -> None:
        name = ablation_study_name(study)
        with storage_lock(name, url):  # two workers starting together must share one study
            self.study = optuna.create_study(study_name=name, storage=storage,
                                             direction="maximize", load_if_exists=True)
        self.url = url
        self._claimed: dict[str, optuna.Trial] = {}
        self._finished: dict[str, float] = {}

    @classmethod
    def existing(cls, storage: optuna.storages.BaseStorage, study: str, url: str) -> OptunaRunStore | None:
        """The store if this study's ablation was started before, else None (creates nothing)."""
        try:
            optuna.load_study(study_name=ablation_study_name(study), storage=storage)
        except KeyError:
            return None
        return cls(storage, study, url)

    def _runs(self, key: str | None = None) -> list[FrozenTrial]:
        trials = self.study.get_trials(deepcopy=False)
        return [t for t in trials if "run" in t.user_attrs and (key is None or t.user_attrs["run"] == key)]

    def __len__(self) -> int:
        return sum(1 for t in self._runs() if t.state == TrialState.COMPLETE)

    def get(self, key: str) -> float | None:
        """A finished run's value (NaN if it diverged). Finished values never change, so they
        are kept: one read of the study answers every key it holds, not one read per key."""
        if key not in self._finished:
            for trial in self._runs():
                if trial.state == TrialState.COMPLETE:
                    self._finished[trial.user_attrs["run"]] = trial.value
                elif trial.state == TrialState.FAIL and trial.user_attrs.get("nan_value"):
                    self._finished[trial.user_attrs["run"]] = math.nan
        return self._finished.get(key)

    def claim(self, key: str, *, config: Config, view: str, component: str) -> bool:
        """Create the run's RUNNING trial under the storage lock; False if it finished or is held.

        A stale claim (its worker's heartbeat stopped) is failed and taken over."""
        with storage_lock(self.study.study_name, self.url):
            for trial in self._runs(key):
                if trial.state in (TrialState.COMPLETE, TrialState.FAIL) and (
                        trial.state == TrialState.COMPLETE or trial.user_attrs.get("nan_value")):
                    return False
                if trial.state == TrialState.RUNNING and not self._stale(trial):
                    return False
                if trial.state == TrialState.RUNNING:
                    self._abandon(trial)
            with warnings.catch_warnings():  # the heartbeat is ours to refresh (``working``)
                warnings.filterwarnings("ignore", message="Heartbeat of storage")
                trial = self.study.ask()
            for name, item in (("run", key), ("view", view), ("component", component),
                               ("seed", config.seed), ("config", config.to_dict()),
                               ("alive", storage_now(self.url))):
                trial.set_user_attr(name, item)
            self._claimed[key] = trial
            return True

    def _stale(self, trial: FrozenTrial) -> bool:
        return storage_now(self.url) - trial.user_attrs.get("alive", 0) > self.STALE_SECONDS

    def _abandon(self, trial: FrozenTrial) -> None:
        set_trial_user_attr(self.study, trial, "abandoned", True)
        fail_trial(self.study, trial)

    def recover_orphans(self) -> int:
        """Fail every RUNNING run: only call while holding the SQLite single-worker lock."""
        orphans = [t for t in self._runs() if t.state == TrialState.RUNNING]
        for trial in orphans:
            self._abandon(trial)
        return len(orphans)

    @contextlib.contextmanager
    def working(self, key: str) -> Iterator[None]:
        """Refresh the claim's heartbeat while the run trains."""
        trial, stop = self._claimed[key], threading.Event()

        def beat() -> None:
            while not stop.wait(self.HEARTBEAT_SECONDS):
                trial.set_user_attr("alive", storage_now(self.url))

        thread = threading.Thread(target=beat, daemon=True)
        thread.start()
        finished = False
        try:
            yield
            finished = True
        finally:  # a (second) SIGTERM or Ctrl-C must not cut this short: kept as the flag
            with StopSignal.deferred(raise_after=False):
                stop.set()
                thread.join(timeout=30)  # no heartbeat may land on the trial once it is
                # released (a storage that hangs: released anyway, after 30 s)
                if not finished:  # interrupted (or broken): free the run at once for the next
                    self._release(key)  # worker or the rerun, instead of after STALE_SECONDS

    def _release(self, key: str) -> None:
        trial = self._claimed.pop(key)
        with contextlib.suppress(Exception):  # unreachable storage: the claim goes stale instead
            set_trial_user_attr(self.study, trial, "interrupted", True)
            fail_trial(self.study, trial)

    def put(self, key: str, value: float, *, config: Config, view: str, component: str,
            seconds: float | None = None) -> None:
        """Tell the claimed trial its value; a non-finite one is kept as FAIL with ``nan_value``.
        ``seconds``: the run's training time (its share of a group's), kept for the ETA."""
        trial = self._claimed.pop(key)
        if seconds is not None:
            trial.set_user_attr("seconds", seconds)
        if math.isfinite(value):
            self.study.tell(trial, value)
        else:
            trial.set_user_attr("nan_value", True)
            self.study.tell(trial, state=TrialState.FAIL)
