"""Our C kernels (``native/*.c``): compiled on first use, cached, loaded with :mod:`ctypes`.

Three kernel families live in one library: the skinny GEMMs of a short query
(:mod:`~jina_clip.model.skinny`), attention (:mod:`~jina_clip.model.short_attention`) and
gated activations (:mod:`~jina_clip.model.gated`). The sources are compiled with the
system C compiler (``$CC``, else ``cc``) into the user cache, once per source set and
compiler, and loaded with :mod:`ctypes`, which releases the GIL during a call. The
library's baseline is AVX-512F/BW/VL and FMA; the functions that need AVX512-BF16 or
AVX512-VNNI carry those as per-function target attributes, so no other function can contain
their instructions, and they are called only on CPUs that report them.

:func:`library` returns ``None`` (and every caller uses PyTorch's own ops, with the same
results up to fp32 summation order) without a compiler, on a CPU without AVX-512, off Linux,
or with ``JINA_CLIP_NATIVE=0`` (read once, on first use; the per-family switches
``JINA_CLIP_ATTENTION`` and ``JINA_CLIP_GATED`` are read on every call).
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

__all__ = ["NativeLibrary", "cache_dir", "cpu_flags", "cpu_supported", "library", "switched_off"]

log = logging.getLogger("jina_clip.model")

SOURCES = tuple(Path(__file__).with_name("native") / name
                for name in ("skinny_gemm.c", "short_attention.c", "gated.c"))
#: Included by the sources: part of what a cached build is keyed on.
HEADERS = (Path(__file__).with_name("native") / "simd.h",)
FLAGS = ("-O3", "-shared", "-fPIC", "-fopenmp", "-mavx512f", "-mavx512bw", "-mavx512vl",
         "-mfma")
#: What ``jina_clip_native_abi()`` returns in the build this module expects.
ABI = 8
_COMPILE_TIMEOUT_S = 120
_BASELINE = frozenset({"avx512f", "avx512bw", "avx512vl", "fma"})


@dataclass(frozen=True)
class NativeLibrary:
    """The loaded library, and which optional instruction sets this CPU has for it."""

    lib: ctypes.CDLL
    #: AVX512-BF16 (``vdpbf16ps``): the bf16 kernels.
    bfloat16: bool
    #: AVX512-VNNI (``vpdpbusd``): the int8 kernel.
    int8: bool


def switched_off(variable: str) -> bool:
    """Whether the environment variable ``variable`` turns a kernel family off."""
    return os.environ.get(variable, "1").lower() in ("0", "false", "no", "off")


@functools.cache
def library() -> NativeLibrary | None:
    """The kernels for this CPU, compiled on first use; ``None`` where they cannot run."""
    if switched_off("JINA_CLIP_NATIVE"):
        return None
    flags = cpu_flags()
    if not flags >= _BASELINE:
        return None
    try:
        built = _build()
        try:
            lib = _load(built)
        except OSError:  # a damaged cached build (a full disk, a killed copy): build it again
            built.unlink(missing_ok=True)
            lib = _load(_build())
    except (OSError, subprocess.SubprocessError) as err:
        log.info("native kernels unavailable (%s); using PyTorch's ops", err)
        return None
    _declare(lib)
    return NativeLibrary(lib, bfloat16="avx512_bf16" in flags, int8="avx512_vnni" in flags)


def _declare(lib: ctypes.CDLL) -> None:
    ptr, i32 = ctypes.c_void_p, ctypes.c_int
    for fn in (lib.skinny_gemm_f32, lib.skinny_gemm_bf16):
        fn.argtypes, fn.restype = [ptr] * 4 + [i32] * 4, i32
    lib.skinny_gemm_s8.argtypes, lib.skinny_gemm_s8.restype = [ptr] * 6 + [i32] * 4, i32
    for fn in (lib.short_attention_f32, lib.short_attention_bf16):
        fn.argtypes = [ptr] * 5 + [i32] * 3 + [ptr] * 4 + [i32, i32, ctypes.c_float, i32]
        fn.restype = i32
    for fn in (lib.gelu_mul_f32, lib.gelu_mul_bf16, lib.silu_mul_f32, lib.silu_mul_bf16):
        fn.argtypes = [ptr] * 3 + [ctypes.c_int64, i32, ctypes.c_int64, i32]
        fn.restype = None


def cache_dir() -> Path:
    """Where compiled kernels are kept: ``$JINA_CLIP_CACHE`` or the user cache."""
    if own := os.environ.get("JINA_CLIP_CACHE"):
        return Path(own) / "native"
    user = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(user) / "jina-clip" / "native"


def cpu_flags() -> set[str]:
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


def cpu_supported() -> bool:
    """Whether this CPU has the library's baseline (AVX-512F/BW/VL and FMA)."""
    return cpu_flags() >= _BASELINE


def _load(built: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(built))
    if lib.jina_clip_native_abi() != ABI:
        raise OSError(f"{built} is not the expected build")
    return lib


def _build_key(compiler: str) -> str:
    """What a cached build is keyed on: every source and header, the compiler and the flags."""
    digest = hashlib.sha256()
    for source in (*SOURCES, *HEADERS):
        digest.update(source.read_bytes() + b"\0")
    digest.update("\0".join((compiler, *FLAGS)).encode())
    return digest.hexdigest()[:16]


def _build() -> Path:
    """Compile ``SOURCES`` unless these sources, headers and flags are already built; the result is
    written under a temporary name and renamed, so concurrent processes never load half a
    file."""
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        raise OSError("no C compiler (set CC)")
    target = cache_dir() / f"jina_clip_native-{_build_key(compiler)}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".jina_clip_native-", suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        proc = subprocess.run([compiler, *FLAGS, *map(str, SOURCES), "-o", tmp],
                              capture_output=True, text=True, timeout=_COMPILE_TIMEOUT_S,
                              check=False)
        if proc.returncode != 0:
            raise OSError(f"{compiler} failed: {proc.stderr.strip()[-500:]}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target
