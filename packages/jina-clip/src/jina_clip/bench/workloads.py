"""Benchmark inputs: texts of an exact token length, photo-sized JPEG files, and a
full-size random checkpoint for measuring speed without downloading the real weights."""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING

from ..testing import TINY_WORDS

if TYPE_CHECKING:
    from ..local import LocalJinaCLIP

__all__ = ["FULL_SIZE", "FULL_SIZE_V2", "exact_token_texts", "jpeg_files", "random_checkpoint"]

#: The real jina-clip-v1 sizes (JinaBERT v2 base text tower, EVA02-B/16 vision tower).
FULL_SIZE: dict[str, int | float] = dict(
    text_hidden=768, text_layers=12, text_heads=12, text_intermediate=3072,
    vision_width=768, vision_layers=12, vision_head_width=64, mlp_ratio=2.6667,
    vocab_size=30528,
)


#: The real jina-clip-v2 sizes (XLM-RoBERTa large text tower, EVA02-L/14 at 512 px), stored
#: in bf16 like the real file (865,278,477 values, 1.73 GB).
FULL_SIZE_V2: dict[str, object] = dict(
    hidden=1024, text_layers=24, text_heads=16, text_intermediate=4096, vision_layers=24,
    vision_head_width=64, mlp_ratio=2.6667, patch_size=14, image_size=512, pt_hw_seq_len=16,
    vocab_size=250002, matryoshka_dimensions=(32, 64, 128, 256, 512, 768, 1024),
    dtype="bfloat16",
)


def random_checkpoint(directory: Path, version: str = "v1") -> Path:
    """A checkpoint with the real architecture, FLOPs and file size (v1 ~891 MB, v2 1.73 GB)
    but random weights, written once into ``directory``: speed numbers without the
    download. ``version``: ``v1`` or ``v2``."""
    from ..testing import write_tiny_checkpoint, write_tiny_v2_checkpoint

    if version not in ("v1", "v2"):
        raise ValueError(f"version must be 'v1' or 'v2', got {version!r}")
    if not (directory / "model.safetensors").is_file():
        if version == "v2":
            write_tiny_v2_checkpoint(directory, **FULL_SIZE_V2)  # type: ignore[arg-type]
        else:
            write_tiny_checkpoint(directory, **FULL_SIZE)  # type: ignore[arg-type]
    return directory


def exact_token_texts(enc: LocalJinaCLIP, tokens: int, count: int, seed: int = 0) -> list[str]:
    """``count`` texts of exactly ``tokens`` ids ([CLS] + words + [SEP], v2: <s> ... </s>).

    Words that the tokenizer keeps whole are drawn at random, so the count is exact with the
    real tokenizer and with the random checkpoints' one alike; it is checked, not assumed.
    """
    if tokens < 3:
        raise ValueError(f"tokens must be at least 3 ([CLS] word [SEP]), got {tokens}")
    whole = [w for w, n in zip(TINY_WORDS, enc.count_tokens(TINY_WORDS), strict=True) if n == 3]
    if len(whole) < 10:
        raise RuntimeError("the tokenizer splits almost every common English word")
    rng = random.Random(seed)
    texts = [" ".join(rng.choices(whole, k=tokens - 2)) for _ in range(count)]
    counts = set(enc.count_tokens(texts))
    if counts != {tokens}:
        raise RuntimeError(f"generated texts have {sorted(counts)} tokens, wanted {tokens}")
    return texts


def jpeg_files(
    directory: Path, count: int, size: tuple[int, int] = (500, 375), unique: int = 256
) -> list[str]:
    """``count`` paths of photo-sized JPEGs (smooth gradients plus noise cost what a photo
    costs to decode; flat colour would decode unrealistically fast). At most ``unique``
    files are written and the list cycles through them: every path is still decoded."""
    import numpy as np
    from PIL import Image

    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    paths = []
    for i in range(min(count, unique)):
        path = directory / f"img{i:05d}.jpg"
        if not path.is_file():
            base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy + 40 * i) % 256], -1)
            noisy = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
            Image.fromarray(noisy).save(path, quality=90)
        paths.append(str(path))
    return [paths[i % len(paths)] for i in range(count)]
