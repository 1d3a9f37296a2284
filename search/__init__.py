"""search: hyperparameter search and ablation for Keras convolutional image classifiers.

Pipeline: space file -> Space -> Optuna trial -> Config -> Dataset + keras.Model
-> train -> study storage -> best.yaml / ablation / report.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
