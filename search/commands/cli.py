"""Command line: `python -m search {space,run,worker,slurm,train,export,ablate,report,status} ...`.

Every user mistake ends as a SearchError: one clear message, exit status 2,
no traceback. Heavy imports (Keras) happen inside the commands that need them.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import traceback
from pathlib import Path
from typing import Any, Sequence

from rich.console import Console
from rich.markup import escape

from search.errors import (EXIT_INFRASTRUCTURE, EXIT_INTERRUPTED, EXIT_USER_ERROR,
                           InfrastructureError, SearchError)
from search.inputs import arg_help, arg_type
from search.storage_url import STORAGE_ENV, redact

__all__ = ["main", "build_parser", "EXIT_STORAGE_UNAVAILABLE"]

EXIT_STORAGE_UNAVAILABLE = EXIT_INFRASTRUCTURE  # kept for callers of the earlier name
NO_FUSE_HELP = "train the seeds one after another instead of as one fused program"

# Each verb's module (imported only when that verb runs) and its function.
HANDLERS = {"space": ("space", "show_space"), "run": ("run", "run"), "export": ("export", "export"),
            "train": ("train", "train"), "ablate": ("ablate", "ablate"), "worker": ("worker", "worker"),
            "report": ("report", "report"), "status": ("status", "status"), "slurm": ("slurm", "slurm")}


def _classes(text: str) -> Any:
    """'fashion3', '0,1,2,3,4' or groups '0+2+3+4+6,1+5+7+9,8'."""
    if re.fullmatch(r"[A-Za-z_]\w*", text):
        return text
    try:
        groups = [[int(x) for x in group.split("+")] for group in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a class list; use a preset (fashion3), labels (0,1,2) or groups "
            "joined with + (0+2,1+3)") from None
    return [g[0] if len(g) == 1 else g for g in groups]


def _add_process_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--processes", **arg_help("processes"), default=1)
    parser.add_argument("--gpus", **arg_help("gpus"))


def _add_study_options(parser: argparse.ArgumentParser) -> None:
    """What `run` and `slurm` share: the space or study file and the study's settings."""
    parser.add_argument("file", help="a space file (spaces/cnn.py) or a study definition (studies/X.yaml)")
    parser.add_argument("--study", **arg_help("study"))
    for name in ("trials", "timeout", "sampler", "pruner", "epochs", "seed", "max_params"):
        parser.add_argument("--" + name.replace("_", "-"), **arg_help(name))
    parser.add_argument("--storage", **arg_help("storage"))
    parser.add_argument("--max-failures", **arg_help("max_failures"), default=5)
    parser.add_argument("--studies-dir", default="studies", help="where study folders live")
    parser.add_argument("--warm-start", **arg_help("warm_start"), action="append", metavar="FILE")
    parser.add_argument("--no-warm-start", action="store_true",
                        help="leave out the space file's WARM_START configs")
    parser.add_argument("--no-baseline", action="store_true",
                        help="with no warm start, do not try the space's baseline model first "
                             "(every knob at its default; tpe, tpe-local, gp and cmaes try it)")


def _add_slurm_parser(commands: Any) -> None:
    """`slurm`: the study's workers as a Slurm job array."""
    slurm = commands.add_parser("slurm", help="create a study and submit its workers to Slurm")
    _add_study_options(slurm)
    slurm.add_argument("--workers", **arg_help("workers", "--workers"), required=True)
    for name, flag in (("cpus_per_worker", None), ("gpus_per_worker", None), ("mem", None),
                       ("slurm_time", "time"), ("partition", None), ("account", None), ("qos", None),
                       ("signal_lead", None), ("max_stalled_requeues", None), ("storage_env", None)):
        flag = flag or name
        slurm.add_argument("--" + flag.replace("_", "-"), dest=name, **arg_help(name, "--" + flag.replace("_", "-")))
    slurm.add_argument("--sbatch", **arg_help("sbatch", "--sbatch"), action="append", default=[],
                       metavar="OPTION")
    slurm.add_argument("--activate", type=Path, help="a virtual environment's bin/activate, sourced "
                       "by each task (default: this Python, by its path)")
    slurm.add_argument("--checkpoint-dir", type=Path, help="where trials keep their checkpoints "
                       "(default studies/STUDY/checkpoints); a folder every node sees")
    slurm.add_argument("--check-shared", action="store_true", help="refuse a journal file, studies "
                       "or checkpoint folder on a filesystem other nodes do not see")
    slurm.add_argument("--dry-run", action="store_true", help="print the sbatch script; create "
                       "and submit nothing")
    _add_data_options(slurm)


def _add_execution_options(parser: argparse.ArgumentParser) -> None:
    """Speed settings that leave the model alone (search/model/execution.py); defaults measured in bench/."""
    group = parser.add_argument_group("execution (speed only: the trained model is the same)")
    group.add_argument("--backend", **arg_help("backend"))
    group.add_argument("--steps-per-execution", **arg_help("steps_per_execution"))
    group.add_argument("--jit", **arg_help("jit"))
    group.add_argument("--data-placement", **arg_help("data_placement"))


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data (override the space's DATA and the study file)")
    group.add_argument("--data", **arg_help("data_name", "data"))
    group.add_argument("--data-dir", help="folder with the data files (or the .npz file for --data npz)")
    group.add_argument("--limit", **arg_help("limit"))
    group.add_argument("--classes", type=_classes,
                       help="keep/merge classes: preset 'fashion3', '0,1,2,3,4' or '0+2,1+3'")
    group.add_argument("--class-names", help="comma-separated names of the new classes")
    group.add_argument("--normalize", **arg_help("normalize"))
    group.add_argument("--val-fraction", **arg_help("val_fraction"))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command and its flags."""
    parser = argparse.ArgumentParser(prog="python -m search", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    space = commands.add_parser("space", help="print a space file as a table")
    space.add_argument("file")

    run = commands.add_parser("run", help="run (or resume) a study")
    _add_study_options(run)
    run.add_argument("--engine", **arg_help("engine"), default="optuna")
    _add_process_options(run)
    run.add_argument("--tensorboard", action="store_true",
                     help="write TensorBoard logs per trial under studies/STUDY/tensorboard/")
    _add_data_options(run)
    _add_execution_options(run)

    export = commands.add_parser("export", help="write the top K configs as YAML and all trials as CSV")
    export.add_argument("study", **arg_help("study"))
    export.add_argument("--top", **arg_help("top"), default=5)
    export.add_argument("--storage", **arg_help("storage"))
    export.add_argument("--studies-dir", default="studies")
    export.add_argument("--out", help="folder (default studies/STUDY/export)")

    train = commands.add_parser("train", help="retrain a config YAML (e.g. best.yaml)")
    train.add_argument("config")
    train.add_argument("--refit", action="store_true",
                       help="train on train+validation for the best epoch count, then test once")
    train.add_argument("--epochs", **arg_help("epochs"))
    train.add_argument("--output", help="where --refit saves the model (default: beside the YAML)")
    train.add_argument("--probe", **arg_help("probe"))
    train.add_argument("--data-dir", help="folder with the data files, if not where the YAML says")
    train.add_argument("--repeats", **arg_help("repeats"))
    train.add_argument("--no-fuse", action="store_true", help=NO_FUSE_HELP)
    _add_execution_options(train)

    worker = commands.add_parser("worker", help="join an existing study (any host, same storage)")
    worker.add_argument("study", **arg_help("study"))
    worker.add_argument("--storage", type=arg_type("storage"),
                        help="the study's storage URL (PostgreSQL to share across hosts); default "
                             f"${STORAGE_ENV}, else the SQLite file")
    worker.add_argument("--trials", **arg_help("trials"))
    worker.add_argument("--timeout", **arg_help("timeout"))
    _add_process_options(worker)
    worker.add_argument("--max-failures", **arg_help("max_failures"), default=5)
    worker.add_argument("--studies-dir", default="studies")
    worker.add_argument("--checkpoint-dir", type=Path, help="where trials keep their checkpoints "
                        "(default studies/STUDY/checkpoints); on a cluster, a folder every node sees")
    _add_execution_options(worker)

    report = commands.add_parser("report", help="write studies/STUDY/report/ (index.html, report.md)")
    report.add_argument("study", **arg_help("study"))
    report.add_argument("--no-model", action="store_true", help="study views only (no refit/test)")
    report.add_argument("--backend", **arg_help("backend"))
    report.add_argument("--storage", **arg_help("storage"))
    report.add_argument("--studies-dir", default="studies")

    status = commands.add_parser("status", help="one-screen summary of a study")
    status.add_argument("study", **arg_help("study"))
    status.add_argument("--storage", **arg_help("storage"))
    status.add_argument("--studies-dir", default="studies")

    ablate = commands.add_parser("ablate", help="rank each component's contribution, with statistics")
    ablate.add_argument("target", help="a study name, or an ablation definition (studies/X.yaml)")
    ablate.add_argument("--config", help="reference config YAML (default: the study's best trial)")
    ablate.add_argument("--baseline", help="baseline config YAML (default: every component off)")
    ablate.add_argument("--seeds", **arg_help("seeds"))
    ablate.add_argument("--components", help="comma-separated components or a+b groups "
                                             "(default: those that differ)")
    ablate.add_argument("--ladder", help="order of the cumulative ladder (default: by contribution)")
    ablate.add_argument("--max-seeds", **arg_help("max_seeds"))
    ablate.add_argument("--max-runs", **arg_help("max_runs"))
    ablate.add_argument("--max-time", **arg_help("max_time"))
    ablate.add_argument("--min-effect", **arg_help("min_effect"))
    ablate.add_argument("--interactions", **arg_help("interactions"))
    ablate.add_argument("--path-seeds", **arg_help("path_seeds"))
    ablate.add_argument("--no-fuse", action="store_true", help=NO_FUSE_HELP)
    ablate.add_argument("--plan", action="store_true",
                        help="show the runs the ablation needs and an ETA, train nothing")
    ablate.add_argument("--epochs", **arg_help("epochs"))
    ablate.add_argument("--limit", **arg_help("limit"))
    ablate.add_argument("--storage", **arg_help("storage"))
    ablate.add_argument("--studies-dir", default="studies")
    _add_execution_options(ablate)
    _add_slurm_parser(commands)
    return parser


# Set for this process (and the workers it starts) before Keras is first imported; importing
# the package itself changes no environment variable.
PROCESS_DEFAULTS = {
    "KERAS_BACKEND": "tensorflow",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    # JAX otherwise takes 75% of GPU memory per process, so packed trials/workers would starve.
    "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit status: 2 for a user error, 75 when the storage
    is away, 130 when interrupted, 1 for a defect (its traceback printed redacted)."""
    for name, value in PROCESS_DEFAULTS.items():
        os.environ.setdefault(name, value)
    args = build_parser().parse_args(argv)
    # A log file or pipe is block-buffered: without this, `run ... > log` shows a trial's
    # epoch lines minutes late, in 8 KB bursts, and `tail -f` looks like a hang.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure") and not stream.isatty():
            stream.reconfigure(line_buffering=True)
    # Names, paths and stored strings are printed as they are: markup only where a line asks.
    console = Console(stderr=False, highlight=False, markup=False)
    try:
        return _dispatch(args, console)
    except SearchError as exc:
        Console(stderr=True, highlight=False).print(f"[red]error:[/] {escape(exc.render())}",
                                                    markup=True, soft_wrap=True)
        return exc.exit_status
    except KeyboardInterrupt:
        return _interrupted()
    except RecursionError:  # what json/yaml raise on input nested thousands of levels deep
        Console(stderr=True, highlight=False).print(
            "error: an input or a value stored in the study is nested too deeply to read (over "
            "Python's recursion limit); no settings file or stored setting of this engine is "
            "ever that deep, so it was written by something else. Nothing was changed.",
            soft_wrap=True, markup=False)
        return EXIT_USER_ERROR
    except InfrastructureError as exc:
        Console(stderr=True, highlight=False).print(
            f"[red]storage unavailable:[/] {escape(str(exc))}. The running trial keeps its checkpoint and is "
            "re-queued (or recovered at the next start); every finished trial is kept. Rerun the "
            "same command once the storage is back.", markup=True, soft_wrap=True)
        return exc.exit_status
    except Exception as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):  # cleanup broke under the interrupt
            return _interrupted()
        # A defect of ours, not the user's: its traceback helps a bug report, but it may quote
        # a storage URL or a password, so it is printed redacted.
        sys.stderr.write(redact(traceback.format_exc()))
        return 1


def _interrupted() -> int:
    Console(stderr=True).print("interrupted; the running trial (or ablation run) keeps its "
                               "checkpoint and is re-queued, and every finished one is kept. "
                               "Rerun the same command to resume.", soft_wrap=True)
    return EXIT_INTERRUPTED


def _select_backend(args: argparse.Namespace) -> None:
    """``--backend``, else (for a worker) the backend the study was created with, else the
    environment's KERAS_BACKEND (tensorflow by default); Keras reads it once, at import."""
    chosen = getattr(args, "backend", None)
    if chosen is None and args.command == "worker":
        from search.commands.requests import stored_backend

        chosen = stored_backend(args.study, args.storage, args.studies_dir)
    if chosen is None:
        return
    if "keras" in sys.modules:
        import keras

        if keras.backend.backend() != chosen:
            raise SearchError(f"--backend {chosen}: Keras is already loaded with the "
                              f"{keras.backend.backend()} backend in this process.",
                              hint="Start a new process, or set KERAS_BACKEND before importing Keras.")
        return
    os.environ["KERAS_BACKEND"] = chosen


def _dispatch(args: argparse.Namespace, console: Console) -> int:
    _select_backend(args)
    import importlib

    if hasattr(args, "jit"):
        importlib.import_module("search.commands.worker").configure_execution(args)
    module, function = HANDLERS[args.command]
    handler = getattr(importlib.import_module(f"search.commands.{module}"), function)
    return handler(args, console) or 0


if __name__ == "__main__":
    sys.exit(main())
