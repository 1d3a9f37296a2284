"""What each CLI command does, given parsed arguments; small functions over the engine."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from search.space.config import Config, read_yaml, write_yaml_atomic
from search.commands.requests import (load_existing_study, run_request,
                          settings_from_study, storage_for)
from search.errors import SearchError
from search.knobs import Fixed
from search.space.schema import describe_when
from search.space.space import Space, load_space
from search.report.status import status_panel
from search.storage_url import StorageURL


def show_space(args: argparse.Namespace, console: Console) -> int:
    """`space`: print the space file as a table; return 0."""
    space = load_space(args.file)
    console.print(space_table(space))
    return 0


def space_table(space: Space) -> Table:
    """A table of every knob of ``space``: component, values, condition and meaning."""
    table = Table(title=f"{space.path}: {len(space.searched())} searched knobs "
                        f"(digest {space.digest()})")
    for column in ("component", "knob", "searched", "values", "when", "what"):
        table.add_column(column, overflow="fold")
    for comp, name, spec, knob in space.entries():
        searched = "" if isinstance(knob, Fixed) else "yes"
        when = describe_when(spec.when) if spec.when else (
            f"one per {spec.per}" if spec.per else "")
        table.add_row(comp, name, searched, knob.describe(), when, spec.doc,
                      style=None if searched else "dim")
    return table


# -- run ---------------------------------------------------------------------------------------

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
                         owns_budget=True, warm_start=_warm_start_entries(args, settings.space))
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


def _warm_start_entries(args: argparse.Namespace, space: Space) -> list:
    """Each --warm-start FILE, then the space file's WARM_START (unless --no-warm-start)."""
    from search.space.warm_start import read_warm_start_file, space_warm_start

    files = [read_warm_start_file(path) for path in args.warm_start or []]
    return files + ([] if args.no_warm_start else space_warm_start(space, space.warm_start))


def _run_in_workers(args: argparse.Namespace, settings: Any, options: Any, console: Console) -> int:
    from search.study.lifecycle import open_study
    from search.study.runner import plan_warm_start, start_budget
    from search.study.workers import spawn_workers

    if args.tensorboard:
        raise SearchError("--tensorboard runs in one process; leave out --processes/--gpus, or "
                          "run TensorBoard-logged trials separately.")
    plan = worker_plan(args, settings.name, settings.storage, None, None)
    plan.check()
    # Create it (or check a resume) once; the workers follow the budget stored here.
    warm = plan_warm_start(settings, options, console)
    start_budget(open_study(settings), settings, options, warm)
    return spawn_workers(plan, console, status_panel)


def _check_keras_tuner_options(args: argparse.Namespace, file_keys: frozenset[str]) -> None:
    """Options the KerasTuner engine cannot honour are refused, not silently ignored."""
    given = [f"--{k.replace('_', '-')}" for k in ("sampler", "pruner", "gpus", "warm_start")
             if getattr(args, k) is not None or k in file_keys]
    given += ["--processes"] * (args.processes > 1) + ["--tensorboard"] * args.tensorboard
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


# -- export ------------------------------------------------------------------------------------

def export(args: argparse.Namespace, console: Console) -> int:
    """`export`: write the top trials' configs and trials.csv to ``--out``; return 0."""
    from optuna.trial import TrialState

    from search.study.lifecycle import best_yaml_content, study_dir

    study = load_existing_study(args.study, args.storage, args.studies_dir)
    out = Path(args.out) if args.out else study_dir(args.study, args.studies_dir) / "export"
    out.mkdir(parents=True, exist_ok=True)
    complete = sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)),
                      key=lambda t: -t.value)[: args.top]
    for rank, trial in enumerate(complete, start=1):
        write_yaml_atomic(out / f"top{rank:02d}-trial{trial.number}.yaml",
                          best_yaml_content(study, trial))
    frame = study.trials_dataframe(attrs=("number", "value", "state", "params", "user_attrs",
                                          "datetime_start", "duration"))
    frame.to_csv(out / "trials.csv", index=False)
    console.print(f"wrote {len(complete)} configs and trials.csv ({len(frame)} trials) to {out}")
    return 0


# -- train -------------------------------------------------------------------------------------

# -- execution and worker ----------------------------------------------------------------------

def configure_execution(args: argparse.Namespace) -> None:
    """This process's speed settings from the execution flags (search/model/execution.py)."""
    import keras

    from search.model.execution import Execution, configure, enable_compile_cache, limit_gpu_memory

    steps = args.steps_per_execution
    if steps and steps > 1 and keras.backend.backend() == "torch":
        raise SearchError(f"--steps-per-execution {steps}: the PyTorch backend runs one step per "
                          "call; use 1, or KERAS_BACKEND=jax or tensorflow.")
    default = Execution()
    configure(Execution(steps_per_execution=steps or default.steps_per_execution,
                        jit=args.jit or default.jit, data=args.data_placement or default.data))
    enable_compile_cache(Path("~/.cache/search/jax-compile"))
    limit_gpu_memory()


def worker(args: argparse.Namespace, console: Console) -> int:
    """`worker`: join a stored study as one worker (or start several); return the exit status."""
    from search.study.runner import RunOptions, run_study

    if args.gpus or args.processes > 1:
        from search.study.workers import spawn_workers

        storage = storage_for(args.study, args.storage, args.studies_dir)
        return spawn_workers(worker_plan(args, args.study, storage, args.trials, args.timeout),
                             console, status_panel)
    settings = settings_from_study(args.study, args.storage, args.studies_dir)
    run_study(settings, RunOptions(trials=args.trials, timeout=args.timeout,
                                   max_failures=args.max_failures), console)
    return 0


def worker_plan(args: argparse.Namespace, study: str, storage: StorageURL, trials: int | None,
                timeout: float | None):
    """``--processes``/``--gpus``: the worker processes to start, each one trial at a time."""
    from search.study.workers import WorkerPlan

    options = {"--trials": trials, "--timeout": timeout, "--max-failures": args.max_failures,
               "--steps-per-execution": args.steps_per_execution, "--jit": args.jit,
               "--data-placement": args.data_placement}
    return WorkerPlan(study, StorageURL(storage), args.studies_dir, args.processes, args.gpus, options)


# -- report and status -------------------------------------------------------------------------

def report(args: argparse.Namespace, console: Console) -> int:
    """`report`: write the study's HTML and Markdown report, with the refit model's views
    unless ``--no-model``; return 0."""
    from search.report.study_report import model_sections, study_sections, write_report
    from search.study.lifecycle import study_dir

    study = load_existing_study(args.study, args.storage, args.studies_dir)
    folder = study_dir(args.study, args.studies_dir)
    out = folder / "report"
    out.mkdir(parents=True, exist_ok=True)
    sections = study_sections(study, out)
    if not args.no_model:
        model_path = _current_refit_model(study, folder, console)
        if model_path is not None:
            sections += model_sections(study, model_path, out, study.best_trial.user_attrs["history"])
    html_path, md_path = write_report(sections, out, f"search report: {args.study}")
    console.print(f"wrote {html_path} and {md_path}")
    return 0


def _current_refit_model(study: Any, folder: Path, console: Console) -> Path | None:
    """best.keras if it was refit from the current best trial; refit it otherwise."""
    from search.report.refit import refit_and_save
    from search.study.lifecycle import best_yaml_content

    try:
        best = study.best_trial
    except ValueError:
        console.print("no complete trial yet: model views skipped")
        return None
    model_path, tested = folder / "best.keras", folder / "best.test.yaml"
    if model_path.exists() and tested.exists() and read_yaml(tested).get("trial") == best.number:
        return model_path
    console.print(f"refitting trial {best.number} on train+validation for the model views ...")
    content = best_yaml_content(study, best)
    config = Config.from_dict(content, source=f"trial {best.number}")
    refit_and_save(config, content["result"], model_path, verbose=0)
    return model_path


def status(args: argparse.Namespace, console: Console) -> int:
    """`status`: print the study's status panel; return 0."""
    study = load_existing_study(args.study, args.storage, args.studies_dir)
    console.print(status_panel(study))
    return 0
