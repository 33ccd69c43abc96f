"""Image inputs as the API wants them: an http(s) URL, data URI or base64 string passes
through; files, bytes, file objects and PIL images become base64.

The conversion lives in :mod:`jina_clip.images.sources` (shared with the local encoder and the
server); imported lazily so that importing the remote backend stays cheap."""

from __future__ import annotations

from typing import Any

__all__ = ["image_to_api_string"]


def image_to_api_string(image: Any, *, index: int) -> str:
    """One image as an API ``image`` string; errors are typed and name the input's ``index``."""
    from ..images.sources import image_to_api_string as convert

    return convert(image, index=index)
