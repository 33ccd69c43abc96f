"""Skinny GEMMs for inputs of at most 16 rows (a query), from ``native/skinny_gemm.c``.

A short query is bound by streaming the text tower's weights from DRAM and by the FMAs they
feed, about equally; oneDNN's packed GEMM leaves part of one exposed behind the other at 16
rows. The C kernels (AVX-512 fp32, AVX512-BF16 bf16) keep every row's sums in registers, read
the inputs transposed and prefetch the packed weights far ahead: the 48 GEMMs of a
jina-clip-v1 query take ~11 ms instead of ~15 ms in bf16 and ~21 instead of ~32 ms in fp32
(docs/performance.md, "Skinny GEMMs for short queries"). An int8 kernel (AVX512-VNNI) serves
the ``quantize="int8"`` text tower the same way.

The kernels are part of our native library (:mod:`jina_clip.model.native`: compiled on first
use, cached, loaded with :mod:`ctypes`). Where it cannot run, or with ``JINA_CLIP_SKINNY=0``,
:func:`kernels` returns ``None`` and :func:`~jina_clip.model.linear.linear` uses oneDNN as
before: the results are the same either way, up to fp32 summation order.
"""

from __future__ import annotations

import ctypes
import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import native

__all__ = ["MAX_ROWS", "Int8Weights", "SkinnyKernels", "kernels", "pack", "pack_int8"]

#: Rows (tokens) up to which the skinny kernels run; above, oneDNN's GEMM is faster.
MAX_ROWS = 16
#: Output columns per packed block (one 64-byte vector of fp32).
BLOCK = 16


@dataclass(frozen=True)
class SkinnyKernels:
    """The loaded library, and which dtypes this CPU can run it for."""

    lib: ctypes.CDLL
    float32: bool
    bfloat16: bool
    #: int8 weights x dynamically quantised uint8 rows (AVX512-VNNI).
    int8: bool

    def supports(self, dtype: torch.dtype, in_features: int) -> bool:
        """Whether a ``dtype`` linear with ``in_features`` inputs can run here."""
        if dtype == torch.float32:
            return self.float32
        return dtype == torch.bfloat16 and self.bfloat16 and in_features % 2 == 0

    def matmul(self, x: torch.Tensor, packed: torch.Tensor, bias: torch.Tensor | None,
               rows: int, out_features: int) -> torch.Tensor:
        """``x @ W.T + bias`` for contiguous ``x`` of ``rows`` (or more, ignored) rows;
        ``packed`` from :func:`pack`; ``bias`` fp32 or ``None``."""
        out = torch.empty(rows, out_features, dtype=x.dtype)
        fn = self.lib.skinny_gemm_f32 if x.dtype == torch.float32 else self.lib.skinny_gemm_bf16
        status = fn(x.data_ptr(), packed.data_ptr(), None if bias is None else bias.data_ptr(),
                    out.data_ptr(), rows, out_features, x.shape[1], torch.get_num_threads())
        if status != 0:
            raise MemoryError("skinny GEMM: out of memory")
        return out

    def matmul_int8(self, x: torch.Tensor, packed: Int8Weights, bias: torch.Tensor | None
                    ) -> torch.Tensor:
        """fp32 ``x`` [rows <= 16, K] (contiguous) times int8 weights, each row quantised to
        uint8 with its own scale and zero point; fp32 out, ``bias`` fp32 or ``None``."""
        rows = x.shape[0]
        out = torch.empty(rows, packed.out_features, dtype=torch.float32)
        status = self.lib.skinny_gemm_s8(
            x.data_ptr(), packed.weight.data_ptr(), packed.scale.data_ptr(),
            packed.colsum.data_ptr(), None if bias is None else bias.data_ptr(),
            out.data_ptr(), rows, packed.out_features, x.shape[1], torch.get_num_threads())
        if status != 0:
            raise MemoryError("skinny int8 GEMM: out of memory")
        return out


@dataclass(frozen=True)
class Int8Weights:
    """int8 weights in the kernels' layout, with what the int8 kernel needs beside them."""

    weight: torch.Tensor  #: [N/16, K/4, 16, 4] int8
    scale: torch.Tensor  #: [N] fp32, per output column
    colsum: torch.Tensor  #: [N] int32, sum over k of each column (for the zero points)
    out_features: int


def pack_int8(weight: torch.Tensor, scale: torch.Tensor) -> Int8Weights:
    """int8 ``weight`` [N, K] (K a multiple of 4) with per-column fp32 ``scale`` [N]."""
    colsum = weight.to(torch.int32).sum(1, dtype=torch.int32).contiguous()
    return Int8Weights(_blocked(weight, 4), scale.float().contiguous(), colsum, weight.shape[0])


def pack(weight: torch.Tensor) -> torch.Tensor:
    """fp32 or bf16 ``weight`` [N, K] in the kernels' layout (bf16: K even)."""
    return _blocked(weight.detach(), 2 if weight.dtype == torch.bfloat16 else 1)


def _blocked(weight: torch.Tensor, group: int) -> torch.Tensor:
    """[N, K] -> [N/16, K/group, 16, group]: blocks of 16 output columns (N padded with zero
    columns), each holding ``group`` consecutive inputs of every column side by side (the
    operand of one FMA: fp32 1, bf16 ``vdpbf16ps`` 2, int8 ``vpdpbusd`` 4)."""
    n, k = weight.shape
    blocks = -(-n // BLOCK)
    w = F.pad(weight, (0, 0, 0, blocks * BLOCK - n))
    return w.reshape(blocks, BLOCK, k // group, group).permute(0, 2, 1, 3).contiguous()


@functools.cache
def kernels() -> SkinnyKernels | None:
    """The kernels for this CPU, compiled on first use; ``None`` where they cannot run."""
    if native.switched_off("JINA_CLIP_SKINNY"):
        return None
    found = native.library()
    if found is None:
        return None
    return SkinnyKernels(found.lib, float32=True, bfloat16=found.bfloat16, int8=found.int8)
