"""httpx transports that only ever connect to addresses the :class:`AddressGuard` approved.

Why: checking a URL and then letting httpx resolve the host again leaves a window for DNS
rebinding: a hostile name server answers a public address to the check and ``127.0.0.1`` (or
``169.254.169.254``) to the connection. Here the resolution that is checked *is* the one used:
an httpcore network backend receives the host httpx is about to connect to, asks
:meth:`AddressGuard.resolve` for the approved addresses (one lookup, every answer checked) and
opens the socket to one of those IP literals, so no further lookup happens. As a second,
independent check, the connected socket's peer address is checked again before a byte is sent.

Only the TCP connection changes: httpcore still sends the original ``Host`` header and runs TLS
with the hostname as SNI and for certificate verification, because it takes both from the URL,
not from the address the backend connected to. Redirects need nothing special: every hop is a
new request, so every new connection goes through the backend, and a pooled keep-alive
connection stays bound to the address approved when it was opened.

These transports have no proxy support on purpose (a proxy would resolve the name itself), and
the fetcher's client must be built with ``trust_env=False`` so that ``HTTP(S)_PROXY`` from the
environment is never mounted in front of them (:func:`guarded_fetcher` does both).
"""

from __future__ import annotations

import ipaddress
import ssl
import time
import typing

import httpcore
import httpx

from ..errors import UnsafeURLError
from ..images.fetch import UrlFetcher
from ..images.sources import DEFAULT_LIMITS, ImageLimits
from .guard import AddressGuard

__all__ = ["GuardedTransport", "guarded_fetcher"]

_SocketOptions = typing.Iterable[typing.Any]
_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)


def _remaining(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise httpcore.ConnectTimeout("connect timed out")
    return left


def _check_peer(guard: AddressGuard, host: str, address: str, peer: object) -> None:
    """Refuse unless the socket is connected to ``address`` and the guard still approves it."""
    peer_host = peer[0] if isinstance(peer, tuple) and peer else None
    if not isinstance(peer_host, str):
        raise UnsafeURLError(f"cannot verify the address connected to for {host!r}")
    ip = ipaddress.ip_address(peer_host.split("%", 1)[0])
    if ip != ipaddress.ip_address(address.split("%", 1)[0]):
        raise UnsafeURLError(f"connection to {host!r} reached {ip}, not the approved {address}")
    guard.check_ip(ip)


class _GuardedBackend(httpcore.NetworkBackend):
    """Sync backend: resolve through the guard, connect to an approved IP, check the peer."""

    def __init__(self, guard: AddressGuard) -> None:
        self._guard = guard
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: _SocketOptions | None = None) -> httpcore.NetworkStream:
        addresses = self._guard.resolve(host, port)
        deadline = None if timeout is None else time.monotonic() + timeout
        error: Exception | None = None
        for address in addresses:  # like create_connection: the first one that answers
            try:
                stream = self._inner.connect_tcp(address, port, timeout=_remaining(deadline),
                                                 local_address=local_address,
                                                 socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
                continue
            try:
                _check_peer(self._guard, host, address, stream.get_extra_info("server_addr"))
            except BaseException:
                stream.close()
                raise
            return stream
        assert error is not None  # resolve() never returns an empty list
        raise error

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: _SocketOptions | None = None
                            ) -> httpcore.NetworkStream:
        raise UnsafeURLError("refusing to connect to a unix socket")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _pool_kwargs(verify: ssl.SSLContext | bool, limits: httpx.Limits) -> dict[str, typing.Any]:
    return dict(ssl_context=httpx.create_ssl_context(verify=verify),
                max_connections=limits.max_connections,
                max_keepalive_connections=limits.max_keepalive_connections,
                keepalive_expiry=limits.keepalive_expiry)


def _swap_pool(transport: object, pool: object, expected: type) -> None:
    """Install ``pool`` in place of the one httpx built; fail closed if httpx's layout changed
    (an unguarded pool silently left in place would reopen the hole)."""
    if not isinstance(vars(transport).get("_pool"), expected):
        raise RuntimeError("unsupported httpx version: cannot install the guarded connection "
                           "pool; refusing to fetch URLs unguarded")
    transport._pool = pool  # type: ignore[attr-defined]


class GuardedTransport(httpx.HTTPTransport):
    """``httpx.HTTPTransport`` whose connections go only to addresses ``guard`` approved.
    ``verify`` is as for httpx (an ``ssl.SSLContext`` to trust a private CA)."""

    def __init__(self, guard: AddressGuard, *, verify: ssl.SSLContext | bool = True,
                 limits: httpx.Limits = _LIMITS) -> None:
        super().__init__(verify=verify, limits=limits)
        pool = httpcore.ConnectionPool(**_pool_kwargs(verify, limits),
                                       network_backend=_GuardedBackend(guard))
        _swap_pool(self, pool, httpcore.ConnectionPool)


def guarded_fetcher(guard: AddressGuard, limits: ImageLimits = DEFAULT_LIMITS, *,
                    verify: ssl.SSLContext | bool = True) -> UrlFetcher:
    """A :class:`UrlFetcher` that pre-checks every hop with ``guard`` and connects only to
    addresses ``guard`` approved, ignoring proxy settings from the environment."""
    return UrlFetcher(limits=limits, url_guard=guard, trust_env=False,
                      transport=GuardedTransport(guard, verify=verify))
