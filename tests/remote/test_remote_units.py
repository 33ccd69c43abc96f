"""Pure pieces: Retry-After parsing, backoff schedule, error mapping."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest

from jina_clip.errors import (
    APIConnectionError,
    APITimeoutError,
    BadRequestError,
    RateLimitError,
    RetryAfterTooLongError,
    ServerError,
)
from jina_clip.remote.error_map import (
    Failure,
    failure_from_exception,
    failure_from_response,
    parse_retry_after,
)
from jina_clip.remote.retry import RetryPolicy


def test_parse_retry_after():
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("0.25") == 0.25
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("inf") is None
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert parse_retry_after(date, now=1_000_000) == pytest.approx(30)
    assert parse_retry_after(date, now=1_000_100) == 0.0


@pytest.mark.skipif(not hasattr(time, "tzset"), reason="needs time.tzset")
def test_parse_retry_after_zoneless_date_is_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    """A "-0000" (or zoneless) HTTP date is UTC, not the machine's local time."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        date = email.utils.formatdate(1_000_030, usegmt=True).replace("GMT", "-0000")
        assert parse_retry_after(date, now=1_000_000) == pytest.approx(30)
        zoneless = date.replace(" -0000", "")
        assert parse_retry_after(zoneless, now=1_000_000) == pytest.approx(30)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_backoff_is_jittered_exponential_and_capped():
    policy = RetryPolicy(max_retries=10, backoff_base=0.5, backoff_max=4.0)
    failure = Failure(ServerError("x"), retryable=True)
    for attempt in range(10):
        ceiling = min(4.0, 0.5 * 2**attempt)
        delays = [policy.delay(failure, attempt) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.5  # full jitter spreads over the range
    assert policy.delay(failure, 10) is None


def test_retry_after_wins_up_to_its_cap():
    policy = RetryPolicy(max_retries=3, backoff_base=0.5, backoff_max=30.0, max_retry_after=60.0)
    assert policy.delay(Failure(RateLimitError("x"), True, 12.0), 0) == 12.0
    assert policy.delay(Failure(RateLimitError("x"), True, 45.0), 0) == 45.0  # > backoff_max
    with pytest.raises(RetryAfterTooLongError, match="999"):
        policy.delay(Failure(RateLimitError("x"), True, 999.0), 0)
    assert policy.delay(Failure(BadRequestError("x"), False), 0) is None
    assert RetryPolicy(max_retries=0).delay(Failure(ServerError("x"), True), 0) is None


def _response(status: int, **kwargs) -> httpx.Response:
    return httpx.Response(status, request=httpx.Request("POST", "http://127.0.0.1/"), **kwargs)


def test_failure_from_response():
    failure = failure_from_response(_response(
        429, json={"detail": "rate", "code": "RL"},
        headers={"retry-after": "3", "x-request-id": "hdr"}))
    assert failure.retryable and failure.retry_after == 3.0
    assert isinstance(failure.error, RateLimitError) and failure.error.retry_after == 3.0
    assert failure.error.request_id == "hdr" and failure.error.code == "RL"
    plain = failure_from_response(_response(502, text="Bad Gateway from proxy"))
    assert isinstance(plain.error, ServerError) and "Bad Gateway" in plain.error.message
    redirect = failure_from_response(_response(301, headers={"location": "https://x/v1"}))
    assert not redirect.retryable and "redirect" in redirect.error.message


def test_failure_from_exception():
    request = httpx.Request("POST", "http://127.0.0.1/")
    timeout = failure_from_exception(httpx.ReadTimeout("slow", request=request))
    assert isinstance(timeout.error, APITimeoutError) and timeout.retryable
    dropped = failure_from_exception(httpx.RemoteProtocolError("gone", request=request))
    assert type(dropped.error) is APIConnectionError and dropped.retryable
    scheme = failure_from_exception(httpx.UnsupportedProtocol("ftp"))
    assert not scheme.retryable
