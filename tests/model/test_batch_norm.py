"""search/model/batch_norm.py: inference with the moving statistics' start divided out is the
momentum-weighted mean of the training batches' statistics, exactly; training is Keras' own;
the step count is saved with the model and advances on every backend."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from conftest import json_on_backend
from search.model.batch_norm import DebiasedBatchNormalization


def _batches(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [(0.05 * rng.normal(size=(32, 3)) + rng.normal(size=3) * 0.1).astype("float32")
            for _ in range(count)]


def test_inference_uses_the_momentum_weighted_mean_of_the_batches_statistics():
    momentum, batches = 0.99, _batches(5)
    ours, theirs = DebiasedBatchNormalization(momentum=momentum), keras.layers.BatchNormalization(
        momentum=momentum)
    for x in batches:
        ours(x, training=True)
        theirs(x, training=True)
    weights = np.array([(1 - momentum) * momentum ** (len(batches) - 1 - i)
                        for i in range(len(batches))])
    weights /= weights.sum()
    mean = sum(w * x.mean(axis=0) for w, x in zip(weights, batches))
    variance = sum(w * x.var(axis=0) for w, x in zip(weights, batches))  # Keras: the batch's own
    corrected = [np.asarray(v) for v in ours.corrected_moments("float32")]
    np.testing.assert_allclose(np.asarray(ours.moving_mean), np.asarray(theirs.moving_mean), rtol=1e-6)
    np.testing.assert_allclose(corrected[0], mean, rtol=1e-4)
    np.testing.assert_allclose(corrected[1], variance, rtol=1e-3)
    x = batches[0]
    expected = (x - corrected[0]) / np.sqrt(corrected[1] + ours.epsilon)
    np.testing.assert_allclose(np.asarray(ours(x, training=False)), expected, rtol=1e-4, atol=1e-5)
    assert float(ours.training_steps) == 5


def test_before_any_training_step_inference_is_keras_own():
    x = _batches(1)[0]
    ours, theirs = DebiasedBatchNormalization(), keras.layers.BatchNormalization()
    np.testing.assert_allclose(np.asarray(ours(x)), np.asarray(theirs(x)), rtol=1e-6)


def _model() -> keras.Model:
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(2, activation="softmax")(DebiasedBatchNormalization(momentum=0.99)(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def test_the_step_count_is_saved_with_the_model_and_loaded_back(tmp_path):
    x = np.concatenate(_batches(4))
    model = _model()
    model.fit(x, np.arange(len(x)) % 2, batch_size=32, epochs=2, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    layer = next(l for l in loaded.layers if isinstance(l, DebiasedBatchNormalization))
    assert float(layer.training_steps) == 8  # 4 steps an epoch, 2 epochs
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5)


BACKEND_SCRIPT = """
import json
import keras
import numpy as np
from search.model.batch_norm import DebiasedBatchNormalization
rng = np.random.default_rng(0)
x = (0.05 * rng.normal(size=(128, 3)) + 0.2).astype("float32")
inputs = keras.Input((3,))
layer = DebiasedBatchNormalization(momentum=0.99, center=False, scale=False)
model = keras.Model(inputs, layer(inputs))
model.compile(optimizer="sgd", loss="mse",
              steps_per_execution=1 if keras.backend.backend() == "torch" else 2)
model.fit(x, np.zeros_like(x), batch_size=32, epochs=3, verbose=0, shuffle=False)
mean, variance = (np.asarray(v) for v in layer.corrected_moments("float32"))
print(json.dumps({"backend": keras.backend.backend(), "steps": float(layer.training_steps),
                  "mean": mean.tolist(), "data_mean": x.mean(axis=0).tolist(),
                  "variance": variance.tolist(), "data_variance": x.var(axis=0).tolist()}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_the_step_count_advances_in_fit_on_every_backend(backend):
    """On JAX a training step is a stateless function: the count must come back from it as
    the moving statistics do."""
    result = json_on_backend(BACKEND_SCRIPT, backend)
    assert result["backend"] == backend and result["steps"] == 12  # 4 steps, 3 epochs
    # 12 steps at 0.99 leave 89% of the start in Keras' statistics; corrected, they are the data's
    np.testing.assert_allclose(result["mean"], result["data_mean"], rtol=0.05)
    np.testing.assert_allclose(result["variance"], result["data_variance"], rtol=0.3)
