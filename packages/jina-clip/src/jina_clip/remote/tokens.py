"""Jina's published token estimates, to size a job before paying for it.

Text: about 1.1 tokens per word. jina-clip-v1 images: the image is covered by 224×224 tiles
of 1,000 tokens each (``ceil(w/224)·ceil(h/224)·1000``), so only the image's size is needed,
read from its header. URLs are not downloaded (no hidden network traffic, no surprise
cost): pass the bytes, a path, a PIL image, or a ``(width, height)`` tuple instead."""

from __future__ import annotations

import base64
import binascii
import io
import math
import os
from collections.abc import Sequence
from typing import Any

from ..errors import ImageDecodeError, ImageInputError, ImageNotFoundError
from .models import ModelSpec

__all__ = ["estimate_image_tokens", "estimate_text_tokens", "image_size"]

TOKENS_PER_WORD = 1.1


def estimate_text_tokens(texts: Sequence[str]) -> int:
    return sum(math.ceil(len(text.split()) * TOKENS_PER_WORD) for text in texts)


def estimate_image_tokens(images: Sequence[Any], spec: ModelSpec, model: str) -> int:
    if not images:
        return 0
    if spec.image_tile is None:
        raise ValueError(f"no published image token rule for model {model!r}")
    side, per_tile = spec.image_tile
    total = 0
    for index, image in enumerate(images):
        width, height = image_size(image, index=index)
        total += math.ceil(width / side) * math.ceil(height / side) * per_tile
    return total


def image_size(image: Any, *, index: int) -> tuple[int, int]:
    """``(width, height)`` from the image header, without decoding the pixels."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(image, tuple) and len(image) == 2:
        return int(image[0]), int(image[1])
    if isinstance(image, Image.Image):
        return image.size
    source: Any
    if isinstance(image, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(image))
    elif hasattr(image, "read"):
        source = image
    elif isinstance(image, (str, os.PathLike)):
        text = os.fspath(image)
        if text.startswith(("http://", "https://")):
            raise ImageInputError(
                "estimate_tokens does not download URLs; pass the image's bytes, a path, "
                "a PIL image or its (width, height)",
                index=index,
            )
        source = _open_string(text, index=index)
    else:
        raise ImageInputError(f"unsupported image input {type(image).__name__}", index=index)
    try:
        with Image.open(source) as opened:
            return opened.size
    except (UnidentifiedImageError, OSError) as exc:
        raise ImageDecodeError(f"cannot read image header: {exc}", index=index) from None


def _open_string(text: str, *, index: int) -> Any:
    if text.startswith("data:"):
        _, _, payload = text.partition(",")
        return io.BytesIO(_b64(payload, index=index))
    if text.startswith("file://"):
        text = text[len("file://"):]
    if os.path.isfile(text):
        return text
    if len(text) > 256 or not any(sep in text for sep in ("/", "\\", ".")):
        return io.BytesIO(_b64(text, index=index))  # raw base64
    raise ImageNotFoundError(f"no such file: {text}", index=index)


def _b64(payload: str, *, index: int) -> bytes:
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ImageDecodeError("invalid base64 image data", index=index) from None
