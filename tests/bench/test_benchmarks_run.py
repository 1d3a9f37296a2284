"""Each benchmark still runs (at a tiny size): benchmarks are measured, never asserted on speed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO, requires_fashion


def bench(*args: str) -> str:
    done = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@requires_fashion
@pytest.mark.slow
def test_engine_overhead_runs():
    out = bench("bench/engine_overhead.py", "--limit", "300", "--epochs", "1", "--repeats", "1")
    assert "| plain model.fit |" in out and "| engine + Optuna trial |" in out


@requires_fashion
@pytest.mark.slow
def test_search_efficiency_runs():
    out = bench("bench/search_efficiency.py", "--limit", "300", "--target", "0.3", "--budget", "4",
                "--repeats", "1")
    assert "| KerasTuner Hyperband |" in out


@pytest.mark.slow
def test_storage_overhead_runs():
    out = bench("bench/storage_overhead.py", "--trials", "4", "--workers", "1", "2")
    assert "| journal file | 2 |" in out


@requires_fashion
@pytest.mark.slow
def test_backends_runs_for_tensorflow():
    out = bench("bench/backends.py", "--limit", "300", "--epochs", "1", "--repeats", "1",
                "--backends", "tensorflow")
    assert "| tensorflow |" in out


@requires_fashion
@pytest.mark.slow
def test_fault_injection_loses_nothing(tmp_path):
    out = bench("bench/fault_injection.py", "--kills", "2", "--trials", "2", "--epochs", "3",
                "--limit", "600", "--min-delay", "6", "--max-delay", "9", "--workdir", str(tmp_path),
                "--faults", "kill,term")
    header, _, values = out.strip().splitlines()[-3:]
    figures = dict(zip([h.strip() for h in header.split("|")[1:-1]],
                       [int(v) for v in values.split("|")[1:-1]]))
    assert figures["completed_trials_lost"] == 0 and figures["left_running"] == 0
    assert figures["study_trials"] == 2


@requires_fashion
@pytest.mark.slow
def test_gpu_path_runs_on_whatever_device_there_is():
    out = bench("bench/gpu_path.py", "--limit", "300", "--epochs", "2", "--large-batch", "256",
                "--steps-per-execution", "4", "--repeats", "1")
    assert "device: CPU" in out and "| data on device |" in out and "| all that helped: " in out


@pytest.mark.slow
def test_ablation_statistics_runs():
    out = bench("bench/ablation_statistics.py", "--repetitions", "2")
    assert "| Gaussian | fixed 3 seeds, pooled |" in out and "| t, 3 df | adaptive 3-10 seeds |" in out
    out = bench("bench/ablation_statistics.py", "--repetitions", "3", "--diagnose", "5")
    assert "add-one-in, zoom's runs 5x noisier, 3 seeds, 3 repetitions: " in out
    assert "| component | test | false calls |" in out


@pytest.mark.slow
def test_search_quality_runs(tmp_path, tiny_space_file, monkeypatch):
    # the tiny space: every network it draws fits 8x8 digits, so each search finishes a trial
    monkeypatch.setenv("SEARCH_BENCH_CORE_LOCKS", str(tmp_path / "locks"))  # not a benchmark's
    out = bench("bench/search_quality.py", "--task", "digits", "--budget", "15s", "--repeats", "1",
                "--contenders", "ours,kt-hyperband,hand", "--out", str(tmp_path / "q"),
                "--space", str(tiny_space_file), "--figure", str(tmp_path / "q.png"),
                "--extra=--no-baseline")
    assert "| ours | 1 |" in out and "| kt-hyperband | 1 |" in out and "| hand | 1 |" in out
    assert "| kt-hyperband | 1 of 1 |" in out or "| kt-hyperband | 0 of 1 |" in out
    # the tiny space has no warm start and --no-baseline enqueues nothing: ours' best is a
    # sampled trial; KerasTuner keeps no study
    assert re.search(r"^\| ours \| 1 \|.*\| 1 of 1 \|$", out, re.M), out
    assert re.search(r"^\| kt-hyperband \| 1 \|.*\| — \|$", out, re.M), out
    assert (tmp_path / "q.png").stat().st_size > 0
    rows = [json.loads(line) for line in (tmp_path / "q" / "results.jsonl").read_text().splitlines()]
    assert [r["contender"] for r in rows if r.get("best_sampled")] == ["ours"]  # kept with the row
    ours = next(r for r in rows if r["contender"] == "ours")
    assert sum(ours["outcomes"].values()) >= 1 and "| trials' outcome (median) |" in out
    again = bench("bench/search_quality.py", "--task", "digits", "--budget", "15s", "--report-only",
                  "--out", str(tmp_path / "q"))  # every contender on record, none named
    assert out.split("| contender |")[1] == again.split("| contender |")[1]


@pytest.mark.slow
def test_a_stopped_search_quality_run_leaves_no_search_running(tmp_path, tiny_space_file):
    import contextlib
    import signal
    import time
    from pathlib import Path

    sys.path.insert(0, str(REPO / "bench"))
    from core_pool import busy_cores

    locks = tmp_path / "locks"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "SEARCH_BENCH_CORE_LOCKS": str(locks)}
    harness = subprocess.Popen(
        [sys.executable, "bench/search_quality.py", "--task", "digits", "--budget", "10m",
         "--repeats", "1", "--contenders", "ours", "--out", str(tmp_path / "q"),
         "--space", str(tiny_space_file), "--extra=--no-baseline"], cwd=REPO, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log, deadline = tmp_path / "q" / "ours-r0.log", time.monotonic() + 300
    while " epoch 1/" not in (log.read_text() if log.exists() else ""):  # a search is training
        assert harness.poll() is None and time.monotonic() < deadline, harness.stdout.read()
        time.sleep(0.2)
    harness.send_signal(signal.SIGTERM)
    assert harness.wait(timeout=300) == 128 + signal.SIGTERM
    alive = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            alive += [cmdline] if str(tmp_path / "q").encode() in cmdline.read_bytes() else []
    assert alive == []  # the search ended with it
    assert not (tmp_path / "q" / "ours-r0" / "refit.log").exists()  # and nothing was refit
    assert busy_cores(sorted(os.sched_getaffinity(0)), locks) == []
    assert not (tmp_path / "q" / "results.jsonl").exists()  # no row for a stopped search


@pytest.mark.slow
def test_transfer_runs():
    out = bench("bench/transfer.py", "--data", "digits", "--limit", "200", "--epochs", "1",
                "--seeds", "1", "--backbones", "mobilenet_v3_small")
    assert "| conv stack (2 conv + BN) |" in out and "| mobilenet_v3_small, none, fine-tuned |" in out


@pytest.mark.slow
def test_worker_race_runs():
    out = bench("bench/worker_race.py", "--rounds", "1")
    row = out.strip().splitlines()[-1]  # | source | rounds | clean | ...
    assert row.split("|")[2:4] == [" 1 ", " 1 "], out  # one round, and it was clean


@pytest.mark.slow
def test_quickstart_timing_runs():
    out = bench("bench/quickstart.py", "--seeds", "0", "--command",
                "run spaces/cnn.py --study quickstart --data digits --trials 1 --epochs 1 "
                "--timeout 1m --no-warm-start")
    assert "| seed | wall s |" in out and "worst:" in out and "| 0 |" in out


@requires_fashion
@pytest.mark.slow
def test_the_replay_test_bed_runs_every_contender():
    sys.path.insert(0, str(REPO / "bench"))
    from replay_contenders import CONTENDERS

    from search_replay import WARM

    out = bench("bench/search_replay.py", "--budget", "3m", "--repetitions", "2",
                "--contenders", *CONTENDERS, *WARM)
    assert "held-out Spearman" in out
    assert len(CONTENDERS) >= 10
    for name in [*CONTENDERS, *WARM]:
        assert f"| {name} |" in out
    assert "| ours against | share of the budget at or above |" in out


@requires_fashion
@pytest.mark.slow
def test_fused_runs():
    out = bench("bench/fused.py", "--k", "2", "--limit", "300", "--epochs", "1", "--repeats", "1")
    row = [r for r in out.splitlines() if r.startswith("| 2 |")]
    assert row, out
    assert float(row[0].split("|")[-2]) <= 1e-3  # the fused seeds are the sequential models


@pytest.mark.slow
def test_batch_norm_start_runs():
    out = bench("bench/batch_norm_start.py", "--task", "digits", "--epochs", "1")
    rows = [r for r in out.splitlines() if r.startswith("| entry ")]
    assert len(rows) == 8, out  # two batch-norm entries, two momenta, two layers
    assert {r.split("|")[5] for r in rows[:2]} == {rows[0].split("|")[5]}  # training is the same
    curves = bench("bench/batch_norm_start.py", "--task", "digits", "--curves")
    assert "Spearman correlation of epoch 1's validation accuracy" in curves
    assert len([r for r in curves.splitlines() if r.startswith("| 0.")]) == 10
