"""Search quality: what each contender's best config scores on the test set, at one wall-clock budget.

    python bench/search_quality.py --task fashion10k --budget 20m --repeats 5

Every contender is run exactly as a user would type it, over the same space file
and data, side by side (``--cores`` CPU cores each, pinned with taskset, so
contenders running together see the same machine):

- ``ours``: ``python -m search run SPACE --timeout BUDGET`` (the default: TPE,
  successive halving, the space's warm start);
- ``ours-cold``: the same without any warm start (the search from nothing:
  ``--no-warm-start --no-baseline``);
- ``ours-cold-baseline``: the same without a warm start but with the space's baseline
  model (every knob at its default) tried first, as ``run --no-warm-start`` does;
- ``random``: Optuna random search without pruning or warm start;
- ``kt-hyperband`` / ``kt-bayesian``: ``--engine keras-tuner`` / ``keras-tuner-bayesian``,
  cold (KerasTuner has no warm start); Hyperband's ``max_epochs`` fitted to the budget so
  one iteration of its brackets fits (``kt_schedule``);
- ``hand``: our users' hand-made model (studies/fashion-hand.yaml), no search;
- ``ours-portfolio`` / ``portfolio``: ours with the warm-start portfolio made on the
  development tasks (``--portfolio``, spaces/cnn_portfolio.yaml) instead of the space's
  WARM_START, and that portfolio alone (its entries trained, nothing sampled);
- ``warm-start``: ours' own warm start alone (the space's WARM_START trained, nothing
  sampled), so that what ours' search adds after it is measured too.

Each search's best config is then refit on train+validation and tested once
(``train best.yaml --refit``): that test accuracy is the score. The search's
output gives every epoch's validation accuracy with a time stamp, for the
best-so-far curves (``--figure``). Results go to OUT/results.jsonl, each row as
its job ends; rerunning the same command skips what is already there and starts an
interrupted search afresh (resuming it would grant it a second budget).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core_pool import lent_cores  # noqa: E402
from pinned_runs import best_so_far, refit, stop_searches, timed_run  # noqa: E402
from search_quality_report import best_sampled, draw, summary, trial_outcomes  # noqa: E402
from tasks import DEVELOPMENT, EVALUATION, data_flags  # noqa: E402
from search.inputs import parse_duration  # noqa: E402

# Tasks: bench/tasks.py. Reported results come from its evaluation tasks; its development
# tasks (digits: the CI smoke size) are where defaults are chosen, never reported as quality.
TASKS = {name: (data_flags(spec), spec) for name, spec in {**DEVELOPMENT, **EVALUATION}.items()}
CONTENDERS = {
    "ours": [],
    "ours-cold": ["--no-warm-start", "--no-baseline"],
    "ours-cold-baseline": ["--no-warm-start"],
    "random": ["--sampler", "random", "--pruner", "none", "--no-warm-start"],
    "kt-hyperband": ["--engine", "keras-tuner"],
    "kt-bayesian": ["--engine", "keras-tuner-bayesian"],
    "hand": None,  # no search
    # the default with the subset rung first (a third of epoch 1), for the development tasks
    "ours-subset": ["--pruner", "successive-halving-subset"],
    # the default with a share of neighbours of the incumbent among TPE's proposals (tpe-local),
    # for the development tasks
    "ours-local": ["--sampler", "tpe-local"],
    # the warm-start portfolio made on the development tasks (bench/portfolio.py), with the
    # search after it, and alone (its entries trained, nothing sampled)
    "ours-portfolio": ["--no-warm-start", "--warm-start", "PORTFOLIO"],
    "portfolio": ["--no-warm-start", "--warm-start", "PORTFOLIO", "--trials", "PORTFOLIO_SIZE"],
    # ours' own warm start alone (the space's WARM_START trained, nothing sampled): what the
    # default's search adds after its own first trials
    "warm-start": ["--trials", "WARM_START_SIZE"],
}
# The evaluation protocol's contenders (README, "How search quality is measured").
PROTOCOL = ["ours", "ours-cold-baseline", "ours-cold", "portfolio", "random", "kt-hyperband",
            "kt-bayesian", "hand", "warm-start"]


def main() -> None:
    args = parse_args()
    out = Path(args.out or f"bench/out/search-quality-{args.task}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    done = load_results(out)
    if args.contenders is None:  # --report-only: every contender on record
        order = PROTOCOL + [name for name in CONTENDERS if name not in PROTOCOL]
        args.contenders = [name for name in order if name in {c for c, _ in done}]
    jobs = [(rep, name) for rep in range(args.repeats) for name in args.contenders
            if (name, rep) not in done and not args.report_only]
    choices = core_sets(args.cores, args.parallel)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop_searches)
    pool = ThreadPoolExecutor(max_workers=len(choices))
    try:  # each row written as its job ends (a stop loses only the jobs still running)
        futures = [pool.submit(run_job, job, args, out, choices) for job in jobs]
        for done_job in as_completed(futures):
            result = done_job.result()
            with open(out / "results.jsonl", "a") as handle:
                handle.write(json.dumps(result) + "\n")
            print(f"{result['contender']} rep {result['rep']}: test {result['test_accuracy']}",
                  flush=True)
    finally:  # on a stop or an error: no job starts, and the running ones end first
        pool.shutdown(wait=True, cancel_futures=True)
    results = [r for r in load_results(out).values() if r["contender"] in args.contenders]
    print(summary(args, results, out))
    if args.figure:
        draw(results, args.figure, args.budget)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=TASKS, default="fashion10k")
    parser.add_argument("--budget", type=parse_duration, default=1200.0, help="per search")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--contenders", type=lambda s: s.split(","), default=None,
                        help=f"default: {','.join(PROTOCOL)}; with --report-only, all on record")
    parser.add_argument("--space", default=str(REPO / "spaces" / "cnn.py"))
    parser.add_argument("--hand", default=str(REPO / "studies" / "fashion-hand.yaml"))
    parser.add_argument("--portfolio", default=str(REPO / "spaces" / "cnn_portfolio.yaml"),
                        help="warm-start portfolio of the portfolio contenders")
    parser.add_argument("--cores", type=int, default=1, help="CPU cores per search")
    parser.add_argument("--parallel", type=int, default=None,
                        help="searches at once (default: all cores / --cores)")
    parser.add_argument("--out", help="results folder (default bench/out/search-quality-TASK)")
    parser.add_argument("--figure", help="PNG of best-so-far validation accuracy against time")
    parser.add_argument("--report-only", action="store_true",
                        help="print the table (and figure) of what is done, run nothing")
    parser.add_argument("--extra", default="",
                        help="more `run` flags for ours and its variants, e.g. '--epochs 3'")
    args = parser.parse_args()
    args.space, args.hand, args.portfolio = (
        str(Path(p).resolve()) for p in (args.space, args.hand, args.portfolio))
    if args.contenders is None and not args.report_only:
        args.contenders = PROTOCOL
    unknown = [c for c in args.contenders or [] if c not in CONTENDERS]
    if unknown:
        parser.error(f"unknown contender(s) {unknown}; choose from {', '.join(CONTENDERS)}")
    return args


def core_sets(cores: int, parallel: int | None) -> list[list[int]]:
    available = sorted(os.sched_getaffinity(0))
    count = parallel or max(1, len(available) // cores)
    return [[available[(i * cores + j) % len(available)] for j in range(cores)]
            for i in range(count)]


def load_results(out: Path) -> dict[tuple[str, int], dict]:
    path = out / "results.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] \
        if path.exists() else []
    return {(r["contender"], r["rep"]): r for r in rows}


def run_job(job: tuple[int, str], args: argparse.Namespace, out: Path,
            choices: list[list[int]]) -> dict:
    """One contender's repetition on the first free core set (free of every benchmark
    process on the machine: bench/core_pool.py), searched, refit and tested."""
    with lent_cores(choices) as cores:
        rep, name = job
        folder = out / f"{name}-r{rep}"
        if CONTENDERS[name] is None:
            return hand_made(args, folder, rep, cores)
        study = f"{name}-r{rep}"
        shutil.rmtree(out / "studies" / study, ignore_errors=True)  # an interrupted earlier try
        command = ["run", args.space, "--study", study, "--studies-dir", str(out / "studies"),
                   "--timeout", f"{args.budget:.0f}s", "--seed", str(rep), *TASKS[args.task][0],
                   *contender_flags(name, args),
                   *(args.extra.split() if name.startswith("ours") else []),
                   *(kt_schedule(args) if name == "kt-hyperband" else [])]
        started = time.time()
        epochs, log = timed_run(command, cores, folder.with_suffix(".log"))
        search_seconds = time.time() - started
        best = out / "studies" / study / "best.yaml"
        test, refit_seconds = refit(best, cores, folder) if best.exists() else (None, 0.0)
        return {"contender": name, "rep": rep, "task": args.task, "budget": args.budget,
                "search_seconds": round(search_seconds, 1), "refit_seconds": refit_seconds,
                "trials": len({label for _, label, _, _ in epochs}), "epochs": len(epochs),
                "best_val": max((v for *_, v in epochs), default=None),
                "test_accuracy": test, "curve": best_so_far(epochs), "cores": cores,
                "best_sampled": best_sampled(out, {"contender": name, "rep": rep}),
                "outcomes": trial_outcomes(out, {"contender": name, "rep": rep})}


def contender_flags(name: str, args: argparse.Namespace) -> list[str]:
    """The ``run`` flags of contender ``name``, the portfolio file and the sizes filled in."""
    from search.space.space import load_space
    from search.space.warm_start import read_portfolio

    fill = {"PORTFOLIO": args.portfolio}
    if "PORTFOLIO_SIZE" in CONTENDERS[name]:
        fill["PORTFOLIO_SIZE"] = str(len(read_portfolio(args.portfolio)))
    if "WARM_START_SIZE" in CONTENDERS[name]:
        fill["WARM_START_SIZE"] = str(len(load_space(args.space).warm_start))
    return [fill.get(flag, flag) for flag in CONTENDERS[name]]


def kt_schedule(args: argparse.Namespace) -> list[str]:
    """``--epochs M`` for KerasTuner Hyperband: its brackets fitted to the budget
    (bench/kt_brackets.py), at the epoch cost recorded on the development task
    fashion-pairs5 scaled to this task's training images and cores."""
    from kt_brackets import epoch_seconds, fitted_max_epochs
    from search.data.dataset import DataSpec

    spec = DataSpec(**TASKS[args.task][1])
    pool = spec.limit or {"digits": 1797, "cifar10": 50000}.get(spec.name, 60000)
    images = pool * (1 - spec.val_fraction)
    seconds = epoch_seconds("fashion-pairs5", images) / args.cores
    return ["--epochs", str(fitted_max_epochs(20, args.budget, seconds))]


def hand_made(args: argparse.Namespace, folder: Path, rep: int, cores: list[int]) -> dict:
    """The hand-made config on the task's data with this repetition's seed, refit and tested."""
    import yaml

    raw = yaml.safe_load(Path(args.hand).read_text())
    raw.update(data=TASKS[args.task][1], seed=rep)
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "hand.yaml"
    config.write_text(yaml.safe_dump(raw))
    test, seconds = refit(config, cores, folder)
    return {"contender": "hand", "rep": rep, "task": args.task, "budget": args.budget,
            "search_seconds": 0.0, "refit_seconds": seconds, "trials": 1, "epochs": None,
            "best_val": None, "test_accuracy": test, "curve": [], "cores": cores}


if __name__ == "__main__":
    main()
