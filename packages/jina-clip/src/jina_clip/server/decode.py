"""Decode request images into PIL images on worker threads, under the server's limits.

Inline images go through :func:`jina_clip.images.sources.load_source`, as on the client; URLs
through one
shared :class:`~jina_clip.images.fetch.UrlFetcher` built by
:func:`~jina_clip.server.transport.guarded_fetcher`: the address guard pre-checks every hop of
a redirect chain, and the transport connects only to addresses the guard approved at connect
time (no DNS rebinding, no environment proxy).
"""

from __future__ import annotations

from PIL import Image

from ..images.sources import ImageLimits, load_source
from .config import ServerSettings
from .guard import AddressGuard
from .inputs import ParsedImage
from .transport import guarded_fetcher

__all__ = ["ImageLoader"]


class ImageLoader:
    """``load(source) -> PIL.Image``; blocking, meant for a thread pool."""

    def __init__(self, settings: ServerSettings, guard: AddressGuard) -> None:
        self.limits = ImageLimits(
            max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels,
            fetch_timeout=settings.fetch_timeout_s, max_redirects=settings.max_redirects)
        self.fetcher = guarded_fetcher(guard, self.limits)

    def load(self, image: ParsedImage) -> Image.Image:
        return load_source(image.source, index=image.index, limits=self.limits,
                           fetcher=self.fetcher)

    def close(self) -> None:
        self.fetcher.close()
