"""POST one request with retries. The sync and async twins differ only in how they send and
sleep; every decision (what failed, whether to retry, how long to wait) is shared."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from contextlib import AbstractAsyncContextManager, AbstractContextManager

import httpx

from .error_map import Failure, failure_from_exception, failure_from_response
from .retry import RetryPolicy

__all__ = ["Cancelled", "post_async", "post_sync"]

logger = logging.getLogger("jina_clip.remote")


class Cancelled(Exception):
    """Another request of the same call failed; stop retrying this one."""


def _outcome(response: httpx.Response | None, exc: httpx.HTTPError | None) -> Failure | None:
    if exc is not None:
        return failure_from_exception(exc)
    assert response is not None
    if 200 <= response.status_code < 300:
        return None
    return failure_from_response(response)


def _next_delay(policy: RetryPolicy, failure: Failure, attempt: int, url: str) -> float:
    """The wait before the next attempt; raises the typed error when we give up.

    Raised outside any ``except`` block and without ``from``: the httpx exception would
    chain in its request, whose headers hold the API key."""
    delay = policy.delay(failure, attempt)
    if delay is None:
        if failure.retryable and attempt:
            logger.warning("giving up on %s after %d retries: %s", url, attempt, failure.error)
        raise failure.error
    # Log the error's text only: it never holds request headers (the API key).
    logger.info(
        "retrying %s in %.2fs (retry %d/%d): %s",
        url, delay, attempt + 1, policy.max_retries, failure.error,
    )
    return delay


def post_sync(
    client: httpx.Client,
    url: str,
    content: bytes,
    headers: dict[str, str],
    timeout: httpx.Timeout,
    policy: RetryPolicy,
    slots: AbstractContextManager[object],
    cancel: threading.Event | None = None,
) -> httpx.Response:
    """POST ``content``; return the 2xx response or raise the typed :class:`APIError`.

    ``slots`` bounds the requests in flight (held only while one is on the wire, not
    during backoff)."""
    attempt = 0
    while True:
        if cancel is not None and cancel.is_set():
            raise Cancelled
        response: httpx.Response | None = None
        error: httpx.HTTPError | None = None
        try:
            with slots:
                response = client.post(url, content=content, headers=headers, timeout=timeout)
        except httpx.HTTPError as exc:
            error = exc
        failure = _outcome(response, error)
        if failure is None:
            assert response is not None
            return response
        delay = _next_delay(policy, failure, attempt, url)
        # Wake early when a sibling request failed, so the call fails fast.
        if cancel is not None:
            if cancel.wait(delay):
                raise Cancelled
        else:
            time.sleep(delay)
        attempt += 1


async def post_async(
    client: httpx.AsyncClient,
    url: str,
    content: bytes,
    headers: dict[str, str],
    timeout: httpx.Timeout,
    policy: RetryPolicy,
    slots: AbstractAsyncContextManager[object],
) -> httpx.Response:
    """Async twin of :func:`post_sync` (cancellation is asyncio's own)."""
    attempt = 0
    while True:
        response: httpx.Response | None = None
        error: httpx.HTTPError | None = None
        try:
            async with slots:
                response = await client.post(
                    url, content=content, headers=headers, timeout=timeout
                )
        except httpx.HTTPError as exc:
            error = exc
        failure = _outcome(response, error)
        if failure is None:
            assert response is not None
            return response
        delay = _next_delay(policy, failure, attempt, url)
        await asyncio.sleep(delay)
        attempt += 1

