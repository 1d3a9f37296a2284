"""Optuna's private calls we rely on, on every storage kind, pinned to the tested versions."""

from __future__ import annotations

import uuid

import optuna
import pytest
from optuna.trial import TrialState

from conftest import age_heartbeat, storage_for_kind
from search.study import optuna_internals as internals
from search.study.lifecycle import make_storage


def test_optuna_is_a_tested_version():
    assert optuna.__version__.startswith(internals.TESTED_VERSIONS), (
        f"Optuna {optuna.__version__}: re-check search/study/optuna_internals.py, then add it")


def _storage(kind: str, tmp_path):
    if kind == "memory":
        return optuna.storages.InMemoryStorage()
    return make_storage(storage_for_kind(kind, tmp_path))


@pytest.mark.parametrize("kind", ["memory", "sqlite", "journal", "postgresql"])
def test_each_private_call_works_on_every_storage(tmp_path, kind):
    study = optuna.create_study(study_name=f"i{uuid.uuid4().hex[:8]}", storage=_storage(kind, tmp_path))
    live = study.ask()
    assert internals.system_attrs(live) == {}
    frozen = internals.get_trial(study, internals.trial_id(live))
    assert frozen.number == live.number and frozen.state == TrialState.RUNNING
    internals.set_trial_user_attr(study, frozen, "note", "from another process")
    internals.set_trial_system_attr(study, frozen, "completed_subset_rung", 0.5)
    assert internals.system_attrs(live) == {"completed_subset_rung": 0.5}
    internals.fail_trial(study, frozen)
    again = study.trials[0]
    assert again.state == TrialState.FAIL and again.user_attrs["note"] == "from another process"


@pytest.mark.parametrize("kind", ["memory", "sqlite", "journal", "postgresql"])
def test_the_pop_of_a_waiting_trial_holds_the_given_lock(tmp_path, kind):
    import contextlib

    study = optuna.create_study(study_name=f"l{uuid.uuid4().hex[:8]}", storage=_storage(kind, tmp_path))
    held = []

    @contextlib.contextmanager
    def lock():
        held.append("in")
        yield
        held.append("out")

    internals.pop_waiting_under(study, lock)
    internals.pop_waiting_under(study, lock)  # a second call does not nest the lock
    study.enqueue_trial({"x": 0.25})
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    assert held == ["in", "out"] and study.trials[0].params == {"x": 0.25}


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
@pytest.mark.parametrize("kind", ["memory", "sqlite", "journal", "postgresql"])
def test_stale_trials_are_found_where_the_storage_keeps_heartbeats(tmp_path, kind):
    study = optuna.create_study(study_name=f"s{uuid.uuid4().hex[:8]}", storage=_storage(kind, tmp_path))
    stale, live = study.ask(), study.ask()
    if kind in ("memory", "journal"):  # no heartbeats: nothing is ever stale
        assert internals.stale_trial_ids(study) == [] and internals.beaten_trial_ids(study) is None
        return
    assert internals.stale_trial_ids(study) == []  # no heartbeat recorded yet: not judged
    assert internals.beaten_trial_ids(study) == set()
    age_heartbeat(study, stale)
    study._storage.record_heartbeat(live._trial_id)
    assert internals.stale_trial_ids(study) == [stale._trial_id]
    assert internals.beaten_trial_ids(study) == {stale._trial_id, live._trial_id}
    study.tell(live, 0.5)  # only RUNNING trials count
    assert internals.beaten_trial_ids(study) == {stale._trial_id}
