"""search/commands/ablate.py: the plan made from flags and a definition (seeds, adaptive
seeding, defaults), the checks before anything trains, `ablate --plan` (counts, no training,
no ablation study created), and the command line shown in the report with passwords hidden."""

from __future__ import annotations

import optuna
import pytest
from rich.console import Console

from conftest import write
from search.commands.ablate import ablate, make_plan, shown_command
from search.commands.cli import build_parser
from search.errors import SearchError
from search.space.config import Config
from search.storage_url import StorageURL
from search.study.lifecycle import make_storage

REFERENCE = Config({"bn": {"enabled": True}, "dropout": {"enabled": True}})
BASELINE = Config({})
DEFINITION = ("study: abl\nreference:\n  bn: {enabled: true}\n  dropout: {enabled: true}\n"
              "  training: {epochs: 1}\ndata: {name: digits}\n")


def args(*argv):
    return build_parser().parse_args(["ablate", "abl", *map(str, argv)])


def plan_for(*argv, spec=None):
    spec = {"ladder": None, **(spec or {})}
    return make_plan(args(*argv), spec, "abl", REFERENCE, BASELINE, ["bn", "dropout"])


def test_fixed_seeds_with_the_defaults():
    plan = plan_for()
    assert len(plan.seeds) == 3 and len(set(plan.seeds)) == 3 and not plan.adaptive
    assert plan.seeds == plan_for().seeds  # derived from the study's name: stable
    assert plan.min_effect == 0.005 and plan.alpha == 0.05  # 0.5 accuracy points
    assert plan.interactions == 2  # three asked by default, but only two components
    assert len(plan.interaction_seeds) == 3 and not set(plan.interaction_seeds) & set(plan.seeds)
    four = plan_for("--seeds", "4", "--path-seeds", "1", spec={"alpha": 0.01, "min_effect": 1})
    assert len(four.seeds) == 4 and four.path_seeds == 1 and four.alpha == 0.01
    assert four.min_effect == 0.01  # from the definition, in points


def test_adaptive_seeds_take_their_bounds():
    plan = plan_for("--seeds", "auto", "--max-seeds", "6", "--max-runs", "100", "--max-time", "2h")
    assert plan.adaptive and len(plan.seeds) == 6 and plan.seeding().start == 3
    assert plan.max_runs == 100 and plan.max_seconds == 7200.0
    assert len(plan.interaction_seeds) == 3


def test_bounds_of_adaptive_seeding_are_refused_with_fixed_seeds():
    with pytest.raises(SearchError, match="use them with --seeds auto"):
        plan_for("--seeds", "3", "--max-runs", "50")


def test_plan_shows_the_runs_and_trains_nothing(tmp_path):
    definition = write(tmp_path, "abl.yaml", DEFINITION)
    console = Console(record=True, width=200)
    status = ablate(build_parser().parse_args(["ablate", str(definition), "--plan",
                                               "--studies-dir", str(tmp_path)]), console)
    text = console.export_text()
    assert status == 0
    assert "ablation of 'abl': 2 components; 3 seeds" in text
    # the views: reference, baseline and one of each (4 configs x 3 seeds); the interaction
    # of bn and dropout: 4 cells x 3 fresh seeds
    assert "leave-one-out     9 runs" in text and "interactions     12 runs" in text
    assert "24 distinct runs known now, 0 of them stored" in text and "24 to train" in text
    storage = make_storage(f"sqlite:///{tmp_path / 'abl' / 'study.db'}")
    assert optuna.get_all_study_summaries(storage) == []  # no ablation study was created
    assert not (tmp_path / "abl" / "ablation").exists()


@pytest.mark.parametrize("extra, message", [
    (["--components", "bn,l2"], "l2 do(es) not differ between the reference and the baseline"),
    (["--components", "bn,bn+dropout"], "bn appear(s) more than once"),
    (["--seeds", "auto", "--max-runs", "5"], "--max-runs 5: the first look alone needs 12 runs"),
])
def test_mistakes_are_refused_before_anything_trains(tmp_path, extra, message):
    definition = write(tmp_path, "abl.yaml", DEFINITION)
    with pytest.raises(SearchError) as caught:
        ablate(build_parser().parse_args(["ablate", str(definition), "--studies-dir",
                                          str(tmp_path), *extra]), Console(record=True))
    assert message in str(caught.value)


def test_the_shown_command_hides_every_storage_password():
    assert shown_command(["ablate", "cnn", "--storage", "postgresql://u:hunter2@h/db"]) == \
        "python -m search ablate cnn --storage 'postgresql://u:***@h/db'"
    assert "hunter2" not in shown_command(["ablate", "--storage=postgresql://u:hunter2@h/db"])
    assert "hun ter2" not in shown_command(["ablate", "--sto", "postgresql://u:hun ter2@h/db"])
    url = StorageURL("postgresql://u:s3cretpw@h/db")
    shown = shown_command(["ablate", "cnn", "--config", "s3cretpw.yaml"], url)
    assert "s3cretpw" not in shown and shown.startswith("python -m search ablate cnn --config")
    assert shown_command(["ablate", "my study"]) == "python -m search ablate 'my study'"
