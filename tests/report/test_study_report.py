"""The report: every file exists, numbers match the study, the HTML renders in Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from conftest import requires_fashion
from search.commands.cli import main
from search.data.dataset import DataSpec
from search.report.evaluation import evaluate, predictions_frame
from search.study.runner import RunOptions, run_study
from search.space.space import load_space
from search.study.lifecycle import StudySettings, default_storage

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_evaluation_numbers_are_consistent():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    probabilities = rng.dirichlet(np.ones(3), 200)
    result = evaluate(y, probabilities, ("Top", "Bottom", "Accessories"))
    assert result.confusion.sum() == 200
    assert result.accuracy == pytest.approx(np.trace(result.confusion) / 200)
    assert set(result.per_class) == {"Top", "Bottom", "Accessories"}
    assert "Accessories" in result.classification_report
    frame = predictions_frame(y, probabilities, ("Top", "Bottom", "Accessories"))
    assert list(frame.columns[-3:]) == ["p(Top)", "p(Bottom)", "p(Accessories)"]


@pytest.fixture(scope="module")
def reported_study(tmp_path_factory):
    """A small real study on the 3-class Fashion-MNIST remap, then `search report`."""
    root = tmp_path_factory.mktemp("report")
    space = root / "s.py"
    space.write_text("from search.knobs import Choice\nSPACE = {'conv': {'depth': 1, 'filters': "
                     "Choice(8, 16)}, 'head': {'layers': 0}, 'training': {'epochs': 2}}\n")
    settings = StudySettings(name="r", space=load_space(space), root=root / "studies",
                             data=DataSpec(name="fashion_mnist", limit=1500, classes=(
                                 (0, 2, 3, 4, 6), (1, 5, 7, 9), (8,)),
                                 class_names=("Top", "Bottom", "Accessories")),
                             storage=default_storage("r", root / "studies"), pruner="none")
    study = run_study(settings, RunOptions(trials=3), Console(file=open("/dev/null", "w")))
    status = main(["report", "r", "--studies-dir", str(root / "studies")])
    assert status == 0
    return study, root / "studies" / "r" / "report"


@requires_fashion
@pytest.mark.slow
def test_report_files_exist_and_match_the_study(reported_study):
    study, out = reported_study
    for name in ("index.html", "report.md", "history.png", "slices.png",
                 "intermediate.png", "timeline.png", "confusion.png", "confusion_normalised.png",
                 "curves.png", "examples.png", "embedding.png", "predictions.csv"):
        assert (out / name).stat().st_size > 0, name
    markdown = (out / "report.md").read_text()
    assert "not shown: importance needs at least 10 complete trials" in markdown  # 3 trials
    assert not (out / "importance.png").exists()
    assert f"Best validation accuracy {study.best_value:.4f} (trial {study.best_trial.number}" in markdown
    predictions = pd.read_csv(out / "predictions.csv")
    assert len(predictions) == 1500  # --limit caps the test split too
    assert set(predictions["true"]) == {"Top", "Bottom", "Accessories"}
    accuracy = float(re.search(r"Test accuracy.*?\n\n([0-9.]+) on 1500", markdown, re.S).group(1))
    assert accuracy == pytest.approx(predictions["correct"].mean(), abs=1e-4)
    assert "| Accessories |" in markdown
    probe = float(re.search(r"neighbours probe.*?\n\nTest accuracy ([0-9.]+)", markdown, re.S).group(1))
    assert probe > 0.5 and "| class | kNN probe | softmax head |" in markdown


@requires_fashion
@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (bash .ci/run installs it)")
def test_report_html_renders_in_headless_chromium(reported_study, tmp_path):
    _, out = reported_study
    shot = tmp_path / "report.png"
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
         "--window-size=1200,3000", (out / "index.html").as_uri()],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert shot.stat().st_size > 20_000  # a rendered page with figures, not a blank one


def test_status_on_a_missing_study_is_a_clear_error(tmp_path, capsys):
    assert main(["status", "none", "--studies-dir", str(tmp_path)]) == 2
    assert "no study database" in capsys.readouterr().err
