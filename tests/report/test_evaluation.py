"""search/report/evaluation.py: test-split numbers from plain arrays (accuracy, per-class
accuracy, confusion matrix, classification report), the predictions table, and each figure
written as a PNG (no training)."""

from __future__ import annotations

import numpy as np

from search.report.evaluation import (evaluate, plot_confusion, plot_curves, plot_embedding,
                                      plot_examples, predictions_frame)

NAMES = ("cat", "dog", "owl")
Y_TRUE = np.array([0, 0, 1, 1, 2, 2])
PROBABILITIES = np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1],
                          [0.3, 0.6, 0.1], [0.1, 0.1, 0.8], [0.4, 0.3, 0.3]])  # 4 of 6 right


def is_png(path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_counts_hits_per_class_and_in_the_confusion_matrix():
    result = evaluate(Y_TRUE, PROBABILITIES, NAMES)
    assert result.n == 6 and result.accuracy == 4 / 6
    assert result.per_class == {"cat": 0.5, "dog": 1.0, "owl": 0.5}
    assert result.confusion.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert "cat" in result.classification_report and "0.6667" in result.classification_report


def test_a_class_never_seen_in_the_test_split_scores_zero_not_nan():
    result = evaluate(np.array([0, 1]), np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1]]), NAMES)
    assert result.per_class == {"cat": 1.0, "dog": 1.0, "owl": 0.0}
    assert result.confusion.shape == (3, 3)


def test_the_predictions_table_has_one_row_per_image():
    frame = predictions_frame(Y_TRUE, PROBABILITIES, NAMES)
    assert list(frame.columns) == ["index", "true", "predicted", "confidence", "correct",
                                   "p(cat)", "p(dog)", "p(owl)"]
    assert frame["predicted"].tolist() == ["cat", "dog", "dog", "dog", "owl", "cat"]
    assert frame["correct"].tolist() == [True, False, True, True, True, False]
    assert frame["confidence"].tolist() == [0.9, 0.7, 0.8, 0.6, 0.8, 0.4]
    assert np.allclose(frame[["p(cat)", "p(dog)", "p(owl)"]].to_numpy(), PROBABILITIES)


def test_every_figure_is_written_as_a_png(tmp_path):
    confusion = evaluate(Y_TRUE, PROBABILITIES, NAMES).confusion
    images = np.random.default_rng(0).random((6, 8, 8, 1))
    history = [{"loss": 1.0, "accuracy": 0.5, "val_loss": 1.1, "val_accuracy": 0.4},
               {"loss": 0.7, "accuracy": 0.7, "val_loss": 0.9, "val_accuracy": 0.6}]
    features = np.random.default_rng(1).random((30, 4))
    written = [
        plot_confusion(confusion, NAMES, tmp_path / "counts.png", normalise=False),
        plot_confusion(confusion, NAMES, tmp_path / "rows.png", normalise=True),
        plot_examples(images, Y_TRUE, PROBABILITIES, NAMES, tmp_path / "examples.png", count=3),
        plot_curves(history, tmp_path / "curves.png", title="best trial"),
        plot_embedding(features, np.arange(30) % 3, NAMES, tmp_path / "embedding.png"),
    ]
    assert written == [tmp_path / n for n in ("counts.png", "rows.png", "examples.png",
                                              "curves.png", "embedding.png")]
    assert all(is_png(path) for path in written)
