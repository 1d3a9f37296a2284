"""search/ablation/configs.py: which components differ between a reference and a baseline,
and a config with one component (or an ``a+b`` group) taken from another config."""

from __future__ import annotations

from search.ablation.configs import changes_both_ways, differing_components, with_component
from search.space.config import Config

REFERENCE = Config({"bn": {"enabled": True, "momentum": 0.8}, "dropout": {"enabled": True},
                    "conv": {"depth": 3}, "l2": {"enabled": False},
                    "training": {"epochs": 3}}, seed=4)
BASELINE = Config({"training": {"epochs": 5}})


def test_differing_components_come_in_schema_order_without_training():
    assert differing_components(REFERENCE, BASELINE) == ["conv", "bn", "dropout"]
    assert differing_components(REFERENCE, BASELINE, exclude=()) == [
        "conv", "bn", "dropout", "training"]
    assert differing_components(REFERENCE, REFERENCE.replace(seed=9)) == []


def test_a_difference_only_in_knobs_inactive_on_both_sides_is_none():
    """Under a backbone the conv stack is not built: its depth changes no model."""
    deep = Config({"backbone": {"name": "vgg16"}, "conv": {"depth": 3}})
    shallow = Config({"backbone": {"name": "vgg16"}, "conv": {"depth": 1}})
    assert differing_components(deep, shallow) == []
    assert differing_components(deep, Config({"backbone": {"name": "resnet50"},
                                              "conv": {"depth": 1}})) == ["backbone"]


def test_a_component_that_changes_only_one_side_is_none():
    """Under the reference's backbone the baseline's conv stack is not built: taking it into
    the reference changes nothing, so leave-one-out would measure a variant against itself."""
    reference = Config({"backbone": {"name": "vgg16"}, "conv": {"depth": 1}})
    baseline = Config({"conv": {"depth": 3}})
    assert differing_components(reference, baseline) == ["backbone"]
    assert not changes_both_ways(reference, baseline, "conv")
    assert changes_both_ways(reference, baseline, "backbone")


def test_with_component_takes_the_active_knobs_of_one_component():
    swapped = with_component(BASELINE, REFERENCE, "bn")
    assert swapped.params["bn"] == {"enabled": True, "momentum": 0.8}
    assert swapped.params["training"] == {"epochs": 5}  # the rest is the target's
    off = with_component(REFERENCE, BASELINE, "bn")
    assert off.params["bn"] == {"enabled": False}  # momentum is inactive when bn is off
    assert off.seed == REFERENCE.seed and off.params["dropout"] == {"enabled": True}
    assert BASELINE.params == {"training": {"epochs": 5}}  # the target is left unchanged


def test_a_group_takes_every_component_it_names():
    both = with_component(BASELINE, REFERENCE, "bn+dropout")
    assert both.enabled("bn") and both.enabled("dropout")
    assert both.get("dropout", "conv_rate") == 0.25
    assert both.digest() == with_component(with_component(BASELINE, REFERENCE, "bn"), REFERENCE,
                                           "dropout").digest()
    everything = BASELINE
    for name in differing_components(REFERENCE, BASELINE, exclude=()):
        everything = with_component(everything, REFERENCE, name)
    assert everything.replace(seed=REFERENCE.seed).digest() == REFERENCE.digest()
