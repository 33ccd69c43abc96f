"""Recognising "the model ran out of memory" and recovering from it.

An out-of-memory error in one model call says nothing about the inputs being bad: the same
items usually fit in smaller batches. The batcher uses :func:`is_out_of_memory` to tell it
apart from other failures, and :func:`free_accelerator_cache` to hand the allocator's cached
blocks back before it retries. torch is looked up, never imported: the server also runs
encoders that do not use it.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["ModelOutOfMemory", "free_accelerator_cache", "is_out_of_memory"]

log = logging.getLogger("jina_clip.server")

#: Messages of allocators that raise a plain RuntimeError: CUDA/HIP/MPS ("out of memory"),
#: torch's CPU allocator ("DefaultCPUAllocator: can't allocate memory"), and cuBLAS / cuDNN
#: failing to allocate their workspace ("CUBLAS_STATUS_ALLOC_FAILED",
#: "CUDNN_STATUS_ALLOC_FAILED"), which are the same shortage reported by a library.
_OOM_MESSAGES = ("out of memory", "can't allocate memory", "status_alloc_failed")


class ModelOutOfMemory(RuntimeError):
    """The model ran out of memory on one input even in a batch of its own.

    ``index`` is the input's position in its request (the app answers 503 + Retry-After:
    capacity may come back, e.g. when another process frees the GPU)."""

    def __init__(self, message: str, *, index: int) -> None:
        super().__init__(message)
        self.index = index


def is_out_of_memory(exc: BaseException) -> bool:
    """True for torch's OutOfMemoryError, MemoryError, and allocator RuntimeErrors."""
    if isinstance(exc, MemoryError):
        return True
    torch = sys.modules.get("torch")
    oom_type = getattr(torch, "OutOfMemoryError", None) if torch is not None else None
    if isinstance(oom_type, type) and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and any(m in str(exc).lower() for m in _OOM_MESSAGES)


def free_accelerator_cache() -> None:
    """Release the blocks torch's CUDA/MPS caching allocator holds, so a retry can use them."""
    torch = sys.modules.get("torch")
    if torch is None:
        return
    try:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        mps = getattr(torch, "mps", None)
        if mps is not None and torch.backends.mps.is_available():
            mps.empty_cache()
    except Exception:  # never let cleanup replace the error being handled
        log.debug("could not free the accelerator cache", exc_info=True)
