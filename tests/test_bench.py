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


def test_the_warm_start_contender_trains_the_spaces_own_entries_and_nothing_more():
    import argparse

    sys.path.insert(0, str(REPO / "bench"))
    from search_quality import PROTOCOL, contender_flags
    from search.space.space import load_space

    space = REPO / "spaces" / "cnn.py"
    args = argparse.Namespace(space=str(space), portfolio=str(REPO / "spaces" / "cnn_portfolio.yaml"))
    assert contender_flags("warm-start", args) == ["--trials", str(len(load_space(space).warm_start))]
    assert contender_flags("portfolio", args)[:3] == ["--no-warm-start", "--warm-start", args.portfolio]
    assert "warm-start" in PROTOCOL


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


@pytest.mark.slow
def test_batch_norm_start_runs():
    out = bench("bench/batch_norm_start.py", "--task", "digits", "--epochs", "1")
    rows = [r for r in out.splitlines() if r.startswith("| entry ")]
    assert len(rows) == 8, out  # two batch-norm entries, two momenta, two layers
    assert {r.split("|")[5] for r in rows[:2]} == {rows[0].split("|")[5]}  # training is the same
    curves = bench("bench/batch_norm_start.py", "--task", "digits", "--curves")
    assert "Spearman correlation of epoch 1's validation accuracy" in curves
    assert len([r for r in curves.splitlines() if r.startswith("| 0.")]) == 10


def test_the_evaluation_report_judges_goals_on_the_repetitions_every_contender_has(tmp_path):
    sys.path.insert(0, str(REPO / "bench"))
    from evaluation_report import goal_lines, load, standing_table

    def row(task, contender, rep, test, sampled=None):
        return {"task": task, "contender": contender, "rep": rep, "test_accuracy": test,
                "best_sampled": sampled}
    rows = []
    for task, ours in (("a", 0.8654), ("b", 0.8654), ("c", 0.80)):
        rows += [row(task, "ours", 0, ours, sampled=task == "a"), row(task, "portfolio", 0, 0.8624),
                 row(task, "ours-cold", 0, 0.8654, True), row(task, "random", 0, 0.8604),
                 row(task, "kt-hyperband", 0, 0.70), row(task, "hand", 0, 0.8654)]
    rows.append(row("a", "ours", 1, 0.50, sampled=None))  # no portfolio row for repetition 1
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    tasks = load([str(path), str(tmp_path / "not-yet.jsonl")])  # a task not started: left out
    table = standing_table(tasks)
    assert "| ours | 0.6827 (0.8654, 0.5000) | 0.8654 (0.8654) | 0.8000 (0.8000) | 1 of 4 |" in table
    assert "a (repetitions: 1)" in table  # the contenders with one repetition set the count
    lines = "\n".join(goal_lines(tasks))
    # a and b: exactly +0.30 (on repetition 0 only: a's repetition 1 has no portfolio row)
    assert "portfolio alone + 0.3 points on 2 of 3 tasks: **not judged yet**, on 2 of 3" in lines
    assert "a +0.30 (ahead in 1 of 1)" in lines and "c -6.24 (ahead in 0 of 1)" in lines
    assert "a third of the repetitions: **not judged yet**, 1 of 4" in lines  # None: not sampled
    rows = [r for r in rows if r["rep"] == 0]
    rows += [dict(r, rep=rep) for rep in (1, 2) for r in rows if r["task"] != "c"]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    lines = "\n".join(goal_lines(load([str(path)])))  # 3 repetitions on 2 tasks only
    assert "**met**" not in lines and "**missed**" not in lines
    rows += [dict(r, rep=rep) for rep in (1, 2) for r in rows if r["task"] == "c" and not r["rep"]]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    lines = "\n".join(goal_lines(load([str(path)])))
    assert "portfolio alone + 0.3 points on 2 of 3 tasks: **met**, on 2 of 3" in lines
    assert "a third of the repetitions: **met**, 3 of 9" in lines  # exactly a third
    cold = lines.split("cold, nothing enqueued:")[1]
    assert "≥ Optuna random + 0.5 on 3 of 3 tasks: **met**, on 3 of 3" in cold  # exactly +0.5
    assert "≥ the hand-made model on 2 of 3 tasks: **met**, on 3 of 3" in cold  # level counts


def test_one_repetitions_table_lists_each_contender_measured_with_its_trials(tmp_path):
    sys.path.insert(0, str(REPO / "bench"))
    from evaluation_report import goal_lines, load, repetition_table

    rows = [{"task": "a", "contender": "ours", "rep": 0, "test_accuracy": 0.85, "best_val": 0.86,
             "best_sampled": False, "trials": 40,
             "outcomes": {"complete": 7, "pruned": 33, "never trained": 9}},
            {"task": "a", "contender": "kt-hyperband", "rep": 0, "test_accuracy": 0.74,
             "best_val": 0.75, "best_sampled": None, "trials": 18, "outcomes": None},
            {"task": "a", "contender": "hand", "rep": 0, "test_accuracy": 0.86, "best_val": None,
             "trials": 1},
            {"task": "a", "contender": "random", "rep": 1, "test_accuracy": 0.9}]
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    lines = repetition_table(load([str(path)]), "a", 0).splitlines()
    assert lines[2:] == ["| ours (the default) | 0.8500 | 0.8600 | 7 / 33 / 9 | no |",
                         "| the users' hand-made model | **0.8600** | — | — | — |",
                         "| KerasTuner Hyperband, cold, budget-fitted | 0.7400 | 0.7500 | 18 trained | — |"]
    assert "warm start alone + 0.3 points on 2 of 3 tasks: **not judged yet**, on 0 of 0 (no " \
           "paired repetition yet)" in "\n".join(goal_lines(load([str(path)])))
    rows.append({"task": "a", "contender": "warm-start", "rep": 0, "test_accuracy": 0.845})
    path.write_text("\n".join(json.dumps(r) for r in rows))
    assert "warm start alone + 0.3 points on 2 of 3 tasks: **not judged yet**, on 1 of 1 (a " \
           "+0.50 (ahead in 1 of 1)" in "\n".join(goal_lines(load([str(path)])))


def test_the_core_pool_lends_free_cores_only_across_processes(tmp_path, monkeypatch):
    import threading

    sys.path.insert(0, str(REPO / "bench"))
    import core_pool
    from core_pool import busy_cores, lent_cores

    with pytest.raises(RuntimeError), lent_cores([[0]], folder=tmp_path):
        raise RuntimeError("the job failed")
    assert busy_cores([0, 1], tmp_path) == []  # released all the same
    tried, got = threading.Event(), []
    monkeypatch.setattr(core_pool.time, "sleep", lambda seconds: tried.set())
    with lent_cores([[0], [1]], folder=tmp_path) as first:
        assert first == [0] and busy_cores([0, 1], tmp_path) == [0]
        with lent_cores([[0], [1]], folder=tmp_path) as second:
            assert second == [1] and busy_cores([0, 1], tmp_path) == [0, 1]
            waiting = threading.Thread(target=lambda: got.append(
                lent_cores([[0], [1]], folder=tmp_path).__enter__()))
            waiting.start()
            assert tried.wait(timeout=60) and not got  # both busy: it waits
            holder = subprocess.Popen(  # a process of the job holds its core's lock too
                [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE,
                pass_fds=second.fds)
        assert busy_cores([0, 1], tmp_path) == [0, 1]  # core 1 held by the process still
        holder.communicate(timeout=60)
        waiting.join(timeout=60)
        assert got == [[1]]  # core 1 once its last holder ended, never core 0


def test_the_evaluation_script_refuses_a_repeat_count_that_is_no_whole_number():
    done = subprocess.run(["bash", "bench/evaluation.sh", "three"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "REPEATS must be a positive whole number, not 'three'" in \
        done.stderr and not (REPO / "bench" / "out" / "eval-three").exists()
