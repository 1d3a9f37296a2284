"""Shared helpers for benchmarks: the machine line, timing, and Markdown tables."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import sys
import time
from typing import Callable, Sequence


def machine() -> str:
    import keras

    cpu = platform.processor() or platform.machine()
    return (f"{platform.node()} ({os.cpu_count()} cores, {cpu}), Python {platform.python_version()}, "
            f"Keras {keras.__version__} on {keras.backend.backend()}")


def header(title: str) -> str:
    from search.study.lifecycle import redact

    command = redact("python " + " ".join(sys.argv))
    return (f"### {title}\n\nmachine: {machine()}  \ndate: {datetime.date.today()}  \n"
            f"command: `{command}`\n")


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def median_spread(values: Sequence[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:,.0f}"
    return f"{statistics.median(values):,.0f} (min {min(values):,.0f}, max {max(values):,.0f})"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])
