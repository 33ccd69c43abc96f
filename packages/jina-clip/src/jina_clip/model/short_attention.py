"""Attention on CPU through our kernel (``native/short_attention.c``), for every tower.

PyTorch's CPU flash attention splits a short sequence into 32-query blocks and makes two small
GEMM calls per block and head, whose fixed cost dominates at the lengths a batch of texts or
images has: a batch of 16 jina-clip-v1 texts of 128 tokens spent ~9 ms per layer in it. Our
kernel does one (sequence, head) per task in one loop nest, with the ALiBi bias computed in
place and padded keys skipped: 3.4x faster in bf16 and 1.3x in fp32 at 128 tokens, ahead at
every length measured (docs/performance.md, "Short attention"). bf16 is at least as accurate
as PyTorch's (same order of rounding; the bias is not rounded to bf16).

:func:`attention` returns ``None`` whenever the kernel cannot take a call (not CPU, not fp32
or bf16, head dim not 64, autograd, graph capture, no native library, ``JINA_CLIP_ATTENTION=0``)
and the caller runs ``scaled_dot_product_attention`` instead.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import torch

from . import native

__all__ = ["HEAD_DIM", "Rotary", "attention", "right_padded_lengths"]

#: The only head width the kernel is built for (every jina-clip tower has it).
HEAD_DIM = 64


@dataclass(frozen=True)
class Rotary:
    """Rotary position embedding for the kernel to apply to q and k first, as the towers do:
    ``x * cos + rotate(x) * sin`` in fp32, rounded back to the input dtype, for tokens
    ``start`` on (row ``t - start`` of the tables)."""

    cos: torch.Tensor  #: [tokens - start, 64] fp32
    sin: torch.Tensor  #: [tokens - start, 64] fp32
    start: int
    #: ``True``: adjacent pairs (EVA02, ``rotate_half_interleaved``); ``False``: the two halves
    #: (NeoX style, v2's text tower).
    interleaved: bool


def right_padded_lengths(key_padding: torch.Tensor) -> torch.Tensor | None:
    """[B] real-token counts (int32) for a ``[B, L]`` padding mask (True = padded) whose
    padding is all at the end of every row, with at least one real token; else ``None``."""
    lengths = (~key_padding).sum(1, dtype=torch.int32)
    positions = torch.arange(key_padding.shape[1], device=key_padding.device)
    if not bool((lengths > 0).all()) or not torch.equal(
            key_padding, positions[None, :] >= lengths[:, None]):
        return None
    return lengths.cpu().contiguous()


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *,
              lengths: torch.Tensor | None = None, slopes: torch.Tensor | None = None,
              rotary: Rotary | None = None) -> torch.Tensor | None:
    """``softmax(q k^T / sqrt(64) - slope_h |i - j|) v`` over each sequence's first
    ``lengths[b]`` keys, for ``[B, H, L, 64]`` ``q``, ``k``, ``v`` (any strides with unit
    last stride: the views of a fused QKV projection); ``slopes`` [H] fp32 or ``None`` for no
    bias; ``rotary``: q and k rotated first. Returns ``[B, H, L, 64]``, a view of a
    ``[B, L, H, 64]`` tensor (so ``transpose(1, 2).reshape(B, L, -1)`` is free), or ``None``
    where the kernel cannot run."""
    kernel = _kernel(q, k, v)
    if kernel is None:
        return None
    batch, heads, length, dim = q.shape
    if length == 0 or batch * heads == 0:
        return None
    if rotary is not None:
        rows = length - rotary.start
        tables = (rotary.cos, rotary.sin)
        if rows < 0 or any(t.shape != (rows, dim) or t.dtype != torch.float32
                           or t.device.type != "cpu" or not t.is_contiguous() for t in tables):
            return None
    strides = (ctypes.c_int64 * 9)(*q.stride()[:3], *k.stride()[:3], *v.stride()[:3])
    if lengths is not None:
        if lengths.shape != (batch,):
            raise ValueError(f"lengths must have shape ({batch},), got {tuple(lengths.shape)}")
        lengths = lengths.to("cpu", torch.int32).contiguous()
    if slopes is not None:
        slopes = slopes.float().contiguous()
    out = torch.empty(batch, length, heads, dim, dtype=q.dtype)
    status = kernel(q.data_ptr(), k.data_ptr(), v.data_ptr(), strides,
                    out.data_ptr(), batch, heads, length,
                    None if lengths is None else lengths.data_ptr(),
                    None if slopes is None else slopes.data_ptr(),
                    None if rotary is None else rotary.cos.data_ptr(),
                    None if rotary is None else rotary.sin.data_ptr(),
                    0 if rotary is None else rotary.start,
                    0 if rotary is None else (1 if rotary.interleaved else 2),
                    dim**-0.5, torch.get_num_threads())
    if status == -2:
        raise ValueError(f"lengths must be within 1..{length}, got {lengths.tolist()}")
    if status != 0:
        raise MemoryError("attention kernel: out of memory")
    return out.transpose(1, 2)


def _kernel(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor):  # type: ignore[no-untyped-def]
    """The kernel for these inputs, or ``None``."""
    if (torch.jit.is_tracing() or torch.compiler.is_compiling()  # first: no graph breaks
            or q.device.type != "cpu" or q.dtype not in (torch.float32, torch.bfloat16)
            or q.shape[-1] != HEAD_DIM or torch.is_grad_enabled()
            or not (q.dtype == k.dtype == v.dtype)
            or not (q.shape == k.shape == v.shape)
            or any(t.stride(-1) != 1 for t in (q, k, v))):
        return None
    if native.switched_off("JINA_CLIP_ATTENTION"):
        return None
    found = native.library()
    if found is None:
        return None
    if q.dtype == torch.float32:
        return found.lib.short_attention_f32
    return found.lib.short_attention_bf16 if found.bfloat16 else None
