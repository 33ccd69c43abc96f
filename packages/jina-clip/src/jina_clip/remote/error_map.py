"""Turn an HTTP response or a transport exception into a typed :class:`APIError`, and say
whether it is worth retrying. Pure functions: the sync and async transports share them."""

from __future__ import annotations

import datetime
import email.utils
import json
import math
import re
import time
from dataclasses import dataclass

import httpx

from ..errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InputRejectedError,
    InsufficientBalanceError,
    RateLimitError,
    ServerError,
)

__all__ = [
    "RETRYABLE_STATUS",
    "Failure",
    "failure_from_exception",
    "failure_from_response",
    "parse_retry_after",
    "rejected_input",
    "response_request_id",
]

#: Statuses retried with backoff (the API's own table: busy, rate limited, server side; and
#: 408, a server that timed out waiting for the request, as openai-python retries it).
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})

_MAX_MESSAGE = 500


@dataclass(frozen=True)
class Failure:
    """One failed attempt: the error to raise if we give up, whether a retry may help, and
    the server's ``Retry-After`` in seconds (if it sent one)."""

    error: APIError
    retryable: bool
    retry_after: float | None = None


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds (fractions tolerated) or an HTTP date.
    Unparseable or negative values give None / 0."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:  # "-0000" or no zone: HTTP dates are always UTC, not local
            when = when.replace(tzinfo=datetime.timezone.utc)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def response_request_id(response: httpx.Response, body: object = None) -> str | None:
    """The request id from the error body, else the ``x-request-id`` header."""
    if isinstance(body, dict) and isinstance(body.get("request_id"), str):
        return body["request_id"]
    return response.headers.get("x-request-id")


def _json_body(response: httpx.Response) -> object:
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def _describe(item: object) -> str:
    """One validation error (FastAPI ``detail`` entry or Jina ``errors`` entry) as text."""
    if not isinstance(item, dict):
        return str(item)
    msg = item.get("msg") or item.get("message") or ""
    loc = item.get("loc") or item.get("field")
    if isinstance(loc, (list, tuple)):
        loc = ".".join(str(part) for part in loc)
    return f"{loc}: {msg}" if loc else str(msg or item)


def _message(response: httpx.Response, body: object) -> str:
    parts: list[str] = []
    if isinstance(body, dict):
        detail = body.get("detail")
        if isinstance(detail, str):
            parts.append(detail)
        elif isinstance(detail, list):
            parts.extend(_describe(item) for item in detail)
        errors = body.get("errors")
        if isinstance(errors, list):
            parts.extend(_describe(item) for item in errors)
        if not parts and isinstance(body.get("message"), str):
            parts.append(body["message"])
    if not parts:
        text = response.text.strip()
        parts.append(text[:_MAX_MESSAGE] if text else response.reason_phrase or "no body")
    message = "; ".join(p for p in parts if p)
    return message[:_MAX_MESSAGE]


def failure_from_response(response: httpx.Response) -> Failure:
    """Map a non-2xx response to its typed error."""
    status = response.status_code
    body = _json_body(response)
    fields = {
        "status_code": status,
        "code": body.get("code") if isinstance(body, dict) and body.get("code") else None,
        "request_id": response_request_id(response, body),
        "body": body,
    }
    message = _message(response, body)
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    retryable = status in RETRYABLE_STATUS
    error: APIError
    if status == 401:
        error = AuthenticationError(
            f"authentication failed: {message} (check api_key / JINA_API_KEY)", **fields
        )
    elif status in (402, 403):
        error = InsufficientBalanceError(f"insufficient balance or access: {message}", **fields)
    elif status == 408:
        error = APITimeoutError(f"the server timed out waiting for the request: {message}",
                                **fields)
    elif status == 409:
        error = ConflictError(f"resource busy: {message}", **fields)
    elif status == 429:
        error = RateLimitError(f"rate limited: {message}", retry_after=retry_after, **fields)
    elif status >= 500:
        error = ServerError(f"server error: {message}", **fields)
    elif 400 <= status < 500:
        error = BadRequestError(f"request refused: {message}", **fields)
    elif 300 <= status < 400:
        location = response.headers.get("location", "?")
        error = APIError(
            f"unexpected redirect to {location}; set base_url to the final address", **fields
        )
    else:
        error = APIError(f"unexpected status: {message}", **fields)
    return Failure(error, retryable, retry_after)


def failure_from_exception(exc: httpx.HTTPError) -> Failure:
    """Map an httpx exception (no response) to APITimeoutError / APIConnectionError.

    Only the exception's class name and message are kept (they carry the URL, never
    headers); a wrong URL scheme or a client-side protocol misuse is not retried."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return Failure(APITimeoutError(f"request timed out ({text})"), retryable=True)
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.LocalProtocolError)):
        return Failure(APIConnectionError(f"request could not be sent ({text})"), False)
    return Failure(APIConnectionError(f"connection failed ({text})"), retryable=True)


#: A 4xx detail that names one input of the request (our server's and Jina's wording).
_INPUT_DETAIL = re.compile(r"input (\d+): (.+)", re.DOTALL)


def rejected_input(error: BadRequestError, *, offset: int, count: int) -> BadRequestError:
    """``error`` as an :class:`InputRejectedError` whose ``index`` is the input's position in
    the whole call (the request held inputs ``offset .. offset+count-1``), when its detail
    names one input of the request; else ``error`` unchanged."""
    body = error.body
    detail = body.get("detail") if isinstance(body, dict) else None
    match = _INPUT_DETAIL.match(detail) if isinstance(detail, str) else None
    if match is None or not 0 <= int(match.group(1)) < count:
        return error
    return InputRejectedError(
        match.group(2), index=offset + int(match.group(1)), status_code=error.status_code,
        code=error.code, request_id=error.request_id, body=body,
    )
