"""search/ablation/store.py: ablation runs kept as tagged trials of a sibling Optuna study:
claim, put and get, diverged runs kept as NaN, found again by a new store, orphans failed."""

from __future__ import annotations

import math
import uuid

import optuna
import pytest
from optuna.trial import TrialState

from search.ablation.store import OptunaRunStore, ablation_study_name
from search.space.config import Config
from search.study.lifecycle import make_storage

CONFIG = Config({"bn": {"enabled": True}}, seed=3)


@pytest.fixture
def name() -> str:
    """A study name of this test's own (the PostgreSQL database is shared)."""
    return f"s{uuid.uuid4().hex[:8]}"


@pytest.fixture
def open_store(storage_url, name):
    """Opens the run store of study ``name`` on every storage kind, as a new process would."""
    return lambda: OptunaRunStore(make_storage(storage_url), name, storage_url)


def names(storage, prefix: str) -> set[str]:
    """The studies named from ``prefix`` (the database is shared with other tests running
    at the same time)."""
    return {s.study_name for s in optuna.get_all_study_summaries(storage)
            if s.study_name.startswith(prefix)}


def claim(store: OptunaRunStore, key: str) -> bool:
    return store.claim(key, config=CONFIG, view="leave-one-out", component="bn")


def test_runs_live_in_a_sibling_study_created_only_when_asked(storage_url, name, open_store):
    url, storage = storage_url, make_storage(storage_url)
    assert ablation_study_name("cnn") == "cnn.ablation"
    assert names(storage, name) == set()
    assert OptunaRunStore.existing(storage, name, url) is None
    assert names(storage, name) == set()  # looking created nothing
    open_store()
    assert names(storage, name) == {f"{name}.ablation"}
    assert isinstance(OptunaRunStore.existing(storage, name, url), OptunaRunStore)


def test_a_claimed_run_is_stored_with_its_tags_and_cannot_be_claimed_again(open_store):
    store = open_store()
    assert store.get("k") is None and len(store) == 0
    assert claim(store, "k")
    assert not claim(open_store(), "k")  # running, heartbeat fresh: another worker waits
    store.put("k", 0.875, config=CONFIG, view="leave-one-out", component="bn")
    other = open_store()  # a new process reading the database
    assert other.get("k") == 0.875 and len(other) == 1
    assert not claim(other, "k")
    trial = other.study.trials[0]
    assert trial.user_attrs["run"] == "k" and trial.user_attrs["seed"] == 3
    assert trial.user_attrs["view"] == "leave-one-out" and trial.user_attrs["component"] == "bn"
    assert trial.user_attrs["config"] == CONFIG.to_dict()


def test_a_diverged_run_is_kept_as_nan_and_not_retrained(open_store):
    store = open_store()
    assert claim(store, "nan-run")
    store.put("nan-run", math.nan, config=CONFIG, view="v", component="c")
    other = open_store()
    assert math.isnan(other.get("nan-run")) and len(other) == 0  # not a COMPLETE run
    assert not claim(other, "nan-run")
    assert other.study.trials[0].state == TrialState.FAIL


def test_orphaned_claims_are_failed_and_free_to_claim_again(open_store):
    store = open_store()
    assert claim(store, "a") and claim(store, "b")
    assert open_store().recover_orphans() == 2
    fresh = open_store()
    assert {t.state for t in fresh.study.trials} == {TrialState.FAIL}
    assert all(t.user_attrs.get("abandoned") for t in fresh.study.trials)
    assert claim(fresh, "a")
