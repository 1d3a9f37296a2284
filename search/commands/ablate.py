"""`python -m search ablate`: plan the runs (count and ETA, shown before anything trains),
run the ablation through the study's storage, print the verdicts, write the report."""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
from typing import Any

from rich.console import Console

from search.ablation.engine import AblationPlan, differing_components
from search.commands.ablation_request import ablation_request
from search.errors import SearchError
from search.inputs import parsed
from search.storage_url import StorageURL, redact, redact_url

__all__ = ["ablate", "make_plan", "shown_command"]

DEFAULT_SEEDS = 3
DEFAULT_MAX_SEEDS = 8
DEFAULT_MIN_EFFECT_POINTS = 0.5
DEFAULT_INTERACTIONS = 3


def _option(args: argparse.Namespace, spec: dict[str, Any], key: str, default: Any) -> Any:
    value = getattr(args, key, None)
    return value if value is not None else parsed(spec).get(key, default)


def make_plan(args: argparse.Namespace, spec: dict[str, Any], name: str, reference, baseline,
              components: list[str]) -> AblationPlan:
    """The ablation plan from the flags, then the ablation file, then the defaults; seeds are
    derived from the ablation study's name, ``min_effect`` is given in points."""
    from search.ablation.store import ablation_study_name
    from search.study.trial import trial_seed

    seeds = _check_seeding(args, spec)
    adaptive = seeds == "auto"
    count = _option(args, spec, "max_seeds", DEFAULT_MAX_SEEDS) if adaptive else seeds
    study = ablation_study_name(name)
    interactions = _option(args, spec, "interactions", DEFAULT_INTERACTIONS)
    return AblationPlan(
        reference, baseline, components, [trial_seed(study, 0, i) for i in range(count)],
        ladder_order=spec["ladder"], path_seeds=_option(args, spec, "path_seeds", None),
        alpha=parsed(spec).get("alpha", 0.05), adaptive=adaptive,
        min_effect=_option(args, spec, "min_effect", DEFAULT_MIN_EFFECT_POINTS) / 100,
        max_runs=_option(args, spec, "max_runs", None),
        max_seconds=_option(args, spec, "max_time", None),
        interactions=min(interactions, len(components)),
        interaction_seeds=[trial_seed(study, 1, i) for i in range(min(count, DEFAULT_SEEDS)
                                                                   if adaptive else count)])


def _check_seeding(args: argparse.Namespace, spec: dict[str, Any]) -> int | str:
    seeds = _option(args, spec, "seeds", DEFAULT_SEEDS)
    if seeds != "auto" and any(_option(args, spec, k, None) is not None
                               for k in ("max_seeds", "max_runs", "max_time")):
        raise SearchError("--max-seeds, --max-runs and --max-time bound adaptive seeding; "
                          "use them with --seeds auto (or leave them out).")
    most = _option(args, spec, "max_seeds", DEFAULT_MAX_SEEDS) if seeds == "auto" else seeds
    path_seeds = _option(args, spec, "path_seeds", None)
    if path_seeds is not None and path_seeds > most:
        raise SearchError(f"--path-seeds {path_seeds}: the path's seeds are the ablation's own, "
                          f"and it has {most} (--seeds" + (", --max-seeds" if seeds == "auto"
                                                            else "") + f"); give at most {most}.")
    return seeds


def _check_components(components: list[str], reference, baseline) -> None:
    """Each unit once, no component in two units, and each one changes the config: a variant
    equal to its control would add a zero difference to the pooled noise and bias every test."""
    from search.ablation.configs import changed_sides

    parts = [part for unit in components for part in unit.split("+")]
    repeated = sorted({p for p in parts if parts.count(p) > 1})
    if repeated:
        raise SearchError(f"--components: {', '.join(repeated)} appear(s) more than once (alone or "
                          "in an a+b group); give each component once.")
    sides = {u: changed_sides(reference, baseline, u) for u in components}
    same = [u for u in components if not any(sides[u])]
    if same:
        raise SearchError(f"--components: {', '.join(same)} do(es) not differ between the reference "
                          "and the baseline, so there is nothing to measure; leave it out.")
    one_way = [u for u in components if not all(sides[u])]
    if one_way:
        raise SearchError(f"--components: {', '.join(one_way)} change(s) only one of the reference "
                          "and the baseline (e.g. a conv stack where the other side's backbone "
                          "does not build one), so one view would measure a variant against "
                          "itself; leave it out.")


def _check_budget(plan: AblationPlan) -> None:
    from search.ablation.plan import first_look_runs

    if plan.max_runs is None:
        return
    first_look = first_look_runs(plan)
    if plan.max_runs < first_look:
        raise SearchError(f"--max-runs {plan.max_runs}: the first look alone needs {first_look} runs "
                          f"(the two views' {first_look // plan.seeding().start} distinct configs x "
                          f"{plan.seeding().start} seeds); raise it or ablate fewer components.")


def ablate(args: argparse.Namespace, console: Console) -> int:
    """Check the inputs, show the plan, run the ablation through the study's storage and
    write the report; return the exit status (0)."""
    from search.ablation.engine import run_ablation
    from search.ablation.plan import describe_plan
    from search.ablation.report import show_result, write_ablation_report
    from search.ablation.objective import KerasObjective
    from search.ablation.store import OptunaRunStore
    from search.study.locks import SingleWorkerLock, sqlite_path
    from search.study.stop_signal import stopping_on_signals
    from search.study.lifecycle import make_storage, quiet_optuna, study_dir

    quiet_optuna()
    request = ablation_request(args)
    name, storage_url, spec = request.study, request.storage, request.options
    reference, baseline = request.reference, request.baseline
    _check_seeding(args, spec)  # before the configs are compared: the flags' own mistakes first
    components = spec["components"] or differing_components(reference, baseline)
    if not components:
        raise SearchError("the reference and baseline configs do not differ in any component; "
                          "nothing to ablate.")
    _check_components(components, reference, baseline)
    plan = make_plan(args, spec, name, reference, baseline, components)
    _check_budget(plan)
    storage = make_storage(storage_url)
    if args.plan:  # read-only: no lock taken, no ablation study created
        console.print(describe_plan(plan, OptunaRunStore.existing(storage, name, storage_url), name,
                                    storage))
        return 0
    db = sqlite_path(storage_url)
    objective = KerasObjective(study_dir(name, args.studies_dir) / "ablation" / "checkpoints",
                               on_resume=lambda config, epochs: console.print(
                                   f"  resuming run {config.digest()[:10]} (seed {config.seed}) "
                                   f"from its checkpoint at epoch {epochs}"),
                               fuse=not getattr(args, "no_fuse", False),
                               on_group=lambda configs, how: console.print(
                                   f"  seeds {', '.join(str(c.seed) for c in configs)} of "
                                   f"{configs[0].replace(seed=0).digest()[:10]}: {how}"),
                               on_restart=lambda config, why: console.print(
                                   f"  run {config.digest()[:10]} (seed {config.seed}) starts over: "
                                   f"{why}"))

    def trained(row: dict) -> None:
        objective.forget(row["run"])
        console.print(f"  trained {row['trained']:>4}: {row['view']:<13} {row['component']:<28} "
                      f"seed {row['seed']:<11} val_accuracy {row['value']:.4f}")

    with SingleWorkerLock(db) if db else contextlib.nullcontext(), stopping_on_signals():
        store = OptunaRunStore(storage, name, storage_url)
        console.print(describe_plan(plan, store, name, storage))
        if db:
            store.recover_orphans()
        result = run_ablation(plan, objective, store, on_trained=trained)
        objective.forget_stored(lambda key: store.get(key) is not None)
    views = _search_importance(name, storage)
    show_result(result, views, console)
    command = shown_command(sys.argv[1:], storage_url)
    files = write_ablation_report(result, views, study_dir(name, args.studies_dir) / "ablation",
                                  title=name, command=command)
    console.print("wrote " + ", ".join(str(f) for f in files))
    return 0


def shown_command(argv: list[str], storage: StorageURL | None = None) -> str:
    """The command line for the report, with every storage URL and password hidden: a
    ``--storage`` value (spaces and quotes in its password included), any URL in another
    argument, and ``storage``'s raw password wherever it appears."""
    shown, previous = [], ""
    for arg in argv:
        flag, equals, value = arg.partition("=")
        if _is_storage_flag(previous):
            text = redact_url(arg)
        elif equals and _is_storage_flag(flag):
            text = f"{flag}={redact_url(value)}"
        else:
            text = arg
        previous = arg
        shown.append(shlex.quote(storage.redact(text) if storage else redact(text)))
    text = "python -m search " + " ".join(shown)
    return storage.redact(text) if storage else redact(text)


def _is_storage_flag(arg: str) -> bool:
    """``--storage`` or an abbreviation argparse accepts for it (``--sto`` and longer)."""
    return len(arg) >= 5 and "--storage".startswith(arg)


def _search_importance(name: str, storage: Any) -> list:
    import optuna

    from search.report.importance import importance_views

    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return []
    return importance_views(study)
