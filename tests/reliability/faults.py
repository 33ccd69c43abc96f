"""Fault injection for reliability tests: a reverse proxy on 127.0.0.1 that fails a seeded
random share of requests (``jina-clip serve`` as a real process: ``tests/serve_process.py``).

The proxy speaks just enough HTTP/1.1 (keep-alive, Content-Length bodies) for httpx clients.
Each request either goes through to the upstream server untouched, or gets one fault:

- ``429`` with ``Retry-After: 1`` (the client caps the wait at its ``backoff_max``), or without
- ``500`` / ``502`` / ``503`` with a Jina-style JSON error body
- ``drop_before``: the connection closes after the request head, before the body is read
- ``drop_after``: the request reaches the upstream (the work is done), then the connection
  closes half-way through the response body

so a client that loses, duplicates or reorders work under failure shows it in its results.
"""

from __future__ import annotations

import asyncio
import collections
import json
import random
import threading
from collections.abc import Sequence

import httpx

FAULTS: tuple[str, ...] = ("429", "429_no_retry_after", "500", "502", "503", "drop_before",
                           "drop_after")
_HOP_HEADERS = {b"connection", b"keep-alive", b"transfer-encoding", b"content-length"}


class FaultProxy:
    """``with FaultProxy(upstream, rate=0.1, seed=7) as url: ...``: a proxy at ``url`` that
    fails ``rate`` of requests (chosen by a seeded RNG) with one of ``faults``.

    ``counts`` tallies outcomes by name: ``ok`` (forwarded and answered), each fault, and
    ``upstream_error`` (the upstream server failed to answer: not injected, a real failure).
    Runs its own event loop on a daemon thread."""

    def __init__(self, upstream: str, *, rate: float = 0.1, seed: int = 0,
                 faults: Sequence[str] = FAULTS) -> None:
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}")
        self.upstream = upstream.rstrip("/")
        self.rate = rate
        self.faults = tuple(faults)
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.counts: collections.Counter[str] = collections.Counter()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._client: httpx.AsyncClient | None = None
        self.url = ""

    # --- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> str:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self.url

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        # Idle upstream connections expire well before uvicorn's 5 s keep-alive timeout, so
        # the proxy never forwards on a socket the server is closing (a fault nobody injected).
        self._client = httpx.AsyncClient(timeout=60, trust_env=False, limits=httpx.Limits(
            max_connections=64, keepalive_expiry=1.0))
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._client is not None:
            await self._client.aclose()

    # --- accounting ----------------------------------------------------------------------------

    @property
    def injected(self) -> int:
        """Requests that got a fault (each one the client must have retried)."""
        with self._lock:
            return sum(self.counts[name] for name in self.faults)

    def _choose(self) -> str:
        with self._lock:
            fault = (self._rng.choice(self.faults) if self._rng.random() < self.rate
                     else "ok")
            self.counts[fault] += 1
            return fault

    # --- one connection ------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client went away (e.g. it gave up on a dropped response)
        finally:
            writer.close()

    async def _one_request(self, reader: asyncio.StreamReader,
                           writer: asyncio.StreamWriter) -> bool:
        """Serve one request; False when the connection is to be (or was) closed."""
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = [tuple(line.split(":", 1)) for line in lines[1:] if line]
        fields = {k.strip().lower(): v.strip() for k, v in headers}
        if "chunked" in fields.get("transfer-encoding", ""):
            raise NotImplementedError("the fault proxy reads Content-Length bodies only")
        fault = self._choose()
        if fault == "drop_before":
            return False
        body = await reader.readexactly(int(fields.get("content-length", "0")))
        if fault in ("429", "429_no_retry_after", "500", "502", "503"):
            status = int(fault[:3])
            extra = [("Retry-After", "1")] if fault == "429" else []
            payload = json.dumps({"detail": f"injected fault {fault}", "code": "injected",
                                  "request_id": "fault"}).encode()
            writer.write(_response(status, [("Content-Type", "application/json"), *extra],
                                   payload))
            await writer.drain()
            return True
        assert self._client is not None
        forward = {k.strip(): v.strip() for k, v in headers
                   if k.strip().lower() not in {"host", "content-length", "connection"}}
        try:
            upstream = await self._client.request(method, self.upstream + target,
                                                  content=body, headers=forward)
        except httpx.HTTPError:  # counted apart, so that "ok" stays exact
            with self._lock:
                self.counts[fault] -= 1
                self.counts["upstream_error"] += 1
            return False
        out = [(k.decode("latin-1"), v.decode("latin-1"))
               for k, v in upstream.headers.raw if k.lower() not in _HOP_HEADERS]
        raw = _response(upstream.status_code, out, upstream.content)
        if fault == "drop_after":  # the upstream did the work; the answer is lost mid-body
            writer.write(raw[: len(raw) - max(1, len(upstream.content) // 2)])
            await writer.drain()
            return False
        writer.write(raw)
        await writer.drain()
        return fields.get("connection", "").lower() != "close"


def _response(status: int, headers: list[tuple[str, str]], body: bytes) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}",
             *(f"{k}: {v}" for k, v in headers), f"Content-Length: {len(body)}", "", ""]
    return "\r\n".join(lines).encode("latin-1") + body


_REASONS = {200: "OK", 400: "Bad Request", 422: "Unprocessable Entity",
            429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
            503: "Service Unavailable"}
