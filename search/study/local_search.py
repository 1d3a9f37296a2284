"""Exploitation around the incumbent, mixed into a model-based sampler's proposals.

After its start-up trials, TPE proposes from a density model of good and bad trials;
in a short search that model rests on a handful of points and rarely lands next to
the best configuration found. ``IncumbentSampler`` makes a share of the new trials
*neighbours* of the best complete trial: a few of its searched knobs changed (a
number moved by a small step on its own scale, a choice switched), everything else
kept. The rest come from the wrapped sampler, which still sees every trial, the
neighbours included. Enqueued values (warm starts) are never touched.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import optuna
from optuna.distributions import (BaseDistribution, CategoricalDistribution, FloatDistribution,
                                  IntDistribution)
from optuna.samplers import BaseSampler, RandomSampler
from optuna.trial import FrozenTrial, TrialState

from search.study.optuna_internals import set_trial_user_attr

__all__ = ["IncumbentSampler", "neighbour_value"]

STEP = 0.15  # a number's move, as a share of its (log) range: the standard deviation


class IncumbentSampler(BaseSampler):
    """``base``'s proposals, except that with probability ``share`` (once ``start`` trials
    have finished and one is complete) a trial is a neighbour of the best one, with
    1 + Poisson(1) of its knobs changed."""

    def __init__(self, base: BaseSampler, *, share: float = 0.3, start: int = 5,
                 seed: int | None = None) -> None:
        self.base, self.share, self.start = base, share, start
        self._rng = np.random.default_rng(seed)
        self._random = RandomSampler(seed=seed)
        self._plans: dict[int, tuple[dict[str, Any], set[str]]] = {}

    def reseed_rng(self) -> None:
        """New random streams for this sampler and the wrapped one (Optuna calls this per
        worker thread)."""
        self._rng = np.random.default_rng()
        self._random.reseed_rng()
        self.base.reseed_rng()

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Decide whether this trial is a neighbour of the incumbent, and of which knobs."""
        self.base.before_trial(study, trial)
        if trial.system_attrs.get("fixed_params"):
            return  # an enqueued config (a warm start) is run as given, not as a neighbour
        incumbent = self._incumbent(study)
        if incumbent is None or self._rng.random() >= self.share:
            return
        names = sorted(incumbent.params)
        count = min(len(names), 1 + int(self._rng.poisson(1.0)))
        changed = set(self._rng.choice(names, size=count, replace=False).tolist())
        self._plans[trial.number] = (dict(incumbent.params), changed)
        set_trial_user_attr(study, trial, "neighbour_of", incumbent.number)

    def _incumbent(self, study: optuna.Study) -> FrozenTrial | None:
        finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
        complete = [t for t in finished if t.state == TrialState.COMPLETE and t.value is not None
                    and math.isfinite(t.value)]
        if len(finished) < self.start or not complete:
            return None
        return max(complete, key=lambda t: t.value)

    def infer_relative_search_space(self, study: optuna.Study,
                                    trial: FrozenTrial) -> dict[str, BaseDistribution]:
        """The wrapped sampler's joint space, or none for a neighbour (drawn knob by knob)."""
        if trial.number in self._plans:
            return {}
        return self.base.infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        """The wrapped sampler's joint proposal (empty for a neighbour)."""
        if trial.number in self._plans:
            return {}
        return self.base.sample_relative(study, trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        """A neighbour keeps the incumbent's value unless the knob is one it changes (or the
        incumbent never had it: then it is drawn at random); others ask the wrapped sampler."""
        plan = self._plans.get(trial.number)
        if plan is None:
            return self.base.sample_independent(study, trial, param_name, param_distribution)
        params, changed = plan
        value = params.get(param_name)
        if not _inside(param_distribution, value):
            return self._random.sample_independent(study, trial, param_name, param_distribution)
        if param_name in changed:
            return neighbour_value(param_distribution, value, self._rng)
        return value

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        """Forget the trial's plan; let the wrapped sampler see the result."""
        self._plans.pop(trial.number, None)
        self.base.after_trial(study, trial, state, values)


def _inside(distribution: BaseDistribution, value: Any) -> bool:
    if value is None:
        return False
    if isinstance(distribution, CategoricalDistribution):
        return value in distribution.choices
    return distribution.low <= value <= distribution.high


def neighbour_value(distribution: BaseDistribution, value: Any, rng: np.random.Generator) -> Any:
    """A value near ``value``: another choice, or a step of ``STEP`` of the range on the
    knob's own (log) scale, kept inside it and on its grid."""
    if isinstance(distribution, CategoricalDistribution):
        others = [c for c in distribution.choices if c != value]
        return others[int(rng.integers(len(others)))] if others else value
    assert isinstance(distribution, (FloatDistribution, IntDistribution))
    low, high = distribution.low, distribution.high
    scale = math.log if distribution.log else (lambda v: v)
    unscale = math.exp if distribution.log else (lambda v: v)
    moved = unscale(min(max(scale(value) + rng.normal(0.0, STEP) * (scale(high) - scale(low)),
                            scale(low)), scale(high)))
    if isinstance(distribution, IntDistribution):
        step = distribution.step
        moved = int(round((moved - low) / step) * step + low)
        if moved == value and high > low:  # a small range: still move by one step
            moved = value + step if value + step <= high else value - step
        return int(min(max(moved, low), high))
    if distribution.step:
        moved = round((moved - low) / distribution.step) * distribution.step + low
    return float(min(max(moved, low), high))
