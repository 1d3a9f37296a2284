"""Why a search's best is (or is not) a warm-start entry: the warm-start entries against
the sampled trials, at equal epochs and at the end, read from the searches' studies.

    python bench/incumbent_race.py bench/out/eval-*/studies/ours-r*/study.db

One row per study: the best warm-start entry (its best validation accuracy and the epochs
it trained, "of N" where its configuration set N epochs: the space's `training.epochs`),
the best sampled trial (the same), how many sampled trials reached epoch 3
(successive halving's second rung) and how many trained past it, and, at epoch 3, the
best sampled trial's validation accuracy against the best warm-start entry's. A sampled
trial level with the warm start at epoch 3 that ends with fewer epochs (its own epoch
count, the pruner or the budget) loses the race on epochs, not on its early curve.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import header  # noqa: E402

RUNG = 3  # successive halving's second rung (epochs 1, 3, 9)
EPOCHS_KNOB = "training.epochs"  # the space's epoch count, a parameter like the others


def configurations(db: Path) -> list[tuple[bool, dict[int, float], int | None]]:
    """(a warm-start entry?, validation accuracy by epoch, the epochs its configuration
    set or None) of each configuration the study trained at least one epoch: a trial and its
    retries count once, by the attempt that got furthest (a retry carries its original's
    epochs); step 0, a subset rung's, is no epoch."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{db}")
    furthest: dict[int, tuple[bool, dict[int, float], int | None]] = {}
    for trial in study.trials:
        epochs = {step: value for step, value in trial.intermediate_values.items() if step >= 1}
        origin = trial.system_attrs.get("retry_history", [trial.number])[0]
        if epochs and len(epochs) >= len(furthest.get(origin, (False, {}, None))[1]):
            furthest[origin] = (bool(trial.user_attrs.get("warm_start")), epochs, _planned(trial))
    return list(furthest.values())


def _planned(trial) -> int | None:
    """The epochs the trial's configuration set: its searched knob, else the config it
    stored (a fixed epoch count is no parameter); None when neither says."""
    if EPOCHS_KNOB in trial.params:
        return trial.params[EPOCHS_KNOB]
    config = trial.user_attrs.get("config")
    try:
        return int(config["params"]["training"]["epochs"])
    except (TypeError, KeyError, ValueError):
        return None


def race(db: Path) -> str:
    """One Markdown row: the warm start against the sampled trials (see the module doc)."""
    trained = configurations(db)
    warm = [(epochs, planned) for is_warm, epochs, planned in trained if is_warm]
    sampled = [(epochs, planned) for is_warm, epochs, planned in trained if not is_warm]
    at_rung = [epochs for epochs, _ in sampled if RUNG in epochs]
    past = [epochs for epochs in at_rung if max(epochs) > RUNG]
    return "| " + " | ".join([
        str(db.parent.parent.parent.name) + "/" + db.parent.name, _best(warm), _best(sampled),
        f"{len(sampled)} / {len(at_rung)} / {len(past)}",
        f"{_at_rung(sampled)} against {_at_rung(warm)}"]) + " |"


def _best(group: list[tuple[dict[int, float], int | None]]) -> str:
    if not group:
        return "—"
    best, planned = max(group, key=lambda entry: max(entry[0].values()))
    of = f" of {planned}" if planned is not None else ""
    return f"{max(best.values()):.4f} ({max(best)}{of} epochs)"


def _at_rung(group: list[tuple[dict[int, float], int | None]]) -> str:
    values = [epochs[RUNG] for epochs, _ in group if RUNG in epochs]
    return f"{max(values):.4f}" if values else "—"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("studies", nargs="+", type=Path, help="study.db files of the searches")
    args = parser.parse_args(argv)
    missing = [str(db) for db in args.studies if not db.is_file()]
    if missing:
        parser.error(f"no such study file: {', '.join(missing)}")
    print(header("The warm start against the sampled trials"))
    print("| search | best warm-start entry (val, epochs) | best sampled trial (val, epochs) | "
          f"sampled: trained / reached epoch {RUNG} / trained past it | best at epoch {RUNG}: "
          "sampled against warm start |")
    print("|---|---|---|---|---|")
    for db in args.studies:
        print(race(db), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
