"""search/commands/requests.py: what `run` is asked for, resolved from a space file or a study
definition plus flags (flags win), every problem reported together before anything trains;
the storage a command uses, and a missing study database refused."""

from __future__ import annotations

import pytest

from conftest import write
from search.commands.cli import build_parser
from search.commands.requests import load_existing_study, run_request, storage_for
from search.errors import SearchError


def args(*argv):
    return build_parser().parse_args([str(a) for a in argv])


def test_a_space_file_alone_names_the_study_and_takes_its_data(tmp_path, tiny_space_file):
    request = run_request(args("run", tiny_space_file, "--studies-dir", tmp_path / "studies",
                               "--trials", "3"))
    settings = request.settings
    assert settings.name == "tiny" and settings.data.name == "digits"
    assert (request.trials, request.timeout, request.file_keys) == (3, None, frozenset())
    assert settings.storage.secret() == f"sqlite:///{tmp_path / 'studies' / 'tiny' / 'study.db'}"
    assert (settings.sampler, settings.pruner, settings.seed) == ("tpe", "successive-halving", 0)
    assert "conv.depth" in settings.space.searched()
    assert not (tmp_path / "studies" / "tiny").exists()  # nothing created yet


def test_a_study_file_sets_the_study_and_flags_win_over_it(tmp_path, tiny_space_file):
    study = write(tmp_path, "study.yaml", f"space: {tiny_space_file}\nstudy: s1\ntrials: 4\n"
                  "timeout: 2m\nepochs: 1\nsampler: random\ndata: {limit: 300}\n")
    request = run_request(args("run", study, "--studies-dir", tmp_path, "--trials", "2",
                               "--seed", "7"))
    settings = request.settings
    assert settings.name == "s1" and settings.sampler == "random" and settings.seed == 7
    assert (request.trials, request.timeout) == (2, 120.0)  # --trials over the file's 4
    assert request.file_keys == {"space", "study", "trials", "timeout", "epochs", "sampler", "data"}
    assert settings.overrides == {"training.epochs": 1}
    assert settings.space.knobs["training"]["epochs"].value == 1
    assert settings.data.limit == 300 and settings.data.seed == 7


def test_every_problem_of_a_study_file_is_reported_together(tmp_path, tiny_space_file):
    study = write(tmp_path, "bad.yaml", f"space: {tiny_space_file}\ntrails: 4\nsampler: tpee\n"
                  "timeout: 0\n")
    with pytest.raises(SearchError) as caught:
        run_request(args("run", study, "--studies-dir", tmp_path))
    text = str(caught.value)
    assert "unknown key 'trails' (did you mean 'trials'?)" in text
    assert "'sampler' must be one of" in text and "(did you mean 'tpe'?)" in text
    assert "'timeout' must be a duration > 0" in text


def test_storage_comes_from_the_flag_then_the_environment_then_sqlite(tmp_path, monkeypatch):
    monkeypatch.delenv("SEARCH_STORAGE", raising=False)
    assert storage_for("s", None, tmp_path).secret() == f"sqlite:///{tmp_path / 's' / 'study.db'}"
    monkeypatch.setenv("SEARCH_STORAGE", str(tmp_path / "shared.log"))
    assert storage_for("s", None, tmp_path).secret() == str(tmp_path / "shared.log")
    given = f"sqlite:///{tmp_path / 'x.db'}"
    assert storage_for("s", given, tmp_path).secret() == given  # the flag wins
    monkeypatch.setenv("SEARCH_STORAGE", "nonsense")
    with pytest.raises(SearchError, match=r"environment: '\$SEARCH_STORAGE' must be"):
        storage_for("s", None, tmp_path)
    with pytest.raises(SearchError, match="no study database at"):
        load_existing_study("s", f"sqlite:///{tmp_path / 'absent.db'}", tmp_path)
