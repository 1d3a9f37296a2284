"""Which Keras backend trains, on which device, and whether a GPU is being left unused.

A user who installs the CPU build of TensorFlow on a CUDA machine would otherwise
train on the CPU without being told: ``run`` prints the backend and device at
start and warns when the system has a GPU that the backend does not see.
"""

from __future__ import annotations

import shutil
import subprocess

__all__ = ["BACKENDS", "system_gpus", "backend_accelerators", "device_report"]

BACKENDS = ("tensorflow", "jax", "torch")


def system_gpus() -> list[str]:
    """The machine's NVIDIA GPUs as ``nvidia-smi -L`` names them (none without the driver)."""
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return []
    try:
        listing = subprocess.run([tool, "-L"], capture_output=True, text=True, timeout=15).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in listing.splitlines() if line.startswith("GPU ")]


def backend_accelerators() -> list[str]:
    """The GPUs (or TPUs) the current Keras backend can use."""
    import keras

    if keras.backend.backend() == "torch":  # Keras' device listing does not cover PyTorch
        import torch

        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return [d for d in keras.distribution.list_devices() if not d.lower().startswith("cpu")]


def device_report() -> tuple[str, str | None]:
    """(the line to print, a warning or None)."""
    import keras

    backend, found = keras.backend.backend(), backend_accelerators()
    line = f"Keras backend {backend}, training on " + (", ".join(found) if found else "the CPU")
    gpus = system_gpus()
    if found or not gpus:
        return line, None
    return line, (f"this machine has {len(gpus)} GPU(s) ({gpus[0]}), but the {backend} backend "
                  "sees none, so training runs on the CPU. For GPU training install a CUDA "
                  "backend (pip install -e \".[cuda]\") and pass --backend jax.")
