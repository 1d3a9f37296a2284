"""The four kinds of failure: each a class with the common base, its exit status and its path."""

from __future__ import annotations

import pytest

from search.errors import (EXIT_INFRASTRUCTURE, EXIT_INTERRUPTED, EXIT_USER_ERROR, Failure,
                           InfrastructureError, Interrupted, SearchError, TrialFailure, shown)
from search.model.backbone import BackboneImpossible
from search.model.network import ImpossibleNetwork
from search.model.training import TrainingDiverged
from search.study.storage_retry import StorageUnavailable
from search.study.trial import TrialFailed


@pytest.mark.parametrize("cls, kind", [
    (SearchError, SearchError), (TrialFailed, TrialFailure), (TrainingDiverged, TrialFailure),
    (ImpossibleNetwork, TrialFailure), (BackboneImpossible, TrialFailure),
    (StorageUnavailable, InfrastructureError), (Interrupted, Interrupted)])
def test_every_raised_kind_belongs_to_the_vocabulary(cls, kind):
    assert issubclass(cls, kind) and issubclass(cls, Failure)


def test_exit_statuses():
    assert SearchError("x").exit_status == EXIT_USER_ERROR == 2
    assert Interrupted().exit_status == EXIT_INTERRUPTED == 130
    assert StorageUnavailable("x").exit_status == EXIT_INFRASTRUCTURE == 75
    assert TrialFailed("x").exit_status is None  # recorded on the trial, never an exit


def test_an_interruption_is_not_swallowed_by_except_exception():
    with pytest.raises(KeyboardInterrupt):
        try:
            raise Interrupted
        except Exception:  # noqa: BLE001 - the point of the test
            pytest.fail("an interruption was caught as an ordinary error")


def test_a_user_error_lists_every_problem_and_its_hint():
    error = SearchError(["a.yaml: 'x' must be an int; got 'y'.", "a.yaml: unknown key 'z'."],
                        hint="Run `python -m search space FILE`.")
    assert error.render().splitlines() == [
        "2 problems:", "  - a.yaml: 'x' must be an int; got 'y'.", "  - a.yaml: unknown key 'z'.",
        "Run `python -m search space FILE`."]


def test_quoted_values_stay_short():
    assert shown("x" * 10_000).startswith("'xxx") and len(shown("x" * 10_000)) < 100
    assert shown({"k": list(range(1000))}).endswith("...]}")
