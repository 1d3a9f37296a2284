"""`search report` prints what it wrote, not TensorFlow's retracing warnings."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import write

SPACE = ("from search.knobs import Choice\n"
         "SPACE = {'conv': {'depth': 1, 'filters': Choice(8, 16)}, 'head': {'layers': 0}, "
         "'training': {'epochs': 2}}\nDATA = {'name': 'digits'}\n")


def _search(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "search", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_report_refits_and_evaluates_without_a_retracing_warning(tmp_path):
    write(tmp_path, "s.py", SPACE)
    run = _search("run", "s.py", "--study", "q", "--trials", "2", "--pruner", "none", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    report = _search("report", "q", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert "refitting trial" in report.stdout  # the model views were made, with the refit
    assert (tmp_path / "studies/q/report/embedding.png").stat().st_size > 0
    assert "retracing" not in report.stdout + report.stderr, report.stderr
