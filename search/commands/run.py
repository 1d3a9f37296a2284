"""`run SPACE.py | STUDY.yaml`: run or resume a study in this process, in worker processes, or
with KerasTuner as the engine."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from rich.console import Console

from search.commands.requests import run_request
from search.commands.worker import worker_plan
from search.errors import SearchError
from search.inputs import MODEL_BASED
from search.report.status import status_panel

if TYPE_CHECKING:
    from search.study.lifecycle import StudySettings

__all__ = ["run", "warm_start_entries", "create_for_workers"]


def run(args: argparse.Namespace, console: Console) -> int:
    """`run`: run or resume a study (in one process, in workers, or with KerasTuner); return
    the exit status."""
    from search.study.runner import RunOptions, run_study

    request = run_request(args)
    settings = request.settings
    if args.engine.startswith("keras-tuner"):
        _check_keras_tuner_options(args, request.file_keys)
        return _run_keras_tuner(settings, args, request.trials, request.timeout, console)
    options = RunOptions(trials=request.trials, timeout=request.timeout,
                         max_failures=args.max_failures, tensorboard=args.tensorboard,
                         owns_budget=True, warm_start=warm_start_entries(args, settings))
    if args.processes > 1 or args.gpus:
        status = _run_in_workers(args, settings, options, console)
        if status:
            return status
    else:
        run_study(settings, options, console)
    best = settings.directory / "best.yaml"
    if best.exists():
        console.print(f"best config: {best}  (retrain: python -m search train {best})")
    return 0


def warm_start_entries(args: argparse.Namespace, settings: StudySettings) -> list:
    """Each --warm-start FILE, then the space file's WARM_START (unless --no-warm-start); with
    neither, a model-based sampler starts from the space's baseline model (unless
    --no-baseline)."""
    from search.space.warm_start import baseline_entry, read_warm_start, space_warm_start

    space = settings.space
    files = [entry for path in args.warm_start or [] for entry in read_warm_start(path)]
    entries = files + ([] if args.no_warm_start else space_warm_start(space, space.warm_start))
    if entries or getattr(args, "no_baseline", False) or settings.sampler not in MODEL_BASED:
        return entries
    return [baseline_entry(space)]


def create_for_workers(settings: Any, options: Any, console: Console):
    """Create the study (or check a resume) once and store its budget and warm start, which
    the workers it is made for follow; the study."""
    from search.study.lifecycle import open_study
    from search.study.runner import plan_warm_start, start_budget

    warm = plan_warm_start(settings, options, console)  # checked before the study is touched
    study = open_study(settings)
    start_budget(study, settings, options, warm)
    return study


def _run_in_workers(args: argparse.Namespace, settings: Any, options: Any, console: Console) -> int:
    from search.study.workers import spawn_workers

    if args.tensorboard:
        raise SearchError("--tensorboard runs in one process; leave out --processes/--gpus, or "
                          "run TensorBoard-logged trials separately.")
    plan = worker_plan(args, settings.name, settings.storage, None, None)
    plan.check()
    create_for_workers(settings, options, console)
    return spawn_workers(plan, console, status_panel)


def _check_keras_tuner_options(args: argparse.Namespace, file_keys: frozenset[str]) -> None:
    """Options the KerasTuner engine cannot honour are refused, not silently ignored."""
    given = [f"--{k.replace('_', '-')}" for k in ("sampler", "pruner", "gpus", "warm_start")
             if getattr(args, k) is not None or k in file_keys]
    given += ["--processes"] * (args.processes > 1) + ["--tensorboard"] * args.tensorboard
    given += ["--no-baseline"] * getattr(args, "no_baseline", False)
    if given:
        raise SearchError(f"--engine {args.engine} does not take {', '.join(given)}: they belong "
                          "to the optuna engine (KerasTuner runs in one process, with its own "
                          "sampling and stopping).", hint="Leave them out, or use --engine optuna.")


def _run_keras_tuner(settings: Any, args: argparse.Namespace, trials: int | None,
                     timeout: float | None, console: Console) -> int:
    from search.study.budget import DEFAULT_TRIALS
    from search.data.dataset import load_dataset
    from search.study.kerastuner import TUNERS, run_keras_tuner, write_best
    from search.study.progress import LiveProgress
    from search.study.runner import max_epochs, print_device

    data = load_dataset(settings.data)
    print_device(console)
    trials = trials or (None if timeout else DEFAULT_TRIALS)
    algorithm = TUNERS[args.engine]
    console.print(f"KerasTuner {algorithm} on '{settings.name}' ({trials or 'unlimited'} trials"
                  f"{f', {timeout:.0f} s' if timeout else ''}; state in "
                  f"{settings.directory / 'keras-tuner'})")
    with LiveProgress(console, total=None) as live:
        tuner = run_keras_tuner(settings.space, data, settings.directory / "keras-tuner",
                                name=settings.name, max_epochs=max_epochs(settings),
                                seed=settings.seed, max_trials=trials, timeout=timeout,
                                max_params=settings.max_params, algorithm=algorithm,
                                callbacks_for=live.keras_callbacks, say=console.print)
    best = write_best(tuner, settings.space, settings.data, settings.directory / "best.yaml",
                      settings.seed)
    console.print(f"best val_accuracy {best['result']['val_accuracy']:.4f}; best config: "
                  f"{settings.directory / 'best.yaml'}")
    return 0
