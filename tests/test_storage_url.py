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
from search.storage_url import STORAGE_ENV, StorageURL, redact
from search.report.status import status_panel
from search.study.workers import WorkerPlan, spawn_workers

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
    assert spawn_workers(plan, Console(file=open(os.devnull, "w")), status_panel) == 0
    assert len(started) == 3
    for argv, env in started:
        assert "hunter2" not in " ".join(argv) and "--storage" not in argv
        assert env[STORAGE_ENV] == URL


def test_the_report_command_line_hides_every_storage_url():
    from search.commands.ablate import shown_command

    storage = StorageURL("postgresql://u:hunter2 x@db.example/sweeps")  # a password with a space
    shown_url = "postgresql://u:***@db.example/sweeps"
    for argv, fragment in [
        (["ablate", "s", "--storage", storage.secret()], f"--storage '{shown_url}'"),
        (["ablate", "s", f"--storage={storage.secret()}"], f"'--storage={shown_url}'"),
        (["ablate", "s", "--sto", "postgresql://u:hunter2'x@h/db"],
         "--sto 'postgresql://u:***@h/db'"),
        (["ablate", "a.yaml", "--config", "c.yaml"],
         "python -m search ablate a.yaml --config c.yaml"),
        (["ablate", "s", "--baseline", "hunter2 x.yaml"], "--baseline '***.yaml'"),
    ]:
        shown = shown_command(argv, storage)
        assert fragment in shown and "hunter2" not in shown, shown
    assert shown_command(["ablate", "s", "--storage", "postgresql://:hunter2@h/db"]) == \
        "python -m search ablate s --storage 'postgresql://:***@h/db'"


def test_the_workers_status_panel_hides_a_password_quoted_alone(tmp_path, monkeypatch):
    from search.study import lifecycle
    from search.study.workers import _StatusSource

    url = StorageURL("postgresql://u:pw@127.0.0.1:1/db")

    def refused(storage):
        raise RuntimeError(f'FATAL: password "pw" rejected for {storage.secret()}')

    monkeypatch.setattr(lifecycle, "make_storage", refused)
    panel = _StatusSource(WorkerPlan("s", url, str(tmp_path)), status_panel).panel()
    assert panel == ('study status unavailable for now: FATAL: password "***" rejected for '
                     "postgresql://u:***@127.0.0.1:1/db")


def test_where_a_storage_lives():
    assert StorageURL("studies/s.log").journal_file == Path("studies/s.log")
    assert StorageURL("file:///tmp/s.log").journal_file is None  # a URL is never a journal path
    assert StorageURL("sqlite:///a/b.db").sqlite_file == Path("a/b.db")
    assert StorageURL("sqlite:///:memory:").sqlite_file is None
    assert StorageURL("redis://h/s.log").location_problem().startswith("not a storage that can")
    assert "folder nope does not exist" in StorageURL("nope/s.log").location_problem()
    assert StorageURL("nope/s.log").location_problem(Path("nope")) is None
    assert StorageURL("postgresql://u:p@h/db").location_problem() is None


def test_make_storage_refuses_a_url_it_cannot_open_and_creates_nothing(tmp_path, monkeypatch):
    from search.errors import SearchError
    from search.study.lifecycle import make_storage

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SearchError, match=r"storage 'file://u:\*\*\*@x.log' is not supported; "
                                          r"use sqlite:///path.db"):
        make_storage("file://u:hunter2@x.log")
    assert not list(tmp_path.iterdir())


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
