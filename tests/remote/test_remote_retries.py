"""Retries: what is retried, how long we wait, and what is raised when we give up."""

from __future__ import annotations

import time

import numpy as np
import pytest

from jina_clip.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InsufficientBalanceError,
    RateLimitError,
    RetryAfterTooLongError,
    ServerError,
)

from .fake_jina_api import Drop, Echo, Reply, expected

TEXTS = ["a bridge at dusk", "a red bicycle"]


def _error(status: int, detail: object = "nope", **extra: object) -> Reply:
    return Reply(status, json={"detail": detail, "code": f"E{status}", "request_id": "rid-1",
                               **extra})


def _check_ok(api, result) -> None:
    np.testing.assert_allclose(result, expected([{"text": t} for t in TEXTS], 768), atol=1e-6)


def test_429_retry_after_seconds_is_honoured(api, make_encoder, twin):
    api.queue(Reply(429, json={"detail": "slow down"}, headers={"Retry-After": "0.3"}))
    encoder = make_encoder(backoff_max=5.0)
    start = time.monotonic()
    result = twin(encoder, "encode_text", TEXTS)
    assert time.monotonic() - start >= 0.3
    assert len(api.requests) == 2
    _check_ok(api, result)


def test_retry_after_longer_than_backoff_max_is_honoured(api, make_encoder, twin):
    """``backoff_max`` bounds our own backoff, not the server's ``Retry-After``: retrying
    before the server asked would only be refused again."""
    api.queue(Reply(503, json={"detail": "x"}, headers={"Retry-After": "0.4"}))
    start = time.monotonic()
    _check_ok(api, twin(make_encoder(backoff_max=0.05), "encode_text", TEXTS))
    assert time.monotonic() - start >= 0.4
    assert len(api.requests) == 2


def test_retry_after_over_the_cap_gives_up_naming_the_wait(api, make_encoder, twin):
    api.queue(Reply(429, json={"detail": "x", "code": "RL"},
                    headers={"Retry-After": "120", "x-request-id": "rid-wait"}))
    start = time.monotonic()
    with pytest.raises(RetryAfterTooLongError, match="retry after 120 s") as info:
        twin(make_encoder(max_retry_after=60), "encode_text", TEXTS)
    assert time.monotonic() - start < 5 and len(api.requests) == 1
    err = info.value
    assert (err.retry_after, err.max_retry_after, err.status_code, err.request_id) == (
        120.0, 60.0, 429, "rid-wait")
    assert isinstance(err.__cause__, RateLimitError)


def test_408_exhausted_raises_a_timeout_error(api, make_encoder, twin):
    api.default = _error(408)
    with pytest.raises(APITimeoutError) as info:
        twin(make_encoder(max_retries=1), "encode_text", TEXTS)
    assert info.value.status_code == 408 and len(api.requests) == 2


def test_429_without_retry_after_backs_off_and_succeeds(api, make_encoder, twin):
    api.queue(Reply(429, json={"detail": "x"}), Reply(429, json={"detail": "x"}))
    _check_ok(api, twin(make_encoder(), "encode_text", TEXTS))
    assert len(api.requests) == 3


def test_429_exhausted_raises_rate_limit_error(api, make_encoder, twin):
    api.default = Reply(429, json={"detail": "too many", "code": "RL"},
                        headers={"Retry-After": "0", "x-request-id": "rid-429"})
    with pytest.raises(RateLimitError) as info:
        twin(make_encoder(max_retries=2), "encode_text", TEXTS)
    assert len(api.requests) == 3
    err = info.value
    assert (err.status_code, err.code, err.request_id, err.retry_after) == (429, "RL", "rid-429",
                                                                            0.0)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_then_success(api, make_encoder, twin, status):
    api.queue(_error(status), Reply(503, body=b"<html>busy</html>"))
    _check_ok(api, twin(make_encoder(), "encode_text", TEXTS))
    assert len(api.requests) == 3


def test_5xx_exhausted_raises_server_error(api, make_encoder, twin):
    api.default = _error(500, "boom")
    with pytest.raises(ServerError) as info:
        twin(make_encoder(max_retries=1), "encode_text", TEXTS)
    assert info.value.status_code == 500 and "boom" in str(info.value)
    assert len(api.requests) == 2


@pytest.mark.parametrize("status", [408, 409])
def test_408_and_409_then_success(api, make_encoder, twin, status):
    api.queue(_error(status))
    _check_ok(api, twin(make_encoder(), "encode_text", TEXTS))
    assert len(api.requests) == 2


def test_409_exhausted_raises_conflict_error(api, make_encoder, twin):
    api.default = _error(409)
    with pytest.raises(ConflictError):
        twin(make_encoder(max_retries=1), "encode_text", TEXTS)


def test_slow_response_times_out_then_succeeds(api, make_encoder, twin):
    api.queue(Echo(delay=1.0))
    _check_ok(api, twin(make_encoder(timeout=0.2), "encode_text", TEXTS))
    assert len(api.requests) == 2


def test_timeouts_exhausted_raise_api_timeout_error(api, make_encoder, twin):
    api.default = Echo(delay=1.0)
    with pytest.raises(APITimeoutError):
        twin(make_encoder(timeout=0.1, max_retries=1), "encode_text", TEXTS)
    assert len(api.requests) == 2


def test_dropped_connection_mid_response_then_success(api, make_encoder, twin):
    api.queue(Drop(), Drop(partial=b""))
    _check_ok(api, twin(make_encoder(), "encode_text", TEXTS))
    assert len(api.requests) == 3


def test_dropped_connections_exhausted_raise_connection_error(api, make_encoder, twin):
    api.default = Drop()
    with pytest.raises(APIConnectionError) as info:
        twin(make_encoder(max_retries=1), "encode_text", TEXTS)
    assert not isinstance(info.value, APITimeoutError)
    assert info.value.__cause__ is None  # the httpx error (and its request headers) is not chained


def test_connection_refused_raises_connection_error(make_encoder, twin):
    encoder = make_encoder(base_url="http://127.0.0.1:9/v1", max_retries=1)
    with pytest.raises(APIConnectionError):
        twin(encoder, "encode_text", TEXTS)


@pytest.mark.parametrize(
    ("reply", "error_type", "message"),
    [
        (_error(401, "invalid key"), AuthenticationError, "invalid key"),
        (_error(402, "balance exhausted"), InsufficientBalanceError, "balance exhausted"),
        (_error(403, "forbidden"), InsufficientBalanceError, "forbidden"),
        (_error(400, "input length is larger than the largest allowed size 2048"),
         BadRequestError, "2048"),
        (_error(413, "too big"), BadRequestError, "too big"),
        (_error(404, "no route"), BadRequestError, "no route"),
        (_error(422, [{"loc": ["body", "input", 0], "msg": "image too small",
                       "type": "value_error"}]), BadRequestError, "body.input.0: image too small"),
        (Reply(422, json={"detail": "validation", "errors": [
            {"field": "dimensions", "input": 3, "message": "too small", "type": "x"}]}),
         BadRequestError, "dimensions: too small"),
    ],
)
def test_client_errors_are_not_retried(api, make_encoder, twin, reply, error_type, message):
    api.queue(reply)
    with pytest.raises(error_type) as info:
        twin(make_encoder(), "encode_text", TEXTS)
    assert len(api.requests) == 1
    err = info.value
    assert err.status_code == reply.status
    assert message in err.message
    assert err.request_id in ("rid-1", "req-1")  # body's request id, else the header's
    if "code" in reply.json:
        assert err.code == f"E{reply.status}"
