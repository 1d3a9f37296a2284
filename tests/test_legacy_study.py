"""A study written by release 0.1.0 (before search/ became packages) still opens and resumes.

tests/fixtures/legacy/legacy-0.1.0.db was made with ``python -m search run tiny.py --study
legacy --trials 2`` by that release: two finished trials on scikit-learn digits (one complete, one pruned).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import optuna
import pytest

from search.commands.cli import main

FIXTURE = Path(__file__).parent / "fixtures" / "legacy"


@pytest.fixture
def legacy(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "studies" / "legacy").mkdir(parents=True)
    shutil.copy(FIXTURE / "legacy-0.1.0.db", tmp_path / "studies" / "legacy" / "study.db")
    shutil.copy(FIXTURE / "tiny.py", tmp_path / "tiny.py")
    return tmp_path


def _trials(root: Path) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name="legacy",
                             storage=f"sqlite:///{root}/studies/legacy/study.db").trials


def test_an_old_study_is_read_by_status_and_export(legacy, capsys):
    before = _trials(legacy)
    assert [t.state.name for t in before] == ["COMPLETE", "PRUNED"]
    assert main(["status", "legacy"]) == 0
    assert main(["export", "legacy", "--top", "2"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "wrote 1 configs and trials.csv (2 trials)" in out


@pytest.mark.slow
def test_an_old_study_resumes_with_its_trials_kept(legacy):
    before = _trials(legacy)
    assert main(["run", "tiny.py", "--study", "legacy", "--trials", "3"]) == 0
    after = _trials(legacy)
    assert len(after) == 3 and all(t.state.name in ("COMPLETE", "PRUNED") for t in after)
    assert [t.params for t in after[:2]] == [t.params for t in before]
    assert [t.value for t in after[:2]] == [t.value for t in before]
