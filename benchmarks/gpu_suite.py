"""Every GPU check and benchmark in one run (~3-5 minutes on an H100/H200), one table.

    python benchmarks/gpu_suite.py                 # CUDA, full-size random checkpoint
    python benchmarks/gpu_suite.py --dry-run       # tiny checkpoint, tiny sizes, CPU if no GPU

Rows (targets from the performance issue):

* images, model only: bf16, batch 256, random pixels              (>= 10,000 img/s)
* texts, model only: bf16, 256 x 128-token texts                  (>= 2,000,000 tok/s)
* images end to end: JPEG files -> LocalJinaCLIP.encode_image     (>= 5,000 img/s)
* 8,192-token text: torch.cuda.max_memory_allocated, weights incl. (<= 2 GiB)
* single 16-token query: LocalJinaCLIP.encode_text([q]) p50       (<= 2 ms)
* bf16 vs fp32: minimum cosine between the two precisions' vectors (texts and images)

``--dry-run`` only proves the script runs end to end (no numbers in it mean anything).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _common import checkpoint, jpeg_files, machine, percentile, table, texts_of

from jina_clip.local import LocalJinaCLIP
from jina_clip.model import JinaCLIPModel


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn: Callable[[], object], device: torch.device, iters: int, warmup: int = 3) -> float:
    """Seconds per call, after warm-up (cuDNN/cuBLAS autotuning, allocator growth)."""
    for _ in range(warmup):
        fn()
    _sync(device)
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    _sync(device)
    return (time.perf_counter() - start) / iters


def _min_cos(a: np.ndarray, b: np.ndarray) -> float:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float((a * b).sum(1).min())


def _model_only(
    path: pathlib.Path, device: torch.device, n: dict[str, int],
    add: Callable[[list[str]], None],
) -> None:
    """Model-only bf16 throughput (images, texts) and the long-text memory peak."""
    model = JinaCLIPModel.from_pretrained(path, device=device, dtype=torch.bfloat16)

    with torch.inference_mode():
        # --- model-only images -------------------------------------------------------------
        px = torch.randn(n["img_b"], 3, 224, 224, device=device, dtype=torch.bfloat16)
        dt = _time(lambda: model.encode_image(px), device, n["iters"])
        add([f"images, model only, bf16 b{n['img_b']}", ">= 10,000 img/s",
             f"{n['img_b'] / dt:,.0f} img/s", f"{dt * 1e3:.1f} ms/batch"])

        # --- model-only texts --------------------------------------------------------------
        ids = torch.randint(104, 400, (n["txt_b"], 128), device=device)
        ids[:, 0], ids[:, -1] = 101, 102
        mask = torch.ones_like(ids)
        dt = _time(lambda: model.encode_text(ids, mask), device, n["iters"])
        add([f"texts 128 tok, model only, bf16 b{n['txt_b']}", ">= 2,000,000 tok/s",
             f"{ids.numel() / dt:,.0f} tok/s", f"{dt * 1e3:.1f} ms/batch"])

        # --- 8k text peak memory -----------------------------------------------------------
        long_ids = torch.randint(104, 400, (1, n["long"]), device=device)
        long_ids[0, 0], long_ids[0, -1] = 101, 102
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device)
        start = time.perf_counter()
        out = model.encode_text(long_ids, torch.ones_like(long_ids))
        _sync(device)
        secs = time.perf_counter() - start
        finite = bool(torch.isfinite(out).all())
        if device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(device)
            measured = f"{peak / 2**30:.2f} GiB"
            note = (f"activations {(peak - base) / 2**30:.2f} GiB; {secs * 1e3:.0f} ms; "
                    f"finite={finite}")
        else:
            measured, note = "n/a on CPU", f"{secs * 1e3:.0f} ms; finite={finite}"
        add([f"{n['long']} tok text, peak memory", "<= 2 GiB", measured, note])



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dry-run", action="store_true", help="tiny checkpoint and sizes")
    ap.add_argument("--checkpoint", default=None, help="full, tiny, or a checkpoint directory")
    args = ap.parse_args()
    dry = args.dry_run
    if not torch.cuda.is_available() and not dry:
        sys.exit("no CUDA device: run with --dry-run to check the script on CPU")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = args.checkpoint or ("tiny" if dry else "full")
    path = checkpoint(name) if name in ("full", "tiny") else pathlib.Path(name)
    n = dict(img_b=4, txt_b=4, files=8, long=512, q=5, iters=2) if dry else \
        dict(img_b=256, txt_b=256, files=2048, long=8192, q=100, iters=10)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (dry run)"
    print(f"device: {gpu}\nmachine: {machine()}\ncheckpoint: {path}\n", flush=True)
    rows: list[list[str]] = []

    def add(row: list[str]) -> None:
        rows.append(row)
        print(table([row], HEADER), flush=True)

    torch.backends.cuda.matmul.allow_tf32 = False  # the fp32 reference below stays true fp32
    _model_only(path, device, n, add)
    if device.type == "cuda":
        torch.cuda.empty_cache()

    # --- end to end and latency through the local encoder ------------------------------------
    enc = LocalJinaCLIP(path, device=str(device), dtype="bfloat16",
                        image_workers=min(16, os.cpu_count() or 1))
    with tempfile.TemporaryDirectory() as tmp:
        files = jpeg_files(pathlib.Path(tmp), n["files"])
        enc.encode_image(files[: min(len(files), 256)])  # warm-up: pool, kernels
        _sync(device)
        start = time.perf_counter()
        enc.encode_image(files)
        _sync(device)
        dt = time.perf_counter() - start
        add([f"images end to end, {n['files']} JPEG 500x375", ">= 5,000 img/s",
             f"{n['files'] / dt:,.0f} img/s", f"{enc.image_workers} decode threads"])

        query = texts_of(16, 1, seed=3)
        for _ in range(5):
            enc.encode_text(query)
        ts = []
        for _ in range(n["q"]):
            _sync(device)
            start = time.perf_counter()
            enc.encode_text(query)
            _sync(device)
            ts.append(time.perf_counter() - start)
        add(["single 16-token query (encode_text)", "<= 2 ms",
             f"{percentile(ts, 50) * 1e3:.2f} ms p50", f"p90 {percentile(ts, 90) * 1e3:.2f} ms"])

        # --- bf16 vs fp32 agreement --------------------------------------------------------
        probe_texts = texts_of(64, 32, seed=5)
        probe_imgs = files[:16]
        b_t, b_i = enc.encode_text(probe_texts), enc.encode_image(probe_imgs)
        del enc
        enc32 = LocalJinaCLIP(path, device=str(device), dtype="float32")
        f_t, f_i = enc32.encode_text(probe_texts), enc32.encode_image(probe_imgs)
        add(["bf16 vs fp32 cosine (min)", "report", f"texts {_min_cos(b_t, f_t):.5f}",
             f"images {_min_cos(b_i, f_i):.5f} (random weights)"])

    print("\n" + table(rows, HEADER))
    if dry:
        print("\nDRY RUN: tiny checkpoint and sizes; the numbers above mean nothing.")


HEADER = ["check", "target", "measured", "notes"]

if __name__ == "__main__":
    main()
