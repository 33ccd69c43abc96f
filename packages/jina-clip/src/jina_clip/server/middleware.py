"""Pure-ASGI middleware: request ids, bearer auth, the request-body cap, and a last-resort 500.

Auth is checked first, before any of the body is read. The body is counted while it streams
in, so an oversized upload is refused after at most ``max_body_bytes`` have been read, whatever
its Content-Length claims, and it must arrive within ``body_timeout_s`` (408 and the connection
closed otherwise: a client trickling its body cannot hold a connection).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Collection
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_response
from .metrics import ServerMetrics

__all__ = ["RequestContextMiddleware"]

log = logging.getLogger("jina_clip.server")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class _BodyTooLarge(Exception):
    pass


class _BodyTooSlow(Exception):
    pass


class RequestContextMiddleware:
    """Assign ``x-request-id`` (the client's, if sane), check auth, cap the body, render
    crashes as 500. ``authorize(authorization_header) -> bool`` (None: no auth) guards every
    path but ``open_paths``."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int,
                 authorize: Callable[[str], bool] | None = None,
                 open_paths: Collection[str] = (), body_timeout_s: float = 30.0,
                 metrics: ServerMetrics | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s
        self.authorize = authorize
        self.open_paths = frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        given = headers.get("x-request-id", "")
        request_id = given if _SAFE_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        path = str(scope.get("path", ""))

        def record(status: int, code: str | None) -> None:
            if self.metrics is not None:
                self.metrics.requests.labels(self.metrics.route(path), str(status)).inc()
                if code is not None:
                    self.metrics.errors.labels(code).inc()

        async def reply(status: int, detail: str, **kw: Any) -> None:
            response = error_response(status, detail, request_id, **kw)
            record(status, json.loads(response.body)["code"])
            await response(scope, receive, send)

        if (self.authorize is not None and scope.get("path") not in self.open_paths
                and not self.authorize(headers.get("authorization", ""))):
            await reply(401, "missing or invalid API key; send 'Authorization: Bearer <key>'",
                        headers={"WWW-Authenticate": "Bearer"})
            return
        limit = self.max_body_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await reply(413, f"request body is larger than {limit} bytes")
            return
        try:
            body = await self._read_body(receive, limit, self.body_timeout_s)
        except _BodyTooLarge:
            await reply(413, f"request body is larger than {limit} bytes")
            return
        except _BodyTooSlow:
            await reply(408, f"request body did not arrive within {self.body_timeout_s:g} s",
                        headers={"Connection": "close"})
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # http.disconnect, when the client goes away

        started = False
        status = 0
        error_body: list[bytes] = []

        async def send_with_id(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = int(message["status"])
                raw = [(k, v) for k, v in message.get("headers", [])
                       if k.lower() != b"x-request-id"]
                raw.append((b"x-request-id", request_id.encode("latin-1")))
                message = {**message, "headers": raw}
            elif message["type"] == "http.response.body" and status >= 400:
                error_body.append(message.get("body", b""))
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                record(status, _error_code(b"".join(error_body)) if status >= 400 else None)

        try:
            await self.app(scope, replay, send_with_id)
        except Exception as exc:
            # One line at ERROR (no traceback: it can quote request data); the traceback
            # only at DEBUG, for an operator who asks for it (--log-level debug).
            log.error("unhandled error in request %s: %s", request_id, type(exc).__name__,
                      exc_info=log.isEnabledFor(logging.DEBUG))
            if not started:
                await reply(500, "internal server error")

    @staticmethod
    async def _read_body(receive: Receive, limit: int, timeout: float) -> bytes:
        chunks: list[bytes] = []
        size = 0
        deadline = time.monotonic() + timeout
        while True:
            try:
                message = await asyncio.wait_for(receive(), deadline - time.monotonic())
            except asyncio.TimeoutError:
                raise _BodyTooSlow from None
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _error_code(body: bytes) -> str:
    """The ``code`` of an error body (every error the app sends has one)."""
    try:
        code = json.loads(body).get("code")
    except (ValueError, AttributeError):
        return "unknown"
    return code if isinstance(code, str) else "unknown"
