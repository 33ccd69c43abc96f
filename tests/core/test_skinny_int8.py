"""The int8 text tower's skinny kernel (<= 16 rows, AVX512-VNNI): exactly the per-row uint8 x
int8 math it claims, close to fbgemm's path and to fp32, used only where it applies."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

from jina_clip.local import LocalJinaCLIP
from jina_clip.local.quantize import Int8Linear
from jina_clip.model import skinny
from jina_clip.model.linear import release_packed


@pytest.fixture
def kernels() -> skinny.SkinnyKernels:
    found = skinny.kernels()
    if found is None or not found.int8:
        pytest.skip("no skinny int8 kernel on this CPU (needs AVX512-VNNI)")
    return found


def _int8_linear(k: int, n: int, bias: bool = True, seed: int = 0) -> Int8Linear:
    torch.manual_seed(seed)
    holder = nn.Sequential(nn.Linear(k, n, bias=bias))
    with warnings.catch_warnings():  # torch.ao's deprecation notices
        warnings.simplefilter("ignore")
        quantize_dynamic(holder, {nn.Linear: default_dynamic_qconfig}, dtype=torch.qint8,
                         inplace=True)
    layer = holder[0]
    layer.__class__ = Int8Linear
    return layer


def _reference(layer: Int8Linear, x: torch.Tensor) -> torch.Tensor:
    """The kernel's math in float64: each row to uint8 over [min(x, 0), max(x, 0)]."""
    w = layer.weight()
    wq = w.int_repr().double() * w.q_scale()
    lo = x.double().amin(1, keepdim=True).clamp(max=0)
    hi = x.double().amax(1, keepdim=True).clamp(min=0)
    scale = ((hi - lo) / 255).float().double()
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    zero = torch.round(-lo / scale).clamp(0, 255)
    xq = (torch.round(x.double() * (1 / scale).float().double()) + zero).clamp(0, 255)
    out = (xq - zero) * scale @ wq.T
    bias = layer.bias()
    return out if bias is None else out + bias.double()


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("rows", [1, 3, 8, 9, 16])
@pytest.mark.parametrize(("k", "n"), [(32, 37), (768, 2304), (3072, 768)])
def test_kernel_is_the_per_row_uint8_math(
    kernels: skinny.SkinnyKernels, rows: int, k: int, n: int, bias: bool
) -> None:
    layer = _int8_linear(k, n, bias, seed=rows + n)
    x = torch.randn(rows, k) * 3
    with torch.inference_mode():
        got = layer(x)
    assert "_skinny_int8" in layer.__dict__  # the kernel ran
    want = _reference(layer, x)
    torch.testing.assert_close(got.double(), want, atol=1e-4, rtol=1e-5)
    # and it is the same layer as fbgemm's path, to int8 accuracy
    fbgemm = torch.ao.nn.quantized.dynamic.Linear.forward(layer, x)
    assert float((got - fbgemm).norm() / fbgemm.norm()) < 0.05


def test_shapes_zeros_and_the_row_limit(kernels: skinny.SkinnyKernels) -> None:
    layer = _int8_linear(64, 40)
    x = torch.randn(2, 4, 64)  # 8 rows in a batch of two
    view = torch.randn(64, 5).t()  # non-contiguous
    zeros = torch.zeros(3, 64)
    with torch.inference_mode():
        torch.testing.assert_close(layer(x).double(), _reference(layer, x.reshape(8, 64))
                                   .view(2, 4, 40), atol=1e-4, rtol=1e-5)
        torch.testing.assert_close(layer(view).double(), _reference(layer, view),
                                   atol=1e-4, rtol=1e-5)
        torch.testing.assert_close(layer(zeros), layer.bias().expand(3, 40))
        big = _int8_linear(64, 40)
        big(torch.randn(skinny.MAX_ROWS + 1, 64))
    assert "_skinny_int8" not in big.__dict__  # over the limit: fbgemm


def test_new_weights_are_repacked_and_copies_released(kernels: skinny.SkinnyKernels) -> None:
    layer = _int8_linear(32, 24, seed=1)
    other = _int8_linear(32, 24, seed=2)
    x = torch.randn(5, 32)
    with torch.inference_mode():
        layer(x)
        layer.set_weight_bias(other.weight(), other.bias())  # replaces the packed params
        torch.testing.assert_close(layer(x), other(x), atol=0, rtol=0)
    release_packed(layer)
    assert "_skinny_int8" not in layer.__dict__  # a long input frees it like the others


def test_a_non_finite_row_gives_nan_in_that_row_only(kernels: skinny.SkinnyKernels) -> None:
    layer = _int8_linear(32, 20)
    x = torch.randn(4, 32)
    x[1, 5], x[3, 0] = float("nan"), float("inf")
    with torch.inference_mode():
        got = layer(x)
    assert "_skinny_int8" in layer.__dict__
    assert got[[1, 3]].isnan().all() and got[[0, 2]].isfinite().all()
    torch.testing.assert_close(got[[0, 2]].double(), _reference(layer, x[[0, 2]]),
                               atol=1e-4, rtol=1e-5)


def test_a_query_embeds_close_to_fp32(kernels: skinny.SkinnyKernels,
                                      tiny_checkpoint: Path) -> None:
    fp32 = LocalJinaCLIP(tiny_checkpoint, device="cpu")
    int8 = LocalJinaCLIP(tiny_checkpoint, device="cpu", quantize="int8")
    try:
        for text in ["the cat", "a small dog runs along the river"]:
            a, b = fp32.encode_text([text]), int8.encode_text([text])
            assert float((a * b).sum()) > 0.98
        layers = [m for m in int8.model.text_model.modules() if isinstance(m, Int8Linear)]
        assert layers and all("_skinny_int8" in m.__dict__ for m in layers)
        assert not np.array_equal(a, b)
    finally:
        fp32.close()
        int8.close()
