"""The CLI as a user runs it: subprocesses, exit codes, messages, files written."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from conftest import REPO, requires_fashion, write


def search(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "search", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


def test_space_command_prints_the_table(tmp_path):
    out = search("space", str(REPO / "spaces" / "cnn.py"), cwd=tmp_path)
    assert out.returncode == 0
    assert "searched knobs" in out.stdout and "momentum" in out.stdout
    text = " ".join(out.stdout.split())
    assert "tried first: the 3 WARM_START entries. With --no-warm-start, TPE, GP and CMA-ES try " \
           "the baseline model, every knob at its default: conv.depth=2, conv.filters=[32, 32]," \
           in text


@pytest.mark.parametrize("args, message", [
    (["space", "missing.py"], "missing.py: space file not found."),
    (["run", "missing.py"], "missing.py: space file not found."),
    (["train", "none.yaml"], "none.yaml: file not found."),
    (["export", "nostudy"], "no study database at studies/nostudy/study.db"),
    (["run", "SPACE", "--storage", "redis://u:pw@host/0"], "'storage' must be an Optuna storage "
                                                           "URL; got 'redis://u:***@host/0'"),
    (["run", "SPACE", "--data", "cifar10", "--data-dir", "nowhere"], "data set 'cifar10' not found"),
])
def test_bad_input_gives_one_clear_line_and_exit_2(tmp_path, tiny_space_file, args, message):
    args = [str(tiny_space_file) if a == "SPACE" else a for a in args]
    out = search(*args, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr
    assert "Traceback" not in out.stderr and "pw@" not in out.stderr


@pytest.mark.parametrize("args, message", [
    (["run", "s.py", "--timeout", "soon"], "'timeout' must be a duration > 0"),
    (["run", "s.py", "--trials", "0"], "'trials' must be an int in [1, 1000000000]; got 0"),
    (["run", "s.py", "--sampler", "bayes"], "'sampler' must be one of 'tpe', 'tpe-local', 'random'"),
])
def test_bad_arguments_are_rejected_by_the_parser(tmp_path, args, message):
    out = search(*args, cwd=tmp_path)
    assert out.returncode == 2 and message in out.stderr


@pytest.mark.slow
def test_run_export_train_on_digits_end_to_end(tmp_path, tiny_space_file):
    out = search("run", str(tiny_space_file), "--study", "d", "--trials", "3", "--pruner", "none",
                 "--tensorboard", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "top" in out.stdout and "best config: studies/d/best.yaml" in out.stdout
    events = list((tmp_path / "studies/d/tensorboard").glob("trial-*/**/events.out.tfevents.*"))
    assert len({e.relative_to(tmp_path / "studies/d/tensorboard").parts[0] for e in events}) == 3

    out = search("status", "d", cwd=tmp_path)
    assert out.returncode == 0 and "COMPLETE" in out.stdout and "best val_accuracy" in out.stdout
    best = yaml.safe_load((tmp_path / "studies/d/best.yaml").read_text())

    out = search("export", "d", "--top", "2", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    exported = sorted(p.name for p in (tmp_path / "studies/d/export").iterdir())
    assert exported[-1] == "trials.csv" and len(exported) == 3

    out = search("train", "studies/d/best.yaml", "--probe", "knn", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    retrained = float(out.stdout.split("best val_accuracy ")[1].split()[0])
    assert abs(retrained - best["result"]["val_accuracy"]) <= 0.01
    probe = " ".join(out.stdout.split()).split("kNN probe (k=5")[1]
    assert float(probe.split("validation accuracy ")[1].split()[0]) > 0.5

    out = search("train", "studies/d/best.yaml", "--refit", "--probe", "knn", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "test accuracy" in out.stdout and (tmp_path / "studies/d/best.keras").is_file()
    assert "kNN probe" in out.stdout and "test accuracy" in out.stdout.split("kNN probe")[1]
    tested = yaml.safe_load((tmp_path / "studies/d/best.test.yaml").read_text())
    assert tested["accuracy"] > 0.5 and len(tested["per_class"]) == 10

    optuna_cli = subprocess.run([sys.executable, "-c", "from optuna.cli import main; main()", "trials", "--study-name", "d",
                                 "--storage", "sqlite:///studies/d/study.db", "-f", "yaml"],
                                cwd=tmp_path, capture_output=True, text=True)
    assert optuna_cli.returncode == 0, optuna_cli.stderr
    assert optuna_cli.stdout.count("number:") == 3


@pytest.mark.slow
@requires_fashion
def test_fashion_mnist_study_from_a_study_file(tmp_path, tiny_space_file):
    study_file = write(tmp_path, "fm3.yaml", f"""
space: {tiny_space_file}
study: fm3
data: {{name: fashion_mnist, limit: 1200, classes: fashion3}}
trials: 2
sampler: random
""")
    out = search("run", str(study_file), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    best = yaml.safe_load((tmp_path / "studies/fm3/best.yaml").read_text())
    assert best["data"]["class_names"] == ["Top", "Bottom", "Accessories"]
    assert best["result"]["val_accuracy"] > 0.6

    out = search("run", str(study_file), "--trials", "3", cwd=tmp_path)  # resume
    assert out.returncode == 0 and "2 trials so far; running 1 more" in out.stdout

    out = search("run", str(study_file), "--classes", "0,1", cwd=tmp_path)
    assert out.returncode == 2 and "different setup" in out.stderr


def test_study_file_with_unknown_key(tmp_path):
    path = write(tmp_path, "s.yaml", "space: spaces/cnn.py\ntrails: 3\n")
    out = search("run", str(path), cwd=tmp_path)
    assert out.returncode == 2 and "unknown key 'trails'" in out.stderr


@pytest.mark.slow
def test_keras_tuner_engine_uses_the_same_space_and_writes_best_yaml(tmp_path, tiny_space_file):
    out = search("run", str(tiny_space_file), "--engine", "keras-tuner", "--study", "kt",
                 "--trials", "3", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    best = yaml.safe_load((tmp_path / "studies/kt/best.yaml").read_text())
    assert best["result"]["engine"] == "keras-tuner" and best["result"]["val_accuracy"] > 0.2
    assert isinstance(best["params"]["bn"]["enabled"], bool)
    out = search("train", "studies/kt/best.yaml", cwd=tmp_path)
    assert out.returncode == 0, out.stderr


@pytest.mark.slow
def test_ablate_a_real_study_and_resume_without_retraining(tmp_path, tiny_space_file):
    out = search("run", str(tiny_space_file), "--study", "a", "--trials", "5", "--pruner", "none",
                 "--sampler", "random", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    plan = search("ablate", "a", "--seeds", "2", "--plan", cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr
    assert "distinct runs known now, 0 of them stored" in " ".join(plan.stdout.split())
    assert "s per run (measured in this study)" in plan.stdout  # ETA from the search's trials
    import optuna

    with pytest.raises(KeyError):  # --plan created nothing
        optuna.load_study(study_name="a.ablation", storage=f"sqlite:///{tmp_path / 'studies/a/study.db'}")
    first = search("ablate", "a", "--seeds", "2", "--path-seeds", "1", "--interactions", "2",
                   cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "leave-one-out" in first.stdout and "add-one-in" in first.stdout
    assert "fused: 2 seeds trained as one program" in " ".join(first.stdout.split())
    for name in ("report.md", "runs.csv", "deltas.png", "path.png"):
        assert (tmp_path / "studies/a/ablation" / name).stat().st_size > 0
    report = (tmp_path / "studies/a/ablation/report.md").read_text()
    assert "PED-ANOVA" in report and "complete trials" in report and "p (Holm)" in report

    def ablation_runs() -> int:
        return len(optuna.load_study(study_name="a.ablation", storage="sqlite:///" + str(
            tmp_path / "studies/a/study.db")).trials)

    trained = ablation_runs()
    again = search("ablate", "a", "--seeds", "2", "--path-seeds", "1", "--interactions", "2",
                   cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"{trained} runs already stored" in " ".join(again.stdout.split())
    assert ablation_runs() == trained  # the second pass trained nothing new


@pytest.mark.slow
def test_a_search_with_no_warm_start_trains_the_spaces_baseline_model_first(tmp_path,
                                                                             tiny_space_file):
    import optuna

    out = search("run", str(tiny_space_file), "--study", "b", "--trials", "2", "--pruner", "none",
                 cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "tries the space's baseline model (every knob at its default) before its sampler's " \
           "picks, once per study" in " ".join(out.stdout.split())
    study = optuna.load_study(study_name="b", storage=f"sqlite:///{tmp_path / 'studies/b/study.db'}")
    first, second = study.trials
    # the defaults (2 blocks of 32 filters, a 1-layer head, Adam at 1e-3, no batch norm), with
    # 32 filters moved to the nearest the space allows
    assert first.params == {"conv.depth": 2, "conv.filters.0": 16, "conv.filters.1": 16,
                            "bn.enabled": False, "head.layers": 1,
                            "optimizer.learning_rate": 1e-3}
    assert first.user_attrs["warm_start"].startswith("the space's baseline model")
    assert "warm_start" not in second.user_attrs and first.state.name == "COMPLETE"
    out = search("run", str(tiny_space_file), "--study", "n", "--trials", "1", "--pruner", "none",
                 "--no-baseline", "--seed", "3", cwd=tmp_path)
    assert out.returncode == 0 and "baseline" not in out.stdout
