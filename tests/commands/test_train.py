"""search/commands/train.py: `train CONFIG.yaml` retrains a config and compares it with the
trial's stored score; `--refit` trains on train+validation, tests once and saves the model;
`--probe knn` adds the probe line. Scikit-learn digits, one epoch."""

from __future__ import annotations

import re

from rich.console import Console

from conftest import write
from search.commands.cli import build_parser
from search.commands.train import train
from search.yaml_files import read_yaml

CONFIG = """params:
  conv: {depth: 1, filters: [8]}
  head: {layers: 0}
  training: {epochs: 3}
data: {name: digits}
seed: 1
result: {trial: 4, val_accuracy: 0.5, best_epoch: 1}
"""


def run(*argv) -> str:
    console = Console(record=True, width=300)
    assert train(build_parser().parse_args(["train", *map(str, argv)]), console) == 0
    return console.export_text()


def test_a_retrain_is_compared_with_the_trials_stored_score(tmp_path):
    config = write(tmp_path, "best.yaml", CONFIG)
    text = run(config, "--epochs", "1", "--probe", "knn")
    found = re.search(r"retrained: best val_accuracy (\d\.\d{4}) at epoch 1 \(the search trial "
                      r"scored 0\.5000; difference ([-+]\d\.\d{4})\)", text)
    assert found, text
    assert abs(float(found[1]) - 0.5 - float(found[2])) < 1e-3
    assert re.search(r"kNN probe \(k=\d+, penultimate layer, \d+ reference images\): validation "
                     r"accuracy \d\.\d{4} \(softmax head \d\.\d{4}", text)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.yaml"]  # a retrain saves nothing


def test_a_refit_tests_once_and_saves_the_model_and_its_scores(tmp_path):
    config = write(tmp_path, "best.yaml", CONFIG)
    model = tmp_path / "out" / "model.keras"
    model.parent.mkdir()
    text = run(config, "--refit", "--output", model)
    assert model.is_file() and f"model saved to {model}" in text
    assert re.search(r"test accuracy \d\.\d{4}", text)
    caption = " ".join(text.split())  # the table's caption wraps to its width
    assert "360 test images; refit on train+validation for 1 epochs" in caption  # best_epoch
    scores = read_yaml(model.with_suffix(".test.yaml"))
    assert scores["trial"] == 4 and scores["epochs"] == 1
    assert set(scores["per_class"]) == {str(i) for i in range(10)}
    assert f"test accuracy {scores['accuracy']:.4f}" in text
