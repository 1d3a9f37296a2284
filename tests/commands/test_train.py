"""search/commands/train.py: `train CONFIG.yaml` retrains a config and compares it with the
trial's stored score; `--refit` trains on train+validation, tests once and saves the model;
`--probe knn` adds the probe line. Scikit-learn digits, one epoch."""

from __future__ import annotations

import re
import subprocess
import sys

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


def _seed_rows(text: str) -> dict[int, float]:
    return {int(seed): float(score) for seed, score in
            re.findall(r"^│ (\d+)\s+│ (\d\.\d{4})\s+│", text, flags=re.M)}


def test_repeats_fuse_the_seeds_and_report_each_with_mean_and_sd(tmp_path):
    config = write(tmp_path, "best.yaml", CONFIG)
    fused = run(config, "--epochs", "2", "--repeats", "3")
    assert "fused: 3 seeds trained as one program" in fused
    rows = _seed_rows(fused)
    assert sorted(rows) == [1, 2, 3], fused  # the config's seed and the next two
    assert len(set(rows.values())) > 1  # three different models, not one copied
    scores = list(rows.values())
    mean = sum(scores) / 3
    sd = (sum((s - mean) ** 2 for s in scores) / 2) ** 0.5
    found = re.search(r"mean best val_accuracy over 3 seeds (\d\.\d{4}) ± (\d\.\d{4}) \(sd\); "
                      r"the search trial scored 0\.5000", fused)
    assert found, fused
    assert abs(float(found[1]) - mean) < 2e-4 and abs(float(found[2]) - sd) < 2e-4
    alone = run(config, "--epochs", "2", "--repeats", "3", "--no-fuse")
    assert "one seed after another (fusion was turned off)" in alone
    assert _seed_rows(alone) == rows  # each tower is the model its seed trains alone


def test_repeats_say_why_a_config_is_not_fused(tmp_path):
    plateau = CONFIG.replace("head: {layers: 0}", "head: {layers: 0}\n  schedule: {name: plateau}")
    text = run(write(tmp_path, "best.yaml", plateau), "--epochs", "1", "--repeats", "2")
    assert "one seed after another (the plateau schedule follows each seed's own" in text
    assert sorted(_seed_rows(text)) == [1, 2]


def test_repeats_refuse_refit_and_probe(tmp_path):
    config = write(tmp_path, "best.yaml", CONFIG)
    for flag in ("--refit", "--probe=knn"):
        done = subprocess.run([sys.executable, "-m", "search", "train", str(config), "--repeats",
                               "2", flag], capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stderr
        assert "--repeats 2: retrains and compares seeds on the validation split" in done.stderr
        assert "Traceback" not in done.stderr


def test_repeats_of_a_network_that_cannot_be_built_are_refused_by_name(tmp_path):
    impossible = CONFIG.replace("conv: {depth: 1, filters: [8]}",
                                "conv: {depth: 5, filters: [8, 8, 8, 8, 8], pooling: max}")
    config = write(tmp_path, "best.yaml", impossible)
    done = subprocess.run([sys.executable, "-m", "search", "train", str(config), "--repeats", "2"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert f"{config}: block" in done.stderr  # which file, and which block fails
