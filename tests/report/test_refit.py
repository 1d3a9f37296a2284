"""search/report/refit.py: a config refit on train+validation of scikit-learn digits for its
best epoch count, tested once, saved with its scores, and loaded back for inference."""

from __future__ import annotations

import numpy as np

from search.data.dataset import DataSpec
from search.model.training import predict_probabilities
from search.report.refit import load_refit_model, refit_and_save
from search.space.config import Config
from search.yaml_files import read_yaml

CONFIG = Config({"conv": {"depth": 1, "filters": [8]}, "head": {"layers": 0},
                 "training": {"epochs": 3}}, DataSpec(name="digits"), seed=2)


def test_a_refit_trains_its_best_epochs_on_train_and_validation_and_tests_once(tmp_path):
    path = tmp_path / "best.keras"
    outcome = refit_and_save(CONFIG, {"trial": 7, "best_epoch": 1}, path, verbose=0)
    assert outcome.epochs == 1 and len(outcome.trained.history) == 1
    assert "val_accuracy" not in outcome.trained.history[0]  # no validation split left
    x_test, y_test = outcome.data.test()
    assert outcome.probabilities.shape == (len(y_test), 10)
    accuracy = float(np.mean(outcome.probabilities.argmax(1) == y_test))
    assert abs(outcome.report["accuracy"] - accuracy) < 1e-9
    scores = read_yaml(path.with_suffix(".test.yaml"))
    assert scores == {"trial": 7, "epochs": 1, **outcome.report}
    loaded = load_refit_model(path)
    assert np.allclose(predict_probabilities(loaded, x_test), outcome.probabilities, atol=1e-5)


def test_the_epochs_asked_for_win_over_the_result_and_the_config_is_the_fallback(tmp_path):
    one = CONFIG.with_knob("training", "epochs", 1)
    assert refit_and_save(one, {}, tmp_path / "a.keras", verbose=0).epochs == 1
    asked = refit_and_save(CONFIG, {"best_epoch": 3}, tmp_path / "b.keras", epochs=1, verbose=0)
    assert asked.epochs == 1 and len(asked.trained.history) == 1
    assert read_yaml(tmp_path / "b.test.yaml")["trial"] is None
