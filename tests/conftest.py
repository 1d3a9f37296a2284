"""Shared fixtures: tiny real data sets and a space small enough to train in seconds."""

from __future__ import annotations

import os
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


def storage_for_kind(kind: str, folder: Path) -> str:
    """A storage URL of ``kind`` (sqlite, journal, postgresql) for a test; PostgreSQL is the
    server .ci/run starts, skipped where none is configured."""
    if kind == "postgresql":
        if not POSTGRES_URL:
            pytest.skip(NO_POSTGRES)
        return POSTGRES_URL
    return {"sqlite": f"sqlite:///{folder / 'study.db'}", "journal": str(folder / "study.log")}[kind]


@pytest.fixture(params=["sqlite", "journal", "postgresql"])
def storage_url(request, tmp_path: Path) -> str:
    """Every storage kind the engine supports, one test run each."""
    return storage_for_kind(request.param, tmp_path)


@pytest.fixture(params=["journal", "postgresql"])
def shared_storage_url(request, tmp_path: Path) -> str:
    """The storage kinds several worker processes can share (SQLite serves one)."""
    return storage_for_kind(request.param, tmp_path)

