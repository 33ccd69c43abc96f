"""Jina's published token estimates, to size a job before paying for it.

Text: about 1.1 tokens per word. jina-clip-v1 images: the image is covered by 224×224 tiles
of 1,000 tokens each (``ceil(w/224)·ceil(h/224)·1000``), so only the image's size is needed,
read from its header. URLs are not downloaded (no hidden network traffic, no surprise
cost): pass the bytes, a path, a PIL image, or a ``(width, height)`` tuple instead."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from ..errors import ImageDecodeError, ImageInputError, ImageNotFoundError
from ..image_tokens import tile_tokens
from .models import ModelSpec

__all__ = [
    "estimate_image_tokens",
    "estimate_text_tokens",
    "estimate_tokens_per_text",
    "image_size",
]



#: Characters per slice when counting words: the words of one slice are a list of at most
#: ~32 K short strings (~2 MB), whatever the text's size.
WORD_COUNT_CHUNK = 64 * 1024


def estimate_tokens_per_text(texts: Sequence[str]) -> list[int]:
    """Jina's estimate for each text (about 1.1 tokens per whitespace-separated word), in
    integers: ``100 * 1.1`` is 110.00000000000001 in floats, which would round up to 111."""
    return [-(-count_words(text) * 11 // 10) for text in texts]


def count_words(text: str) -> int:
    """``len(text.split())`` without the list of all words (an 8 MB text has 4 M of them,
    hundreds of MB): counted slice by slice, a word cut by a slice's end counted once."""
    chunk = WORD_COUNT_CHUNK
    words = 0
    for start in range(0, len(text), chunk):
        words += len(text[start:start + chunk].split())
        if start and not text[start - 1].isspace() and not text[start].isspace():
            words -= 1  # the same word on both sides of the cut
    return words


def estimate_text_tokens(texts: Sequence[str]) -> int:
    return sum(estimate_tokens_per_text(texts))


def estimate_image_tokens(images: Sequence[Any], spec: ModelSpec, model: str) -> int:
    if not images:
        return 0
    if spec.image_tile is None:
        raise ValueError(f"no published image token rule for model {model!r}")
    side, per_tile = spec.image_tile
    total = 0
    for index, image in enumerate(images):
        width, height = image_size(image, index=index)
        total += tile_tokens(width, height, tile=side, per_tile=per_tile)
    return total


def image_size(image: Any, *, index: int) -> tuple[int, int]:
    """``(width, height)`` from the image header, without decoding the pixels."""
    from PIL import Image, UnidentifiedImageError

    from ..images.sources import classify_image, load_image

    if isinstance(image, tuple) and len(image) == 2:
        return int(image[0]), int(image[1])
    source = classify_image(image, index=index)
    if source.kind == "url":
        raise ImageInputError(
            "estimate_tokens does not download URLs; pass the image's bytes, a path, "
            "a PIL image or its (width, height)",
            index=index,
        )
    if source.kind == "pil":
        return source.payload.size  # type: ignore[attr-defined]
    if source.kind in ("path", "file"):
        stream: Any = source.payload
    elif source.kind in ("bytes", "base64"):
        stream = io.BytesIO(source.payload)  # type: ignore[arg-type]
    else:  # data URIs: already in memory, decode the simple way
        return load_image(image, index=index).size
    try:
        with Image.open(stream) as opened:
            return opened.size
    except FileNotFoundError:
        raise ImageNotFoundError(f"no such file: {source.payload}", index=index) from None
    except (UnidentifiedImageError, OSError) as exc:
        raise ImageDecodeError(f"cannot read image header: {exc}", index=index) from None
