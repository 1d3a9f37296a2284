"""Pretrained Keras applications as the `backbone` component: built from the data's shape,
partly frozen, refit and saved, weights from a file, and a clear message without them."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import keras
import numpy as np
import pytest

from conftest import REPO, write
from search.model import backbone
from search.space.config import Config
from search.data.dataset import DataSpec
from search.errors import SearchError
from search.model.network import ImpossibleNetwork, build_model, plan_feature_maps
from search.report.refit import load_refit_model, refit_and_save
from search.space.schema import BACKBONES
from search.space.space import load_space

TINY = DataSpec(name="digits", limit=120)  # 8x8 gray: resized to 32x32 RGB inside the model


def config(name: str, **knobs) -> Config:
    return Config({"backbone": {"name": name, "weights": "none", **knobs},
                   "head": {"layers": 1, "units": [16]},
                   "training": {"epochs": 1, "batch_size": 32}}, TINY, 0)


@pytest.mark.slow
@pytest.mark.parametrize("name", BACKBONES)
def test_every_backbone_trains_refits_and_loads_back(tmp_path, name):
    outcome = refit_and_save(config(name, trainable_blocks=1), {}, tmp_path / "m.keras", verbose=0)
    assert outcome.epochs == 1 and len(outcome.trained.history) == 1
    loaded = load_refit_model(tmp_path / "m.keras")
    x_test, _ = outcome.data.test()
    np.testing.assert_allclose(loaded.predict(x_test[:8], verbose=0),
                               outcome.model.predict(x_test[:8], verbose=0), atol=1e-5)


def trainable_weights(model: keras.Model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_trainable_blocks_freeze_all_but_the_last_blocks_and_blocks_cut_the_network():
    shape = (8, 8, 1)
    frozen = build_model(config("vgg16", trainable_blocks=0), shape, 10)
    last = build_model(config("vgg16", trainable_blocks=1), shape, 10)
    full = build_model(config("vgg16", trainable_blocks=5), shape, 10)
    head = 512 * 16 + 16 + 16 * 10 + 10
    assert trainable_weights(frozen) == head
    assert trainable_weights(last) == head + 3 * (3 * 3 * 512 * 512 + 512)  # block5: 3 convs
    assert trainable_weights(full) == full.count_params()
    first3 = build_model(config("vgg16", blocks=3, trainable_blocks=0), shape, 10)
    assert first3.count_params() == (1_735_488 + 256 * 16 + 16 + 16 * 10 + 10)  # ends at 256 ch


def test_the_conv_stack_knobs_are_inactive_under_a_backbone():
    space = load_space(REPO / "spaces" / "transfer.py")
    searched_with_backbone = Config({"backbone": {"name": "vgg16"}}).canonical_params()
    assert "conv" in searched_with_backbone and searched_with_backbone["conv"] == {}
    assert "backbone.name" in space.searched() and "conv.depth" in space.searched()
    # a plain conv stack keeps the identity it had before backbones existed
    assert "backbone" not in Config({}).canonical_params()


def test_too_many_blocks_is_an_impossible_network():
    with pytest.raises(ImpossibleNetwork, match="backbone.blocks is 6, but vgg16 has 5 blocks"):
        plan_feature_maps(config("vgg16", blocks=6), (28, 28, 1))


def test_weights_from_a_file_it_wrote_itself(tmp_path):
    source = backbone.APPLICATIONS["mobilenet_v3_small"].build(
        include_top=False, weights=None, input_shape=(32, 32, 3))
    path = tmp_path / "mnv3.weights.h5"
    source.save_weights(path)
    model = build_model(config("mobilenet_v3_small", weights=str(path)), (8, 8, 1), 10)
    inner = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    for mine, theirs in zip(inner.get_weights(), source.get_weights()):
        np.testing.assert_array_equal(mine, theirs)


def moving_statistics(model: keras.Model) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(w) for w in model.get_layer("backbone").weights
            if "moving" in w.path]


@pytest.mark.slow
def test_a_pretrained_backbone_keeps_its_batch_norm_statistics_while_fine_tuning(tmp_path):
    """Keras' fine-tuning advice: batch norm in inference mode (moving statistics as loaded,
    gamma/beta frozen) while the convolutions of the trainable blocks learn; from scratch
    (``weights: none``) batch norm trains as usual."""
    from search.data.dataset import load_dataset
    from search.model.training import train

    source = backbone.APPLICATIONS["mobilenet_v3_small"].build(
        include_top=False, weights=None, input_shape=(32, 32, 3))
    for w in source.weights:  # statistics unlike the data's, as a source's would be
        if "moving" in w.path:
            w.assign(np.random.default_rng(0).uniform(0.5, 2.0, w.shape).astype("float32"))
    path = tmp_path / "mnv3.weights.h5"
    source.save_weights(path)
    data = load_dataset(TINY)
    for weights, trains_batch_norm in ((str(path), False), ("none", True)):
        tuned = config("mobilenet_v3_small", weights=weights, trainable_blocks=11)
        before = moving_statistics(build_model(tuned, data.input_shape, data.n_classes))
        model = train(tuned, data).model
        moved = max(np.abs(a - b).max() for a, b in zip(moving_statistics(model), before))
        assert bool(moved > 1e-6) is trains_batch_norm, (weights, moved)
        names = [v.path for v in backbone.backbone_variables(model)]
        assert any("kernel" in n for n in names)  # the convolutions fine-tune either way
        assert any("gamma" in n or "beta" in n for n in names) is trains_batch_norm
    tuned = config("mobilenet_v3_small", weights=str(path), trainable_blocks=11)
    build_model(tuned, data.input_shape, data.n_classes).save(tmp_path / "p.keras")
    loaded = keras.saving.load_model(tmp_path / "p.keras", compile=False)
    assert not any(layer.trainable for layer in loaded.get_layer("backbone").layers
                   if isinstance(layer, keras.layers.BatchNormalization))  # saved as it was


def test_a_missing_weights_file_and_unreachable_imagenet_weights_say_what_to_do(
        tmp_path, monkeypatch):
    with pytest.raises(SearchError, match="nowhere.weights.h5 is not a file; expected 'imagenet'"):
        build_model(config("vgg16", weights=str(tmp_path / "nowhere.weights.h5")), (8, 8, 1), 10)

    def offline(**kwargs):
        if kwargs.get("weights") == "imagenet":
            raise Exception("URL fetch failure on https://storage.googleapis.com/...: "
                            "[Errno -3] Temporary failure in name resolution")
        return keras.applications.VGG16(**kwargs)

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setitem(backbone.APPLICATIONS, "vgg16", dataclasses.replace(
        backbone.APPLICATIONS["vgg16"], build=offline))
    with pytest.raises(SearchError) as error:
        build_model(config("vgg16", weights="imagenet"), (8, 8, 1), 10)
    text = error.value.render()
    assert str(tmp_path / "keras" / "models" / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5") in text
    assert "Temporary failure in name resolution" in text
    assert "backbone.weights: /path/file.weights.h5" in text and "backbone.weights: none" in text


def test_grayscale_is_repeated_and_pixels_restored_for_caffe_preprocessing():
    model = build_model(config("vgg16"), (8, 8, 1), 10, value_range=(0.0, 1.0))
    names = [layer.name for layer in model.layers]
    assert names[1:5] == ["gray_to_rgb", "resize_to_backbone", "to_pixels", "imagenet_preprocess"]
    probe = keras.Model(model.input, model.get_layer("imagenet_preprocess").output)
    out = probe.predict(np.ones((1, 8, 8, 1), "float32"), verbose=0)
    assert out.shape == (1, 32, 32, 3)
    np.testing.assert_allclose(out[0, 0, 0], 255.0 - np.array(backbone.CaffePreprocess.MEANS),
                               rtol=1e-5)


@pytest.mark.slow
def test_run_and_ablate_with_a_backbone(tmp_path):
    space = write(tmp_path, "s.py", (
        "from search.knobs import Int\n"
        "SPACE = {'backbone': {'name': 'mobilenet_v3_small', 'weights': 'none',"
        " 'trainable_blocks': Int(0, 11)},"
        " 'head': {'layers': 0}, 'training': {'epochs': 1, 'batch_size': 32}}\n"
        "DATA = {'name': 'digits', 'limit': 120}\n"))
    run = subprocess.run([sys.executable, "-m", "search", "run", str(space), "--study", "b",
                          "--trials", "2", "--sampler", "random", "--pruner", "none"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("backbone.trainable_blocks=") >= 2  # both trials drew the backbone's knob
    write(tmp_path, "ab.yaml", (
        "study: ab\ndata: {name: digits, limit: 120}\nseeds: 2\npath_seeds: 1\ninteractions: 0\n"
        "baseline:\n  backbone: {name: mobilenet_v3_small, weights: none, trainable_blocks: 0}\n"
        "  head: {layers: 0}\n  training: {epochs: 1, batch_size: 32}\n"
        "reference:\n  backbone: {name: mobilenet_v3_small, weights: none, trainable_blocks: 11}\n"
        "  head: {layers: 0}\n  training: {epochs: 1, batch_size: 32}\n"))
    ablate = subprocess.run([sys.executable, "-m", "search", "ablate", "ab.yaml"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    assert ablate.returncode == 0, ablate.stderr
    assert "backbone" in ablate.stdout and "leave-one-out" in ablate.stdout


def test_a_mistyped_weights_value_is_refused_before_any_trial(tmp_path):
    space = load_space(write(tmp_path, "s.py", "from search.knobs import Choice\nSPACE = {"
                             "'backbone': {'name': 'vgg16', 'weights': Choice('imagenet', "
                             "'imagnet')}}\n"))
    with pytest.raises(SearchError, match="'backbone.weights' 'imagnet' is neither 'imagenet'"):
        backbone.check_weights(space)
