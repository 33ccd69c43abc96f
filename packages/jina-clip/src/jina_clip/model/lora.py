"""jina-clip-v2's LoRA adapters: merged into the weights once, at load.

The official ``XLMRobertaLoRA`` registers a parametrization on every ``nn.Linear`` and
``nn.Embedding`` of the text tower, so the checkpoint stores each such weight as
``X.parametrizations.weight.original`` plus ``...weight.0.lora_A`` / ``...weight.0.lora_B``
(one slice per adaptation), and the official forward rebuilds ``W + B·A·alpha/rank`` on every
call. The text tower always runs the ``default_lora_task`` adapter, so the sum is a constant:
we compute it here, exactly as the official expression does, and keep only plain weights.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LORA_A", "LORA_B", "ORIGINAL", "lora_layout", "lora_targets", "merge_lora"]

ORIGINAL = ".parametrizations.weight.original"
LORA_A = ".parametrizations.weight.0.lora_A"
LORA_B = ".parametrizations.weight.0.lora_B"
#: Rows merged at a time: bounds the transient B·A product (the word embedding is 250,002 rows).
_MERGE_ROWS = 16384


def lora_targets(root: nn.Module, prefix: str) -> dict[str, nn.Module]:
    """Every Linear and Embedding under ``root`` (what the official code parametrizes), by
    its full checkpoint name."""
    return {
        f"{prefix}{name}": module
        for name, module in root.named_modules()
        if isinstance(module, nn.Linear | nn.Embedding)
    }


def lora_layout(
    name: str, module: nn.Module, adaptations: int, rank: int
) -> dict[str, tuple[int, ...]]:
    """Checkpoint keys and shapes that stand for ``name.weight`` (fan-in/fan-out as in the
    official ``LoRAParametrization``: linear A [n, r, in], B [n, out, r]; embedding
    A [n, rows, r], B [n, r, dim])."""
    rows, cols = module.weight.shape
    if isinstance(module, nn.Embedding):
        a, b = (adaptations, rows, rank), (adaptations, rank, cols)
    else:
        a, b = (adaptations, rank, cols), (adaptations, rows, rank)
    return {name + ORIGINAL: (rows, cols), name + LORA_A: a, name + LORA_B: b}


def merge_lora(
    original: torch.Tensor,
    lora_a: torch.Tensor,
    lora_b: torch.Tensor,
    *,
    embedding: bool,
    task: int,
    scaling: float,
) -> torch.Tensor:
    """``original + (B[task] @ A[task]) * scaling`` for a linear weight, ``original +
    (A[task] @ B[task]) * scaling`` for an embedding (the official ``lora_forward``),
    computed in fp32 in place on ``original`` a block of rows at a time."""
    out = original.float()
    a, b = lora_a[task].float(), lora_b[task].float()
    left, right = (a, b) if embedding else (b, a)  # [rows, r] @ [r, cols]
    for start in range(0, out.shape[0], _MERGE_ROWS):
        delta = left[start:start + _MERGE_ROWS] @ right
        out[start:start + _MERGE_ROWS] += delta * scaling
    return out
