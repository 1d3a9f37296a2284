"""A Keras application as the feature extractor: which one, how much of it, how much trains.

The engine adapts the input from the data, inside the model (so on the device,
and saved with it): grayscale is repeated to three channels, images smaller
than the application's 32-pixel minimum are resized up, and pixel values are
mapped back to 0..255 and passed through the application's own preprocessing
(VGG16/ResNet50: BGR with ImageNet's channel means subtracted; MobileNetV3 and
EfficientNet carry theirs inside) instead of the data spec's normalisation.

Blocks are the application's own stages, read from its layer names: VGG16's 5
``blockN``, ResNet50's 4 stages ``conv2``-``conv5``, MobileNetV3Small's 11
``expanded_conv`` blocks, EfficientNetB0's 7 ``blockN``; the stem counts with
the first block and the final layers (``top_*``) with the last.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import keras

from search.space.config import Config
from search.errors import TrialFailure, SearchError, shown
from search.space.schema import knob_spec

__all__ = ["APPLICATIONS", "plan_backbone", "backbone_features", "CaffePreprocess", "block_count",
           "check_weights", "backbone_variables", "BACKBONE_LAYER"]

MIN_SIDE = 32  # the smallest input every one of these applications accepts
BACKBONE_LAYER = "backbone"  # the application's name inside the model, whichever it is


class BackboneImpossible(TrialFailure, ValueError):
    """The backbone config cannot be built on this data (model.ImpossibleNetwork wraps it)."""


@dataclass(frozen=True)
class Application:
    """One Keras application usable as a backbone: its constructor, how many blocks it has,
    how its layer names give the block, and its ImageNet weights file."""

    build: Callable[..., keras.Model]
    blocks: int
    pattern: str  # regex whose group 1 is the block number (no group or None: block 0 -> 1)
    offset: int  # added to the number matched, so blocks count from 1
    caffe: bool  # needs BGR + mean subtraction outside the model
    weights_file: str  # the no-top ImageNet file Keras caches under ~/.keras/models

    def block_of(self, layer_name: str) -> int | None:
        """The 1-based block that ``layer_name`` belongs to, or None for a layer outside blocks."""
        match = re.match(self.pattern, layer_name)
        if not match:
            return None
        return int(match.group(1) or 0) + self.offset


APPLICATIONS = {
    "vgg16": Application(keras.applications.VGG16, 5, r"^block(\d+)_", 0, True,
                         "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "resnet50": Application(keras.applications.ResNet50, 4, r"^conv(\d+)_", -1, True,
                            "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "mobilenet_v3_small": Application(keras.applications.MobileNetV3Small, 11,
                                      r"^expanded_conv(?:_(\d+))?_", 1, False,
                                      "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5"),
    "efficientnet_b0": Application(keras.applications.EfficientNetB0, 7, r"^block(\d+)[a-z]_", 0,
                                   False, "efficientnetb0_notop.h5"),
}


def block_count(name: str) -> int:
    """How many blocks the application ``name`` has."""
    return APPLICATIONS[name].blocks


def plan_backbone(config: Config, input_shape: tuple[int, int, int]) -> tuple[int, int]:
    """The side lengths the application sees; raises BackboneImpossible for a bad shape or
    more ``blocks`` than the application has."""
    name = config.get("backbone", "name")
    height, width, channels = input_shape
    if channels not in (1, 3):
        raise BackboneImpossible(f"backbone {name} takes 1 or 3 channels; the data has {channels}")
    blocks = config.get("backbone", "blocks")
    if blocks > block_count(name):
        raise BackboneImpossible(f"backbone.blocks is {blocks}, but {name} has "
                                 f"{block_count(name)} blocks; use 1..{block_count(name)} or 0 "
                                 "for all")
    return max(height, MIN_SIDE), max(width, MIN_SIDE)


def check_weights(space: Any) -> None:
    """Before trial 0: every ``backbone.weights`` the space can draw is 'imagenet', 'none' or
    an existing file (a typo would otherwise fail each backbone trial, one at a time)."""
    knob = space.knobs.get("backbone", {}).get("weights")
    if knob is None:
        return
    values = knob.values_for_check()
    bad = [v for v in values if v not in ("imagenet", "none") and not Path(str(v)).expanduser()
           .is_file()]
    if bad:
        raise SearchError(f"{space.path}: 'backbone.weights' {shown(bad[0])} is neither 'imagenet', "
                          "'none' nor an existing weights file.",
                          hint="Give the path of a .weights.h5 file (or Keras' no-top .h5).")


def backbone_features(config: Config, x: Any, input_shape: tuple[int, int, int],
                      value_range: tuple[float, float]) -> Any:
    """Input adaptation, the (possibly truncated, partly frozen) application, global pooling."""
    name = config.get("backbone", "name")
    app = APPLICATIONS[name]
    height, width = plan_backbone(config, input_shape)
    if input_shape[2] == 1:
        x = keras.layers.Concatenate(name="gray_to_rgb")([x, x, x])
    if (height, width) != input_shape[:2]:
        x = keras.layers.Resizing(height, width, name="resize_to_backbone")(x)
    low, high = value_range
    scale = 255.0 / (high - low) if high > low else 1.0
    x = keras.layers.Rescaling(scale, offset=-low * scale, name="to_pixels")(x)
    if app.caffe:
        x = CaffePreprocess(name="imagenet_preprocess")(x)
    model = _application(name, config.get("backbone", "weights"), (height, width, 3))
    if config.get("backbone", "weights") == "none":  # bn.momentum is inactive with bn off: its
        _set_momentum(model, config.get("bn", "momentum") if config.enabled("bn")  # default
                      else knob_spec("bn", "momentum").default)
    model = _first_blocks(model, app, config.get("backbone", "blocks"))
    _set_trainable(model, app, config.get("backbone", "trainable_blocks"),
                   config.get("backbone", "blocks") or app.blocks)
    if config.get("backbone", "weights") != "none":
        _keep_batch_norm_statistics(model)
    x = model(x)
    return keras.layers.GlobalAveragePooling2D(name="backbone_pool")(x)


def _application(name: str, weights: str, shape: tuple[int, int, int]) -> keras.Model:
    build = APPLICATIONS[name].build
    if weights == "none":
        return build(include_top=False, weights=None, input_shape=shape)
    if weights != "imagenet":
        return _from_file(name, build, Path(weights).expanduser(), shape)
    try:
        return build(include_top=False, weights="imagenet", input_shape=shape)
    except Exception as exc:  # offline and not cached: say where we looked and what to do
        cache = Path(os.environ.get("KERAS_HOME", "~/.keras")).expanduser() / "models"
        raise SearchError(
            f"backbone.weights 'imagenet': cannot load {name}'s ImageNet weights: not in Keras' "
            f"cache ({cache / APPLICATIONS[name].weights_file}) and the download failed "
            f"({str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}).",
            hint=f"On a machine with internet, build it once (keras.applications) and copy "
                 f"{APPLICATIONS[name].weights_file} into {cache}; or save the backbone's "
                 "weights and set 'backbone.weights: /path/file.weights.h5'; or use "
                 "'backbone.weights: none' to train it from scratch.") from None


def _from_file(name: str, build: Callable[..., keras.Model], path: Path,
               shape: tuple[int, int, int]) -> keras.Model:
    if not path.is_file():
        raise SearchError(f"backbone.weights: {path} is not a file; expected 'imagenet', 'none' "
                          f"or the path of {name}'s weights (.weights.h5, or Keras' no-top .h5).")
    model = build(include_top=False, weights=None, input_shape=shape)
    try:
        model.load_weights(str(path))
    except Exception as exc:
        raise SearchError(f"backbone.weights: {path} does not hold {name}'s no-top weights "
                          f"({str(exc).splitlines()[0][:200]}).") from None
    return model


def _set_momentum(model: keras.Model, momentum: float) -> None:
    """From scratch, the applications' batch-norm momentum (MobileNetV3: 0.999) leaves the
    moving statistics far from the data after a short trial, and evaluation at chance
    (measured: MobileNetV3Small, 10 epochs of 8k images, 10% test): use ``bn.momentum``."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum


def _keep_batch_norm_statistics(model: keras.Model) -> None:
    """A pretrained backbone's batch norm stays in inference mode, in the fine-tuned blocks too
    (Keras' fine-tuning advice): a non-trainable BatchNormalization normalises with the moving
    statistics it was loaded with and leaves them alone. Trained at the application's momentum
    (0.99-0.999) from the first batch of new data, they would describe neither data set after
    a short trial."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False


def _first_blocks(model: keras.Model, app: Application, blocks: int) -> keras.Model:
    """The application up to the output of its block ``blocks`` (0: all of it), named
    BACKBONE_LAYER; its weights file is the application's (``save_weights`` on it gives a file
    that ``backbone.weights`` loads)."""
    output = model.output
    if blocks and blocks < app.blocks:
        last = [layer.name for layer in model.layers if app.block_of(layer.name) == blocks][-1]
        output = model.get_layer(last).output
    return keras.Model(model.inputs, output, name=BACKBONE_LAYER)


def backbone_variables(model: keras.Model) -> list:
    """The backbone's trainable variables in a built model (none without a backbone)."""
    names = {layer.name for layer in model.layers}
    return list(model.get_layer(BACKBONE_LAYER).trainable_variables) \
        if BACKBONE_LAYER in names else []


def _set_trainable(model: keras.Model, app: Application, trainable_blocks: int, used: int) -> None:
    """The last ``trainable_blocks`` of the ``used`` blocks train; the rest is frozen (its
    batch normalisation then runs in inference mode)."""
    if trainable_blocks >= used:
        model.trainable = True
        return
    first_trained, block = used - trainable_blocks + 1, 1
    for layer in model.layers:
        number = app.block_of(layer.name)
        block = number if number is not None else block  # stem -> 1, top -> the last block
        layer.trainable = trainable_blocks > 0 and block >= first_trained


@keras.saving.register_keras_serializable(package="search")
class CaffePreprocess(keras.layers.Layer):
    """``keras.applications.vgg16.preprocess_input`` as a layer: RGB -> BGR, minus ImageNet's
    channel means (on 0..255 pixels), so it runs on the device and is saved with the model."""

    MEANS = (103.939, 116.779, 123.68)

    def call(self, images: Any) -> Any:
        """Flip RGB to BGR and subtract the channel means."""
        bgr = keras.ops.flip(images, axis=-1)
        return bgr - keras.ops.convert_to_tensor(self.MEANS, dtype=images.dtype)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        """The input's shape: only the values change."""
        return input_shape
