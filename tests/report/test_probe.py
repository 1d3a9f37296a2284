"""The k-nearest-neighbours probe on a really trained model's penultimate features."""

from __future__ import annotations

import numpy as np

from search.space.config import Config
from search.data.dataset import DataSpec, load_dataset
from search.report.probe import knn_probe, penultimate_features
from search.model.training import train


def test_knn_on_trained_features_classifies_digits_and_reports_per_class():
    data = load_dataset(DataSpec(name="digits"))
    config = Config({"conv": {"depth": 1, "filters": [8]}, "head": {"layers": 1, "units": [32]},
                     "training": {"batch_size": 32, "epochs": 3}}, data.spec, seed=1)
    model = train(config, data).model
    features = penultimate_features(model, data.x_val[:10])
    assert features.shape == (10, 32)  # the head's dense layer, before the classifier
    probe = knn_probe(model, (data.x_train, data.y_train), (data.x_val, data.y_val),
                      data.class_names, k=5)
    assert probe.accuracy > 0.8 and probe.scored_images == len(data.y_val)
    assert set(probe.per_class) == set(data.class_names)
    assert np.isclose(np.average(list(probe.per_class.values()),
                                 weights=np.bincount(data.y_val)), probe.accuracy)
