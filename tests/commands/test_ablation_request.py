"""search/commands/ablation_request.py: what `ablate` is asked for, resolved from an ablation
definition plus flags (reference, baseline, storage and options), unknown keys and components
refused together with a "did you mean"."""

from __future__ import annotations

import pytest

from conftest import write
from search.commands.ablation_request import ablation_request
from search.commands.cli import build_parser
from search.errors import SearchError


def args(*argv):
    return build_parser().parse_args([str(a) for a in argv])


def test_an_ablation_definition_gives_reference_baseline_and_options(tmp_path):
    definition = write(tmp_path, "ablate.yaml", "study: abl\nreference:\n  bn: {enabled: true}\n"
                       "  dropout: {enabled: true}\n  training: {epochs: 4}\n"
                       "data: {name: digits}\ncomponents: [bn, dropout]\nseeds: 2\n")
    request = ablation_request(
        args("ablate", definition, "--studies-dir", tmp_path, "--epochs", "2"))
    reference, baseline, spec = request.reference, request.baseline, request.options
    assert request.study == "abl" and request.storage.secret() == f"sqlite:///{tmp_path / 'abl' / 'study.db'}"
    assert reference.enabled("bn") and reference.data.name == "digits"
    assert not baseline.enabled("bn") and not baseline.enabled("dropout")
    assert reference.get("training", "epochs") == baseline.get("training", "epochs") == 2
    assert spec["components"] == ["bn", "dropout"] and spec["seeds"] == 2


def test_an_ablation_definition_with_unknown_components_is_refused(tmp_path):
    definition = write(tmp_path, "ablate.yaml", "study: abl\nreference: {bn: {enabled: true}}\n"
                       "components: [bn, dropuot]\nlader: [bn]\n")
    with pytest.raises(SearchError) as caught:
        ablation_request(args("ablate", definition, "--studies-dir", tmp_path))
    text = str(caught.value)
    assert "unknown component 'dropuot' (did you mean 'dropout'?)" in text
    assert "unknown key 'lader' (did you mean 'ladder'?)" in text
    with pytest.raises(SearchError, match="--components: unknown component 'bm'"):
        ablation_request(args("ablate", write(tmp_path, "ok.yaml", "study: abl\nreference: {}\n"),
                              "--studies-dir", tmp_path, "--components", "bm"))
