"""Batch normalisation whose moving statistics are corrected for their start, as Adam corrects
its moments.

Keras' moving mean and variance start at 0 and 1 and move toward the data's by a share
``1 - momentum`` per training step. After ``t`` steps a share ``momentum ** t`` of the start
is left: at momentum 0.99, 45% after 79 steps (one epoch of 5,000 images at batch 64) and
9% after three epochs. Where the data's variance is far below 1, that left-over start
dominates, and the network's inference (validation, a pruner's rung) is wrong for epochs
although its training is fine: on fashion-pairs5 our users' 2-conv model with batch norm
at 0.99 validates at 0.20, 0.20, 0.24 and 0.41 in its first four epochs while training at
0.80 to 0.96 (bench/RESULTS.md, "Batch norm at the start of training"). Inference here
divides the start out instead (the same model: 0.82, 0.84, 0.84, 0.84):

    mean = moving_mean / (1 - m**t),   variance = (moving_variance - m**t) / (1 - m**t)

which is the momentum-weighted mean of the batches' statistics so far, exactly; ``t`` is
the layer's count of training steps, a weight saved with the model. Training steps are
Keras' own. Once ``m**t`` is negligible (0.99 after 1,000 steps: 4e-5) inference is Keras'.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

__all__ = ["DebiasedBatchNormalization"]


@keras.saving.register_keras_serializable(package="search")
class DebiasedBatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` (zero and one as the moving statistics' start,
    no renormalisation, no mask) whose inference uses the moving statistics with their start
    divided out."""

    def build(self, input_shape: Any) -> None:
        """Keras' variables, and the count of training steps."""
        super().build(input_shape)
        self.training_steps = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                              name="training_steps", autocast=False)

    def call(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        """A training step: Keras' own, counted. Inference: the corrected statistics."""
        if training and self.trainable:
            self.training_steps.assign(self.training_steps + 1.0)
            return super().call(inputs, training=training, mask=mask)
        x = ops.cast(inputs, keras.backend.result_type(inputs.dtype, "float32"))
        mean, variance = self.corrected_moments(x.dtype)
        outputs = ops.batch_normalization(
            x, mean=mean, variance=variance, axis=self.axis, epsilon=self.epsilon,
            offset=ops.cast(self.beta, x.dtype) if self.center else None,
            scale=ops.cast(self.gamma, x.dtype) if self.scale else None)
        return ops.cast(outputs, self.compute_dtype)

    def corrected_moments(self, dtype: Any) -> tuple[Any, Any]:
        """The moving mean and variance with their start divided out (Keras' own before the
        first training step)."""
        mean = ops.cast(self.moving_mean, dtype)
        variance = ops.cast(self.moving_variance, dtype)
        left = ops.power(ops.cast(self.momentum, dtype), ops.cast(self.training_steps, dtype))
        taken = ops.maximum(1.0 - left, 1e-12)
        fresh = ops.cast(self.training_steps, dtype) > 0
        return (ops.where(fresh, mean / taken, mean),
                ops.where(fresh, ops.maximum(variance - left, 0.0) / taken, variance))
