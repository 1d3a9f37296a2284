"""Evaluate a trained model on the test split: the numbers and figures our users made by hand.

Everything here takes plain arrays (images, labels, probabilities, class
names), so it is testable without training and works for any backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from search.report.plotting import pyplot, save

__all__ = ["TestEvaluation", "evaluate", "predictions_frame", "plot_confusion", "plot_examples",
           "plot_embedding", "plot_curves"]


@dataclass
class TestEvaluation:
    """Scores on the test split: accuracy and per-class recall (fractions in [0, 1]), the
    confusion matrix (rows: true class), sklearn's text report, and the image count."""

    accuracy: float
    per_class: dict[str, float]
    confusion: np.ndarray
    classification_report: str
    n: int


def evaluate(y_true: np.ndarray, probabilities: np.ndarray, names: Sequence[str]) -> TestEvaluation:
    """Score the predicted classes (argmax of ``probabilities``) against ``y_true``."""
    from sklearn.metrics import accuracy_score, classification_report, confusion_matrix

    predicted = probabilities.argmax(axis=1)
    labels = list(range(len(names)))
    confusion = confusion_matrix(y_true, predicted, labels=labels)
    per_class = confusion.diagonal() / np.maximum(confusion.sum(axis=1), 1)
    return TestEvaluation(
        float(accuracy_score(y_true, predicted)), dict(zip(names, map(float, per_class))), confusion,
        classification_report(y_true, predicted, labels=labels, target_names=list(names), digits=4,
                              zero_division=0), len(y_true))


def predictions_frame(y_true: np.ndarray, probabilities: np.ndarray,
                      names: Sequence[str]) -> pd.DataFrame:
    """One row per image: true and predicted class, confidence, correctness, and each
    class's probability."""
    predicted = probabilities.argmax(axis=1)
    frame = pd.DataFrame({"index": np.arange(len(y_true)), "true": [names[i] for i in y_true],
                          "predicted": [names[i] for i in predicted],
                          "confidence": probabilities.max(axis=1), "correct": predicted == y_true})
    for column, name in enumerate(names):
        frame[f"p({name})"] = probabilities[:, column]
    return frame


def _figure(width: float, height: float):
    return pyplot().subplots(figsize=(width, height))


def plot_confusion(confusion: np.ndarray, names: Sequence[str], path: Path, *,
                   normalise: bool) -> Path:
    """Draw the confusion matrix to ``path`` (PNG): counts, or each row's fractions when
    ``normalise``; return ``path``."""
    from sklearn.metrics import ConfusionMatrixDisplay

    size = max(5.0, 0.7 * len(names) + 2)
    fig, ax = _figure(size, size)
    matrix = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1) if normalise else confusion
    ConfusionMatrixDisplay(matrix, display_labels=list(names)).plot(
        ax=ax, xticks_rotation=45, values_format=".2f" if normalise else "d", colorbar=False)
    ax.set_title("confusion matrix (row-normalised)" if normalise else "confusion matrix (counts)")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    return save(fig, path)


def plot_examples(images: np.ndarray, y_true: np.ndarray, probabilities: np.ndarray,
                  names: Sequence[str], path: Path, *, count: int = 8) -> Path:
    """Top row: most confident mistakes. Bottom row: least confident correct predictions."""
    predicted, confidence = probabilities.argmax(axis=1), probabilities.max(axis=1)
    wrong = np.flatnonzero(predicted != y_true)
    right = np.flatnonzero(predicted == y_true)
    rows = [("most confident mistakes", wrong[np.argsort(-confidence[wrong])][:count]),
            ("least confident hits", right[np.argsort(confidence[right])][:count])]
    fig, axes = pyplot().subplots(2, count, figsize=(1.6 * count, 4.2), squeeze=False)
    for row, (title, indices) in enumerate(rows):
        for column in range(count):
            ax = axes[row][column]
            ax.axis("off")
            if column < len(indices):
                i = indices[column]
                _show(ax, images[i])
                ax.set_title(f"{names[predicted[i]]} {confidence[i]:.2f}\ntrue: {names[y_true[i]]}",
                             fontsize=7)
        axes[row][0].text(-0.1, 0.5, title, transform=axes[row][0].transAxes, rotation=90,
                          va="center", ha="right", fontsize=8)
    fig.suptitle("predicted class and confidence (true class below)")
    return save(fig, path)


def _show(ax, image: np.ndarray) -> None:
    lo, hi = float(image.min()), float(image.max())
    scaled = (image - lo) / (hi - lo) if hi > lo else image * 0
    ax.imshow(scaled[..., 0] if scaled.shape[-1] == 1 else scaled, cmap="gray")


def plot_embedding(embedding: np.ndarray, y_true: np.ndarray, names: Sequence[str], path: Path, *,
                   seed: int = 0) -> Path:
    """t-SNE of the penultimate layer's activations, coloured by true class."""
    from sklearn.manifold import TSNE

    points = TSNE(n_components=2, init="pca", random_state=seed,
                  perplexity=min(30.0, max(5.0, len(y_true) / 10))).fit_transform(embedding)
    fig, ax = _figure(7, 6)
    for label, name in enumerate(names):
        mask = y_true == label
        ax.scatter(points[mask, 0], points[mask, 1], s=6, label=name)
    ax.legend(markerscale=2, fontsize=7, loc="best")
    ax.set_title(f"t-SNE of the penultimate layer ({len(y_true)} test images)")
    ax.set_xlabel("t-SNE 1")
    ax.set_ylabel("t-SNE 2")
    return save(fig, path)


def plot_curves(history: list[dict[str, float]], path: Path, *, title: str) -> Path:
    """Draw loss and accuracy per epoch, train against validation, to ``path``; return it."""
    epochs = range(1, len(history) + 1)
    fig, axes = pyplot().subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.plot(epochs, [h.get(metric) for h in history], marker="o", label="train")
        if history and f"val_{metric}" in history[0]:
            ax.plot(epochs, [h.get(f"val_{metric}") for h in history], marker="o", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(f"{metric}: train vs validation")
        ax.legend()
    fig.suptitle(title)
    return save(fig, path)
