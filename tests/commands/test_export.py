"""search/commands/export.py: the top configs as YAML, best first, and every trial as CSV."""

from __future__ import annotations

import csv

from rich.console import Console

from search.commands.export import export
from search.yaml_files import read_yaml
from verb_helpers import args, make_study


def test_export_writes_the_top_configs_best_first_and_every_trial(tmp_path):
    make_study(tmp_path)
    out = tmp_path / "export"
    assert export(args("export", "s", "--studies-dir", tmp_path, "--top", "1", "--out", out),
                  Console(record=True)) == 0
    assert sorted(p.name for p in out.iterdir()) == ["top01-trial1.yaml", "trials.csv"]
    best = read_yaml(out / "top01-trial1.yaml")
    assert best["params"]["conv"]["depth"] == 2 and best["result"]["val_accuracy"] == 0.93
    assert best["result"]["epochs_trained"] == 3 and best["study"] == "s"
    with open(out / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["state"] for r in rows] == ["COMPLETE", "COMPLETE", "PRUNED"]
