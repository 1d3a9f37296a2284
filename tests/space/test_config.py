from __future__ import annotations

import pytest

from conftest import REPO, write
from search.space.config import Config, write_yaml_atomic
from search.data.dataset import DataSpec
from search.errors import SearchError


def make_config() -> Config:
    return Config({"conv": {"depth": 2, "filters": [16, 32]}, "bn": {"enabled": True, "momentum": 0.9}},
                  DataSpec(name="digits", classes=((0,), (1, 2))), seed=7)


def test_yaml_round_trip_keeps_identity(tmp_path):
    config = make_config()
    path = tmp_path / "c.yaml"
    write_yaml_atomic(path, {**config.to_dict(), "result": {"val_accuracy": 0.9}})
    loaded, result = Config.from_yaml(path)
    assert loaded == config and loaded.digest() == config.digest()
    assert result == {"val_accuracy": 0.9}


def test_missing_knobs_read_as_baseline():
    config = make_config()
    assert config.get("conv", "kernel") == 3
    assert config.get("head", "units") == [128]  # one dense layer of the baseline width
    assert not config.enabled("dropout")


@pytest.mark.parametrize("text, message", [
    ("params: {conv: {depth: 'two'}}", "'params.conv.depth' must be an int in [1, 8]; got 'two'."),
    ("params: {conv: {filters: 32}}", "'params.conv.filters' must be a list of an int"),
    ("params: {bn: {enable: true}}", "unknown knob 'params.bn.enable'"),
    ("params: {}\nextra: 1", "unknown top-level key 'extra'"),
    ("params: {}\nseed: 1.5", "'seed' must be an int in [0, 2147483647]; got 1.5."),
    ("params: [1, 2]", "'params' must be a mapping of components"),
    ("params: {}\ndata: {name: nope}", "'data.name' must be one of"),
    ("- a\n- b", "expected a YAML mapping at the top; got list"),
    ("params: {conv: {depth: [}", "not valid YAML"),
    ("!!python/object/apply:os.system ['echo hi']", "not valid YAML"),
])
def test_bad_config_yaml(tmp_path, text, message):
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(SearchError) as info:
        Config.from_yaml(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_equal_models_have_equal_digests():
    spelled_out = Config({"conv": {"depth": 2, "filters": [32, 32], "kernel": 3},
                          "bn": {"enabled": False, "momentum": 0.5},  # inactive: BN is off
                          "optimizer": {"learning_rate": 1}}, DataSpec(name="digits"), seed=3)
    short = Config({"conv": {"depth": 2}, "optimizer": {"learning_rate": 1.0}},
                   DataSpec(name="digits"), seed=3)
    assert spelled_out.digest() == short.digest()
    assert short.with_knob("conv", "kernel", 5).digest() != short.digest()
    assert short.replace(seed=4).digest() != short.digest()
    assert short.with_knob("bn", "enabled", True).digest() != short.digest()


def test_the_ladders_top_rung_is_the_reference():
    from search.ablation.engine import with_component
    from search.commands.cli import build_parser
    from search.commands.ablation_request import ablation_request

    args = build_parser().parse_args(["ablate", str(REPO / "studies" / "fashion-ladder.yaml")])
    request = ablation_request(args)
    top = request.baseline
    for rung in request.options["ladder"]:
        top = with_component(top, request.reference, rung)
    assert top.digest() == request.reference.digest()


def test_digests_of_conv_stacks_are_those_stored_before_backbones_existed():
    """Stored studies resume only if their configs and spaces keep their identity."""
    from search.space.space import load_space

    assert Config({}).digest() == "16025aaedb8f"
    assert Config({"conv": {"depth": 3, "filters": [32, 64, 64]}, "bn": {"enabled": True}},
                  DataSpec(name="digits"), 3).digest() == "eb952266aa3d"
    assert load_space(REPO / "spaces" / "cnn.py").digest() == "d499654df0533d07"


def test_a_stored_config_keeping_an_unused_knob_exports_without_it(tmp_path):
    """Trials stored by an older version may carry a knob it kept although unused (lr_ratio with
    trainable_blocks 0): reading them back works, and best.yaml leaves the knob out."""
    import optuna
    import yaml

    from search.space.config import Config
    from search.study.lifecycle import best_yaml_content

    stored = {"params": {"optimizer": {"name": "adam", "learning_rate": 0.01, "momentum": 0.9},
                         "training": {"epochs": 1}}, "data": {"name": "digits"}, "seed": 3}
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    trial.set_user_attr("config", stored)
    study.tell(trial, 0.5)
    content = best_yaml_content(study, study.best_trial)
    assert content["params"]["optimizer"] == {"name": "adam", "learning_rate": 0.01}
    (tmp_path / "best.yaml").write_text(yaml.safe_dump(content))
    exported, _ = Config.from_yaml(tmp_path / "best.yaml")
    assert exported.digest() == Config.from_dict(stored, source="s", activity=False).digest()
