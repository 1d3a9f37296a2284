"""Shared fixtures: tiny real data sets and a space small enough to train in seconds."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

TINY_SPACE = '''
from search.knobs import Bool, Choice, Float, Int
SPACE = {
    "conv": {"depth": Int(1, 2), "filters": Choice(8, 16)},
    "bn": {"enabled": Bool()},
    "head": {"layers": Int(0, 1), "units": 32},
    "optimizer": {"learning_rate": Float(1e-3, 1e-2, log=True)},
    "training": {"batch_size": 64, "epochs": 2},
}
DATA = {"name": "digits"}
'''


@pytest.fixture
def tiny_space_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.py"
    path.write_text(TINY_SPACE)
    return path


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


requires_fashion = pytest.mark.skipif(
    not FASHION_DIR.is_dir(), reason="needs the Debian package dataset-fashion-mnist")


POSTGRES_URL = os.environ.get("SEARCH_TEST_POSTGRES")  # bash .ci/run starts a server and sets it
NO_POSTGRES = "set SEARCH_TEST_POSTGRES to a PostgreSQL URL (bash .ci/run does)"


def json_on_backend(script: str, backend: str) -> dict:
    """Run ``script`` in a fresh process on Keras ``backend`` (skipped where not installed)
    and return the JSON object its last line prints."""
    import importlib.util
    import json
    import sys

    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed (bash .ci/run installs it)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, "KERAS_BACKEND": backend}, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def storage_for_kind(kind: str, folder: Path) -> str:
    """A storage URL of ``kind`` (sqlite, journal, postgresql) for a test; PostgreSQL is the
    server .ci/run starts, skipped where none is configured."""
    if kind == "postgresql":
        if not POSTGRES_URL:
            pytest.skip(NO_POSTGRES)
        return POSTGRES_URL
    return {"sqlite": f"sqlite:///{folder / 'study.db'}", "journal": str(folder / "study.log")}[kind]


def age_heartbeat(study, trial) -> None:
    """Give ``trial`` a heartbeat far older than the grace period, as a worker killed long
    ago leaves it (written in the storage's own table: Optuna reads its age there)."""
    import datetime

    import sqlalchemy

    storage = getattr(study._storage, "_backend", study._storage)
    storage.record_heartbeat(trial._trial_id)
    with storage.engine.begin() as connection:
        connection.execute(sqlalchemy.text(
            "UPDATE trial_heartbeats SET heartbeat = :old WHERE trial_id = :id"),
            {"old": datetime.datetime(2000, 1, 1), "id": trial._trial_id})


@pytest.fixture(params=["sqlite", "journal", "postgresql"])
def storage_url(request, tmp_path: Path) -> str:
    """Every storage kind the engine supports, one test run each."""
    return storage_for_kind(request.param, tmp_path)


@pytest.fixture(params=["journal", "postgresql"])
def shared_storage_url(request, tmp_path: Path) -> str:
    """The storage kinds several worker processes can share (SQLite serves one)."""
    return storage_for_kind(request.param, tmp_path)


# -- a real Slurm: the single-node cluster .ci/slurm.sh starts ------------------------------------

SLURM_REQUIRED = bool(os.environ.get("SEARCH_TEST_SLURM"))  # bash .ci/run sets it: fail, not skip
HOW = "start a single-node Slurm with `bash .ci/slurm.sh` and set SEARCH_TEST_SLURM=1"


@pytest.fixture(scope="session")
def slurm() -> None:
    """Skip (or, in CI, fail) unless sbatch is here and the controller has a usable node."""
    answer = ""
    if shutil.which("sbatch") and shutil.which("sinfo"):
        answer = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True,
                                timeout=30).stdout
    if not set(answer.split()) & {"idle", "mixed", "allocated"}:  # "idle*": not responding
        found = answer.strip() or "no sinfo"
        (pytest.fail if SLURM_REQUIRED else pytest.skip)(f"no usable Slurm node ({found}); {HOW}")


def wait_until_gone(job: str, timeout: float = 900) -> None:
    """Wait until no task of ``job`` is pending, running or requeued."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        queue = subprocess.run(["squeue", "-h", "-r", "-j", job, "-o", "%i %T"],
                               capture_output=True, text=True, timeout=30).stdout
        if not queue.strip():
            return
        time.sleep(1)
    raise AssertionError(f"Slurm job {job} still queued after {timeout} s:\n{queue}")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(items) -> None:
    """With ``-n 2`` (pytest-xdist, the README's command), the tests that use the one-node
    Slurm run on one worker, one after another: two sweeps at once would queue behind each
    other's array tasks."""
    for item in items:
        if "slurm" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("slurm"))


def out_of_memory_when_fused(real, asked: list, error: Exception):
    """A stand-in for ``train_fused`` that records each call's seeds and raises ``error`` (a
    device running out of memory) for a program of more than one seed."""
    def train_fused(config, data, seeds, **kwargs):
        asked.append(list(seeds))
        if len(seeds) > 1:
            raise error
        return real(config, data, seeds, **kwargs)
    return train_fused
