from __future__ import annotations

import pytest

from search.space.config import Config
from search.model.network import ImpossibleNetwork, build_model, plan_feature_maps
from search.space.schema import AUGMENTATIONS


def config(**params) -> Config:
    return Config(params)


def test_feature_maps_follow_padding_and_pooling():
    c = config(conv={"depth": 3, "filters": [32, 64, 64], "kernel": 3, "padding": "valid",
                     "pooling": "max"})
    assert plan_feature_maps(c, (28, 28, 1)) == [(13, 13, 32), (5, 5, 64), (1, 1, 64)]


@pytest.mark.parametrize("conv, message", [
    ({"depth": 4, "filters": [8] * 4, "kernel": 5, "padding": "valid", "pooling": "max"},
     "block 3: a 5x5 'valid' conv needs a map of at least 5x5 but gets 4x4"),
    ({"depth": 5, "filters": [8] * 5, "padding": "same", "pooling": "max"},
     "block 5: 2x2 max pooling on a 1x1 map leaves nothing"),
])
def test_impossible_networks_are_rejected_before_building(conv, message):
    with pytest.raises(ImpossibleNetwork, match=message):
        build_model(config(conv=conv), (28, 28, 1), 10)


def test_no_pooling_blows_up_parameters_as_users_saw():
    pooled = build_model(config(conv={"depth": 3, "filters": [32, 64, 64]}), (28, 28, 1), 10)
    flat = build_model(config(conv={"depth": 3, "filters": [32, 64, 64], "pooling": "none"}),
                       (28, 28, 1), 10)
    assert flat.count_params() > 20 * pooled.count_params()


def test_every_augmentation_builds_and_is_identity_at_inference():
    import numpy as np

    params = {name: {"enabled": True} for name in AUGMENTATIONS}
    model = build_model(config(**params), (28, 28, 1), 10)
    names = [layer.name for layer in model.layers]
    assert all(f"aug_{name}" in names for name in AUGMENTATIONS)
    x = np.random.default_rng(0).random((4, 28, 28, 1)).astype("float32")
    augment = [layer for layer in model.layers if layer.name.startswith("aug_")]
    out = x
    for layer in augment:
        out = layer(out, training=False)
    assert np.allclose(np.asarray(out), x)


def test_regularisation_bn_and_dropout_layers_are_present():
    model = build_model(config(bn={"enabled": True}, dropout={"enabled": True}, l2={"enabled": True},
                               head={"layers": 2, "units": [64, 32]}), (28, 28, 1), 3)
    kinds = {type(layer).__name__ for layer in model.layers}
    assert {"DebiasedBatchNormalization", "Dropout", "Dense"} <= kinds
    assert model.get_layer("block1_conv").kernel_regularizer is not None
    assert model.output_shape == (None, 3)


def test_a_saved_model_with_every_augmentation_loads_again(tmp_path):
    import numpy as np

    from search.report.refit import load_refit_model

    params = {name: {"enabled": True} for name in AUGMENTATIONS}
    model = build_model(config(**params), (28, 28, 1), 10)
    model.save(tmp_path / "m.keras")
    loaded = load_refit_model(tmp_path / "m.keras")
    x = np.random.default_rng(1).random((2, 28, 28, 1)).astype("float32")
    assert np.allclose(model.predict(x, verbose=0), loaded.predict(x, verbose=0), atol=1e-5)


def test_precision_is_passed_to_each_layer_and_the_process_policy_is_untouched():
    import keras

    from search.space.config import Config
    from search.model.network import build_model

    before = keras.config.dtype_policy().name
    config = Config({"training": {"precision": "mixed_bfloat16"}, "bn": {"enabled": True},
                     "flip_h": {"enabled": True}})
    model = build_model(config, (28, 28, 1), 10)
    assert keras.config.dtype_policy().name == before
    conv = model.get_layer("block1_conv")
    assert conv.dtype_policy.name == "mixed_bfloat16" and conv.variable_dtype == "float32"
    assert model.get_layer("classes").compute_dtype == "float32"
    assert model.get_layer("aug_flip_h").dtype_policy.name == "float32"


def test_every_augmentation_changes_training_images_within_their_shape_and_range():
    import keras
    import numpy as np

    params = {name: {"enabled": True} for name in AUGMENTATIONS}
    params["elastic"] = {"enabled": True, "probability": 1.0, "scale": 1.0}
    keras.utils.set_random_seed(0)
    model = build_model(config(**params), (28, 28, 1), 10)
    x = np.random.default_rng(0).random((32, 28, 28, 1)).astype("float32")
    for layer in (layer for layer in model.layers if layer.name.startswith("aug_")):
        out = np.asarray(layer(x, training=True))
        assert out.shape == x.shape, layer.name
        assert not np.allclose(out, x), f"{layer.name} left training images unchanged"
        if layer.name in ("aug_elastic", "aug_crop"):
            assert out.min() >= 0.0 and out.max() <= 1.0, layer.name


def test_a_model_with_every_augmentation_trains_on_this_backend():
    """Through Keras' fit, where a TensorFlow graph leaves the batch size open (JAX and
    PyTorch: tests/test_backends.py)."""
    import math

    from search.data.dataset import DataSpec, load_dataset
    from search.model.training import train

    spec = DataSpec(name="digits", limit=200)
    params = {name: {"enabled": True} for name in AUGMENTATIONS}
    trained = train(Config({**params, "conv": {"depth": 1, "filters": [8]}, "head": {"layers": 0},
                            "training": {"epochs": 1, "batch_size": 32}}, spec, seed=0),
                    load_dataset(spec))
    assert len(trained.history) == 1 and math.isfinite(trained.history[0]["loss"])
