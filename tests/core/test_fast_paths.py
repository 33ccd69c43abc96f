"""The CPU fast paths (small-row linear, row-chunked GEGLU) compute what the plain ops do."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest
import torch
import torch.nn.functional as F

from jina_clip.model import JinaCLIPModel
from jina_clip.model.linear import SMALL_ROWS, Linear

CLS, SEP = 101, 102


def _naive(checkpoint: pathlib.Path):
    path = pathlib.Path(__file__).with_name("reference_model.py")
    spec = importlib.util.spec_from_file_location("jina_clip_reference_model_fast", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module.NaiveJinaCLIP(checkpoint)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(1, 16), (3, 5), (SMALL_ROWS,), (2, SMALL_ROWS), (0, 4)])
def test_small_row_linear_equals_f_linear(bias: bool, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    layer = Linear(48, 80, bias=bias)
    x = torch.randn(*shape, 48)
    with torch.inference_mode():
        got = layer(x)
        want = F.linear(x, layer.weight, layer.bias)
    assert got.shape == want.shape and got.is_contiguous()
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_small_row_linear_keeps_autograd() -> None:
    layer = Linear(8, 4)
    x = torch.randn(2, 8, requires_grad=True)
    layer(x).sum().backward()
    assert x.grad is not None


def test_row_chunked_mlp_matches_unchunked_and_reference(tiny_checkpoint) -> None:
    model = JinaCLIPModel.from_pretrained(tiny_checkpoint)
    g = torch.Generator().manual_seed(3)
    ids = torch.zeros(3, 90, dtype=torch.long)
    for row, n in enumerate([90, 41, 7]):
        ids[row, :n] = torch.randint(104, 400, (n,), generator=g)
        ids[row, 0], ids[row, n - 1] = CLS, SEP
    layers = model.text_model.transformer.encoder.layers
    with torch.inference_mode():
        whole = model.encode_text(ids, ids != 0)
        for layer in layers:
            layer.mlp.row_chunk = 37  # 270 rows -> 8 chunks, the last one partial
        chunked = model.encode_text(ids, ids != 0)
    torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=0)
    torch.testing.assert_close(chunked, _naive(tiny_checkpoint).text(ids), atol=1e-5, rtol=0)
