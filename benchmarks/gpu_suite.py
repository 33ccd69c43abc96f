"""Every GPU check and benchmark in one run (a few minutes on an H100/H200), one table.

    python benchmarks/gpu_suite.py              # CUDA, full-size random checkpoint, bf16
    python benchmarks/gpu_suite.py --dry-run    # tiny checkpoint, tiny sizes, CPU if no GPU
    python benchmarks/gpu_suite.py --v2         # the same for jina-clip-v2 (random, bf16 file)

It is ``jina-clip bench`` with the GPU settings fixed, so that a short lease on a GPU machine
needs one command: model-only images (bf16, batch 256) and 128-token texts, JPEG files end to
end, one 8,192-token text's peak GPU memory, single-query latency, and bf16-vs-fp32 cosine,
each next to the official-style fp32 baseline. ``--dry-run`` only proves the script runs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

from jina_clip.bench import DEFAULT_SECTIONS, BenchOptions, run_bench
from jina_clip.bench.workloads import random_checkpoint
from jina_clip.testing import write_tiny_checkpoint, write_tiny_v2_checkpoint


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dry-run", action="store_true", help="tiny checkpoint and sizes")
    ap.add_argument("--v2", action="store_true", help="jina-clip-v2 instead of v1")
    ap.add_argument("--checkpoint", default=None, help="a checkpoint directory (default: "
                    "a full-size random one under .bench/)")
    args = ap.parse_args()
    if not torch.cuda.is_available() and not args.dry_run:
        sys.exit("no CUDA device: run with --dry-run to check the script on CPU")
    # The fp32 baseline stays true fp32, as the official model runs by default.
    torch.backends.cuda.matmul.allow_tf32 = False
    with tempfile.TemporaryDirectory() as tmp:
        if args.checkpoint:
            model = args.checkpoint
        elif args.dry_run:
            write = write_tiny_v2_checkpoint if args.v2 else write_tiny_checkpoint
            model = str(write(Path(tmp) / "tiny"))
        else:
            root = Path(__file__).resolve().parents[1] / ".bench"
            version = "v2" if args.v2 else "v1"
            model = str(random_checkpoint(root / ("full-v2" if args.v2 else "full"), version))
        run_bench(BenchOptions(
            model=model, device="auto", dtype="auto", quick=args.dry_run,
            sections=DEFAULT_SECTIONS,
        ))
    if args.dry_run:
        print("\nDRY RUN: tiny checkpoint and sizes; the numbers above mean nothing.")


if __name__ == "__main__":
    main()
