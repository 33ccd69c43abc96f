"""LocalJinaCLIP on a jina-clip-v2 checkpoint: the official encode_text behaviour (task
instruction, truncate_dim then normalize, max_length=512 truncation) on the tiny v2 model."""

from __future__ import annotations

import pathlib
import shutil
import warnings

import numpy as np
import pytest
import torch

from jina_clip import JinaCLIP
from jina_clip.testing import TINY_WORDS

QUERY = "Represent the query for retrieving evidence documents: "
TEXTS = ["a photo of a cat", "Привет мир", "日本語文字", "مرحبا", "नमस्ते", "Grüße"]


@pytest.fixture(scope="module")
def clip(tiny_v2_checkpoint: pathlib.Path):
    encoder = JinaCLIP.local(str(tiny_v2_checkpoint), device="cpu")
    yield encoder
    encoder.close()


def _raw(clip, texts: list[str]) -> np.ndarray:
    """Unnormalized model features, one text at a time (no batching effects)."""
    rows = []
    for ids in clip.tokenizer.encode(texts):
        t = torch.tensor([ids])
        rows.append(clip.model.encode_text(t, t != 1)[0].numpy())
    return np.stack(rows)


def test_defaults(clip) -> None:
    assert clip.dimension == 64 and clip.max_length == 8192 and clip.tokenizer.pad_id == 1
    assert clip.task_instructions == {"retrieval.query": QUERY}


def test_query_task_prepends_the_official_instruction(clip) -> None:
    got = clip.encode_text(TEXTS, task="retrieval.query", normalize=False)
    want = _raw(clip, [QUERY + t for t in TEXTS])
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    plain = clip.encode_text(TEXTS, normalize=False)
    np.testing.assert_allclose(plain, _raw(clip, TEXTS), atol=1e-5, rtol=0)
    assert np.abs(got - plain).max() > 1e-2


def test_unknown_task_lists_the_valid_ones(clip) -> None:
    with pytest.raises(ValueError, match=r"retrieval\.query"):
        clip.encode_text(["x"], task="retrieval.passage")


def test_v1_ignores_task(core_encoder) -> None:
    a = core_encoder.encode_text(["a cat"], task="retrieval.query")
    np.testing.assert_array_equal(a, core_encoder.encode_text(["a cat"]))


@pytest.mark.parametrize("dims", [16, 32])
def test_dimensions_keep_the_first_components_then_normalize(clip, tiny_v2_checkpoint,
                                                            dims) -> None:
    raw = _raw(clip, TEXTS)[:, :dims]
    want = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    np.testing.assert_allclose(clip.encode_text(TEXTS, dimensions=dims), want, atol=1e-5)
    fixed = JinaCLIP.local(str(tiny_v2_checkpoint), device="cpu", dimensions=dims)
    try:
        assert fixed.dimension == dims
        np.testing.assert_allclose(fixed.encode_text(TEXTS), want, atol=1e-5)
        assert fixed.encode_text([]).shape == (0, dims)
        assert fixed.encode_image([]).shape == (0, dims)
    finally:
        fixed.close()
    pictures = [np.full((30, 50, 3), 90, np.uint8)]
    from PIL import Image

    image = clip.encode_image([Image.fromarray(pictures[0])], dimensions=dims)
    assert image.shape == (1, dims)
    assert np.linalg.norm(image, axis=1) == pytest.approx(1.0, abs=1e-6)


def test_dimensions_outside_matryoshka_are_refused(clip) -> None:
    with pytest.raises(ValueError, match="Matryoshka"):
        clip.encode_text(["x"], dimensions=10)
    with pytest.raises(ValueError, match="between 1 and 64"):
        clip.encode_image([], dimensions=65)


def test_official_default_truncation_reproduced_with_max_length_512(clip) -> None:
    """max_length=512, truncate=True: <s>, the first 510 tokens, </s> (HF truncation=True)."""
    text = " ".join(TINY_WORDS * 3)
    ids = clip.tokenizer.encode([text])[0]
    assert len(ids) > 512
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = clip.encode_text([text, "short"], max_length=512, truncate=True, normalize=False)
    cut = torch.tensor([[*ids[:511], 2]])
    want = clip.model.encode_text(cut, cut != 1)[0].numpy()
    np.testing.assert_allclose(got[0], want, atol=1e-5, rtol=0)


def test_hub_id_jinaai_jina_clip_v2_loads_through_the_hub_cache(tiny_v2_checkpoint, tmp_path):
    """``JinaCLIP.local("jinaai/jina-clip-v2")``: the hub path (here a cached snapshot, no
    network) yields a v2 encoder."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    root = tmp_path / "hub" / "models--jinaai--jina-clip-v2"
    shutil.copytree(tiny_v2_checkpoint, root / "snapshots" / commit)
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)
    encoder = JinaCLIP.local("jinaai/jina-clip-v2", device="cpu", local_files_only=True,
                             cache_dir=str(tmp_path / "hub"))
    try:
        assert encoder.model.config.is_v2 and encoder.task_instructions
        assert encoder.encode_text(["a cat"], task="retrieval.query").shape == (1, 64)
    finally:
        encoder.close()
