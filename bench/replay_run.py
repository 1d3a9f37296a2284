"""One search replayed on the surrogate: the engine's own sampler, pruner and rules, a
simulated clock instead of training.

Each trial is asked from a real Optuna study with the contender's sampler and pruner,
its parameters drawn by the space exactly as ``search run`` draws them
(``Space.sample``). An impossible network is refused by the engine's shape planner at
the recorded cost of such a refusal. Otherwise the surrogate gives its curve and
costs, and the trial runs epoch by epoch: reported to the pruner, ended when stuck at
chance for two epochs, cut by the contender's cost rule, and stopped at the deadline
the way ``DeadlineStop`` stops it (when the next epoch would end past it, keeping its
best epoch). The search's answer at any moment is its best complete trial; its
quality is that trial's noise-free accuracy at its best observed epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import optuna
from optuna.trial import TrialState

from replay_surrogate import Surrogate
from search.model.network import ImpossibleNetwork, plan_feature_maps
from search.space.config import Config
from search.study.chance import MARGIN, PATIENCE
from search.study.deadline import MAX_TRIAL_SHARE


@dataclass
class Contender:
    """A search as the replay runs it."""

    name: str
    sampler: Callable[[Any, int], optuna.samplers.BaseSampler]
    pruner: Callable[[int], optuna.pruners.BasePruner]
    warm_start: list[dict[str, Any]] = field(default_factory=list)  # Optuna params, run first
    cost_rule: str | None = "full"  # "full": the whole run's cost; "rung": to the next rung
    rungs: Callable[[int], list[int]] | None = None  # the pruner's judgement epochs, for "rung"
    spare_warm_start: bool = False  # the pruner never ends a warm-start entry (the chance
    # rule and the deadline still do)
    cost_share: float = MAX_TRIAL_SHARE  # the cost rule's share of the budget per stretch


@dataclass
class Trace:
    """Best-so-far over simulated seconds: (seconds, true quality, observed value)."""

    points: list[tuple[float, float, float]] = field(default_factory=list)
    trials: int = 0
    completed: int = 0
    cost_cut: int = 0
    best_from_warm_start: bool = False

    def quality_at(self, seconds: float) -> float:
        """The incumbent's true quality at ``seconds`` (nan before the first complete trial)."""
        value = float("nan")
        for t, quality, _ in self.points:
            if t > seconds:
                break
            value = quality
        return value

    def time_to_reach(self, quality: float) -> float:
        """The first moment the incumbent is at least ``quality`` (inf if never)."""
        return next((t for t, q, _ in self.points if q >= quality), float("inf"))


@dataclass
class World:
    """What a replayed search runs against: the surrogate, the space, the data's shape and
    chance level, and the recorded cost of refusing an impossible network."""

    surrogate: Surrogate
    space: Any
    input_shape: tuple[int, int, int]
    chance: float


def replay(contender: Contender, world: World, budget: float, seed: int) -> Trace:
    """Run ``contender`` for ``budget`` simulated seconds; its best-so-far trace."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    epochs_max = _max_epochs(world.space)
    # a fixed name: Hyperband assigns a trial's bracket by hashing the study's name with it
    study = optuna.create_study(study_name=f"replay-{seed}", direction="maximize",
                                sampler=contender.sampler(world.space, seed),
                                pruner=contender.pruner(epochs_max))
    for params in contender.warm_start:
        study.enqueue_trial(params, user_attrs={"warm_start": True}, skip_if_exists=False)
    rng, clock, trace = np.random.default_rng(seed), 0.0, Trace()
    best_observed = -1.0
    while clock < budget:
        trial = study.ask()
        trace.trials += 1
        state, value, quality, clock = _run_one(trial, contender, world, budget, clock, rng)
        study.tell(trial, value if state == TrialState.COMPLETE else None, state=state)
        if state == TrialState.FAIL:
            trace.cost_cut += 1
        if state == TrialState.COMPLETE:
            trace.completed += 1
            if value > best_observed:
                best_observed = value
                trace.points.append((clock, quality, value))
                trace.best_from_warm_start = bool(trial.user_attrs.get("warm_start"))
    return trace


def _run_one(trial: optuna.Trial, contender: Contender, world: World, budget: float,
             clock: float, rng: np.random.Generator) -> tuple[TrialState, float, float, float]:
    """(state, value, true quality, clock after) of one trial."""
    nested = world.space.sample(trial)
    try:
        plan_feature_maps(Config(nested), world.input_shape)
    except ImpossibleNetwork:
        return TrialState.PRUNED, 0.0, 0.0, clock + world.surrogate.impossible_seconds
    epochs = int(nested["training"]["epochs"])
    out = world.surrogate.outcome(trial.params, epochs, rng)
    clock += out.setup
    guarded = not trial.user_attrs.get("warm_start")
    if guarded and _cut_for_cost(contender, out.seconds, 0, epochs, budget):
        state = TrialState.PRUNED if contender.cost_rule == "full" else TrialState.FAIL
        return state, 0.0, 0.0, clock + 0.1 * out.seconds[0]  # ten timed steps
    best, best_true = -1.0, 0.0
    for e in range(epochs):
        if e > 0 and budget - clock < out.seconds[e - 1]:
            break  # DeadlineStop: the next epoch would end past the deadline
        clock += out.seconds[e]
        value = out.observed[e]
        if value > best:
            best, best_true = value, out.true[e]
        trial.report(value, e + 1)
        if e + 1 == PATIENCE and epochs > PATIENCE and \
                max(out.observed[:PATIENCE]) <= world.chance + MARGIN:
            return TrialState.PRUNED, best, best_true, clock
        if e + 1 < epochs and (guarded or not contender.spare_warm_start) and trial.should_prune():
            return TrialState.PRUNED, best, best_true, clock
        if guarded and contender.cost_rule == "rung" and \
                _cut_for_cost(contender, out.seconds, e + 1, epochs, budget):
            return TrialState.FAIL, best, best_true, clock
    return TrialState.COMPLETE, best, best_true, clock


def _cut_for_cost(contender: Contender, seconds: list[float], done: int, epochs: int,
                  budget: float) -> bool:
    """Whether the cost rule ends the trial after ``done`` epochs."""
    limit = contender.cost_share * budget
    if contender.cost_rule == "full":
        return done == 0 and sum(seconds) > limit
    if contender.cost_rule == "rung":
        upcoming = [r for r in contender.rungs(epochs) if r > done] + [epochs]
        return sum(seconds[done:min(upcoming)]) > limit
    return False


def _max_epochs(space: Any) -> int:
    knob = space.knobs["training"]["epochs"]
    return int(getattr(knob, "high", None) or max(getattr(knob, "values", [10])))
