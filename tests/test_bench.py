"""Each benchmark still runs (at a tiny size): benchmarks are measured, never asserted on speed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

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


@pytest.mark.slow
def test_ablation_statistics_runs():
    out = bench("bench/ablation_statistics.py", "--repetitions", "2")
    assert "| Gaussian | fixed 3 seeds, pooled |" in out and "| t, 3 df | adaptive 3-10 seeds |" in out


@pytest.mark.slow
def test_search_quality_runs(tmp_path, tiny_space_file):
    # the tiny space: every network it draws fits 8x8 digits, so each search finishes a trial
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


def test_the_anytime_comparison_counts_a_missing_incumbent_as_behind():
    sys.path.insert(0, str(REPO / "bench"))
    from replay_run import Trace
    from search_replay import anytime

    budget = 100.0
    late = [Trace(points=[(50.0, 0.9, 0.9)]) for _ in range(3)]  # nothing until half-time
    early = [Trace(points=[(1.0, 0.5, 0.5), (60.0, 0.95, 0.95)]) for _ in range(3)]
    row = anytime({"late": late, "early": early}, budget, "late").splitlines()[-1]
    # late is behind until 50, ahead from 50 to 60, behind after: 10 of 100 moments
    assert row == "| early | 0.10 | 0.10 | 0.5000 |", row
    tie = anytime({"late": late, "same": late}, budget, "late").splitlines()[-1]
    assert tie == "| same | 1.00 | 0.00 | 0.0000 |", tie


def test_the_replay_surrogates_fast_prediction_equals_scikit_learns():
    import numpy as np
    from sklearn.ensemble import RandomForestRegressor

    sys.path.insert(0, str(REPO / "bench"))
    from replay_surrogate import _predict

    rng = np.random.default_rng(0)
    x, rows = rng.random((200, 12)), rng.random((9, 12))
    for y in (rng.random(200), rng.random((200, 3))):
        forest = RandomForestRegressor(30, min_samples_leaf=2, random_state=0).fit(x, y)
        expected = forest.predict(rows)
        assert _predict(forest, rows).shape == expected.shape
        assert np.allclose(_predict(forest, rows), expected, rtol=0, atol=1e-12)


def test_the_replayed_portfolio_never_holds_an_entry_chosen_on_the_replayed_task():
    sys.path.insert(0, str(REPO / "bench"))
    import portfolio
    import search_replay
    from search.space.space import load_space

    space = load_space(REPO / "spaces" / "cnn.py")
    for task in ("digits", "fashion-pairs5"):
        warm = search_replay.warm_starts(task, space)
        assert len(warm["ours-portfolio"]) == 3
        assert len(warm["ours"]) == len(space.warm_start)
        chosen = [c["key"] for c in portfolio.portfolio_without(task)]
        assert len(chosen) == 3 and not any(key.startswith(task + "/") for key in chosen)


def test_the_portfolio_procedure_reads_development_tasks_only():
    sys.path.insert(0, str(REPO / "bench"))
    import portfolio
    import tasks

    assert not set(tasks.DEVELOPMENT) & set(tasks.EVALUATION)
    candidates = [{"key": "a", "seconds": 5.0}, {"key": "b", "seconds": 1.0},
                  {"key": "c", "seconds": 1.0}]
    dev = list(tasks.DEVELOPMENT)
    scores = {("a", dev[0]): 0.9, ("a", dev[1]): 0.1, ("b", dev[0]): 0.5, ("b", dev[1]): 0.8,
              ("c", dev[0]): 0.89, ("c", dev[1]): 0.2}
    # c is the best single entry (near the top of the first task, above a on the second);
    # b then covers the second task, where c is weak
    assert [c["key"] for c in portfolio.greedy(candidates, scores, 2)] == ["c", "b"]
    tied = {**scores, ("a", dev[0]): 0.89, ("a", dev[1]): 0.2}  # a equals c but costs more
    assert portfolio.greedy(candidates, tied, 1)[0]["key"] == "c"
    assert portfolio.nested({"conv.depth": 2, "conv.filters.1": 64, "conv.filters.0": 32,
                             "bn.enabled": True}) == {
        "bn": {"enabled": True}, "conv": {"depth": 2, "filters": [32, 64]}}


def test_the_fitted_kerastuner_schedule_counts_epochs_as_kerastuners_own_oracle():
    import keras_tuner as kt

    sys.path.insert(0, str(REPO / "bench"))
    from kt_brackets import fitted_max_epochs, iteration_epochs

    for max_epochs in (1, 3, 9, 12, 20):
        oracle = kt.oracles.HyperbandOracle(kt.Objective("val_accuracy", "max"),
                                            max_epochs=max_epochs, factor=3)
        total = 0
        for bracket in range(oracle._get_num_brackets()):
            epochs = [oracle._get_epochs(bracket, r) for r in range(bracket + 1)]
            total += sum(oracle._get_size(bracket, r) * (e - ([0] + epochs)[r])
                         for r, e in enumerate(epochs))
        assert iteration_epochs(max_epochs) == total
    assert iteration_epochs(20) * 8.0 > 1200  # the space's own 20 epochs: one iteration > 20 min
    fitted = fitted_max_epochs(20, 1200, 8.0)
    assert iteration_epochs(fitted) * 8.0 <= 1200 < iteration_epochs(fitted + 1) * 8.0


@requires_fashion
@pytest.mark.slow
def test_fused_runs():
    out = bench("bench/fused.py", "--k", "2", "--limit", "300", "--epochs", "1", "--repeats", "1")
    row = [r for r in out.splitlines() if r.startswith("| 2 |")]
    assert row, out
    assert float(row[0].split("|")[-2]) <= 1e-3  # the fused seeds are the sequential models


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
