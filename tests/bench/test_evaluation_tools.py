"""The evaluation's tools: its report, the core pool its searches share, its driver script."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))


def test_the_evaluation_report_judges_goals_on_the_repetitions_every_contender_has(tmp_path):
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


def test_the_incumbent_race_compares_warm_start_and_sampled_trials_at_equal_epochs(tmp_path):
    import optuna

    from incumbent_race import race

    def trial(values: dict[int, float], warm: bool, retries: int | None = None,
              state=optuna.trial.TrialState.COMPLETE, epochs: int | None = None,
              fixed_epochs: int | None = None) -> optuna.trial.FrozenTrial:
        knob = {"training.epochs": epochs} if epochs is not None else {}
        attrs = {"warm_start": "cnn.py: WARM_START[0]"} if warm else {}
        if fixed_epochs is not None:  # no parameter: the stored config says
            attrs["config"] = {"params": {"training": {"epochs": fixed_epochs}}}
        return optuna.trial.create_trial(
            params=knob, distributions={name: optuna.distributions.IntDistribution(1, 20)
                                        for name in knob},
            state=state, value=max(values.values()) if state.is_finished() and
            state != optuna.trial.TrialState.FAIL else None,
            intermediate_values=values, user_attrs=attrs,
            system_attrs={"retry_history": [retries]} if retries is not None else {})

    db = tmp_path / "eval-a" / "studies" / "ours-r0" / "study.db"
    db.parent.mkdir(parents=True)
    study = optuna.create_study(storage=f"sqlite:///{db}", direction="maximize")
    study.add_trials([trial({1: 0.80, 2: 0.84, 3: 0.86, 4: 0.88, 5: 0.89}, warm=True,
                            fixed_epochs=5),
                      trial({1: 0.82, 2: 0.85, 3: 0.87, 4: 0.875}, warm=False,
                            epochs=11),  # past epoch 3, stopped at 4 of its 11 epochs
                      trial({1: 0.81, 2: 0.83, 3: 0.85}, warm=False),  # stopped at epoch 3
                      trial({0: 0.60, 1: 0.70}, warm=False),  # step 0: a subset rung, no epoch
                      trial({1: 0.69}, warm=False, state=optuna.trial.TrialState.FAIL),
                      trial({1: 0.69, 2: 0.72}, warm=False, retries=4)])  # the same, resumed
    assert race(db) == ("| eval-a/ours-r0 | 0.8900 (5 of 5 epochs) | 0.8750 (4 of 11 epochs) | 4 / 2 / 1 | "
                        "0.8700 against 0.8600 |")
