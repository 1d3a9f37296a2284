"""What the verb tests share: parsed arguments, a renderable as text, and a small stored study
(two complete trials and a pruned one) built without training."""

from __future__ import annotations

import optuna
from optuna.distributions import IntDistribution
from rich.console import Console

from search.commands.cli import build_parser
from search.data.dataset import DataSpec
from search.space.config import Config
from search.study.lifecycle import default_storage, make_storage


def args(*argv):
    return build_parser().parse_args([str(a) for a in argv])


def text_of(renderable) -> str:
    console = Console(record=True, width=250)
    console.print(renderable)
    return console.export_text()


def make_study(root) -> optuna.Study:
    storage = make_storage(default_storage("s", root))
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    study.set_user_attr("keras_backend", "tensorflow")
    for depth, value in ((1, 0.81), (2, 0.93)):
        config = Config({"conv": {"depth": depth, "filters": [8] * depth}}, DataSpec(name="digits"))
        study.add_trial(optuna.trial.create_trial(
            params={"conv.depth": depth}, distributions={"conv.depth": IntDistribution(1, 2)},
            value=value, user_attrs={"config": config.to_dict(), "best_epoch": 2,
                                     "history": [{"val_accuracy": value}] * 3,
                                     "params_count": 1000 * depth, "seconds_per_epoch": 0.5}))
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.PRUNED))
    return study

