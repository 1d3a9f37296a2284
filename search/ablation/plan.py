"""What an ablation will cost, said before anything trains: runs per view, runs already
stored, and an ETA from the durations this study has measured."""

from __future__ import annotations

import statistics
from typing import Any

from search.ablation.engine import AblationPlan, views, with_component
from search.ablation.interactions import cells
from search.ablation.runs import jobs

__all__ = ["describe_plan", "seconds_per_run", "first_look_runs"]


def _known_runs(plan: AblationPlan) -> dict[str, set[str]]:
    """Digests of the runs whose configs are known before any result, by part."""
    first = plan.first_seeds()
    parts: dict[str, set[str]] = {view.name: _runs_of(view, first) for view in views(plan)}
    config, rungs = plan.baseline, set()
    for name in plan.ladder_order or plan.components:
        config = with_component(config, plan.reference, name)
        rungs |= {c.digest() for c, _, _ in jobs(config, first, "", "")}
    parts["ladder"] = rungs
    if plan.interactions >= 2:
        top = plan.components[: plan.interactions]  # the count only: which ones depends on results
        parts["interactions"] = {c.digest() for cfg in cells(plan, top).values()
                                 for c, _, _ in jobs(cfg, plan.interaction_seeds, "", "")}
    return parts


def _runs_of(view, seeds: list[int]) -> set[str]:
    """Digests of the runs of ``view``'s control and variants at ``seeds``."""
    return {c.digest() for cfg in [view.control, *view.variants.values()]
            for c, _, _ in jobs(cfg, seeds, "", "")}


def _view_runs(plan: AblationPlan, seeds: list[int]) -> set[str]:
    """The distinct runs of both views at ``seeds`` (a run the views share is trained once:
    where the reference and the baseline differ in one component only, each view's variant
    is the other's control)."""
    return set().union(*(_runs_of(view, seeds) for view in views(plan)))


def first_look_runs(plan: AblationPlan) -> int:
    """The distinct runs of both views' first look."""
    return len(_view_runs(plan, plan.first_seeds()))


def describe_plan(plan: AblationPlan, store: Any, name: str, storage: Any) -> str:
    """The plan as text: runs per part, how many ``store`` holds already (it may be None),
    and an ETA when this study has measured run durations."""
    parts = _known_runs(plan)
    seen: set[str] = set()
    lines = [f"ablation of '{name}': {len(plan.components)} components; " + (
        f"seeds auto: {plan.seeding().start} to {len(plan.seeds)} per comparison "
        f"(looks at {plan.seeding().schedule})" if plan.adaptive else f"{len(plan.seeds)} seeds")]
    for part, digests in parts.items():
        new = digests - seen
        seen |= digests
        lines.append(f"  {part:<14} {len(digests):>4} runs ({len(new)} not shared with the parts above)")
    n, path_seeds = len(plan.components), len(plan.path_seed_list())
    path_most = max(0, n * (n + 1) // 2 - n - 1) * path_seeds
    lines.append(f"  {'path':<14} at most {path_most} more runs (components within noise are "
                 f"flipped together in one step)")
    stored = sum(1 for d in seen if store.get(d) is not None) if store else 0
    extra = ""
    if plan.adaptive:
        extra = f"; adaptive seeds may add up to {_adaptive_most(plan)} more"
    to_train = len(seen) - stored
    lines.append(f"  {len(seen)} distinct runs known now, {stored} of them stored "
                 f"({len(store) if store else 0} runs already stored in all): {to_train} to train "
                 f"before the path{extra}")
    per_run = seconds_per_run(store, name, storage, plan)
    if per_run:
        lines.append(f"  about {per_run:.0f} s per run (measured in this study): ETA "
                     f"{_hours(to_train * per_run)} before the path, at most "
                     f"{_hours((to_train + path_most) * per_run)} with it")
    return "\n".join(lines)


def _adaptive_most(plan: AblationPlan) -> int:
    """The most runs adaptive seeding may add to both views' first look."""
    return len(_view_runs(plan, plan.seeds)) - first_look_runs(plan)


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min"


def seconds_per_run(store: Any, name: str, storage: Any, plan: AblationPlan) -> float | None:
    """Median training time of this ablation's finished runs (each run's share of its group's
    when seeds trained together; else its trial's duration), else the search trials' median
    seconds per epoch times the reference's epochs; None when nothing was measured."""
    import optuna
    from optuna.trial import TrialState

    finished = store.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if store else []
    done = [s for s in map(_run_seconds, finished) if s is not None]
    if done:
        return statistics.median(done)
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return None
    per_epoch = [t.user_attrs["seconds_per_epoch"] for t in study.get_trials(
        deepcopy=False, states=(TrialState.COMPLETE,)) if "seconds_per_epoch" in t.user_attrs]
    epochs = plan.reference.get("training", "epochs")
    return statistics.median(per_epoch) * epochs if per_epoch and epochs else None


def _run_seconds(trial: Any) -> float | None:
    """A stored run's training time (its share of its group's), else its trial's duration."""
    if "seconds" in trial.user_attrs:
        return trial.user_attrs["seconds"]
    if trial.datetime_start and trial.datetime_complete:
        return (trial.datetime_complete - trial.datetime_start).total_seconds()
    return None
