"""Peak memory of embedding one long text, in a fresh process so the peak is its own.

    python -m jina_clip.bench.long_text CHECKPOINT MODE TOKENS DEVICE DTYPE [QUANTIZE]

MODE is ``optimised`` (``LocalJinaCLIP.encode_text``) or ``baseline`` (the official-style
path). Prints one JSON object: ``peak`` bytes (CPU: the whole process's ``VmHWM``, model
included; CUDA: ``max_memory_allocated``, weights included), ``seconds`` and ``finite``.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch

from ..local import LocalJinaCLIP
from .baseline import baseline_encode_texts
from .measure import sync
from .workloads import exact_token_texts


def peak_rss() -> int:
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork+exec.
    with open("/proc/self/status") as status:
        return next(int(ln.split()[1]) * 1024 for ln in status if ln.startswith("VmHWM:"))


def main(argv: list[str]) -> None:
    path, mode, tokens, device, dtype, *rest = argv
    dtype = "float32" if mode == "baseline" else dtype  # the official model runs fp32
    enc = LocalJinaCLIP(path, device=device, dtype=dtype, max_length=int(tokens),
                        quantize=rest[0] if rest else None)
    text = exact_token_texts(enc, int(tokens), 1, seed=7)
    if enc.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(enc.device)
    start = time.perf_counter()
    out = enc.encode_text(text) if mode == "optimised" else baseline_encode_texts(enc, text)
    sync(enc.device)
    seconds = time.perf_counter() - start
    peak = (torch.cuda.max_memory_allocated(enc.device) if enc.device.type == "cuda"
            else peak_rss())
    print(json.dumps({"peak": peak, "seconds": seconds,
                      "finite": bool(np.isfinite(out).all() and np.abs(out).sum() > 0)}))


if __name__ == "__main__":
    main(sys.argv[1:])
