"""The default search space: every knob our users varied by hand (see shared/USERS.md).

Each top-level key is a component; the ablation reporter switches components
to their baseline ("off") values, so keep related knobs together. Knobs left
out keep their baseline; `python -m search space spaces/cnn.py` lists them all.
"""

from search.knobs import Bool, Choice, Float, Int

SPACE = {
    "conv": {
        "depth": Int(1, 5),
        "filters": Choice(16, 32, 64, 128),  # drawn per block: 32-64-64, 32-32-32-64-64, ...
        "kernel": Choice(3, 5),
        "padding": Choice("same", "valid"),
        "pooling": Choice("max", "avg", "none"),
    },
    "bn": {"enabled": Bool(), "momentum": Choice(0.9, 0.99)},
    "dropout": {"enabled": Bool(), "conv_rate": Float(0.0, 0.5), "head_rate": Float(0.0, 0.5)},
    "l1": {"enabled": Bool(), "factor": Float(1e-6, 1e-3, log=True)},
    "l2": {"enabled": Bool(), "factor": Float(1e-6, 1e-3, log=True)},
    "head": {"layers": Int(0, 2), "units": Choice(64, 84, 128, 256)},
    # Fashion-MNIST images are centred and upright: vertical flips and large
    # rotations are searchable here so the ablation can show they hurt.
    "flip_h": {"enabled": Bool()},
    "flip_v": {"enabled": Bool()},
    "rotation": {"enabled": Bool(), "degrees": Float(5.0, 90.0, log=True)},
    "zoom": {"enabled": Bool(), "factor": Float(0.05, 0.3)},
    "shear": {"enabled": Bool(), "factor": Float(0.05, 0.3)},
    "translation": {"enabled": Bool(), "factor": Float(0.05, 0.2)},
    "crop": {"enabled": Bool(), "fraction": Float(0.05, 0.25)},
    "cutout": {"enabled": Bool(), "area": Float(0.05, 0.33)},
    "noise": {"enabled": Bool(), "stddev": Float(0.01, 0.2, log=True)},
    "elastic": {"enabled": Bool(), "scale": Float(0.1, 1.0)},
    "optimizer": {
        "name": Choice("adam", "adamax", "rmsprop", "sgd", "adamw"),
        "learning_rate": Float(1e-4, 3e-2, log=True),
        "momentum": Float(0.8, 0.99),
        "weight_decay": Float(1e-5, 1e-2, log=True),
    },
    "schedule": {
        "name": Choice("constant", "step", "exponential", "cosine", "cosine_restarts", "plateau"),
        "warmup_epochs": Int(0, 2),
        "period_epochs": Int(2, 10),
    },
    "training": {
        "batch_size": Choice(32, 64, 128, 256),
        "epochs": Int(5, 20),
        "label_smoothing": Choice(0.0, 0.1),
    },
}

DATA = {"name": "fashion_mnist", "normalize": "scale"}

# Tried first, before the sampler's own picks: our users' best hand-made models
# (shared/USERS.md) and one steadier variant, so a short search starts from what
# they already trust.
# Knobs left out are at their baseline ("off"); `run --no-warm-start` skips these.
WARM_START = [
    {  # the 2 conv + BN model below with light dropout and a cosine schedule: on a 10k
        # subset, 0.903 validation accuracy at a steady last epoch (the plain one: 0.891, noisy)
        "conv": {"depth": 2, "filters": [32, 64], "kernel": 3, "padding": "same", "pooling": "max"},
        "bn": {"enabled": True, "momentum": 0.99},
        "dropout": {"enabled": True, "conv_rate": 0.1, "head_rate": 0.3},
        "head": {"layers": 1, "units": [128]},
        "optimizer": {"name": "adam", "learning_rate": 1e-3},
        "schedule": {"name": "cosine", "warmup_epochs": 0},
        "training": {"batch_size": 64, "epochs": 15},
    },
    {  # 2 conv + BN, 10 epochs: 91.3% test on the full set by hand
        "conv": {"depth": 2, "filters": [32, 64], "kernel": 3, "padding": "same", "pooling": "max"},
        "bn": {"enabled": True, "momentum": 0.99},
        "head": {"layers": 1, "units": [128]},
        "optimizer": {"name": "adam", "learning_rate": 1e-3},
        "training": {"batch_size": 64, "epochs": 10},
    },
    {  # 3 conv + dropout, 15 epochs: 90.7%
        "conv": {"depth": 3, "filters": [32, 64, 64], "kernel": 3, "padding": "same",
                 "pooling": "max"},
        "dropout": {"enabled": True, "conv_rate": 0.25, "head_rate": 0.5},
        "head": {"layers": 1, "units": [128]},
        "optimizer": {"name": "adam", "learning_rate": 1e-3},
        "training": {"batch_size": 64, "epochs": 15},
    },
]
