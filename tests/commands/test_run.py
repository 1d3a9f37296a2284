"""search/commands/run.py: options the KerasTuner engine cannot honour are refused before
anything runs."""

from __future__ import annotations

import pytest
from rich.console import Console

from search.commands.run import run
from search.errors import SearchError
from verb_helpers import args


@pytest.mark.parametrize("extra, refused", [
    (["--sampler", "tpe"], "--sampler"), (["--processes", "2"], "--processes"),
    (["--tensorboard"], "--tensorboard"),
])
def test_the_keras_tuner_engine_refuses_the_optuna_options(tmp_path, tiny_space_file, extra,
                                                           refused):
    with pytest.raises(SearchError, match=f"does not take {refused}"):
        run(args("run", tiny_space_file, "--engine", "keras-tuner", "--studies-dir", tmp_path,
                 *extra), Console(record=True))
    assert not (tmp_path / "tiny").exists()
