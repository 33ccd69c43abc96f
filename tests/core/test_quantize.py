"""Opt-in int8 text tower: close to fp32, refused where it does not apply, images untouched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jina_clip.local import LocalJinaCLIP

TEXTS = ["a bridge at dusk", "the cat", "a small dog runs along the river road at dawn"]


@pytest.fixture(scope="module")
def pair(tiny_checkpoint: Path) -> tuple[LocalJinaCLIP, LocalJinaCLIP]:
    return (LocalJinaCLIP(tiny_checkpoint, device="cpu"),
            LocalJinaCLIP(tiny_checkpoint, device="cpu", quantize="int8"))


def test_int8_text_vectors_stay_close_to_fp32(pair) -> None:
    fp32, int8 = pair
    a, b = fp32.encode_text(TEXTS), int8.encode_text(TEXTS)
    assert b.shape == a.shape and np.isfinite(b).all()
    cos = (a * b).sum(1)  # both normalized
    assert cos.min() > 0.98, cos
    assert not np.array_equal(a, b)  # it really is quantised


def test_int8_leaves_images_exact(pair, tmp_path: Path) -> None:
    fp32, int8 = pair
    path = tmp_path / "x.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 60, 3), np.uint8)).save(path)
    np.testing.assert_array_equal(fp32.encode_image([path]), int8.encode_image([path]))


def test_unknown_quantize_mode_is_refused(tiny_checkpoint: Path) -> None:
    with pytest.raises(ValueError, match="quantize"):
        LocalJinaCLIP(tiny_checkpoint, device="cpu", quantize="int4")


def test_int8_needs_float32(tiny_checkpoint: Path) -> None:
    with pytest.raises(ValueError, match="float32"):
        LocalJinaCLIP(tiny_checkpoint, device="cpu", dtype="bfloat16", quantize="int8")
