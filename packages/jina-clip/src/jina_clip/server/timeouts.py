"""Close connections whose request headers arrive too slowly.

uvicorn's HTTP protocols have a keep-alive timeout between requests but no timeout on the
request headers themselves: a client that opens a connection and sends a byte every few
seconds (slowloris) holds it forever, and a few hundred such clients hold the server's file
descriptors. The ASGI app cannot help, since it is only called once the headers are complete.
So the deadline lives in the protocol: :func:`header_timeout_protocol` subclasses uvicorn's
protocol class with a timer armed when a connection opens (and again after each response,
for the next request on a kept-alive connection) and cancelled when a request's headers are
complete; when it fires, the connection is closed. The body's deadline is the ASGI
middleware's (``body_timeout_s``, 408).
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["header_timeout_protocol"]


class _HeaderDeadline:
    """Mixin for uvicorn's ``H11Protocol`` / ``HttpToolsProtocol``. Both set ``self.cycle`` to
    a new request cycle when a request's headers are complete, and call
    ``on_response_complete`` after each response."""

    header_timeout: float = 10.0
    cycle: Any
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        cycle = self.cycle
        super().data_received(data)  # type: ignore[misc]
        if self.cycle is not cycle:  # a request's headers are complete
            self._cancel_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if not self.transport.is_closing():
            self._arm_header_timer()  # the next request's headers, on a kept-alive connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)  # type: ignore[misc]

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being answered (pipelining): not waiting for headers
        if not self.transport.is_closing():
            self.transport.close()


def header_timeout_protocol(seconds: float, base: str = "auto") -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class (``base``: ``auto``, ``httptools`` or ``h11``, as
    uvicorn's ``http`` option) closing connections whose headers take over ``seconds``; pass
    it as uvicorn's ``http``."""
    protocol: type[asyncio.Protocol]
    if base in ("auto", "httptools"):
        try:
            from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as protocol
        except ImportError:
            if base == "httptools":
                raise
            from uvicorn.protocols.http.h11_impl import H11Protocol as protocol
    else:
        from uvicorn.protocols.http.h11_impl import H11Protocol as protocol
    return type(f"HeaderTimeout{protocol.__name__}", (_HeaderDeadline, protocol),
                {"header_timeout": seconds})
