"""Augmentation layers: Keras' own, and three of ours where Keras' cannot be used as is.

Every layer here is active only when training, and on JAX every one compiles under XLA.
Keras marks its affine-transform layers as barring XLA, which holds for their TensorFlow
kernels (there the mark stays); on JAX the mark made Keras train the whole model op by op,
about 100 times slower on a GPU (bench/RESULTS.md). Keras' RandomCrop and
RandomElasticTransform could not be traced by JAX at all, and the latter distorted wrongly
on TensorFlow, so ours replace both.
"""

from __future__ import annotations

from typing import Any

import keras

from search.space.config import Config

__all__ = ["augmentation_layers", "RandomCropResize", "RandomElastic", "RandomShear"]


def augmentation_layers(config: Config, input_shape: tuple[int, int, int],
                        value_range: tuple[float, float]) -> list[keras.layers.Layer]:
    """Keras preprocessing layers for each enabled augmentation; inactive at inference."""
    layers = keras.layers
    fill = {"fill_mode": "nearest"}
    makers = {
        "flip_h": lambda: layers.RandomFlip("horizontal", name="aug_flip_h"),
        "flip_v": lambda: layers.RandomFlip("vertical", name="aug_flip_v"),
        "rotation": lambda: layers.RandomRotation(config.get("rotation", "degrees") / 360.0, **fill,
                                                  name="aug_rotation"),
        "zoom": lambda: layers.RandomZoom(config.get("zoom", "factor"), **fill, name="aug_zoom"),
        "shear": lambda: RandomShear(config.get("shear", "factor"), config.get("shear", "factor"),
                                     **fill, name="aug_shear"),
        "translation": lambda: layers.RandomTranslation(
            config.get("translation", "factor"), config.get("translation", "factor"), **fill,
            name="aug_translation"),
        "crop": lambda: RandomCropResize(config.get("crop", "fraction"), name="aug_crop"),
        "elastic": lambda: RandomElastic(config.get("elastic", "probability"),
                                         config.get("elastic", "scale"), value_range,
                                         name="aug_elastic"),
        "cutout": lambda: layers.RandomErasing(
            factor=config.get("cutout", "probability"),
            scale=(min(0.02, config.get("cutout", "area")), config.get("cutout", "area")),
            value_range=value_range, name="aug_cutout"),
        "noise": lambda: layers.GaussianNoise(config.get("noise", "stddev"), name="aug_noise"),
    }
    return [compilable(make()) for name, make in makers.items() if config.enabled(name)]


def compilable(layer: keras.layers.Layer) -> keras.layers.Layer:
    """``layer``, not marked as barring XLA on JAX, where Keras' affine transforms are
    jax.numpy that XLA compiles; on the other backends the mark stays."""
    if keras.backend.backend() == "jax":
        layer.supports_jit = True
    return layer


@keras.saving.register_keras_serializable(package="search")
class RandomCropResize(keras.layers.Layer):
    """Crop a random window (``fraction`` of each side cut away) and resize it back.

    Unlike ``keras.layers.RandomCrop`` alone, inference passes images through
    unchanged, so validation and test images are never resampled. The window is cut
    with ``keras.ops.slice`` at a drawn corner (one per batch, as Keras' RandomCrop
    draws it), which compiles under XLA on every backend; Keras' RandomCrop slices with
    Python indices that JAX cannot trace.
    """

    def __init__(self, fraction: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fraction = fraction
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        """Size the window (each side shortened by ``fraction``, at least 1 pixel) and the
        resize back."""
        height, width = input_shape[1], input_shape[2]
        self.window = (max(1, round(height * (1 - self.fraction))),
                       max(1, round(width * (1 - self.fraction))))
        self.resize = keras.layers.Resizing(height, width)

    def call(self, images: Any, training: bool | None = None) -> Any:
        """Crop and resize back when training; pass the images through unchanged otherwise."""
        if not training:
            return images
        ops, (rows, cols) = keras.ops, self.window
        top = keras.random.randint((), 0, images.shape[1] - rows + 1, seed=self.generator)
        left = keras.random.randint((), 0, images.shape[2] - cols + 1, seed=self.generator)
        zero = ops.zeros((), dtype=top.dtype)
        window = ops.slice(images, ops.stack([zero, top, left, zero]),
                           (ops.shape(images)[0], rows, cols, images.shape[3]))
        return self.resize(window)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        """The input's shape: the crop is resized back."""
        return input_shape

    def get_config(self) -> dict[str, Any]:
        """The layer's config with ``fraction`` and ``seed``, so saved models load."""
        return {**super().get_config(), "fraction": self.fraction, "seed": self.seed}


@keras.saving.register_keras_serializable(package="search")
class RandomElastic(keras.layers.Layer):
    """Random elastic distortion, drawn as Keras' RandomElasticTransform draws it, in
    ``keras.ops`` that XLA compiles and a TensorFlow graph with an open batch size runs.

    Each image is distorted with a chance drawn in [0, ``probability``], by one strength per
    batch drawn in [0, ``scale``]: a displacement field of Gaussian noise blurred with sigma
    = 5% of the shorter side times the strength, scaled by alpha = 10% of the longer side
    times the strength, sampled bilinearly with reflected edges and clipped to
    ``value_range``. Unlike Keras 3.15's layer: the rows' and columns' displacements are
    drawn apart (Keras draws both from one seed on JAX and TensorFlow, so every pixel moves
    along the diagonal); on TensorFlow an open batch size made Keras' layer warp only the
    batch's first image and put it in every distorted slot; and on JAX its blur kernel,
    sized from the drawn strength, could not be traced. Here the kernel is sized for the
    largest strength and weighted for the drawn one.
    """

    def __init__(self, probability: float, scale: float, value_range: tuple[float, float],
                 seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.probability, self.scale = probability, scale
        self.value_range, self.seed = tuple(value_range), seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, images: Any, training: bool | None = None) -> Any:
        """Distort when training; pass the images through unchanged otherwise."""
        if not training:
            return images
        ops, seed = keras.ops, self.generator
        batch, (height, width) = ops.shape(images)[0], images.shape[1:3]
        chance = keras.random.uniform((batch,), 0.0, self.probability, seed=seed)
        distort = keras.random.uniform((batch,), seed=seed) < chance
        strength = keras.random.uniform((), 0.0, self.scale, seed=seed)
        sigma = ops.maximum(min(height, width) * 0.05 * strength, 1e-3)
        noise = keras.random.normal((batch, height, width, 2), seed=seed) * sigma
        field = self._blur(noise, sigma) * (max(height, width) * 0.1 * strength)
        rows = ops.arange(height, dtype="float32")[None, :, None] + field[..., 0]
        cols = ops.arange(width, dtype="float32")[None, None, :] + field[..., 1]
        warped = ops.clip(bilinear(ops.cast(images, "float32"), rows, cols), *self.value_range)
        return ops.where(distort[:, None, None, None], ops.cast(warped, images.dtype), images)

    def _blur(self, noise: Any, sigma: Any) -> Any:
        """Gaussian blur of the two displacement channels, the kernel sized for the largest
        sigma (odd, six sigmas wide, as Keras sizes it) and weighted for ``sigma``."""
        ops, (height, width) = keras.ops, noise.shape[1:3]
        size = int(6 * min(height, width) * 0.05 * self.scale) | 1
        taps = ops.arange(size, dtype="float32") - (size - 1) / 2
        line = ops.exp(-0.5 * ops.square(taps / sigma))
        line = line / ops.sum(line)
        noise = ops.depthwise_conv(noise, ops.tile(line[:, None, None, None], (1, 1, 2, 1)),
                                   padding="same")
        return ops.depthwise_conv(noise, ops.tile(line[None, :, None, None], (1, 1, 2, 1)),
                                  padding="same")

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        """The input's shape."""
        return input_shape

    def get_config(self) -> dict[str, Any]:
        """The layer's config with its draws' bounds, so saved models load."""
        return {**super().get_config(), "probability": self.probability, "scale": self.scale,
                "value_range": list(self.value_range), "seed": self.seed}


@keras.saving.register_keras_serializable(package="search")
class RandomShear(keras.layers.RandomShear):
    """Keras' RandomShear, made loadable: its get_config() writes the factor as the range
    (-f, f), which its own constructor then rejects, so saved models could not be loaded."""

    def get_config(self) -> dict[str, Any]:
        """Keras' config with each factor written back as one number, as the constructor wants."""
        config = super().get_config()
        for key in ("x_factor", "y_factor"):
            value = config.get(key)
            if isinstance(value, (list, tuple)):
                config[key] = max(abs(float(v)) for v in value)
        return config


def bilinear(images: Any, rows: Any, cols: Any) -> Any:
    """``images`` (batch, height, width, channels) sampled at (``rows``, ``cols``), each
    (batch, height, width), bilinearly, with edges reflected (d c b a | a b c d | d c b a).

    Four gathers over the flattened pixels, so the batch size may be open (a TensorFlow
    graph) and every backend compiles it.
    """
    ops = keras.ops
    height, width, channels = images.shape[1:]
    flat = ops.reshape(images, (-1, height * width, channels))
    top, left = ops.floor(rows), ops.floor(cols)
    out = 0.0
    for row, row_weight in ((top, 1.0 - (rows - top)), (top + 1.0, rows - top)):
        for col, col_weight in ((left, 1.0 - (cols - left)), (left + 1.0, cols - left)):
            index = _reflect(row, height) * width + _reflect(col, width)
            index = ops.reshape(index, (-1, height * width, 1))
            pixels = ops.take_along_axis(flat, ops.repeat(index, channels, axis=2), axis=1)
            weight = (row_weight * col_weight)[..., None]
            out = out + ops.reshape(pixels, ops.shape(images)) * weight
    return out


def _reflect(index: Any, size: int) -> Any:
    """Integer pixel ``index`` folded into [0, size) by half-sample reflection."""
    ops = keras.ops
    folded = ops.mod(ops.cast(index, "int32"), 2 * size)
    return ops.where(folded >= size, 2 * size - 1 - folded, folded)
