"""The device script (bench/device_run.sh, bench/device_all.py) at a tiny size on the CPU:
every section runs, and each one stops where the time left cannot hold it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, requires_fashion


@requires_fashion
@pytest.mark.slow
def test_the_device_script_rehearses_every_section_on_the_cpu(tmp_path):
    """What the first GPU call will run, end to end at a tiny size: every section writes its
    JSON line (trials per process count through bench/trials_per_device.py, the seed model
    through bench/gpu_path.py, a timed sweep refit and tested beside the hand-made model)."""

    out = tmp_path / "device.jsonl"
    done = subprocess.run(["bash", "bench/device_run.sh", "all", "--size", "tiny", "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "SEARCH_DEVICE_REHEARSAL": "1", "KERAS_BACKEND": "jax"})
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert not [r for r in rows if "error" in r or "skipped" in r], rows
    assert [r["section"] for r in rows if r.get("complete")] == ["seed_model", "processes", "fused",
                                                                 "sweep"]
    by = {section: [r for r in rows if r["section"] == section and not r.get("complete")]
          for section in ("seed_model", "processes", "fused", "sweep")}
    assert [r["setting"] for r in by["seed_model"]] == ["baseline (host data, batch 128, float32)",
                                                        "data on device"]
    assert all(r["images_per_s"] > 0 and r["device"] == "CPU" and r["backend"] == "jax"
               for r in by["seed_model"])
    assert [r["processes"] for r in by["processes"]] == [1]
    assert all(r["trials_per_hour"] > 0 for r in by["processes"])
    assert [r["k"] for r in by["fused"]] == [2]
    assert all(r["fused_s"] > 0 and r["speedup"] > 0 for r in by["fused"])
    assert all(r["towers_s"] > 0 for r in by["fused"])  # on JAX: side by side against jax.vmap
    assert all(r["max_accuracy_gap"] <= 1e-3 for r in by["fused"])  # the same models, timed
    sweep = by["sweep"][0]
    assert 0 < sweep["test_accuracy"] <= 1 and 0 < sweep["hand_made_test_accuracy"] <= 1
    again = subprocess.run([sys.executable, "bench/device_all.py", "--size", "tiny", "--out",
                            str(tmp_path / "rerun.jsonl"), "--missing", str(out)], cwd=REPO,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and not (tmp_path / "rerun.jsonl").exists()  # nothing missing


def test_the_device_script_skips_what_the_time_left_cannot_hold(tmp_path):
    """Each section stops where the sections after it need the rest of the call."""

    out = tmp_path / "device.jsonl"
    done = subprocess.run([sys.executable, "bench/device_all.py", "--budget", "0", "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["section"], r["skipped"]) for r in rows] == [
        (name, "out of time before section: the sections after it need the rest")
        for name in ("seed_model", "processes", "fused", "sweep")]


def test_the_device_script_refuses_to_start_without_its_preparation(tmp_path):
    (tmp_path / "bench").mkdir()
    script = tmp_path / "bench/device_run.sh"
    script.write_text((REPO / "bench/device_run.sh").read_text())
    done = subprocess.run(["bash", str(script), "all"], capture_output=True, text=True, timeout=60,
                          env={k: v for k, v in os.environ.items() if k != "SEARCH_DEVICE_REHEARSAL"})
    assert done.returncode == 2 and not done.stdout
    assert "not prepared, missing .whl/ (the wheels) .data/fashion-mnist: run 'bash " \
           "bench/device_prepare.sh'" in done.stderr




def test_a_device_section_row_starts_only_when_its_longest_row_still_fits(monkeypatch):
    sys.path.insert(0, str(REPO / "bench"))
    import device_all

    now = [0.0]
    monkeypatch.setattr(device_all.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(device_all, "write", lambda out, row: None)
    emit = device_all._Emitter(Path("unused"), "fused", until=100.0)
    emit.check("section", need=0)
    emit.check("k = 1")
    now[0] = 40.0
    emit({"k": 1})  # took 40 s
    emit.check("k = 4")  # 60 s left: fits
    now[0] = 70.0
    emit({"k": 4})  # took 30 s
    with pytest.raises(device_all.OutOfTime):
        emit.check("k = 8")  # 30 s left, less than the longest row's 40
    with pytest.raises(device_all.OutOfTime):
        emit.check("the sweep", need=31)
