"""Config -> keras.Model: augmentation layers, conv blocks (or a backbone), dense head.

Shapes are planned before any layer is built: ``padding="valid"`` on a small
map makes Keras raise mid-build, and ``"same"`` silently clamps at 1x1, so an
impossible network is rejected here with a sentence that says which block failed.
Only Keras layers are used, so every backend builds the same model.
"""

from __future__ import annotations

from typing import Any

import keras

from search.model.augmentation import augmentation_layers
from search.model.backbone import BackboneImpossible, backbone_features, plan_backbone
from search.model.batch_norm import DebiasedBatchNormalization
from search.space.config import Config
from search.errors import TrialFailure

__all__ = ["ImpossibleNetwork", "plan_feature_maps", "build_model"]


class ImpossibleNetwork(TrialFailure, ValueError):
    """The config describes a network whose feature map shrinks below 1x1."""


def plan_feature_maps(config: Config, input_shape: tuple[int, int, int]) -> list[tuple[int, int, int]]:
    """(height, width, channels) after each conv block (none with a backbone); raises
    ImpossibleNetwork."""
    if config.get("backbone", "name") != "none":
        try:
            plan_backbone(config, input_shape)
        except BackboneImpossible as exc:
            raise ImpossibleNetwork(str(exc)) from None
        return []
    height, width, _ = input_shape
    kernel, padding = config.get("conv", "kernel"), config.get("conv", "padding")
    pooling = config.get("conv", "pooling")
    shapes = []
    for block, filters in enumerate(config.get("conv", "filters"), start=1):
        if padding == "valid":
            if min(height, width) < kernel:
                raise ImpossibleNetwork(
                    f"block {block}: a {kernel}x{kernel} 'valid' conv needs a map of at least "
                    f"{kernel}x{kernel} but gets {height}x{width}; use fewer blocks, "
                    "padding 'same' or less pooling")
            height, width = height - kernel + 1, width - kernel + 1
        if pooling != "none":
            if min(height, width) < 2:
                raise ImpossibleNetwork(
                    f"block {block}: 2x2 {pooling} pooling on a {height}x{width} map leaves "
                    "nothing; use fewer blocks or pooling 'none'")
            height, width = height // 2, width // 2
        shapes.append((height, width, filters))
    return shapes


def build_model(config: Config, input_shape: tuple[int, int, int], n_classes: int, *,
                value_range: tuple[float, float] = (0.0, 1.0)) -> keras.Model:
    """Build (but do not compile) the classifier that ``config`` describes.

    The config's precision is each layer's dtype policy, passed to it (the process-wide
    policy is never touched). Augmentation and the softmax stay float32: Keras'
    RandomErasing cannot run in float16 on TensorFlow, and probabilities need the range.
    """
    plan_feature_maps(config, input_shape)
    augmentation = augmentation_layers(config, input_shape, value_range)
    dtype = keras.DTypePolicy(config.get("training", "precision"))
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for layer in augmentation:
        x = layer(x)
    if config.get("backbone", "name") != "none":
        x = backbone_features(config, x, input_shape, value_range)
    else:
        for block, filters in enumerate(config.get("conv", "filters"), start=1):
            x = _conv_block(config, x, filters, block, dtype)
        x = keras.layers.Flatten(name="flatten", dtype=dtype)(x)
    for index, units in enumerate(config.get("head", "units"), start=1):
        x = _dense_block(config, x, units, index, dtype)
    outputs = keras.layers.Dense(n_classes, activation="softmax", dtype="float32", name="classes")(x)
    return keras.Model(inputs, outputs, name=f"cnn_{config.digest()}", dtype=dtype)


def _regularizer(config: Config) -> keras.regularizers.Regularizer | None:
    l1 = config.get("l1", "factor") if config.enabled("l1") else 0.0
    l2 = config.get("l2", "factor") if config.enabled("l2") else 0.0
    return keras.regularizers.L1L2(l1=l1, l2=l2) if (l1 or l2) else None


def _normalise_and_activate(config: Config, x: Any, name: str, dtype: Any) -> Any:
    if config.enabled("bn"):
        x = DebiasedBatchNormalization(momentum=config.get("bn", "momentum"),
                                       name=f"{name}_bn", dtype=dtype)(x)
    return keras.layers.Activation(config.get("conv", "activation"), name=f"{name}_act",
                                   dtype=dtype)(x)


def _conv_block(config: Config, x: Any, filters: int, block: int, dtype: Any) -> Any:
    name = f"block{block}"
    x = keras.layers.Conv2D(filters, config.get("conv", "kernel"),
                            padding=config.get("conv", "padding"),
                            use_bias=not config.enabled("bn"), dtype=dtype,
                            kernel_regularizer=_regularizer(config), name=f"{name}_conv")(x)
    x = _normalise_and_activate(config, x, name, dtype)
    pooling = {"max": keras.layers.MaxPooling2D, "avg": keras.layers.AveragePooling2D}.get(
        config.get("conv", "pooling"))
    if pooling is not None:
        x = pooling(2, name=f"{name}_pool", dtype=dtype)(x)
    rate = config.get("dropout", "conv_rate") if config.enabled("dropout") else 0.0
    return keras.layers.Dropout(rate, name=f"{name}_dropout", dtype=dtype)(x) if rate else x


def _dense_block(config: Config, x: Any, units: int, index: int, dtype: Any) -> Any:
    name = f"dense{index}"
    x = keras.layers.Dense(units, use_bias=not config.enabled("bn"), dtype=dtype,
                           kernel_regularizer=_regularizer(config), name=name)(x)
    x = _normalise_and_activate(config, x, name, dtype)
    rate = config.get("dropout", "head_rate") if config.enabled("dropout") else 0.0
    return keras.layers.Dropout(rate, name=f"{name}_dropout", dtype=dtype)(x) if rate else x
