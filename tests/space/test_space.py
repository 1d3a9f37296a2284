from __future__ import annotations

import json
import optuna
import pytest

from conftest import REPO, write
from search.errors import SearchError
from search.space.space import Space, load_space


def test_default_space_covers_every_component_and_loads():
    space = load_space(REPO / "spaces" / "cnn.py")
    searched = {key.split(".")[0] for key in space.searched()}
    for component in ("conv", "bn", "dropout", "l1", "l2", "head", "flip_h", "flip_v", "rotation",
                      "zoom", "shear", "translation", "crop", "cutout", "noise", "elastic",
                      "optimizer", "schedule", "training"):
        assert component in searched
    assert space.data["name"] == "fashion_mnist"


def test_all_problems_are_reported_at_once_with_file_key_and_allowed(tmp_path):
    path = write(tmp_path, "bad.py", """
from search.knobs import Float, Int, Choice
SPACE = {
    "dropout": {"conv_rate": Float(0.0, 1.5)},
    "conv": {"depht": Int(1, 3), "kernel": Choice(3, 4)},
    "optimizer": {"learning_rate": Float(0.0, 0.1, log=True)},
    "augment": {},
}
""")
    with pytest.raises(SearchError) as info:
        load_space(path)
    text = str(info.value)
    assert f"{path}: 'dropout.conv_rate' must be a float in [0, 1); got 1.5." in text
    assert "unknown knob 'conv.depht' (did you mean 'depth'?)" in text
    assert "unknown component 'augment'" in text
    assert "problems:" in text


def test_value_problems_name_key_and_domain(tmp_path):
    path = write(tmp_path, "bad.py", """
from search.knobs import Float, Choice
SPACE = {"conv": {"kernel": Choice(3, 4), "padding": "full"},
         "optimizer": {"learning_rate": Float(0.0, 0.1, log=True)}}
""")
    with pytest.raises(SearchError) as info:
        load_space(path)
    text = str(info.value)
    assert "'conv.kernel' must be one of 1, 3, 5, 7; got 4." in text
    assert "'conv.padding' must be one of 'same', 'valid'; got 'full'." in text
    assert "'optimizer.learning_rate': log=True needs low > 0; got low=0.0." in text


@pytest.mark.parametrize("text, message", [
    ("SPACE = {", "syntax error"),
    ("x = 1", "defines no SPACE"),
    ("SPACE = [1]", "SPACE must be a dict of components; got list"),
    ("raise ValueError('boom')", "ValueError: boom"),
])
def test_broken_space_files(tmp_path, text, message):
    with pytest.raises(SearchError, match=message):
        load_space(write(tmp_path, "s.py", text))


def test_missing_space_file(tmp_path):
    with pytest.raises(SearchError, match="space file not found"):
        load_space(tmp_path / "nope.py")


def test_sampling_respects_conditions_and_per_block_knobs(tiny_space_file):
    space = load_space(tiny_space_file)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        trial = study.ask()
        params = space.sample(trial)
        assert len(params["conv"]["filters"]) == params["conv"]["depth"]
        assert len(params["head"]["units"]) == params["head"]["layers"]
        assert ("momentum" in params["bn"]) == params["bn"]["enabled"]
        assert "conv_rate" not in params["dropout"]  # dropout stays off: not in this space
        study.tell(trial, 0.0)


def test_digest_changes_with_the_space_and_overrides(tiny_space_file):
    space = load_space(tiny_space_file)
    assert space.digest() == load_space(tiny_space_file).digest()
    assert space.with_fixed({"training.epochs": 3}).digest() != space.digest()


def test_grid_needs_finite_knobs(tiny_space_file):
    with pytest.raises(SearchError, match="has no finite grid"):
        load_space(tiny_space_file).grid()


def test_grid_has_one_axis_per_block_the_space_can_have():
    from search.knobs import Choice

    space = Space.of({"conv": {"depth": Choice(1, 2), "filters": Choice(8, 16)},
                      "head": {"layers": 1, "units": Choice(32, 64)}})
    grid = space.grid()
    assert sorted(grid) == ["conv.depth", "conv.filters.0", "conv.filters.1", "head.units.0"]
    assert len(grid["conv.filters.1"]) == 2


def test_a_space_round_trips_through_its_stored_json():
    from search.knobs import Choice, Float, Int
    from search.space.space import space_from_json

    space = Space.of({"conv": {"depth": Int(1, 3), "filters": [8, 16], "kernel": Choice(3, 5)},
                      "optimizer": {"learning_rate": Float(1e-4, 1e-2, log=True)}})
    again = space_from_json(json.loads(json.dumps(space.to_json())), source="stored")
    assert again.knobs == space.knobs and again.digest() == space.digest()


def test_a_knob_is_refused_only_when_no_trial_could_use_it():
    """A searched switch may activate its knobs; a fixed one (or its baseline) that rules them
    out would leave them silently ignored, so the space is refused."""
    from search.errors import SearchError
    from search.knobs import Choice, Float

    Space.of({"optimizer": {"name": Choice("adam", "sgd"), "momentum": Float(0.5, 0.9)}})
    Space.of({"backbone": {"name": Choice("none", "vgg16")}, "conv": {"depth": 3}})
    with pytest.raises(SearchError) as error:
        Space.of({"optimizer": {"name": "adamw", "momentum": Float(0.5, 0.9)},
                  "dropout": {"conv_rate": 0.2}})
    text = error.value.render()
    assert "'optimizer.momentum' has no effect: it applies only when optimizer.name in " \
           "['sgd', 'rmsprop'], and optimizer.name is 'adamw'" in text
    assert "'dropout.conv_rate' has no effect" in text and "dropout.enabled is False" in text
    with pytest.raises(SearchError) as error:  # a misspelt switch: its own problem, nothing more
        Space.of({"optimizer": {"name": "sgdd", "momentum": 0.5}})
    assert "did you mean 'sgd'" in error.value.render()
    assert "has no effect" not in error.value.render()
