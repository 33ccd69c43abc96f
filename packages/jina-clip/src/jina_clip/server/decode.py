"""Decode request images into PIL images on worker threads, under the server's limits.

Inline images go through :func:`jina_clip.images.sources.decode_image_bytes`; URLs through one
shared :class:`~jina_clip.images.fetch.UrlFetcher` whose ``url_guard`` is the address guard,
so every hop of a redirect chain is checked, not just the first URL.
"""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image

from ..images.fetch import UrlFetcher
from ..images.sources import ImageLimits, decode_image_bytes
from .config import ServerSettings
from .inputs import ImageSource

__all__ = ["ImageLoader"]


class ImageLoader:
    """``load(source) -> PIL.Image``; blocking, meant for a thread pool."""

    def __init__(self, settings: ServerSettings, url_guard: Callable[[str], None]) -> None:
        self.limits = ImageLimits(
            max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels,
            fetch_timeout=settings.fetch_timeout_s, max_redirects=settings.max_redirects)
        self.fetcher = UrlFetcher(limits=self.limits, url_guard=url_guard)

    def load(self, source: ImageSource) -> Image.Image:
        data = source.data
        if data is None:
            assert source.url is not None
            data = self.fetcher.fetch(source.url, index=source.index)
        return decode_image_bytes(data, index=source.index, limits=self.limits)

    def close(self) -> None:
        self.fetcher.close()
