"""The attention kernel (native/short_attention.c): float64-exact to fp32 rounding, bf16 at
least as close as PyTorch's flash attention, padded keys skipped, ALiBi computed in place, the
fused QKV layout read in place; used by every tower on CPU (checked on tiny checkpoints with
the real head width, 64, against the float64 reference models), and out of the way where it
cannot run."""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import pytest
import torch
import torch.nn.functional as F

from jina_clip.model import JinaCLIPModel, alibi_slopes, native, short_attention, xlmr_tower
from jina_clip.model.rope import apply_rope
from jina_clip.testing import write_tiny_checkpoint
from jina_clip.testing_v2 import write_tiny_v2_checkpoint

HEADS = 3


@pytest.fixture(params=[torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def dtype(request: pytest.FixtureRequest, native_library: native.NativeLibrary) -> torch.dtype:
    if request.param == torch.bfloat16 and not native_library.bfloat16:
        pytest.skip("no AVX512-BF16 on this CPU")
    return request.param


def _qkv(batch: int, length: int, dtype: torch.dtype, seed: int, scale: float = 1.0):
    """Views of one fused [B, L, 3 * H * 64] projection, as the towers hand them over."""
    g = torch.Generator().manual_seed(seed)
    qkv = (torch.randn(batch, length, 3 * HEADS * 64, generator=g) * scale).to(dtype)
    return qkv.view(batch, length, 3, HEADS, 64).permute(2, 0, 3, 1, 4).unbind(0)


def _bias(length: int, slopes: torch.Tensor | None, lengths: list[int] | None,
          batch: int) -> torch.Tensor:
    """[B, H, L, L] float64 additive mask: -slope |i - j|, -inf on padded keys."""
    pos = torch.arange(length, dtype=torch.float64)
    dist = (pos[:, None] - pos[None, :]).abs()
    bias = torch.zeros(batch, HEADS, length, length, dtype=torch.float64)
    if slopes is not None:
        bias = bias - slopes.double()[None, :, None, None] * dist
    if lengths is not None:
        pad = torch.arange(length)[None, :] >= torch.tensor(lengths)[:, None]
        bias = bias.masked_fill(pad[:, None, None, :], float("-inf"))
    return bias


def _real_rows(out: torch.Tensor, lengths: list[int] | None) -> list[torch.Tensor]:
    """Each sequence's real query rows (the padded ones are never read)."""
    return [out[b, :, : (lengths[b] if lengths else out.shape[2])] for b in range(out.shape[0])]


CASES = [  # batch, length, lengths (None: no padding)
    (1, 1, None), (1, 16, None), (3, 21, [21, 5, 1]), (2, 67, [67, 30]), (4, 128, None),
    (3, 200, [200, 199, 17]), (1, 300, None),
]


@pytest.mark.parametrize(("batch", "length", "lengths"), CASES)
@pytest.mark.parametrize("alibi", [True, False], ids=["alibi", "plain"])
def test_equals_float64_attention(dtype: torch.dtype, batch: int, length: int,
                                  lengths: list[int] | None, alibi: bool) -> None:
    q, k, v = _qkv(batch, length, dtype, seed=length)
    slopes = torch.tensor(alibi_slopes(HEADS)) if alibi else None
    with torch.inference_mode():
        got = short_attention.attention(
            q, k, v, lengths=None if lengths is None else torch.tensor(lengths), slopes=slopes)
    assert got is not None and got.shape == q.shape and got.dtype == dtype
    assert got.transpose(1, 2).is_contiguous()  # [B, L, H, D] underneath: no copy for out_proj
    bias = _bias(length, slopes, lengths, batch)
    want = F.scaled_dot_product_attention(q.double(), k.double(), v.double(), attn_mask=bias)
    if dtype == torch.float32:
        for g_rows, w_rows in zip(_real_rows(got, lengths), _real_rows(want, lengths),
                                  strict=True):
            torch.testing.assert_close(g_rows.double(), w_rows, atol=5e-6, rtol=0)
        return
    # bf16: no worse than PyTorch's own bf16 attention on the same inputs (whose mask is
    # rounded to bf16, as our text tower's was)
    torch_bf16 = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(dtype))
    ours = max(float((g - w).abs().max()) for g, w in
               zip(_real_rows(got.double(), lengths), _real_rows(want, lengths), strict=True))
    theirs = max(float((g - w).abs().max()) for g, w in
                 zip(_real_rows(torch_bf16.double(), lengths), _real_rows(want, lengths),
                     strict=True))
    assert ours <= 1.25 * theirs + 1e-3, (ours, theirs)


def test_random_shapes_paddings_biases_and_rotary(dtype: torch.dtype) -> None:
    """Seeded random calls (batch, length, padding, ALiBi or none, rotary or none) against
    the same attention in float64."""
    rng = torch.Generator().manual_seed(11)
    for trial in range(25):
        batch = int(torch.randint(1, 5, (1,), generator=rng))
        length = int(torch.randint(1, 150, (1,), generator=rng))
        lengths = torch.randint(1, length + 1, (batch,), generator=rng)
        lengths[0] = length  # the longest text sets the padded length
        q, k, v = _qkv(batch, length, dtype, seed=100 + trial)
        slopes = torch.tensor(alibi_slopes(HEADS)) if trial % 2 else None
        rotary = None
        if trial % 3 == 0:
            start = trial % 2
            angles = torch.rand(length - start, 64, generator=rng) * 4
            rotary = short_attention.Rotary(angles.cos(), angles.sin(), start, bool(start))
        with torch.inference_mode():
            got = short_attention.attention(q, k, v, lengths=lengths, slopes=slopes,
                                            rotary=rotary)
        assert got is not None
        if rotary is not None:  # rotate first (fp32, rounded back, as the towers do)
            rot = apply_rope if rotary.interleaved else (
                lambda x, c, s: xlmr_tower._rotate(x.float(), c, s).to(x.dtype))
            q, k = (torch.cat([t[:, :, :rotary.start],
                               rot(t[:, :, rotary.start:], rotary.cos, rotary.sin)], dim=2)
                    for t in (q, k))
        want = F.scaled_dot_product_attention(
            q.double(), k.double(), v.double(),
            attn_mask=_bias(length, slopes, lengths.tolist(), batch))
        tol = 5e-6 if dtype == torch.float32 else 3e-2
        for b in range(batch):
            n = int(lengths[b])
            torch.testing.assert_close(got[b, :, :n].double(), want[b, :, :n], atol=tol, rtol=0,
                                       msg=lambda m, t=trial: f"trial {t}: {m}")


def test_separate_tensors_and_large_scores(dtype: torch.dtype) -> None:
    """Contiguous q, k, v (the vision tower's rotated ones) and scores far from 0 (the
    softmax subtracts the row maximum)."""
    q, k, v = (t.contiguous() for t in _qkv(2, 40, dtype, seed=9, scale=6.0))
    with torch.inference_mode():
        got = short_attention.attention(q, k, v)
    want = F.scaled_dot_product_attention(q.double(), k.double(), v.double())
    theirs = F.scaled_dot_product_attention(q, k, v)  # scores ~ +-100: rounding shows
    assert got is not None and torch.isfinite(got).all()
    ours_err = float((got.double() - want).abs().max())
    their_err = float((theirs.double() - want).abs().max())
    assert ours_err <= 1.25 * their_err + 1e-6, (ours_err, their_err)


def test_a_nan_stays_in_its_sequence(dtype: torch.dtype) -> None:
    q, k, v = (t.clone() for t in _qkv(2, 20, dtype, seed=4))
    k[0, 1, 7, 3] = float("nan")
    with torch.inference_mode():
        got = short_attention.attention(q, k, v)
    assert got is not None
    assert torch.isnan(got[0, 1]).all()  # every query of that head sees the NaN key
    assert torch.isfinite(got[0, [0, 2]]).all() and torch.isfinite(got[1]).all()


@pytest.mark.parametrize("interleaved", [True, False], ids=["pairs", "halves"])
def test_rotary_inside_equals_rotating_first(dtype: torch.dtype, interleaved: bool) -> None:
    """The kernel's rotary embedding is the towers' own: EVA02's adjacent pairs from token 1
    (vision), NeoX's halves from token 0 (v2's text)."""
    q, k, v = _qkv(2, 30, dtype, seed=3)
    start = 1 if interleaved else 0
    g = torch.Generator().manual_seed(8)
    angles = torch.rand(30 - start, 64, generator=g) * 6
    cos, sin = angles.cos(), angles.sin()
    rotate = apply_rope if interleaved else (
        lambda x, c, s: xlmr_tower._rotate(x.float(), c, s).to(x.dtype))

    def rotated(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x[:, :, :start], rotate(x[:, :, start:], cos, sin)], dim=2)

    with torch.inference_mode():
        got = short_attention.attention(
            q, k, v, rotary=short_attention.Rotary(cos, sin, start, interleaved))
        want = short_attention.attention(rotated(q), rotated(k), v)
        assert short_attention.attention(  # tables of the wrong length: not taken
            q, k, v, rotary=short_attention.Rotary(cos[1:], sin[1:], start, interleaved)) is None
    assert got is not None and want is not None
    tol = 1e-6 if dtype == torch.float32 else 2e-2  # bf16: a rotated q or k may round apart
    torch.testing.assert_close(got.float(), want.float(), atol=tol, rtol=0)


@pytest.mark.usefixtures("native_library")
def test_not_taken_where_it_cannot_run(monkeypatch: pytest.MonkeyPatch) -> None:
    q, k, v = _qkv(1, 8, torch.float32, seed=1)
    with torch.inference_mode():
        assert short_attention.attention(q, k, v) is not None
        assert short_attention.attention(q[..., :32], k[..., :32], v[..., :32]) is None
        assert short_attention.attention(q.half(), k.half(), v.half()) is None
        monkeypatch.setenv("JINA_CLIP_ATTENTION", "0")
        assert short_attention.attention(q, k, v) is None
        monkeypatch.delenv("JINA_CLIP_ATTENTION")
        monkeypatch.setattr(native, "library", lambda: None)
        assert short_attention.attention(q, k, v) is None
    assert short_attention.attention(q, k, v) is None  # autograd on: PyTorch's op


def test_lengths_out_of_range_are_refused(dtype: torch.dtype) -> None:
    """A direct caller's bad lengths fail with a ValueError before the kernel reads anything
    (a length past L would read past the keys)."""
    q, k, v = _qkv(2, 10, dtype, seed=6)
    with torch.inference_mode():
        for bad in ([10, 11], [0, 5], [3]):
            with pytest.raises(ValueError, match="lengths"):
                short_attention.attention(q, k, v, lengths=torch.tensor(bad))
        assert short_attention.attention(q, k, v, lengths=torch.tensor([10, 1])) is not None


def test_right_padded_lengths() -> None:
    pad = torch.tensor([[False, False, True], [False, False, False]])
    assert short_attention.right_padded_lengths(pad).tolist() == [2, 3]
    assert short_attention.right_padded_lengths(torch.tensor([[True, False, False]])) is None
    assert short_attention.right_padded_lengths(torch.tensor([[True, True]])) is None


# --- in the towers ----------------------------------------------------------------------------


def _reference(name: str, cls: str):  # type: ignore[no-untyped-def]
    path = pathlib.Path(__file__).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"jina_clip_{name}_short_attention", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return getattr(module, cls)


@pytest.fixture(scope="module")
def head64_v1(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A tiny v1 checkpoint with the real head width (3 heads of 64: ALiBi's
    non-power-of-two slopes)."""
    return write_tiny_checkpoint(tmp_path_factory.mktemp("head64-v1"), text_hidden=192,
                                 text_heads=3, vision_width=192, vision_head_width=64)


@pytest.fixture(scope="module")
def head64_v2(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return write_tiny_v2_checkpoint(tmp_path_factory.mktemp("head64-v2"), hidden=128,
                                    text_heads=2, vision_head_width=64)


@pytest.fixture
def calls(native_library: native.NativeLibrary, kernel_calls) -> list[tuple[int, ...]]:  # type: ignore[no-untyped-def]
    """Shapes of the attention calls the kernel took."""
    return kernel_calls(short_attention, "attention")


def _ids(lengths: list[int], pad: int, first: int, last: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(sum(lengths))
    out = torch.full((len(lengths), max(lengths)), pad, dtype=torch.long)
    for row, n in enumerate(lengths):
        out[row, :n] = torch.randint(104, 300, (n,), generator=g)
        out[row, 0], out[row, n - 1] = first, last
    return out


def test_v1_towers_take_it_and_match_the_reference(head64_v1: pathlib.Path,
                                                   calls: list[tuple[int, ...]]) -> None:
    model = JinaCLIPModel.from_pretrained(head64_v1)
    naive = _reference("reference_model", "NaiveJinaCLIP")(head64_v1)
    ids = _ids([130, 7, 64], pad=0, first=101, last=102)
    pixels = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        text, image = model.encode_text(ids, ids != 0), model.encode_image(pixels)
    assert calls.count((3, 3, 130, 64)) == 2  # both text layers
    assert calls.count((2, 3, 197, 64)) == 2  # both vision layers
    torch.testing.assert_close(text, naive.text(ids).float(), atol=1e-5, rtol=0)
    torch.testing.assert_close(image, naive.image(pixels).float(), atol=1e-5, rtol=0)


def test_v2_towers_take_it_and_match_the_reference(
    head64_v2: pathlib.Path, calls: list[tuple[int, ...]]
) -> None:
    model = JinaCLIPModel.from_pretrained(head64_v2)
    naive = _reference("reference_model_v2", "NaiveJinaCLIPV2")(head64_v2)
    ids = _ids([40, 9, 25], pad=1, first=0, last=2)
    pixels = torch.randn(2, 3, 100, 100, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        got, image = model.encode_text(ids, ids != 1), model.encode_image(pixels)
    assert calls.count((3, 2, 40, 64)) == 2  # both text layers
    assert calls.count((2, 2, 50, 64)) == 2  # and both vision layers
    torch.testing.assert_close(got, naive.text(ids).float(), atol=1e-5, rtol=0)
    torch.testing.assert_close(image, naive.image(pixels).float(), atol=1e-5, rtol=0)


def test_off_gives_the_same_vectors_and_bf16_stays_close(
    head64_v1: pathlib.Path, monkeypatch: pytest.MonkeyPatch,
    native_library: native.NativeLibrary,
) -> None:
    if not native_library.bfloat16:
        pytest.skip("no AVX512-BF16 on this CPU")
    ids = _ids([90, 33, 5, 60], pad=0, first=101, last=102)
    fp32 = JinaCLIPModel.from_pretrained(head64_v1)
    bf16 = JinaCLIPModel.from_pretrained(head64_v1, dtype=torch.bfloat16)
    with torch.inference_mode():
        fast = fp32.encode_text(ids, ids != 0)
        fast_bf16 = bf16.encode_text(ids, ids != 0).float()
        monkeypatch.setenv("JINA_CLIP_ATTENTION", "0")
        slow = fp32.encode_text(ids, ids != 0)
        slow_bf16 = bf16.encode_text(ids, ids != 0).float()
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=0)
    ours = F.cosine_similarity(fast_bf16, fast).min()
    theirs = F.cosine_similarity(slow_bf16, slow).min()
    assert ours >= 0.999 and ours >= theirs - 1e-3, (ours, theirs)
