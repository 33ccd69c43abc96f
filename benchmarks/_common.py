"""Helpers shared by the benchmark scripts: checkpoints, inputs, timing, peak memory.

Benchmarks run next to other work on shared machines, so every measurement interleaves the
baseline and the optimised path (A B A B ...) and reports the best and the median of each:
a background burst then slows both sides instead of skewing the ratio.
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / ".bench"

#: The real jina-clip-v1 sizes (JinaBERT v2 base text tower, EVA02-B/16 vision tower).
FULL_SIZE: dict[str, Any] = dict(
    text_hidden=768, text_layers=12, text_heads=12, text_intermediate=3072,
    vision_width=768, vision_layers=12, vision_head_width=64, mlp_ratio=2.6667,
    vocab_size=30528,
)


def checkpoint(kind: str = "full") -> pathlib.Path:
    """A random checkpoint in the official layout, cached under ``.bench/`` (gitignored).
    ``full`` has the real architecture, FLOPs and file size (~891 MB); ``tiny`` is for
    dry runs."""
    from jina_clip.testing import write_tiny_checkpoint

    path = BENCH_DIR / kind
    if not (path / "model.safetensors").is_file():
        print(f"writing {kind} random checkpoint to {path} ...", file=sys.stderr)
        write_tiny_checkpoint(path, **(FULL_SIZE if kind == "full" else {}))
    return path


def texts_of(tokens: int, count: int, seed: int = 0) -> list[str]:
    """Texts that tokenize to exactly ``tokens`` ids ([CLS] + words + [SEP]) with the random
    checkpoint's tokenizer (every word of TINY_WORDS is one token)."""
    import random

    from jina_clip.testing import TINY_WORDS

    rng = random.Random(seed)
    return [" ".join(rng.choices(TINY_WORDS, k=tokens - 2)) for _ in range(count)]


def jpeg_files(
    directory: pathlib.Path, count: int, size: tuple[int, int] = (500, 375)
) -> list[str]:
    """``count`` photo-sized JPEGs (smooth gradients plus noise, like a real photo's cost)."""
    import numpy as np
    from PIL import Image

    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        path = directory / f"img{i:04d}.jpg"
        if not path.is_file():
            w, h = size
            yy, xx = np.mgrid[0:h, 0:w]
            base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy + 40 * i) % 256], -1)
            noisy = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
            Image.fromarray(noisy).save(path, quality=90)
        paths.append(str(path))
    return paths


def interleaved(
    runs: dict[str, Callable[[], object]], repeats: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Seconds per call of each function, calls interleaved round-robin."""
    for _ in range(warmup):
        for fn in runs.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def best(ts: list[float]) -> float:
    return min(ts)


def median(ts: list[float]) -> float:
    return statistics.median(ts)


def percentile(ts: list[float], q: float) -> float:
    ordered = sorted(ts)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def run_subprocess_json(code: str, *args: str, timeout: float = 900) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter (so its peak RSS is its own) and parse the JSON
    object it prints last."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "benchmarks") + os.pathsep
           + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=timeout, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"subprocess failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{cpu}, {os.cpu_count()} logical CPUs, torch {torch.__version__}, "
            f"{torch.get_num_threads()} intra-op / {torch.get_num_interop_threads()} inter-op "
            f"threads, Python {platform.python_version()}")


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(r: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), sep, *(line(r) for r in rows)])
