"""search/commands/worker.py: the worker plan made from the flags."""

from __future__ import annotations

from search.commands.worker import worker_plan
from search.study.lifecycle import default_storage
from verb_helpers import args


def test_the_worker_plan_carries_the_flags_each_worker_needs(tmp_path):
    parsed = args("worker", "s", "--processes", "2", "--gpus", "0,1", "--jit", "off",
                  "--studies-dir", tmp_path)
    plan = worker_plan(parsed, "s", default_storage("s", tmp_path), 8, 60.0)
    assert plan.total == 4 and plan.devices() == ["0", "1"]
    assert plan.command()[1:] == [  # flags not given (--steps-per-execution) are left out
        "-m", "search", "worker", "s", "--studies-dir", str(tmp_path), "--trials", "8",
        "--timeout", "60.0", "--max-failures", "5", "--jit", "off"]
