"""Far keys skipped on the strided ALiBi path: the window is a true bound on the skipped
softmax weight, and attention through it equals attention over every key (float64 reference
with the explicit mask)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from jina_clip.model import alibi
from jina_clip.model.alibi import FAR_KEY_TOLERANCE, AlibiMask, alibi_slopes, far_key_window


def _explicit(slopes: torch.Tensor, length: int) -> torch.Tensor:
    pos = torch.arange(length)
    return -slopes[:, None, None].double() * (pos[:, None] - pos[None, :]).abs().double()


def _reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, slopes: torch.Tensor):
    scores = q.double() @ k.double().transpose(-1, -2) / math.sqrt(q.shape[-1])
    weights = (scores + _explicit(slopes, q.shape[-2])).softmax(-1)
    return weights @ v.double()


def _far_weight(q: torch.Tensor, k: torch.Tensor, slope: float, window: int) -> float:
    """The largest share of a query's softmax weight on keys farther than ``window``."""
    length = q.shape[-2]
    scores = q.double() @ k.double().transpose(-1, -2) / math.sqrt(q.shape[-1])
    pos = torch.arange(length)
    distance = (pos[:, None] - pos[None, :]).abs()
    weights = (scores - slope * distance.double()).softmax(-1)
    return float((weights * (distance > window)).sum(-1).max())


def _qkv(batch: int, heads: int, length: int, *, seed: int, scale: float = 1.0):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(batch, heads, length, 16, generator=g) * scale for _ in range(3))


@pytest.mark.parametrize("slope", [0.5, 0.125, 1 / 16])
def test_window_bounds_the_skipped_weight(slope: float) -> None:
    q, k, _ = _qkv(1, 1, 1500, seed=1, scale=1.5)
    window = far_key_window(q[:, 0], k[:, 0], slope)
    assert window < 1500  # the bound is useful, not "every key"
    assert _far_weight(q[0, 0], k[0, 0], slope, window) < FAR_KEY_TOLERANCE
    # and not absurdly loose: at a third of the window the far keys do matter
    assert _far_weight(q[0, 0], k[0, 0], slope, window // 3) > FAR_KEY_TOLERANCE


def test_window_grows_with_far_keys_that_score_high() -> None:
    """A far key aligned with every query (a huge score) must stay inside the window."""
    q, k, _ = _qkv(1, 1, 1000, seed=2)
    quiet = far_key_window(q[:, 0], k[:, 0], 0.25)
    k[0, 0, 999] = q[0, 0].mean(0) * 40  # scores ~ |q|^2 * 40 / 4 at distance up to 999
    loud = far_key_window(q[:, 0], k[:, 0], 0.25)
    assert loud > quiet
    assert _far_weight(q[0, 0], k[0, 0], 0.25, loud) < FAR_KEY_TOLERANCE


def test_non_finite_inputs_keep_every_key() -> None:
    q, k, _ = _qkv(1, 1, 300, seed=3)
    q[0, 0, 5, 0] = float("inf")
    assert far_key_window(q[:, 0], k[:, 0], 0.5) == 300


@pytest.mark.parametrize(("batch", "block"), [(1, 256), (2, 64), (1, 100)])
def test_windowed_attention_equals_attention_over_every_key(
    batch: int, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    heads, length = 6, 1100  # slopes 0.25 ... 1/64 plus sqrt(2)-steps: some windowed, some full
    slopes = torch.tensor(alibi_slopes(heads))
    q, k, v = _qkv(batch, heads, length, seed=4)
    monkeypatch.setattr(alibi, "WINDOW_BLOCK", block)
    mask = AlibiMask(slopes, torch.zeros(batch, length, dtype=torch.bool), torch.float32,
                     budget=1000)
    assert mask._table is not None
    windows = [far_key_window(q[:, h], k[:, h], float(s)) for h, s in enumerate(slopes)]
    assert min(windows) * 2 + block < length  # the windowed branch runs
    calls = []
    real_sdpa = F.scaled_dot_product_attention
    monkeypatch.setattr(alibi.F, "scaled_dot_product_attention",
                        lambda *a, **kw: calls.append(a[1].shape[-2]) or real_sdpa(*a, **kw))
    got = mask.attend(q, k, v)
    assert len(calls) > heads and min(calls) < length  # blocks saw fewer keys than L
    torch.testing.assert_close(got.double(), _reference(q, k, v, slopes), atol=2e-6, rtol=0)


def test_windowed_attention_in_bf16_stays_close_to_fp32() -> None:
    heads, length = 4, 1200
    slopes = torch.tensor(alibi_slopes(heads))
    q, k, v = _qkv(1, heads, length, seed=5)
    pad = torch.zeros(1, length, dtype=torch.bool)
    want = _reference(q, k, v, slopes).float()
    got = AlibiMask(slopes, pad, torch.bfloat16, budget=1000).attend(
        q.bfloat16(), k.bfloat16(), v.bfloat16())
    cos = F.cosine_similarity(got.float().flatten(2), want.flatten(2), dim=-1)
    assert float(cos.min()) > 0.999


def test_windowed_output_needs_no_copy_to_merge_heads() -> None:
    """The caller merges heads with ``transpose(1, 2).reshape``: on the windowed path that is
    a view (no full-size copy at 8k tokens)."""
    slopes = torch.tensor(alibi_slopes(4))
    q, k, v = _qkv(1, 4, 1100, seed=6)
    mask = AlibiMask(slopes, torch.zeros(1, 1100, dtype=torch.bool), torch.float32, budget=1000)
    out = mask.attend(q, k, v)
    assert out.shape == (1, 4, 1100, 16)
    assert out.transpose(1, 2).is_contiguous()
