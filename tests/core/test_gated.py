"""Gated activations in one pass (native/gated.c): GELU x gate and SiLU x gate, PyTorch's values
(same formulas) to fp32 rounding, bf16 rounded once, edge values within GELU's erf bound (and
gelu(inf) = inf), used by the GEGLU and SwiGLU MLPs, and out of the way where it cannot run."""

from __future__ import annotations

import pathlib

import pytest
import torch
import torch.nn.functional as F

from jina_clip.model import JinaCLIPModel, gated, native

pytestmark = pytest.mark.usefixtures("native_library")


def _halves(rows: int, n: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(rows * n)
    both = (torch.randn(rows, 2 * n, generator=g) * 3).to(dtype)
    a, b = both.split(n, dim=-1)  # strided halves of one projection, as in GEGLU
    return a, b


ACTIVATIONS = {"gelu": (gated.gelu_mul, F.gelu), "silu": (gated.silu_mul, F.silu)}


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
@pytest.mark.parametrize(("rows", "n"), [(1, 1), (3, 15), (7, 16), (5, 33), (64, 3072)])
def test_fp32_equals_torch(act: str, rows: int, n: int) -> None:
    kernel, torch_act = ACTIVATIONS[act]
    a, b = _halves(rows, n, torch.float32)
    with torch.inference_mode():
        got = kernel(a, b)
        plain = kernel(a, None)
    assert got is not None and plain is not None and got.shape == (rows, n)
    want = torch_act(a.double()) * b.double()
    torch.testing.assert_close(got.double(), want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(plain, torch_act(a), atol=2e-6, rtol=2e-6)


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_bf16_is_rounded_once(act: str, native_library: native.NativeLibrary) -> None:
    if not native_library.bfloat16:
        pytest.skip("no AVX512-BF16 on this CPU")
    kernel, torch_act = ACTIVATIONS[act]
    a, b = _halves(32, 200, torch.bfloat16)
    with torch.inference_mode():
        got = kernel(a, b)
    assert got is not None and got.dtype == torch.bfloat16
    exact = torch_act(a.double()) * b.double()
    # one rounding to bf16 (8 bits): within half a step of the exact value, plus fp32 noise
    assert ((got.double() - exact).abs() <= exact.abs() * 2**-8 + 1e-6).all()


def test_edge_values_as_torch() -> None:
    a = torch.tensor([[0.0, -0.0, 1e-30, -50.0, 50.0, float("inf"), float("-inf"),
                       float("nan"), -3.0, 3.0, 1e4, -1e4, 5.0, -5.0, 0.5, -0.5]])
    with torch.inference_mode():
        got = gated.gelu_mul(a, None)
    want = F.gelu(a.double())  # gelu(inf) = inf, gelu(-inf) = -inf * 0 = NaN
    assert got is not None
    assert torch.equal(torch.isnan(got), torch.isnan(want))
    assert torch.equal(torch.isinf(got), torch.isinf(want))
    finite = torch.isfinite(want)
    err = (got.double() - want)[finite].abs()
    # the erf formula is within 1.5e-7 of erf: gelu within |x| / 2 * 1.5e-7, plus fp32 rounding
    bound = a.double()[finite].abs() * 0.75e-7 + want[finite].abs() * 2**-23 + 1e-30
    assert (err <= bound).all(), (err, bound)


def test_silu_edge_values() -> None:
    a = torch.tensor([[0.0, -0.0, 1e-30, -50.0, 50.0, float("inf"), float("-inf"),
                       float("nan"), -3.0, 3.0, 1e4, -1e4, 87.0, -87.0, 0.5, -0.5]])
    with torch.inference_mode():
        got = gated.silu_mul(a, None)
    want = F.silu(a.double())
    assert got is not None
    finite = torch.isfinite(want)
    assert not torch.isfinite(got[~finite]).any()  # inf -> inf, NaN -> NaN, -inf -> not finite
    assert got[0, 5] == float("inf") and torch.isnan(got[0, 7])
    torch.testing.assert_close(got[finite].double(), want[finite], atol=1e-30, rtol=2e-6)


def test_not_taken_where_it_cannot_run(monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = _halves(2, 8, torch.float32)
    with torch.inference_mode():
        assert gated.gelu_mul(a.half(), b.half()) is None
        assert gated.gelu_mul(a, b[:, :4]) is None
        assert gated.gelu_mul(a, b.contiguous()) is None  # row strides differ
        monkeypatch.setenv("JINA_CLIP_GATED", "0")
        assert gated.gelu_mul(a, b) is None
    assert gated.gelu_mul(a, b) is None  # autograd on


def test_geglu_mlp_uses_it(tiny_checkpoint: pathlib.Path, monkeypatch: pytest.MonkeyPatch,
                           kernel_calls) -> None:  # type: ignore[no-untyped-def]
    model = JinaCLIPModel.from_pretrained(tiny_checkpoint)
    ids = torch.randint(104, 300, (2, 20), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        monkeypatch.setenv("JINA_CLIP_GATED", "0")
        slow = model.encode_text(ids, ids != 0)
        monkeypatch.delenv("JINA_CLIP_GATED")
        taken = kernel_calls(gated, "gelu_mul")
        fast = model.encode_text(ids, ids != 0)
    assert len(taken) == 2  # both layers' MLPs
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=0)


def test_swiglu_mlp_uses_it(tiny_checkpoint: pathlib.Path, monkeypatch: pytest.MonkeyPatch,
                            kernel_calls) -> None:  # type: ignore[no-untyped-def]
    model = JinaCLIPModel.from_pretrained(tiny_checkpoint)
    pixels = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(4))
    with torch.inference_mode():
        monkeypatch.setenv("JINA_CLIP_GATED", "0")
        slow = model.encode_image(pixels)
        monkeypatch.delenv("JINA_CLIP_GATED")
        taken = kernel_calls(gated, "silu_mul")
        fast = model.encode_image(pixels)
    assert len(taken) == 2 and taken[0][0] == 2 * 197  # both layers, every token
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=0)
