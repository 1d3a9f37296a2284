"""The benchmark task suite, split once and for all into development and evaluation tasks.

Development tasks are the only ones any default, portfolio entry or setting of the
engine is chosen on (by validation scores: learning curves recorded there feed the
replay test-bed and the portfolio procedure). Evaluation tasks are reported and never
tuned on. Every task runs offline: Fashion-MNIST from the Debian package and
scikit-learn's digits; MNIST and CIFAR-10 join the evaluation side when their files
are given (``--data-dir``).
"""

from __future__ import annotations

from typing import Any

DEVELOPMENT: dict[str, dict[str, Any]] = {
    # scikit-learn's 8x8 digits: 1,797 images, 10 classes; tiny maps test the shape rules.
    "digits": {"name": "digits"},
    # Fashion-MNIST with unlike items merged in pairs (T-shirt+dress, trouser+pullover,
    # coat+sandal, shirt+sneaker, bag+boot): 5 classes, 6,000 images.
    "fashion-pairs5": {"name": "fashion_mnist", "classes": [[0, 3], [1, 2], [4, 5], [6, 7], [8, 9]],
                       "limit": 6000},
}

EVALUATION: dict[str, dict[str, Any]] = {
    # All ten classes, 10,000 images (the earlier benchmarks' task, no longer tuned on).
    "fashion10k": {"name": "fashion_mnist", "limit": 10000},
    # Our users' 3-class remap (tops, bottoms, accessories; imbalanced), 10,000 images.
    "fashion3": {"name": "fashion_mnist", "classes": "fashion3", "limit": 10000},
    # Four look-alike tops (T-shirt, pullover, coat, shirt), 8,000 images.
    "lookalike4": {"name": "fashion_mnist", "classes": [0, 2, 4, 6], "limit": 8000},
    # The full sets, and the others where their files are given.
    "fashion": {"name": "fashion_mnist"},
    "mnist": {"name": "mnist"},
    "cifar10": {"name": "cifar10"},
}


def data_flags(spec: dict[str, Any]) -> list[str]:
    """The ``run`` flags that select the data ``spec`` describes."""
    flags = ["--data", spec["name"]]
    if spec.get("limit"):
        flags += ["--limit", str(spec["limit"])]
    classes = spec.get("classes")
    if isinstance(classes, str):
        flags += ["--classes", classes]
    elif classes:
        flags += ["--classes", ",".join("+".join(map(str, c)) if isinstance(c, list) else str(c)
                                        for c in classes)]
    return flags


def task(name: str) -> dict[str, Any]:
    """A task's data spec, from either side."""
    return {**DEVELOPMENT, **EVALUATION}[name]
