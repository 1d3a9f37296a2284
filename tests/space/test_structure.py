"""search/space/structure.py: knobs that can have no effect, and unknown components and knobs
reported in one wording with a "did you mean"."""

from __future__ import annotations

import pytest

from search.space.structure import ANY_VALUE, never_active, structure_problems


@pytest.mark.parametrize("params, found", [
    ({"bn": {"momentum": 0.5}},
     [("bn.momentum", "it applies only when bn.enabled in [True], and bn.enabled is False "
                      "(its baseline)")]),
    ({"conv": {"depth": 3}, "backbone": {"name": "vgg16"}},
     [("conv.depth", "it applies only when backbone.name in ['none'], and backbone.name is "
                     "'vgg16'")]),
    ({"backbone": {"name": "none", "lr_ratio": 0.1}},
     [("backbone.lr_ratio", "it applies only when backbone.trainable_blocks >= 1, and "
                            "backbone.trainable_blocks is itself inactive, as backbone.name is "
                            "'none'")]),
    ({"bn": {"enabled": True, "momentum": 0.5}}, []),
    ({"bn": {"enabled": ANY_VALUE, "momentum": 0.5}}, []),  # a searched switch may turn it on
])
def test_never_active_names_each_knob_that_can_have_no_effect_and_why(params, found):
    assert never_active(params) == found


def test_structure_problems_name_unknown_components_and_knobs():
    problems = structure_problems({"bnn": {}, "dropout": 3, "l2": {"factr": 1}, "bn": {}},
                                  prefix="params.")
    assert len(problems) == 3
    assert problems[0].startswith("unknown component 'params.bnn' (did you mean 'bn'?); "
                                  "allowed: backbone, conv, bn,")
    assert problems[1] == "'params.dropout' must be a mapping of knobs; got 3"
    assert problems[2] == ("unknown knob 'params.l2.factr' (did you mean 'factor'?); 'l2' has: "
                           "enabled, factor")
    assert structure_problems({"conv": {"depth": 2}}) == []
