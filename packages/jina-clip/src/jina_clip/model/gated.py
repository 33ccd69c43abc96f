"""Gated activations in one pass on CPU, through ``native/gated.c``: ``gelu(a) * b`` (v1's GEGLU
text MLP) and ``silu(a) * b`` (the vision towers' SwiGLU).

Each was two PyTorch ops over a ``[tokens, 3072]`` activation (two reads and writes of it; in
bf16 the activation rounded before the product); the kernel reads each input once, computes in
fp32 with PyTorch's own formulas (GELU: its vectorised erf; SiLU: ``x / (1 + exp(-x))``) and
rounds once (docs/performance.md, "Gated activations in one pass"). The functions return
``None`` where the kernel cannot run (not CPU, not fp32 or bf16, autograd, graph capture, no
native library, ``JINA_CLIP_GATED=0``) and the caller uses PyTorch's ops.
"""

from __future__ import annotations

import torch

from . import native

__all__ = ["gelu_mul", "silu_mul"]


def gelu_mul(a: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor | None:
    """``gelu(a) * b`` (exact GELU), or ``gelu(a)`` when ``b`` is ``None``; see :func:`_run`."""
    return _run("gelu_mul", a, b)


def silu_mul(a: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor | None:
    """``silu(a) * b``, or ``silu(a)`` when ``b`` is ``None``; see :func:`_run`."""
    return _run("silu_mul", a, b)


def _run(name: str, a: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor | None:
    """For 2-d ``[rows, n]`` inputs with unit column stride and the same row stride (the two
    halves of one projection are fine): a new contiguous ``[rows, n]`` tensor, or ``None``
    where the kernel cannot run."""
    if (torch.jit.is_tracing() or torch.compiler.is_compiling()
            or a.device.type != "cpu" or a.dim() != 2 or a.stride(-1) != 1
            or a.dtype not in (torch.float32, torch.bfloat16) or torch.is_grad_enabled()
            or (b is not None and (b.shape != a.shape or b.dtype != a.dtype
                                   or b.stride() != a.stride() or b.device != a.device))):
        return None
    if native.switched_off("JINA_CLIP_GATED"):
        return None
    found = native.library()
    if found is None or (a.dtype == torch.bfloat16 and not found.bfloat16):
        return None
    rows, n = a.shape
    out = torch.empty(rows, n, dtype=a.dtype)
    if out.numel() == 0:
        return out
    suffix = "f32" if a.dtype == torch.float32 else "bf16"
    getattr(found.lib, f"{name}_{suffix}")(
        a.data_ptr(), None if b is None else b.data_ptr(), out.data_ptr(), rows, n,
        a.stride(0), torch.get_num_threads())
    return out
