"""How trials execute on this machine: the speed settings that leave the model alone.

Steps per execution, XLA compilation, where the training images live, JAX's
persistent compilation cache and each process's share of a GPU change how fast
a trial trains, not what it learns. They are therefore engine options, set once
per process from the command line, with defaults chosen by ``bench/gpu_path.py``.
Precision does change the numbers, so it is a knob (``training.precision``)
that every config records.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from search.inputs import JIT_MODES, PLACEMENTS

__all__ = ["Execution", "configure", "current", "has_accelerator",
           "process_share_env", "JIT_MODES", "PLACEMENTS"]

# Data sets up to this size are copied to the accelerator once per trial (Fashion-MNIST: 188 MB).
DEVICE_DATA_LIMIT_BYTES = 2 * 1024 ** 3
COMPILE_CACHE_ENV = "SEARCH_COMPILE_CACHE"
GPU_SHARE_ENV = "SEARCH_GPU_MEMORY_FRACTION"


# bench/gpu_path.py on the 2-core CPU: 16 steps per call trained 1.51x faster on TensorFlow
# (medians of 5 interleaved rounds), the same speed on JAX; Keras' PyTorch trainer runs 1.
DEFAULT_STEPS_PER_EXECUTION = 16


@dataclass(frozen=True)
class Execution:
    """``jit`` and ``data`` are "auto" by default: decided per backend and device."""

    steps_per_execution: int = DEFAULT_STEPS_PER_EXECUTION
    jit: str = "auto"
    data: str = "auto"

    def compile_options(self) -> dict[str, Any]:
        """Keyword arguments for ``model.compile``."""
        jit = {"auto": "auto", "on": True, "off": False}[self.jit]
        steps = 1 if keras.backend.backend() == "torch" else self.steps_per_execution
        return {"steps_per_execution": steps, "jit_compile": jit}

    def data_on_device(self, nbytes: int) -> bool:
        """Whether to hold the training arrays on the accelerator for this trial.

        "auto" does so with an accelerator on JAX and PyTorch when the data fits:
        Keras' own array path copies every batch from host memory there.
        TensorFlow's fit already stages arrays through its own input pipeline, so
        auto leaves it.
        """
        if self.data != "auto":
            return self.data == "device"
        return (keras.backend.backend() in ("jax", "torch") and has_accelerator()
                and nbytes <= DEVICE_DATA_LIMIT_BYTES)


_current = Execution()


def configure(execution: Execution) -> None:
    """Set this process's execution settings (the CLI calls this once from its flags)."""
    global _current
    _current = execution


def current() -> Execution:
    """This process's execution settings (the defaults until :func:`configure`)."""
    return _current


def has_accelerator() -> bool:
    """True when the Keras backend sees a GPU (or TPU)."""
    from search.model.devices import backend_accelerators

    return bool(backend_accelerators())


def enable_compile_cache(default_dir: Path) -> Path | None:
    """JAX's persistent compilation cache: a retried, resumed or re-seeded trial (same
    architecture, so the same program) skips compilation. Other backends have none."""
    if keras.backend.backend() != "jax":
        return None
    import jax

    folder = Path(os.environ.get(COMPILE_CACHE_ENV) or default_dir).expanduser()
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder


def limit_gpu_memory() -> None:
    """Apply this process's GPU memory share on PyTorch (JAX and TensorFlow read the
    environment that ``process_share_env`` wrote before they started)."""
    fraction = os.environ.get(GPU_SHARE_ENV)
    if fraction and keras.backend.backend() == "torch":
        import torch

        if torch.cuda.is_available():
            torch.cuda.set_per_process_memory_fraction(float(fraction))


def process_share_env(processes: int, cores: int | None = None) -> dict[str, str]:
    """Environment for one of ``processes`` trial processes sharing one device.

    Each gets an equal slice of GPU memory (JAX otherwise grabs 75% at start,
    TensorFlow all of it) and of the CPU threads (otherwise every process
    spawns a thread per core and they fight over the cores).
    """
    cores = cores or os.cpu_count() or 1
    threads = str(max(1, cores // processes))
    fraction = f"{0.9 / processes:.3f}"
    return {"XLA_PYTHON_CLIENT_MEM_FRACTION": fraction, GPU_SHARE_ENV: fraction,
            "TF_FORCE_GPU_ALLOW_GROWTH": "true", "TF_NUM_INTRAOP_THREADS": threads,
            "TF_NUM_INTEROP_THREADS": "1" if processes > 1 else "0", "OMP_NUM_THREADS": threads}
