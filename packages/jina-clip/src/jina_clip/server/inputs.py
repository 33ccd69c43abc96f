"""Turn the request's ``input`` into validated texts and decoded images, before queueing.

Everything that can fail on a single input (type, text length, image bytes, URL safety,
decoding) fails here, naming the input's index, so a bad input never reaches a model batch.
Image strings may only be http(s) URLs, ``data:`` URIs or base64: a server never reads its own
disk for a client, so ``file://`` URLs and paths are refused.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ImageInputError
from ..images.sources import check_data_uri_media_type
from ..wire import ImageItem, InputItem, LegacyBytesItem, LegacyUrlItem, TextItem

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["ImageSource", "ParsedInput", "classify_image", "image_tokens", "parse_input"]

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
#: jina-clip-v1 pricing: 1,000 tokens per 224x224 tile.
TILE = 224
TOKENS_PER_TILE = 1000


@dataclass(frozen=True)
class ImageSource:
    """One image input: an http(s) URL to fetch, or the bytes of an inline image."""

    index: int
    url: str | None = None
    data: bytes | None = None


@dataclass
class ParsedInput:
    count: int
    texts: list[tuple[int, str]]
    images: list[ImageSource]


def image_tokens(image: Image.Image) -> int:
    """Usage tokens of one image under the jina-clip-v1 rule."""
    width, height = image.size
    return math.ceil(width / TILE) * math.ceil(height / TILE) * TOKENS_PER_TILE


def classify_image(value: str, *, index: int, max_bytes: int) -> ImageSource:
    """Classify an image string: http(s) URL, data URI or base64. (URLs are checked by the
    address guard when fetched, on every redirect hop.)"""
    match = _SCHEME.match(value)
    scheme = match.group(1).lower() if match else ""
    if scheme in ("http", "https"):
        return ImageSource(index, url=value)
    if scheme == "data":
        header, sep, payload = value.partition(",")
        if not sep or not header.lower().endswith(";base64"):
            raise ImageInputError("data URI must be base64-encoded (data:...;base64,...)",
                                  index=index)
        check_data_uri_media_type(header, index=index)
        value = payload
    elif scheme and "://" in value[:40]:
        raise ImageInputError(
            f"{scheme}:// URLs are not accepted; send an http(s) URL, a data URI or base64",
            index=index,
        )
    # 4 base64 chars carry 3 bytes: refuse oversized payloads before decoding them.
    if len(value) // 4 * 3 > max_bytes + 3:
        raise ImageInputError(f"image is larger than {max_bytes} bytes", index=index)
    try:
        data = base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ImageInputError(
            "image is not an http(s) URL, a data URI or valid base64", index=index
        ) from None
    if not data:
        raise ImageInputError("image is empty", index=index)
    if len(data) > max_bytes:
        raise ImageInputError(f"image is larger than {max_bytes} bytes", index=index)
    return ImageSource(index, data=data)


def parse_input(raw: str | list[InputItem], *, max_inputs: int,
                max_image_bytes: int) -> ParsedInput:
    """Split ``input`` into texts and image sources by position. Raises ``ValueError`` for
    an empty list or too many inputs (the caller maps them to 422 / 400)."""
    items: list[InputItem] = [raw] if isinstance(raw, str) else list(raw)
    if not items:
        raise ValueError("input is empty; send at least one text or image")
    if len(items) > max_inputs:
        raise OverflowError(
            f"input length is larger than the largest allowed size {max_inputs}"
        )
    texts: list[tuple[int, str]] = []
    images: list[ImageSource] = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            texts.append((i, item))
        elif isinstance(item, TextItem):
            texts.append((i, item.text))
        else:
            value = (
                item.image if isinstance(item, ImageItem)
                else item.url if isinstance(item, LegacyUrlItem)
                else item.bytes if isinstance(item, LegacyBytesItem)
                else None
            )
            if value is None:  # pragma: no cover - pydantic admits only the types above
                raise ImageInputError(f"unsupported input {type(item).__name__}", index=i)
            images.append(classify_image(value, index=i, max_bytes=max_image_bytes))
    return ParsedInput(len(items), texts, images)
