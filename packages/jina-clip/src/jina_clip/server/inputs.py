"""Turn the request's ``input`` into validated texts and decoded images, before queueing.

Everything that can fail on a single input (type, text length, image bytes, URL safety,
decoding) fails here, naming the input's index, so a bad input never reaches a model batch.
Image strings may only be http(s) URLs, ``data:`` URIs or base64: a server never reads its own
disk for a client, so ``file://`` URLs and paths are refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ImageInputError
from ..images.sources import ImageSource, classify_image
from ..wire import ImageItem, InputItem, LegacyBytesItem, LegacyUrlItem, TextItem

__all__ = ["ParsedImage", "ParsedInput", "parse_input"]


@dataclass(frozen=True)
class ParsedImage:
    """One image input of the request: its index and what it is (URL, data URI, base64)."""

    index: int
    source: ImageSource


@dataclass
class ParsedInput:
    count: int
    texts: list[tuple[int, str]]
    images: list[ParsedImage]


def parse_input(raw: str | list[InputItem], *, max_inputs: int,
                max_image_bytes: int) -> ParsedInput:
    """Split ``input`` into texts and image sources by position. Raises ``ValueError`` for
    an empty list or too many inputs (the caller maps them to 422 / 400). Image strings are
    classified by the core's :func:`~jina_clip.images.sources.classify_image`, so the server
    accepts what the client sends (URL-safe or unpadded base64, data URIs), paths excepted."""
    items: list[InputItem] = [raw] if isinstance(raw, str) else list(raw)
    if not items:
        raise ValueError("input is empty; send at least one text or image")
    if len(items) > max_inputs:
        raise OverflowError(
            f"input length is larger than the largest allowed size {max_inputs}"
        )
    texts: list[tuple[int, str]] = []
    images: list[ParsedImage] = []
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
            source = classify_image(value, index=i, local_files=False,
                                    max_bytes=max_image_bytes)
            images.append(ParsedImage(i, source))
    return ParsedInput(len(items), texts, images)
