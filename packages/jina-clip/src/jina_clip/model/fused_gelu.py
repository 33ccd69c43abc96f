"""GELU (erf) times a gate in one pass on CPU, through ``native/gelu.c``.

A GEGLU MLP's ``gelu(a) * b`` over a ``[tokens, 3072]`` activation was two PyTorch ops (two
reads and writes of it; in bf16 GELU's output rounded before the product); the kernel reads
each input once, computes in fp32 with PyTorch's own erf formula and rounds once
(docs/performance.md, "Fused GEGLU"). :func:`gelu_mul` returns ``None`` where it cannot run
(not CPU, not fp32 or bf16, autograd, graph capture, no native library,
``JINA_CLIP_FUSED_GELU=0``) and the caller uses PyTorch's ops.
"""

from __future__ import annotations

import torch

from . import native

__all__ = ["gelu_mul"]


def gelu_mul(a: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor | None:
    """``gelu(a) * b`` (or ``gelu(a)`` when ``b`` is ``None``) for 2-d ``[rows, n]`` inputs
    with unit column stride and the same row stride (the two halves of one projection are
    fine); a new contiguous ``[rows, n]`` tensor, or ``None`` where the kernel cannot run."""
    if (torch.jit.is_tracing() or torch.compiler.is_compiling()
            or a.device.type != "cpu" or a.dim() != 2 or a.stride(-1) != 1
            or a.dtype not in (torch.float32, torch.bfloat16) or torch.is_grad_enabled()
            or (b is not None and (b.shape != a.shape or b.dtype != a.dtype
                                   or b.stride() != a.stride() or b.device != a.device))):
        return None
    if native.switched_off("JINA_CLIP_FUSED_GELU"):
        return None
    found = native.library()
    if found is None or (a.dtype == torch.bfloat16 and not found.bfloat16):
        return None
    rows, n = a.shape
    out = torch.empty(rows, n, dtype=a.dtype)
    if out.numel() == 0:
        return out
    fn = found.lib.gelu_mul_f32 if a.dtype == torch.float32 else found.lib.gelu_mul_bf16
    fn(a.data_ptr(), None if b is None else b.data_ptr(), out.data_ptr(), rows, n,
       a.stride(0), torch.get_num_threads())
    return out
