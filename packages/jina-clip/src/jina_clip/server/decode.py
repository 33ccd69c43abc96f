"""Decode request images into PIL images on worker threads, under the server's limits.

Inline images go through :func:`jina_clip.images.sources.decode_image_bytes`; URLs through one
shared :class:`~jina_clip.images.fetch.UrlFetcher` built by
:func:`~jina_clip.server.transport.guarded_fetcher`: the address guard pre-checks every hop of
a redirect chain, and the transport connects only to addresses the guard approved at connect
time (no DNS rebinding, no environment proxy).
"""

from __future__ import annotations

from PIL import Image

from ..images.sources import ImageLimits, decode_image_bytes
from .config import ServerSettings
from .guard import AddressGuard
from .inputs import ImageSource
from .transport import guarded_fetcher

__all__ = ["ImageLoader"]


class ImageLoader:
    """``load(source) -> PIL.Image``; blocking, meant for a thread pool."""

    def __init__(self, settings: ServerSettings, guard: AddressGuard) -> None:
        self.limits = ImageLimits(
            max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels,
            fetch_timeout=settings.fetch_timeout_s, max_redirects=settings.max_redirects)
        self.fetcher = guarded_fetcher(guard, self.limits)

    def load(self, source: ImageSource) -> Image.Image:
        data = source.data
        if data is None:
            assert source.url is not None
            data = self.fetcher.fetch(source.url, index=source.index)
        return decode_image_bytes(data, index=source.index, limits=self.limits)

    def close(self) -> None:
        self.fetcher.close()
