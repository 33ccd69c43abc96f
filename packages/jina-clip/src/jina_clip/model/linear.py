"""A drop-in ``nn.Linear`` that is faster for a handful of rows on CPU.

For a short query (16 tokens) every text-tower GEMM has only ~16 rows, and MKL's
``x @ W^T`` path spends most of its time re-packing the large weight matrix: on a 2-core
AVX-512 machine it reaches ~55 GFLOP/s. Computing the same product as ``(W @ x^T)^T`` lets
the weight stream through as the row-major left operand instead, ~20-25 % faster for up to
~64 rows (measured in benchmarks/bench_local.py, documented in docs/performance.md). The
result equals ``F.linear`` up to fp32 rounding (same reduction, different kernel blocking).

Parameter names and the state dict are those of ``nn.Linear``, so checkpoints load as is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SMALL_ROWS", "Linear"]

#: Largest number of rows for which the transposed product is used (CPU only). Above this
#: MKL's ordinary path is as fast or faster.
SMALL_ROWS = 64


class Linear(nn.Linear):
    """``nn.Linear`` with a weight-as-left-operand path for few rows on CPU."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.numel() // self.in_features if self.in_features else 0
        if x.device.type != "cpu" or rows == 0 or rows > SMALL_ROWS or x.requires_grad:
            return F.linear(x, self.weight, self.bias)
        flat = x.reshape(rows, self.in_features)
        if self.bias is None:
            out = torch.mm(self.weight, flat.t())  # [out, rows]
        else:
            out = torch.addmm(self.bias.unsqueeze(1), self.weight, flat.t())
        return out.t().contiguous().view(*x.shape[:-1], self.out_features)
