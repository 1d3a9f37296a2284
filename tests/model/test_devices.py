"""The backend option, the device line, and the warning when a GPU is left unused."""

from __future__ import annotations

import subprocess
import sys

import optuna
import pytest

from conftest import write

SPACE = ("SPACE = {'conv': {'depth': 1, 'filters': 4}, 'head': {'layers': 0}, "
         "'training': {'epochs': 1}}\nDATA = {'name': 'digits', 'limit': 300}\n")


def search(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "search", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=600, env=env)


def _fake_nvidia_smi(tmp_path) -> dict:
    """A machine with a GPU that the CPU build of the backend cannot see."""
    import os

    folder = tmp_path / "bin"
    folder.mkdir()
    tool = write(folder, "nvidia-smi", "#!/bin/sh\necho 'GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1)'\n")
    tool.chmod(0o755)
    return {**os.environ, "PATH": f"{folder}:{os.environ['PATH']}"}


@pytest.mark.slow
def test_run_says_which_backend_and_device_and_warns_about_an_unused_gpu(tmp_path):
    write(tmp_path, "s.py", SPACE)
    out = search("run", "s.py", "--trials", "1", "--backend", "jax", cwd=tmp_path,
                 env=_fake_nvidia_smi(tmp_path))
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    assert "Keras backend jax, training on the CPU" in text
    assert "this machine has 1 GPU(s) (GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1)), but the jax " \
           "backend sees none" in text and 'pip install -e ".[cuda]"' in text
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'studies/s/study.db'}")
    assert study.user_attrs["keras_backend"] == "jax"
    assert study.trials[0].state.name == "COMPLETE"


@pytest.mark.slow
def test_a_worker_follows_the_studys_backend_unless_told_otherwise(tmp_path):
    write(tmp_path, "s.py", SPACE)
    assert search("run", "s.py", "--trials", "1", "--backend", "torch", cwd=tmp_path).returncode == 0
    follows = search("worker", "s", "--trials", "2", cwd=tmp_path)
    assert follows.returncode == 0, follows.stderr
    assert "Keras backend torch, training on the CPU" in follows.stdout
    assert "warning" not in follows.stdout  # no GPU on this machine: nothing left unused
    told = search("worker", "s", "--trials", "3", "--backend", "tensorflow", cwd=tmp_path)
    assert told.returncode == 0, told.stderr
    assert "Keras backend tensorflow" in told.stdout


def test_a_bad_backend_is_refused_with_the_choices(tmp_path, capsys):
    from test_bad_input import run_cli

    err = run_cli(["train", "c.yaml", "--backend", "jaxx"], capsys, tmp_path)
    assert "'backend' must be one of 'tensorflow', 'jax', 'torch'; got 'jaxx' (did you mean 'jax'?)" in err
