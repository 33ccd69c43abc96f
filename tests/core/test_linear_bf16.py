"""The packed linear in bf16 (CPUs with native bf16): oneDNN's, or the skinny kernels' for at
most 16 rows; packed once, the same result as ``F.linear`` in bf16, repacked when the weight
changes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from jina_clip.model import skinny
from jina_clip.model.linear import Linear, onednn_bf16_available


def _slot(rows: int) -> str:
    """The packed copy a bf16 linear over ``rows`` rows keeps."""
    kernels = skinny.kernels()
    small = rows <= skinny.MAX_ROWS and kernels is not None and kernels.bfloat16
    return "_skinny_weight" if small else "_onednn_weight"


@pytest.mark.parametrize("rows", [1, 16, 100])
def test_bf16_linear_equals_f_linear(rows: int) -> None:
    if not onednn_bf16_available():
        pytest.skip("no native oneDNN bf16 on this CPU")
    torch.manual_seed(rows)
    layer = Linear(64, 96).to(torch.bfloat16)
    x = torch.randn(rows, 64, dtype=torch.bfloat16)
    with torch.inference_mode():
        got = layer(x)
        key = layer.__dict__[_slot(rows)][0]  # the packed path ran, on the bf16 weight
        assert key[0][-1] == torch.bfloat16
        want = F.linear(x, layer.weight, layer.bias)
    assert got.dtype == torch.bfloat16 and got.shape == (rows, 96)
    # both accumulate in fp32 and round once to bf16: at most one bf16 step apart
    torch.testing.assert_close(got.float(), want.float(), atol=2e-2, rtol=1e-2)


def test_bf16_packed_weight_follows_dtype_changes() -> None:
    if not onednn_bf16_available():
        pytest.skip("no native oneDNN bf16 on this CPU")
    layer = Linear(32, 8)
    x = torch.randn(4, 32)
    with torch.inference_mode():
        fp32 = layer(x)
        layer.to(torch.bfloat16)
        bf16 = layer(x.bfloat16())
    assert layer.__dict__[_slot(4)][0][0][-1] == torch.bfloat16
    torch.testing.assert_close(bf16.float(), fp32, atol=5e-2, rtol=5e-2)
