"""Symmetric ALiBi attention for JinaBERT, without an [L, L] bias kept per layer.

The official torch path stores a ``[1, H, L, L]`` fp32 bias per layer (about 3.2 GB per layer
at 8,192 tokens). Here the additive mask ``-slope_h * |i - j|`` (plus a large negative value
on padded keys) is built on the fly for a block of queries and fed to
``scaled_dot_product_attention``; queries are processed in blocks small enough that one
block's mask stays under a fixed element budget.

On CPU, when no key is padded (one long text), no mask is built at all: the bias depends only
on ``|i - j|``, so with the keys (and values) in reverse order it is ``t[h, i + j']`` for one
``[H, 2L - 1]`` table ``t``, and an ``as_strided`` view of that table with strides
``(1, 1)`` over (query, key) *is* the ``[H, L, L]`` mask. CPU flash attention reads the mask
through its strides (nothing is materialised: the peak stays O(L)), and attention is
permutation-invariant over keys, so the result is the same up to summation order. This
removed the per-layer, per-block mask construction that took about half of the long text's
attention time (docs/performance.md, "Long texts: a strided ALiBi mask").
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F

__all__ = ["DEFAULT_MASK_BUDGET", "AlibiMask", "alibi_slopes", "query_chunk_size"]

#: Largest mask one attention call may use, in elements (B * H * chunk * L): 64 MB in fp32.
#: Smaller blocks barely slow CPU attention down (each call still has >= 16M scores to do).
DEFAULT_MASK_BUDGET = 16 * 1024 * 1024


def alibi_slopes(num_heads: int) -> list[float]:
    """Per-head slopes of the ALiBi paper / fairseq, including the rule for a head count that
    is not a power of two (the closest power's slopes, then every other one of twice that)."""

    def power_of_2(n: int) -> list[float]:
        start = 2.0 ** (-(2.0 ** -(math.log2(n) - 3)))
        return [start * start**i for i in range(n)]

    if math.log2(num_heads).is_integer():
        return power_of_2(num_heads)
    closest = 2 ** math.floor(math.log2(num_heads))
    return power_of_2(closest) + alibi_slopes(2 * closest)[0::2][: num_heads - closest]


def query_chunk_size(batch: int, heads: int, length: int, budget: int) -> int:
    """Queries per attention call so that ``batch * heads * chunk * length <= budget``."""
    return max(1, min(length, budget // max(1, batch * heads * length)))


class AlibiMask:
    """Additive attention masks for one forward pass, shared by every layer.

    When the whole ``[B, H, L, L]`` mask fits the budget it is built once and reused by all
    layers; otherwise each layer asks for the mask of each query block in turn, so at most one
    block's mask exists at a time.
    """

    def __init__(
        self,
        slopes: torch.Tensor,  # [H] fp32
        key_padding: torch.Tensor,  # [B, L] bool, True = padded key
        dtype: torch.dtype,
        budget: int = DEFAULT_MASK_BUDGET,
    ) -> None:
        self.slopes = slopes.float()
        self.key_padding = key_padding
        self.dtype = dtype
        batch, length = key_padding.shape
        self.length = length
        self.chunk = query_chunk_size(batch, slopes.numel(), length, budget)
        self._full = self.block(0, length) if self.chunk >= length else None
        self._table = (self._distance_table()
                       if self._full is None and key_padding.device.type == "cpu"
                       and not bool(key_padding.any()) else None)

    @property
    def chunked(self) -> bool:
        return self._full is None

    def _distance_table(self) -> torch.Tensor:
        """``t[h, u] = -slope_h * |u - (L - 1)|`` for ``u`` in ``[0, 2L - 1)``, [H, 2L - 1]."""
        u = torch.arange(2 * self.length - 1, device=self.key_padding.device)
        distance = (u - (self.length - 1)).abs_().float()
        return torch.mul(distance.unsqueeze(0), (-self.slopes)[:, None]).to(self.dtype)

    def strided_mask(self) -> torch.Tensor:
        """The whole [B, H, L, L] mask for keys in *reverse* order, as a view of the table:
        ``mask[b, h, i, j'] = t[h, i + j']`` (key ``j' = L - 1 - j``)."""
        assert self._table is not None
        heads, width = self._table.shape
        return self._table.as_strided(
            (self.key_padding.shape[0], heads, self.length, self.length), (0, width, 1, 1))

    def block(self, start: int, end: int) -> torch.Tensor:
        """Mask for queries ``start:end``: [B, H, end - start, L] in the compute dtype."""
        device = self.key_padding.device
        q_pos = torch.arange(start, end, device=device)
        k_pos = torch.arange(self.length, device=device)
        distance = (q_pos[:, None] - k_pos[None, :]).abs_().float()  # [c, L]
        # -slope * |i - j| in fp32, like the official buffer; one [H, c, L] allocation
        bias = torch.mul(distance.unsqueeze(0), (-self.slopes)[:, None, None])
        bias = bias.to(self.dtype).unsqueeze(0)  # [1, H, c, L]
        # A finite fill (half the dtype's lowest, so adding a score cannot overflow to -inf)
        # gives a row whose keys are all padding a uniform softmax instead of NaN.
        pad = self.key_padding[:, None, None, :]  # [B, 1, 1, L]
        lowest = torch.finfo(self.dtype).min / 2
        if pad.shape[0] == 1:
            return bias.masked_fill_(pad, lowest)
        return torch.where(pad, lowest, bias)  # [B, H, c, L]

    def blocks(self) -> Iterator[tuple[int, int, torch.Tensor]]:
        if self._full is not None:
            yield 0, self.length, self._full
            return
        for start in range(0, self.length, self.chunk):
            end = min(start + self.chunk, self.length)
            yield start, end, self.block(start, end)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """softmax(q k^T / sqrt(d) + mask) v for [B, H, L, D] inputs, block by block."""
        if self._full is not None:
            return F.scaled_dot_product_attention(q, k, v, attn_mask=self._full)
        if self._table is not None:  # no padding, CPU: the strided view, keys reversed
            return F.scaled_dot_product_attention(
                q, k.flip(2), v.flip(2), attn_mask=self.strided_mask())
        out = torch.empty_like(q)
        for start, end, mask in self.blocks():
            out[:, :, start:end] = F.scaled_dot_product_attention(
                q[:, :, start:end], k, v, attn_mask=mask
            )
        return out
