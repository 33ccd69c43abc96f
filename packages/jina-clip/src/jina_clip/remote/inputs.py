"""Image inputs as the API wants them: an http(s) URL passed through, anything else base64.

The conversion lives in :mod:`jina_clip.images.sources` (shared with the local encoder and
the server); it is imported lazily so that this package imports without Pillow work. Until
that module exists, only the cases that need no decoding are handled here."""

from __future__ import annotations

import base64
from typing import Any

from ..errors import ImageInputError

__all__ = ["image_to_api_string"]


def image_to_api_string(image: Any, *, index: int) -> str:
    """One image as an API ``image`` string; errors name the input's ``index``."""
    try:
        from ..images.sources import image_to_api_string as convert
    except ImportError:
        return _minimal(image, index=index)
    return convert(image, index=index)


def _minimal(image: Any, *, index: int) -> str:
    if isinstance(image, str):
        if image.startswith(("http://", "https://", "data:")):
            return image
    elif isinstance(image, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(image)).decode("ascii")
    raise ImageInputError(
        f"unsupported image input {type(image).__name__} (jina_clip.images.sources is not "
        "available)",
        index=index,
    )
