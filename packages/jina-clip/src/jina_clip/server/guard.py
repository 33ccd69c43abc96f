"""Address guard: keep client-supplied image URLs from reaching the server's own network (SSRF).

A URL is allowed only if it is http(s) and *every* address its host resolves to is globally
routable. Integer/octal/hex host spellings (``http://2130706433/``) are parsed the way C's
``inet_aton`` would, since the OS resolver accepts them. The image fetcher calls the guard
before the first request and before following each redirect.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

from ..errors import UnsafeURLError

__all__ = ["Resolver", "check_address", "check_url", "make_url_guard", "parse_ip_host",
           "system_resolver"]

#: ``resolver(host, port) -> [address, ...]``; injectable so tests never touch DNS.
Resolver = Callable[[str, int], list[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``getaddrinfo`` returns for ``host``."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]).split("%", 1)[0] for info in infos]


def _parse_int_part(part: str) -> int:
    if part[:2].lower() == "0x":
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8)
    return int(part, 10)


def parse_ip_host(host: str) -> IPAddress | None:
    """``host`` as an IP literal (any spelling inet_aton accepts), or None for a name."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    parts = host.rstrip(".").split(".")
    if not 1 <= len(parts) <= 4:
        return None
    try:
        nums = [_parse_int_part(p) for p in parts]
    except ValueError:
        return None
    # a.b.c.d / a.b.(16 bits) / a.(24 bits) / (32 bits), as in inet_aton
    *head, last = nums
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(nums)):
        return None
    value = last
    for i, n in enumerate(head):
        value |= n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def check_address(ip: IPAddress) -> None:
    """Raise :class:`UnsafeURLError` unless ``ip`` is a public, routable unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            check_address(embedded)
    bad = (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
        or ip.is_reserved or ip.is_unspecified or not ip.is_global
    )
    if bad:
        raise UnsafeURLError(f"refusing to fetch a non-public address ({ip})")


def check_url(url: str, *, resolver: Resolver = system_resolver,
              allow_private: bool = False) -> None:
    """Raise :class:`UnsafeURLError` if the server must not fetch ``url``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURLError(f"malformed URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise UnsafeURLError(f"only http and https URLs are allowed, not {parts.scheme!r}")
    host = parts.hostname
    if not host:
        raise UnsafeURLError("URL has no host")
    if allow_private:
        return
    literal = parse_ip_host(host)
    if literal is not None:
        check_address(literal)
        return
    port = port or (443 if parts.scheme.lower() == "https" else 80)
    try:
        addresses = resolver(host, port)
    except OSError as exc:
        raise UnsafeURLError(f"cannot resolve host {host!r}: {exc}") from None
    if not addresses:
        raise UnsafeURLError(f"host {host!r} resolves to no address")
    for address in addresses:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            raise UnsafeURLError(f"host {host!r} resolved to a non-IP {address!r}") from None
        try:
            check_address(ip)
        except UnsafeURLError:
            raise UnsafeURLError(
                f"refusing to fetch {host!r}: it resolves to a non-public address ({ip})"
            ) from None


def make_url_guard(*, allow_private: bool = False,
                   resolver: Resolver = system_resolver) -> Callable[[str], None]:
    """A ``url_guard(url)`` callable for the image fetchers."""

    def guard(url: str) -> None:
        check_url(url, resolver=resolver, allow_private=allow_private)

    return guard
