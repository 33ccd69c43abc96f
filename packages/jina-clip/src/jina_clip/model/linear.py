"""Linear layers that use oneDNN with pre-packed weights for fp32 and bf16 inference on CPU.

PyTorch's CPU ``F.linear`` calls MKL's sgemm (fp32) or a generic bf16 GEMM, both of which
re-pack the weight on every call and miss the fastest kernels for the skinny GEMMs of a
short query. oneDNN (bundled with every x86 PyTorch build) with the weight packed once into
its blocked layout is faster at every row count measured (docs/performance.md, "oneDNN
linears"). The packed copy is made lazily, on the first CPU call without autograd, and is
rebuilt if the weight changes (new storage, in-place edit, dtype).

fp32 results equal ``F.linear`` up to fp32 rounding (same math, different blocking; tested).
bf16 runs oneDNN's native AVX512-BF16 / AMX kernels (fp32 accumulation) where the CPU has
them (``torch.ops.mkldnn._is_mkldnn_bf16_supported``); elsewhere bf16 uses ``F.linear``. Any
other case (GPU, other dtypes, autograd, graph capture, a torch build without the oneDNN ops)
uses ``F.linear``. Parameter names and the state dict are those of ``nn.Linear``.

Inputs of at most 16 rows (a query) go to our skinny kernels instead where they can run
(:mod:`jina_clip.model.skinny`: AVX-512, compiled on first use), with their own packed copy.

The cost is memory: each packed weight is a second copy of that weight, made only once that
layer runs on CPU; a long input (over :data:`PACKED_ROWS_LIMIT` tokens) holds one layer's
copies at a time (:func:`layer_packing`). Set ``JINA_CLIP_ONEDNN=0`` to turn it off.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from . import skinny

__all__ = [
    "PACKED_ROWS_LIMIT", "Linear", "layer_packing", "linear", "onednn_available",
    "onednn_bf16_available", "release_packed", "row_bucket", "transient_packing",
]

#: Rows (tokens) of one forward above which a text tower keeps no packed copies (see
#: :func:`transient_packing`); the CPU token budget (2,048 padded tokens) keeps batches under it.
PACKED_ROWS_LIMIT = 2048

#: Where a linear keeps its packed copies: oneDNN's (any row count), the skinny kernels' (at
#: most :data:`~jina_clip.model.skinny.MAX_ROWS` rows), and an int8 text tower's skinny copy
#: (``local/quantize.py``); :func:`release_packed` drops them all.
_SLOTS = ("_onednn_weight", "_skinny_weight", "_skinny_int8")

_transient: contextvars.ContextVar[dict[int, dict[str, object]] | None] = (
    contextvars.ContextVar("jina_clip_transient_packing", default=None))


@contextlib.contextmanager
def transient_packing(active: bool = True) -> Iterator[None]:
    """Inside (when ``active``), a linear that has no packed copy yet packs its weight into
    this scope only: the copy is reused by every call in the scope and freed at its end.

    For long inputs, one layer at a time: the packed GEMMs stay (1.3-1.6x faster than
    ``F.linear`` in fp32 at 1,024-8,192 rows; a layer's packing costs ~7 ms), but a process
    that only embeds long documents never holds the packed copies of every layer (~450 MB
    for jina-clip-v1's fp32 text tower, which put one 8,192-token text over 1.6 GiB;
    docs/performance.md, "Long texts: packed copies per layer")."""
    token = _transient.set({} if active else None)
    try:
        yield
    finally:
        _transient.reset(token)


def release_packed(module: nn.Module) -> None:
    """Drop the packed copies kept on ``module``'s linears; their next packed call makes
    them again (~7 ms per jina-clip-v1 layer in fp32)."""
    for sub in module.modules():
        for slot in [k for k in sub.__dict__ if k in _SLOTS]:
            del sub.__dict__[slot]


def layer_packing(
    model: nn.Module, rows: int
) -> Callable[[], contextlib.AbstractContextManager[None]]:
    """The scope to run each layer of ``model`` in, for a forward over ``rows`` tokens.

    Over :data:`PACKED_ROWS_LIMIT` the packed copies ``model`` keeps from earlier short inputs
    are released first and each layer packs into a :func:`transient_packing` scope, so a
    long text holds one layer's packed copies, not every layer's (a jina-clip-v2 process that
    had served queries peaked ~1.2 GB higher on an 8k text); the next short input packs
    again."""
    long = rows > PACKED_ROWS_LIMIT
    if not long:  # no scope at all: nothing to set per layer (and nothing torch.compile
        return contextlib.nullcontext  # cannot trace: it graph-breaks on ContextVar.set)
    release_packed(model)
    return transient_packing


def _slots(owner: nn.Module) -> dict[str, object]:
    """Where ``owner``'s packed copy is kept: on the module, or, inside
    :func:`transient_packing` for a module that has none yet, in that scope's dict."""
    scope = _transient.get()
    if scope is None or any(slot in owner.__dict__ for slot in _SLOTS):
        return owner.__dict__
    return scope.setdefault(id(owner), {})


@functools.cache
def onednn_available() -> bool:
    """Whether this torch build has the (private) oneDNN packed-linear ops, and they work."""
    if os.environ.get("JINA_CLIP_ONEDNN", "1").lower() in ("0", "false", "no", "off"):
        return False
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        weight = torch.arange(12, dtype=torch.float32).view(3, 4)
        packed = torch.ops.mkldnn._reorder_linear_weight(weight, 2)
        x = torch.ones(2, 4)
        out = torch.ops.mkldnn._linear_pointwise(x, packed, None, "none", [], "")
        return bool(torch.equal(out, F.linear(x, weight)))
    except (AttributeError, RuntimeError):
        return False


@functools.cache
def onednn_bf16_available() -> bool:
    """Whether oneDNN has native bf16 kernels on this CPU (AVX512-BF16, AMX); without them a
    packed bf16 GEMM is emulated and slower than ``F.linear``."""
    try:
        return onednn_available() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _packable(x: torch.Tensor, weight: torch.Tensor) -> bool:
    if x.dtype != weight.dtype:
        return False
    if x.dtype == torch.float32:
        return onednn_available()
    return x.dtype == torch.bfloat16 and onednn_bf16_available()


def linear(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, owner: nn.Module
) -> torch.Tensor:
    """``F.linear(x, weight, bias)``; on CPU fp32/bf16 without autograd, through oneDNN with
    ``weight`` packed once and cached on ``owner``."""
    if (
        _tracing()  # first: under torch.compile the rest would break the graph
        or x.device.type != "cpu"
        or torch.is_grad_enabled()
        or x.numel() == 0
        or not _packable(x, weight)
    ):
        return F.linear(x, weight, bias)
    flat = x.reshape(-1, x.shape[-1])
    rows = flat.shape[0]
    kernels = skinny.kernels() if rows <= skinny.MAX_ROWS else None
    if kernels is not None and kernels.supports(x.dtype, weight.shape[1]):
        packed, bias32 = _packed(owner, "_skinny_weight", weight, bias, skinny.pack)
        out = kernels.matmul(flat.contiguous(), packed, bias32, rows, weight.shape[0])
        return out.view(*x.shape[:-1], weight.shape[0])
    padded = rows if getattr(owner, "exact_rows", False) else row_bucket(rows)
    if padded != rows:  # zero rows in, garbage-free rows out, sliced off below
        flat = _padded_rows(flat, padded)
    flat = flat if flat.is_contiguous() else flat.contiguous()
    packed, _ = _packed(owner, "_onednn_weight", weight, None, _pack_onednn)
    out = torch.ops.mkldnn._linear_pointwise(
        flat, packed, None if bias is None else bias.detach(), "none", [], "")
    return out[:rows].view(*x.shape[:-1], weight.shape[0])


def _padded_rows(flat: torch.Tensor, padded: int) -> torch.Tensor:
    """``flat`` [rows, K] with zero rows appended up to ``padded``: one copy, and only the new
    rows zeroed (``F.pad`` fills the whole buffer first: ~2.5 % of a batch of images in fp32,
    whose 16 x 197 rows are no bucket size)."""
    rows = flat.shape[0]
    out = flat.new_empty(padded, flat.shape[1])
    out[:rows].copy_(flat)
    out[rows:].zero_()
    return out


def _packed(
    owner: nn.Module, slot: str, weight: torch.Tensor, bias: torch.Tensor | None,
    pack: Callable[[torch.Tensor], torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``pack(weight)`` (and ``bias`` as fp32), made once and kept in ``owner``'s ``slot``;
    made again when either tensor changes (new storage, in-place edit, dtype)."""
    key = (_identity(weight), None if bias is None else _identity(bias))
    slots = _slots(owner)
    cached = slots.get(slot)
    if cached is None or cached[0] != key:
        bias32 = None if bias is None else bias.detach().float().contiguous()
        slots[slot] = cached = (key, pack(weight.detach()), bias32)
    return cached[1], cached[2]


def _identity(t: torch.Tensor) -> tuple[object, ...]:
    # Inference tensors (a model loaded under torch.inference_mode) keep no version counter.
    version = -1 if t.is_inference() else t._version
    return (t.data_ptr(), version, tuple(t.shape), t.dtype)


def _pack_onednn(weight: torch.Tensor) -> torch.Tensor:
    return torch.ops.mkldnn._reorder_linear_weight(weight, 32)


def _tracing() -> bool:
    """Whether a graph is being captured (ONNX export, ``torch.compile``, ``torch.jit.trace``):
    the packed op and its Python-side cache cannot go into a graph, ``F.linear`` can."""
    return torch.jit.is_tracing() or torch.compiler.is_compiling()


def row_bucket(rows: int) -> int:
    """The row count the packed GEMM runs with: ``rows`` rounded up to a multiple of 8 up to
    64, then to one of 8 steps per power of two (at most 12.5 % padding).

    oneDNN keeps what it builds for each input shape for the life of the process (a few MB
    per shape and layer; docs/performance.md, "Row buckets"), so a server that sees every row
    count would grow without bound. Buckets bound the distinct shapes to ~8 per doubling."""
    if rows <= 64:
        return max(8, -(-rows // 8) * 8)
    step = 1 << (rows.bit_length() - 4)  # 1/8 of the power of two below rows
    return -(-rows // step) * step


class Linear(nn.Linear):
    """``nn.Linear`` that runs through :func:`linear` (oneDNN packed weights on CPU fp32)."""

    #: Run oneDNN at the input's own row count instead of its :func:`row_bucket`: for layers
    #: whose row counts are few anyway (the vision towers: batch size x a fixed token count,
    #: so at most one shape per batch size), the padding was a copy of the input and up to
    #: 12.5 % more arithmetic (16 v1 images: 3,152 rows ran as 3,328).
    exact_rows: bool = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias, self)

    def __getstate__(self) -> dict[str, object]:
        # The packed copy is a cache (an opaque oneDNN tensor): never copied or pickled.
        state = dict(self.__dict__)
        for slot in _SLOTS:
            state.pop(slot, None)
        return state
