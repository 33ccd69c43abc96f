"""Skinny GEMMs for inputs of at most 16 rows (a query), from ``native/skinny_gemm.c``.

A short query is bound by streaming the text tower's weights from DRAM and by the FMAs they
feed, about equally; oneDNN's packed GEMM leaves part of one exposed behind the other at 16
rows. The C kernels (AVX-512 fp32, AVX512-BF16 bf16) keep every row's sums in registers, read
the inputs transposed and prefetch the packed weights far ahead: the 48 GEMMs of a
jina-clip-v1 query take ~11 ms instead of ~15 ms in bf16 and ~21 instead of ~32 ms in fp32
(docs/performance.md, "Skinny GEMMs for short queries"). An int8 kernel (AVX512-VNNI) serves
the ``quantize="int8"`` text tower the same way.

The kernels are compiled on first use with the system C compiler (``$CC``, else ``cc``) into
the user cache and loaded with :mod:`ctypes`, which releases the GIL during a call. Without a
compiler, on a CPU without the instructions, off Linux, or with ``JINA_CLIP_SKINNY=0``,
:func:`kernels` returns ``None`` and :func:`~jina_clip.model.linear.linear` uses oneDNN as
before: the results are the same either way, up to fp32 summation order.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

__all__ = ["MAX_ROWS", "Int8Weights", "SkinnyKernels", "cache_dir", "kernels", "pack",
           "pack_int8"]

log = logging.getLogger("jina_clip.model")

#: Rows (tokens) up to which the skinny kernels run; above, oneDNN's GEMM is faster.
MAX_ROWS = 16
#: Output columns per packed block (one 64-byte vector of fp32).
BLOCK = 16

SOURCE = Path(__file__).with_name("native") / "skinny_gemm.c"
FLAGS = ("-O3", "-shared", "-fPIC", "-fopenmp", "-mavx512f", "-mavx512bw", "-mavx512vl",
         "-mavx512bf16", "-mavx512vnni", "-mfma")
_ABI = 6
_COMPILE_TIMEOUT_S = 120


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


def cache_dir() -> Path:
    """Where compiled kernels are kept: ``$JINA_CLIP_CACHE`` or the user cache."""
    if own := os.environ.get("JINA_CLIP_CACHE"):
        return Path(own) / "native"
    user = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(user) / "jina-clip" / "native"


@functools.cache
def kernels() -> SkinnyKernels | None:
    """The kernels for this CPU, compiled on first use; ``None`` where they cannot run."""
    if os.environ.get("JINA_CLIP_SKINNY", "1").lower() in ("0", "false", "no", "off"):
        return None
    flags = _cpu_flags()
    if not {"avx512f", "avx512bw", "avx512vl", "fma"} <= flags:
        return None
    try:
        library = _build()
        try:
            lib = _load(library)
        except OSError:  # a damaged cached build (a full disk, a killed copy): build it again
            library.unlink(missing_ok=True)
            lib = _load(_build())
    except (OSError, subprocess.SubprocessError) as err:
        log.info("skinny GEMM kernels unavailable (%s); using oneDNN for short inputs", err)
        return None
    args = [ctypes.c_void_p] * 4 + [ctypes.c_int] * 4
    for fn in (lib.skinny_gemm_f32, lib.skinny_gemm_bf16):
        fn.argtypes, fn.restype = args, ctypes.c_int
    lib.skinny_gemm_s8.argtypes = [ctypes.c_void_p] * 6 + [ctypes.c_int] * 4
    lib.skinny_gemm_s8.restype = ctypes.c_int
    return SkinnyKernels(lib, float32=True, bfloat16="avx512_bf16" in flags,
                         int8="avx512_vnni" in flags)


def _load(library: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(library))
    if lib.skinny_gemm_abi() != _ABI:
        raise OSError(f"{library} is not the expected build")
    return lib


def _cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux only: elsewhere, none, and the kernels stay off)."""
    if not sys.platform.startswith("linux"):
        return set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _build() -> Path:
    """Compile ``SOURCE`` unless this source and these flags are already built; the result is
    written under a temporary name and renamed, so concurrent processes never load half a
    file."""
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        raise OSError("no C compiler (set CC)")
    source = SOURCE.read_bytes()
    digest = hashlib.sha256(source + "\0".join((compiler, *FLAGS)).encode()).hexdigest()[:16]
    target = cache_dir() / f"skinny_gemm-{digest}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".skinny_gemm-", suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        proc = subprocess.run([compiler, *FLAGS, str(SOURCE), "-o", tmp], capture_output=True,
                              text=True, timeout=_COMPILE_TIMEOUT_S, check=False)
        if proc.returncode != 0:
            raise OSError(f"{compiler} failed: {proc.stderr.strip()[-500:]}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target
