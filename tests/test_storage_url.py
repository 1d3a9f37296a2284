"""A storage password never leaves the URL: not in argv, messages, logs, reports or exports."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from rich.console import Console

from conftest import write
from search.study.storage_url import STORAGE_ENV, StorageURL, redact
from search.workers import WorkerPlan, spawn_workers

POSTGRES = os.environ.get("SEARCH_TEST_POSTGRES")  # .ci/run starts a server and sets this
URL = "postgresql://user:hunter2@db.example:5432/sweeps"


def test_a_storage_url_redacts_itself_wherever_it_is_printed():
    url = StorageURL(URL)
    for shown in (str(url), repr(url), f"{url}", f"{url:>60}", "%s" % url, str([url])):
        assert "hunter2" not in shown and "user:***@db.example" in shown
    assert url.secret() == URL and StorageURL(url) == url
    assert redact("a postgresql://u:p@h/db and mysql://v:q@h/db") == \
        "a postgresql://u:***@h/db and mysql://v:***@h/db"


def test_spawned_workers_get_the_url_in_their_environment_not_their_argv(tmp_path, monkeypatch):
    started = []

    class Recorded:
        returncode = 0

        def __init__(self, argv, env, **_):
            started.append((argv, env))

        def poll(self):
            return 0

    monkeypatch.setattr(subprocess, "Popen", Recorded)
    plan = WorkerPlan("s", StorageURL(URL), str(tmp_path), processes=3)
    assert spawn_workers(plan, Console(file=open(os.devnull, "w"))) == 0
    assert len(started) == 3
    for argv, env in started:
        assert "hunter2" not in " ".join(argv) and "--storage" not in argv
        assert env[STORAGE_ENV] == URL


def _search(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "search", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=600, env=env)


SPACE = """
SPACE = {"conv": {"depth": 1, "filters": 8}, "head": {"layers": 0}, "bn": {"enabled": True},
         "training": {"epochs": 1}}
DATA = {"name": "digits"}
"""


@pytest.mark.slow
def test_no_password_in_any_output_of_a_postgresql_study(tmp_path):
    if not POSTGRES or ":" not in POSTGRES.split("@")[0].split("//")[1]:
        pytest.skip("set SEARCH_TEST_POSTGRES to a PostgreSQL URL with a password (bash .ci/run does)")
    password = POSTGRES.split("@")[0].rsplit(":", 1)[1]
    name = f"pw{uuid.uuid4().hex[:8]}"
    write(tmp_path, "s.py", SPACE)
    outputs = [_search("run", "s.py", "--study", name, "--storage", POSTGRES, "--trials", "2",
                       "--processes", "2", "--pruner", "none", cwd=tmp_path)]
    for command in (["export", name], ["status", name], ["report", name, "--no-model"],
                    ["ablate", name, "--seeds", "2", "--components", "bn", "--path-seeds", "1"]):
        outputs.append(_search(*command, "--storage", POSTGRES, cwd=tmp_path))
    for result in outputs:
        assert result.returncode == 0, result.stderr
        assert password not in result.stdout + result.stderr
    files = [p for p in (tmp_path / "studies" / name).rglob("*") if p.is_file()]
    assert any(p.name == "report.md" and p.parent.name == "ablation" for p in files)
    assert any(p.suffix == ".log" for p in files) and any(p.name == "trials.csv" for p in files)
    for path in files:
        assert password.encode() not in path.read_bytes(), path
