"""Address guard: keep client-supplied image URLs from reaching the server's own network (SSRF).

A URL is allowed only if it is a plain http(s) URL (no credentials, no control characters, at
most :data:`MAX_URL_LENGTH` characters) whose host is not a ``localhost`` name and whose every
resolved address is globally routable. Integer/octal/hex host spellings (``http://2130706433/``)
are parsed the way C's ``inet_aton`` would, since the OS resolver accepts them, and IPv6
addresses embedding an IPv4 one (mapped, compatible, 6to4, Teredo, NAT64) are checked on the
embedded address too. Any port 1-65535 is allowed: the address check is what keeps requests
off internal services, and public image hosts do use ports like 8080 or 8443.

:class:`AddressGuard` plays two roles, and both are needed:

* ``guard(url)`` (:meth:`AddressGuard.check_url`) is the fetcher's ``url_guard``: a cheap
  pre-check before the first request and before each redirect hop, with a clear error message.
* :meth:`AddressGuard.resolve` is what :mod:`jina_clip.server.transport` calls *at connect
  time*: it resolves the host once, approves every address, and the socket is opened to one of
  those approved IPs. That closes DNS rebinding (a resolver answering a public address to the
  pre-check and a private one to the connection), since no second lookup is ever trusted.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

from ..errors import UnsafeURLError

__all__ = ["MAX_URL_LENGTH", "AddressGuard", "Resolver", "check_address", "check_url",
           "parse_ip_host", "split_url", "system_resolver"]

#: ``resolver(host, port) -> [address, ...]``; injectable so tests never touch DNS.
Resolver = Callable[[str, int], list[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Longest URL (per redirect hop) the server will fetch; real image URLs are far shorter, and
#: a cap keeps hostile multi-megabyte ``Location`` headers out of parsers and logs.
MAX_URL_LENGTH = 8192
_MAX_HOST_LENGTH = 253  # the DNS limit for a full name
#: NAT64 well-known (RFC 6052) and local-use (RFC 8215) prefixes: the low 32 bits are IPv4.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
#: ::/96 (deprecated IPv4-compatible) and ::ffff:0:0:0/96 (SIIT IPv4-translated).
_V4_COMPAT = (ipaddress.ip_network("::/96"), ipaddress.ip_network("::ffff:0:0:0/96"))
#: Characters that URL parsers disagree on inside the authority (WHATWG treats ``\\`` as ``/``).
_BAD_AUTHORITY_CHARS = frozenset("\\ \t\r\n")


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``getaddrinfo`` returns for ``host`` (IPv6 scope ids kept for connecting)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _parse_int_part(part: str) -> int:
    if part[:2].lower() == "0x":
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8)
    return int(part, 10)


def parse_ip_host(host: str) -> IPAddress | None:
    """``host`` as an IP literal (any spelling inet_aton accepts, IPv6 with or without brackets
    and zone id), or None for a name."""
    host = host.strip("[]")
    for candidate in (host, host.split("%", 1)[0]):
        try:
            return ipaddress.ip_address(candidate)
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


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries, if any: a router or the OS may deliver to it."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in (*_NAT64, *_V4_COMPAT)):
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    return None


def _is_public(ip: IPAddress) -> bool:
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
                or ip.is_reserved or ip.is_unspecified or not ip.is_global)


def check_address(ip: IPAddress) -> None:
    """Raise :class:`UnsafeURLError` unless ``ip`` is a public, routable unicast address. The
    message names the address as given (``::1``, not the ``0.0.0.1`` it embeds), and the
    refused IPv4 address an IPv6 one carries."""
    embedded = None
    if isinstance(ip, ipaddress.IPv6Address) and not (ip.is_loopback or ip.is_unspecified):
        embedded = _embedded_ipv4(ip)
    if not _is_public(ip) or (embedded is not None and not _is_public(embedded)):
        carried = "" if embedded is None else f", which carries the IPv4 address {embedded}"
        raise UnsafeURLError(f"refusing to fetch a non-public address ({ip}{carried})")


def _is_localhost_name(host: str) -> bool:
    """RFC 6761: ``localhost`` and ``*.localhost`` are loopback whatever DNS says."""
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


def split_url(url: str) -> tuple[str, int]:
    """``(host, port)`` of a URL the server may fetch as far as its *syntax* goes; raises
    :class:`UnsafeURLError` for anything else. Address checks are :class:`AddressGuard`'s."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeURLError(f"URL is longer than {MAX_URL_LENGTH} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise UnsafeURLError("URL contains control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURLError(f"malformed URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeURLError(f"only http and https URLs are allowed, not {parts.scheme!r}")
    if _BAD_AUTHORITY_CHARS.intersection(parts.netloc):
        raise UnsafeURLError("URL host part contains a backslash or whitespace")
    if "@" in parts.netloc:
        raise UnsafeURLError("URLs with credentials (user@host) are not accepted")
    host = parts.hostname
    if not host:
        raise UnsafeURLError("URL has no host")
    if len(host) > _MAX_HOST_LENGTH:
        raise UnsafeURLError(f"URL host is longer than {_MAX_HOST_LENGTH} characters")
    if port == 0:
        raise UnsafeURLError("URL port 0 is not allowed")
    return host, port or (443 if scheme == "https" else 80)


class AddressGuard:
    """The server's fetch policy. Call it with a URL (the ``url_guard`` pre-check) and let
    :class:`~jina_clip.server.transport.GuardedTransport` call :meth:`resolve` when it opens a
    connection. ``allow_private`` turns the address checks off but keeps the URL syntax checks;
    subclasses may override :meth:`check_ip` (tests use that to stand a loopback server in for a
    public host)."""

    def __init__(self, *, resolver: Resolver = system_resolver,
                 allow_private: bool = False) -> None:
        self.resolver = resolver
        self.allow_private = allow_private

    def __call__(self, url: str) -> None:
        self.check_url(url)

    def check_url(self, url: str) -> None:
        """Raise :class:`UnsafeURLError` if the server must not fetch ``url``."""
        host, port = split_url(url)
        if not self.allow_private:
            self.resolve(host, port)

    def check_ip(self, ip: IPAddress) -> None:
        """Raise :class:`UnsafeURLError` if the server must not connect to ``ip``."""
        if not self.allow_private:
            check_address(ip)

    def resolve(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for ``host:port``, in resolver order, every one approved
        by :meth:`check_ip`; a single refused address refuses the host (so a name mixing public
        and private answers cannot be used to pick the private one)."""
        literal = parse_ip_host(host)
        if literal is not None:
            self.check_ip(literal)
            return [str(literal)]
        if not self.allow_private and _is_localhost_name(host):
            raise UnsafeURLError(f"refusing to fetch {host!r}: it is a localhost name")
        try:
            addresses = self.resolver(host, port)
        except (OSError, UnicodeError) as exc:
            raise UnsafeURLError(f"cannot resolve host {host!r}: {exc}") from None
        if not addresses:
            raise UnsafeURLError(f"host {host!r} resolves to no address")
        approved: list[str] = []
        for address in addresses:
            try:
                ip = ipaddress.ip_address(address)
            except ValueError:
                raise UnsafeURLError(f"host {host!r} resolved to a non-IP {address!r}") from None
            try:
                self.check_ip(ip)
            except UnsafeURLError:
                raise UnsafeURLError(
                    f"refusing to fetch {host!r}: it resolves to a non-public address ({ip})"
                ) from None
            approved.append(str(ip))
        return approved


def check_url(url: str, *, resolver: Resolver = system_resolver,
              allow_private: bool = False) -> None:
    """Raise :class:`UnsafeURLError` if the server must not fetch ``url``."""
    AddressGuard(resolver=resolver, allow_private=allow_private).check_url(url)
