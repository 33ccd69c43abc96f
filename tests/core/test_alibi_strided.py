"""The strided ALiBi mask (CPU, no padded key, longer than the mask budget): the same
attention as the explicit mask, and the same vectors as the float64 reference model."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest
import torch
import torch.nn.functional as F

from jina_clip.model import JinaCLIPModel, alibi_slopes
from jina_clip.model.alibi import DEFAULT_MASK_BUDGET, AlibiMask


def _reference(tiny_checkpoint: pathlib.Path):  # type: ignore[no-untyped-def]
    path = pathlib.Path(__file__).with_name("reference_model.py")
    spec = importlib.util.spec_from_file_location("jina_clip_reference_model_strided", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module.NaiveJinaCLIP(tiny_checkpoint)


def _explicit(slopes: torch.Tensor, length: int) -> torch.Tensor:
    pos = torch.arange(length)
    return -slopes[:, None, None] * (pos[:, None] - pos[None, :]).abs().float()


@pytest.mark.parametrize("batch", [1, 2])
def test_strided_mask_is_the_alibi_mask_with_keys_reversed(batch: int) -> None:
    slopes = torch.tensor(alibi_slopes(6))
    length = 300
    mask = AlibiMask(slopes, torch.zeros(batch, length, dtype=torch.bool), torch.float32,
                     budget=6 * 300 * 10)  # over budget: the chunked regime
    assert mask.chunked and mask._table is not None
    view = mask.strided_mask()
    assert view.shape == (batch, 6, length, length)
    assert mask._table.numel() == 6 * (2 * length - 1)  # O(L): nothing materialised
    torch.testing.assert_close(view[0], _explicit(slopes, length).flip(-1), atol=0, rtol=0)
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(batch, 6, length, 16, generator=g) for _ in range(3))
    want = F.scaled_dot_product_attention(q, k, v, attn_mask=_explicit(slopes, length))
    torch.testing.assert_close(mask.attend(q, k, v), want, atol=1e-5, rtol=0)


def test_padding_keeps_the_block_path() -> None:
    pad = torch.zeros(1, 50, dtype=torch.bool)
    pad[0, -3:] = True
    mask = AlibiMask(torch.tensor(alibi_slopes(4)), pad, torch.float32, budget=100)
    assert mask.chunked and mask._table is None


def test_long_text_through_the_strided_path_matches_the_reference(
    tiny_checkpoint: pathlib.Path,
) -> None:
    model = JinaCLIPModel.from_pretrained(tiny_checkpoint)
    naive = _reference(tiny_checkpoint)
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(104, 400, (1, 1200), generator=g)
    ids[0, 0], ids[0, -1] = 101, 102
    bert = model.text_model.transformer
    try:
        bert.mask_budget = 1000  # far below 1 x H x 1200 x 1200: the chunked regime
        assert bert.build_mask(ids != 0, torch.float32)._table is not None
        got = model.encode_text(ids, ids != 0)
    finally:
        bert.mask_budget = DEFAULT_MASK_BUDGET
    torch.testing.assert_close(got.double(), naive.text(ids).double(), atol=1e-5, rtol=0)
