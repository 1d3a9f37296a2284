"""search/space/schema.py: the engine's vocabulary. Conditions (a sibling's value, another
component's, a numeric bound), a component's baseline and knob domains."""

from __future__ import annotations

from search.space.schema import AUGMENTATIONS, COMPONENTS, AtLeast, describe_when, knob_spec


def test_at_least_holds_numbers_from_its_bound_and_never_booleans():
    bound = AtLeast(1)
    assert 1 in bound and 2.5 in bound and 0 not in bound
    assert True not in bound and "3" not in bound
    assert describe_when(("trainable_blocks", bound)) == "trainable_blocks >= 1"
    assert describe_when(("name", ("sgd", "rmsprop"))) == "name in ['sgd', 'rmsprop']"


def test_a_knob_is_active_by_its_sibling_or_by_another_components_value():
    momentum = knob_spec("optimizer", "momentum")
    assert momentum.is_active({"name": "sgd"}) and not momentum.is_active({"name": "adam"})
    depth = knob_spec("conv", "depth")  # only without a backbone
    assert depth.is_active({}, {}) and depth.is_active({}, {"backbone": {"name": "none"}})
    assert not depth.is_active({}, {"backbone": {"name": "vgg16"}})
    assert knob_spec("training", "epochs").is_active({})  # unconditional


def test_a_components_baseline_is_its_defaults_with_inactive_knobs_left_out():
    assert COMPONENTS["bn"].baseline() == {"enabled": False}
    assert COMPONENTS["head"].baseline() == {"layers": 1, "units": [128]}  # one per layer
    assert COMPONENTS["schedule"].baseline() == {"name": "constant"}
    assert COMPONENTS["bn"].switchable and not COMPONENTS["head"].switchable
    assert set(AUGMENTATIONS) <= set(COMPONENTS) and "flip_h" in AUGMENTATIONS


def test_knob_domains_check_values_as_the_schema_declares():
    rate = knob_spec("dropout", "conv_rate")  # [0, 1)
    assert rate.accepts(0.0) and not rate.accepts(1.0)
    assert rate.allowed() == "a float in [0, 1)"
    assert knob_spec("conv", "kernel").problem("conv.kernel", 4) == \
        "'conv.kernel' must be one of 1, 3, 5, 7; got 4"
