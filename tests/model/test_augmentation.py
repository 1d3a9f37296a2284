"""Our augmentation layers: bilinear sampling, elastic distortion, crop (default backend;
JAX and PyTorch: tests/test_backends.py)."""

from __future__ import annotations

import numpy as np
import pytest

from search.model.augmentation import RandomCropResize, RandomElastic, bilinear


def test_bilinear_sampling_matches_scipy_with_reflected_edges():
    from scipy import ndimage

    rng = np.random.default_rng(0)
    images = rng.random((2, 7, 5, 3)).astype("float32")
    rows = rng.uniform(-4, 11, (2, 7, 5)).astype("float32")
    cols = rng.uniform(-4, 9, (2, 7, 5)).astype("float32")
    ours = np.asarray(bilinear(images, rows, cols))
    for b in range(2):
        for c in range(3):
            expected = ndimage.map_coordinates(images[b, :, :, c], [rows[b], cols[b]], order=1,
                                               mode="reflect")
            np.testing.assert_allclose(ours[b, :, :, c], expected, atol=1e-5)


def constant_images(batch: int = 16) -> np.ndarray:
    """Image i is the constant i / batch: any warp with reflected edges leaves it as it is."""
    return np.broadcast_to((np.arange(batch) / batch)[:, None, None, None],
                           (batch, 28, 28, 1)).astype("float32").copy()


def test_elastic_distortion_keeps_each_image_its_own_with_an_open_batch_size():
    """Keras 3.15's layer, in a TensorFlow graph (the batch size open), warped the batch's
    first image and put it in every distorted slot: images under the wrong labels."""
    import keras
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the open batch size of a TensorFlow graph")
    layer = RandomElastic(1.0, 1.0, (0.0, 1.0), seed=1)
    graph = tf.function(lambda x: layer(x, training=True),
                        input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)])
    images = constant_images()
    np.testing.assert_allclose(np.asarray(graph(images)), images, atol=1e-5)


def test_elastic_distortion_moves_pixels_within_the_value_range():
    import keras

    keras.utils.set_random_seed(0)
    images = np.random.default_rng(0).random((32, 28, 28, 1)).astype("float32")
    out = np.asarray(RandomElastic(1.0, 1.0, (0.0, 1.0), seed=2)(images, training=True))
    changed = ~np.isclose(out, images).all(axis=(1, 2, 3))
    assert 0 < changed.sum() < 32  # a chance in [0, 1] per image: some, not all
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert np.allclose(RandomElastic(1.0, 1.0, (0.0, 1.0))(images, training=False), images)


@pytest.mark.parametrize("fraction, window", [(0.1, 25), (0.5, 14), (0.99, 1)])
def test_crop_cuts_a_window_of_the_fraction_and_resizes_it_back(fraction, window):
    layer = RandomCropResize(fraction, seed=3)
    images = np.random.default_rng(1).random((4, 28, 28, 2)).astype("float32")
    out = np.asarray(layer(images, training=True))
    assert layer.window == (window, window) and out.shape == images.shape
    assert np.allclose(layer(images, training=False), images)
