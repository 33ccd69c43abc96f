"""Decode request images into PIL images on worker threads, under the server's limits.

Uses the shared loaders of :mod:`jina_clip.images` (``load_image`` + ``UrlFetcher`` with the
address guard on every hop) when they are installed; until then a small built-in loader with
the same guarantees (size caps while reading, guard before each redirect) stands in.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from urllib.parse import urljoin

import httpx
from PIL import Image

from ..errors import (
    ImageDecodeError,
    ImageFetchError,
    ImageInputError,
    ImageTooLargeError,
    UnsafeURLError,
)
from .config import ServerSettings
from .inputs import ImageSource

__all__ = ["ImageLoader"]


class ImageLoader:
    """``load(source) -> PIL.Image``; blocking, meant for a thread pool."""

    def __init__(self, settings: ServerSettings, url_guard: Callable[[str], None]) -> None:
        self.settings = settings
        self.url_guard = url_guard
        self._client: httpx.Client | None = None

    def load(self, source: ImageSource) -> Image.Image:
        try:
            data = source.data if source.data is not None else self._fetch(source)
            return self._decode(data, source.index)
        except UnsafeURLError as exc:
            raise UnsafeURLError(f"input {source.index}: {exc}") from None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- built-in loader ----------------------------------------------------------------------

    def _decode(self, data: bytes, index: int) -> Image.Image:
        limit = self.settings.max_image_pixels
        try:
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > limit:
                raise ImageTooLargeError(
                    f"image is {width}x{height}, more than {limit} pixels", index=index
                )
            image.load()
        except ImageInputError:
            raise
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise ImageDecodeError(f"cannot decode image: {exc}", index=index) from None
        return image

    def _fetch(self, source: ImageSource) -> bytes:
        assert source.url is not None
        s = self.settings
        if self._client is None:
            self._client = httpx.Client(timeout=s.fetch_timeout_s, follow_redirects=False,
                                        trust_env=False)
        url = source.url
        for _ in range(s.max_redirects + 1):
            self.url_guard(url)
            try:
                with self._client.stream("GET", url) as response:
                    if response.is_redirect:
                        url = urljoin(url, response.headers.get("location", ""))
                        continue
                    if response.status_code != 200:
                        raise ImageFetchError(
                            f"GET {url} answered {response.status_code}", index=source.index
                        )
                    return self._read_capped(response, source.index)
            except httpx.HTTPError as exc:
                raise ImageFetchError(f"cannot fetch {url}: {exc}", index=source.index) from None
        raise ImageFetchError(f"more than {s.max_redirects} redirects", index=source.index)

    def _read_capped(self, response: httpx.Response, index: int) -> bytes:
        cap = self.settings.max_image_bytes
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > cap:
            raise ImageTooLargeError(f"image is larger than {cap} bytes", index=index)
        buf = bytearray()
        for chunk in response.iter_bytes():
            buf += chunk
            if len(buf) > cap:
                raise ImageTooLargeError(f"image is larger than {cap} bytes", index=index)
        return bytes(buf)
