"""Transfer learning as knobs: a pretrained Keras application (or none: the conv stack),
how much of it to use and how much of it to fine-tune, under a dense head.

    python -m search run spaces/transfer.py --data cifar10 --data-dir DIR --timeout 8h \
        --max-params 30000000

(`--max-params` counts trainable weights: fine-tuning all of ResNet50 trains 23.5M, of
VGG16 14.7M, above the default limit of 5M; a frozen backbone counts only its head.)

'imagenet' weights come from Keras' cache (~/.keras/models) or a download; offline,
copy the files there or set backbone.weights to a .weights.h5 path (see README).
The conv-stack knobs only apply when backbone.name is 'none'.
"""

from search.knobs import Bool, Choice, Float, Int

SPACE = {
    "backbone": {
        "name": Choice("none", "mobilenet_v3_small", "efficientnet_b0", "vgg16", "resnet50"),
        "weights": "imagenet",
        "trainable_blocks": Int(0, 5),  # 0: frozen feature extractor
        "blocks": 0,  # all of them (vgg16: Choice(3, 5) asks our users' "first 3 blocks")
        "lr_ratio": Choice(1.0, 0.1),  # the fine-tuned blocks' learning rate / the head's
        "head_epochs": Choice(0, 2),  # the head trains alone first (two-phase fine-tuning)
    },
    "conv": {"depth": Int(2, 4), "filters": Choice(32, 64, 128)},
    "bn": {"enabled": True},
    "dropout": {"enabled": Bool(), "head_rate": Float(0.1, 0.5)},
    "head": {"layers": Int(0, 1), "units": Choice(128, 256)},
    "flip_h": {"enabled": Bool()},
    "translation": {"enabled": Bool(), "factor": Float(0.05, 0.15)},
    "optimizer": {"name": Choice("adam", "sgd"), "learning_rate": Float(1e-5, 1e-2, log=True),
                  "momentum": 0.9},
    "schedule": {"name": "cosine", "warmup_epochs": Int(0, 2)},
    "training": {"batch_size": Choice(32, 64, 128), "epochs": Int(3, 15)},
}

DATA = {"name": "cifar10"}
