"""Speed settings leave the model alone: each one still trains the same network, for real."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from search.space.config import Config
from search.data.dataset import DataSpec, load_dataset
from search.errors import SearchError
from search.model.execution import Execution, process_share_env
from search.model.training import train

DIGITS = DataSpec(name="digits")


def small(**training) -> Config:
    return Config({"conv": {"depth": 1, "filters": [16]}, "bn": {"enabled": True},
                   "head": {"layers": 0}, "flip_h": {"enabled": True}, "cutout": {"enabled": True},
                   "training": {"batch_size": 32, "epochs": 3, **training}}, DIGITS, seed=1)


@pytest.mark.parametrize("execution", [Execution(data="device"), Execution(steps_per_execution=4),
                                       Execution(data="device", steps_per_execution=8)],
                         ids=["data-on-device", "4-steps-per-call", "both"])
@pytest.mark.slow
def test_speed_settings_train_as_well_as_the_default(execution):
    """Not bit-identical (data on the device shuffles with its own generator), so the bar is
    the default's own seed-to-seed spread, measured here on the same data and epochs."""
    default = _default_accuracies()
    tuned = train(small(), load_dataset(DIGITS), execution=execution).best_val_accuracy
    noise = max(default) - min(default)
    assert abs(tuned - np.mean(default)) <= max(1.5 * noise, 0.02), (tuned, default)


@functools.lru_cache(maxsize=1)
def _default_accuracies() -> tuple[float, ...]:
    host = Execution(steps_per_execution=1, data="host")
    return tuple(train(small().replace(seed=seed), load_dataset(DIGITS), execution=host)
                 .best_val_accuracy for seed in (1, 2, 3, 4))


@pytest.mark.parametrize("precision", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_computes_in_half_and_keeps_float32_weights(precision):
    import keras

    result = train(small(precision=precision), load_dataset(DIGITS))
    assert result.best_val_accuracy > 0.5
    conv = result.model.get_layer("block1_conv")
    assert conv.compute_dtype == precision.removeprefix("mixed_") and conv.variable_dtype == "float32"
    assert result.model.get_layer("classes").compute_dtype == "float32"  # softmax stays stable
    assert keras.config.dtype_policy().name == "float32"  # the process's policy is restored
    loss_scaled = type(result.model.optimizer).__name__ == "LossScaleOptimizer"
    assert loss_scaled == (precision == "mixed_float16")


def test_auto_keeps_data_on_the_host_without_an_accelerator():
    assert not Execution().data_on_device(1000)  # this CI machine has no GPU
    assert Execution(data="device").data_on_device(10 ** 12)
    assert not Execution(data="host").data_on_device(1)


def test_each_shared_process_gets_an_equal_slice_of_memory_and_threads():
    env = process_share_env(4, cores=16)
    assert env["XLA_PYTHON_CLIENT_MEM_FRACTION"] == env["SEARCH_GPU_MEMORY_FRACTION"] == "0.225"
    assert env["TF_NUM_INTRAOP_THREADS"] == env["OMP_NUM_THREADS"] == "4"
    assert process_share_env(8, cores=2)["TF_NUM_INTRAOP_THREADS"] == "1"


def test_execution_flags_reach_the_process_settings():
    from search.commands import worker as commands
    from search.model import execution
    from search.commands.cli import build_parser

    args = build_parser().parse_args(["train", "x.yaml", "--steps-per-execution", "8", "--jit", "off",
                                      "--data-placement", "device"])
    try:
        commands.configure_execution(args)
        assert execution.current() == Execution(steps_per_execution=8, jit="off", data="device")
        assert execution.current().compile_options() == {"steps_per_execution": 8,
                                                         "jit_compile": False}
    finally:
        execution.configure(Execution())


def test_several_processes_on_a_sqlite_study_are_refused_before_starting(tmp_path):
    from rich.console import Console

    from search.report.status import status_panel
    from search.study.workers import WorkerPlan, spawn_workers

    plan = WorkerPlan("s", f"sqlite:///{tmp_path / 's.db'}", str(tmp_path), processes=2)
    with pytest.raises(SearchError, match="SQLite serves one worker per study") as info:
        spawn_workers(plan, Console(), status_panel)
    assert "journal" in info.value.render() and not (tmp_path / "s").exists()


def test_spawned_workers_get_the_execution_flags():
    from search.commands.cli import build_parser
    from search.commands.worker import worker_plan

    args = build_parser().parse_args(["worker", "s", "--storage", "j.log", "--processes", "3",
                                      "--steps-per-execution", "4", "--jit", "on"])
    plan = worker_plan(args, args.study, args.storage, args.trials, args.timeout)
    command = plan.command()
    assert "--processes" not in command and "--trials" not in command  # one worker each, no budget
    assert command[command.index("--steps-per-execution") + 1] == "4"
    assert command[command.index("--jit") + 1] == "on"
    assert "--storage" not in command and plan.storage.secret() == "j.log"  # it goes by environment
    assert plan.total == 3 and plan.devices() == [None]
