"""The replay test-bed: search algorithms compared over many repetitions in minutes.

    python bench/search_replay.py --task fashion-pairs5 --budget 20m --repetitions 100

Every contender runs the engine's own sampler, pruner and trial rules against a
surrogate of real training fitted to recorded learning curves (bench/replay_run.py,
bench/replay_surrogate.py) of a *development* task, on a simulated clock. The contenders
of bench/replay_contenders.py run cold (no warm start), so the search itself is compared.
More (``WARM``) start with a warm start:

- ``ours``: the default (TPE, successive halving) after spaces/cnn.py's WARM_START;
- ``ours-portfolio``: the same after the portfolio rebuilt *without* the replayed task
  (bench/portfolio.py's ``portfolio_without``), so no entry is judged where it was chosen;
- ``ours-spared``, ``ours-portfolio-spared``: those two with the warm-start entries
  spared by the pruner (the chance rule and the deadline still end them);
- ``previous-default``: TPE under Hyperband's brackets after the space's WARM_START;
- ``ours-cold-baseline``: the default without any warm start but the space's baseline model
  (every knob at its default) tried first, as ``run --no-warm-start`` does;
  ``-startup2`` / ``-startup10``: with TPE's random start-up trials set to 2 or 10.

Printed: the surrogate's held-out fidelity; per contender the median (and quartiles) of
the incumbent's true accuracy at a quarter, half and all of the budget, the median time
to reach random search's median final accuracy (as a share of the budget), how many
trials ran, completed and were cut for cost, and how often the best came from a sampled
trial; then ``--anytime-of``'s median anytime curve against every other contender's.
``--figure`` draws the anytime curves (median, quartile band).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import optuna

sys.path[:0] = [os.path.dirname(__file__), str(Path(__file__).resolve().parent.parent)]

from common import header, table  # noqa: E402
from replay_contenders import CONTENDERS, contender  # noqa: E402
from replay_run import World, replay  # noqa: E402
from replay_surrogate import Surrogate, fidelity, load_curves, space_distributions  # noqa: E402
from search.inputs import parse_duration  # noqa: E402
from tasks import DEVELOPMENT  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
# Warm-started contenders: (the search after the warm start, which warm start, whether
# the pruner spares the warm-start entries).
WARM = {"ours": ("tpe-sh", "hand", False), "ours-portfolio": ("tpe-sh", "portfolio", False),
        "ours-spared": ("tpe-sh", "hand", True),
        # the default with a share of neighbours of the incumbent among TPE's proposals
        "ours-local": ("tpe-local0.3-sh", "hand", False),
        "ours-portfolio-spared": ("tpe-sh", "portfolio", True),
        # the default before successive halving: TPE under Hyperband after the space's warm start
        "previous-default": ("tpe-hyperband", "hand", False),
        # cold (no portfolio, no hand-made entry), the space's baseline model tried first
        "ours-cold-baseline": ("tpe-sh", "baseline", False),
        # the same with TPE's random start-up trials after the baseline cut to 2 or raised to 10
        "ours-cold-baseline-startup2": ("tpe-sh-startup2", "baseline", False),
        "ours-cold-baseline-startup10": ("tpe-sh-startup10", "baseline", False)}


def main() -> None:
    args = parse_args()
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    world = make_world(args.task)
    rows = load_curves(args.task)
    print(header(f"Replay: {args.task}, {args.budget} per search, {args.repetitions} repetitions"))
    quality = fidelity(rows, world.surrogate.encode.distributions)
    print(f"surrogate: {quality['configs']} recorded configurations; held-out Spearman "
          f"{quality['spearman']:.2f} (best-epoch accuracy), MAE {quality['mae']:.3f}; "
          f"seconds per epoch Spearman {quality['time_spearman']:.2f}; epoch noise "
          f"{world.surrogate.noise:.4f}\n")
    budget = parse_duration(args.budget)
    warm = warm_starts(args.task, world.space)
    traces = {name: [replay(make_contender(name, world, warm), world, budget, seed)
                     for seed in range(args.repetitions)] for name in args.contenders}
    print(summary(traces, budget))
    if args.anytime_of in traces:
        print("\n" + anytime(traces, budget, args.anytime_of))
    if args.figure:
        plot(traces, budget, Path(args.figure), f"{args.task}, {args.budget}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=sorted(DEVELOPMENT), default="fashion-pairs5")
    parser.add_argument("--budget", default="20m", help="simulated search time, e.g. 20m or 8h")
    parser.add_argument("--repetitions", type=int, default=100)
    parser.add_argument("--contenders", nargs="+", default=[*CONTENDERS, "previous-default", "ours"],
                        choices=list(CONTENDERS) + list(WARM))
    parser.add_argument("--figure", help="write the anytime curves to this PNG")
    parser.add_argument("--anytime-of", default="ours", choices=list(CONTENDERS) + list(WARM),
                        help="compare this contender's anytime curve with every other's "
                             "(when it is among --contenders)")
    return parser.parse_args()


def make_world(task: str) -> World:
    """The surrogate of ``task`` and what the engine knows of its data."""
    from search.data.dataset import DataSpec, load_dataset
    from search.space.space import load_space
    from search.study.chance import chance_level
    from tasks import task as task_spec

    space = load_space(REPO / "spaces" / "cnn.py")
    spec = dict(task_spec(task))
    data = load_dataset(DataSpec.from_dict(spec, source=f"task {task}"))
    surrogate = Surrogate(load_curves(task), space_distributions(space))
    return World(surrogate, space, tuple(data.x_train.shape[1:]), chance_level(data.y_val))


def make_contender(name: str, world: World, warm: dict[str, list[dict]]):
    """A named contender of bench/replay_contenders.py, or a warm-started one of ``WARM``."""
    if name not in WARM:
        return contender(name, world)
    search, _, spare = WARM[name]
    return contender(search, world, warm[name], spare_warm_start=spare)


def warm_starts(task: str, space) -> dict[str, list[dict]]:
    """Each warm-started contender's entries as Optuna parameters: the space's WARM_START,
    and the portfolio made from the development tasks other than ``task``."""
    from portfolio import portfolio_without
    from search.space.warm_start import baseline_entry, space_warm_start, warm_start_trials

    entries = {"hand": space_warm_start(space, space.warm_start),
               "portfolio": [(c["key"], c["params"]) for c in portfolio_without(task)],
               "baseline": [baseline_entry(space)]}
    out = {}
    for name, (_, which, _) in WARM.items():
        trials, _notes = warm_start_trials(space, entries[which])
        out[name] = [t["params"] for t in trials]
    return out


def summary(traces: dict[str, list], budget: float) -> str:
    """The contender table."""
    random_final = np.median([t.quality_at(budget) for t in traces.get("random", [])] or [np.nan])
    rows = []
    for name, runs in traces.items():
        cells = [name]
        for share in (0.25, 0.5, 1.0):
            values = np.array([t.quality_at(share * budget) for t in runs])
            cells.append(_quartiles(values))
        reach = np.array([t.time_to_reach(random_final) / budget for t in runs])
        cells.append(f"{np.median(reach):.2f}" if np.isfinite(np.median(reach)) else "never")
        cells.append(f"{np.median([t.trials for t in runs]):.0f}")
        cells.append(f"{np.median([t.completed for t in runs]):.0f}")
        cells.append(f"{np.median([t.cost_cut for t in runs]):.0f}")
        cells.append(f"{np.mean([not t.best_from_warm_start for t in runs]):.2f}")
        rows.append(cells)
    return table(["contender", "at 1/4 budget", "at 1/2", "at the end",
                  "time to random's final (share)", "trials", "complete", "cut for cost",
                  "best sampled (share)"], rows)


def anytime(traces: dict[str, list], budget: float, name: str) -> str:
    """``name``'s median anytime curve against each other contender's, over 200 moments of
    the budget: the share of moments at or above and strictly above, and the largest gap
    below. A repetition without a complete trial yet counts as accuracy 0 (so a contender
    whose first result comes late is behind until it arrives)."""
    grid = np.linspace(0, budget, 201)[1:]
    ours = median_curve(traces[name], grid)
    rows = []
    for other, runs in traces.items():
        if other == name:
            continue
        theirs = median_curve(runs, grid)
        rows.append([other, f"{(ours >= theirs).mean():.2f}", f"{(ours > theirs).mean():.2f}",
                     f"{max(np.max(theirs - ours), 0.0):.4f}"])
    return table([f"{name} against", "share of the budget at or above", "strictly above",
                  "largest gap below"], rows)


def median_curve(runs: list, grid: np.ndarray) -> np.ndarray:
    """The median over repetitions of the incumbent's quality at each moment of ``grid``
    (0 where a repetition has no complete trial yet)."""
    return np.median(np.nan_to_num([[t.quality_at(s) for s in grid] for t in runs], nan=0.0),
                     axis=0)


def _quartiles(values: np.ndarray) -> str:
    if np.isnan(values).mean() > 0.5:
        return "-"
    q1, q2, q3 = np.nanpercentile(values, [25, 50, 75])
    return f"{q2:.4f} ({q1:.4f}–{q3:.4f})"


def plot(traces: dict[str, list], budget: float, path: Path, title: str) -> None:
    """Median best-so-far against time with the interquartile band, per contender."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.linspace(0, budget, 200)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, runs in traces.items():
        values = np.array([[t.quality_at(s) for s in grid] for t in runs])
        enough = np.isnan(values).mean(axis=0) <= 0.5
        q1, q2, q3 = (np.nanpercentile(values[:, enough], q, axis=0) for q in (25, 50, 75))
        minutes = grid[enough] / 60
        ax.plot(minutes, q2, label=name)
        ax.fill_between(minutes, q1, q3, alpha=0.15)
    ax.set_xlabel("simulated minutes")
    ax.set_ylabel("incumbent's true validation accuracy")
    ax.set_title(f"Replay: {title} (median, quartile band)")
    ax.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
