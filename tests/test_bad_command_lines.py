"""Every malformed command line gets one clear message and exit status 2: never a traceback.

Each row: the arguments, and a fragment the message must contain. Rows reuse ``run_cli``
from tests/test_bad_input.py (no password leaked, nothing written outside the study's folder).
"""

from __future__ import annotations

import pytest

from test_bad_input import OK_SPACE, run_cli


ARG_CASES = [
    (["run", "SPACE", "--timeout", "soon"], "'timeout' must be a duration > 0"),
    (["run", "SPACE", "--timeout", "0"], "a time limit must be more than zero"),
    (["run", "SPACE", "--timeout", "0m"], "a time limit must be more than zero"),
    (["worker", "s", "--timeout", "0"], "a time limit must be more than zero"),
    (["run", "SPACE", "--trials", "0"], "'trials' must be an int in [1, 1000000000]; got 0"),
    (["run", "SPACE", "--trials", "many"], "'many' is not an integer"),
    (["run", "SPACE", "--sampler", "bayes"], "'sampler' must be one of 'tpe', 'tpe-local', 'random'"),
    (["run", "SPACE", "--sampler", "randm"], "(did you mean 'random'?)"),
    (["run", "SPACE", "--pruner", "asha"], "'pruner' must be one of 'hyperband'"),
    (["run", "SPACE", "--engine", "kerastuner"], "(did you mean 'keras-tuner'?)"),
    (["run", "SPACE", "--classes", "0,x"], "is not a class list"),
    (["run", "SPACE", "--limit", "5"], "'limit' must be an int in [20, 1000000000]; got 5"),
    (["run", "SPACE", "--val-fraction", "2"], "'val_fraction' must be a float in (0, 1); got 2.0"),
    (["run", "SPACE", "--val-fraction", "0"], "'val_fraction' must be a float in (0, 1); got 0.0"),
    (["run", "SPACE", "--val-fraction", "half"], "'half' is not a number"),
    (["run", "SPACE", "--data", "imagenet"], "'data' must be one of 'fashion_mnist'"),
    (["run", "SPACE", "--normalize", "minmax"], "'normalize' must be one of 'scale'"),
    (["run", "SPACE", "--epochs", "0"], "'epochs' must be an int in [1, 1000]; got 0"),
    (["run", "SPACE", "--epochs", "5000"], "'epochs' must be an int in [1, 1000]; got 5000"),
    (["run", "SPACE", "--seed", "-1"], "'seed' must be an int in [0, 2147483647]; got -1"),
    (["run", "SPACE", "--max-params", "0"], "'max_params' must be an int in [1, 1000000000000]; got 0"),
    (["run", "SPACE", "--storage", "redis://u:hunter2@h/0"], "'storage' must be an Optuna storage URL; got 'redis://u:***@h/0'"),
    (["run", "SPACE", "--storage", "postgresql://u:hunter2@127.0.0.1:1/db"],
     "storage postgresql://u:***@127.0.0.1:1/db: cannot open"),
    (["run", "GRIDSPACE", "--sampler", "grid"], "has no finite grid"),
    (["run", "SPACE", "--data", "fashion_mnist", "--classes", "0,99"], "names label(s) [99]"),
    (["run", "SPACE", "--class-names", "a,b"], "data.class_names has 2 names, but digits"),
    (["run", "SPACE", "--study", "../escape"], "'study' must be a study name; got '../escape'"),
    (["run", "SPACE", "--study", "a/b"], "'study' must be a study name; got 'a/b'"),
    (["run", "SPACE", "--study", "/tmp/abs"], "'study' must be a study name"),
    (["run", "SPACE", "--study", "x" * 101], "at most 100 characters"),
    (["run", "BADNAME"], "is not usable as a folder name"),
    (["run", "SPACE", "--processes", "0"], "'processes' must be an int in [1, 256]; got 0"),
    (["run", "SPACE", "--gpus", "a,b"], "'gpus' must be a list of GPU ids; got 'a,b'"),
    (["run", "SPACE", "--gpus", "0,0"], "'gpus' must be a list of GPU ids; got '0,0'"),
    (["run", "SPACE", "--gpus", ""], "'gpus' must be a list of GPU ids"),
    (["run", "SPACE", "--processes", "2"], "2 worker processes cannot share the SQLite study"),
    (["run", "SPACE", "--jit", "fast"], "'jit' must be one of 'auto', 'on', 'off'; got 'fast'"),
    (["run", "SPACE", "--data-placement", "gpu"], "'data_placement' must be one of 'auto', 'device'"),
    (["run", "SPACE", "--steps-per-execution", "0"], "'steps_per_execution' must be an int in [1, 10000]"),
    (["run", "SPACE", "--engine", "keras-tuner", "--processes", "2"], "does not take --processes"),
    (["run", "SPACE", "--engine", "keras-tuner", "--timeout", "1h", "--pruner", "median"],
     "--engine keras-tuner does not take --pruner"),
    (["run", "SPACE", "--limit", "5000"], "data.limit is 5000, but digits (sklearn.datasets.load_digits) has only 1437"),
    (["run", "SPACE", "--max-failures", "-1"], "'max_failures' must be an int in [0, 1000000000]; got -1"),
    (["run", "nothere.py"], "nothere.py: space file not found."),
    (["run", "nothere.yaml"], "nothere.yaml: file not found."),
    (["export", "nostudy"], "no study database at studies/nostudy/study.db"),
    (["export", "nostudy", "--top", "0"], "'top' must be an int in [1, 1000000000]; got 0"),
    (["export", "../up"], "'study' must be a study name; got '../up'"),
    (["report", "a/../../b"], "'study' must be a study name"),
    (["status", "."], "'study' must be a study name; got '.'"),
    (["ablate", "nostudy"], "no study database at studies/nostudy/study.db"),
    (["ablate", "../x"], "study name '../x' must be letters, digits"),
    (["ablate", "nostudy", "--seeds", "1"], "'seeds' must be an integer in [2, 100] or 'auto'; got '1'"),
    (["ablate", "nostudy", "--seeds", "many"], "'seeds' must be an integer in [2, 100] or 'auto'"),
    (["ablate", "nostudy", "--min-effect", "-1"], "'min_effect' must be a float in [0, 100]; got -1.0"),
    (["ablate", "nostudy", "--interactions", "9"], "'interactions' must be an int in [0, 8]; got 9"),
    (["ablate", "nostudy", "--seeds", "auto", "--max-time", "0"], "'max_time' must be a duration > 0"),
    (["ablate", "nostudy", "--components", "bn,dropuot"], "unknown component 'dropuot' (did you mean 'dropout'?)"),
    (["ablate", "nostudy", "--ladder", "nothing"], "--ladder: unknown component 'nothing'"),
    (["worker", "nostudy"], "no study database at studies/nostudy/study.db"),
    (["worker", "../../etc"], "'study' must be a study name"),
    (["worker", "s", "--storage", "mongodb://u:hunter2@h"], "'storage' must be an Optuna storage URL"),
    (["status", "s", "--storage", "x.sqlite"], "'storage' must be an Optuna storage URL; got 'x.sqlite'"),
    (["worker", "s", "--processes", "-3"], "'processes' must be an int in [1, 256]; got -3"),
    (["train", "nothere.yaml"], "nothere.yaml: file not found."),
    (["train", "c.yaml", "--epochs", "0"], "'epochs' must be an int in [1, 1000]; got 0"),
    (["space", "nothere.py"], "nothere.py: space file not found."),
    (["bogus"], "invalid choice: 'bogus'"),
]


@pytest.mark.parametrize("argv, message", ARG_CASES)
def test_bad_command_lines(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ok.py").write_text(OK_SPACE)
    (tmp_path / "bad name.py").write_text(OK_SPACE)
    (tmp_path / "grid.py").write_text("from search.knobs import Float\nSPACE = {'optimizer': "
                                      "{'learning_rate': Float(1e-3, 1e-2)}}\nDATA = {'name': 'digits'}\n")
    names = {"SPACE": "ok.py", "GRIDSPACE": "grid.py", "BADNAME": "bad name.py"}
    assert message in run_cli([names.get(a, a) for a in argv], capsys, tmp_path)
