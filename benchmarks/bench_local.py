"""CPU benchmark of the local encoder against the official-style fp32 baseline, in one run.

    python benchmarks/bench_local.py            # full-size random checkpoint, ~6-8 minutes
    python benchmarks/bench_local.py --quick    # smaller workloads, ~1-2 minutes
    python benchmarks/bench_local.py --checkpoint tiny --quick   # seconds: does it run?

Measured (fp32, the machine's default torch thread count):

* images: JPEG files -> embeddings through ``LocalJinaCLIP.encode_image`` (img/s);
* texts: 128-token texts through ``LocalJinaCLIP.encode_text`` (tok/s, tokenization included);
* query: one 16-token text, ``encode_text([q])`` latency p50 / p90 (ms);
* 8k: one 8,192-token text in a fresh subprocess; peak RSS of that whole process (model
  included) from ``/proc/self/status`` ``VmHWM`` (not ``ru_maxrss``: Linux carries that over
  from the parent across fork+exec, which inflated earlier measurements).

Each is compared with the baseline of ``benchmarks/_baseline.py`` (official-style explicit
ALiBi bias, naive attention, fixed batches of 32, sequential decoding) on the same weights,
interleaved with it so that background load hits both. ``--int8`` adds the opt-in
``quantize="int8"`` encoder (speed, and cosine agreement with fp32).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _baseline import baseline_image, baseline_text
from _common import (
    best,
    checkpoint,
    interleaved,
    jpeg_files,
    machine,
    median,
    percentile,
    run_subprocess_json,
    table,
    texts_of,
)

from jina_clip.images.sources import load_image
from jina_clip.local import LocalJinaCLIP

TARGETS = {"images": 3.0, "texts": 500.0, "query": 60.0, "long": 2.5}

_LONG = """
import json, sys, time, torch
path, mode, tokens = sys.argv[1], sys.argv[2], int(sys.argv[3])
from _common import texts_of
from jina_clip.local import LocalJinaCLIP
enc = LocalJinaCLIP(path, device="cpu", dtype="float32")
text = texts_of(tokens, 1, seed=7)
start = time.perf_counter()
if mode == "optimised":
    out = enc.encode_text(text)
else:
    from _baseline import baseline_text
    ids = torch.tensor(enc.tokenize(text))
    out = baseline_text(enc.model, ids, torch.ones_like(ids)).numpy()
seconds = time.perf_counter() - start
# VmHWM: peak RSS of this address space. (ru_maxrss is inherited across fork+exec on Linux,
# so it would report the parent benchmark's size when that is larger.)
with open("/proc/self/status") as status:
    peak = next(int(l.split()[1]) * 1024 for l in status if l.startswith("VmHWM:"))
print(json.dumps({"peak": peak, "seconds": seconds, "finite": bool(abs(out).sum() > 0)}))
"""


def _baseline_encode_texts(enc: LocalJinaCLIP, texts: list[str], batch: int = 32) -> np.ndarray:
    out = []
    for start in range(0, len(texts), batch):
        rows = enc.tokenize(texts[start : start + batch])
        width = max(map(len, rows))
        ids = torch.zeros(len(rows), width, dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r)
        out.append(baseline_text(enc.model, ids, (ids != 0).long()).numpy())
    return np.concatenate(out)


def _baseline_encode_images(enc: LocalJinaCLIP, paths: list[str], batch: int = 32) -> np.ndarray:
    out = []
    for start in range(0, len(paths), batch):
        pixels = torch.stack([enc.preprocessor(load_image(p, index=i))
                              for i, p in enumerate(paths[start : start + batch])])
        out.append(baseline_image(enc.model, pixels).numpy())
    return np.concatenate(out)


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float((a * b).sum(1).min())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small workloads, few repeats")
    ap.add_argument("--checkpoint", default="full", help="full, tiny, or a checkpoint directory")
    ap.add_argument("--int8", action="store_true", help="also measure quantize='int8'")
    ap.add_argument("--skip-long", action="store_true", help="skip the 8k-token subprocesses")
    args = ap.parse_args()
    q = args.quick
    named = args.checkpoint in ("full", "tiny")
    path = checkpoint(args.checkpoint) if named else pathlib.Path(args.checkpoint)
    n_img, n_txt, reps, q_reps = (4, 16, 2, 10) if q else (16, 64, 3, 30)
    long_tokens = 2048 if q else 8192
    print(f"machine: {machine()}\ncheckpoint: {path}\n", flush=True)

    enc = LocalJinaCLIP(path, device="cpu", dtype="float32")
    rows: list[list[str]] = []

    # --- images ------------------------------------------------------------------------------
    with tempfile.TemporaryDirectory() as tmp:
        paths = jpeg_files(pathlib.Path(tmp), n_img)
        t = interleaved({"base": lambda: _baseline_encode_images(enc, paths),
                         "opt": lambda: enc.encode_image(paths)}, reps)
        agree = _cos(enc.encode_image(paths, normalize=False),
                     _baseline_encode_images(enc, paths))
    b, o = n_img / best(t["base"]), n_img / best(t["opt"])
    rows.append(["images (JPEG->vec)", f">= {TARGETS['images']} img/s", f"{o:.2f} img/s",
                 f"{b:.2f} img/s", f"{o / b:.2f}x", f"median {n_img / median(t['opt']):.2f}; "
                 f"min cos vs base {agree:.6f}"])
    print(table(rows[-1:], _HEADER), flush=True)

    # --- texts -------------------------------------------------------------------------------
    texts = texts_of(128, n_txt)
    tokens = 128 * n_txt
    t = interleaved({"base": lambda: _baseline_encode_texts(enc, texts),
                     "opt": lambda: enc.encode_text(texts)}, reps)
    agree = _cos(enc.encode_text(texts, normalize=False), _baseline_encode_texts(enc, texts))
    b, o = tokens / best(t["base"]), tokens / best(t["opt"])
    rows.append(["texts 128 tok", f">= {TARGETS['texts']:.0f} tok/s", f"{o:.0f} tok/s",
                 f"{b:.0f} tok/s", f"{o / b:.2f}x", f"median {tokens / median(t['opt']):.0f}; "
                 f"min cos vs base {agree:.6f}"])
    print(table(rows[-1:], _HEADER), flush=True)

    # --- single query ------------------------------------------------------------------------
    query = texts_of(16, 1, seed=3)
    t = interleaved({"base": lambda: _baseline_encode_texts(enc, query),
                     "opt": lambda: enc.encode_text(query)}, q_reps, warmup=3)
    b50, o50 = percentile(t["base"], 50) * 1e3, percentile(t["opt"], 50) * 1e3
    rows.append(["query 16 tok p50", f"<= {TARGETS['query']:.0f} ms", f"{o50:.1f} ms",
                 f"{b50:.1f} ms", f"{b50 / o50:.2f}x",
                 f"p90 {percentile(t['opt'], 90) * 1e3:.1f} (base "
                 f"{percentile(t['base'], 90) * 1e3:.1f})"])
    print(table(rows[-1:], _HEADER), flush=True)

    # --- int8 (opt-in) -----------------------------------------------------------------------
    if args.int8:
        enc8 = LocalJinaCLIP(path, device="cpu", dtype="float32", quantize="int8")
        t = interleaved({"fp32": lambda: enc.encode_text(query),
                         "int8": lambda: enc8.encode_text(query)}, q_reps, warmup=3)
        f50, i50 = percentile(t["fp32"], 50) * 1e3, percentile(t["int8"], 50) * 1e3
        probe = texts_of(128, 16, seed=11)
        agree = _cos(enc8.encode_text(probe), enc.encode_text(probe))
        rows.append(["query 16 tok, int8", "(opt-in)", f"{i50:.1f} ms", f"{f50:.1f} ms fp32",
                     f"{f50 / i50:.2f}x", f"min cos int8 vs fp32 {agree:.4f} (random weights)"])
        t = interleaved({"fp32": lambda: enc.encode_text(texts),
                         "int8": lambda: enc8.encode_text(texts)}, reps)
        f, i = tokens / best(t["fp32"]), tokens / best(t["int8"])
        rows.append(["texts 128 tok, int8", "(opt-in)", f"{i:.0f} tok/s", f"{f:.0f} tok/s fp32",
                     f"{i / f:.2f}x", ""])
        print(table(rows[-2:], _HEADER), flush=True)
        del enc8

    # --- 8k text, peak RSS of a fresh process -------------------------------------------------
    if not args.skip_long:
        del enc
        res = {mode: run_subprocess_json(_LONG, str(path), mode, str(long_tokens))
               for mode in ("optimised", "baseline")}
        o, b = res["optimised"]["peak"] / 2**30, res["baseline"]["peak"] / 2**30
        rows.append([f"{long_tokens} tok text peak RSS", f"< {TARGETS['long']} GB",
                     f"{o:.2f} GiB", f"{b:.2f} GiB", f"{b / o:.2f}x",
                     f"time {res['optimised']['seconds']:.1f} s (base "
                     f"{res['baseline']['seconds']:.1f} s)"])
        print(table(rows[-1:], _HEADER), flush=True)

    print("\n" + table(rows, _HEADER))
    print("\nbaseline = official-style fp32 path on the same weights (benchmarks/_baseline.py); "
          "ratio = speed-up (or memory saving) of the optimised path; best of interleaved runs.")


_HEADER = ["benchmark", "target", "measured", "baseline", "ratio", "notes"]

if __name__ == "__main__":
    main()
