"""The SSRF address guard, with a fake resolver: no DNS, no network."""

from __future__ import annotations

import pytest

from jina_clip.errors import UnsafeURLError
from jina_clip.server.guard import MAX_URL_LENGTH, AddressGuard, check_url, parse_ip_host

from .conftest import PUBLIC, fake_resolver

pytestmark = pytest.mark.usefixtures("loopback_only")

RESOLVER = fake_resolver({
    "images.example": [PUBLIC], "images.example.": [PUBLIC],
    "dual.example": [PUBLIC, "2606:2800:220:1:248:1893:25c8:1946"],
    "rebind.example": [PUBLIC, "10.0.0.7"],
    "rebind6.example": ["2606:2800:220:1:248:1893:25c8:1946", "::1"],
    "internal.example": ["192.168.1.10"],
    "metadata.example": ["169.254.169.254"],
    "empty.example": [],
    "mapped.example": ["::ffff:10.0.0.1"],
    "nat64.example": ["64:ff9b::a9fe:a9fe"],
    "zero.example": ["0.0.0.0"],
    "junk.example": ["not-an-ip"],
    "inet-aton.example": ["2130706433"],
    # a hostile DNS server may answer anything for these; the names are refused before DNS
    "localhost": [PUBLIC], "localhost.": [PUBLIC], "app.localhost": [PUBLIC],
})


def check(url: str, **kw: object) -> None:
    check_url(url, resolver=RESOLVER, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("url", [
    "http://images.example/cat.png",
    "https://dual.example:8443/a.jpg?x=1",
    f"http://{PUBLIC}/x.png",
    "http://[2606:2800:220:1:248:1893:25c8:1946]/x.png",
    "http://8.8.8.8/x.png",
    # any port: the address, not the port, keeps requests off internal services
    "http://images.example:8080/x.png", "https://images.example:1/x.png",
    "http://images.example:65535/x.png",
    "http://images.example./x.png",  # a fully qualified name is still a name
    "http://images.example/" + "a" * (MAX_URL_LENGTH - 40),
])
def test_public_addresses_allowed(url: str) -> None:
    check(url)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://localhost.internal.example/",
    "http://10.1.2.3/", "http://172.16.0.1/", "http://192.168.0.1/", "http://100.64.0.1/",
    "http://169.254.169.254/latest/meta-data/", "http://0.0.0.0/", "http://224.0.0.1/",
    "http://240.0.0.1/", "http://255.255.255.255/", "http://192.0.2.1/",
    "http://[::1]/", "http://[::]/", "http://[fe80::1]/", "http://[fc00::1]/",
    "http://[ff02::1]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:10.0.0.1]/",
    "http://[64:ff9b::a9fe:a9fe]/", "http://[2002:7f00:1::]/",
    "http://2130706433/", "http://0x7f000001/", "http://0177.0.0.1/", "http://0x7f.1/",
    "http://127.1/", "http://017700000001/", "http://3232235777/",
    "http://internal.example/", "http://metadata.example/",
    "http://rebind.example/", "http://rebind6.example/",
    "http://user:pw@127.0.0.1:8080/x",
    # unspecified / zero in every spelling
    "http://0/", "http://0.0/", "http://[0:0:0:0:0:0:0:0]/", "http://zero.example/",
    # localhost names, trailing dot and case included, whatever the resolver says
    "http://localhost/", "http://localhost./", "http://LocalHost/", "http://app.localhost/",
    # IPv6 zone ids and brackets
    "http://[fe80::1%25eth0]/", "http://[fe80::1%eth0]/", "http://[::1%251]/",
    # IPv6 embedding a private IPv4: mapped, compatible, SIIT, 6to4, Teredo, NAT64 (both)
    "http://[::ffff:7f00:1]/", "http://[::127.0.0.1]/", "http://[::ffff:0:a00:1]/",
    "http://[2002:a9fe:a9fe::1]/", "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
    "http://[64:ff9b::7f00:1]/", "http://[64:ff9b:1::a00:1]/",
    "http://mapped.example/", "http://nat64.example/",
    # resolver answers that are not plain IPs are refused, not passed to the OS
    "http://junk.example/", "http://inet-aton.example/",
])
def test_non_public_refused(url: str) -> None:
    with pytest.raises(UnsafeURLError):
        check(url)


@pytest.mark.parametrize("url", [
    "file:///etc/passwd", "ftp://images.example/a.png", "gopher://images.example/",
    "/etc/passwd", "http:///nohost", "http://[::1/", "javascript:alert(1)",
    "data:image/png;base64,AAAA", "//images.example/x.png", "HTTPS:/images.example",
    "ws://images.example/", "jar:http://images.example/x.png!/",
])
def test_bad_schemes_and_malformed(url: str) -> None:
    with pytest.raises(UnsafeURLError):
        check(url)
    with pytest.raises(UnsafeURLError):
        check(url, allow_private=True)


@pytest.mark.parametrize(("url", "reason"), [
    # credentials: refused outright, so no parser can read the user part as the host
    ("http://93.184.216.34@127.0.0.1/", "credentials"),
    ("http://images.example@127.0.0.1/", "credentials"),
    ("http://127.0.0.1@images.example/", "credentials"),
    ("http://user:pw@images.example/", "credentials"),
    ("http://:@images.example/", "credentials"),
    # characters parsers disagree on (WHATWG reads \ as /; httpx and urllib differ)
    ("http://127.0.0.1\\@images.example/", "backslash"),
    ("http://images.example /", "whitespace"),
    ("http://images.example/\r\nHost: x", "control"),
    ("http://images.example/\x00", "control"),
    ("http://images.example:0/", "port 0"),
    ("http://images.example:65536/", "malformed"),
    ("http://images.example:-1/", "malformed"),
    ("http://images.example/" + "a" * MAX_URL_LENGTH, "longer than"),
    ("http://" + "a" * 250 + ".example/", "host is longer"),
])
def test_syntax_policy(url: str, reason: str) -> None:
    for allow_private in (False, True):
        with pytest.raises(UnsafeURLError, match=reason):
            check(url, allow_private=allow_private)


def test_unresolvable_and_empty() -> None:
    with pytest.raises(UnsafeURLError, match="resolve"):
        check("http://nowhere.example/")
    with pytest.raises(UnsafeURLError, match="no address"):
        check("http://empty.example/")


def test_allow_private_skips_address_checks_but_not_scheme() -> None:
    check("http://127.0.0.1:9/", allow_private=True)
    check("http://internal.example/", allow_private=True)
    check("http://localhost:8080/", allow_private=True)
    with pytest.raises(UnsafeURLError):
        check("file:///etc/passwd", allow_private=True)


def test_resolver_not_called_for_ip_literals() -> None:
    calls: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        calls.append(host)
        return [PUBLIC]

    with pytest.raises(UnsafeURLError):
        check_url("http://2130706433/", resolver=resolver)
    check_url("https://images.example/", resolver=resolver)
    assert calls == ["images.example"]


@pytest.mark.parametrize(("host", "ip"), [
    ("2130706433", "127.0.0.1"), ("0x7f.0.0.1", "127.0.0.1"), ("0177.0.0.01", "127.0.0.1"),
    ("10.1", "10.0.0.1"), ("192.168.257", "192.168.1.1"), ("1.2.3.4", "1.2.3.4"),
    ("example.com", None), ("1.2.3.4.5", None), ("256.1.1.1", None), ("08.1.1.1", None),
    ("[::1]", "::1"), ("fe80::1%eth0", "fe80::1%eth0"), ("0", "0.0.0.0"),
    ("127.0.0.1.", "127.0.0.1"),
])
def test_parse_ip_host(host: str, ip: str | None) -> None:
    got = parse_ip_host(host)
    assert (str(got) if got else None) == ip


def test_resolve_returns_the_approved_addresses_to_connect_to() -> None:
    guard = AddressGuard(resolver=RESOLVER)
    assert guard.resolve("dual.example", 443) == [PUBLIC, "2606:2800:220:1:248:1893:25c8:1946"]
    assert guard.resolve("0x5d.0xb8.0xd8.0x22", 80) == [PUBLIC]  # inet_aton spelling
    assert guard.resolve("[2606:2800:220:1:248:1893:25c8:1946]", 80) == [
        "2606:2800:220:1:248:1893:25c8:1946"]
    with pytest.raises(UnsafeURLError, match=r"10\.0\.0\.7"):
        guard.resolve("rebind.example", 80)  # one private answer refuses the name
    private = AddressGuard(resolver=RESOLVER, allow_private=True)
    assert private.resolve("internal.example", 80) == ["192.168.1.10"]
    assert private.resolve("fe80::1%eth0", 80) == ["fe80::1%eth0"]  # zone kept to connect


def test_guard_is_a_url_guard_callable() -> None:
    guard = AddressGuard(resolver=RESOLVER)
    guard("http://images.example/x.png")
    with pytest.raises(UnsafeURLError):
        guard("http://metadata.example/")
