"""Discrepancies found by the parity audit (docs/parity-audit.md) against the official
jina-clip-v1 code (``jinaai/jina-clip-implementation`` + ``jina-bert-flash-implementation``).

Each test states the official behaviour it checks. D1-D3 were fixed after the audit; these
tests keep them fixed.
"""

from __future__ import annotations

import math
import pathlib
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from jina_clip import JinaCLIP
from jina_clip.model.rope import rope_tables


@pytest.fixture(scope="module")
def clip(tiny_checkpoint: pathlib.Path) -> JinaCLIP:
    return JinaCLIP.local(tiny_checkpoint, device="cpu", batch_size=4)


def _crafted(mode: str) -> Image.Image:
    """A 420x300 image (so the resize is not a no-op) with smooth colour ramps and, for the
    alpha modes, a checkerboard of transparent and opaque squares."""
    yy, xx = np.mgrid[0:300, 0:420]
    rgb = np.dstack([xx * 255 / 420, yy * 255 / 300, (xx + yy) % 256]).astype(np.uint8)
    alpha = ((xx // 20 + yy // 20) % 2 * 255).astype(np.uint8)
    base = Image.fromarray(rgb, "RGB")
    if mode == "RGB":
        return base
    if mode == "RGBA":
        return Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
    if mode == "LA":
        return Image.fromarray(np.dstack([np.asarray(base.convert("L")), alpha]), "LA")
    if mode == "P":
        return base.quantize(64)
    return base.convert(mode)  # "L", "1"


# --- 1. encode_image converts every input to RGB *before* the processor --------------------
#
# Official modeling_clip.py, JinaCLIPModel.encode_image: for a path / URL / data URI the image is
# ``Image.open(...).convert('RGB')``; for a PIL image ``img.convert('RGB')``; only then does it
# call the image processor (resize -> crop -> _convert_to_rgb -> ToTensor -> Normalize), whose
# own RGB step is then a no-op. Hence, for the official encode_image,
# encode_image([img]) == encode_image([img.convert("RGB")]) for every mode.


@pytest.mark.parametrize(
    "mode",
    [
        "RGB",
        "L",
        "P",
        "RGBA",
        "LA",
        "1",
    ],
)
def test_encode_image_equals_encoding_the_rgb_converted_image(clip: JinaCLIP, mode: str) -> None:
    image = _crafted(mode)
    assert image.mode == mode
    got = clip.encode_image([image, image.convert("RGB")])
    np.testing.assert_allclose(got[0], got[1], atol=1e-6)


# --- 2. the text attention/pooling mask is ``input_ids != pad_token_id`` --------------------
#
# Official hf_model.py, HFTextEncoder.forward: ``attention_mask = (x != pad_token_id).long()``,
# used both as the key padding mask and by MeanPooler. The tokenizer's own mask is never passed.
# A real BERT tokenizer.json registers [PAD] as a special added token, so a text containing the
# literal string "[PAD]" tokenizes to id 0 *inside* the text: the official model drops that
# position from attention and from the mean; a mask built from lengths keeps it.


def _checkpoint_with_special_added_tokens(src: pathlib.Path, dst: pathlib.Path) -> pathlib.Path:
    from tokenizers import AddedToken, Tokenizer

    shutil.copytree(src, dst)
    tok = Tokenizer.from_file(str(dst / "tokenizer.json"))
    tok.add_special_tokens(
        [AddedToken(t, special=True, normalized=False)
         for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")]
    )
    tok.save(str(dst / "tokenizer.json"))
    return dst


def test_literal_pad_token_inside_a_text_is_masked_like_the_official_code(
    tiny_checkpoint: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    directory = _checkpoint_with_special_added_tokens(tiny_checkpoint, tmp_path / "ckpt")
    enc = JinaCLIP.local(directory, device="cpu")
    text = "hello [PAD] world"
    ids = enc.tokenizer.encode([text])[0]
    assert 0 in ids[1:-1], "the tokenizer should map the literal [PAD] to id 0"
    got = enc.encode_text([text])[0]

    tokens = torch.tensor([ids])
    with torch.inference_mode():
        official = enc.model.encode_text(tokens, (tokens != 0).long())[0].numpy()
    official = official / np.linalg.norm(official)
    np.testing.assert_allclose(got, official, atol=1e-6)


def test_texts_without_pad_ids_are_unaffected(tiny_checkpoint: pathlib.Path) -> None:
    """Control for D2: for ordinary texts (no id 0 inside), count-based and ids-based masks
    agree, including across a padded batch."""
    enc = JinaCLIP.local(tiny_checkpoint, device="cpu")
    texts = ["the cat", "a photo of a dog on the road at dusk"]
    got = enc.encode_text(texts)
    ids = enc.tokenizer.encode(texts)
    width = max(map(len, ids))
    tokens = torch.tensor([row + [0] * (width - len(row)) for row in ids])
    with torch.inference_mode():
        official = enc.model.encode_text(tokens, (tokens != 0).long()).numpy()
    official /= np.linalg.norm(official, axis=1, keepdims=True)
    np.testing.assert_allclose(got, official, atol=1e-6)


# --- 3. RoPE tables: the official inverse frequencies are 1 / theta**(2k/d) ----------------
#
# Official rope_embeddings.py, VisionRotaryEmbeddingFast.__init__ (freqs_for='lang'):
# freqs = 1 / (theta ** (arange(0, dim, 2)[: dim // 2].float() / dim)) with dim = head_dim // 2,
# t = arange(ft_seq_len) / ft_seq_len * pt_seq_len, outer product, each frequency repeated twice
# (f0 f0 f1 f1 ...), [row angles | column angles], flattened row-major; cos/sin computed once on
# the CPU in fp32.


def _official_tables(head_dim: int, seq: int, pt_seq: int) -> tuple[torch.Tensor, torch.Tensor]:
    dim = head_dim // 2
    inv = 1.0 / (10000 ** (torch.arange(0, dim, 2)[: dim // 2].float() / dim))
    t = torch.arange(seq) / seq * pt_seq
    f = (t[:, None] * inv[None, :]).repeat_interleave(2, dim=-1)  # [S, dim]
    grid = torch.cat(
        [f[:, None, :].expand(seq, seq, dim), f[None, :, :].expand(seq, seq, dim)], dim=-1
    )
    grid = grid.reshape(seq * seq, head_dim)
    return grid.cos(), grid.sin()


def test_rope_tables_match_the_official_formula_to_fp32_rounding() -> None:
    cos, sin = rope_tables(64, 14, 14)
    ref_cos, ref_sin = _official_tables(64, 14, 14)
    torch.testing.assert_close(cos, ref_cos, rtol=0, atol=1e-6)
    torch.testing.assert_close(sin, ref_sin, rtol=0, atol=1e-6)
    assert math.isclose(float(cos[14, 0]), math.cos(1.0), abs_tol=1e-6)  # row 1, col 0


def test_rope_tables_are_bit_identical_to_the_official_ones() -> None:
    cos, sin = rope_tables(64, 14, 14)
    ref_cos, ref_sin = _official_tables(64, 14, 14)
    assert torch.equal(cos, ref_cos) and torch.equal(sin, ref_sin)


# --- 4. verified-equal pieces pinned against the official formulas -----------------------


def test_truncation_keeps_the_first_511_tokens_and_the_final_sep(tiny_checkpoint) -> None:
    """Official encode_text: tokenizer(..., truncation=True, max_length=512) truncates the
    content on the right and re-adds [SEP]: [CLS] + first 510 content tokens + [SEP]."""
    enc = JinaCLIP.local(tiny_checkpoint, device="cpu")
    text = " ".join(["cat"] * 600)
    full = enc.tokenizer.encode([text])[0]
    cut = enc.tokenize([text], max_length=512, truncate=True)[0]
    assert len(cut) == 512
    assert cut == [*full[:511], full[-1]]
    assert cut[0] == enc.tokenizer.cls_id and cut[-1] == enc.tokenizer.sep_id
