"""Our users' best CIFAR-10 model (83.5% test): a fine-tuned ImageNet VGG16 under a new
dense head. Searched: how many of its 5 blocks to use (they tried the first 3), how many
of those to fine-tune, at what fraction of the head's learning rate and after how many
head-only epochs, and the learning rate. Used by studies/cifar10-vgg16.yaml."""

from search.knobs import Choice, Float, Int

SPACE = {
    "backbone": {"name": "vgg16", "weights": "imagenet", "blocks": Choice(3, 4, 5),
                 "trainable_blocks": Int(0, 5), "lr_ratio": Choice(1.0, 0.1),
                 "head_epochs": Choice(0, 2)},
    "bn": {"enabled": True},
    "dropout": {"enabled": True, "head_rate": Float(0.2, 0.5)},
    "head": {"layers": 1, "units": Choice(256, 512)},
    "flip_h": {"enabled": True},
    "translation": {"enabled": True, "factor": 0.1},
    "optimizer": {"name": Choice("adam", "sgd"), "learning_rate": Float(1e-5, 1e-2, log=True),
                  "momentum": 0.9},
    "schedule": {"name": "cosine", "warmup_epochs": 1},
    "training": {"batch_size": 64, "epochs": Int(5, 30)},
}

DATA = {"name": "cifar10", "normalize": "scale"}
