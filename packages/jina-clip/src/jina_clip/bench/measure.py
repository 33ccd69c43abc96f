"""Timing, memory and agreement measurements shared by the benchmark suite.

Benchmarks run next to other work on shared machines, so the baseline and the optimised path
are interleaved (A B A B ...) and the best of each is compared: a background burst then
slows both sides instead of skewing the ratio.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

__all__ = [
    "interleaved",
    "interleaved_timed",
    "machine",
    "min_cosine",
    "percentile",
    "run_json_subprocess",
    "sync",
    "table",
]


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so wall-clock time covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved(
    runs: dict[str, Callable[[], object]], repeats: int, device: torch.device, warmup: int = 1
) -> dict[str, list[float]]:
    """Seconds per call of each function, calls interleaved round-robin after warm-up."""

    def timed(fn: Callable[[], object]) -> Callable[[], float]:
        def run() -> float:
            sync(device)
            start = time.perf_counter()
            fn()
            sync(device)
            return time.perf_counter() - start

        return run

    return interleaved_timed({name: timed(fn) for name, fn in runs.items()}, repeats, warmup)


def interleaved_timed(
    runs: dict[str, Callable[[], float]], repeats: int, warmup: int = 1
) -> dict[str, list[float]]:
    """:func:`interleaved` for functions that time themselves (e.g. in another process) and
    return their seconds."""
    for _ in range(warmup):
        for fn in runs.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            times[name].append(fn())
    return times


def percentile(times: list[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: with few samples, a real sample)."""
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """The worst row-wise cosine similarity between two sets of vectors."""
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float((a * b).sum(1).min())


def run_json_subprocess(args: list[str], timeout: float = 1800) -> dict[str, Any]:
    """Run ``python -m <args>`` in a fresh interpreter (so its peak memory is its own) and
    parse the JSON object it prints last."""
    proc = subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:1])} failed ({proc.returncode}):\n"
                           f"{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine(device: torch.device) -> str:
    """One line naming the hardware and software the numbers come from."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = f"{torch.cuda.get_device_name(device)}, " if device.type == "cuda" else ""
    return (f"{gpu}{cpu}, {os.cpu_count()} logical CPUs, {torch.get_num_threads()} torch "
            f"threads, torch {torch.__version__}, Python {platform.python_version()}")


def table(rows: list[list[str]], header: list[str]) -> str:
    """A Markdown table, so the output pastes straight into docs/performance.md."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(r: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), sep, *(line(r) for r in rows)])
