"""The skinny GEMM kernels (<= 16 rows, native/skinny_gemm.c): built and used on CPUs that have
the instructions, equal to ``F.linear`` at every row count and at ragged shapes, repacked when a
weight changes, and replaced by oneDNN (same results) where they cannot be built or are off."""

from __future__ import annotations

import pathlib

import pytest
import torch
import torch.nn.functional as F

from jina_clip.model import linear as linear_module
from jina_clip.model import native, skinny
from jina_clip.model.linear import Linear, onednn_available


@pytest.fixture
def kernels() -> skinny.SkinnyKernels:
    if not onednn_available():
        pytest.skip("no packed linears in this torch build")
    if not native.cpu_supported():
        pytest.skip("this CPU has no AVX-512")
    found = skinny.kernels()
    assert found is not None, "the kernels did not build on a CPU that can run them"
    return found


@pytest.fixture
def fresh_kernels(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path):  # type: ignore[no-untyped-def]
    """:func:`skinny.kernels` forgotten before and after the test, with an empty cache."""
    monkeypatch.setenv("JINA_CLIP_CACHE", str(tmp_path))
    _forget()
    yield tmp_path / "native"
    _forget()


def _forget() -> None:
    skinny.kernels.cache_clear()
    native.library.cache_clear()


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("rows", [1, 2, 7, 8, 9, 15, 16])
@pytest.mark.parametrize(("k", "n"), [(48, 80), (64, 16), (30, 37), (768, 2304)])
def test_fp32_equals_f_linear(
    kernels: skinny.SkinnyKernels, rows: int, k: int, n: int, bias: bool
) -> None:
    torch.manual_seed(rows * n + k)
    layer = Linear(k, n, bias=bias)
    x = torch.randn(rows, k)
    with torch.inference_mode():
        got = layer(x)
    assert "_skinny_weight" in layer.__dict__ and "_onednn_weight" not in layer.__dict__
    want = F.linear(x.double(), layer.weight.double(),
                    None if layer.bias is None else layer.bias.double())
    assert got.shape == (rows, n) and got.dtype == torch.float32 and got.is_contiguous()
    torch.testing.assert_close(got.double(), want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("rows", [1, 5, 8, 12, 16])
@pytest.mark.parametrize(("k", "n"), [(64, 96), (30, 37), (1024, 4096)])
def test_bf16_equals_f_linear(kernels: skinny.SkinnyKernels, rows: int, k: int, n: int) -> None:
    if not kernels.bfloat16:
        pytest.skip("this CPU has no AVX512-BF16")
    torch.manual_seed(rows + n)
    layer = Linear(k, n).to(torch.bfloat16)
    x = torch.randn(rows, k, dtype=torch.bfloat16)
    with torch.inference_mode():
        got = layer(x)
    assert "_skinny_weight" in layer.__dict__
    # exact products of bf16 values, summed in fp32, rounded once: one bf16 step from float64
    want = F.linear(x.double(), layer.weight.double(), layer.bias.double())
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.double(), want, atol=1e-2, rtol=2 ** -8)


def test_odd_bf16_inputs_use_onednn(kernels: skinny.SkinnyKernels) -> None:
    """bf16 pairs two inputs per instruction: an odd width goes to oneDNN, same result."""
    if not linear_module.onednn_bf16_available():
        pytest.skip("no native oneDNN bf16 on this CPU")
    layer = Linear(33, 20).to(torch.bfloat16)
    x = torch.randn(3, 33, dtype=torch.bfloat16)
    with torch.inference_mode():
        got = layer(x)
    assert "_onednn_weight" in layer.__dict__ and "_skinny_weight" not in layer.__dict__
    torch.testing.assert_close(got.float(), F.linear(x, layer.weight, layer.bias).float(),
                               atol=2e-2, rtol=1e-2)


def test_shapes_views_and_weight_changes(kernels: skinny.SkinnyKernels) -> None:
    torch.manual_seed(3)
    layer = Linear(32, 24)
    x = torch.randn(2, 5, 32)  # 10 rows in a batch of two
    view = torch.randn(32, 6).t()  # non-contiguous
    with torch.inference_mode():
        torch.testing.assert_close(layer(x), F.linear(x, layer.weight, layer.bias))
        torch.testing.assert_close(layer(view), F.linear(view, layer.weight, layer.bias))
    with torch.no_grad():
        layer.weight.mul_(-2.0)  # in place: the packed copy is stale
        layer.bias.add_(1.0)
        torch.testing.assert_close(layer(x), F.linear(x, layer.weight, layer.bias))


def test_the_same_rows_beyond_the_limit_go_to_onednn(kernels: skinny.SkinnyKernels) -> None:
    layer = Linear(16, 8)
    with torch.inference_mode():
        layer(torch.randn(skinny.MAX_ROWS + 1, 16))
    assert "_onednn_weight" in layer.__dict__ and "_skinny_weight" not in layer.__dict__


def test_released_with_the_other_packed_copies(kernels: skinny.SkinnyKernels) -> None:
    layer = Linear(16, 8)
    with torch.inference_mode():
        layer(torch.randn(3, 16))
        layer(torch.randn(40, 16))
    assert {"_skinny_weight", "_onednn_weight"} <= layer.__dict__.keys()
    linear_module.release_packed(layer)
    assert not {"_skinny_weight", "_onednn_weight"} & layer.__dict__.keys()
    state = Linear(16, 8).__getstate__()
    assert "_skinny_weight" not in state


@pytest.mark.usefixtures("kernels")
@pytest.mark.parametrize("setting", [{"CC": "/bin/false"}, {"CC": "/no/such/cc"},
                                     {"JINA_CLIP_SKINNY": "0"}, {"JINA_CLIP_NATIVE": "0"}])
def test_without_the_kernels_onednn_gives_the_same_vectors(
    fresh_kernels: pathlib.Path, monkeypatch: pytest.MonkeyPatch, setting: dict[str, str]
) -> None:
    torch.manual_seed(5)
    layer = Linear(40, 24)
    x = torch.randn(4, 40)
    with torch.inference_mode():
        fast = layer(x)
    built = set(fresh_kernels.glob("*"))
    for name, value in setting.items():
        monkeypatch.setenv(name, value)
    _forget()
    assert skinny.kernels() is None
    plain = Linear(40, 24)
    plain.load_state_dict(layer.state_dict())
    with torch.inference_mode():
        slow = plain(x)
    assert "_onednn_weight" in plain.__dict__ and "_skinny_weight" not in plain.__dict__
    torch.testing.assert_close(slow, fast, atol=1e-5, rtol=1e-5)
    assert set(fresh_kernels.glob("*")) == built  # a failed build leaves nothing behind
