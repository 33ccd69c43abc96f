"""Download images from http(s) URLs with hard limits.

Redirects are followed by hand (never by httpx) so that ``url_guard`` sees every hop: the server
passes a guard that refuses private addresses, and a public URL redirecting to
``http://169.254.169.254/`` must be refused too. A guard refusal (:class:`UnsafeURLError`) is
re-raised as :class:`ImageFetchError` with the input's index and the guard's reason, the
original error kept as ``__cause__``; other exceptions from the guard propagate unchanged. The
same holds for an :class:`UnsafeURLError` raised by the transport while connecting: ``url_guard``
alone is a pre-check, and a server also needs a transport that connects only to approved
addresses (``jina_clip.server.transport``; pass ``trust_env=False`` so that no proxy from the
environment sits in front of it).

The body is streamed and the download stops as soon as it exceeds ``limits.max_bytes``
(:class:`ImageDownloadTooLargeError`, which is both an :class:`ImageFetchError` and an
:class:`ImageTooLargeError`). ``limits.fetch_timeout`` bounds the whole fetch, redirects and
body included, not just each socket operation, so a server dripping one byte a second is cut.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable

import httpx

from ..errors import (
    ImageDecodeError,
    ImageDownloadTooLargeError,
    ImageFetchError,
    UnsafeURLError,
)
from .sources import DEFAULT_LIMITS, ImageLimits, sniff_image_format

#: ``ImageDownloadTooLargeError`` lives in :mod:`jina_clip.errors`; importable here as before.
__all__ = ["ImageDownloadTooLargeError", "UrlFetcher"]

_HEADERS = {"User-Agent": "jina-clip (image fetcher)", "Accept": "image/*,*/*;q=0.5"}
_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/xhtml")


def _check_scheme(url: str, *, index: int) -> None:
    """Only http(s) is fetched. The refusal is an :class:`ImageFetchError` whose cause is an
    :class:`UnsafeURLError` (the server answers ``unsafe_url``), as for the address guard."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        shown = url if len(url) <= 80 else url[:80] + "..."
        refusal = UnsafeURLError(f"only http and https URLs are fetched, not {scheme}:")
        raise _guard_refused(shown, refusal, index=index)


class _NonHttpRedirect(Exception):
    """Raised by :func:`_refuse_non_http_redirect` (an httpx response hook) with the target."""


def _refuse_non_http_redirect(response: httpx.Response) -> None:
    """Stop at a redirect to a non-http(s) URL before httpx builds the next request from it
    (it does even with redirects off, and fails on some, e.g. ``data:``, with its own text)."""
    location = response.headers.get("location")
    if response.status_code in _REDIRECT_CODES and location:
        target = urllib.parse.urljoin(str(response.url), location)
        if urllib.parse.urlsplit(target).scheme.lower() not in ("http", "https"):
            raise _NonHttpRedirect(target)


def _redirect_target(response: httpx.Response, *, url: str, index: int) -> str | None:
    if response.status_code not in _REDIRECT_CODES:
        return None
    location = response.headers.get("location")
    if not location:
        raise ImageFetchError(
            f"GET {url} answered HTTP {response.status_code} without a Location header",
            index=index,
        )
    target = urllib.parse.urljoin(str(response.url), location)
    _check_scheme(target, index=index)
    return target


def _check_status(response: httpx.Response, *, url: str, index: int) -> None:
    if not response.is_success:
        reason = response.reason_phrase or ""
        error = ImageFetchError(
            f"GET {url} failed: HTTP {response.status_code} {reason}".rstrip(), index=index
        )
        error.status_code = response.status_code  # type: ignore[attr-defined]  # for callers
        raise error


def _check_declared_size(response: httpx.Response, *, url: str, index: int, cap: int) -> None:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise ImageDownloadTooLargeError(
            f"{url} is {declared} bytes (Content-Length), over the limit of {cap}", index=index
        )


def _over_cap(url: str, *, index: int, cap: int) -> ImageDownloadTooLargeError:
    return ImageDownloadTooLargeError(
        f"download of {url} stopped: more than the limit of {cap} bytes", index=index
    )


def _check_content(data: bytes, response: httpx.Response, *, url: str, index: int) -> bytes:
    """Refuse an obviously non-image body (an HTML error page served with 200) early, with a
    message naming the content type. Unknown binary types are left to the decoder."""
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type.startswith(_TEXT_TYPES) and sniff_image_format(data) is None:
        raise ImageDecodeError(f"{url} returned {content_type!r}, not an image", index=index)
    return data


def _guard_refused(url: str, err: UnsafeURLError, *, index: int) -> ImageFetchError:
    error = ImageFetchError(f"refused to fetch {url}: {err}", index=index)
    error.__cause__ = err
    return error


def _timeout_error(url: str, seconds: float, *, index: int) -> ImageFetchError:
    return ImageFetchError(f"fetching {url} timed out after {seconds:g} s", index=index)


def _network_error(url: str, err: Exception, *, index: int) -> ImageFetchError:
    detail = str(err) or type(err).__name__
    return ImageFetchError(f"fetching {url} failed: {detail}", index=index)


class UrlFetcher:
    """Synchronous fetcher; one ``httpx.Client`` reused across calls. Close it (or use it as a
    context manager) when done; a client passed in is not closed by it."""

    def __init__(
        self,
        *,
        limits: ImageLimits = DEFAULT_LIMITS,
        url_guard: Callable[[str], None] | None = None,
        client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        trust_env: bool = True,
    ) -> None:
        if client is not None and transport is not None:
            raise ValueError("pass either client or transport, not both")
        self.limits = limits
        self.url_guard = url_guard
        self._owns_client = client is None
        self._client = client or httpx.Client(
            transport=transport, headers=_HEADERS, follow_redirects=False, trust_env=trust_env,
            event_hooks={"response": [_refuse_non_http_redirect]},
        )

    def fetch(self, url: str, *, index: int) -> bytes:
        """Download ``url`` (following at most ``max_redirects`` redirects) and return the body.
        Raises :class:`ImageFetchError` (or a subclass) naming ``index`` on any failure."""
        limits = self.limits
        deadline = time.monotonic() + limits.fetch_timeout
        current = url
        _check_scheme(current, index=index)
        for _ in range(limits.max_redirects + 1):
            self._guard(current, index=index)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _timeout_error(url, limits.fetch_timeout, index=index)
            try:
                with self._client.stream(
                    "GET", current, timeout=remaining, follow_redirects=False
                ) as response:
                    target = _redirect_target(response, url=current, index=index)
                    if target is not None:
                        current = target
                        continue
                    _check_status(response, url=current, index=index)
                    _check_declared_size(response, url=current, index=index, cap=limits.max_bytes)
                    chunks: list[bytes] = []
                    total = 0
                    for chunk in response.iter_bytes():
                        total += len(chunk)
                        if total > limits.max_bytes:
                            raise _over_cap(current, index=index, cap=limits.max_bytes)
                        if time.monotonic() > deadline:
                            raise _timeout_error(url, limits.fetch_timeout, index=index)
                        chunks.append(chunk)
                    return _check_content(b"".join(chunks), response, url=current, index=index)
            except UnsafeURLError as err:  # a guarded transport refused the connection
                raise _guard_refused(current, err, index=index) from err
            except _NonHttpRedirect as redirect:
                _check_scheme(str(redirect), index=index)
            except httpx.TimeoutException as err:
                raise _timeout_error(url, limits.fetch_timeout, index=index) from err
            except (httpx.HTTPError, httpx.InvalidURL) as err:
                raise _network_error(current, err, index=index) from err
        raise ImageFetchError(
            f"fetching {url} took more than {limits.max_redirects} redirects", index=index
        )

    def _guard(self, url: str, *, index: int) -> None:
        if self.url_guard is None:
            return
        try:
            self.url_guard(url)
        except UnsafeURLError as err:
            raise _guard_refused(url, err, index=index) from err

    def close(self) -> None:
        """Close the HTTP client if this fetcher created it. Idempotent."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> UrlFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
