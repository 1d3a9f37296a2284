"""search: hyperparameter search and ablation for Keras convolutional image classifiers.

Pipeline: space file -> Space -> Optuna trial -> Config -> Dataset + keras.Model
-> train -> study storage -> best.yaml / ablation / report.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# JAX otherwise takes 75% of GPU memory per process, so packed trials/workers would starve.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

__version__ = "0.1.0"

__all__ = ["__version__"]
