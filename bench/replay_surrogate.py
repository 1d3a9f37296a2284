"""A surrogate of real training, fitted to learning curves recorded by bench/record_curves.py.

Random forests (as in Eggensperger et al., "Efficient benchmarking of hyperparameter
optimizers via surrogates", AAAI 2015) map a configuration's Optuna parameters to:

- its validation accuracy after each epoch ``e`` of ``E`` (one model over rows
  ``(config, e/E, e, E)``, so curves bend with the schedule's length);
- its first epoch's seconds (compilation included) and each later epoch's seconds;
- the seconds around training (data, model build), from the trials' wall time.

Whether a network can be built at all is not learned: the engine's own shape planner
(``plan_feature_maps``) decides it, as in a real run. Observed accuracies carry noise
drawn at the size of the recorded curves' epoch-to-epoch jitter; the noise-free mean is
kept apart, so a search is scored by the true quality of what it picked, not by luck.
``fidelity()`` reports how well held-out configurations are ranked.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

CURVES = Path(__file__).resolve().parent / "curves"
INACTIVE = -0.5
MAX_EPOCHS = 20.0


def load_curves(task: str) -> list[dict[str, Any]]:
    """The recorded trials of a development task."""
    with open(CURVES / f"{task}.jsonl") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def space_distributions(space: Any, draws: int = 400) -> dict[str, Any]:
    """Every parameter the space can ask for, with its distribution (conditional ones too)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    found: dict[str, Any] = {}
    for _ in range(draws):
        trial = study.ask()
        space.sample(trial)
        found.update(trial.distributions)
        study.tell(trial, 0.0)
    return dict(sorted(found.items()))


class Encoder:
    """Parameters as a numeric vector: numbers scaled to [0, 1] (log where the knob is),
    choices one-hot, a knob not asked (inactive) as its own value."""

    def __init__(self, distributions: dict[str, Any]) -> None:
        self.distributions = distributions
        self.width = sum(len(d.choices) if isinstance(d, CategoricalDistribution) else 1
                         for d in distributions.values())

    def __call__(self, params: dict[str, Any]) -> np.ndarray:
        out = np.zeros(self.width)
        column = 0
        for name, dist in self.distributions.items():
            value = params.get(name)
            if isinstance(dist, CategoricalDistribution):
                if value is not None and value in dist.choices:
                    out[column + dist.choices.index(value)] = 1.0
                column += len(dist.choices)
                continue
            out[column] = INACTIVE if value is None else _scaled(dist, value)
            column += 1
        return out


def _scaled(dist: FloatDistribution | IntDistribution, value: float) -> float:
    low, high, v = dist.low, dist.high, float(value)
    if dist.log:
        low, high, v = math.log(low), math.log(high), math.log(v)
    return (v - low) / (high - low) if high > low else 0.0


@dataclass
class Outcome:
    """One configuration as the surrogate trains it."""

    observed: list[float]  # per-epoch validation accuracy, with noise
    true: list[float]  # the same without noise
    seconds: list[float]  # per epoch
    setup: float  # seconds before the first epoch


class Surrogate:
    """Learning curves and costs of any configuration of the space, from recorded ones."""

    def __init__(self, rows: list[dict[str, Any]], distributions: dict[str, Any], *,
                 trees: int = 120, seed: int = 0) -> None:
        from sklearn.ensemble import RandomForestRegressor

        self.encode = Encoder(distributions)
        trained = [r for r in rows if r["val_accuracy"] and all(
            v is not None for v in r["val_accuracy"])]
        x, y = self._curve_rows(trained)
        forest = dict(n_estimators=trees, min_samples_leaf=2, max_features=0.5, random_state=seed)
        self.curve_model = RandomForestRegressor(**forest).fit(x, y)
        configs = np.array([self.encode(r["params"]) for r in trained])
        first = np.log([max(r["seconds"][0], 1e-3) for r in trained])
        later = np.log([max(np.median(r["seconds"][1:] or r["seconds"]), 1e-3) for r in trained])
        setup = np.log([max(r["wall_seconds"] - sum(r["seconds"]), 0.05) for r in trained])
        self.time_model = RandomForestRegressor(**forest).fit(
            configs, np.column_stack([first, later, setup]))
        impossible = [r["wall_seconds"] for r in rows if not r["val_accuracy"]]
        self.impossible_seconds = float(np.median(impossible)) if impossible else 0.5
        self.noise = _jitter(trained)

    def _curve_rows(self, rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        x, y = [], []
        for row in rows:
            encoded, epochs = self.encode(row["params"]), row["epochs"] or len(row["val_accuracy"])
            for e, value in enumerate(row["val_accuracy"], start=1):
                x.append(np.concatenate([encoded, _epoch_features(e, epochs)]))
                y.append(value)
        return np.array(x), np.array(y)

    def outcome(self, params: dict[str, Any], epochs: int, rng: np.random.Generator) -> Outcome:
        """The curve (noisy and true) and costs of ``params`` trained for ``epochs``."""
        encoded = self.encode(params)
        x = np.array([np.concatenate([encoded, _epoch_features(e, epochs)])
                      for e in range(1, epochs + 1)])
        true = np.clip(_predict(self.curve_model, x), 0.0, 1.0)
        observed = np.clip(true + rng.normal(0.0, self.noise, size=epochs), 0.0, 1.0)
        first, later, setup = np.exp(_predict(self.time_model, encoded[None, :])[0])
        return Outcome(observed.tolist(), true.tolist(), [first] + [later] * (epochs - 1), setup)

    def final_quality(self, params: dict[str, Any], epochs: int) -> float:
        """The noise-free best-epoch accuracy: how good a configuration truly is."""
        encoded = self.encode(params)
        x = np.array([np.concatenate([encoded, _epoch_features(e, epochs)])
                      for e in range(1, epochs + 1)])
        return float(np.clip(_predict(self.curve_model, x), 0.0, 1.0).max())


def _predict(forest: Any, x: np.ndarray) -> np.ndarray:
    """``forest.predict(x)`` up to floating-point rounding (the trees' mean summed in
    another order), without scikit-learn's per-call checks and thread pool: a tenth of
    the time for the few rows a replayed trial asks for."""
    x32 = np.asarray(x, dtype=np.float32)
    mean = np.mean([tree.tree_.predict(x32) for tree in forest.estimators_], axis=0)
    return mean.reshape(mean.shape[0], -1) if forest.n_outputs_ > 1 else mean.reshape(-1)


def _epoch_features(epoch: int, epochs: int) -> np.ndarray:
    return np.array([epoch / epochs, epoch / MAX_EPOCHS, epochs / MAX_EPOCHS])


def _jitter(rows: list[dict[str, Any]]) -> float:
    """The epoch-to-epoch noise of the recorded curves' second halves (differences of
    neighbouring epochs, over sqrt 2), median over trials."""
    spreads = []
    for row in rows:
        tail = np.array(row["val_accuracy"][len(row["val_accuracy"]) // 2:])
        if len(tail) >= 3:
            spreads.append(np.std(np.diff(tail)) / math.sqrt(2))
    return float(np.median(spreads)) if spreads else 0.01


def fidelity(rows: list[dict[str, Any]], distributions: dict[str, Any], *, folds: int = 5,
             seed: int = 0) -> dict[str, float]:
    """Held-out quality of the surrogate: Spearman rank correlation and mean absolute error
    of each trained configuration's best-epoch accuracy, and of its seconds per epoch,
    by ``folds``-fold cross-validation over configurations."""
    from scipy.stats import spearmanr

    trained = [r for r in rows if r["val_accuracy"] and len(r["val_accuracy"]) >= 3]
    order = np.random.default_rng(seed).permutation(len(trained))
    predicted, actual, p_time, a_time = [], [], [], []
    for fold in range(folds):
        held = set(order[fold::folds].tolist())
        model = Surrogate([r for i, r in enumerate(trained) if i not in held], distributions,
                          seed=seed)
        for i in held:
            row = trained[i]
            predicted.append(model.final_quality(row["params"], len(row["val_accuracy"])))
            actual.append(max(row["val_accuracy"]))
            p_time.append(model.outcome(row["params"], 2, np.random.default_rng(0)).seconds[1])
            a_time.append(float(np.median(row["seconds"][1:])))
    return {"configs": len(trained), "spearman": float(spearmanr(predicted, actual)[0]),
            "mae": float(np.mean(np.abs(np.array(predicted) - np.array(actual)))),
            "time_spearman": float(spearmanr(p_time, a_time)[0])}
