"""A k-nearest-neighbours probe on a trained model's penultimate-layer features.

Our users classified with k-nearest neighbours on a CNN's features; the probe
also judges a feature extractor (a frozen backbone, say) without trusting its
softmax head. scikit-learn's ``KNeighborsClassifier`` on standardised features;
the neighbours come from the data the model was trained on, the score from data
it never saw (validation for a search trial or a retrain, test for a refit).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["ProbeResult", "knn_probe", "penultimate_features", "MAX_NEIGHBOURS"]

MAX_NEIGHBOURS = 20_000  # reference images kept for the search; more only slows predict()


@dataclass
class ProbeResult:
    """A k-NN probe's accuracy overall and per class (fractions in [0, 1]), its k, and how
    many images it was fitted on and scored on."""

    k: int
    accuracy: float
    per_class: dict[str, float]
    reference_images: int
    scored_images: int


def penultimate_features(model, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """The activations feeding the model's last layer (its classifier), flattened."""
    import keras

    # called directly, batch by batch: each such sub-model's predict() would trace a function
    # of its own, and TensorFlow warns about those traces in many lines
    penultimate = keras.Model(model.inputs, model.layers[-2].output)
    batches = [keras.ops.convert_to_numpy(penultimate(x[start:start + batch_size], training=False))
               for start in range(0, len(x), batch_size)]
    return np.concatenate(batches).reshape(len(x), -1)


def knn_probe(model, reference: tuple[np.ndarray, np.ndarray], scored: tuple[np.ndarray, np.ndarray],
              names: Sequence[str], *, k: int = 5, seed: int = 0) -> ProbeResult:
    """Fit kNN on ``reference`` (images, labels) features, score it on ``scored``."""
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_ref, y_ref = reference
    if len(x_ref) > MAX_NEIGHBOURS:
        keep = np.random.default_rng(seed).choice(len(x_ref), MAX_NEIGHBOURS, replace=False)
        x_ref, y_ref = x_ref[keep], y_ref[keep]
    x, y = scored
    probe = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=k))
    probe.fit(penultimate_features(model, x_ref), y_ref)
    predicted = probe.predict(penultimate_features(model, x))
    per_class = {name: float(np.mean(predicted[y == i] == i)) for i, name in enumerate(names)
                 if np.any(y == i)}
    return ProbeResult(k, float(np.mean(predicted == y)), per_class, len(x_ref), len(x))
