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

On that path, keys far from a query are skipped where that provably changes nothing: a key at
distance ``d`` gets the bias ``-slope_h * d``, and its score is at most ``|q_i| max_j |k_j|``
(scaled), while the query's own key scores ``q_i . k_i``. So, per head, beyond a distance
``w_h`` computed from the actual norms the far keys' softmax weights sum to less than
:data:`FAR_KEY_TOLERANCE` of the query's total (far below fp32 rounding), and each block of
queries attends only to the keys within ``w_h`` of it. Steep heads (slope 1/2: a few hundred
keys) then cost a fraction of a full pass (docs/performance.md, "Long texts: far keys
skipped").
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F

from . import short_attention

__all__ = [
    "DEFAULT_MASK_BUDGET", "FAR_KEY_TOLERANCE", "AlibiMask", "alibi_slopes", "far_key_window",
    "query_chunk_size",
]

#: Largest mask one attention call may use, in elements (B * H * chunk * L): 64 MB in fp32.
#: Smaller blocks barely slow CPU attention down (each call still has >= 16M scores to do).
DEFAULT_MASK_BUDGET = 16 * 1024 * 1024

#: Largest share of a query's softmax weight the skipped far keys may carry (a bound, not an
#: estimate); 2**-30 is 64x below fp32's rounding step.
FAR_KEY_TOLERANCE = 2.0**-30

#: Queries per attention call on the far-key path (a block attends to its own queries plus
#: ``w_h`` keys on each side, so smaller blocks do less work but more calls): 256 was ~10 %
#: faster than blocks as wide as the window in fp32 at 8k tokens, 512 in between.
WINDOW_BLOCK = 256


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


def far_key_window(
    q: torch.Tensor, k: torch.Tensor, slope: float, tolerance: float = FAR_KEY_TOLERANCE
) -> int:
    """Distance beyond which one head's keys carry, together, less than ``tolerance`` of
    every query's softmax weight, for ``[B, L, D]`` queries and keys (no padding).

    For query ``i`` and a key at distance ``d > w``, weight / own-key weight
    ``<= exp(s |q_i| K - s q_i.k_i - m d)`` (``s = D**-0.5``, ``K = max |k_j|``, ``m`` the
    slope); summed over both sides and all ``d > w`` that is
    ``<= 2 exp(A - m (w + 1)) / (1 - exp(-m))`` with ``A`` the largest margin over queries.
    ``m`` is taken 1 % smaller, for the bias table's rounding in bf16."""
    scale = q.shape[-1] ** -0.5
    q_norm = torch.linalg.vector_norm(q, dim=-1, dtype=torch.float32)  # [B, L]
    k_max = float(torch.linalg.vector_norm(k, dim=-1, dtype=torch.float32).max())
    own = (q.float() * k.float()).sum(-1)  # [B, L]
    margin = float(((q_norm * k_max - own) * scale).max())
    m = slope * 0.99
    w = (margin + math.log(2.0 / (tolerance * -math.expm1(-m)))) / m - 1.0
    if not math.isfinite(w):  # a non-finite input: keep every key, like plain attention
        return q.shape[-2]
    return max(0, math.ceil(w))


def _query_block(window: int, length: int) -> int:
    """Queries per attention call for a head whose keys matter within ``window``: the whole
    length when no block could skip a key."""
    return length if window + WINDOW_BLOCK >= length else WINDOW_BLOCK


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
        cpu = key_padding.device.type == "cpu"
        # nothing data-dependent while a graph is captured, beyond what the long path needs
        tracing = torch.jit.is_tracing() or torch.compiler.is_compiling()
        self._unpadded = cpu and (self.chunked or not tracing) and not bool(key_padding.any())
        #: [B] real tokens per sequence where the padding is at the end (CPU): what the
        #: attention kernel takes instead of a mask.
        self.lengths = (short_attention.right_padded_lengths(key_padding)
                        if cpu and not tracing else None)
        # The whole mask when it fits the budget, shared by every layer; where the kernel
        # may take the calls it is built only if one of them falls back.
        self._full = (None if self.chunked or self.lengths is not None
                      else self.block(0, length))
        self._table = self._distance_table() if self.chunked and self._unpadded else None

    @property
    def chunked(self) -> bool:
        return self.chunk < self.length

    def _distance_table(self) -> torch.Tensor:
        """``t[h, u] = -slope_h * |u - (L - 1)|`` for ``u`` in ``[0, 2L - 1)``, [H, 2L - 1]."""
        u = torch.arange(2 * self.length - 1, device=self.key_padding.device)
        distance = (u - (self.length - 1)).abs_().float()
        return torch.mul(distance.unsqueeze(0), (-self.slopes)[:, None]).to(self.dtype)

    def strided_mask(self) -> torch.Tensor:
        """The whole [B, H, L, L] mask for keys in *reverse* order, as a view of the table:
        ``mask[b, h, i, j'] = t[h, i + j']`` (key ``j' = L - 1 - j``)."""
        return self._table_view((0, self.slopes.numel()), (0, self.length), (0, self.length))

    def _table_view(self, heads: tuple[int, int], rows: tuple[int, int],
                    keys: tuple[int, int]) -> torch.Tensor:
        """:meth:`strided_mask` for heads ``heads``, queries ``rows`` and reversed keys
        ``keys`` (each a ``[start, end)`` range): [B, heads, rows, keys], ``t[h, i + j']``."""
        assert self._table is not None
        width = self._table.shape[1]
        offset = self._table.storage_offset() + heads[0] * width + rows[0] + keys[0]
        return self._table.as_strided(
            (self.key_padding.shape[0], heads[1] - heads[0], rows[1] - rows[0],
             keys[1] - keys[0]), (0, width, 1, 1), offset)

    def _attend_strided(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """The no-padding CPU path: keys reversed against the strided mask; per head, each
        block of queries sees only the keys within its :func:`far_key_window`.

        One head at a time, so only that head's keys and values are reversed copies, and the
        result is written in ``[B, L, H, D]`` order (returned as a ``[B, H, L, D]`` view), so
        the caller's ``transpose(1, 2).reshape`` needs no copy: two fewer full-size
        activations at 8k tokens."""
        batch, heads, length, dim = q.shape
        windows = [far_key_window(q[:, h], k[:, h], s) for h, s in enumerate(self.slopes.tolist())]
        blocks = [_query_block(w, length) for w in windows]
        if all(block == length for block in blocks):  # nothing to skip
            return F.scaled_dot_product_attention(
                q, k.flip(2), v.flip(2), attn_mask=self.strided_mask())
        out = q.new_empty(batch, length, heads, dim)
        for h, (w, block) in enumerate(zip(windows, blocks, strict=True)):
            k_rev, v_rev = k[:, h : h + 1].flip(2), v[:, h : h + 1].flip(2)  # j -> L - 1 - j
            for start in range(0, length, block):
                end = min(start + block, length)
                # keys [start - w, end + w) in the original order, reversed
                first, last = length - min(length, end + w), length - max(0, start - w)
                out[:, start:end, h] = F.scaled_dot_product_attention(
                    q[:, h : h + 1, start:end], k_rev[:, :, first:last], v_rev[:, :, first:last],
                    attn_mask=self._table_view((h, h + 1), (start, end), (first, last)))[:, 0]
        return out.transpose(1, 2)

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

    def _whole(self) -> torch.Tensor:
        """The whole mask (unchunked), built once."""
        if self._full is None:
            self._full = self.block(0, self.length)
        return self._full

    def blocks(self) -> Iterator[tuple[int, int, torch.Tensor]]:
        if not self.chunked:
            yield 0, self.length, self._whole()
            return
        for start in range(0, self.length, self.chunk):
            end = min(start + self.chunk, self.length)
            yield start, end, self.block(start, end)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """softmax(q k^T / sqrt(d) + mask) v for [B, H, L, D] inputs: through the attention
        kernel where it runs (CPU, right padding), except on the strided path (unpadded and
        over the mask budget, ~1,400 tokens), whose far-key skipping does less work (2.5x
        less time at 4,096 fp32 tokens); else ``scaled_dot_product_attention`` block by
        block."""
        if self.lengths is not None and self._table is None:
            out = short_attention.attention(
                q, k, v, lengths=None if self._unpadded else self.lengths, slopes=self.slopes)
            if out is not None:
                return out
        if not self.chunked:
            return F.scaled_dot_product_attention(q, k, v, attn_mask=self._whole())
        if self._table is not None:  # no padding, CPU: the strided view, keys reversed
            return self._attend_strided(q, k, v)
        out = torch.empty_like(q)
        for start, end, mask in self.blocks():
            out[:, :, start:end] = F.scaled_dot_product_attention(
                q[:, :, start:end], k, v, attn_mask=mask
            )
        return out
